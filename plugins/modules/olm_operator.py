#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: olm_operator
short_description: Install, upgrade or remove an operator through OLM
version_added: 0.1.0
description:
  - Creates the namespace when missing, reuses a compatible OperatorGroup or creates one, and
    creates or updates the Subscription (channel, source, startingCSV, approval, config).
  - With O(approval=Manual) it approves only the InstallPlan that installs the intended
    ClusterServiceVersion, which is O(starting_csv) when given, else the head of the channel in
    the catalog. InstallPlans for any other CSV (for example a later upgrade) are left unapproved.
  - Waits, watch-based, until the intended CSV is installed and Succeeded and the
    CustomResourceDefinitions it owns are Established. It fails fast, with OLM's reason, when the
    Subscription reports C(ResolutionFailed), the InstallPlan fails, or the CSV fails.
    A CSV that OLM marks Failed with reason C(ComponentUnhealthy) (its Deployment rolling or
    recreated) is reinstalled by OLM on its own, so it is waited for up to 60 seconds; when the
    operator's pods crash or cannot pull their image it fails at once, naming the pod, container
    and reason (returned in C(pods)).
  - A changed O(channel) upgrades the operator to the head of the new channel.
  - Refuses, before writing anything, a channel or startingCSV the catalog does not have, a
    namespace with several OperatorGroups, an OperatorGroup whose targets differ from what is
    needed, and a second Subscription for the same package in the namespace.
  - O(state=absent) deletes the Subscription and the operator's ClusterServiceVersion. The
    OperatorGroup and the namespace are left in place (they may be shared).
author:
  - OpenShift AI model_serving maintainers (@openshift-ai)
extends_documentation_fragment:
  - openshift_ai.model_serving.connection
  - ansible.builtin.action_common_attributes
options:
  name:
    description: The package name (C(spec.name) of the Subscription), e.g. V(servicemeshoperator).
    type: str
    required: true
  namespace:
    description: Namespace the operator is installed into.
    type: str
    default: openshift-operators
  subscription_name:
    description:
      - Name of the Subscription. Defaults to O(name); the OpenShift AI operator looks for
        Subscriptions named after the package.
    type: str
  channel:
    description:
      - Update channel. Defaults to the channel of the existing Subscription, else the package's
        default channel in the catalog.
    type: str
  source:
    description: CatalogSource name. Defaults to the catalog of the package manifest, else V(redhat-operators).
    type: str
  source_namespace:
    description: Namespace of the CatalogSource.
    type: str
    default: openshift-marketplace
  starting_csv:
    description: The CSV to install first (C(spec.startingCSV)). With O(approval=Manual) it is the CSV that gets approved.
    type: str
  target_csv:
    description:
      - The CSV to upgrade an installed Subscription to, one step of the upgrade graph at a time.
        With O(approval=Manual) only an InstallPlan for exactly this CSV is approved, and the task
        waits until it is installed and Succeeded. C(spec.startingCSV) is left as it is.
      - It must be an entry of O(channel) in the catalog. Takes precedence over O(starting_csv)
        for what is approved and waited for.
    type: str
  approval:
    description: InstallPlan approval.
    type: str
    choices: [Automatic, Manual]
    default: Automatic
  target_namespaces:
    description:
      - Target namespaces of the OperatorGroup. V([]) means all namespaces.
      - When not set, an existing OperatorGroup is reused as it is (if the operator supports its
        install mode), and a new one targets all namespaces when the operator supports it, else
        its own namespace.
    type: list
    elements: str
  operator_group_name:
    description: Name of the OperatorGroup created when the namespace has none. Defaults to the namespace name.
    type: str
  config:
    description: C(spec.config) of the Subscription (env, nodeSelector, tolerations, resources).
    type: dict
  state:
    description: Whether the operator is installed.
    type: str
    choices: [present, absent]
    default: present
  wait:
    description:
      - Wait for the CSV to succeed and its CRDs to be established (V(present)), or for the CSV
        to be deleted (V(absent)).
      - Without waiting, a Manual InstallPlan that already exists is still approved.
    type: bool
    default: true
  timeout:
    description: Seconds to wait.
    type: int
    default: 600
