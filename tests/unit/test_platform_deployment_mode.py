"""Unit tests for the KServe deployment-mode decision in plugins/module_utils/_platform.py
(deployment_mode(), the mode-aware install_path(), and their place in analyze())."""

import os
import sys

import pytest

_COLL = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), ".collections")
if _COLL not in sys.path:
    sys.path.insert(0, _COLL)

from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _platform as plat  # noqa: E402

FT = {"apiVersion": "features.opendatahub.io/v1", "kind": "FeatureTracker",
      "name": "redhat-ods-applications-mesh-control-plane-creation", "uid": "1"}
RAW, SERVERLESS = "RawDeployment", "Serverless"


def _smcp(owners=None, name="data-science-smcp"):
    return {"metadata": {"name": name, "namespace": "istio-system", "ownerReferences": owners or []}}


def _ks(owners=None):
    return {"metadata": {"name": "knative-serving", "namespace": "knative-serving", "ownerReferences": owners or []}}


def _dsci(mesh="Managed"):
    return {"metadata": {"name": "default-dsci"}, "spec": {"serviceMesh": {"managementState": mesh}}}


def _dsc(kserve="Managed", serving=None, mode=None, service_config=None):
    ks = {"managementState": kserve}
    if serving:
        ks["serving"] = {"managementState": serving}
    if mode:
        ks["defaultDeploymentMode"] = mode
    if service_config:
        ks["rawDeploymentServiceConfig"] = service_config
    return {"metadata": {"name": "default-dsc"}, "spec": {"components": {"kserve": ks}}}


def _facts(mode=None, **kw):
    raw = {"served": dict((k, True) for k in plat.KINDS)}
    for k in plat.KINDS:
        raw[k] = []
    raw.update(kw)
    return plat.analyze(raw, mode)


def test_empty_cluster_allows_both_modes_and_runs_neither():
    for mode in (None, SERVERLESS, RAW):
        dm = _facts(mode)["deployment_mode"]
        assert dm["current"] is None
        assert dm["refusals_by_mode"] == {SERVERLESS: [], RAW: []}
        assert dm["requested"] == mode
        assert dm["allowed"] is (None if mode is None else True)
        assert dm["refusals"] == []


def test_default_dsci_alone_is_no_mode():
    # The operator creates default-dsci with serviceMesh Managed at start-up: that installs nothing yet.
    dm = _facts(RAW, dsci=[_dsci("Managed")])["deployment_mode"]
    assert dm["allowed"] is True and dm["current"] is None


@pytest.mark.parametrize("objs,needle", [
    ({"smcp": [_smcp([FT])]}, "ServiceMeshControlPlane istio-system/data-science-smcp is managed by the OpenShift AI operator"),
    ({"knative_serving": [_ks([FT])]}, "KnativeServing knative-serving/knative-serving is managed by the OpenShift AI operator"),
    ({"dsc": [_dsc(serving="Managed", mode=SERVERLESS)]}, "serving.managementState Managed and defaultDeploymentMode Serverless"),
    ({"dsc": [_dsc()]}, "serving.managementState Managed and no defaultDeploymentMode (Serverless)"),
    ({"dsc": [_dsc(serving="Unmanaged")], "dsci": [_dsci("Unmanaged")]}, "serving.managementState Unmanaged"),
    # serving Managed with the raw default is still the Serverless stack (mesh + Knative run).
    ({"dsc": [_dsc(serving="Managed", mode=RAW)]}, "serving.managementState Managed and defaultDeploymentMode RawDeployment"),
])
def test_raw_request_refused_on_a_serverless_cluster(objs, needle):
    facts = _facts(RAW, **objs)
    dm = facts["deployment_mode"]
    assert dm["current"] == SERVERLESS
    assert dm["allowed"] is False
    assert len(dm["refusals"]) == 1
    assert needle in dm["refusals"][0], dm["refusals"]
    assert dm["refusals"][0].startswith("RawDeployment was requested but this cluster runs KServe in the Serverless mode")
    # The same cluster takes a Serverless request.
    assert dm["refusals_by_mode"][SERVERLESS] == []


@pytest.mark.parametrize("dsc", [
    _dsc(serving="Removed", mode=RAW, service_config="Headed"),
    _dsc(serving="Removed"),  # empty mode with serving Removed: the operator reads RawDeployment
])
def test_serverless_request_refused_on_a_raw_cluster(dsc):
    dm = _facts(SERVERLESS, dsc=[dsc], dsci=[_dsci("Removed")])["deployment_mode"]
    assert dm["current"] == RAW
    assert dm["allowed"] is False
    assert "runs KServe in the RawDeployment mode" in dm["refusals"][0]
    assert "serving.managementState Removed" in dm["refusals"][0]
    assert "serviceMesh.managementState Removed" in dm["refusals"][0]
    assert dm["refusals_by_mode"][RAW] == []


def test_foreign_mesh_and_knative_refuse_nothing():
    # Someone else's control plane and KnativeServing are not a Serverless KServe install.
    facts = _facts(RAW, smcp=[_smcp(name="minimal")], knative_serving=[_ks()])
    dm = facts["deployment_mode"]
    assert dm["allowed"] is True and dm["current"] is None
    # ... and with RawDeployment they do not force the manual path either.
    assert facts["install_path"] == "automated"
    assert "left alone" in facts["install_path_reasons"][0]
    assert "istio-system/minimal" in facts["install_path_reasons"][0]
    # For Serverless they still do (the operator would refuse to integrate them).
    assert dm["install_path_by_mode"][SERVERLESS]["path"] == "manual"
    assert _facts(None, smcp=[_smcp(name="minimal")])["install_path"] == "manual"


def test_kserve_removed_is_no_mode():
    for dsc in (_dsc(kserve="Removed", serving="Removed", mode=RAW), _dsc(kserve="Removed", mode=SERVERLESS)):
        dm = _facts(RAW, dsc=[dsc])["deployment_mode"]
        assert dm["current"] is None
        assert dm["refusals_by_mode"] == {SERVERLESS: [], RAW: []}


def test_signs_of_both_modes_are_mixed_and_refuse_both():
    dm = _facts(RAW, smcp=[_smcp([FT])], dsc=[_dsc(serving="Removed", mode=RAW)])["deployment_mode"]
    assert dm["current"] == "mixed"
    assert dm["refusals_by_mode"][RAW] and dm["refusals_by_mode"][SERVERLESS]


def test_raw_install_path_keeps_the_manual_signals():
    # A DSCI set Unmanaged by hand still selects the manual path in both modes.
    facts = _facts(RAW, dsci=[_dsci("Unmanaged")])
    assert facts["install_path"] == "manual"
    assert facts["deployment_mode"]["install_path_by_mode"][RAW]["path"] == "manual"


def test_install_path_default_mode_is_unchanged():
    assert plat.install_path([], [], None, None, {"smcp": True, "knative_serving": True}) == \
        plat.install_path([], [], None, None, {"smcp": True, "knative_serving": True}, SERVERLESS)


def test_dsc_facts_report_the_raw_service_config():
    facts = _facts(None, dsc=[_dsc(serving="Removed", mode=RAW, service_config="Headed")])
    assert facts["dsc"]["kserve"]["raw_deployment_service_config"] == "Headed"
    assert facts["dsc"]["kserve"]["default_deployment_mode"] == RAW
