"""Manual-path refusals (module_utils/_platform.py): takeover, second instances, the DSCI race, 403s."""

import pytest

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import InvalidInput
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._platform import (
    manual_path_refusals, unreadable_refusals)

OWNER = "FeatureTracker redhat-ods-applications-mesh-control-plane-creation"


def smcp(name, ns="istio-system", operator=False):
    return {"name": name, "namespace": ns, "created_by_operator": operator, "owner": OWNER if operator else None}


def ks(name="knative-serving", ns="knative-serving", operator=False):
    return dict(smcp(name, ns, operator))


def platform(smcps=(), kss=(), dsci=None, unreadable=()):
    return {"smcp": list(smcps), "knative_serving": list(kss), "dsci": dsci, "unreadable_kinds": list(unreadable)}


def test_fresh_cluster_and_own_rerun_pass():
    assert manual_path_refusals(platform()) == []
    assert manual_path_refusals(platform([smcp("minimal")], [ks()])) == []


def test_operator_objects_are_refused_whatever_the_names():
    for opts in ({}, {"mesh_name": "data-science-smcp"}):
        got = manual_path_refusals(platform([smcp("data-science-smcp", operator=True)], [ks(operator=True)]), opts)
        text = " ".join(got)
        assert "ServiceMeshControlPlane istio-system/data-science-smcp was created by the OpenShift AI operator" in text
        assert "KnativeServing knative-serving/knative-serving was created by the OpenShift AI operator" in text
        assert "set service_mesh_name" not in text and "Keep the automated path" in text


def test_a_users_second_control_plane_may_be_named():
    got = manual_path_refusals(platform([smcp("basic")]))
    assert len(got) == 1 and "set service_mesh_name: basic" in got[0]
    assert manual_path_refusals(platform([smcp("basic")]), {"mesh_name": "basic"}) == []
    # in another namespace it does not collide
    assert manual_path_refusals(platform([smcp("basic", ns="other-mesh")])) == []


def test_a_second_knative_serving():
    got = manual_path_refusals(platform(kss=[ks("mine", "serving-ns")]))
    assert len(got) == 1 and "serverless_name" in got[0]


def test_dsci_managed_without_control_plane_races():
    dsci = {"name": "default-dsci", "service_mesh": {"management_state": "Managed", "control_plane_name": "data-science-smcp"}}
    got = manual_path_refusals(platform(dsci=dsci))
    assert len(got) == 1 and "default-dsci" in got[0] and "Unmanaged first" in got[0]
    # once the manual control plane exists (a rerun after a partial install), the operator refuses to add its own
    assert manual_path_refusals(platform([smcp("minimal")], dsci=dsci)) == []
    dsci["service_mesh"]["management_state"] = "Unmanaged"
    assert manual_path_refusals(platform(dsci=dsci)) == []


def test_forbidden_kinds_are_not_read_as_absent():
    got = manual_path_refusals(platform(unreadable=["ServiceMeshControlPlane"]))
    assert len(got) == 1 and "servicemeshcontrolplanes.maistra.io" in got[0] and "HTTP 403" in got[0]
    assert unreadable_refusals(platform(unreadable=["ServiceMeshControlPlane"]), "RawDeployment") == []
    assert unreadable_refusals(platform(unreadable=["Node"])) == []
    assert "DataScienceCluster" in unreadable_refusals(platform(unreadable=["DataScienceCluster"]), "RawDeployment")[0]


def test_raw_deployment_ignores_mesh_objects():
    assert manual_path_refusals(platform([smcp("data-science-smcp", operator=True)]), {"deployment_mode": "RawDeployment"}) == []


def test_each_role_asks_for_the_refusals_of_its_own_kind():
    p = platform([smcp("basic")], [ks("mine", "serving-ns")], unreadable=["DataScienceCluster"])
    mesh = manual_path_refusals(p, {"kinds": ["ServiceMeshControlPlane"]})
    serving = manual_path_refusals(p, {"kinds": ["KnativeServing"]})
    assert len(mesh) == 2 and "HTTP 403" in mesh[0] and "set service_mesh_name: basic" in mesh[1]
    assert len(serving) == 2 and "HTTP 403" in serving[0] and "serverless_name" in serving[1]
    assert manual_path_refusals(p) == mesh + serving[1:]
    # the DSCI race is the mesh's
    dsci = {"name": "default-dsci", "service_mesh": {"management_state": "Managed"}}
    assert len(manual_path_refusals(platform(dsci=dsci), {"kinds": ["ServiceMeshControlPlane"]})) == 1
    assert manual_path_refusals(platform(dsci=dsci), {"kinds": ["KnativeServing"]}) == []


def test_unknown_kinds_are_refused():
    with pytest.raises(InvalidInput, match="kinds must be"):
        manual_path_refusals(platform(), {"kinds": ["Gateway"]})
