#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: pods_verify
short_description: Wait until groups of pods are Running and Ready, failing fast on broken pods
version_added: 0.1.0
description:
  - Waits until every group of pods in O(namespace) has at least C(min_ready) pods that are
    Running and Ready (and, when C(containers) is set, have exactly those containers).
  - A group selects pods by label selector and/or name prefix (both must match when both are set).
  - With O(fail_fast), the module fails as soon as a selected pod shows a state that waiting will
    not fix - a container in C(CrashLoopBackOff), C(ImagePullBackOff), C(ErrImagePull),
    C(CreateContainerConfigError) (and similar), a container C(OOMKilled) and not ready, or the
    pod C(Unschedulable) - naming the pod, the container, the reason, the message and the pod's
    recent Events.
  - The wait follows a watch on the pods, so it returns as soon as the API server reports the
    change. Time is measured on a monotonic clock.
author:
  - OpenShift AI model_serving maintainers (@openshift-ai)
extends_documentation_fragment:
  - openshift_ai.model_serving.connection
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
attributes:
  check_mode:
    support: full
    details:
      - In check mode the pods are evaluated once, without waiting. Groups that are not ready give
        a warning, not a failure; a broken pod still fails.
  diff_mode:
    support: none
  idempotent:
    description: The module only reads; it never changes anything.
    support: full
  platform:
    platforms: posix
  action_group:
    membership:
      - openshift_ai.model_serving.cluster
options:
  namespace:
    description:
      - Namespace of the pods.
    type: str
    required: true
  groups:
    description:
      - The groups of pods to verify.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Name of the group in results and messages. Defaults to the selector or prefix.
        type: str
      label_selector:
        description:
          - Label selector of the group's pods, for example C(app=authorino).
        type: str
      name_prefix:
        description:
          - Prefix of the names of the group's pods, for example C(authorino-).
        type: str
      min_ready:
        description:
          - Minimum number of ready pods in the group.
        type: int
        default: 1
      containers:
        description:
          - Exact set of container names a pod must have to count as ready, for example
            C([authorino, istio-proxy]) to require the mesh sidecar. Init containers are not included.
        type: list
        elements: str
  timeout:
    description:
      - Seconds to wait before failing. The failure message shows the state of the groups that are
        not ready.
    type: int
    default: 600
  fail_fast:
    description:
      - Fail as soon as a selected pod is broken (see the description) instead of waiting for the timeout.
      - Only the pods of a group that does not have C(min_ready) ready pods yet can fail the task; a
        broken leftover pod (an old ReplicaSet's during a rollout) of a ready group does not.
    type: bool
    default: true
  unready_timeout:
    description:
      - With O(fail_fast), a container that has been running for that many seconds without becoming
        ready (its readiness probe keeps failing) also fails the task, with reason C(NotReady).
      - C(0) disables this check (containers may take any time up to O(timeout) to become ready).
    type: int
    default: 0
  transient_grace:
    description:
      - With O(fail_fast), seconds that a usually transient state must last before it fails the task -
        a first C(ErrImagePull) (a pull that keeps failing turns into C(ImagePullBackOff), which fails at
        once), C(CreateContainerConfigError) (a Secret or ConfigMap still being created) and
        C(Unschedulable) (a node still being added).
      - C(0) fails on them at once. In check mode (one look at the pods, no wait) they are reported at once.
    type: int
    default: 20
seealso:
  - module: openshift_ai.model_serving.resource_wait
"""

EXAMPLES = r"""
- name: Verify Authorino runs with its mesh sidecar
  openshift_ai.model_serving.pods_verify:
    namespace: redhat-ods-applications-auth-provider
    groups:
      - name: authorino
        label_selector: authorino-resource=authorino
        containers: [authorino, istio-proxy]
    timeout: 300

- name: Verify the KServe and model controllers
  openshift_ai.model_serving.pods_verify:
    namespace: redhat-ods-applications
    groups:
      - name_prefix: kserve-controller-manager-
      - name_prefix: odh-model-controller-
        min_ready: 1
"""

RETURN = r"""
pods:
  description: Summary of every pod selected by a group. Also returned on failure.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Pod name.
      type: str
      returned: always
    phase:
      description: Pod phase.
      type: str
      returned: always
    ready:
      description: Running, Ready and not being deleted.
      type: bool
      returned: always
    node:
      description: Node the pod is scheduled on.
      type: str
      returned: always
    containers:
      description: Per container, C(name), C(ready), C(state) (running, waiting, terminated), C(reason), C(restarts) and C(image) (from the pod spec).
      type: list
      elements: dict
      returned: always
    problems:
      description: Fatal problems found (C(pod), C(namespace), C(node) (null while unscheduled), C(container), C(reason), C(message)).
      type: list
      elements: dict
      returned: always
groups:
  description: Per group, C(name), C(min_ready), C(ready) (count), C(pods) (names), C(ok) and C(wrong_containers).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "authorino", "min_ready": 1, "ready": 1, "pods": ["authorino-7d9c"], "ok": true, "wrong_containers": {}}]
