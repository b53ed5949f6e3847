"""playbooks/install.yml, manual path (seed 000 §3.3), end to end on a dedicated empty testbed.

One cluster, in order (each phase relies on the previous one):

1. ``--check`` on the empty cluster succeeds and writes nothing.
2. Someone else's state is put in place first: labels/annotations on the mesh namespace, the
   control plane ``minimal`` with another extension provider and user labels/annotations, and a
   DataScienceCluster with other component settings.
3. The install converges (rc 0, changes reported, every role's verification passed).
4. That state survived; the objects match the seed's YAML field for field (seed fields present
   with the seed's values on the live objects); the TLS secret is a kubernetes.io/tls secret.
5. A second run reports ``changed=0``.
6. ``--check --diff`` on the converged cluster reports nothing to change.
7. Forcing the automated path on this cluster is refused before any write.
"""

from helpers import ansible_playbook, run_module
from install_support import (
    INSTALL_TIMEOUT,
    MANUAL,
    PLAYBOOK,
    failure_text,
    full_snapshot,
    get_object,
    missing_from,
    seed_documents,
    snapshot,
    snapshot_changes,
    stats,
    strip_meta,
)
from testbed.pytest_plugin import dynamic_client

FOREIGN_PROVIDER = {
    "name": "other-ext-authz",
    "envoyExtAuthzHttp": {"service": "ext-authz.other.svc.cluster.local", "port": 8000},
}
FOREIGN_PORT = 9443
FOREIGN_ENV = {"name": "EXAMPLE_TEAM_SETTING", "value": "on"}
USER_LABELS = {"team.example.com/owner": "platform"}
USER_ANNOTATIONS = {"team.example.com/ticket": "OPS-1234"}


def _install_operator(kubeconfig, name, namespace):
    result = run_module(
        "olm_operator",
        {
            "name": name,
            "namespace": namespace,
            "channel": "stable",
            "source": "redhat-operators",
            "source_namespace": "openshift-marketplace",
            "wait": True,
            "timeout": 600,
        },
        kubeconfig,
        timeout=900,
    )
    assert not result.get("failed"), result


def _prepare_foreign_state(k8s, kubeconfig):
    """What a cluster may already have before the playbook runs."""
    ns = k8s.resources.get(api_version="v1", kind="Namespace")
    ns.create(body={"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": "istio-system", "labels": USER_LABELS, "annotations": USER_ANNOTATIONS}})

    # The Service Mesh operator and a control plane named as the seed's, carrying another
    # extension provider and user metadata.
    _install_operator(kubeconfig, "servicemeshoperator", "openshift-operators")
    smcp = k8s.resources.get(api_version="maistra.io/v2", kind="ServiceMeshControlPlane")
    smcp.create(
        namespace="istio-system",
        body={
            "apiVersion": "maistra.io/v2",
            "kind": "ServiceMeshControlPlane",
            "metadata": {"name": "minimal", "namespace": "istio-system",
                         "labels": USER_LABELS, "annotations": USER_ANNOTATIONS},
            "spec": {"techPreview": {"meshConfig": {"extensionProviders": [FOREIGN_PROVIDER]}},
                     "proxy": {"networking": {"trafficControl": {"inbound": {"excludedPorts": [FOREIGN_PORT]}}}}},
        },
    )

    # The OpenShift AI operator and a DataScienceCluster with other components configured.
    _install_operator(kubeconfig, "rhods-operator", "redhat-ods-operator")
    dsc = k8s.resources.get(api_version="datasciencecluster.opendatahub.io/v1", kind="DataScienceCluster")
    dsc.create(
        body={
            "apiVersion": "datasciencecluster.opendatahub.io/v1",
            "kind": "DataScienceCluster",
            "metadata": {"name": "default-dsc", "labels": USER_LABELS},
            "spec": {"components": {
                "dashboard": {"managementState": "Managed"},
                "kserve": {"managementState": "Removed", "defaultDeploymentMode": "Serverless"},
            }},
        }
    )


def _assert_seed_objects(k8s):
    problems = []
    for doc in seed_documents():
        target = doc.get("x-target")
        if target:
            live = get_object(k8s, target["apiVersion"], target["kind"], target["name"], target.get("namespace"))
        else:
            md = doc["metadata"]
            live = get_object(k8s, doc["apiVersion"], doc["kind"], md["name"], md.get("namespace"))
        for p in missing_from(strip_meta(doc), live):
            problems.append("%s: %s" % (doc["x-seed"], p))
    assert not problems, "live objects differ from the seed:\n" + "\n".join(problems)


