"""model_domains role (playbooks/model_domains.yml): custom domains for models (seed 000 §3.3.1.2 note).

On the shared testbed with the Serverless platform: one model deployed directly (the role maps what
exists), then a generated-certificate mapping and a provided-certificate mapping converge, rerun with
changed=0, --check (with and without a change to make) writes nothing; a domain claimed by another
project and a RawDeployment model are refused before any write; deleting the model removes its mapping and the Secret the role made
(garbage collection through the ownerReference)."""

from __future__ import annotations

import base64
import uuid

import pytest
from cryptography import x509
from helpers import ansible_playbook
from install_support import failure_text, stats
from test_inference_check import ensure_platform, isvc, vllm_runtime
from test_install_bad_inputs import _write_cert
from test_sim_support import create, delete, get, items, wait_for

pytestmark = [pytest.mark.integration]

PLAYBOOK = "playbooks/model_domains.yml"
DM = ("serving.knative.dev/v1beta1", "DomainMapping")
CDC = ("networking.internal.knative.dev/v1alpha1", "ClusterDomainClaim")
ISVC = ("serving.kserve.io/v1beta1", "InferenceService")
NS = "dom-" + uuid.uuid4().hex[:6]
GEN = "llm.%s.example.org" % NS
PROV = "chat.%s.example.org" % NS


