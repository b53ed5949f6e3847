"""model_mesh role (playbooks/deploy_model_servers.yml) and playbooks/upgrade_readiness.yml on a testbed.

One testbed for the module (it needs the simulated ModelMesh controller, testbed/sim/modelmesh.py; a
testbed of its own is started unless MODELMESH_KUBECONFIG names one that is up and runs it). The tests
run in file order and build on each other:

readiness report on the clean cluster (nothing) -> platform (Service Mesh, Serverless, Authorino,
OpenShift AI with KServe, through the simulated OLM) -> one converge: two models on one OVMS model
server with token auth, answering with the token and refused without; a single-model project next to
it -> rerun changed=0, --check writes nothing -> a project on both platforms is refused before any write
-> a crashing model server is reported within 30 s with pod and reason, then deleting it deletes its
model first and says so -> the readiness report lists every blocker.
"""

from __future__ import annotations

import base64
import os
from datetime import datetime
import shutil
import tempfile
import uuid

import pytest
from helpers import ansible_playbook
from test_inference_check import ensure_platform
from test_sim_support import create, get, items, merge_patch, wait_for
from testbed.cluster import Testbed
from testbed.pytest_plugin import dynamic_client
from testbed.sim.faults import clear_fault, set_fault

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PLAYBOOK = "playbooks/deploy_model_servers.yml"
SINGLE_PLAYBOOK = "playbooks/deploy_models.yml"
READINESS = "playbooks/upgrade_readiness.yml"
ISVC = ("serving.kserve.io/v1beta1", "InferenceService")
SR = ("serving.kserve.io/v1alpha1", "ServingRuntime")
DSC = ("datasciencecluster.opendatahub.io/v1", "DataScienceCluster")
ODC = ("opendatahub.io/v1alpha", "OdhDashboardConfig")
RBAC = "rbac.authorization.k8s.io/v1"
SUFFIX = uuid.uuid4().hex[:6]
NS = "mm-" + SUFFIX
SINGLE_NS = "mm-single-" + SUFFIX
DOMAIN = "apps.testbed.example.com"
S3_SECRET = "s3-" + uuid.uuid4().hex
CONN = {"name": "models-s3", "endpoint": "https://s3.example.com", "bucket": "models", "region": "eu-west-1",
        "access_key_id": "AKIA" + uuid.uuid4().hex[:16].upper(), "secret_access_key": S3_SECRET}


@pytest.fixture(scope="module")
def bare():
    """(kubeconfig, k8s) of a testbed without OpenShift AI (the platform is added by `cluster`)."""
    given = os.environ.get("MODELMESH_KUBECONFIG")
    tb = state = None
    if given:
        kubeconfig = given
    else:
        state = tempfile.mkdtemp(prefix="testbed-mm-")
        tb = Testbed(state, gpu_nodes=0)
        tb.up(log=lambda m: print("[testbed] %s" % m))
        kubeconfig = str(tb.kubeconfig)
    try:
        yield kubeconfig, dynamic_client(kubeconfig)
    finally:
        if tb is not None:
            try:
                tb.down(log=lambda m: print("[testbed] %s" % m))
            finally:
                shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(bare):
    """(kubeconfig, k8s, ingress ConfigMap data) with the platform installed."""
    kubeconfig, k8s = bare
    ingress = ensure_platform(k8s)
    # the dashboard too, so that the role has its multi-model switch to turn on
    dsc = items(k8s, *DSC)[0]
    merge_patch(k8s, *DSC, dsc["metadata"]["name"], {"spec": {"components": {"dashboard": {"managementState": "Managed"}}}})
    odc = wait_for(lambda: items(k8s, *ODC, namespace="redhat-ods-applications"), timeout=300,
                   desc="OdhDashboardConfig of the dashboard component")[0]
    # switched off, as an administrator may have done (seed §2.1.1 prerequisite)
    merge_patch(k8s, *ODC, odc["metadata"]["name"], {"spec": {"dashboardConfig": {"disableModelMesh": True}}},
                namespace="redhat-ods-applications")
    return kubeconfig, k8s, ingress


