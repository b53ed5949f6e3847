"""Bad variables stop playbooks/install.yml before anything is written, naming the variable.

All cases run against one dedicated testbed (empty, then with a foreign control plane); after
each failed run the cluster must hold exactly what it held before (no namespace, subscription,
secret, ... created).
"""

import datetime
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from helpers import ansible_playbook, run_module
from install_support import MANUAL, PLAYBOOK, failure_text, full_snapshot, settled_snapshot, snapshot, snapshot_changes
from k8s_util import wait_for
from role_runner import run_role
from testbed.pytest_plugin import dynamic_client


def _write_cert(tmpdir, dns_names):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    crt, pem = os.path.join(tmpdir, "wildcard.crt"), os.path.join(tmpdir, "wildcard.key")
    with open(crt, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(pem, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return crt, pem


def test_bad_variables_fail_before_any_write(fresh_testbed, tmp_path):
    tb = fresh_testbed(workers=1, gpu_nodes=0, platform="AWS")
    kubeconfig = str(tb.kubeconfig)
    k8s = dynamic_client(kubeconfig)
    crt, key = _write_cert(str(tmp_path), ["*.apps.somewhere-else.example.org"])

    cases = [
        ("invalid domain", {"serving_gateways_domain": "Not_A Domain!"}, ["serving_gateways_domain"]),
        ("unknown managementState", {"kserve_serving_management_state": "Sometimes"},
         ["kserve_serving_management_state"]),
        ("unknown DSCI managementState", {"kserve_service_mesh_management_state": "Managedd"},
         ["kserve_service_mesh_management_state"]),
        ("missing certificate file",
         {"serving_gateways_certificate_path": str(tmp_path / "absent.crt"), "serving_gateways_private_key_path": key},
         ["serving_gateways_certificate_path"]),
        ("certificate not covering the domain",
         {"serving_gateways_certificate_path": crt, "serving_gateways_private_key_path": key},
         ["serving_gateways_certificate_path", "apps.testbed"]),
        ("unknown install path", {"model_serving_install_path": "sideways"}, ["model_serving_install_path"]),
        # the serving runtimes are set up after the install, but their variables are checked first
        ("custom runtime of the wrong kind",
         {"serving_runtimes_custom": [{"runtime": {
             "apiVersion": "serving.kserve.io/v1alpha1", "kind": "Deployment", "metadata": {"name": "mlserver"},
             "spec": {"containers": [{"name": "kserve-container", "image": "docker.io/seldonio/mlserver:1.6.1"}]}}}]},
         ["serving_runtimes_custom[0]: kind must be ServingRuntime, found 'Deployment'"]),
        ("unknown deployment mode", {"model_serving_deployment_mode": "Raw"}, ["model_serving_deployment_mode"]),
        ("unknown raw service config", {"model_serving_deployment_mode": "RawDeployment",
                                        "model_serving_raw_deployment_service_config": "Headfull"},
         ["model_serving_raw_deployment_service_config"]),
        ("GPU switch not a boolean", {"model_serving_enable_gpu": "perhaps"}, ["model_serving_enable_gpu"]),
        ("unknown capacity check", {"model_serving_node_capacity_check": "sometimes"},
         ["model_serving_node_capacity_check"]),
        ("node minimum not a quantity", {"model_serving_node_minimum_cpu": "four"}, ["model_serving_node_minimum_cpu"]),
        ("unknown operator approval", {"operators_approval": "Sometimes"}, ["operators_approval"]),
        ("negative operators timeout", {"operators_timeout": -5}, ["operators_timeout"]),
        ("control plane name not a Kubernetes name", {"service_mesh_name": "Bad_Name"}, ["service_mesh_name"]),
        ("mesh namespace not a Kubernetes name", {"service_mesh_namespace": "Istio System"}, ["service_mesh_namespace"]),
        ("negative mesh timeout", {"service_mesh_timeout": -1}, ["service_mesh_timeout"]),
        ("KnativeServing namespace not a name", {"serverless_namespace": "knative_serving"}, ["serverless_namespace"]),
        ("negative serverless timeout", {"serverless_timeout": 0}, ["serverless_timeout"]),
        ("gateway secret not a name", {"serving_gateways_secret_name": "Wildcard Certs"}, ["serving_gateways_secret_name"]),
        ("certificate validity not above the renewal window",
         {"serving_gateways_certificate_valid_days": 10, "serving_gateways_certificate_renew_before": 30},
         ["serving_gateways_certificate_valid_days"]),
        ("key without certificate", {"serving_gateways_private_key_path": key}, ["serving_gateways_certificate_path"]),
        ("CA without certificate", {"serving_gateways_ca_path": crt}, ["serving_gateways_ca_path"]),
        ("existing secret without name", {"serving_gateways_existing_secret": {"namespace": "istio-system"}},
         ["serving_gateways_existing_secret"]),
        ("negative kserve timeout", {"kserve_timeout": -30}, ["kserve_timeout"]),
        ("DSCI name not a name", {"kserve_dsci_name": "Default DSCI"}, ["kserve_dsci_name"]),
        ("Authorino namespace not a name", {"authorino_namespace": "Auth/Provider"}, ["authorino_namespace"]),
        ("negative authorino timeout", {"authorino_timeout": -2}, ["authorino_timeout"]),
        ("GPU role: zero timeout", {"model_serving_enable_gpu": True, "gpu_timeout": 0}, ["gpu_timeout"]),
        ("GPU role: resource name not a resource", {"model_serving_enable_gpu": True, "gpu_resource_name": 'nvidia"gpu'},
         ["gpu_resource_name"]),
        ("automated path: unknown certificate type",
         {"model_serving_install_path": "automated", "kserve_automated_certificate_type": "Bogus"},
         ["kserve_automated_certificate_type"]),
        ("automated path: DSC name not a name",
         {"model_serving_install_path": "automated", "kserve_automated_dsc_name": "My DSC"}, ["kserve_automated_dsc_name"]),
    ]
    before = settled_snapshot(k8s)
    missed = []
    for label, extra, expected in cases:
        run = ansible_playbook(PLAYBOOK, kubeconfig, dict(MANUAL, **extra), timeout=900)
        text = failure_text(run)
        if run.rc == 0 or not all(word in text for word in expected):
            missed.append("%s (%s): rc=%s %s" % (label, extra, run.rc, text[-600:]))
        after = full_snapshot(k8s)
        assert after == before, "%s: the failed run wrote %s" % (label, snapshot_changes(before, after))
    assert not missed, "bad inputs not refused, or refused without naming the variable:\n" + "\n".join(missed)
    assert len(cases) >= 25

    # A cluster the manual path cannot take as configured: another control plane already lives in
    # the mesh namespace (Service Mesh admits one per namespace). Refused before any write,
    # naming the variable to set.
    result = run_module(
        "olm_operator",
        {"name": "servicemeshoperator", "namespace": "openshift-operators", "channel": "stable",
         "source": "redhat-operators", "source_namespace": "openshift-marketplace", "wait": True, "timeout": 600},
        kubeconfig,
        timeout=900,
    )
    assert not result.get("failed"), result
    k8s.resources.get(api_version="v1", kind="Namespace").create(
        body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}})
    k8s.resources.get(api_version="maistra.io/v2", kind="ServiceMeshControlPlane").create(
        namespace="istio-system",
        body={"apiVersion": "maistra.io/v2", "kind": "ServiceMeshControlPlane",
              "metadata": {"name": "basic", "namespace": "istio-system"}, "spec": {}})

    # The simulated operators react to these writes on their own (Services of the control plane,
    # OLM's copy of the CSV in the new namespace); the snapshot starts once they have settled.
    def settled():
        smcp = k8s.resources.get(api_version="maistra.io/v2", kind="ServiceMeshControlPlane").get(
            name="basic", namespace="istio-system").to_dict()
        ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in (smcp.get("status") or {}).get("conditions") or [])
        csvs = k8s.resources.get(api_version="operators.coreos.com/v1alpha1", kind="ClusterServiceVersion").get(
            namespace="istio-system").to_dict().get("items") or []
        return ready and any((c.get("status") or {}).get("reason") == "Copied" for c in csvs)

    wait_for(settled, timeout=600, interval=0.5, what="SMCP basic Ready and the CSV copied into istio-system")
    before = snapshot(k8s)
    run = ansible_playbook(PLAYBOOK, kubeconfig, MANUAL, timeout=900)
    text = failure_text(run)
    assert run.rc != 0, "a second control plane was not refused"
    assert "service_mesh_name" in text and "basic" in text, text[-3000:]
    after = snapshot(k8s)
    assert after == before, "the refused run wrote %s" % sorted(after ^ before)

    # The service_mesh role called alone (no playbook preflight) refuses the same cluster itself.
    alone = run_role("service_mesh", kubeconfig)
    assert alone.rc != 0, "the service_mesh role alone did not refuse a second control plane"
    assert "service_mesh_name: basic" in alone.failure_msg and "nothing was changed" in alone.failure_msg, alone.describe()
    after = snapshot(k8s)
    assert after == before, "the refused role wrote %s" % sorted(after ^ before)
