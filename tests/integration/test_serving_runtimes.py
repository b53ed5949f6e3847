"""Serving runtimes and dashboard switches (issue 11; seed 000 §3.5.1, §2.1.2, §3.8.1; seed 002 §3.1.6)
through playbooks/runtimes.yml, on one dedicated testbed with OpenShift AI 2.19 (KServe raw, dashboard).

- converge: shipped runtimes enabled/disabled by name (vllm-runtime resolved to vllm-cuda-runtime),
  a custom runtime from a file and one inline (!unsafe), tuned TGIS/vLLM copies, sizes, switches;
  `{{.Name}}` literal on the cluster; a dashboard key, a size and a templateDisablement entry added by
  someone else survive; second run changed=0; --check on a fresh cluster and --check --diff on the
  converged one write and show nothing;
- refusals before any write: a runtime 2.19 does not ship (naming the version and what it ships), an
  invalid custom runtime (wrong kind, no image tag, duplicate name; naming the variable).
"""

import json
import os
import textwrap

import pytest

from helpers import REPO, ansible_playbook
from k8s_util import api, wait_for
from role_runner import install_operators
from testbed.cluster import Testbed
from testbed.pytest_plugin import dynamic_client
from testbed.sim.dashboard_templates import shipped_runtime_names

pytestmark = pytest.mark.integration

PLAYBOOK = os.path.join(REPO, "playbooks", "runtimes.yml")
NS = "redhat-ods-applications"
TEMPLATE = ("template.openshift.io/v1", "Template")
ODC = ("opendatahub.io/v1alpha", "OdhDashboardConfig")
DSCI = ("dscinitialization.opendatahub.io/v1", "DSCInitialization")
DSC = ("datasciencecluster.opendatahub.io/v1", "DataScienceCluster")
PLACEHOLDER = "{{.Name}}"

CUSTOM_FILE = textwrap.dedent("""\
    apiVersion: serving.kserve.io/v1alpha1
    kind: ServingRuntime
    metadata:
      name: mlserver-0.x
      annotations:
        openshift.io/display-name: MLServer
    spec:
      supportedModelFormats:
        - name: sklearn
          version: "1"
          autoSelect: true
      multiModel: true
      containers:
        - name: mlserver
          image: seldonio/mlserver:1.3.2
          args: ["--model-name={{.Name}}"]
    """)

# Extra vars as a YAML file: the inline runtime needs the !unsafe tag (Ansible would otherwise
# evaluate {{.Name}} itself).
VARS = textwrap.dedent("""\
    serving_runtimes_single_model_platform: true
    serving_runtimes_kserve_token_auth: true
    serving_runtimes_performance_metrics: true
    serving_runtimes_enabled: [vllm-runtime, kserve-ovms]
    serving_runtimes_disabled: [caikit-standalone-runtime]
    serving_runtimes_template_order: [vllm-chat, vllm-cuda-runtime]
    serving_runtimes_model_server_sizes:
      - name: Small
        resources:
          requests: {cpu: "1", memory: 4Gi}
          limits: {cpu: "3", memory: 8Gi}
      - name: X-Large
        resources:
          requests: {cpu: "8", memory: 32Gi}
          limits: {cpu: "16", memory: 64Gi}
    serving_runtimes_custom:
      - file: %(file)s
        platforms: [multi]
      - runtime: !unsafe
          apiVersion: serving.kserve.io/v1alpha1
          kind: ServingRuntime
          metadata:
            name: triton-23
          spec:
            supportedModelFormats: [{name: onnx, version: "1", autoSelect: true}]
            containers:
              - name: kserve-container
                image: nvcr.io/nvidia/tritonserver:23.04-py3
                args: ["--model-repository=/mnt/models", "--served-model-name={{.Name}}"]
        api_protocol: gRPC
        recommended_accelerators: [nvidia.com/gpu]
    serving_runtimes_tuned:
      - name: caikit-tgis-oom
        source: caikit-tgis-runtime
        tgis_out_of_memory: true
      - name: vllm-chat
        source: vllm-runtime
        chat_template: /app/data/template/template_chatml.jinja
        display_name: vLLM with a chat template
        recommended_accelerators: [nvidia-gpu]
    """)


def _get(k8s, gvk, name, namespace=NS):
    from kubernetes.dynamic.exceptions import NotFoundError

    try:
        return api(k8s, *gvk).get(name=name, namespace=namespace).to_dict()
    except NotFoundError:
        return None


def _templates(k8s):
    return dict((t["metadata"]["name"], t) for t in (o.to_dict() for o in api(k8s, *TEMPLATE).get(namespace=NS).items))


