"""Model deployment decisions (module_utils/_models.py): input checks, dashboard objects, plan, reports."""

import base64
import copy
import json

import jmespath
import pytest

from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _models as M
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._service import keyed_merge
from testbed.sim.dashboard_templates import shipped_templates

SIZES = [{"name": "Small", "resources": {"requests": {"cpu": "1", "memory": "4Gi"},
                                         "limits": {"cpu": "2", "memory": "8Gi"}}}]
CONN = {"name": "models-s3", "endpoint": "https://s3.example.com", "bucket": "models", "region": "eu-west-1",
        "access_key_id": "AKIAEXAMPLE", "secret_access_key": "s3cr3t-value"}


def vllm(**kw):
    base = {"name": "granite", "project": "models", "runtime": "vllm-cuda-runtime", "model_format": "vLLM",
            "storage": {"connection": dict(CONN), "path": "granite/"}, "size": "Small"}
    base.update(kw)
    return base


def ovms(**kw):
    base = {"name": "mnist", "project": "models", "runtime": "kserve-ovms", "model_format": "onnx",
            "deployment_mode": "RawDeployment", "storage": {"uri": "oci://quay.io/example/mnist:1"}}
    base.update(kw)
    return base


def cluster(**kw):
    base = {"templates": shipped_templates("2.19.1"), "sizes": SIZES, "namespaces": ["models"], "isvcs": [],
            "secrets": []}
    base.update(kw)
    return base


def by_kind(items, kind):
    return [i for i in items if i["kind"] == kind]


# ------------------------------------------------------------------------------------ input checks


@pytest.mark.parametrize("change, needle", [
    ({"name": "Granite"}, "model_serving_models[0] (Granite in models): name must be a DNS-1035 label"),
    ({"name": "1abc"}, "name must be a DNS-1035 label"),
    ({"project": "My_Project"}, "project must be a namespace name"),
    ({"runtime": None}, "runtime must be a ServingRuntime name"),
    ({"model_format": ""}, "model_format"),
    ({"storage": None}, "storage is missing"),
    ({"storage": {"path": "x"}}, "exactly one of storage.connection"),
    ({"storage": {"uri": "s3://b/p", "connection": "x", "path": "p"}}, "exactly one of storage.connection"),
    ({"storage": {"uri": "not a uri"}}, "storage.uri must be a URI"),
    ({"storage": {"connection": dict(CONN)}}, "storage.path"),
    ({"storage": {"connection": {"name": "c"}, "path": "p"}}, "storage.connection.endpoint is missing"),
    ({"deployment_mode": "Raw"}, "deployment_mode must be Serverless or RawDeployment, got 'Raw'"),
    ({"replicas": {"min": 3, "max": 2}}, "replicas must be"),
    ({"replicas": 0}, "replicas must be"),
    ({"size": "Small", "resources": {"requests": {}}}, "size or resources, not both"),
    ({"accelerators": -1}, "accelerators must be"),
    ({"external_route": "yes"}, "external_route must be true or false"),
    ({"tokens": ["a"]}, "tokens are given but token_auth is false"),
    ({"token_auth": True, "tokens": ["A b", "a-b"]}, "same Secret name"),
    ({"state": "gone"}, "state must be present or absent"),
    ({"colour": "red"}, "unknown keys colour"),
    ({"name": "a" * 40, "project": "b" * 30}, "longer than 63 characters"),
])
def test_input_errors_name_the_entry_and_the_variable(change, needle):
    model = vllm(**change)
    errors = M.input_errors([model])
    assert any(needle in e for e in errors), errors
    assert all(e.startswith("model_serving_models[0]") for e in errors), errors


def test_valid_models_have_no_errors_and_absent_needs_only_the_name():
    assert M.input_errors([vllm(), ovms(), {"name": "old", "project": "models", "state": "absent"}]) == []


