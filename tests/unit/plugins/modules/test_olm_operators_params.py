"""olm_operators: each entry becomes the parameters olm_operator would get."""

from ansible_collections.openshift_ai.model_serving.plugins.modules.olm_operators import operator_params


def test_entry_approval_wins_and_task_options_apply_to_every_entry():
    task = {"approval": "Automatic", "state": "present", "wait": False, "timeout": 30}
    own = operator_params(task, {"name": "nfd", "approval": "Manual", "namespace": "openshift-nfd"})
    assert own == {"name": "nfd", "approval": "Manual", "namespace": "openshift-nfd",
                   "state": "present", "wait": False, "timeout": 30}
    assert operator_params(task, {"name": "nfd", "approval": None})["approval"] == "Automatic"
