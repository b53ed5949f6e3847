"""wildcard_certificate against the testbed, run through Ansible (tests/integration/helpers.py).

Covers: generation (SAN *.<domain> and <domain>, CA chain), rerun = no write (resourceVersion
unchanged), check mode writes nothing, a domain change regenerates, a provided certificate whose
SAN does not cover the domain is refused naming the parameter before anything is written, a
good provided certificate is stored, key material never appears in results or diffs."""

import base64
import datetime
import json
import os
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from helpers import ansible_playbook, fqcn
from kubernetes import client as k8s_client

DOMAIN = "apps.wildcard-test.example.com"


def run_module(module, args, kubeconfig, check=False, diff=False):
    """Like helpers.run_module, but reads the result from a registered variable: the json stdout
    callback overwrites a result key named ``action`` (which this module returns) with the task's
    action name, while a registered variable keeps the module's own value."""
    import tempfile

    play = [{
        "hosts": "localhost", "connection": "local", "gather_facts": False,
        "tasks": [
            {"name": "module", fqcn(module): args, "register": "r", "ignore_errors": True},
            {"name": "show", "ansible.builtin.debug": {"var": "r"}},
        ],
    }]
    fd, path = tempfile.mkstemp(prefix="run_registered_", suffix=".yml")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(play, f)
        run = ansible_playbook(path, kubeconfig=kubeconfig, check=check, diff=diff, timeout=600, args=("-i", "localhost,"))
    finally:
        os.unlink(path)
    results = dict(run.task_results())
    assert "show" in results, (run.rc, run.stderr[-3000:])
    module_result = results["module"]
    out = dict(results["show"]["r"])
    if "diff" in module_result:
        out["diff"] = module_result["diff"]
    text = json.dumps(run.output)
    assert "PRIVATE KEY" not in text, "key material in the Ansible output"
    return out


@pytest.fixture
def core(k8s):
    return k8s_client.CoreV1Api(k8s.client)


@pytest.fixture
def namespace(core):
    name = "wc-%s" % uuid.uuid4().hex[:8]
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


def _secret(core, ns, name="wildcard-certs"):
    return core.read_namespaced_secret(name, ns)


def _no_key_material(result):
    text = json.dumps(result)
    assert "PRIVATE KEY" not in text, "key material leaked into the module result"


def _write(tmp_path, name, data, mode=0o644):
    path = tmp_path / name
    path.write_bytes(data)
    os.chmod(str(path), mode)
    return str(path)