def test_duplicates_and_conflicting_connections():
    other = dict(CONN, bucket="other")
    errors = M.input_errors([vllm(), vllm(), vllm(name="b", storage={"connection": other, "path": "p"})])
    assert any("the same model as model_serving_models[0]" in e for e in errors)
    assert any("data connection models-s3 differs" in e for e in errors)
    assert M.input_errors("x") == ["model_serving_models must be a list of model mappings, got str"]


def test_errors_never_contain_secret_values():
    errors = M.input_errors([vllm(storage={"connection": dict(CONN, extra="z"), "path": ""})])
    assert errors and CONN["secret_access_key"] not in json.dumps(errors)


# -------------------------------------------------------------------------------------- objects


def test_serving_runtime_is_the_template_object_as_the_dashboard_copies_it():
    templates = M.runtime_templates(shipped_templates("2.19.1"))
    sr_name, tpl = M.find_template("vllm-runtime", templates)  # renamed in 2.19
    assert sr_name == "vllm-cuda-runtime"
    model = M.normalize(vllm(runtime_env=[{"name": "HF_HOME", "value": "/data"}], runtime_args=["--x=1"]))
    sr = M.serving_runtime(model, tpl)
    md = sr["metadata"]
    assert md["name"] == "granite" and md["namespace"] == "models"
    assert md["labels"]["opendatahub.io/dashboard"] == "true"
    ann = md["annotations"]
    assert ann["opendatahub.io/template-name"] == "vllm-cuda-runtime"
    assert ann["opendatahub.io/template-display-name"] == tpl["objects"][0]["metadata"]["annotations"]["openshift.io/display-name"]
    assert ann["opendatahub.io/apiProtocol"] == "REST" and ann["opendatahub.io/accelerator-name"] == ""
    assert ann["openshift.io/display-name"] == "granite"
    spec = sr["spec"]
    assert "replicas" not in spec
    first = spec["supportedModelFormats"][0]
    assert spec["supportedModelFormats"] == [dict(first, name="vLLM", autoSelect=True, priority=1)]
    c = spec["containers"][0]
    assert "resources" not in c and {"name": "shm", "mountPath": "/dev/shm"} in c["volumeMounts"]
    assert {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}} in spec["volumes"]
    assert "--served-model-name={{.Name}}" in c["args"] and c["args"][-1] == "--x=1"
    assert {"name": "HF_HOME", "value": "/data"} in c["env"] and len([e for e in c["env"] if e["name"] == "HF_HOME"]) == 1
    # the template itself is untouched
    assert "shm" not in json.dumps(tpl)


def test_runtime_hash_changes_with_the_runtime_and_only_then():
    tpl = M.runtime_templates(shipped_templates("2.19.1"))["vllm-cuda-runtime"]
    a = M.serving_runtime(M.normalize(vllm()), tpl)
    b = M.serving_runtime(M.normalize(vllm(display_name="Granite 3")), tpl)
    c = M.serving_runtime(M.normalize(vllm(runtime_args=["--max-model-len=4096"])), tpl)
    assert M.runtime_hash(a) == M.runtime_hash(b) != M.runtime_hash(c)