def server(**kw):
    s = {"name": "ovms-server", "project": NS, "runtime": "ovms", "replicas": 1, "size": "Small",
         "token_auth": True, "tokens": ["ci-bot"],
         "models": [{"name": "mnist", "model_format": "onnx", "storage": {"connection": dict(CONN), "path": "mnist/"}},
                    {"name": "fraud", "model_format": "openvino_ir", "model_format_version": "opset1",
                     "storage": {"connection": "models-s3", "path": "fraud/"}}]}
    s.update(kw)
    return s


def extra_vars(cluster, servers, **kw):
    ingress = cluster[2]
    out = {"model_serving_kubeconfig": cluster[0], "model_serving_model_servers": servers,
           "model_mesh_timeout": 300,
           # the routes serve the router's certificate (TLS itself is exercised by test_inference_check)
           "model_mesh_check_validate_certs": False,
           "model_mesh_check_resolve": {"*." + DOMAIN: ingress["https-address"]}}
    out.update(kw)
    return out


def play(cluster, servers, check=False, diff=False, **kw):
    return ansible_playbook(PLAYBOOK, cluster[0], extra_vars(cluster, servers, **kw), check=check, diff=diff,
                            timeout=1200)


def failure_text(run):
    return "\n".join("%s: %s" % (name, res.get("msg")) for name, res in run.task_results()
                     if res.get("failed") and not res.get("ignore_errors"))


def changed(run):
    return run.stats.get("localhost", {}).get("changed")


def task(run, suffix):
    for name, res in run.task_results():
        if name.endswith(suffix):
            return res
    return {}


def snapshot(k8s, namespace):
    """(kind, name) -> resourceVersion of everything the role writes in a project, and the project."""
    out = {}
    for api_version, kind in (ISVC, SR, ("v1", "Secret"), ("v1", "ServiceAccount"), (RBAC, "RoleBinding")):
        for obj in items(k8s, api_version, kind, namespace):
            out[(kind, obj["metadata"]["name"])] = obj["metadata"]["resourceVersion"]
    ns = get(k8s, "v1", "Namespace", namespace)
    if ns:
        out[("Namespace", namespace)] = ns["metadata"]["resourceVersion"]
    return out


def readiness(kubeconfig):
    run = ansible_playbook(READINESS, kubeconfig, {"model_serving_kubeconfig": kubeconfig}, timeout=600)
    assert run.rc == 0, failure_text(run) or run.stderr[-3000:]
    return run


def test_readiness_report_is_empty_on_a_clean_cluster(bare):
    kubeconfig, k8s = bare
    before = snapshot(k8s, "default")
    run = readiness(kubeconfig)
    facts = task(run, "Decide what blocks the upgrade")["ansible_facts"]["model_serving_upgrade_readiness"]
    assert facts == {"blockers": [], "advisories": []}
    assert "nothing it removes is in use" in task(run, "Report")["msg"]
    assert changed(run) == 0 and snapshot(k8s, "default") == before


