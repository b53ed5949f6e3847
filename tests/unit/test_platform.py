"""Unit tests for plugins/module_utils/_platform.py: the decision rules on plain dicts, and
gather() against a fake discovery where operator kinds are not served."""

import os
import sys

import pytest

_COLL = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), ".collections")
if _COLL not in sys.path:
    sys.path.insert(0, _COLL)

from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _platform as plat  # noqa: E402
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import ResourceNotFound  # noqa: E402

FT_OWNER = {"apiVersion": "features.opendatahub.io/v1", "kind": "FeatureTracker",
            "name": "redhat-ods-applications-mesh-control-plane-creation", "uid": "1"}


def _smcp(name="data-science-smcp", ns="istio-system", owners=None, ready=True):
    return {"metadata": {"name": name, "namespace": ns, "ownerReferences": owners or []},
            "spec": {"version": "v2.5"},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def _ks(name="knative-serving", ns="knative-serving", owners=None):
    return {"metadata": {"name": name, "namespace": ns, "ownerReferences": owners or []}}


def _raw(**kw):
    raw = {"served": dict((k, True) for k in plat.KINDS)}
    for k in plat.KINDS:
        raw[k] = []
    raw.update(kw)
    return raw


def test_empty_cluster_is_automated_and_says_why():
    raw = _raw()
    raw["served"]["smcp"] = raw["served"]["knative_serving"] = False
    facts = plat.analyze(raw)
    assert facts["install_path"] == "automated"
    assert any("no ServiceMeshControlPlane exists" in r and "not served" in r for r in facts["install_path_reasons"])
    assert facts["smcp"] == [] and facts["dsci"] is None and facts["gpu_nodes"] == []


def test_foreign_smcp_means_manual():
    facts = plat.analyze(_raw(smcp=[_smcp("minimal")]))
    assert facts["install_path"] == "manual"
    assert "istio-system/minimal" in facts["install_path_reasons"][0]
    assert facts["smcp"][0]["created_by_operator"] is False


def test_foreign_knative_serving_means_manual():
    facts = plat.analyze(_raw(knative_serving=[_ks()]))
    assert facts["install_path"] == "manual"
    assert "KnativeServing knative-serving/knative-serving" in facts["install_path_reasons"][0]


def test_operator_created_objects_do_not_block():
    ks_owner = dict(FT_OWNER, name="redhat-ods-applications-serverless-serving-deployment")
    facts = plat.analyze(_raw(smcp=[_smcp(owners=[FT_OWNER])], knative_serving=[_ks(owners=[ks_owner])]))
    assert facts["install_path"] == "automated", facts["install_path_reasons"]
    assert facts["smcp"][0]["created_by_operator"] is True
    assert facts["smcp"][0]["owner"] == FT_OWNER["name"]
    assert any("created by the OpenShift AI operator" in r for r in facts["install_path_reasons"])


def test_owner_of_another_kind_does_not_count():
    other = {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "2"}
    fake = {"apiVersion": "example.com/v1", "kind": "FeatureTracker", "name": "x", "uid": "3"}
    facts = plat.analyze(_raw(smcp=[_smcp(owners=[other, fake])]))
    assert facts["install_path"] == "manual"


def test_operator_smcp_plus_foreign_ks_is_manual():
    facts = plat.analyze(_raw(smcp=[_smcp(owners=[FT_OWNER])], knative_serving=[_ks()]))
    assert facts["install_path"] == "manual"


def test_unmanaged_dsci_or_dsc_is_manual():
    dsci = {"metadata": {"name": "default-dsci"}, "spec": {"serviceMesh": {"managementState": "Unmanaged"}}}
    facts = plat.analyze(_raw(dsci=[dsci]))
    assert facts["install_path"] == "manual"
    assert facts["dsci"]["service_mesh"]["management_state"] == "Unmanaged"
    dsc = {"metadata": {"name": "default-dsc"},
           "spec": {"components": {"kserve": {"managementState": "Managed", "serving": {"managementState": "Unmanaged"}}}}}
    facts = plat.analyze(_raw(dsc=[dsc]))
    assert facts["install_path"] == "manual"
    assert facts["dsc"]["kserve"] == {"management_state": "Managed", "serving_management_state": "Unmanaged",
                                      "default_deployment_mode": None, "raw_deployment_service_config": None,
                                      "certificate_type": None, "certificate_secret": None}


def test_managed_dsci_keeps_automated():
    dsci = {"metadata": {"name": "default-dsci"},
            "spec": {"serviceMesh": {"managementState": "Managed", "controlPlane": {"name": "data-science-smcp", "namespace": "istio-system"}}},
            "status": {"phase": "Ready"}}
    facts = plat.analyze(_raw(dsci=[dsci]))
    assert facts["install_path"] == "automated"
    assert facts["dsci"]["phase"] == "Ready"
    assert facts["dsci"]["service_mesh"]["control_plane_name"] == "data-science-smcp"


@pytest.mark.parametrize(
    "status,expected",
    [
        ({"platformStatus": {"type": "AWS", "aws": {"region": "us-east-1", "resourceTags": [
            {"key": "red-hat-clustertype", "value": "rosa"}, {"key": "red-hat-managed", "value": "true"}]}}}, ("AWS", True)),
        ({"platformStatus": {"type": "AWS", "aws": {"region": "us-east-1"}}}, ("AWS", False)),
        ({"platformStatus": {"type": "AWS", "aws": {"resourceTags": [{"key": "red-hat-clustertype", "value": "osd"}]}}}, ("AWS", False)),
        ({"platform": "None"}, ("None", False)),
        ({"platformStatus": {"type": "ROSA"}}, ("ROSA", True)),
        ({"controlPlaneTopology": "External", "platformStatus": {"type": "AWS", "aws": {"resourceTags": [
            {"key": "red-hat-managed", "value": "true"}]}}}, ("AWS", True)),
    ],
)
def test_rosa_detection(status, expected):
    ptype, is_rosa, signals = plat.detect_platform({"status": status})
    assert (ptype, is_rosa) == expected
    assert bool(signals) == is_rosa


def test_version_domain_and_operators():
    cv = {"status": {"desired": {"version": "4.17.1"}, "history": [
        {"state": "Partial", "version": "4.17.1"}, {"state": "Completed", "version": "4.16.20"}]}}
    csvs = [
        {"metadata": {"name": "servicemeshoperator.v2.5.1", "namespace": "openshift-operators"},
         "spec": {"version": "2.5.1", "displayName": "Red Hat OpenShift Service Mesh"}, "status": {"phase": "Succeeded", "reason": "InstallSucceeded"}},
        {"metadata": {"name": "servicemeshoperator.v2.5.1", "namespace": "istio-system"},
         "spec": {"version": "2.5.1"}, "status": {"phase": "Succeeded", "reason": "Copied"}},
        {"metadata": {"name": "nfd.v4.16.0", "namespace": "openshift-nfd", "labels": {"operators.coreos.com/nfd.openshift-nfd": ""}},
         "spec": {"version": "4.16.0"}, "status": {"phase": "Succeeded"}},
    ]
    subs = [{"metadata": {"name": "servicemeshoperator", "namespace": "openshift-operators"},
             "spec": {"name": "servicemeshoperator", "channel": "stable"},
             "status": {"installedCSV": "servicemeshoperator.v2.5.1", "currentCSV": "servicemeshoperator.v2.5.1"}}]
    facts = plat.analyze(_raw(clusterversion=[cv], ingress=[{"spec": {"domain": "apps.c.example.com"}}], csv=csvs, subscription=subs))
    assert facts["openshift_version"] == "4.16.20"
    assert facts["ingress_domain"] == "apps.c.example.com"
    ops = dict(((o["namespace"], o["name"]), o) for o in facts["operators"])
    assert len(ops) == 2  # the copy is skipped
    smo = ops[("openshift-operators", "servicemeshoperator.v2.5.1")]
    assert smo["package"] == "servicemeshoperator" and smo["channel"] == "stable" and smo["version"] == "2.5.1"
    assert ops[("openshift-nfd", "nfd.v4.16.0")]["package"] == "nfd"


def test_gpu_nodes():
    nodes = [
        {"metadata": {"name": "worker-0", "labels": {"nvidia.com/gpu.present": "true"}}, "status": {"allocatable": {"nvidia.com/gpu": "2"}}},
        {"metadata": {"name": "worker-1", "labels": {"feature.node.kubernetes.io/pci-10de.present": "true"}}, "status": {"allocatable": {}}},
        {"metadata": {"name": "worker-2", "labels": {"testbed.openshift-ai.io/gpu": "true"}}, "status": {}},
        {"metadata": {"name": "worker-3", "labels": {"nvidia.com/gpu.present": "false"}}, "status": {}},
    ]
    facts = plat.analyze(_raw(node=nodes))
    assert [(n["name"], n["allocatable_gpus"], n["gpu_present_label"], n["nfd_nvidia_pci"]) for n in facts["gpu_nodes"]] == [
        ("worker-0", 2, True, False), ("worker-1", 0, False, True)]


class _Res(object):
    def __init__(self, items):
        self._items = items

    def get(self, name=None):
        if name is not None:
            for i in self._items:
                if i["metadata"]["name"] == name:
                    return _Wrap(i)
            err = Exception("not found")
            err.status = 404
            raise err
        return _Wrap({"items": list(self._items)})


class _Wrap(object):
    def __init__(self, d):
        self._d = d

    def to_dict(self):
        return self._d


class FakeClient(object):
    """Serves only core kinds and the OpenShift config kinds: no operator CRDs at all."""

    def __init__(self, objects):
        self.objects = objects

    def resource(self, api_version, kind):
        if (api_version, kind) not in self.objects:
            raise ResourceNotFound("not served: %s %s" % (api_version, kind))
        return _Res(self.objects[(api_version, kind)])


def test_gather_tolerates_unserved_kinds():
    client = FakeClient({
        ("config.openshift.io/v1", "Ingress"): [{"metadata": {"name": "cluster"}, "spec": {"domain": "apps.x.example.com"}}],
        ("config.openshift.io/v1", "Infrastructure"): [],
        ("v1", "Node"): [{"metadata": {"name": "worker-0", "labels": {}}}],
        ("maistra.io/v1", "ServiceMeshControlPlane"): [_smcp("old-v1")],
    })
    facts = plat.platform_facts(client)
    assert facts["ingress_domain"] == "apps.x.example.com"
    assert facts["platform_type"] is None and facts["openshift_version"] is None
    assert facts["operators"] == [] and facts["dsci"] is None and facts["knative_serving"] == []
    assert facts["served_kinds"]["knative_serving"] is False and facts["served_kinds"]["smcp"] is True
    # the v2 API is not served but v1 is: the SMCP is still found and blocks the automated path
    assert facts["install_path"] == "manual"


def test_forbidden_kind_is_reported_not_fatal():
    class _Forbidden(_Res):
        def get(self, name=None):
            err = Exception("forbidden")
            err.status = 403
            raise err

    class _Client(FakeClient):
        def resource(self, api_version, kind):
            if kind == "Node":
                return _Forbidden([])
            return FakeClient.resource(self, api_version, kind)

    facts = plat.platform_facts(_Client({("v1", "Node"): []}))
    assert facts["unreadable_kinds"] == ["Node"] and facts["gpu_nodes"] == []
