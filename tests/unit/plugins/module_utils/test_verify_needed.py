"""The rerun decision of the roles: verify only what changed or what is not ready (_waiter.verify_needed)."""

import pytest

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import InvalidInput
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._predicates import verify_needed

READY = {"type": "Ready", "status": "True"}


def _smcp(ready="True", name="basic"):
    return {"apiVersion": "maistra.io/v2", "kind": "ServiceMeshControlPlane",
            "metadata": {"name": name, "namespace": "istio-system"},
            "status": {"conditions": [{"type": "Ready", "status": ready}]}}


def _batch(*entries):
    return {"changed": any(e[0] for e in entries),
            "results": [{"kind": obj["kind"], "name": obj["metadata"]["name"], "changed": changed, "result": obj}
                        for changed, obj in entries]}


NS = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}}


def test_unchanged_and_ready_is_not_verified():
    needed, reason = verify_needed([_batch((False, NS), (False, _smcp()))],
                                   [{"kind": "ServiceMeshControlPlane", "condition": READY}])
    assert not needed, reason


def test_a_changed_object_is_verified_and_named():
    needed, reason = verify_needed([_batch((False, NS), (True, _smcp()))],
                                   [{"kind": "ServiceMeshControlPlane", "condition": READY}])
    assert needed and "ServiceMeshControlPlane/basic" in reason


def test_an_object_read_not_ready_is_verified():
    needed, reason = verify_needed([_batch((False, _smcp("False")))],
                                   [{"kind": "ServiceMeshControlPlane", "condition": READY}])
    assert needed and "basic" in reason and "Ready" in reason


def test_a_checked_object_missing_from_the_results_is_verified():
    needed, reason = verify_needed([_batch((False, NS))], [{"kind": "ServiceMeshControlPlane", "name": "basic"}])
    assert needed and "not read back" in reason


def test_single_patch_results_skipped_tasks_and_jmespath():
    dsc = {"kind": "DataScienceCluster", "metadata": {"name": "default-dsc"},
           "status": {"conditions": [{"type": "KserveReady", "status": "True"}]}}
    single = {"changed": False, "result": dsc}
    check = [{"kind": "DataScienceCluster",
              "jmespath": "length(status.conditions[?type=='KserveReady' && status=='True']) > `0`"}]
    assert verify_needed([single, {"skipped": True, "changed": False}], check)[0] is False
    dsc["status"]["conditions"][0]["status"] = "False"
    assert verify_needed([single], check)[0] is True


def test_always_verifies_and_a_bad_scope_is_refused():
    assert verify_needed([_batch((False, _smcp()))], [], "always")[0] is True
    with pytest.raises(InvalidInput, match="changed or always"):
        verify_needed([], [], "sometimes")
