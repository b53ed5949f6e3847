"""keyed_merge on lists of scalars (key field "."), e.g. OdhDashboardConfig spec.templateDisablement."""

import pytest

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import InvalidInput
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._service import (
    SCALAR_KEY,
    keyed_merge,
    merge_patch_between,
    objects_differ,
)

PATH = "spec.templateDisablement"
KEYS = {PATH: SCALAR_KEY}


def odc(*names, **spec):
    body = {"apiVersion": "opendatahub.io/v1alpha", "kind": "OdhDashboardConfig",
            "metadata": {"name": "odh-dashboard-config", "resourceVersion": "7"},
            "spec": {"templateDisablement": list(names)}}
    body["spec"].update(spec)
    return body


def test_missing_values_are_appended_existing_kept_in_place():
    live = odc("ovms-gpu", "kserve-ovms")
    merged = keyed_merge(live, {"spec": {"templateDisablement": ["kserve-ovms", "tgis-grpc-runtime"]}}, KEYS)
    assert merged["spec"]["templateDisablement"] == ["ovms-gpu", "kserve-ovms", "tgis-grpc-runtime"]
    assert live["spec"]["templateDisablement"] == ["ovms-gpu", "kserve-ovms"]  # not modified


def test_remove_values_keeps_the_others():
    live = odc("ovms-gpu", "vllm-cuda-runtime", "kserve-ovms")
    merged = keyed_merge(live, {}, KEYS, {PATH: ["vllm-cuda-runtime", "absent"]})
    assert merged["spec"]["templateDisablement"] == ["ovms-gpu", "kserve-ovms"]


def test_add_and_remove_together_and_idempotent():
    live = odc("ovms-gpu", "vllm-cuda-runtime")
    patch = {"spec": {"templateDisablement": ["ovms"]}}
    removals = {PATH: ["vllm-cuda-runtime"]}
    merged = keyed_merge(live, patch, KEYS, removals)
    assert merged["spec"]["templateDisablement"] == ["ovms-gpu", "ovms"]
    again = keyed_merge(merged, patch, KEYS, removals)
    assert not objects_differ(merged, again)


def test_list_created_when_absent_and_removal_on_absent_list_is_a_noop():
    live = {"metadata": {"name": "x"}, "spec": {}}
    assert keyed_merge(live, {"spec": {"templateDisablement": ["a"]}}, KEYS)["spec"]["templateDisablement"] == ["a"]
    assert keyed_merge(live, {}, KEYS, {PATH: ["a"]}) == live


def test_no_change_means_no_patch():
    live = odc("a", "b")
    merged = keyed_merge(live, {"spec": {"templateDisablement": ["b"]}}, KEYS, {PATH: ["c"]})
    assert merge_patch_between(live, merged) == {}


def test_removal_compares_as_text():
    live = odc("1", 2)
    assert keyed_merge(live, {}, KEYS, {PATH: [1, "2"]})["spec"]["templateDisablement"] == []


@pytest.mark.parametrize("bad", [{"name": "x"}, ["x"], None])
def test_non_scalar_entries_are_refused(bad):
    with pytest.raises(InvalidInput) as err:
        keyed_merge(odc(), {"spec": {"templateDisablement": [bad]}}, KEYS)
    assert "scalar" in str(err.value)


def test_other_keyed_lists_unaffected():
    keys = dict(KEYS, **{"spec.modelServerSizes": "name"})
    live = odc("a", modelServerSizes=[{"name": "Small", "resources": {"limits": {"cpu": "2"}}}, {"name": "Custom"}])
    patch = {"spec": {"modelServerSizes": [{"name": "Small", "resources": {"limits": {"cpu": "3"}}}],
                      "templateDisablement": ["b"]}}
    merged = keyed_merge(live, patch, keys)
    assert merged["spec"]["modelServerSizes"] == [{"name": "Small", "resources": {"limits": {"cpu": "3"}}}, {"name": "Custom"}]
    assert merged["spec"]["templateDisablement"] == ["a", "b"]
