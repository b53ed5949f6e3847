#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: resource_wait
short_description: Wait until Kubernetes objects meet a condition, failing fast on a failure state
version_added: 0.1.0
description:
  - Waits until the objects selected by O(kind) and O(name) or O(label_selector) meet the success
    predicate, and fails as soon as one of them meets a O(failure) predicate.
  - A predicate is a condition (O(condition)), a field value (O(field)) or a JMESPath expression
    (O(jmespath)); when several are given, all must hold.
  - The wait follows a watch on the API server, so it returns as soon as the change is reported,
    not after a polling interval. Time is measured on a monotonic clock.
  - The kind does not have to be served yet; the module then waits for its CRD to appear, then for
    the objects.
  - Without a success predicate the objects only have to exist; for C(CustomResourceDefinition)
    the default is the condition C(Established=True).
  - With O(label_selector), at least one object must match and every matching object must meet
    the predicate.
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
      - In check mode the objects are evaluated once, without waiting, because the objects earlier
        tasks would create do not exist. An unmet predicate gives a warning, not a failure;
        a met failure predicate still fails.
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
  api_version:
    description:
      - API version of the objects, for example C(v1) or C(serving.kserve.io/v1beta1).
    type: str
    default: v1
  kind:
    description:
      - Kind of the objects.
    type: str
    required: true
  name:
    description:
      - Name of the object to wait for.
      - One of O(name) and O(label_selector) is required.
    type: str
  label_selector:
    description:
      - Label selector (for example C(app=authorino,component!=webhook)) choosing the objects.
    type: str
  namespace:
    description:
      - Namespace of the objects. Ignored for cluster-scoped kinds.
    type: str
  condition:
    description:
      - Success predicate on an entry of C(status.conditions).
    type: dict
    suboptions:
      type:
        description: The condition type, for example C(Ready).
        type: str
        required: true
      status:
        description: The status the condition must have.
        type: str
        default: "True"
        choices: ["True", "False", "Unknown"]
      reason:
        description: The reason the condition must have, when set.
        type: str
  field:
    description:
      - Success predicate on a field value.
    type: dict
    suboptions:
      path:
        description:
          - Dotted path of the field, for example C(status.phase); list items by index (C(status.ingress.0.host)).
        type: str
        required: true
      value:
        description:
          - The value the field must have. Strings and scalars compare by their text.
        type: raw
        required: true
  jmespath:
    description:
      - Success predicate as a JMESPath expression evaluated on the object; the result must be truthy.
      - For example C(status.modelStatus.states.activeModelState == 'Loaded').
    type: str
  failure:
    description:
      - Failure predicates. As soon as one object meets one of them the module fails, with the
        object's status in the message, instead of waiting for the timeout.
    type: list
    elements: dict
    default: []
    suboptions:
      condition:
        description: A condition, as in O(condition).
        type: dict
        suboptions:
          type:
            description: The condition type.
            type: str
            required: true
          status:
            description: The condition status.
            type: str
            default: "True"
            choices: ["True", "False", "Unknown"]
          reason:
            description: The condition reason, when set.
            type: str
      field:
        description: A field value, as in O(field).
        type: dict
        suboptions:
          path:
            description: Dotted path of the field.
            type: str
            required: true
          value:
            description: The value.
            type: raw
            required: true
      jmespath:
        description: A JMESPath expression that must be truthy.
        type: str
  pods:
    description:
      - Pods to watch while waiting, for an object whose readiness depends on them (a control plane,
        an operator's custom resource). As soon as a pod of a group that does not have C(min_ready)
        ready pods is broken (as O(openshift_ai.model_serving.pods_verify#module:fail_fast) judges
        it), the module fails naming the object and its status, the pod, the container, the reason
        and the pod's recent Events, instead of waiting for the timeout.
      - Readiness of these pods is not required for success; only the success predicate is.
    type: list
    elements: dict
    default: []
    suboptions:
      namespace:
        description: Namespace of the pods.
        type: str
        required: true
      groups:
        description: Groups of pods, as in O(openshift_ai.model_serving.pods_verify#module:groups).
        type: list
        elements: dict
        required: true
        suboptions:
          name:
            description: Name of the group in messages.
            type: str
          label_selector:
            description: Label selector of the group's pods.
            type: str
          name_prefix:
            description: Prefix of the names of the group's pods.
            type: str
          min_ready:
            description: Ready pods that make the group healthy (its broken leftovers are then ignored).
            type: int
            default: 1
          containers:
            description: Exact set of container names a pod must have to count as ready.
            type: list
            elements: str
  unready_timeout:
    description:
      - With O(pods), a container running that many seconds without becoming ready also counts as
        broken (reason C(NotReady)). C(0) disables this check.
    type: int
    default: 0
  transient_grace:
    description:
      - With O(pods), seconds that a usually transient state must last before it counts as broken -
        a first C(ErrImagePull), C(CreateContainerConfigError) and C(Unschedulable) (see
        M(openshift_ai.model_serving.pods_verify)). C(0) counts them at once.
    type: int
    default: 20
  timeout:
    description:
      - Seconds to wait before failing. The failure message shows the last status seen.
    type: int
    default: 300
seealso:
  - module: openshift_ai.model_serving.pods_verify
  - module: openshift_ai.model_serving.resource_patch
"""

EXAMPLES = r"""
- name: Wait for the KnativeServing CRD to be established (waits for the CRD to appear)
  openshift_ai.model_serving.resource_wait:
    api_version: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    name: knativeservings.operator.knative.dev
    timeout: 600

- name: Wait for the ServiceMeshControlPlane to be ready
  openshift_ai.model_serving.resource_wait:
    api_version: maistra.io/v2
    kind: ServiceMeshControlPlane
    name: data-science-smcp
    namespace: istio-system
    condition:
      type: Ready
    pods:
      - namespace: istio-system
        groups:
          - name: istiod
            name_prefix: istiod-data-science-smcp-
    unready_timeout: 20
    timeout: 900

- name: Wait for a CSV to succeed; fail at once when it fails
  openshift_ai.model_serving.resource_wait:
    api_version: operators.coreos.com/v1alpha1
    kind: ClusterServiceVersion
    name: serverless-operator.v1.35.0
    namespace: openshift-serverless
    field:
      path: status.phase
      value: Succeeded
    failure:
      - field:
          path: status.phase
          value: Failed

- name: Wait for a model to be loaded
  openshift_ai.model_serving.resource_wait:
    api_version: serving.kserve.io/v1beta1
    kind: InferenceService
    name: granite
    namespace: models
    jmespath: "status.modelStatus.states.activeModelState == 'Loaded'"
    failure:
      - jmespath: "status.modelStatus.states.activeModelState == 'FailedToLoad'"
"""

RETURN = r"""
resources:
  description:
    - The objects last seen (sorted by namespace and name). Also returned on failure and timeout.
  returned: always
  type: list
  elements: dict
elapsed:
  description: Seconds spent waiting (monotonic clock).
  returned: always
  type: float
  sample: 3.21
satisfied:
  description: Whether the success predicate holds. Always true on success outside check mode.
  returned: success
  type: bool
message:
  description: What the last evaluation concluded.
  returned: success
  type: str
  sample: 1 object(s) meet condition Ready=True
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._args import (
    pod_groups_spec,
    predicate_spec,
    run_module,
    with_connection,
)
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._client import Client
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import InvalidInput, WaitFailed
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._pods import (
    Group,
    pod_watch_evaluator,
    recent_events,
    server_selector,
    with_pod_watch,
)
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._data import redact
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._predicates import (
    established,
    exists,
    from_spec,
    object_evaluator,
)
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._waiter import MultiWaiter, Waiter


def argspec():
    spec = dict(
        api_version=dict(type="str", default="v1"),
        kind=dict(type="str", required=True),
        name=dict(type="str"),
        label_selector=dict(type="str"),
        namespace=dict(type="str"),
        failure=dict(type="list", elements="dict", default=[], options=predicate_spec()),
        pods=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                namespace=dict(type="str", required=True),
                groups=pod_groups_spec(),
            ),
        ),
        unready_timeout=dict(type="int", default=0),
        transient_grace=dict(type="int", default=20),
        timeout=dict(type="int", default=300),
    )
    spec.update(predicate_spec())
    return with_connection(spec)


def execute(module):
    params = module.params
    if params["timeout"] < 0:
        raise InvalidInput("timeout must not be negative")
    default = established() if params["kind"] == "CustomResourceDefinition" else exists()
    success = from_spec(params, default=default)
    failures = []
    for i, spec in enumerate(params["failure"]):
        pred = from_spec(spec)
        if pred is None:
            raise InvalidInput("failure[%d] needs a condition, field or jmespath" % i)
        failures.append(pred)
    if params["unready_timeout"] < 0:
        raise InvalidInput("unready_timeout must not be negative")
    if params["transient_grace"] < 0:
        raise InvalidInput("transient_grace must not be negative")
    pod_specs = []
    for i, spec in enumerate(params["pods"]):
        if not spec["groups"]:
            raise InvalidInput("pods[%d].groups must not be empty" % i)
        pod_specs.append((spec["namespace"], [Group(g) for g in spec["groups"]]))
    evaluate = object_evaluator(success, failures)
    client = Client(params)
    waiter = Waiter(
        client,
        params["api_version"],
        params["kind"],
        namespace=params["namespace"],
        name=params["name"],
        label_selector=params["label_selector"],
    )
    if module.check_mode:
        objects, outcome = waiter.snapshot(evaluate)
        objects = [redact(o) for o in objects]
        if outcome.failed:
            raise WaitFailed(outcome.message, resources=objects, elapsed=0.0)
        if not outcome.done:
            module.warn("check mode, not waiting: %s" % outcome.message)
        return dict(changed=False, resources=objects, elapsed=0.0, satisfied=outcome.done, message=outcome.message)
    if pod_specs:
        outcome = _wait_watching_pods(client, waiter, evaluate, pod_specs, params)
    else:
        outcome = waiter.wait(evaluate, params["timeout"])
    return dict(
        changed=False,
        resources=[redact(o) for o in outcome.objects],
        elapsed=round(outcome.elapsed, 3),
        satisfied=True,
        message=outcome.message,
    )


def _wait_watching_pods(client, waiter, evaluate, pod_specs, params):
    """Wait for the objects while watching the pods of pod_specs [(namespace, groups)]."""
    waiters, pod_evaluates = [waiter], []
    for namespace, groups in pod_specs:
        waiters.append(Waiter(client, "v1", "Pod", namespace=namespace, label_selector=server_selector(groups)))
        pod_evaluates.append(
            pod_watch_evaluator(
                namespace,
                groups,
                events=_events_reader(client, namespace),
                unready_timeout=params["unready_timeout"],
                transient_grace=params["transient_grace"],
            )
        )
    combined = with_pod_watch(evaluate, pod_evaluates, waiter.describe())
    return MultiWaiter(waiters).wait(combined, params["timeout"], waiter.describe())


def _events_reader(client, namespace):
    def read(problem):
        return recent_events(client, namespace, problem.pod)

    return read


def main():
    module = AnsibleModule(
        argument_spec=argspec(),
        required_one_of=[("name", "label_selector")],
        supports_check_mode=True,
    )
    run_module(module, execute)


if __name__ == "__main__":
    main()
