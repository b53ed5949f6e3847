"""Unit tests for plugins/filter/serving_decisions.py (kserve_automated and gpu decisions)."""

import os
import sys

import pytest

_COLL = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))), ".collections"
)
if _COLL not in sys.path:
    sys.path.insert(0, _COLL)

from ansible.errors import AnsibleFilterError  # noqa: E402
from ansible_collections.openshift_ai.model_serving.plugins.filter.serving_decisions import (  # noqa: E402
    FilterModule,
    automated_path_refusals,
    gpu_node_report,
    pod_failure_lines,
    third_party_identity_wanted,
)

OPTS = dict(
    control_plane_name="data-science-smcp",
    control_plane_namespace="istio-system",
    serving_name="knative-serving",
    certificate_type="SelfSigned",
    certificate_secret_name="knative-serving-cert",
)


def dsci(state="Managed", name="data-science-smcp", ns="istio-system"):
    return {
        "metadata": {"name": "default-dsci"},
        "spec": {"serviceMesh": {"managementState": state, "controlPlane": {"name": name, "namespace": ns}}},
    }


def dsc(serving="Managed", name="knative-serving"):
    return {
        "metadata": {"name": "default-dsc"},
        "spec": {"components": {"kserve": {"managementState": "Managed", "serving": {"managementState": serving, "name": name}}}},
    }


def test_fresh_cluster_goes():
    assert automated_path_refusals({"platform": {"install_path": "automated"}, "dsci": None, "dsc": None}, OPTS) == []


def test_own_previous_install_goes():
    cluster = {"platform": {"install_path": "automated"}, "dsci": dsci(), "dsc": dsc()}
    assert automated_path_refusals(cluster, OPTS) == []


def test_manual_path_detected_by_platform_info_is_refused_with_its_reasons():
    cluster = {
        "platform": {"install_path": "manual", "install_path_reasons": ["ServiceMeshControlPlane istio-system/minimal exists"]},
    }
    reasons = automated_path_refusals(cluster, OPTS)
    assert len(reasons) == 1
    assert "istio-system/minimal" in reasons[0]
    assert "manual" in reasons[0]


def test_manual_install_is_refused():
    cluster = {"platform": {"install_path": "automated"}, "dsci": dsci("Unmanaged"), "dsc": dsc("Unmanaged")}
    reasons = automated_path_refusals(cluster, OPTS)
    assert len(reasons) == 2
    assert "serviceMesh.managementState Unmanaged" in reasons[0]
    assert "serving.managementState Unmanaged" in reasons[1]


def test_renaming_the_control_plane_is_refused():
    cluster = {"platform": {"install_path": "automated"}, "dsci": dsci(name="other-smcp")}
    reasons = automated_path_refusals(cluster, OPTS)
    assert len(reasons) == 1 and "istio-system/other-smcp" in reasons[0]


def test_renaming_knative_serving_is_refused():
    cluster = {"platform": {"install_path": "automated"}, "dsc": dsc(name="my-serving")}
    reasons = automated_path_refusals(cluster, OPTS)
    assert len(reasons) == 1 and "my-serving" in reasons[0]


def test_removed_states_do_not_refuse():
    cluster = {"platform": {"install_path": "automated"}, "dsci": dsci("Removed", name="x"), "dsc": dsc("Removed", name="y")}
    assert automated_path_refusals(cluster, OPTS) == []


def test_provided_certificate_must_exist():
    opts = dict(OPTS, certificate_type="Provided", certificate_secret_name="mine")
    reasons = automated_path_refusals({"platform": {}, "certificate_secret": False}, opts)
    assert len(reasons) == 1 and "istio-system/mine" in reasons[0]
    assert automated_path_refusals({"platform": {}, "certificate_secret": True}, opts) == []


def test_refusals_requires_a_dict():
    with pytest.raises(AnsibleFilterError):
        automated_path_refusals(["x"], OPTS)


@pytest.mark.parametrize(
    "mode,platform,expected",
    [
        ("auto", {"is_rosa": True, "platform_type": "AWS"}, True),
        ("auto", {"is_rosa": False, "platform_type": "AWS"}, False),
        ("auto", {"platform_type": "ROSA"}, True),
        ("auto", {}, False),
        ("auto", None, False),
        ("always", {"is_rosa": False}, True),
        ("never", {"is_rosa": True}, False),
        ("AUTO", {"is_rosa": True}, True),
    ],
)
def test_third_party_identity(mode, platform, expected):
    assert third_party_identity_wanted(mode, platform) is expected


def test_third_party_identity_bad_mode():
    with pytest.raises(AnsibleFilterError):
        third_party_identity_wanted("sometimes", {})


def node(name, labels=None, alloc=None, cap=None):
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "status": {"allocatable": alloc or {"cpu": "4"}, "capacity": cap or {"cpu": "4"}},
    }


LBL = ["feature.node.kubernetes.io/pci-10de.present", "feature.node.kubernetes.io/pci-0302_10de.present"]