def _snapshot(k8s):
    """What a write by the role changes: the Templates (names, and content of the ones not owned by the
    operator) and the OdhDashboardConfig spec and metadata."""
    templates = {}
    for name, tpl in _templates(k8s).items():
        ootb = (tpl["metadata"].get("labels") or {}).get("opendatahub.io/ootb") == "true"
        content = [tpl["metadata"].get("labels"), tpl["metadata"].get("annotations"), tpl.get("objects")]
        templates[name] = None if ootb else json.dumps(content, sort_keys=True)
    odc = _get(k8s, ODC, "odh-dashboard-config")
    return {"templates": templates,
            "odc": json.dumps([odc["metadata"]["resourceVersion"], odc["spec"]], sort_keys=True)}


@pytest.fixture(scope="module")
def rhoai(tmp_path_factory):
    """A testbed with OpenShift AI 2.19 (stable channel), KServe raw and the dashboard Managed: the
    operator has created the shipped runtime templates and odh-dashboard-config."""
    tb = Testbed(str(tmp_path_factory.mktemp("serving-runtimes-tb")), workers=1, gpu_nodes=0, platform="AWS")
    tb.up()
    try:
        kc = str(tb.kubeconfig)
        k8s = dynamic_client(kc)
        install_operators(kc, ["rhods-operator"])
        wait_for(lambda: _get(k8s, DSCI, "default-dsci", None), 180, 0.5, "default-dsci")
        api(k8s, *DSCI).patch(name="default-dsci", content_type="application/merge-patch+json",
                              body={"spec": {"serviceMesh": {"managementState": "Removed"}}})
        api(k8s, *DSC).create(body={
            "apiVersion": DSC[0], "kind": DSC[1], "metadata": {"name": "default-dsc"},
            "spec": {"components": {
                "dashboard": {"managementState": "Managed"},
                "kserve": {"managementState": "Managed", "defaultDeploymentMode": "RawDeployment",
                           "serving": {"managementState": "Removed"}}}}})
        wait_for(lambda: _get(k8s, ODC, "odh-dashboard-config"), 300, 0.5, "odh-dashboard-config")
        # Every template of the version (the check-mode run does not wait for them).
        csv = wait_for(lambda: [c for c in api(k8s, "operators.coreos.com/v1alpha1", "ClusterServiceVersion").get(
            namespace="redhat-ods-operator").to_dict()["items"] if c["metadata"]["name"].startswith("rhods-operator.")],
            60, 0.5, "the rhods-operator CSV")[0]
        shipped = set(shipped_runtime_names(csv["spec"]["version"]))
        assert "vllm-cuda-runtime-template" in shipped, shipped
        wait_for(lambda: shipped <= set(_templates(k8s)), 300, 0.5, "the shipped runtime templates %s" % sorted(shipped))
        yield tb, kc, k8s
    finally:
        tb.down()


def _play(kc, tmp_path, text, check=False, diff=False):
    path = tmp_path / "runtimes-vars.yml"
    path.write_text(text)
    return ansible_playbook(PLAYBOOK, kc, check=check, diff=diff, timeout=900,
                            args=("-e", "@%s" % path))


def _failure(run):
    texts = []
    for name, res in run.task_results():
        if res.get("failed"):
            texts.append("%s: %s" % (name, res.get("msg")))
    return "\n".join(texts)


def _changed(run):
    return run.stats.get("localhost", {}).get("changed")


def _describe(run):
    changed = [n for n, r in run.task_results() if r.get("changed")]
    return "rc=%s changed=%s tasks=%s failure=%s\n%s" % (run.rc, _changed(run), changed, _failure(run), run.stderr[-2000:])


def _diffs(run):
    """Non-empty diffs the tasks reported (resource_patch returns {before, after} of the differing fields)."""
    out = []
    for name, res in run.task_results():
        for r in [res] + [i for i in res.get("results") or [] if isinstance(i, dict)]:
            diff = r.get("diff")
            if isinstance(diff, dict) and (diff.get("before") or diff.get("after")):
                out.append((name, diff))
    return out


