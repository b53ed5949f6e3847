"""Testbed parts that need no running cluster: PKI, kubeconfig, kwok stages, CRD files, CLI."""

from __future__ import annotations

import ipaddress
import json
import os
import stat
import subprocess
import sys

import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from testbed import openshift, pki, stages
from testbed.cluster import REPO, Testbed


def test_pki_files_and_modes(tmp_path):
    paths = pki.generate(tmp_path / "pki")
    for name, p in paths.items():
        mode = stat.S_IMODE(os.stat(p).st_mode)
        if name.endswith("_key"):
            assert mode == 0o600, (name, oct(mode))
    ca = x509.load_pem_x509_certificate(paths["ca_crt"].read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True

    server = x509.load_pem_x509_certificate(paths["apiserver_crt"].read_bytes())
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"} <= set(
        san.get_values_for_type(x509.DNSName))
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    assert ExtendedKeyUsageOID.SERVER_AUTH in server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert server.issuer == ca.subject

    admin = x509.load_pem_x509_certificate(paths["admin_crt"].read_bytes())
    assert [a.value for a in admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == ["system:masters"]
    assert ExtendedKeyUsageOID.CLIENT_AUTH in admin.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value


def test_kubeconfig_is_self_contained(tmp_path):
    paths = pki.generate(tmp_path / "pki")
    kc = tmp_path / "kubeconfig"
    pki.write_kubeconfig(kc, "https://127.0.0.1:6443", paths)
    assert stat.S_IMODE(os.stat(kc).st_mode) == 0o600
    doc = yaml.safe_load(kc.read_text())
    assert doc["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    assert "certificate-authority-data" in doc["clusters"][0]["cluster"]
    assert {"client-certificate-data", "client-key-data"} <= set(doc["users"][0]["user"])
    assert doc["current-context"] == doc["contexts"][0]["name"]


def test_stages_are_well_formed():
    docs = [d for d in yaml.safe_load_all(stages.render()) if d]
    names = [d["metadata"]["name"] for d in docs]
    assert len(names) == len(set(names))
    assert all(d["kind"] == "Stage" and d["apiVersion"] == "kwok.x-k8s.io/v1alpha1" for d in docs)
    pod_stages = {d["metadata"]["name"]: d for d in docs if d["spec"]["resourceRef"]["kind"] == "Pod"}
    # every failure mode has its own stage, keyed on the documented annotation
    keys = json.dumps(pod_stages)
    for value in ("CrashLoopBackOff", "ImagePullBackOff", "NotReady"):
        assert value in keys
    for ann in (stages.FAIL, stages.FAIL_CONTAINER, stages.READY_DELAY):
        assert ann in keys
    # the normal path must exclude annotated pods, or kwok would pick a stage at random
    ready = pod_stages["testbed-pod-ready"]["spec"]["selector"]["matchExpressions"]
    assert {"key": f'.metadata.annotations["{stages.FAIL}"]', "operator": "DoesNotExist"} in ready


def test_openshift_crds_are_structural():
    crds = openshift.load_crds()
    names = {c["metadata"]["name"] for c in crds}
    assert {
        "ingresses.config.openshift.io", "infrastructures.config.openshift.io",
        "clusterversions.config.openshift.io", "routes.route.openshift.io",
        "operatorgroups.operators.coreos.com", "subscriptions.operators.coreos.com",
        "installplans.operators.coreos.com", "clusterserviceversions.operators.coreos.com",
        "catalogsources.operators.coreos.com", "operatorconditions.operators.coreos.com",
        "packagemanifests.packages.operators.coreos.com", "groups.user.openshift.io",
    } <= names

    def check(schema, path):
        assert "type" in schema or schema.get("x-kubernetes-int-or-string"), path
        for k, sub in (schema.get("properties") or {}).items():
            check(sub, f"{path}.{k}")
        if "items" in schema:
            check(schema["items"], f"{path}[]")

    for c in crds:
        assert sum(v["storage"] for v in c["spec"]["versions"]) == 1, c["metadata"]["name"]
        for v in c["spec"]["versions"]:
            check(v["schema"]["openAPIV3Schema"], f'{c["metadata"]["name"]}/{v["name"]}')


def test_platform_values():
    aws = Testbed("/nonexistent-a", platform="AWS")
    rosa = Testbed("/nonexistent-b", platform="ROSA")
    none = Testbed("/nonexistent-c", platform="None")
    _spec, s = openshift.infrastructure(aws)
    assert s["platform"] == s["platformStatus"]["type"] == "AWS"
    assert "resourceTags" not in s["platformStatus"]["aws"]
    _spec, s = openshift.infrastructure(rosa)
    assert s["platform"] == s["platformStatus"]["type"] == "AWS"
    tags = {t["key"]: t["value"] for t in s["platformStatus"]["aws"]["resourceTags"]}
    assert tags["red-hat-clustertype"] == "rosa" and tags["red-hat-managed"] == "true"
    assert rosa.ingress_domain.startswith("apps.rosa-testbed.") and rosa.ingress_domain.endswith("openshiftapps.com")
    _spec, s = openshift.infrastructure(none)
    assert s["platformStatus"]["type"] == "None"
    assert aws.ingress_domain == "apps.testbed.example.com"


def test_cli_status_of_empty_state_dir(tmp_path):
    r = subprocess.run([sys.executable, "-m", "testbed", "status", "--state-dir", str(tmp_path), "--json"],
                       cwd=REPO, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["state"] == "down"
    r = subprocess.run([sys.executable, "-m", "testbed", "status", "--state-dir", str(tmp_path), "--check"],
                       cwd=REPO, capture_output=True, text=True, check=False)
    assert r.returncode == 3
    # down on a testbed that never ran is harmless
    r = subprocess.run([sys.executable, "-m", "testbed", "down", "--state-dir", str(tmp_path)],
                       cwd=REPO, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr


def test_stale_state_with_foreign_pid_is_not_signalled(tmp_path):
    """A recorded pid that now belongs to another process (pid reuse) is never killed."""
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "state.json").write_text(json.dumps({
            "ready": True, "server": "https://127.0.0.1:1",
            "processes": {"etcd": {"pid": victim.pid, "start": "0", "argv": []}}}))
        tb = Testbed(tmp_path)
        assert not tb.is_up()
        tb.down()
        assert victim.poll() is None  # still running
        assert not (tmp_path / "state.json").exists()
    finally:
        victim.kill()
        victim.wait()