def test_gpu_node_report_counts_per_node_and_skips_cpu_nodes():
    nodes = [
        node("worker-2", {"feature.node.kubernetes.io/pci-0302_10de.present": "true"}, {"nvidia.com/gpu": "2"}, {"nvidia.com/gpu": "2"}),
        node("worker-0"),
        node("worker-1", {"feature.node.kubernetes.io/pci-10de.present": "true", "nvidia.com/gpu.product": "A10"}),
    ]
    report = gpu_node_report(nodes, LBL)
    assert [n["name"] for n in report] == ["worker-1", "worker-2"]
    assert report[0] == {"name": "worker-1", "nfd_labelled": True, "allocatable": 0, "capacity": 0, "product": "A10"}
    assert report[1]["allocatable"] == 2 and report[1]["capacity"] == 2


def test_gpu_node_report_includes_unlabelled_nodes_with_gpus():
    report = gpu_node_report([node("w", {}, {"nvidia.com/gpu": 1})], LBL)
    assert report == [{"name": "w", "nfd_labelled": False, "allocatable": 1, "capacity": 0, "product": None}]


def test_gpu_node_report_ignores_false_labels_and_bad_quantities():
    nodes = [node("w", {"feature.node.kubernetes.io/pci-10de.present": "false"}, {"nvidia.com/gpu": "junk"})]
    assert gpu_node_report(nodes, LBL) == []
    assert gpu_node_report(None) == []


def test_pod_failure_lines_from_pods_verify_problems():
    result = {
        "failed": True,
        "msg": "pods failed",
        "pods": [
            {"name": "nvidia-device-plugin-daemonset-abcde", "node": "worker-1", "ready": False, "phase": "Running",
             "containers": [{"name": "nvidia-device-plugin", "ready": False, "state": "waiting", "reason": "CrashLoopBackOff"}],
             "problems": [{"pod": "nvidia-device-plugin-daemonset-abcde", "container": "nvidia-device-plugin",
                           "reason": "CrashLoopBackOff", "message": "back-off 10s"}]},
            {"name": "nvidia-device-plugin-daemonset-fghij", "node": "worker-2", "ready": True, "problems": []},
        ],
    }
    assert pod_failure_lines(result, "nvidia-gpu-operator") == [
        "node worker-1: pod nvidia-gpu-operator/nvidia-device-plugin-daemonset-abcde: CrashLoopBackOff "
        "(container nvidia-device-plugin) - back-off 10s"
    ]


def test_pod_failure_lines_unready_without_problems():
    result = {"pods": [
        {"name": "p1", "node": "worker-3", "ready": False, "phase": "Pending",
         "containers": [{"name": "c", "ready": False, "reason": "ContainerCreating"}], "problems": []},
        {"name": "p2", "ready": False, "phase": "Pending", "containers": []},
    ]}
    assert pod_failure_lines(result, "ns") == [
        "node worker-3: pod ns/p1: ContainerCreating (container c)",
        "node <unscheduled>: pod ns/p2: not ready, phase Pending",
    ]


def test_pod_failure_lines_other_shapes():
    result = {"pods": {"p1": {"spec": {"nodeName": "worker-3"}, "ready": False, "reason": "ImagePullBackOff"}}}
    assert pod_failure_lines(result, "ns") == ["node worker-3: pod ns/p1: ImagePullBackOff"]
    assert pod_failure_lines("nope") == []
    assert pod_failure_lines({"pods": [{"name": "p", "ready": False}]}) == ["node <unscheduled>: pod p: not ready"]


def test_filter_module_exports():
    assert set(FilterModule().filters()) == {
        "automated_path_refusals", "manual_path_refusals", "third_party_identity_wanted", "gpu_node_report",
        "pod_failure_lines",
    }


# ----------------------------------------------------------------------------------------------
# RawDeployment (the decision itself is platform_info's; the filter passes it on)
# ----------------------------------------------------------------------------------------------

RAW_OPTS = dict(OPTS, deployment_mode="RawDeployment", certificate_type="Provided")


def _platform(serverless_path="manual", raw_refusals=None, serverless_refusals=None):
    return {
        "install_path": serverless_path,
        "install_path_reasons": ["ServiceMeshControlPlane istio-system/minimal exists"],
        "deployment_mode": {
            "refusals_by_mode": {"RawDeployment": raw_refusals or [], "Serverless": serverless_refusals or []},
            "install_path_by_mode": {
                "Serverless": {"path": serverless_path, "reasons": ["ServiceMeshControlPlane istio-system/minimal exists"]},
                "RawDeployment": {"path": "automated", "reasons": ["RawDeployment needs no Service Mesh"]},
            },
        },
    }


def test_raw_ignores_foreign_mesh_renames_and_certificate():
    cluster = {"platform": _platform(), "dsci": dsci(name="other-smcp"), "dsc": dsc(name="my-serving")}
    assert automated_path_refusals(cluster, RAW_OPTS) == []
    # The same cluster refuses Serverless (the install path of that mode is manual).
    assert automated_path_refusals(cluster, OPTS)


def test_raw_passes_on_the_mode_refusal_of_platform_info():
    cluster = {"platform": _platform(raw_refusals=["RawDeployment was requested but this cluster runs Serverless"])}
    assert automated_path_refusals(cluster, RAW_OPTS) == ["RawDeployment was requested but this cluster runs Serverless"]


def test_serverless_passes_on_the_mode_refusal_of_platform_info():
    cluster = {"platform": _platform(serverless_path="automated", serverless_refusals=["runs RawDeployment"])}
    assert automated_path_refusals(cluster, OPTS) == ["runs RawDeployment"]
