"""Serving runtime decisions (module_utils/_runtimes.py): versions, validation, tuned copies, dashboard patch."""

import copy
import json

import pytest

from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _runtimes as R
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._service import keyed_merge

NS = "redhat-ods-applications"


def sr(name, image="quay.io/example/server:1.0", kind="ServingRuntime", api="serving.kserve.io/v1alpha1", **spec):
    container = {"name": "kserve-container", "image": image, "args": ["--model_name={{.Name}}", "--port=8001"]}
    body = {"apiVersion": api, "kind": kind, "metadata": {"name": name},
            "spec": dict({"containers": [container]}, **spec)}
    return body


def shipped_template(sr_name, template_name=None, support='["single"]', protocol="REST", env=None, args=None):
    runtime = sr(sr_name, image="$(vllm-image)")
    runtime["metadata"]["annotations"] = {"openshift.io/display-name": "Shipped " + sr_name,
                                          "opendatahub.io/recommended-accelerators": '["nvidia.com/gpu"]'}
    runtime["metadata"]["labels"] = {"opendatahub.io/dashboard": "true"}
    container = runtime["spec"]["containers"][0]
    if env is not None:
        container["env"] = env
    if args is not None:
        container["args"] = args
    return {"apiVersion": "template.openshift.io/v1", "kind": "Template",
            "metadata": {"name": template_name or R.SHIPPED[sr_name][0], "namespace": NS,
                         "labels": {"opendatahub.io/dashboard": "true", "opendatahub.io/ootb": "true",
                                    "app": "odh-dashboard"},
                         "annotations": {"opendatahub.io/modelServingSupport": support,
                                         "opendatahub.io/apiProtocol": protocol}},
            "objects": [runtime]}


def cluster_219(**extra):
    names = R.shipped_in((2, 19))
    out = {"version": "2.19.1", "templates": [shipped_template(n) for n in names],
           "accelerator_profiles": [{"metadata": {"name": "nvidia-gpu"}, "spec": {"identifier": "nvidia.com/gpu"}}]}
    out.update(extra)
    return out


# ------------------------------------------------------------------ versions

@pytest.mark.parametrize("text,parsed", [("2.19.1", (2, 19)), ("v3.0.0", (3, 0)), ("2.16", (2, 16)), ("", None),
                                         (None, None), ("latest", None)])
def test_parse_version(text, parsed):
    assert R.parse_version(text) == parsed


def test_rhoai_version_from_platform_operators():
    ops = [{"name": "servicemeshoperator.v2.6.4", "package": "servicemeshoperator", "version": "2.6.4", "phase": "Succeeded"},
           {"name": "rhods-operator.v2.16.2", "package": "rhods-operator", "version": "2.16.2", "phase": "Replacing"},
           {"name": "rhods-operator.v2.19.1", "package": "rhods-operator", "version": "2.19.1", "phase": "Succeeded"}]
    assert R.rhoai_version(ops) == "2.19.1"
    assert R.rhoai_version(ops[:1]) is None
    assert R.rhoai_version([{"name": "rhods-operator.v2.22.1", "package": None, "version": "2.22.1", "phase": "Succeeded"}]) == "2.22.1"


def test_shipped_inventory_per_version():
    v216 = R.shipped_in((2, 16))
    assert "vllm-runtime" in v216 and "vllm-cuda-runtime" not in v216 and "tgis-grpc-runtime" in v216
    v219 = R.shipped_in((2, 19))
    assert "vllm-cuda-runtime" in v219 and "vllm-runtime" not in v219 and "tgis-grpc-runtime" not in v219
    assert "caikit-tgis-runtime" in v219 and "ovms" in v219
    v30 = R.shipped_in((3, 0))
    for gone in ("caikit-tgis-runtime", "caikit-standalone-runtime", "ovms", "tgis-grpc-runtime"):
        assert gone not in v30
    assert "kserve-ovms" in v30 and "vllm-cuda-runtime" in v30


# ------------------------------------------------------------------ shipped resolution

