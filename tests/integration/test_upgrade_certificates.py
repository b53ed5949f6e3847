"""playbooks/upgrade.yml renews the wildcard certificate this collection generated when it is due
(issue 16), and nothing else.

One dedicated testbed: the manual install generates the gateways' certificate with a 40-day
validity. Then, with nothing to upgrade among the operators:

- a renewal window not shorter than the new validity is refused before any write, naming both variables;
- ``--check`` with a 60-day renewal window reports the renewal and writes nothing;
- the upgrade with that window renews it (a new certificate for the same domain, signed by the CA
  the collection kept, valid for the default 397 days), the CA Secret unchanged;
- a rerun reports changed=0 (the new certificate is not due).
"""

import datetime
import json

import pytest

from helpers import ansible_playbook
from install_support import MANUAL, PLAYBOOK, failure_text, stats
from testbed.pytest_plugin import dynamic_client

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INVENTORY = ("-i", "inventories/local")
NS, NAME = "istio-system", "wildcard-certs"
ANN = "model-serving.openshift-ai.io/"
DUE = {"upgrade_certificate_renew_before": 60}


def _secret(k8s, name):
    return k8s.resources.get(api_version="v1", kind="Secret").get(name=name, namespace=NS).to_dict()


def _result(run):
    for task, res in run.task_results():
        if task.endswith("Show the result"):
            return res["upgrade_result"]
    raise AssertionError("no upgrade_result in %s" % [t for t, _r in run.task_results()])


def test_a_generated_certificate_due_for_renewal_is_renewed_by_the_upgrade(fresh_testbed):
    tb = fresh_testbed(gpu_nodes=0, platform="AWS")
    kubeconfig = str(tb.kubeconfig)
    k8s = dynamic_client(kubeconfig)
    run = ansible_playbook(PLAYBOOK, kubeconfig, dict(MANUAL, serving_gateways_certificate_valid_days=40,
                                                      serving_gateways_certificate_renew_before=10),
                           args=INVENTORY, timeout=2400)
    assert run.rc == 0, failure_text(run) or run.stderr[-3000:]
    cert, ca = _secret(k8s, NAME), _secret(k8s, NAME + "-ca")
    annotations = cert["metadata"]["annotations"]
    assert annotations[ANN + "certificate-source"] == "generated"
    domain = annotations[ANN + "certificate-domain"]

    # A window that would renew on every run: refused before any write, naming both variables.
    run = ansible_playbook("playbooks/upgrade.yml", kubeconfig, {"upgrade_certificate_renew_before": 400},
                           args=INVENTORY, timeout=600)
    assert run.rc != 0 and stats(run).get("changed", 0) == 0
    text = failure_text(run)
    assert "upgrade_certificate_valid_days (397)" in text and "upgrade_certificate_renew_before (400)" in text, text

    # --check: the renewal is reported, nothing written.
    run = ansible_playbook("playbooks/upgrade.yml", kubeconfig, DUE, check=True, args=INVENTORY, timeout=600)
    assert run.rc == 0, failure_text(run) or run.stderr[-3000:]
    assert [c["name"] for c in _result(run)["certificates_renewed"]] == [NAME]
    assert _secret(k8s, NAME)["metadata"]["resourceVersion"] == cert["metadata"]["resourceVersion"]

    # The upgrade renews it: same domain, new certificate, the kept CA, 397 days.
    run = ansible_playbook("playbooks/upgrade.yml", kubeconfig, DUE, args=INVENTORY, timeout=1200)
    assert run.rc == 0, failure_text(run) or run.stderr[-3000:]
    result = _result(run)
    assert result["certificates_checked"] == [{"name": NAME, "namespace": NS, "domain": domain}]
    assert [c["name"] for c in result["certificates_renewed"]] == [NAME]
    renewed = _secret(k8s, NAME)
    new = renewed["metadata"]["annotations"]
    assert new[ANN + "certificate-sha256"] != annotations[ANN + "certificate-sha256"]
    assert new[ANN + "certificate-domain"] == domain and new[ANN + "certificate-source"] == "generated"
    not_after = datetime.datetime.strptime(new[ANN + "certificate-not-after"][:10], "%Y-%m-%d").date()
    assert not_after - datetime.date.today() > datetime.timedelta(days=390), new
    assert _secret(k8s, NAME + "-ca")["metadata"]["resourceVersion"] == ca["metadata"]["resourceVersion"]
    assert renewed["data"].get("ca.crt") == cert["data"].get("ca.crt")
    assert "PRIVATE KEY" not in json.dumps(run.output) + run.stderr

    # Not due any more: a rerun changes nothing.
    run = ansible_playbook("playbooks/upgrade.yml", kubeconfig, DUE, args=INVENTORY, timeout=1200)
    assert run.rc == 0 and stats(run).get("changed", 0) == 0, failure_text(run) or stats(run)
    assert _result(run)["certificates_renewed"] == []