@pytest.fixture(scope="module")
def project(k8s):
    ensure_platform(k8s)
    create(k8s, {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": NS, "labels": {"opendatahub.io/dashboard": "true", "modelmesh-enabled": "false"}}})
    svc = isvc("granite", "granite", "vLLM")
    svc["metadata"]["namespace"] = NS
    rt = vllm_runtime("granite")
    rt["metadata"]["namespace"] = NS
    deploy_in(k8s, rt, svc)
    try:
        yield NS
    finally:
        delete(k8s, "v1", "Namespace", NS)


def deploy_in(k8s, runtime, service):
    if get(k8s, "serving.kserve.io/v1alpha1", "ServingRuntime", runtime["metadata"]["name"], NS) is None:
        create(k8s, runtime)
    create(k8s, service)
    wait_for(lambda: [c for c in (((get(k8s, *ISVC, "granite", NS) or {}).get("status") or {}).get("conditions") or [])
                      if c.get("type") == "Ready" and c.get("status") == "True"],
             timeout=300, desc="InferenceService granite Ready")


def mappings(tmp_path):
    crt, key = _write_cert(str(tmp_path), [PROV])
    return [
        {"domain": GEN, "model": "granite", "project": NS},
        {"domain": PROV, "model": "granite", "project": NS, "certificate": "provided",
         "certificate_path": crt, "private_key_path": key, "secret_name": "chat-tls"},
    ]


def test_mappings_converge_rerun_and_check(k8s, kubeconfig, project, tmp_path):
    maps = mappings(tmp_path)
    run = ansible_playbook(PLAYBOOK, kubeconfig, {"model_domains_mappings": maps}, diff=True)
    assert run.rc == 0, failure_text(run)[-3000:]
    for domain, secret in ((GEN, GEN.replace(".", "-") + "-tls"), (PROV, "chat-tls")):
        dm = get(k8s, *DM, domain, NS)
        assert dm["spec"]["ref"] == {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                                     "name": "granite-predictor", "namespace": NS}
        assert dm["spec"]["tls"] == {"secretName": secret}
        assert [o["kind"] for o in dm["metadata"]["ownerReferences"]] == ["InferenceService"]
        assert any(c["type"] == "Ready" and c["status"] == "True" for c in dm["status"]["conditions"])
        assert dm["status"]["url"] == "https://" + domain
        sec = get(k8s, "v1", "Secret", secret, NS)
        leaf = x509.load_pem_x509_certificate(base64.b64decode(sec["data"]["tls.crt"]))
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
        assert domain in sans
        assert [o["kind"] for o in sec["metadata"].get("ownerReferences", [])] == ["InferenceService"]
    out = run.stderr + str(run.output)
    assert "PRIVATE KEY" not in out

    again = ansible_playbook(PLAYBOOK, kubeconfig, {"model_domains_mappings": maps})
    assert again.rc == 0 and stats(again)["changed"] == 0, failure_text(again)[-3000:]
    before = written(k8s)
    check = ansible_playbook(PLAYBOOK, kubeconfig, {"model_domains_mappings": maps}, check=True, diff=True)
    assert check.rc == 0 and stats(check)["changed"] == 0, failure_text(check)[-3000:]
    # --check with a change to make (a new mapping) reports it and writes nothing
    new = "new.%s.example.org" % NS
    check = ansible_playbook(PLAYBOOK, kubeconfig, {"model_domains_mappings": maps + [
        {"domain": new, "model": "granite", "project": NS}]}, check=True, diff=True)
    assert check.rc == 0 and stats(check)["changed"] > 0, failure_text(check)[-3000:]
    assert get(k8s, *DM, new, NS) is None and get(k8s, *CDC, new) is None
    assert written(k8s) == before


def written(k8s):
    """(kind, name) -> resourceVersion of what the role writes in the project: DomainMappings, the TLS
    Secrets, and the domain claims of the project."""
    out = {}
    for api_version, kind, namespace in (DM + (NS,), ("v1", "Secret", NS), CDC + (None,)):
        for obj in items(k8s, api_version, kind, namespace):
            if (kind == "Secret" and "tls" not in obj["metadata"]["name"]) or \
                    (kind == CDC[1] and (obj.get("spec") or {}).get("namespace") != NS):
                continue
            out[(kind, obj["metadata"]["name"])] = obj["metadata"]["resourceVersion"]
    return out


def test_refusals_before_any_write(k8s, kubeconfig, project):
    # A domain another project claimed, a model that does not exist, a bad entry.
    claimed = "taken.%s.example.org" % NS
    create(k8s, {"apiVersion": CDC[0], "kind": CDC[1], "metadata": {"name": claimed}, "spec": {"namespace": "elsewhere"}})
    try:
        cases = [
            ([{"domain": claimed, "model": "granite", "project": NS}], ["claimed by project elsewhere"]),
            ([{"domain": "x.%s.example.org" % NS, "model": "nope", "project": NS}], ["%s/nope does not exist" % NS]),
            ([{"domain": "*.wild.example.org", "model": "granite", "project": NS}], ["model_domains_mappings[0].domain"]),
            ([{"domain": "a.example.org", "model": "granite", "project": NS, "certificate": "provided"}],
             ["model_domains_mappings[0]: certificate provided needs"]),
        ]
        for maps, words in cases:
            run = ansible_playbook(PLAYBOOK, kubeconfig, {"model_domains_mappings": maps})
            text = failure_text(run)
            assert run.rc != 0
            for w in words:
                assert w in text, "%r not in %s" % (w, text[-2000:])
            assert get(k8s, *DM, maps[0]["domain"], NS) is None
    finally:
        delete(k8s, CDC[0], CDC[1], claimed)


def test_absent_and_removed_with_the_model(k8s, kubeconfig, project, tmp_path):
    maps = mappings(tmp_path)
    maps[1]["state"] = "absent"
    run = ansible_playbook(PLAYBOOK, kubeconfig, {"model_domains_mappings": maps})
    assert run.rc == 0, failure_text(run)[-3000:]
    assert get(k8s, *DM, PROV, NS) is None and get(k8s, "v1", "Secret", "chat-tls", NS) is None
    assert get(k8s, *DM, GEN, NS) is not None
    # Deleting the model removes the mapping and the generated Secret (ownerReference).
    delete(k8s, *ISVC, "granite", NS)
    wait_for(lambda: get(k8s, *DM, GEN, NS) is None and get(k8s, "v1", "Secret", GEN.replace(".", "-") + "-tls", NS) is None
             and get(k8s, "v1", "Secret", GEN.replace(".", "-") + "-tls-ca", NS) is None,
             timeout=120, desc="DomainMapping and Secret garbage-collected with the model")
    wait_for(lambda: get(k8s, *CDC, GEN) is None, timeout=60, desc="the domain claim released")
