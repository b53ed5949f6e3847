"""Filters of the serving_runtimes role (plugins/filter/serving_runtimes.py): file loading, unsafe results."""

import os
import sys

_COLL = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))), ".collections"
)
if _COLL not in sys.path:
    sys.path.insert(0, _COLL)

import pytest  # noqa: E402
from ansible.errors import AnsibleFilterError  # noqa: E402
from ansible_collections.openshift_ai.model_serving.plugins.filter.serving_runtimes import (  # noqa: E402
    FilterModule,
    rhoai_version,
    serving_runtimes_pending,
    serving_runtimes_plan,
)

RUNTIME_YAML = """\
apiVersion: serving.kserve.io/v1alpha1
kind: ServingRuntime
metadata:
  name: mlserver-0.x
  annotations:
    openshift.io/display-name: MLServer
spec:
  containers:
    - name: kserve-container
      image: seldonio/mlserver:1.3.2
      args: ["--model-name={{.Name}}"]
"""
CLUSTER = {"version": "2.19.1", "templates": [], "accelerator_profiles": []}


def test_registered():
    names = {"serving_runtimes_plan", "serving_runtimes_pending", "rhoai_version", "serving_runtimes_input_errors"}
    assert set(FilterModule().filters()) == names


def test_file_content_is_parsed_and_placeholders_stay_literal():
    out = serving_runtimes_plan({"custom": [{"file": "/x/mlserver.yaml"}], "files": {"/x/mlserver.yaml": RUNTIME_YAML}},
                                CLUSTER)
    assert out["errors"] == []
    (tpl,) = out["templates"]
    assert tpl["objects"][0]["spec"]["containers"][0]["args"] == ["--model-name={{.Name}}"]
    assert tpl["metadata"]["annotations"]["openshift.io/display-name"] == "MLServer"


@pytest.mark.parametrize("content,needle", [(None, "the file cannot be read"), ("", "the file cannot be read"), ("a: [", "not valid YAML"),
                                            (RUNTIME_YAML + "---\n" + RUNTIME_YAML, "must hold exactly one ServingRuntime document")])
def test_bad_files_name_the_variable_and_the_file(content, needle):
    files = {} if content is None else {"/x/r.yaml": content}
    out = serving_runtimes_plan({"custom": [{"file": "/x/r.yaml"}], "files": files, "enabled": ["kserve-ovms"]}, CLUSTER)
    assert out["templates"] == [] and out["dashboard"] == {}
    assert out["errors"][0].startswith("serving_runtimes_custom[0] (file /x/r.yaml): " + needle), out["errors"]


def test_inline_runtime_wins_over_file():
    runtime = {"apiVersion": "serving.kserve.io/v1alpha1", "kind": "ServingRuntime", "metadata": {"name": "a"},
               "spec": {"containers": [{"name": "c", "image": "i:1"}]}}
    out = serving_runtimes_plan({"custom": [{"runtime": runtime, "file": "/nope"}]}, CLUSTER)
    assert out["errors"] == [] and out["custom_names"] == ["a"]


def test_bad_arguments():
    with pytest.raises(AnsibleFilterError):
        serving_runtimes_plan([], CLUSTER)


def test_pending_and_version():
    assert serving_runtimes_pending(["vllm-runtime"], "2.19.1", []) == ["vllm-cuda-runtime-template"]
    assert serving_runtimes_pending(["tgis-grpc-runtime"], "2.19.1", []) == []
    assert rhoai_version([{"name": "rhods-operator.v2.16.2", "package": "rhods-operator", "version": "2.16.2",
                           "phase": "Succeeded"}]) == "2.16.2"
    assert rhoai_version(None) is None


def test_input_errors_without_a_cluster():
    from ansible_collections.openshift_ai.model_serving.plugins.filter.serving_runtimes import serving_runtimes_input_errors

    good = {"enabled": ["tgis-grpc-runtime"], "tuned": [{"name": "t", "source": "caikit-tgis-runtime",
                                                         "tgis_out_of_memory": True,
                                                         "recommended_accelerators": ["nvidia-gpu"]}],
            "custom": [{"file": "/x/r.yaml"}], "files": {"/x/r.yaml": RUNTIME_YAML}}
    assert serving_runtimes_input_errors(good) == []
    bad = {"custom": [{"file": "/x/r.yaml"}, {"runtime": {"kind": "Deployment"}}],
           "tuned": [{"name": "t", "source": "kserve-ovms", "chat_template": "/x"}, {"name": "u"}],
           "files": {"/x/r.yaml": RUNTIME_YAML.replace("mlserver:1.3.2", "mlserver")}}
    errors = serving_runtimes_input_errors(bad)
    text = " | ".join(errors)
    assert "serving_runtimes_custom[0] (file /x/r.yaml): spec.containers[0] (kserve-container): image" in text
    assert "serving_runtimes_custom[1]: kind must be ServingRuntime" in text
    assert "serving_runtimes_tuned[0] (t): chat_template applies to the vLLM runtimes" in text
    assert "serving_runtimes_tuned[1] (u): source must be" in text