elapsed:
  description: Seconds spent waiting (monotonic clock).
  returned: always
  type: float
  sample: 2.5
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._args import pod_groups_spec, run_module, with_connection
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._client import Client
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import (
    InvalidInput,
    WaitFailed,
    WaitTimeout,
)
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._pods import (
    Group,
    evaluate_groups,
    pods_evaluator,
    recent_events,
    server_selector,
    summary,
)
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._waiter import MultiWaiter, Waiter


def argspec():
    return with_connection(
        dict(
            namespace=dict(type="str", required=True),
            groups=pod_groups_spec(),
            timeout=dict(type="int", default=600),
            fail_fast=dict(type="bool", default=True),
            unready_timeout=dict(type="int", default=0),
            transient_grace=dict(type="int", default=20),
        )
    )


def _report(groups, pods):
    selected = [p for p in pods if any(g.selects(p) for g in groups)]
    return [summary(p) for p in selected], evaluate_groups(groups, pods)


def _first(evaluate):
    def evaluate_first(states):
        return evaluate(states[0] or [])

    return evaluate_first


def execute(module):
    params = module.params
    if not params["groups"]:
        raise InvalidInput("groups must not be empty")
    if params["timeout"] < 0:
        raise InvalidInput("timeout must not be negative")
    if params["unready_timeout"] < 0:
        raise InvalidInput("unready_timeout must not be negative")
    if params["transient_grace"] < 0:
        raise InvalidInput("transient_grace must not be negative")
    groups = [Group(spec) for spec in params["groups"]]
    client = Client(params)
    namespace = params["namespace"]
    evaluate = pods_evaluator(
        groups,
        fail_fast=params["fail_fast"],
        events=lambda problem: recent_events(client, namespace, problem.pod),
        unready_timeout=params["unready_timeout"],
        # check mode looks once (a diagnosis): no time to see a state last, so none is held back
        transient_grace=0 if module.check_mode else params["transient_grace"],
    )
    # One group with a label selector: let the server filter; otherwise watch the namespace.
    waiter = Waiter(client, "v1", "Pod", namespace=namespace, label_selector=server_selector(groups))
    if module.check_mode:
        pods, outcome = waiter.snapshot(evaluate)
        summaries, report = _report(groups, pods)
        if outcome.failed:
            raise WaitFailed(outcome.message, pods=summaries, groups=report, elapsed=0.0)
        if not outcome.done:
            module.warn("check mode, not waiting: %s" % outcome.message)
        return dict(changed=False, pods=summaries, groups=report, elapsed=0.0)
    try:
        if (params["unready_timeout"] > 0 or params["transient_grace"] > 0) and params["fail_fast"]:
            # MultiWaiter re-evaluates every second, so a container that stays unready (or in a
            # transient state past its grace) is reported without waiting for another pod event.
            result = MultiWaiter([waiter]).wait(_first(evaluate), params["timeout"], waiter.describe())
        else:
            result = waiter.wait(evaluate, params["timeout"])
    except (WaitFailed, WaitTimeout) as e:
        pods = e.details.pop("resources", [])
        e.details["pods"], e.details["groups"] = _report(groups, pods)
        raise
    summaries, report = _report(groups, result.objects)
    return dict(changed=False, pods=summaries, groups=report, elapsed=round(result.elapsed, 3))


def main():
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    run_module(module, execute)


if __name__ == "__main__":
    main()