def _ca_and_leaf(sans):
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Provided Root")])
    ca = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, sans[0])]))
        .issuer_name(name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=200))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return (ca.public_bytes(pem), leaf.public_bytes(pem),
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def test_generate_rerun_check_mode_and_domain_change(kubeconfig, core, namespace):
    args = {"domain": DOMAIN, "secret_namespace": namespace}

    first = run_module("wildcard_certificate", args, kubeconfig, diff=True)
    assert not first.get("failed"), first
    assert first["changed"] is True and first["action"] == "generated"
    assert first["dns_names"] == ["*." + DOMAIN, DOMAIN]
    _no_key_material(first)

    secret = _secret(core, namespace)
    assert secret.type == "kubernetes.io/tls"
    assert set(secret.data) == {"tls.crt", "tls.key", "ca.crt"}
    ann = secret.metadata.annotations
    assert ann["model-serving.openshift-ai.io/certificate-sha256"] == first["fingerprint"]
    leaf = x509.load_pem_x509_certificate(base64.b64decode(secret.data["tls.crt"]))
    ca = x509.load_pem_x509_certificate(base64.b64decode(secret.data["ca.crt"]))
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert sans == ["*." + DOMAIN, DOMAIN]
    leaf.verify_directly_issued_by(ca)  # the chain verifies, like `openssl verify -CAfile root.crt wildcard.crt`
    rv = secret.metadata.resource_version

    second = run_module("wildcard_certificate", args, kubeconfig, diff=True)
    assert second["changed"] is False and second["action"] == "kept" and second["reasons"] == []
    assert second["fingerprint"] == first["fingerprint"]
    assert _secret(core, namespace).metadata.resource_version == rv, "a rerun must not write"

    new_domain = "apps.changed.example.com"
    check = run_module("wildcard_certificate", dict(args, domain=new_domain), kubeconfig, check=True, diff=True)
    assert check["changed"] is True and check["action"] == "regenerated"
    assert "domain changed" in check["reasons"][0]
    assert check["diff"]["before"]["dns_names"] == ["*." + DOMAIN, DOMAIN]
    _no_key_material(check)
    assert _secret(core, namespace).metadata.resource_version == rv, "check mode must not write"

    third = run_module("wildcard_certificate", dict(args, domain=new_domain), kubeconfig, diff=True)
    assert third["changed"] is True and third["action"] == "regenerated"
    assert third["fingerprint"] != first["fingerprint"]
    assert third["dns_names"] == ["*." + new_domain, new_domain]
    _no_key_material(third)
    assert _secret(core, namespace).metadata.annotations["model-serving.openshift-ai.io/certificate-domain"] == new_domain


def test_domain_defaults_to_cluster_ingress(kubeconfig, k8s, namespace):
    ingress = k8s.resources.get(api_version="config.openshift.io/v1", kind="Ingress").get(name="cluster")
    result = run_module("wildcard_certificate", {"secret_namespace": namespace}, kubeconfig)
    assert result["changed"] and result["domain"] == ingress.spec.domain
    assert result["dns_names"] == ["*." + ingress.spec.domain, ingress.spec.domain]


def test_provided_certificate_not_covering_domain_is_refused_before_writing(kubeconfig, core, namespace, tmp_path):
    run_module("wildcard_certificate", {"domain": DOMAIN, "secret_namespace": namespace}, kubeconfig)
    rv = _secret(core, namespace).metadata.resource_version
    ca, leaf, key = _ca_and_leaf(["*.apps.somewhere-else.example.com"])
    result = run_module(
        "wildcard_certificate",
        {
            "domain": DOMAIN,
            "secret_namespace": namespace,
            "certificate_path": _write(tmp_path, "wildcard.crt", leaf),
            "private_key_path": _write(tmp_path, "wildcard.key", key, 0o600),
            "ca_path": _write(tmp_path, "root.crt", ca),
        },
        kubeconfig,
    )
    assert result.get("failed") is True
    assert "certificate_path" in result["msg"] and "does not cover" in result["msg"] and "*." + DOMAIN in result["msg"]
    _no_key_material(result)
    assert _secret(core, namespace).metadata.resource_version == rv


def test_provided_certificate_is_stored_then_kept(kubeconfig, core, namespace):
    ca, leaf, key = _ca_and_leaf(["*." + DOMAIN])
    args = {
        "domain": DOMAIN,
        "secret_namespace": namespace,
        "secret_name": "provided",
        "certificate": leaf.decode(),
        "private_key": key.decode(),
        "ca_certificate": ca.decode(),
    }
    first = run_module("wildcard_certificate", args, kubeconfig, diff=True)
    assert first["changed"] and first["action"] == "provided", first
    assert key.decode().strip().splitlines()[1] not in json.dumps(first)
    _no_key_material(first)
    stored = _secret(core, namespace, "provided")
    assert base64.b64decode(stored.data["tls.key"]) == key
    assert base64.b64decode(stored.data["ca.crt"]) == ca
    second = run_module("wildcard_certificate", args, kubeconfig)
    assert second["changed"] is False and second["action"] == "kept"
    assert _secret(core, namespace, "provided").metadata.resource_version == stored.metadata.resource_version


def test_invalid_domain_fails_naming_the_variable(kubeconfig, namespace):
    result = run_module("wildcard_certificate", {"domain": "https://*.apps.example.com", "secret_namespace": namespace}, kubeconfig)
    assert result.get("failed") is True and "domain=" in result["msg"]
