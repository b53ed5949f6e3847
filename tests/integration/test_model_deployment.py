"""model_deployment role (playbooks/deploy_models.yml) against a testbed with OpenShift AI installed.

One testbed for the module (the predictor pods need the simulator's support for ServingRuntime
volumes and the OOMKilled kubelet stage, so a testbed of its own is started unless
MODEL_DEPLOYMENT_KUBECONFIG names one that is up). The platform (Service Mesh, Serverless, Authorino,
OpenShift AI 2.19 with KServe) is installed through the simulated OLM like test_inference_check does.
The tests run in file order and build on each other: the acceptance converge (one model per shipped
runtime - vLLM, Caikit-TGIS, Caikit standalone, OVMS; this version ships no TGIS template - in
Serverless and RawDeployment, with and without token auth) -> idempotence and check mode -> runtime
change rolls the pods -> refusals -> crash, image pull, OOM and unschedulable GPU reported within 30 s ->
a blocking finalizer is named -> the demo model of inventories/local -> state absent removes everything.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import tempfile
import uuid

import pytest
from helpers import ansible_playbook
from test_inference_check import ensure_platform
from test_sim_support import get, items, merge_patch, wait_for
from testbed.cluster import Testbed
from testbed.pytest_plugin import dynamic_client

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PLAYBOOK = "playbooks/deploy_models.yml"
ISVC = ("serving.kserve.io/v1beta1", "InferenceService")
SR = ("serving.kserve.io/v1alpha1", "ServingRuntime")
RBAC = "rbac.authorization.k8s.io/v1"
NS = "md-" + uuid.uuid4().hex[:6]
S3_KEY = "AKIA" + uuid.uuid4().hex[:16].upper()
S3_SECRET = "s3-" + uuid.uuid4().hex
CONN = {"name": "models-s3", "endpoint": "https://s3.example.com", "bucket": "models", "region": "eu-west-1",
        "access_key_id": S3_KEY, "secret_access_key": S3_SECRET}


@pytest.fixture(scope="module")
def cluster():
    """(kubeconfig, k8s, ingress ConfigMap data) of a testbed with the platform installed."""
    given = os.environ.get("MODEL_DEPLOYMENT_KUBECONFIG")
    tb = state = None
    if given:
        kubeconfig = given
    else:
        state = tempfile.mkdtemp(prefix="testbed-md-")
        tb = Testbed(state, gpu_nodes=1)
        tb.up(log=lambda m: print("[testbed] %s" % m))
        kubeconfig = str(tb.kubeconfig)
    try:
        k8s = dynamic_client(kubeconfig)
        ingress = ensure_platform(k8s)
        yield kubeconfig, k8s, ingress
    finally:
        if tb is not None:
            try:
                tb.down(log=lambda m: print("[testbed] %s" % m))
            finally:
                shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="module")
def token_dir():
    d = tempfile.mkdtemp(prefix="md-tokens-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def granite(**kw):
    m = {"name": "granite", "project": NS, "runtime": "vllm-cuda-runtime", "model_format": "vLLM",
         "token_auth": True, "tokens": ["ci-bot"], "size": "Small",
         "storage": {"connection": dict(CONN), "path": "granite/"}}
    m.update(kw)
    return m


def flan(**kw):
    m = {"name": "flan", "project": NS, "runtime": "caikit-tgis-runtime", "model_format": "caikit",
         "deployment_mode": "RawDeployment", "external_route": True, "size": "Small",
         "storage": {"connection": "models-s3", "path": "flan-t5/"}}
    m.update(kw)
    return m


def minilm(**kw):
    m = {"name": "minilm", "project": NS, "runtime": "caikit-standalone-runtime", "model_format": "caikit",
         "size": "Small", "storage": {"uri": "oci://quay.io/example/all-minilm-l12-v2-caikit:1"}}
    m.update(kw)
    return m


def mnist(**kw):
    m = {"name": "mnist", "project": NS, "runtime": "kserve-ovms", "model_format": "onnx",
         "deployment_mode": "RawDeployment", "external_route": False, "replicas": {"min": 1, "max": 2},
         "storage": {"uri": "oci://quay.io/example/mnist:1"}}
    m.update(kw)
    return m


def extra_vars(cluster, models, token_dir=None, **kw):
    kubeconfig, _k8s, ingress = cluster
    domain = "apps.testbed.example.com"
    out = {"model_serving_kubeconfig": kubeconfig, "model_serving_models": models,
           "model_deployment_timeout": 300,
           # the gateway's certificate is self-signed by the simulated operator; TLS itself is
           # exercised by test_inference_check
           "model_deployment_check_validate_certs": False,
           "model_deployment_check_resolve": {"*." + domain: ingress["https-address"],
                                              "*.svc.cluster.local": ingress["http-address"]}}
    if token_dir:
        out["model_deployment_token_dir"] = token_dir
    out.update(kw)
    return out


def play(cluster, models, check=False, diff=False, verbose=False, token_dir=None, **kw):
    args = ("-vvv",) if verbose else ()
    return ansible_playbook(PLAYBOOK, cluster[0], extra_vars(cluster, models, token_dir, **kw), check=check,
                            diff=diff, args=args, timeout=1200)


def models(**env):
    """The acceptance inventory (mnist takes keyword arguments, e.g. its runtime_env)."""
    return [granite(), flan(), minilm(), mnist(**env)]


def failure_text(run):
    out = []
    for name, res in run.task_results():
        if res.get("failed") and not res.get("ignore_errors"):
            out.append("%s: %s" % (name, res.get("msg")))
    return "\n".join(out)


def changed(run):
    return run.stats.get("localhost", {}).get("changed")


def result_of(run):
    for name, res in run.task_results():
        if name.endswith("Summarise the models"):
            return res.get("msg")
    return None


def snapshot(k8s):
    """(kind, name) -> resourceVersion of everything in the project and the project itself."""
    out = {}
    for api_version, kind in (ISVC, SR, ("v1", "Secret"), ("v1", "ServiceAccount"), (RBAC, "Role"),
                              (RBAC, "RoleBinding")):
        for obj in items(k8s, api_version, kind, NS):
            out[(kind, obj["metadata"]["name"])] = obj["metadata"]["resourceVersion"]
    ns = get(k8s, "v1", "Namespace", NS)
    if ns:
        out[("Namespace", NS)] = ns["metadata"]["resourceVersion"]
    return out


def token_value(k8s, name):
    secret = get(k8s, "v1", "Secret", name, NS)
    return base64.b64decode(secret["data"]["token"]).decode()


def test_converge_every_runtime_both_modes_with_and_without_token(cluster, token_dir):
    _kubeconfig, k8s, _ingress = cluster
    run = play(cluster, models(), diff=True, verbose=True, token_dir=token_dir)
    assert run.rc == 0, failure_text(run) or run.stderr[-3000:]
    summary = result_of(run)
    assert "%s/granite (vllm-cuda-runtime, Serverless, token auth): https://granite-%s.apps.testbed.example.com" % (
        NS, NS) in summary, summary
    # a call without the token is refused, the calls with it answer
    assert "inference check ok: without_token 401, models 200, completions 200" in summary, summary
    # (the simulated KServe reports a RawDeployment model's cluster-local URL also when it has a Route)
    assert "%s/flan (caikit-tgis-runtime, RawDeployment): http" % NS in summary, summary
    assert "inference check ok: text_generation 200" in summary, summary
    assert "%s/minilm (caikit-standalone-runtime, Serverless): https://minilm-%s.apps.testbed.example.com" % (
        NS, NS) in summary, summary
    assert "inference check ok: embedding 200" in summary, summary
    assert "%s/mnist (kserve-ovms, RawDeployment): http://mnist-predictor.%s.svc.cluster.local" % (NS, NS) in summary
    assert "inference check ok: ready 200, infer 200" in summary, summary
    assert summary.count("inference check ok") == 4, summary

    # the project, as the dashboard labels it
    ns = get(k8s, "v1", "Namespace", NS)
    assert ns["metadata"]["labels"]["opendatahub.io/dashboard"] == "true"
    assert ns["metadata"]["labels"]["modelmesh-enabled"] == "false"

    # flan uses the data connection granite defines, by name
    f = get(k8s, *ISVC, "flan", NS)
    assert f["spec"]["predictor"]["model"]["storage"] == {"key": "models-s3", "path": "flan-t5/"}
    assert f["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"

    # the data connection
    conn = get(k8s, "v1", "Secret", "models-s3", NS)
    assert conn["type"] == "Opaque"
    assert conn["metadata"]["labels"]["opendatahub.io/managed"] == "true"
    assert conn["metadata"]["annotations"]["opendatahub.io/connection-type"] == "s3"
    data = dict((k, base64.b64decode(v).decode()) for k, v in conn["data"].items())
    assert data["AWS_ACCESS_KEY_ID"] == S3_KEY and data["AWS_SECRET_ACCESS_KEY"] == S3_SECRET
    assert data["AWS_S3_BUCKET"] == "models" and data["AWS_DEFAULT_REGION"] == "eu-west-1"

    # the ServingRuntime copied from the shipped template
    template = get(k8s, "template.openshift.io/v1", "Template", "vllm-cuda-runtime-template", "redhat-ods-applications")
    sr = get(k8s, *SR, "granite", NS)
    ann = sr["metadata"]["annotations"]
    assert ann["opendatahub.io/template-name"] == "vllm-cuda-runtime"
    assert ann["opendatahub.io/template-display-name"] == \
        template["objects"][0]["metadata"]["annotations"]["openshift.io/display-name"]
    assert ann["opendatahub.io/apiProtocol"] == "REST" and "opendatahub.io/accelerator-name" in ann
    assert sr["spec"]["containers"][0]["image"] == template["objects"][0]["spec"]["containers"][0]["image"]
    assert "--served-model-name={{.Name}}" in sr["spec"]["containers"][0]["args"]
    assert {"name": "shm", "mountPath": "/dev/shm"} in sr["spec"]["containers"][0]["volumeMounts"]

    # the InferenceServices per mode
    g = get(k8s, *ISVC, "granite", NS)
    assert g["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Serverless"
    assert g["metadata"]["annotations"]["security.opendatahub.io/enable-auth"] == "true"
    assert g["metadata"]["annotations"]["sidecar.istio.io/inject"] == "true"
    assert g["spec"]["predictor"]["model"]["storage"] == {"key": "models-s3", "path": "granite/"}
    assert g["spec"]["predictor"]["model"]["resources"]["requests"] == {"cpu": "1", "memory": "4Gi"}
    m = get(k8s, *ISVC, "mnist", NS)
    assert m["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"
    assert "sidecar.istio.io/inject" not in m["metadata"]["annotations"]
    assert m["spec"]["predictor"]["minReplicas"] == 1 and m["spec"]["predictor"]["maxReplicas"] == 2

    # token objects, owned by the InferenceService
    role = get(k8s, RBAC, "Role", "granite-view-role", NS)
    assert role["rules"][0]["resourceNames"] == ["granite"] and role["rules"][0]["verbs"] == ["get"]
    binding = get(k8s, RBAC, "RoleBinding", "granite-view", NS)
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "granite-sa", "namespace": NS}]
    secret = get(k8s, "v1", "Secret", "ci-bot-granite-sa", NS)
    assert secret["type"] == "kubernetes.io/service-account-token"
    assert secret["metadata"]["ownerReferences"][0]["uid"] == g["metadata"]["uid"]
    token = token_value(k8s, "ci-bot-granite-sa")

    # the token file on the controller, 0600
    path = os.path.join(token_dir, "%s-ci-bot-granite-sa.token" % NS)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path) as f:
        assert f.read() == token

    # no token, S3 key or private key anywhere in the -vvv --diff output
    text = json.dumps(run.output) + run.stderr
    for value in (S3_KEY, S3_SECRET, token, base64.b64encode(S3_SECRET.encode()).decode(),
                  base64.b64encode(token.encode()).decode()):
        assert value not in text
    assert "PRIVATE KEY" not in text


def test_second_run_changes_nothing_and_check_mode_writes_nothing(cluster):
    _kubeconfig, k8s, _ingress = cluster
    # (inventories/local calls every model on every run; the role's default calls only what changed)
    run = play(cluster, models(), model_deployment_check_scope="changed")
    assert run.rc == 0, failure_text(run)
    assert changed(run) == 0, [n for n, r in run.task_results() if r.get("changed")]
    ran = [n for n, r in run.task_results() if not r.get("skipped")]
    assert not [n for n in ran if n.endswith(("Call each model", "Wait until the models are Ready and Loaded"))], ran

    before = snapshot(k8s)
    other_ns = NS + "-new"
    planned = [granite(replicas={"min": 1, "max": 3}), flan(), minilm(), mnist(),
               mnist(name="resnet", project=other_ns)]
    run = play(cluster, planned, check=True, diff=True)
    assert run.rc == 0, failure_text(run)
    assert changed(run) > 0
    assert snapshot(k8s) == before
    assert get(k8s, "v1", "Namespace", other_ns) is None
    # the diff says what would change
    write_task = "Write the projects, data connections, runtimes, InferenceServices and token objects"
    write = [r for n, r in run.task_results() if n.endswith(write_task)][0]
    diffs = [item.get("diff") for item in write["results"] if item.get("changed")]
    assert any((d or {}).get("after", {}).get("spec", {}).get("predictor", {}).get("maxReplicas") == 3 for d in diffs)


def test_runtime_change_rolls_the_pods(cluster):
    _kubeconfig, k8s, _ingress = cluster
    before = get(k8s, *ISVC, "mnist", NS)
    selector = "serving.kserve.io/inferenceservice=mnist"
    pods_before = set(p["metadata"]["uid"] for p in items(k8s, "v1", "Pod", NS, selector))
    run = play(cluster, models(runtime_env=[{"name": "OVMS_LOG_LEVEL", "value": "DEBUG"}]))
    assert run.rc == 0, failure_text(run)
    sr = get(k8s, *SR, "mnist", NS)
    assert {"name": "OVMS_LOG_LEVEL", "value": "DEBUG"} in sr["spec"]["containers"][0]["env"]
    after = get(k8s, *ISVC, "mnist", NS)
    key = "model-serving.openshift-ai.io/runtime-hash"
    assert after["spec"]["predictor"]["annotations"][key] != before["spec"]["predictor"]["annotations"][key]
    assert after["metadata"]["generation"] > before["metadata"]["generation"]
    # new predictor pods carry the new runtime
    wait_for(lambda: [p for p in items(k8s, "v1", "Pod", NS, "serving.kserve.io/inferenceservice=mnist")
                      if p["metadata"]["uid"] not in pods_before and
                      {"name": "OVMS_LOG_LEVEL", "value": "DEBUG"} in (p["spec"]["containers"][0].get("env") or [])],
             timeout=120, desc="a new mnist predictor pod with the new runtime env")


ENV = [{"name": "OVMS_LOG_LEVEL", "value": "DEBUG"}]


def test_refusals_before_any_write(cluster):
    _kubeconfig, k8s, _ingress = cluster
    before = snapshot(k8s)
    # refusals that need the cluster (the live mode, the offered runtimes) are reported together
    run = play(cluster, [granite(runtime="no-such-runtime"), flan(), minilm(),
                         mnist(runtime_env=ENV, deployment_mode="Serverless")])
    assert run.rc != 0
    msg = failure_text(run)
    assert "model_serving_models[3] (mnist in %s): deployment_mode Serverless cannot be applied" % NS in msg, msg
    assert "RawDeployment mode" in msg and "model_deployment_allow_recreate" in msg
    assert "model_serving_models[0] (granite in %s): runtime no-such-runtime is not offered" % NS in msg, msg
    run = play(cluster, [granite(), flan(), minilm(), mnist(runtime_env=ENV, name="Bad_Name")])
    assert run.rc != 0
    msg = failure_text(run)
    assert "model_serving_models[3] (Bad_Name in %s): name must be a DNS-1035 label" % NS in msg, msg
    assert snapshot(k8s) == before


FAULTS = (("crashy", "CrashLoopBackOff"), ("pully", "ImagePullBackOff"), ("oomy", "OOMKilled"))


def faulty_models(state="present"):
    """A model per testbed fault, each in a project of its own (one readiness wait each), and a model that
    asks for more nvidia.com/gpu than any node has (the testbed's GPU node has none until the GPU operator
    runs)."""
    out = [mnist(name=name, project="%s-%s" % (NS, name), state=state, check={"enabled": False},
                 annotations={"testbed.openshift-ai.io/fail": fault}) for name, fault in FAULTS]
    out.append(granite(name="gpu-llm", project=NS + "-gpu", accelerators=2, token_auth=False, tokens=[], state=state,
                       storage={"uri": "oci://quay.io/example/granite:1"}, check={"enabled": False}))
    return out


def test_crash_image_pull_oom_and_unschedulable_gpu_are_reported_within_30s(cluster):
    _kubeconfig, k8s, _ingress = cluster
    run = play(cluster, models(runtime_env=ENV) + faulty_models())
    assert run.rc != 0
    msg = failure_text(run)
    assert "model crashy: pod crashy-predictor-" in msg and "container kserve-container: CrashLoopBackOff" in msg, msg
    assert "model pully: pod pully-predictor-" in msg and "container kserve-container: ImagePullBackOff" in msg, msg
    assert "model oomy: pod oomy-predictor-" in msg and "container kserve-container: OOMKilled" in msg, msg
    assert "model gpu-llm: pod gpu-llm-predictor-" in msg and ": Unschedulable (" in msg, msg
    assert "Insufficient nvidia.com/gpu" in msg, msg
    wait = [r for n, r in run.task_results() if n.endswith("Wait until the models are Ready and Loaded")][0]
    failed = dict((r["__model_deployment_wait"]["namespace"], r) for r in wait["results"] if r.get("failed"))
    assert sorted(failed) == sorted(["%s-%s" % (NS, n) for n, _f in FAULTS] + [NS + "-gpu"]), wait["results"]
    for ns, res in failed.items():
        assert res["elapsed"] < 30, (ns, res["elapsed"], res.get("msg"))

    # removed again (state absent), the others stay
    run = play(cluster, models(runtime_env=ENV) + faulty_models(state="absent"))
    assert run.rc == 0, failure_text(run)
    for name, _fault in FAULTS:
        assert get(k8s, *ISVC, name, "%s-%s" % (NS, name)) is None
        assert get(k8s, *SR, name, "%s-%s" % (NS, name)) is None
    assert get(k8s, *ISVC, "gpu-llm", NS + "-gpu") is None


def test_a_blocking_finalizer_is_named(cluster):
    _kubeconfig, k8s, _ingress = cluster
    hold = "example.com/hold"
    merge_patch(k8s, *ISVC, "minilm", {"metadata": {"finalizers": [hold]}}, NS)
    try:
        run = play(cluster, [granite(), flan(), dict(minilm(), state="absent"), mnist(runtime_env=ENV)],
                   model_deployment_timeout=5)
        assert run.rc != 0
        msg = failure_text(run)
        assert "InferenceService %s/minilm: still there after 5s, blocked by finalizer %s" % (NS, hold) in msg, msg
    finally:
        merge_patch(k8s, *ISVC, "minilm", {"metadata": {"finalizers": None}}, NS)
    wait_for(lambda: get(k8s, *ISVC, "minilm", NS) is None, timeout=60, desc="minilm deleted once released")


def test_demo_model_of_inventories_local(cluster):
    """What `make install` runs after the platform: inventories/local's demo model, its check verifying the
    gateway's certificate with the CA the inventory reads from the cluster."""
    kubeconfig, _k8s, _ingress = cluster
    run = ansible_playbook(PLAYBOOK, kubeconfig, {}, args=("-i", "inventories/local"), timeout=1200)
    assert run.rc == 0, failure_text(run) or run.stderr[-3000:]
    summary = result_of(run)
    assert "demo-models/demo-llm (vllm-cuda-runtime, Serverless, token auth): https://demo-llm-demo-models." in summary
    assert "inference check ok: without_token 401, models 200, completions 200" in summary, summary


def test_state_absent_removes_everything(cluster):
    _kubeconfig, k8s, _ingress = cluster
    # a key someone else added to the project stays
    merge_patch(k8s, "v1", "Namespace", NS, {"metadata": {"labels": {"team": "ml"}}})
    gone = [dict(m, state="absent") for m in models()]
    run = play(cluster, gone, diff=True, verbose=True)
    assert run.rc == 0, failure_text(run)
    left = snapshot(k8s)
    ours = [k for k in left if k[0] != "Namespace" and not (k[0] == "ServiceAccount" and k[1] == "default")
            and not (k[0] == "Secret" and k[1].startswith("default-"))]
    assert ours == [], ours
    ns = get(k8s, "v1", "Namespace", NS)
    assert ns["metadata"]["labels"]["team"] == "ml"
    assert S3_SECRET not in json.dumps(run.output) + run.stderr
    run = play(cluster, gone)
    assert run.rc == 0 and changed(run) == 0, failure_text(run)
