"""automated_path_refusals decides from platform_info's facts alone (no separate DSCI/DSC reads):
the facts carry what the refusals read, and the same cluster gives the same reasons either way."""

from ansible_collections.openshift_ai.model_serving.plugins.filter.serving_decisions import automated_path_refusals
from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _platform as plat

OPTS = {"control_plane_name": "data-science-smcp", "control_plane_namespace": "istio-system",
        "serving_name": "knative-serving", "certificate_type": "SelfSigned"}

DSCI = {"metadata": {"name": "default-dsci"},
        "spec": {"serviceMesh": {"managementState": "Managed",
                                 "controlPlane": {"name": "other-smcp", "namespace": "istio-system"}}}}
DSC = {"metadata": {"name": "default-dsc"},
       "spec": {"components": {"kserve": {"managementState": "Managed",
                                          "serving": {"managementState": "Managed", "name": "other-serving"}}}}}
SMCP = {"metadata": {"name": "data-science-smcp", "namespace": "istio-system"},
        "spec": {"security": {"identity": {"type": "ThirdParty"}}}}


def _facts(**kw):
    raw = {"served": dict((k, True) for k in plat.KINDS)}
    for k in plat.KINDS:
        raw[k] = []
    raw.update(kw)
    return plat.analyze(raw)


def test_the_facts_give_the_same_reasons_as_the_objects():
    facts = _facts(dsci=[DSCI], dsc=[DSC])
    from_objects = automated_path_refusals({"platform": facts, "dsci": DSCI, "dsc": DSC}, OPTS)
    from_facts = automated_path_refusals({"platform": facts}, OPTS)
    assert from_facts == from_objects
    assert any("control plane istio-system/other-smcp" in r for r in from_facts), from_facts
    assert any("KnativeServing other-serving" in r for r in from_facts), from_facts


def test_unmanaged_singletons_in_the_facts_are_refused():
    dsci = {"metadata": {"name": "default-dsci"}, "spec": {"serviceMesh": {"managementState": "Unmanaged"}}}
    reasons = automated_path_refusals({"platform": _facts(dsci=[dsci])}, OPTS)
    assert any("managementState Unmanaged" in r for r in reasons), reasons


def test_facts_carry_the_serving_name_and_the_identity_type():
    facts = _facts(dsc=[DSC], smcp=[SMCP])
    assert facts["dsc"]["serving_name"] == "other-serving"
    assert facts["smcp"][0]["identity_type"] == "ThirdParty"