def test_resolve_falls_back_between_vllm_names():
    live = {"vllm-cuda-runtime": "vllm-cuda-runtime-template"}
    name, template, note, error = R.resolve_shipped("vllm-runtime", (2, 19), live)
    assert (name, template, error) == ("vllm-cuda-runtime", "vllm-cuda-runtime-template", None)
    assert "vllm-runtime is named vllm-cuda-runtime in RHOAI 2.19" in note
    name, template, note, error = R.resolve_shipped("vllm-cuda-runtime", (2, 16), {"vllm-runtime": "vllm-runtime-template"})
    assert name == "vllm-runtime" and error is None


def test_resolve_refuses_what_the_version_does_not_ship_and_says_what_it_ships():
    live = dict((n, R.SHIPPED[n][0]) for n in R.shipped_in((2, 19)))
    _n, _t, _note, error = R.resolve_shipped("tgis-grpc-runtime", (2, 19), live)
    assert "RHOAI 2.19 does not ship the runtime tgis-grpc-runtime" in error
    assert "TGIS standalone was removed in 2.19" in error
    assert "use vllm-cuda-runtime instead" in error
    assert "kserve-ovms" in error and "vllm-cuda-runtime" in error
    _n, _t, _note, error = R.resolve_shipped("ovms", (3, 0), {})
    assert "ModelMesh" in error and "kserve-ovms" in error
    _n, _t, _note, error = R.resolve_shipped("caikit-tgis-runtime", (3, 0), {})
    assert "Caikit was removed in 3.0" in error
    _n, _t, _note, error = R.resolve_shipped("vllm-cpu-runtime", (2, 16), {})
    assert "it ships from 2.19" in error
    _n, _t, _note, error = R.resolve_shipped("no-such-runtime", (2, 19), {})
    assert "not a runtime OpenShift AI ships" in error


def test_resolve_expected_but_not_created_yet_and_pending():
    name, template, note, error = R.resolve_shipped("kserve-ovms", (2, 19), {})
    assert (name, template, error) == ("kserve-ovms", "kserve-ovms", None)
    assert R.pending_templates(["kserve-ovms", "vllm-runtime", "tgis-grpc-runtime"], (2, 19), {"kserve-ovms": "kserve-ovms"}) \
        == ["vllm-cuda-runtime-template"]


def test_unknown_version_decides_on_the_live_templates_only():
    live = {"kserve-ovms": "kserve-ovms"}
    assert R.resolve_shipped("kserve-ovms", None, live)[3] is None
    error = R.resolve_shipped("vllm-cuda-runtime", None, live)[3]
    assert "RHOAI unknown does not ship" in error and "kserve-ovms" in error


def test_classify_templates():
    labels = {"app.kubernetes.io/managed-by": "openshift_ai.model_serving", "opendatahub.io/dashboard": "true"}
    ours = {"metadata": {"name": "template-a", "labels": labels}, "objects": [sr("a")]}
    other = {"metadata": {"name": "template-x1y2", "labels": {"opendatahub.io/dashboard": "true"}}, "objects": [sr("b")]}
    unrelated = {"metadata": {"name": "foo"}, "objects": [sr("c")]}
    out = R.classify_templates([shipped_template("kserve-ovms"), ours, other, unrelated, {"metadata": {"name": "empty"}}])
    assert out == {"shipped": {"kserve-ovms": "kserve-ovms"}, "ours": {"a": "template-a"}, "others": {"b": "template-x1y2"}}


# ------------------------------------------------------------------ validation

@pytest.mark.parametrize("image", ["nvcr.io/nvidia/tritonserver:23.04-py3", "seldonio/mlserver:1.3.2",
                                   "pytorch/torchserve:0.7.1-cpu", "registry:5000/team/img:v1",
                                   "quay.io/x/y@sha256:" + "a" * 64, "img:latest"])
def test_images_with_tag_or_digest(image):
    assert R.image_error(image) is None


@pytest.mark.parametrize("image,needle", [("seldonio/mlserver", "no tag"), ("registry:5000/team/img", "no tag"),
                                          ("img:", "invalid tag"), ("quay.io/x/y@sha256:zz", "digest"),
                                          ("", "no image"), (None, "no image"), ("a b:1", "blanks")])
