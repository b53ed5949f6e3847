"""module_utils/_upgrade.py: the upgrade path through a channel's graph and the preflight refusals."""

from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _upgrade as up

PKG = "serverless-operator"


def pm(channels, default="stable", catalog="redhat-operators", name=PKG):
    # the package server lists entries newest first
    return {"metadata": {"name": name}, "status": {
        "packageName": name, "catalogSource": catalog, "defaultChannel": default,
        "channels": [{"name": ch, "currentCSV": "%s.v%s" % (name, vs[-1]),
                      "entries": [{"name": "%s.v%s" % (name, v), "version": v} for v in reversed(vs)]}
                     for ch, vs in channels.items()]}}


def sub(installed, channel="stable", approval="Automatic", name=PKG, ns="openshift-serverless"):
    return {"metadata": {"name": name, "namespace": ns},
            "spec": {"name": name, "channel": channel, "source": "redhat-operators",
                     "sourceNamespace": "openshift-marketplace", "installPlanApproval": approval},
            "status": {"installedCSV": installed, "state": "AtLatestKnown"}}


CATALOG = [pm({"stable": ["1.33.2", "1.34.1", "1.35.2"], "stable-1.33": ["1.33.0", "1.33.2"]})]
HEALTHY = {"operators": [{"name": "serverless-operator.v1.33.2", "namespace": "openshift-serverless", "phase": "Succeeded"}],
           "dsci": {"name": "default-dsci", "phase": "Ready"}, "dsc": {"name": "default-dsc", "phase": "Ready"},
           "smcp": [{"name": "data-science-smcp", "namespace": "istio-system", "ready": True}], "knative_serving": []}


def test_path_is_every_next_csv_up_to_the_head_in_order():
    out = up.upgrade_plan({PKG: {}}, [sub("serverless-operator.v1.33.2")], CATALOG, "Manual", HEALTHY, [])
    assert out["refusals"] == []
    plan = out["operators"][0]
    assert plan["steps"] == ["serverless-operator.v1.34.1", "serverless-operator.v1.35.2"]
    assert plan["calls"] == plan["steps"] and plan["target"] == "serverless-operator.v1.35.2"
    assert plan["spec_changes"] == ["installPlanApproval Automatic -> Manual"]


def test_version_target_stops_there_and_a_rerun_at_the_target_has_nothing_to_do():
    out = up.upgrade_plan({PKG: {"version": "1.34.1"}}, [sub("serverless-operator.v1.33.2")], CATALOG, "Manual", HEALTHY)
    assert out["operators"][0]["steps"] == ["serverless-operator.v1.34.1"]
    healthy = dict(HEALTHY, operators=[{"name": "serverless-operator.v1.35.2", "namespace": "openshift-serverless",
                                        "phase": "Succeeded"}])
    again = up.upgrade_plan({PKG: {}}, [sub("serverless-operator.v1.35.2", approval="Manual")], CATALOG, "Manual", healthy)
    assert again["refusals"] == [] and again["operators"][0]["calls"] == []


def test_channel_change_goes_along_the_new_channel():
    s = sub("serverless-operator.v1.33.2", channel="stable-1.33", approval="Manual")
    out = up.upgrade_plan({PKG: {"channel": "stable"}}, [s], CATALOG, "Manual", HEALTHY)
    plan = out["operators"][0]
    assert plan["steps"] == ["serverless-operator.v1.34.1", "serverless-operator.v1.35.2"]
    assert plan["spec_changes"] == ["channel stable-1.33 -> stable"]


def test_refusals_name_the_variable_or_the_object():
    s = [sub("serverless-operator.v1.33.2")]
    out = up.upgrade_plan({PKG: {"channel": "stable-9"}}, s, CATALOG, "Manual", HEALTHY)
    assert out["operators"] == [] and "upgrade_operators['serverless-operator'].channel" in out["refusals"][0]
    assert "stable-1.33, stable" in out["refusals"][0] or "stable, stable-1.33" in out["refusals"][0]
    out = up.upgrade_plan({PKG: {"version": "9.9.9"}}, s, CATALOG, "Manual", HEALTHY)
    assert "upgrade_operators['serverless-operator'].version" in out["refusals"][0]
    out = up.upgrade_plan({PKG: {"version": "1.34.1"}}, s, CATALOG, "Automatic", HEALTHY)
    assert "Automatic" in out["refusals"][0]
    newer = [sub("serverless-operator.v1.35.2")]
    out = up.upgrade_plan({PKG: {"version": "1.34.1"}}, newer, CATALOG, "Manual", HEALTHY)
    assert "older than the installed" in out["refusals"][0]
    # not installed: skipped without a target, refused with one
    out = up.upgrade_plan({"rhods-operator": {}}, s, CATALOG, "Manual", HEALTHY)
    assert out["refusals"] == [] and out["skipped"][0]["package"] == "rhods-operator"
    out = up.upgrade_plan({"rhods-operator": {"channel": "stable"}}, s, CATALOG, "Manual", HEALTHY)
    assert "no Subscription for package rhods-operator" in out["refusals"][0]


def test_unhealthy_platform_and_models_are_refused():
    sick = dict(HEALTHY, operators=[{"name": "serverless-operator.v1.33.2", "namespace": "openshift-serverless",
                                     "phase": "Failed", "reason": "ComponentUnhealthy"}],
                dsc={"name": "default-dsc", "phase": "Not Ready"},
                smcp=[{"name": "data-science-smcp", "namespace": "istio-system", "ready": False}])
    isvc = {"metadata": {"name": "granite", "namespace": "models"},
            "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "RevisionMissing", "message": "x"}]}}
    out = up.upgrade_plan({PKG: {}}, [sub("serverless-operator.v1.33.2")], CATALOG, "Manual", sick, [isvc])
    text = "; ".join(out["refusals"])
    assert "ClusterServiceVersion openshift-serverless/serverless-operator.v1.33.2 of serverless-operator is Failed" in text
    assert "DataScienceCluster default-dsc is in phase Not Ready" in text
    assert "ServiceMeshControlPlane istio-system/data-science-smcp is not Ready" in text
    assert "InferenceService models/granite (RevisionMissing: x)" in text


def test_model_checks_pick_the_token_secret_of_the_model_service_account():
    isvc = {"metadata": {"name": "demo", "namespace": "p", "annotations": {"security.opendatahub.io/enable-auth": "true"}}}
    secrets = [{"metadata": {"name": "demo-demo-sa", "namespace": "p",
                             "annotations": {"kubernetes.io/service-account.name": "demo-sa"}},
                "type": "kubernetes.io/service-account-token"},
               {"metadata": {"name": "other", "namespace": "p", "annotations": {"kubernetes.io/service-account.name": "x-sa"}},
                "type": "kubernetes.io/service-account-token"}]
    assert up.model_checks([isvc], secrets) == [{"name": "demo", "namespace": "p", "token_secret": "demo-demo-sa"}]
    plain = {"metadata": {"name": "open", "namespace": "p"}}
    assert up.model_checks([plain], secrets) == [{"name": "open", "namespace": "p"}]
