#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: olm_operators
short_description: Install several operators through OLM in one task
version_added: 0.1.0
description:
  - Does for each entry of O(operators), one after the other and in the order given, what
    M(openshift_ai.model_serving.olm_operator) does for one operator (namespace, OperatorGroup,
    Subscription, approval of the intended InstallPlan, watch-based wait for the CSV and its CRDs,
    fail fast on C(ResolutionFailed), a failed InstallPlan or a failed CSV), in one module process;
    a rerun on installed operators costs one task, not one per operator.
  - The first operator that fails stops the task; its message names the operator, and RV(results)
    lists the operators handled before it.
author:
  - OpenShift AI model_serving maintainers (@openshift-ai)
extends_documentation_fragment:
  - openshift_ai.model_serving.connection
  - ansible.builtin.action_common_attributes
options:
  operators:
    description: The operators, each with the options of M(openshift_ai.model_serving.olm_operator) that name one operator.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The package name (C(spec.name) of the Subscription).
        type: str
        required: true
      namespace:
        description: Namespace the operator is installed into.
        type: str
        default: openshift-operators
      subscription_name:
        description: Name of the Subscription; defaults to O(operators[].name).
        type: str
      channel:
        description: Update channel; defaults to the existing Subscription's, else the package's default channel.
        type: str
      source:
        description: CatalogSource name; defaults to the catalog of the package manifest.
        type: str
      source_namespace:
        description: Namespace of the CatalogSource.
        type: str
        default: openshift-marketplace
      starting_csv:
        description: The CSV to install first (C(spec.startingCSV)).
        type: str
      target_csv:
        description: The CSV to upgrade an installed Subscription to (one step of the upgrade graph).
        type: str
      approval:
        description: InstallPlan approval; defaults to O(approval).
        type: str
        choices: [Automatic, Manual]
      target_namespaces:
        description: Target namespaces of the OperatorGroup (V([]) all namespaces); unset reuses an existing one.
        type: list
        elements: str
      operator_group_name:
        description: Name of an OperatorGroup created when the namespace has none.
        type: str
      config:
        description: C(spec.config) of the Subscription.
        type: dict
  approval:
    description: InstallPlan approval of the operators that do not set their own.
    type: str
    choices: [Automatic, Manual]
    default: Automatic
  state:
    description: Whether the operators are installed.
    type: str
    choices: [present, absent]
    default: present
  wait:
    description: Wait for each CSV to succeed and its CRDs to be established (V(present)) or for it to be deleted (V(absent)).
    type: bool
    default: true
  timeout:
    description: Seconds to wait, for each operator.
    type: int
    default: 600
attributes:
  check_mode:
    support: full
    details:
      - Nothing is written. Each entry of RV(results) lists in C(changes) what would be created, updated, approved or deleted.
  diff_mode:
    support: full
    details: The diff of each operator, as M(openshift_ai.model_serving.olm_operator) shows it, in one list.
  idempotent:
    description: Running the task twice with the same options changes nothing the second time.
    support: full
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Install the Service Mesh, Serverless and Authorino operators
  openshift_ai.model_serving.olm_operators:
    operators:
      - name: servicemeshoperator
        channel: stable
        source: redhat-operators
      - name: serverless-operator
        namespace: openshift-serverless
        channel: stable
        source: redhat-operators
        target_namespaces: []
      - name: authorino-operator
        channel: stable
        source: redhat-operators
"""

RETURN = r"""
results:
  description:
    - One entry per operator, in the order given, with C(name) and what
      M(openshift_ai.model_serving.olm_operator) returns (C(csv), C(version), C(phase), C(subscription),
      C(channel), C(approved_install_plans), C(changes), C(changed)).
  returned: always
  type: list
  elements: dict
diff:
  description: The diff of every operator that changed, as a list for the diff callback.
  returned: in diff mode
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._args import run_module, with_connection
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._client import Client
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import ModelServingError
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._olm import OPERATOR_OPTIONS, OlmOperator


def argument_spec():
    return with_connection(
        dict(
            operators=dict(type="list", elements="dict", required=True, options=OPERATOR_OPTIONS),
            approval=dict(type="str", choices=["Automatic", "Manual"], default="Automatic"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            wait=dict(type="bool", default=True),
            timeout=dict(type="int", default=600),
        )
    )


def operator_params(params, entry):
    """The olm_operator parameters of one entry: its own options, the task's approval when it
    sets none, and the task's state, wait and timeout."""
    merged = dict(entry)
    merged["approval"] = entry.get("approval") or params["approval"]
    for key in ("state", "wait", "timeout"):
        merged[key] = params[key]
    return merged


def _run(module):
    client = Client(module.params)
    results, diffs, warnings = [], [], []
    for entry in module.params["operators"]:
        try:
            result = OlmOperator(client, operator_params(module.params, entry), check_mode=module.check_mode).run()
        except ModelServingError as e:
            raise ModelServingError("operator %s: %s" % (entry["name"], e.msg), **dict(e.details, results=results))
        diff = result.pop("diff")
        warnings.extend("operator %s: %s" % (entry["name"], w) for w in result.pop("warnings", []))
        if result.get("changed"):
            diffs.append(diff)
        results.append(dict(result, name=entry["name"]))
    for warning in warnings:
        module.warn(warning)
    out = {"changed": any(r.get("changed") for r in results), "results": results}
    if module._diff:
        out["diff"] = diffs
    return out


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_module(module, _run)


if __name__ == "__main__":
    main()