def test_two_models_on_one_server_converge_with_token_and_a_single_model_project_coexists(cluster):
    kubeconfig, k8s, ingress = cluster
    digits = {"name": "digits", "project": SINGLE_NS, "runtime": "kserve-ovms", "model_format": "onnx",
              "deployment_mode": "RawDeployment", "external_route": False,
              "storage": {"uri": "oci://quay.io/example/mnist:1"}}
    single = ansible_playbook(SINGLE_PLAYBOOK, kubeconfig, {
        "model_serving_kubeconfig": kubeconfig, "model_deployment_timeout": 300,
        "model_deployment_check_resolve": {"*.svc.cluster.local": ingress["http-address"]},
        "model_serving_models": [digits]}, timeout=1200)
    assert single.rc == 0, failure_text(single) or single.stderr[-3000:]

    run = play(cluster, [server()], diff=True)
    assert run.rc == 0, failure_text(run) or run.stderr[-3000:]
    summary = task(run, "Summarise the model servers")["msg"]
    for model in ("mnist", "fraud"):
        assert "%s Loaded https://%s-%s.%s/v2/models/%s/infer - inference check ok: without_token 401, ready 200, " \
               "infer 200" % (model, model, NS, DOMAIN, model) in summary, summary
    assert S3_SECRET not in run.stderr and S3_SECRET not in str(run.output)

    # the platform: modelmeshserving Managed next to kserve, the dashboard switch on
    dsc = items(k8s, *DSC)[0]
    assert dsc["spec"]["components"]["modelmeshserving"]["managementState"] == "Managed"
    assert dsc["spec"]["components"]["kserve"]["managementState"] == "Managed"
    odc = items(k8s, *ODC, namespace="redhat-ods-applications")[0]
    assert odc["spec"]["dashboardConfig"]["disableModelMesh"] is False

    # the project and the model server as the dashboard makes them
    assert get(k8s, "v1", "Namespace", NS)["metadata"]["labels"]["modelmesh-enabled"] == "true"
    assert get(k8s, "v1", "Namespace", SINGLE_NS)["metadata"]["labels"]["modelmesh-enabled"] == "false"
    sr = get(k8s, *SR, "ovms-server", NS)
    ann = sr["metadata"]["annotations"]
    assert ann["enable-route"] == "true" and ann["enable-auth"] == "true"
    assert ann["opendatahub.io/template-name"] == "ovms"
    assert sr["spec"]["multiModel"] is True and sr["spec"]["replicas"] == 1
    assert sr["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "1", "memory": "4Gi"}
    assert "--config_path=/models/model_config_list.json" in sr["spec"]["containers"][0]["args"]

    # the models, in ModelMesh mode on that server
    for model, path in (("mnist", "mnist/"), ("fraud", "fraud/")):
        isvc = get(k8s, *ISVC, model, NS)
        assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "ModelMesh"
        assert isvc["spec"]["predictor"]["model"]["runtime"] == "ovms-server"
        assert isvc["spec"]["predictor"]["model"]["storage"] == {"key": "models-s3", "path": path}
        assert isvc["status"]["modelStatus"]["states"]["activeModelState"] == "Loaded"
        route = get(k8s, "route.openshift.io/v1", "Route", model, NS)
        assert route["spec"]["path"] == "/v2/models/%s" % model
    assert get(k8s, "v1", "Secret", "storage-config", NS) is not None

    # token objects named after the model server, bound to ClusterRole view, owned by the server
    binding = get(k8s, RBAC, "RoleBinding", "ovms-server-view", NS)
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "ovms-server-sa", "namespace": NS}]
    token = get(k8s, "v1", "Secret", "ci-bot-ovms-server-sa", NS)
    assert token["type"] == "kubernetes.io/service-account-token"
    assert binding["metadata"]["ownerReferences"][0]["uid"] == sr["metadata"]["uid"]
    assert base64.b64decode(token["data"]["token"]).decode() not in run.stderr + str(run.output)

    # the pods of the model server: the reference's five containers
    pods = items(k8s, "v1", "Pod", NS, label_selector="name=modelmesh-serving-ovms-server")
    assert pods and [c["name"] for c in pods[0]["spec"]["containers"]] == \
        ["rest-proxy", "oauth-proxy", "ovms", "ovms-adapter", "mm"]


def test_rerun_changes_nothing_and_check_mode_writes_nothing(cluster):
    k8s = cluster[1]
    run = play(cluster, [server()])
    assert run.rc == 0, failure_text(run) or run.stderr[-3000:]
    assert changed(run) == 0, [n for n, r in run.task_results() if r.get("changed")]

    before = snapshot(k8s, NS)
    bigger = server(replicas=2, models=server()["models"] + [
        {"name": "third", "model_format": "onnx", "storage": {"connection": "models-s3", "path": "third/"}}])
    run = play(cluster, [bigger, server(name="another", project=NS + "-new", models=[])], check=True, diff=True)
    assert run.rc == 0, failure_text(run) or run.stderr[-3000:]
    assert changed(run) > 0
    assert "check mode: nothing was written" in task(run, "Summarise the model servers")["msg"]
    assert snapshot(k8s, NS) == before
    assert get(k8s, "v1", "Namespace", NS + "-new") is None


def test_a_project_on_both_platforms_is_refused_before_any_write(cluster):
    k8s = cluster[1]
    before = snapshot(k8s, SINGLE_NS), snapshot(k8s, NS)
    run = play(cluster, [server(name="mixed", project=SINGLE_NS, models=[
        {"name": "other", "model_format": "onnx", "storage": {"connection": dict(CONN), "path": "x/"}}])])
    assert run.rc != 0
    text = failure_text(run)
    assert "project %s cannot be both single-model and multi-model" % SINGLE_NS in text, text
    assert "digits (RawDeployment)" in text, text
    # the same project in both variables of one run
    run = play(cluster, [server()], model_serving_models=[
        {"name": "x", "project": NS, "runtime": "kserve-ovms", "model_format": "onnx",
         "storage": {"uri": "oci://quay.io/example/x:1"}}])
    assert run.rc != 0 and "it is on the single-model platform in model_serving_models[0] (x)" in failure_text(run)
    assert (snapshot(k8s, SINGLE_NS), snapshot(k8s, NS)) == before