attributes:
  check_mode:
    support: full
    details:
      - Nothing is written. RV(changes) lists what would be created, updated, approved or deleted.
  diff_mode:
    support: full
    details: The diff shows the Subscription fields that change and the OperatorGroup that would be created.
  idempotent:
    description: Running the task twice with the same options changes nothing the second time.
    support: full
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Install OpenShift Service Mesh 2 into openshift-operators (global OperatorGroup reused)
  openshift_ai.model_serving.olm_operator:
    name: servicemeshoperator
    channel: stable
    source: redhat-operators

- name: Install NFD in its own namespace, approving only the CSV we want
  openshift_ai.model_serving.olm_operator:
    name: nfd
    namespace: openshift-nfd
    target_namespaces: [openshift-nfd]
    channel: stable
    approval: Manual
    starting_csv: nfd.v4.16.0-202410251436

- name: One upgrade step with Manual approval - approve the InstallPlan for exactly this CSV, then wait
  openshift_ai.model_serving.olm_operator:
    name: serverless-operator
    namespace: openshift-serverless
    channel: stable
    approval: Manual
    target_csv: serverless-operator.v1.34.1

- name: Remove the operator
  openshift_ai.model_serving.olm_operator:
    name: authorino-operator
    state: absent
"""

RETURN = r"""
csv:
  description: The intended ClusterServiceVersion (installed when the module returns after waiting).
  returned: success
  type: str
  sample: servicemeshoperator.v2.6.4
installed_csv:
  description: C(status.installedCSV) of the Subscription.
  returned: state=present and not check mode
  type: str
version:
  description: C(spec.version) of the CSV.
  returned: state=present
  type: str
  sample: 2.6.4
phase:
  description: Phase of the CSV.
  returned: state=present
  type: str
  sample: Succeeded
install_plan:
  description: The InstallPlan the Subscription points at.
  returned: state=present
  type: str
crds:
  description: CustomResourceDefinitions owned by the CSV.
  returned: state=present
  type: list
  elements: str
subscription:
  description: Name of the Subscription.
  returned: success
  type: str
operator_group:
  description: Name of the OperatorGroup used or created.
  returned: state=present
  type: str
channel:
  description: The channel of the Subscription.
  returned: state=present
  type: str
approved_install_plans:
  description: InstallPlans this run approved.
  returned: success
  type: list
  elements: str
pods:
  description:
    - When the CSV failed with C(ComponentUnhealthy) because the operator's pods cannot run, each
      problem found (C(pod), C(namespace), C(node), C(container), C(reason), C(message)).
  returned: failure, CSV ComponentUnhealthy with failing operator pods
  type: list
  elements: dict
  sample: [{"pod": "nfd-controller-manager-5d9c7b-x2x7q", "namespace": "openshift-nfd", "node": "worker-0",
            "container": "manager", "reason": "CrashLoopBackOff", "message": "back-off 10s restarting failed container"}]
changes:
  description: What was (or, in check mode, would be) changed.
  returned: success
  type: list
  elements: str
  sample: ["create OperatorGroup openshift-nfd", "create Subscription nfd", "approve InstallPlan install-abcde for nfd.v4.16.0"]
removed:
  description: Objects deleted (state=absent).
  returned: state=absent
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._args import run_module, with_connection
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._client import Client
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._olm import OPERATOR_OPTIONS, OlmOperator


def argument_spec():
    return with_connection(
        dict(
            OPERATOR_OPTIONS,
            approval=dict(type="str", choices=["Automatic", "Manual"], default="Automatic"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            wait=dict(type="bool", default=True),
            timeout=dict(type="int", default=600),
        )
    )


def _run(module):
    result = OlmOperator(Client(module.params), module.params, check_mode=module.check_mode).run()
    diff = result.pop("diff")
    for warning in result.pop("warnings", []):
        module.warn(warning)
    if module._diff:
        result["diff"] = diff
    return result


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_module(module, _run)


if __name__ == "__main__":
    main()