def test_manual_install_end_to_end(fresh_testbed):
    tb = fresh_testbed(workers=2, gpu_nodes=0, platform="AWS")
    kubeconfig = str(tb.kubeconfig)
    k8s = dynamic_client(kubeconfig)

    # 1. --check on an empty cluster: succeeds, writes nothing.
    before = snapshot(k8s)
    run = ansible_playbook(PLAYBOOK, kubeconfig, MANUAL, check=True, diff=True, timeout=INSTALL_TIMEOUT)
    assert run.rc == 0, failure_text(run) or run.stderr[-3000:]
    assert stats(run).get("changed", 0) > 0, "check mode on an empty cluster should report changes"
    assert snapshot(k8s) == before, "--check wrote to the cluster: %s" % sorted(snapshot(k8s) ^ before)

    # 2. Someone else's state.
    _prepare_foreign_state(k8s, kubeconfig)

    # 3. Converge.
    run = ansible_playbook(PLAYBOOK, kubeconfig, MANUAL, timeout=INSTALL_TIMEOUT)
    assert run.rc == 0, failure_text(run) or run.stderr[-3000:]
    assert stats(run).get("changed", 0) > 0
    assert stats(run).get("failures", 0) == 0

    # 4a. Foreign state survived.
    smcp = get_object(k8s, "maistra.io/v2", "ServiceMeshControlPlane", "minimal", "istio-system")
    providers = smcp["spec"]["techPreview"]["meshConfig"]["extensionProviders"]
    assert FOREIGN_PROVIDER in providers, providers
    assert "redhat-ods-applications-auth-provider" in [p["name"] for p in providers], providers
    assert not missing_from({"labels": USER_LABELS, "annotations": USER_ANNOTATIONS}, smcp["metadata"])
    excluded = smcp["spec"]["proxy"]["networking"]["trafficControl"]["inbound"]["excludedPorts"]
    assert FOREIGN_PORT in excluded and 8444 in excluded, excluded
    ns = get_object(k8s, "v1", "Namespace", "istio-system")
    assert not missing_from({"labels": USER_LABELS, "annotations": USER_ANNOTATIONS}, ns["metadata"])
    dsc = get_object(k8s, "datasciencecluster.opendatahub.io/v1", "DataScienceCluster", "default-dsc")
    assert dsc["spec"]["components"]["dashboard"] == {"managementState": "Managed"}, dsc["spec"]
    assert dsc["spec"]["components"]["kserve"]["defaultDeploymentMode"] == "Serverless", dsc["spec"]
    assert dsc["metadata"]["labels"].get("team.example.com/owner") == "platform"

    # 4b. Field for field with the seed.
    _assert_seed_objects(k8s)
    secret = get_object(k8s, "v1", "Secret", "wildcard-certs", "istio-system")
    assert secret["type"] == "kubernetes.io/tls"
    assert {"tls.crt", "tls.key"} <= set(secret["data"])

    # 4c. A server someone else adds to the ingress Gateway (another port name) is theirs to keep.
    gateways = k8s.resources.get(api_version="networking.istio.io/v1beta1", kind="Gateway")
    gw = gateways.get(name="knative-ingress-gateway", namespace="knative-serving").to_dict()
    foreign_server = {"port": {"name": "http-redirect", "number": 80, "protocol": "HTTP"}, "hosts": ["*"],
                      "tls": {"httpsRedirect": True}}
    gateways.patch(name="knative-ingress-gateway", namespace="knative-serving", content_type="application/merge-patch+json",
                   body={"spec": {"servers": gw["spec"]["servers"] + [foreign_server]}})
    # ... and so is a variable someone else adds to the net-istio controller's environment
    ks_api = k8s.resources.get(api_version="operator.knative.dev/v1beta1", kind="KnativeServing")
    workloads = ks_api.get(name="knative-serving", namespace="knative-serving").to_dict()["spec"]["workloads"]
    for w in workloads:
        if w["name"] == "net-istio-controller":
            w["env"][0]["envVars"].append(FOREIGN_ENV)
    ks_api.patch(name="knative-serving", namespace="knative-serving", content_type="application/merge-patch+json",
                 body={"spec": {"workloads": workloads}})

    # 5. Second run: nothing changes, the foreign server included.
    run = ansible_playbook(PLAYBOOK, kubeconfig, MANUAL, timeout=INSTALL_TIMEOUT)
    assert run.rc == 0, failure_text(run) or run.stderr[-3000:]
    changed = [n for n, r in run.task_results() if r.get("changed")]
    assert stats(run).get("changed") == 0, "second run changed: %s" % changed
    servers = get_object(k8s, "networking.istio.io/v1beta1", "Gateway", "knative-ingress-gateway", "knative-serving")["spec"]["servers"]
    assert [sv["port"]["name"] for sv in servers] == ["https", "http-redirect"], servers
    ks = get_object(k8s, "operator.knative.dev/v1beta1", "KnativeServing", "knative-serving", "knative-serving")
    net_istio = [w for w in ks["spec"]["workloads"] if w["name"] == "net-istio-controller"][0]
    assert FOREIGN_ENV in net_istio["env"][0]["envVars"], net_istio
    rv_before = full_snapshot(k8s)

    # 6. --check --diff on the converged cluster: nothing to change.
    run = ansible_playbook(PLAYBOOK, kubeconfig, MANUAL, check=True, diff=True, timeout=INSTALL_TIMEOUT)
    assert run.rc == 0, failure_text(run) or run.stderr[-3000:]
    changed = [n for n, r in run.task_results() if r.get("changed")]
    assert stats(run).get("changed") == 0, "check mode on a converged cluster reports changes: %s" % changed

    # 7. The automated path is refused on this cluster (a control plane exists), before any write.
    run = ansible_playbook(PLAYBOOK, kubeconfig, {"model_serving_install_path": "automated"}, timeout=INSTALL_TIMEOUT)
    assert run.rc != 0
    text = failure_text(run)
    assert "model_serving_install_path" in text and "automated" in text, text
    rv_after = full_snapshot(k8s)
    assert rv_after == rv_before, "the refused run wrote: %s" % snapshot_changes(rv_before, rv_after)