def test_a_crashing_model_server_is_reported_within_30s_then_deleted_with_its_models(cluster):
    k8s = cluster[1]
    crashy = server(name="crashy", token_auth=False, tokens=[], models=[
        {"name": "wobbly", "model_format": "onnx", "storage": {"connection": "models-s3", "path": "wobbly/"}}])
    set_fault(k8s, "modelmesh-serving-crashy.fail", "CrashLoopBackOff")
    set_fault(k8s, "modelmesh-serving-crashy.fail-container", "ovms")
    try:
        # only the new server: the role leaves servers it is not given alone
        run = play(cluster, [crashy])
    finally:
        clear_fault(k8s, "modelmesh-serving-crashy.fail")
        clear_fault(k8s, "modelmesh-serving-crashy.fail-container")
    assert run.rc != 0
    text = failure_text(run)
    assert "model server %s/crashy: pod modelmesh-serving-crashy-" % NS in text, text
    assert "container ovms: CrashLoopBackOff" in text, text
    verify = task(run, "Verify the model server pods")
    duration = verify["_task_duration"]
    # the callback's timestamps are ISO strings
    spent = (datetime.fromisoformat(duration["end"].replace("Z", "+00:00")) -
             datetime.fromisoformat(duration["start"].replace("Z", "+00:00"))).total_seconds()
    assert spent < 30, spent

    run = play(cluster, [dict(crashy, state="absent")])
    assert run.rc == 0, failure_text(run) or run.stderr[-3000:]
    assert "Removed %s/crashy with models: wobbly" % NS in task(run, "Summarise the model servers")["msg"]
    assert get(k8s, *ISVC, "wobbly", NS) is None and get(k8s, *SR, "crashy", NS) is None
    assert get(k8s, *ISVC, "mnist", NS) is not None and get(k8s, *SR, "ovms-server", NS) is not None


def test_readiness_report_lists_each_blocker(cluster):
    kubeconfig, k8s, _ingress = cluster
    ns = "mm-legacy-" + SUFFIX
    create(k8s, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    create(k8s, {"apiVersion": SR[0], "kind": SR[1], "metadata": {
        "name": "caikit", "namespace": ns, "annotations": {"opendatahub.io/template-name": "caikit-tgis-runtime"}},
        "spec": {"supportedModelFormats": [{"name": "caikit", "autoSelect": True}],
                 "containers": [{"name": "kserve-container", "image": "quay.io/example/caikit:1"}]}})
    create(k8s, {"apiVersion": ISVC[0], "kind": ISVC[1], "metadata": {
        "name": "flan", "namespace": ns, "annotations": {"serving.kserve.io/deploymentMode": "Serverless"}},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "caikit"}, "runtime": "caikit",
                                         "storageUri": "s3://models/flan"}}}})
    before = snapshot(k8s, NS)
    run = readiness(kubeconfig)
    report = task(run, "Decide what blocks the upgrade")["ansible_facts"]["model_serving_upgrade_readiness"]
    found = set((b["kind"], b["namespace"], b["name"], b["why"].split(" ")[0]) for b in report["blockers"])
    assert ("ServingRuntime", NS, "ovms-server", "ModelMesh") in found, found
    assert ("InferenceService", NS, "mnist", "ModelMesh") in found and ("InferenceService", NS, "fraud", "ModelMesh") in found
    assert ("InferenceService", ns, "flan", "Serverless") in found, found
    assert ("InferenceService", ns, "flan", "runs") in found, found
    assert any(b["kind"] == "DataScienceCluster" and "modelmeshserving" in b["why"] for b in report["blockers"])
    assert any(b["kind"] == "DSCInitialization" for b in report["blockers"])
    assert not any(b["name"] == "digits" for b in report["blockers"])  # RawDeployment on kserve-ovms stays
    assert changed(run) == 0 and snapshot(k8s, NS) == before
