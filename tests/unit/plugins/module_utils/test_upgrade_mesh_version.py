"""The control plane version raise of the upgrade (module_utils/_upgrade.py control_plane_versions)."""

import pytest

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._upgrade import control_plane_versions

MESH_OP = {"package": "servicemeshoperator", "name": "servicemeshoperator.v2.6.4", "phase": "Succeeded"}


def platform(*versions, **kw):
    operator = kw.get("operator", MESH_OP)
    return {"operators": [operator] if operator else [],
            "smcp": [{"namespace": "istio-system", "name": "minimal", "version": v} for v in versions]}


def test_nothing_asked_nothing_done():
    assert control_plane_versions("", platform("v2.5"), []) == ([], [])


def test_a_lower_control_plane_is_raised_an_equal_one_kept():
    changes, refusals = control_plane_versions("v2.6", platform("v2.5"), [])
    assert refusals == [] and changes == [{"namespace": "istio-system", "name": "minimal", "from": "v2.5", "to": "v2.6"}]
    # the version may come from status.chartVersion when spec.version is empty
    assert control_plane_versions("v2.6", platform("2.6.4"), []) == ([], [])


def test_the_operator_after_the_upgrade_decides_what_is_supported():
    old_op = dict(MESH_OP, name="servicemeshoperator.v2.5.2")
    changes, refusals = control_plane_versions("v2.6", platform("v2.5", operator=old_op), [])
    assert len(refusals) == 1 and "supports control planes up to v2.5" in refusals[0]
    assert "upgrade_service_mesh_version=v2.6" in refusals[0]
    plans = [{"package": "servicemeshoperator", "installed": "servicemeshoperator.v2.5.2",
              "steps": ["servicemeshoperator.v2.6.4"]}]
    changes, refusals = control_plane_versions("v2.6", platform("v2.5", operator=old_op), plans)
    assert refusals == [] and len(changes) == 1


@pytest.mark.parametrize("target, words", [
    ("2.6", "must look like v2.6"),
    ("v2.6.1", "must look like v2.6"),
    ("latest", "must look like v2.6"),
    ("v2.4", "cannot lower"),
])
def test_refusals_name_the_variable(target, words):
    changes, refusals = control_plane_versions(target, platform("v2.5"), [])
    assert changes == [] and len(refusals) == 1
    assert words in refusals[0] and "upgrade_service_mesh_version" in refusals[0]


def test_no_mesh_operator():
    changes, refusals = control_plane_versions("v2.6", platform("v2.5", operator=None), [])
    assert len(refusals) == 1 and "no Service Mesh operator" in refusals[0]