def test_inference_service_per_mode_exposure_and_auth():
    tpl = M.runtime_templates(shipped_templates("2.19.1"))["vllm-cuda-runtime"]
    model = M.normalize(vllm(token_auth=True, accelerators=1, replicas={"min": 1, "max": 3}))
    sr = M.serving_runtime(model, tpl)
    isvc = M.inference_service(model, sr, SIZES, "models-s3")
    md = isvc["metadata"]
    assert md["annotations"]["serving.kserve.io/deploymentMode"] == "Serverless"
    assert md["annotations"]["security.opendatahub.io/enable-auth"] == "true"
    for key in M.SERVERLESS_ANNOTATIONS:
        assert md["annotations"][key] == "true"
    assert md["labels"]["networking.knative.dev/visibility"] is None  # external: the label is removed
    pred = isvc["spec"]["predictor"]
    assert pred["minReplicas"] == 1 and pred["maxReplicas"] == 3
    assert pred["model"]["storage"] == {"key": "models-s3", "path": "granite/"} and pred["model"]["storageUri"] is None
    assert pred["model"]["resources"]["limits"] == {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": 1}
    assert pred["model"]["runtime"] == "granite" and pred["model"]["modelFormat"] == {"name": "vLLM"}
    assert pred["annotations"][M.RUNTIME_HASH_ANNOTATION] == M.runtime_hash(sr)
    # created from an empty object the None keys disappear
    created = keyed_merge({}, isvc)
    assert "networking.knative.dev/visibility" not in created["metadata"]["labels"]
    assert "storageUri" not in created["spec"]["predictor"]["model"]

    local = M.normalize(vllm(external_route=False))
    isvc = M.inference_service(local, sr, SIZES, "models-s3")
    assert isvc["metadata"]["labels"]["networking.knative.dev/visibility"] == "cluster-local"
    assert isvc["metadata"]["annotations"]["security.opendatahub.io/enable-auth"] is None

    raw = M.normalize(ovms(external_route=True))
    isvc = M.inference_service(raw, sr, SIZES)
    assert isvc["metadata"]["labels"]["networking.kserve.io/visibility"] == "exposed"
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"
    assert all(isvc["metadata"]["annotations"][k] is None for k in M.SERVERLESS_ANNOTATIONS)
    assert isvc["spec"]["predictor"]["model"]["storageUri"] == "oci://quay.io/example/mnist:1"


def test_data_connection_secret():
    secret = M.data_connection(M.normalize(vllm()))
    md = secret["metadata"]
    assert md["labels"]["opendatahub.io/dashboard"] == "true" and md["labels"]["opendatahub.io/managed"] == "true"
    assert md["annotations"]["opendatahub.io/connection-type"] == "s3"
    assert md["annotations"]["opendatahub.io/connection-type-ref"] == "s3"
    data = dict((k, base64.b64decode(v).decode()) for k, v in secret["data"].items())
    assert data == {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3cr3t-value",
                    "AWS_S3_ENDPOINT": "https://s3.example.com", "AWS_DEFAULT_REGION": "eu-west-1",
                    "AWS_S3_BUCKET": "models"}
    assert secret["type"] == "Opaque"


def test_token_objects_and_owner():
    model = M.normalize(vllm(token_auth=True, tokens=["Alice Bot", "ci"]))
    objs = M.token_objects(model, owner_uid="u-1")
    names = [(o["kind"], o["metadata"]["name"]) for o in objs]
    assert names == [("ServiceAccount", "granite-sa"), ("Role", "granite-view-role"), ("RoleBinding", "granite-view"),
                     ("Secret", "alice-bot-granite-sa"), ("Secret", "ci-granite-sa")]
    role = objs[1]
    assert role["rules"] == [{"apiGroups": ["serving.kserve.io"], "resources": ["inferenceservices"],
                              "resourceNames": ["granite"], "verbs": ["get"]}]
    assert objs[2]["subjects"] == [{"kind": "ServiceAccount", "name": "granite-sa", "namespace": "models"}]
    secret = objs[3]
    assert secret["type"] == "kubernetes.io/service-account-token"
    assert secret["metadata"]["annotations"] == {"kubernetes.io/service-account.name": "granite-sa",
                                                 "openshift.io/display-name": "Alice Bot"}
    assert all(o["metadata"]["ownerReferences"][0]["uid"] == "u-1" for o in objs)
    assert M.normalize(vllm(token_auth=True))["tokens"] == ["default-name"]


# ------------------------------------------------------------------------------------------ plan


def test_plan_writes_in_dashboard_order_and_waits_per_project():
    p = M.plan([vllm(token_auth=True), ovms()], {}, cluster())
    assert p["errors"] == []
    assert [i["name"] for i in p["namespaces"]] == ["models"]
    assert p["namespaces"][0]["patch"]["metadata"]["labels"] == {"opendatahub.io/dashboard": "true",
                                                                 "modelmesh-enabled": "false"}
    assert [i["name"] for i in p["secrets"]] == ["models-s3"]
    assert [i["name"] for i in p["runtimes"]] == ["granite", "mnist"]
    assert [i["name"] for i in p["isvcs"]] == ["granite", "mnist"]
    assert len(p["tokens"]) == 4 and all(t["owner"] == "granite" for t in p["tokens"])
    assert len(p["waits"]) == 1 and p["waits"][0]["names"] == ["granite", "mnist"]
    assert p["models"][0]["tokens"] == ["default-name-granite-sa"] and p["models"][0]["check_enabled"] is True
    assert p["delete"] == [] and p["deleted_models"] == []


def test_plan_refusals_before_any_write():
    p = M.plan([vllm(runtime="nope"), ovms(model_format="vLLM"), vllm(name="b", size="Huge"),
                vllm(name="c", runtime="ovms")], {}, cluster())
    text = " | ".join(p["errors"])
    assert "model_serving_models[0] (granite in models): runtime nope is not offered" in text
    assert "kserve-ovms does not serve model_format vLLM" in text
    assert "size Huge is not a model server size" in text
    assert "ovms is a multi-model (ModelMesh) runtime" in text
    assert "isvcs" not in p


def live_isvc(name, mode, **extra):
    obj = {"metadata": {"name": name, "namespace": "models", "annotations": {M.MODE_ANNOTATION: mode},
                        "labels": {"opendatahub.io/dashboard": "true"}},
           "spec": {"predictor": {"model": {"storage": {"key": "models-s3"}}}}}
    obj["metadata"].update(extra)
    return obj


def test_mode_change_refused_or_recreated():
    c = cluster(isvcs=[live_isvc("granite", "Serverless")])
    p = M.plan([vllm(deployment_mode="RawDeployment")], {}, c)
    assert len(p["errors"]) == 1 and "exists in Serverless mode" in p["errors"][0] and \
        "model_deployment_allow_recreate" in p["errors"][0]
    p = M.plan([vllm(deployment_mode="RawDeployment")], {}, c, allow_recreate=True)
    assert p["errors"] == [] and p["recreate"] == [M.ref(M.ISVC_API, "InferenceService", "granite", "models")]


def test_check_mode_leaves_out_objects_of_a_new_project():
    p = M.plan([vllm(project="new")], {}, cluster(), check_mode=True)
    assert [i["name"] for i in p["namespaces"]] == ["new"]
    assert p["isvcs"] == [] and p["runtimes"] == [] and p["secrets"] == [] and p["waits"] == []
    assert "InferenceService new/granite" in p["pending"]


def ours(name, sa=None):
    md = {"name": name, "namespace": "models", "labels": {M.MANAGED_BY_LABEL: M.MANAGED_BY}}
    if sa:
        md["annotations"] = {M.SA_NAME_ANNOTATION: sa}
    return md


def test_absent_removes_the_model_and_what_was_created_for_it():
    c = cluster(isvcs=[live_isvc("granite", "Serverless")],
                secrets=[ours("models-s3"), ours("default-name-granite-sa", "granite-sa")])
    p = M.plan([{"name": "granite", "project": "models", "state": "absent"}], {}, c)
    assert p["deleted_models"] == [M.ref(M.ISVC_API, "InferenceService", "granite", "models")]
    kinds = [(r["kind"], r["name"]) for r in p["delete"]]
    assert kinds == [("ServingRuntime", "granite"), ("Secret", "default-name-granite-sa"),
                     ("RoleBinding", "granite-view"), ("Role", "granite-view-role"),
                     ("ServiceAccount", "granite-sa"), ("Secret", "models-s3")]
    # a data connection another model still uses stays
    p = M.plan([{"name": "granite", "project": "models", "state": "absent"}, vllm(name="other")], {}, c)
    assert ("Secret", "models-s3") not in [(r["kind"], r["name"]) for r in p["delete"]]


def test_token_auth_off_and_dropped_tokens_are_removed():
    c = cluster(isvcs=[live_isvc("granite", "Serverless", annotations={M.MODE_ANNOTATION: "Serverless",
                                                                       M.AUTH_ANNOTATION: "true"})],
                secrets=[ours("old-granite-sa", "granite-sa")])
    p = M.plan([vllm()], {}, c)
    assert ("ServiceAccount", "granite-sa") in [(r["kind"], r["name"]) for r in p["delete"]]
    p = M.plan([vllm(token_auth=True, tokens=["new"])], {}, c)
    assert [(r["kind"], r["name"]) for r in p["delete"]] == [("Secret", "old-granite-sa")]


def test_with_owners_sets_the_uid_of_the_written_isvc():
    p = M.plan([vllm(token_auth=True)], {}, cluster())
    res = [{"result": {"metadata": {"name": "granite", "namespace": "models", "uid": "abc"}}}]
    items = M.with_owners(p["tokens"], res)
    assert all(i["patch"]["metadata"]["ownerReferences"][0]["uid"] == "abc" for i in items)
    assert all("owner" not in i for i in items)
    assert "ownerReferences" not in M.with_owners(p["tokens"], [])[0]["patch"]["metadata"]
    # resources_patch results: kind/name/namespace beside a result with only the uid
    res = [{"kind": "ServingRuntime", "name": "granite", "namespace": "models", "result": {"metadata": {"uid": "sr"}}},
           {"kind": "InferenceService", "name": "granite", "namespace": "models", "result": {"metadata": {"uid": "is"}}}]
    assert all(i["patch"]["metadata"]["ownerReferences"][0]["uid"] == "is" for i in M.with_owners(p["tokens"], res))


# ------------------------------------------------------------------------------ wait expressions


def isvc_status(name, ready, loaded, gen=2, observed=2, target=None, message=""):
    return {"metadata": {"name": name, "generation": gen},
            "status": {"observedGeneration": observed,
                       "conditions": [{"type": "Stopped", "status": "False"},
                                      {"type": "Ready", "status": "True" if ready else "False", "message": message}],
                       "modelStatus": {"states": {"activeModelState": "Loaded" if loaded else "",
                                                  "targetModelState": target or ("Loaded" if loaded else "Loading")}}}}


def test_ready_expression_ignores_other_models_and_stopped_false():
    expr = M._ready_expression(["granite"])
    assert jmespath.search(expr, isvc_status("granite", True, True)) is True
    assert not jmespath.search(expr, isvc_status("granite", True, True, observed=1))
    assert not jmespath.search(expr, isvc_status("granite", True, False))
    assert not jmespath.search(expr, isvc_status("granite", False, True))
    assert not jmespath.search(expr, {"metadata": {"name": "granite"}})
    no_observed = isvc_status("granite", True, True)
    del no_observed["status"]["observedGeneration"]
    assert jmespath.search(expr, no_observed) is True
    assert jmespath.search(expr, isvc_status("other", False, False)) is True


def test_failure_expressions():
    load, sched, crash, _pull, _err, oom = M._failure_expressions(["granite"])
    assert jmespath.search(oom, isvc_status("granite", False, False, message="Container failed: OOMKilled"))
    assert jmespath.search(crash, isvc_status("granite", False, False, message="x CrashLoopBackOff y"))
    assert jmespath.search(load, isvc_status("granite", False, False, target="FailedToLoad"))
    assert not jmespath.search(load, isvc_status("other", False, False, target="FailedToLoad"))
    assert not jmespath.search(load, isvc_status("granite", False, False))
    assert jmespath.search(sched, isvc_status("granite", False, False, message="failed with message: Unschedulable 0/3"))
    assert not jmespath.search(sched, isvc_status("granite", False, False))
    assert not jmespath.search(sched, {"metadata": {"name": "granite"}})


def test_failure_report_names_model_pod_container_reason():
    pods = {"groups": [{"name": "granite", "pods": ["granite-predictor-1"]}],
            "pods": [{"name": "granite-predictor-1", "problems": [
                {"pod": "granite-predictor-1", "container": "kserve-container", "reason": "CrashLoopBackOff",
                 "message": "back-off 10s"}]}]}
    lines = M.failure_report("InferenceService models/granite failed", pods, ["granite"])
    assert lines[0] == ("model granite: pod granite-predictor-1 container kserve-container: CrashLoopBackOff "
                        "(back-off 10s)")
    assert lines[-1] == "InferenceService models/granite failed"
    pods["pods"][0]["problems"] = [{"pod": "granite-predictor-1", "container": None, "reason": "Unschedulable",
                                    "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}]
    lines = M.failure_report("x" * 700, pods, ["granite"])
    assert lines[0] == ("model granite: pod granite-predictor-1: Unschedulable (0/3 nodes are available: 3 "
                        "Insufficient nvidia.com/gpu.)")
    assert len(lines[-1]) == 603


def test_summary():
    models = [{"name": "granite", "project": "models", "runtime": "vllm-cuda-runtime", "deployment_mode": "Serverless",
               "token_auth": True, "tokens": ["default-name-granite-sa"]}]
    waits = [{"resources": [dict(isvc_status("granite", True, True), metadata={"name": "granite", "namespace": "models"},
                                 status=dict(isvc_status("granite", True, True)["status"], url="https://g"))]}]
    checks = [{"__model_deployment_model": {"name": "granite", "project": "models"}, "ok": True, "runtime": "vllm",
               "url": "https://g", "calls": [{"name": "without_token", "status": 401},
                                             {"name": "models", "status": 200, "ok": True, "excerpt": '{"data": []}'},
                                             {"name": "completions", "status": 200, "ok": True, "excerpt": "Hello"}]}]
    out = M.summary(models, waits, checks)
    assert out[0]["url"] == "https://g" and out[0]["ready"] is True
    assert out[0]["check"]["ok"] is True
    assert out[0]["check"]["calls"] == ["without_token 401", "models 200", "completions 200"]
    assert out[0]["check"]["answer"] == "Hello"
    assert copy.deepcopy(out) == out


# ------------------------------------------------------------------ no-op path: waits, checks, writes
def ready_isvc(name, ns="models", ready=True, generation=1, observed=1):
    return {"metadata": {"name": name, "namespace": ns, "generation": generation},
            "status": {"observedGeneration": observed, "url": "https://%s.example" % name,
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                       "modelStatus": {"states": {"activeModelState": "Loaded" if ready else ""}}}}


def test_ready_at_read_drives_waits_and_checks():
    live = [ready_isvc("granite"), ready_isvc("mnist", generation=2, observed=1)]
    p = M.plan([vllm(), ovms(), ovms(name="resnet", project="other")], {}, cluster(isvcs=live, namespaces=["models", "other"]))
    ready = dict((m["name"], m["ready_at_read"]) for m in p["models"])
    assert ready == {"granite": True, "mnist": False, "resnet": False}  # mnist: not at its generation
    # nothing written: only the projects with a model that was not ready are waited for
    assert [w["namespace"] for w in M.waits_needed(p["waits"], p["models"], [])] == ["models", "other"]
    only_ready = [dict(m, ready_at_read=True) for m in p["models"]]
    assert M.waits_needed(p["waits"], only_ready, []) == []
    assert [w["namespace"] for w in M.waits_needed(p["waits"], only_ready, ["other"])] == ["other"]
    # checks: all, or the changed and not-ready ones
    assert [c["name"] for c in M.checks(only_ready, [], "all")] == ["granite", "mnist", "resnet"]
    assert M.checks(only_ready, [], "changed") == []
    assert [c["name"] for c in M.checks(only_ready, ["other"], "changed")] == ["resnet"]
    assert [c["name"] for c in M.checks(p["models"], [], "changed")] == ["mnist", "resnet"]


def test_checks_carry_the_token_secret_and_the_model_overrides_never_a_token():
    p = M.plan([vllm(token_auth=True, tokens=["ci-bot"], check={"wait_timeout": 5, "url": "https://x"}),
                ovms(check={"enabled": False})], {}, cluster())
    assert M.checks(p["models"], [], "all") == [
        {"name": "granite", "namespace": "models", "token_secret": "ci-bot-granite-sa", "url": "https://x", "wait_timeout": 5}]


def test_touched_projects_from_written_results():
    written = [{"results": [{"kind": "Namespace", "name": "a", "namespace": None, "changed": True},
                            {"kind": "ServingRuntime", "name": "m", "namespace": "b", "changed": False}]},
               {"results": [{"kind": "InferenceService", "name": "m", "namespace": "c", "changed": True}]}, {}]
    assert M.touched_projects(written) == ["a", "c"]


def test_writes_are_staged_with_owners():
    p = M.plan([vllm(token_auth=True, tokens=["ci-bot"])], {}, cluster())
    w = M.writes(p, with_namespaces=True)
    stages = dict((e["kind"], e["stage"]) for e in w)
    assert stages == {"Namespace": 0, "ServingRuntime": 1, "InferenceService": 1, "ServiceAccount": 2, "Role": 2,
                      "RoleBinding": 3, "Secret": 3}
    sa = [e for e in w if e["kind"] == "ServiceAccount"][0]
    assert sa["owner"] == {"api_version": M.ISVC_API, "kind": "InferenceService", "name": "granite"}
    assert "Namespace" not in [e["kind"] for e in M.writes(p, with_namespaces=False)]


def test_summary_falls_back_to_what_was_read_and_takes_batch_checks():
    models = [{"name": "granite", "project": "models", "url": "https://g", "ready_at_read": True}]
    checks = [{"name": "granite", "namespace": "models", "ok": True, "url": "https://g",
               "calls": [{"name": "models", "status": 200, "ok": True, "excerpt": "{}"}]}]
    out = M.summary(models, [], checks)
    assert out[0]["url"] == "https://g" and out[0]["ready"] is True
    assert out[0]["check"]["ok"] and out[0]["check"]["calls"] == ["models 200"]


def test_an_oom_killed_crash_loop_is_reported_as_oomkilled():
    pods = {"pods": [{"name": "mnist-predictor-1", "problems": [{
        "pod": "mnist-predictor-1", "container": "kserve-container", "reason": "CrashLoopBackOff",
        "message": "back-off 10s restarting failed container; last exit code 137 (OOMKilled)"}]}],
        "groups": [{"name": "mnist", "pods": ["mnist-predictor-1"]}]}
    lines = M.failure_report(None, pods, ["mnist"])
    assert lines == ["model mnist: pod mnist-predictor-1 container kserve-container: OOMKilled (killed for exceeding "
                     "its memory limit; back-off 10s restarting failed container; last exit code 137 (OOMKilled))"]


def test_a_modelmesh_project_is_refused():
    mm = {"metadata": {"name": "mnist", "namespace": "models",
                       "annotations": {"serving.kserve.io/deploymentMode": "ModelMesh"}}}
    c = cluster()
    c["isvcs"] = list(c.get("isvcs") or []) + [mm]
    p = M.plan([vllm()], {}, c)
    assert any("multi-model platform (ModelMesh InferenceServices mnist)" in e for e in p["errors"]), p["errors"]


def test_a_runtime_kserve_has_not_seen_yet_is_waited_out_not_failed_on():
    load = M._failure_expressions(["granite"])[0]
    lagging = {"metadata": {"name": "granite"}, "status": {"modelStatus": {
        "states": {"targetModelState": "FailedToLoad"},
        "lastFailureInfo": {"reason": "RuntimeNotRecognized", "message": "specified runtime granite does not exist"}}}}
    assert not jmespath.search(load, lagging)
    failed = {"metadata": {"name": "granite"}, "status": {"modelStatus": {
        "states": {"targetModelState": "FailedToLoad"}, "lastFailureInfo": {"reason": "ModelLoadFailed"}}}}
    assert jmespath.search(load, failed)