def test_runtimes_converge_idempotent_and_keep_what_others_wrote(rhoai, tmp_path):
    _tb, kc, k8s = rhoai
    runtime_file = tmp_path / "mlserver.yaml"
    runtime_file.write_text(CUSTOM_FILE)
    text = VARS % {"file": runtime_file}

    # Someone else: a dashboard key, a model server size, a hidden template (the shipped sizes kept).
    shipped_sizes = [s for s in _get(k8s, ODC, "odh-dashboard-config")["spec"]["modelServerSizes"] if s["name"] != "Small"]
    assert [s["name"] for s in shipped_sizes] == ["Medium", "Large"], shipped_sizes
    small = {"name": "Small", "resources": {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"cpu": "2", "memory": "8Gi"}}}
    theirs = {"name": "Theirs", "resources": {"requests": {"cpu": "2", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}}}
    api(k8s, *ODC).patch(name="odh-dashboard-config", namespace=NS, content_type="application/merge-patch+json",
                         body={"spec": {"dashboardConfig": {"disableTracking": True},
                                        "notebookController": {"pvcSize": "42Gi"},
                                        "templateDisablement": ["ovms-gpu", "vllm-cuda-runtime"],
                                        "modelServerSizes": [small, theirs] + shipped_sizes}})

    # The AcceleratorProfile the gpu role creates (the tuned vLLM copy names it).
    api(k8s, "dashboard.opendatahub.io/v1", "AcceleratorProfile").create(namespace=NS, body={
        "apiVersion": "dashboard.opendatahub.io/v1", "kind": "AcceleratorProfile",
        "metadata": {"name": "nvidia-gpu", "namespace": NS},
        "spec": {"displayName": "NVIDIA GPU", "enabled": True, "identifier": "nvidia.com/gpu",
                 "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]}})

    # Check mode first: nothing written.
    before = _snapshot(k8s)
    dry = _play(kc, tmp_path, text, check=True, diff=True)
    assert dry.rc == 0, _describe(dry)
    assert _changed(dry) > 0, _describe(dry)
    assert _snapshot(k8s) == before

    run = _play(kc, tmp_path, text)
    assert run.rc == 0, _describe(run)
    assert _changed(run) > 0

    templates = _templates(k8s)
    for name in ("template-mlserver-0.x", "template-triton-23", "template-caikit-tgis-oom", "template-vllm-chat",
                 "vllm-cuda-runtime-template", "kserve-ovms"):
        assert name in templates, sorted(templates)

    # Custom runtime from a file: multi-model, REST, placeholders literal.
    mlserver = templates["template-mlserver-0.x"]
    assert mlserver["metadata"]["labels"]["opendatahub.io/dashboard"] == "true"
    assert mlserver["metadata"]["annotations"]["opendatahub.io/modelServingSupport"] == '["multi"]'
    assert mlserver["metadata"]["annotations"]["opendatahub.io/apiProtocol"] == "REST"
    assert mlserver["objects"][0]["metadata"]["name"] == "mlserver-0.x"
    assert mlserver["objects"][0]["spec"]["containers"][0]["args"] == ["--model-name=" + PLACEHOLDER]
    # Inline (!unsafe) runtime: gRPC, accelerators, placeholder literal.
    triton = templates["template-triton-23"]
    assert triton["metadata"]["annotations"]["opendatahub.io/apiProtocol"] == "gRPC"
    assert triton["metadata"]["annotations"]["opendatahub.io/modelServingSupport"] == '["single"]'
    sr = triton["objects"][0]
    assert sr["metadata"]["annotations"]["opendatahub.io/recommended-accelerators"] == '["nvidia.com/gpu"]'
    assert "--served-model-name=" + PLACEHOLDER in sr["spec"]["containers"][0]["args"]

    # Tuned copies: env merged by name (strings), args kept plus the chat template.
    caikit = templates["template-caikit-tgis-oom"]["objects"][0]
    assert caikit["metadata"]["name"] == "caikit-tgis-oom"
    env = dict((e["name"], e.get("value")) for e in caikit["spec"]["containers"][0].get("env") or [])
    assert env["BATCH_SAFETY_MARGIN"] == "30" and env["ESTIMATE_MEMORY_BATCH_SIZE"] == "8"
    source = templates["vllm-cuda-runtime-template"]["objects"][0]["spec"]["containers"][0]["args"]
    vllm = templates["template-vllm-chat"]
    args = vllm["objects"][0]["spec"]["containers"][0]["args"]
    assert args == source + ["--chat-template=/app/data/template/template_chatml.jinja"]
    assert any(PLACEHOLDER in a for a in args), args
    assert vllm["objects"][0]["metadata"]["annotations"]["openshift.io/display-name"] == "vLLM with a chat template"
    assert vllm["objects"][0]["metadata"]["annotations"]["opendatahub.io/recommended-accelerators"] == '["nvidia.com/gpu"]'
    assert vllm["metadata"]["annotations"]["opendatahub.io/apiProtocol"] == "REST"
    assert "opendatahub.io/ootb" not in vllm["metadata"]["labels"]

    # Dashboard: our keys set, theirs kept.
    spec = _get(k8s, ODC, "odh-dashboard-config")["spec"]
    cfg = spec["dashboardConfig"]
    assert cfg["disableKServe"] is False and cfg["disableKServeAuth"] is False and cfg["disablePerformanceMetrics"] is False
    assert cfg["disableTracking"] is True
    assert spec["notebookController"]["pvcSize"] == "42Gi"
    sizes = dict((s["name"], s) for s in spec["modelServerSizes"])
    assert sizes["Small"]["resources"]["limits"]["cpu"] == "3"
    assert [s["name"] for s in spec["modelServerSizes"]] == ["Small", "Theirs", "Medium", "Large", "X-Large"]
    disabled = spec["templateDisablement"]
    assert "ovms-gpu" in disabled and "caikit-standalone-runtime" in disabled
    for name in ("vllm-cuda-runtime", "kserve-ovms", "mlserver-0.x", "triton-23", "caikit-tgis-oom", "vllm-chat"):
        assert name not in disabled, disabled
    assert spec["templateOrder"] == ["vllm-chat", "vllm-cuda-runtime"]

    # Idempotence; check mode with diff on the converged cluster shows nothing.
    again = _play(kc, tmp_path, text)
    assert again.rc == 0 and _changed(again) == 0, _describe(again)
    converged = _snapshot(k8s)
    dry2 = _play(kc, tmp_path, text, check=True, diff=True)
    assert dry2.rc == 0 and _changed(dry2) == 0, _describe(dry2)
    assert _diffs(dry2) == []
    assert _snapshot(k8s) == converged


def test_refusals_before_any_write(rhoai, tmp_path):
    _tb, kc, k8s = rhoai
    before = _snapshot(k8s)

    # A runtime 2.19 does not ship: the version, why, and what it ships instead.
    run = _play(kc, tmp_path, textwrap.dedent("""\
        serving_runtimes_enabled: [kserve-ovms, tgis-grpc-runtime]
        serving_runtimes_single_model_platform: false
        serving_runtimes_tuned:
          - {name: vllm-amd, source: vllm-cuda-runtime, recommended_accelerators: [amd-gpu]}
        """))
    assert run.rc != 0, _describe(run)
    msg = _failure(run)
    assert "RHOAI 2.19.1" in msg and "does not ship the runtime tgis-grpc-runtime" in msg, msg
    assert "TGIS standalone was removed in 2.19" in msg and "vllm-cuda-runtime" in msg, msg
    assert "serving_runtimes_tuned[0] (vllm-amd): AcceleratorProfile amd-gpu does not exist" in msg, msg
    assert "nothing was changed" in msg
    assert _snapshot(k8s) == before

    # Invalid custom runtimes: wrong kind, no image tag, duplicate name - each named by its variable.
    bad = textwrap.dedent("""\
        serving_runtimes_single_model_platform: false
        serving_runtimes_custom:
          - runtime:
              apiVersion: serving.kserve.io/v1alpha1
              kind: InferenceService
              metadata: {name: wrong-kind}
              spec: {containers: [{name: c, image: "quay.io/x/y:1"}]}
          - runtime:
              apiVersion: serving.kserve.io/v1alpha1
              kind: ServingRuntime
              metadata: {name: no-tag}
              spec: {containers: [{name: c, image: seldonio/mlserver}]}
          - runtime:
              apiVersion: serving.kserve.io/v1alpha1
              kind: ServingRuntime
              metadata: {name: twice}
              spec: {containers: [{name: c, image: "quay.io/x/y:1"}]}
          - runtime:
              apiVersion: serving.kserve.io/v1alpha1
              kind: ServingRuntime
              metadata: {name: twice}
              spec: {containers: [{name: c, image: "quay.io/x/y:2"}]}
        """)
    run = _play(kc, tmp_path, bad)
    assert run.rc != 0, _describe(run)
    msg = _failure(run)
    assert "serving_runtimes_custom[0]: kind must be ServingRuntime, found 'InferenceService'" in msg, msg
    assert "serving_runtimes_custom[1]: spec.containers[0] (c): image 'seldonio/mlserver' has no tag" in msg, msg
    assert "serving_runtimes_custom[3]: the runtime name twice is used twice" in msg, msg
    assert "nothing was changed" in msg
    # Refused by the validate step, before the cluster was even read.
    assert not [n for n, _r in run.task_results() if n.endswith("Read the platform")], _describe(run)
    assert _snapshot(k8s) == before