def test_images_without_tag(image, needle):
    assert needle in R.image_error(image)


def test_validate_runtime():
    assert R.validate_runtime(sr("mlserver-0.x")) == []
    errors = R.validate_runtime(sr("Bad_Name", image="img", kind="Deployment", api="apps/v1"))
    text = " | ".join(errors)
    for needle in ("kind must be ServingRuntime, found 'Deployment'", "apiVersion must be serving.kserve.io/v1alpha1",
                   "metadata.name", "spec.containers[0] (kserve-container): image 'img' has no tag"):
        assert needle in text
    assert "spec.containers must list" in R.validate_runtime({"kind": "ServingRuntime", "apiVersion": R.SR_API_VERSION,
                                                              "metadata": {"name": "a"}, "spec": {}})[0]
    assert "mapping" in R.validate_runtime("kind: ServingRuntime")[0]


# ------------------------------------------------------------------ env / args

def test_merge_env_by_name_values_as_strings():
    env = [{"name": "HF_HOME", "value": "/tmp/hf_home"}, {"name": "BATCH_SAFETY_MARGIN", "value": "20"},
           {"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]
    out = R.merge_env(env, [{"name": "BATCH_SAFETY_MARGIN", "value": 30}, {"name": "ESTIMATE_MEMORY_BATCH_SIZE", "value": 8},
                            {"name": "SECRET", "value": "plain"}])
    assert out == [{"name": "HF_HOME", "value": "/tmp/hf_home"}, {"name": "BATCH_SAFETY_MARGIN", "value": "30"},
                   {"name": "SECRET", "value": "plain"}, {"name": "ESTIMATE_MEMORY_BATCH_SIZE", "value": "8"}]
    assert env[1]["value"] == "20"


def test_merge_args_keeps_order_and_replaces_same_flag():
    args = ["--port=8080", "--model=/mnt/models", "--served-model-name={{.Name}}"]
    out = R.merge_args(args, ["--chat-template=/app/t.jinja"])
    assert out == args + ["--chat-template=/app/t.jinja"]
    assert R.merge_args(out, ["--chat-template=/other.jinja"]) == args + ["--chat-template=/other.jinja"]
    assert R.merge_args(out, ["--chat-template=/app/t.jinja"]) == out
    assert R.merge_args(["--x"], ["--x", "--y"]) == ["--x", "--y"]


def test_tune_runtime_copies_under_a_new_name():
    tpl = shipped_template("caikit-tgis-runtime", env=[{"name": "A", "value": "1"}])
    source = tpl["objects"][0]
    source["metadata"].update({"namespace": NS, "resourceVersion": "5", "uid": "u"})
    tuned = R.tune_runtime(source, "caikit-tgis-oom", env=[{"name": "BATCH_SAFETY_MARGIN", "value": "30"}])
    assert tuned["metadata"]["name"] == "caikit-tgis-oom"
    assert "namespace" not in tuned["metadata"] and "resourceVersion" not in tuned["metadata"]
    assert tuned["metadata"]["annotations"]["openshift.io/display-name"] == "Shipped caikit-tgis-runtime (caikit-tgis-oom)"
    assert tuned["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}, {"name": "BATCH_SAFETY_MARGIN", "value": "30"}]
    assert tuned["spec"]["containers"][0]["args"] == source["spec"]["containers"][0]["args"]
    assert source["metadata"]["name"] == "caikit-tgis-runtime"  # source untouched
    with pytest.raises(ValueError):
        R.tune_runtime(source, "x", container="nope")


def test_runtime_template_for_the_dashboard():
    body = R.runtime_template(sr("mlserver-0.x"), NS, ["multi"], "REST", display_name="MLServer",
                              accelerators=["nvidia.com/gpu"])
    assert body["metadata"]["name"] == "template-mlserver-0.x"
    assert body["metadata"]["namespace"] == NS
    assert body["metadata"]["labels"] == {"opendatahub.io/dashboard": "true",
                                          "app.kubernetes.io/managed-by": "openshift_ai.model_serving"}
    ann = body["metadata"]["annotations"]
    assert ann["opendatahub.io/modelServingSupport"] == '["multi"]'
    assert ann["opendatahub.io/apiProtocol"] == "REST"
    assert ann["openshift.io/display-name"] == "MLServer"
    runtime = body["objects"][0]
    assert runtime["metadata"]["annotations"]["opendatahub.io/recommended-accelerators"] == '["nvidia.com/gpu"]'
    assert runtime["spec"]["containers"][0]["args"][0] == "--model_name={{.Name}}"
    assert body["parameters"] == []


# ------------------------------------------------------------------ dashboard patch

def test_dashboard_patch_only_named_keys():
    assert R.dashboard_patch() == {"patch": {}, "list_merge_keys": {}, "remove_entries": {}}
    out = R.dashboard_patch({"single_model_platform": True, "multi_model_platform": False, "kserve_token_auth": None})
    assert out["patch"] == {"spec": {"dashboardConfig": {"disableKServe": False, "disableModelMesh": True}}}


def test_dashboard_patch_lists_keep_what_others_wrote():
    out = R.dashboard_patch(sizes=[{"name": "Small", "resources": {"limits": {"cpu": "3"}}}],
                            enabled=["vllm-cuda-runtime"], disabled=["ovms"], order=["kserve-ovms"])
    live = {"metadata": {"name": "odh-dashboard-config"},
            "spec": {"dashboardConfig": {"disableTracking": True},
                     "modelServerSizes": [{"name": "Small", "resources": {"limits": {"cpu": "2"}}}, {"name": "Theirs"}],
                     "templateDisablement": ["ovms-gpu", "vllm-cuda-runtime"], "templateOrder": ["x"]}}
    merged = keyed_merge(live, out["patch"], out["list_merge_keys"], out["remove_entries"])
    assert merged["spec"]["dashboardConfig"] == {"disableTracking": True}
    assert merged["spec"]["modelServerSizes"] == [{"name": "Small", "resources": {"limits": {"cpu": "3"}}}, {"name": "Theirs"}]
    assert merged["spec"]["templateDisablement"] == ["ovms-gpu", "ovms"]
    assert merged["spec"]["templateOrder"] == ["kserve-ovms"]


# ------------------------------------------------------------------ plan

def inputs(**kw):
    base = {"namespace": NS}
    base.update(kw)
    return base


def test_plan_enables_shipped_and_publishes_custom():
    out = R.plan(inputs(enabled=["vllm-runtime", "kserve-ovms"], disabled=["ovms"],
                        custom=[{"runtime": sr("mlserver-0.x"), "platforms": ["single", "multi"],
                                 "recommended_accelerators": ["nvidia-gpu"]}],
                        single_model_platform=True),
                 cluster_219())
    assert out["errors"] == [], out["errors"]
    assert any("vllm-runtime is named vllm-cuda-runtime" in n for n in out["notes"])
    assert out["shipped"] == [{"name": "vllm-cuda-runtime", "template": "vllm-cuda-runtime-template"},
                              {"name": "kserve-ovms", "template": "kserve-ovms"}]
    assert out["custom_names"] == ["mlserver-0.x"]
    (tpl,) = out["templates"]
    assert tpl["objects"][0]["metadata"]["annotations"]["opendatahub.io/recommended-accelerators"] == '["nvidia.com/gpu"]'
    dash = out["dashboard"]
    assert dash["patch"]["spec"]["templateDisablement"] == ["ovms"]
    assert dash["remove_entries"] == {"spec.templateDisablement": ["vllm-cuda-runtime", "kserve-ovms", "mlserver-0.x"]}
    assert dash["patch"]["spec"]["dashboardConfig"] == {"disableKServe": False}
    assert out["expected_enabled"] == ["vllm-cuda-runtime", "kserve-ovms", "mlserver-0.x"]


def test_plan_refuses_a_runtime_the_version_does_not_ship():
    out = R.plan(inputs(enabled=["tgis-grpc-runtime"], single_model_platform=True), cluster_219())
    assert out["templates"] == [] and out["dashboard"] == {}
    assert len(out["errors"]) == 1
    assert out["errors"][0].startswith("serving_runtimes_enabled: RHOAI 2.19 does not ship the runtime tgis-grpc-runtime")


def test_plan_disable_of_an_absent_runtime_is_only_a_note():
    out = R.plan(inputs(disabled=["tgis-grpc-runtime"]), cluster_219())
    assert out["errors"] == []
    assert out["dashboard"]["patch"] == {}
    assert "nothing to disable" in out["notes"][0]


@pytest.mark.parametrize("entries,needle", [
    ([{"runtime": sr("a", kind="Deployment")}], "serving_runtimes_custom[0]: kind must be ServingRuntime"),
    ([{"runtime": sr("a", image="seldonio/mlserver")}], "serving_runtimes_custom[0]: spec.containers[0] (kserve-container): image"),
    ([{"runtime": sr("a")}, {"runtime": sr("a")}], "serving_runtimes_custom[1]: the runtime name a is used twice"),
    ([{"runtime": sr("kserve-ovms")}], "kserve-ovms is the name of a runtime OpenShift AI ships"),
    ([{"runtime": sr("tgis-grpc-runtime")}], "tgis-grpc-runtime is the name of a runtime OpenShift AI ships"),
    ([{"runtime": sr("a"), "platforms": ["multi"], "api_protocol": "gRPC"}], "multi-model platform supports only the REST"),
    ([{"runtime": sr("a"), "platforms": ["both"]}], "platforms must be"),
    ([{"runtime": sr("a"), "api_protocol": "http"}], "api_protocol must be REST or gRPC"),
    ([{"runtime": sr("a"), "recommended_accelerators": ["amd-gpu"]}], "AcceleratorProfile amd-gpu does not exist"),
    (["just a string"], "serving_runtimes_custom[0] must be a mapping"),
])
def test_plan_refuses_invalid_custom_runtimes(entries, needle):
    out = R.plan(inputs(custom=entries), cluster_219())
    assert out["templates"] == [] and out["dashboard"] == {}
    assert any(needle in e for e in out["errors"]), out["errors"]


def test_plan_refuses_a_name_used_by_a_dashboard_template():
    theirs = {"metadata": {"name": "template-ab12c", "labels": {"opendatahub.io/dashboard": "true"}}, "objects": [sr("mine")]}
    cluster = cluster_219()
    cluster["templates"].append(theirs)
    out = R.plan(inputs(custom=[{"runtime": sr("mine")}]), cluster)
    assert "already used by Template template-ab12c" in out["errors"][0]
    cluster = cluster_219()
    cluster["templates"].append({"metadata": {"name": "template-mine"}, "objects": [sr("other")]})
    out = R.plan(inputs(custom=[{"runtime": sr("mine")}]), cluster)
    assert "a Template template-mine exists" in out["errors"][0]


def test_plan_rerun_with_our_template_present_is_fine():
    first = R.plan(inputs(custom=[{"runtime": sr("mine")}]), cluster_219())
    cluster = cluster_219()
    cluster["templates"].extend(first["templates"])
    again = R.plan(inputs(custom=[{"runtime": sr("mine")}]), cluster)
    assert again["errors"] == [] and again["templates"] == first["templates"]


def test_plan_tuned_tgis_oom_and_vllm_chat_template():
    cluster = {"version": "2.16.2",
               "templates": [shipped_template("caikit-tgis-runtime", env=[{"name": "BATCH_SAFETY_MARGIN", "value": "20"}]),
                             shipped_template("tgis-grpc-runtime", protocol="gRPC"),
                             shipped_template("vllm-runtime", args=["--port=8080", "--served-model-name={{.Name}}"])],
               "accelerator_profiles": []}
    out = R.plan(inputs(tuned=[{"name": "caikit-tgis-oom", "source": "caikit-tgis-runtime", "tgis_out_of_memory": True},
                               {"name": "tgis-oom", "source": "tgis-grpc-runtime", "tgis_out_of_memory": True},
                               {"name": "vllm-chat", "source": "vllm-cuda-runtime", "chat_template": "/app/chat.jinja",
                                "recommended_accelerators": ["nvidia.com/gpu"]}]), cluster)
    assert out["errors"] == [], out["errors"]
    caikit, tgis, vllm = out["templates"]
    env = caikit["objects"][0]["spec"]["containers"][0]["env"]
    assert env == [{"name": "BATCH_SAFETY_MARGIN", "value": "30"}, {"name": "ESTIMATE_MEMORY_BATCH_SIZE", "value": "8"}]
    assert tgis["metadata"]["annotations"]["opendatahub.io/apiProtocol"] == "gRPC"
    assert "opendatahub.io/ootb" not in tgis["metadata"]["labels"]
    assert tgis["metadata"]["labels"]["app"] == "odh-dashboard"
    args = vllm["objects"][0]["spec"]["containers"][0]["args"]
    assert args == ["--port=8080", "--served-model-name={{.Name}}", "--chat-template=/app/chat.jinja"]
    assert vllm["metadata"]["name"] == "template-vllm-chat"
    assert any("vllm-cuda-runtime is named vllm-runtime" in n for n in out["notes"])
    assert any("no AcceleratorProfile has the identifier nvidia.com/gpu" in n for n in out["notes"])
    assert out["expected_enabled"] == ["caikit-tgis-oom", "tgis-oom", "vllm-chat"]


@pytest.mark.parametrize("entry,needle", [
    ({"name": "t", "source": "tgis-grpc-runtime", "tgis_out_of_memory": True}, "does not ship the runtime tgis-grpc-runtime"),
    ({"name": "t", "source": "vllm-cuda-runtime", "tgis_out_of_memory": True}, "tgis_out_of_memory applies to the TGIS"),
    ({"name": "t", "source": "kserve-ovms", "chat_template": "/x"}, "chat_template applies to the vLLM"),
    ({"name": "T!", "source": "kserve-ovms"}, "name must be a lower-case DNS name"),
    ({"name": "kserve-ovms", "source": "kserve-ovms"}, "kserve-ovms is the name of a runtime OpenShift AI ships"),
    ({"name": "t", "source": "kserve-ovms", "env": [{"value": "1"}]}, "env entries must be mappings with a name"),
])
def test_plan_refuses_invalid_tuned(entry, needle):
    out = R.plan(inputs(tuned=[entry]), cluster_219())
    assert any(needle in e and e.startswith("serving_runtimes_tuned[0]") for e in out["errors"]), out["errors"]


def test_plan_conflicts_between_lists():
    out = R.plan(inputs(enabled=["kserve-ovms"], disabled=["kserve-ovms"]), cluster_219())
    assert "both name kserve-ovms" in out["errors"][0]
    out = R.plan(inputs(custom=[{"runtime": sr("a")}], disabled=["a"]), cluster_219())
    assert "which this role publishes" in out["errors"][0]
    out = R.plan(inputs(model_server_sizes=[{"name": "S"}, {"name": "S"}]), cluster_219())
    assert "the size S is given twice" in out["errors"][0]
    out = R.plan(inputs(model_server_sizes=[{"resources": {}}]), cluster_219())
    assert "serving_runtimes_model_server_sizes must be" in out["errors"][0]
    out = R.plan(inputs(template_order="a,b"), cluster_219())
    assert "serving_runtimes_template_order" in out["errors"][0]


def test_plan_enables_a_custom_runtime_added_in_the_dashboard():
    cluster = cluster_219()
    cluster["templates"].append({"metadata": {"name": "template-zz", "labels": {"opendatahub.io/dashboard": "true"}},
                                 "objects": [sr("theirs")]})
    out = R.plan(inputs(enabled=["theirs"]), cluster)
    assert out["errors"] == [] and out["shipped"] == []
    assert out["dashboard"]["remove_entries"] == {"spec.templateDisablement": ["theirs"]}


def test_plan_does_not_modify_inputs():
    entry = {"runtime": sr("a")}
    keep = copy.deepcopy(entry)
    R.plan(inputs(custom=[entry]), cluster_219())
    assert entry == keep
    assert json.dumps(R.plan(inputs(), cluster_219()))  # JSON-serialisable
