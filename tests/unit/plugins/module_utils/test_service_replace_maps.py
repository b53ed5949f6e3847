"""keyed_merge: mappings replaced as a whole (replace_maps) and nested keyed lists (env by container,
variables by name), the merges the roles use for selectors and KnativeServing workloads."""

import pytest

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import InvalidInput
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._service import (
    keyed_merge,
    merge_patch_between,
)


def svc(selector, labels=None):
    return {"metadata": {"name": "gw", "labels": dict(labels or {})}, "spec": {"selector": dict(selector)}}


def test_a_changed_selector_replaces_the_old_one_instead_of_adding_to_it():
    live = svc({"knative": "ingressgateway"}, {"team": "a"})
    merged = keyed_merge(live, {"spec": {"selector": {"istio": "ingressgateway"}}}, replace_maps=["spec.selector"])
    assert merged["spec"]["selector"] == {"istio": "ingressgateway"}
    assert merged["metadata"]["labels"] == {"team": "a"}  # other mappings still merge
    assert merge_patch_between(live, merged) == {"spec": {"selector": {"istio": "ingressgateway", "knative": None}}}


def test_without_replace_maps_the_keys_add_up():
    live = svc({"knative": "ingressgateway"})
    merged = keyed_merge(live, {"spec": {"selector": {"istio": "ingressgateway"}}})
    assert merged["spec"]["selector"] == {"knative": "ingressgateway", "istio": "ingressgateway"}


def test_the_same_selector_is_no_change():
    live = svc({"knative": "ingressgateway"})
    merged = keyed_merge(live, {"spec": {"selector": {"knative": "ingressgateway"}}}, replace_maps=["spec.selector"])
    assert merge_patch_between(live, merged) == {}


def test_a_path_cannot_be_both_a_keyed_list_and_a_replaced_map():
    with pytest.raises(InvalidInput) as err:
        keyed_merge({}, {}, {"spec.selector": "name"}, replace_maps=["spec.selector"])
    assert "replace_maps" in str(err.value)
    with pytest.raises(InvalidInput):
        keyed_merge({}, {}, {}, {"spec.selector": ["x"]}, replace_maps=["spec.selector"])


KNATIVE_KEYS = {"spec.workloads": "name", "spec.workloads.env": "container", "spec.workloads.env.envVars": "name"}


def test_a_variable_someone_else_added_to_a_workload_is_kept():
    ours = {"name": "ENABLE_SECRET_INFORMER_FILTERING_BY_CERT_UID", "value": "true"}
    theirs = {"name": "EXAMPLE_TEAM_SETTING", "value": "on"}
    live = {"spec": {"workloads": [
        {"name": "net-istio-controller", "env": [{"container": "controller", "envVars": [ours, theirs]},
                                                 {"container": "other", "envVars": [theirs]}]},
        {"name": "activator", "annotations": {"a": "b"}}]}}
    patch = {"spec": {"workloads": [{"name": "net-istio-controller",
                                     "env": [{"container": "controller", "envVars": [ours]}]}]}}
    merged = keyed_merge(live, patch, KNATIVE_KEYS)
    assert merged == live
    assert merge_patch_between(live, merged) == {}
