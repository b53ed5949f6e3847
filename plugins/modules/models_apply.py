#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: models_apply
short_description: Write the objects of many models on OpenShift AI single-model serving in one task
version_added: 0.1.0
description:
  - The write step of the R(model_deployment role,ansible_collections.openshift_ai.model_serving.model_deployment_role)
    (its entries are documented there), in one module run - reads the runtime Templates, the model server
    sizes, the namespaces, the InferenceServices and the metadata of the Secrets this collection created;
    decides; refuses before any write (naming each model and the reason); removes the models whose
    C(state) is C(absent) and the InferenceServices whose deployment mode changes when O(allow_recreate)
    (waiting until they are gone and naming the finalizers that block); then merges the projects'
    labels, the data connections, the ServingRuntimes, the InferenceServices and the token objects
    (ServiceAccount, Role, RoleBinding owned by the InferenceService, then the token Secrets), the
    objects of a stage concurrently (O(workers)).
  - Merge patches keep what others wrote; an object that already matches gets no request.
  - It does not wait for readiness; RV(waits) lists the projects worth waiting for (something was
    written there, or a model was not C(Ready) and C(Loaded) when read).
  - Secret values never appear in RV(results) or diffs; the S3 keys of the data connections are passed in
    O(credentials) (C(no_log)), not in O(models).
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
      - Writes and deletions are server-side dry runs (C(dryRun=All)); objects in a project that does not
        exist yet are listed in RV(pending) instead.
  diff_mode:
    support: full
    details:
      - Each changed entry of RV(results) has C(diff) with only the fields that differ; RV(diff) lists them.
  idempotent:
    description: Running the task twice with the same options changes nothing the second time.
    support: full
  platform:
    platforms: posix
  action_group:
    membership:
      - openshift_ai.model_serving.cluster
options:
  models:
    description:
      - The models (C(model_serving_models) entries without the S3 keys of their data connections).
    type: list
    elements: dict
    required: true
  credentials:
    description:
      - Per model (same index as O(models)), C(access_key_id) and C(secret_access_key) of its data
        connection, put back into C(storage.connection) by the module.
    type: list
    elements: dict
    default: []
  defaults:
    description:
      - Defaults of the entries - C(deployment_mode), C(external_route), C(token_auth).
    type: dict
    default: {}
  applications_namespace:
    description: OpenShift AI applications namespace (runtime Templates, OdhDashboardConfig).
    type: str
    default: redhat-ods-applications
  dashboard_config_name:
    description: Name of the OdhDashboardConfig (model server sizes).
    type: str
    default: odh-dashboard-config
  allow_recreate:
    description:
      - Delete and recreate an InferenceService whose deployment mode changes (else that is refused).
    type: bool
    default: false
  timeout:
    description:
      - Seconds to wait for a deleted InferenceService to be gone.
    type: int
    default: 900
  workers:
    description:
      - Requests in flight at once.
    type: int
    default: 8
  check_scope:
    description:
      - Which models RV(checks) lists for the inference check - V(changed) those of the projects where
        something was written and those that were not C(Ready) and C(Loaded) when read; V(all) every model
        (whose check is enabled).
    type: str
    choices: [changed, all]
    default: changed
"""

EXAMPLES = r"""
- name: Write two models
  openshift_ai.model_serving.models_apply:
    models:
      - name: granite
        project: models
        runtime: vllm-cuda-runtime
        model_format: vLLM
        size: Small
        storage:
          uri: oci://quay.io/example/granite:1
      - name: mnist
        project: models
        runtime: kserve-ovms
        model_format: onnx
        deployment_mode: RawDeployment
        storage:
          connection:
            name: models-s3
            endpoint: https://s3.example.com
            bucket: models
          path: mnist/
    credentials:
      - {}
      - access_key_id: "{{ vault_s3_key }}"
        secret_access_key: "{{ vault_s3_secret }}"
  register: applied
"""

RETURN = r"""
results:
  description:
    - One entry per object written - C(api_version), C(kind), C(name), C(namespace), C(changed), C(method)
      (C(none), C(patch), C(create)), C(diff) (in diff or check mode, when changed).
  returned: always
  type: list
  elements: dict
changed_count:
  description: How many objects were (or in check mode would be) written or deleted.
  returned: always
  type: int
removed:
  description: References (C(api_version), C(kind), C(name), C(namespace)) of the objects deleted.
  returned: always
  type: list
  elements: dict
removed_models:
  description: Names of the removed models whose InferenceService was deleted.
  returned: always
  type: list
  elements: str
recreated:
  description: Names of the models whose InferenceService was deleted to be recreated in another mode.
  returned: always
  type: list
  elements: str
notes:
  description: Remarks of the decision (a runtime named differently on this cluster, a recreation).
  returned: always
  type: list
  elements: str
pending:
  description: In check mode, the objects that would be created once their project exists.
  returned: always
  type: list
  elements: str
touched:
  description: Projects where something was (or would be) written or deleted.
  returned: always
  type: list
  elements: str
waits:
  description:
    - The readiness waits worth running (C(namespace), C(names), C(jmespath), C(failure), C(groups)), for
      M(openshift_ai.model_serving.resource_wait) and M(openshift_ai.model_serving.pods_verify).
  returned: always
  type: list
  elements: dict
checks:
  description:
    - The O(openshift_ai.model_serving.inference_check#module:models) entries of the models to call (see
      O(check_scope)) - C(name), C(namespace), C(token_secret) (token auth on) and the model's own check options.
  returned: always
  type: list
  elements: dict
models:
  description:
    - Per model C(name), C(project), C(runtime), C(deployment_mode), C(token_auth), C(tokens) (token Secret
      names), C(check), C(check_enabled), C(ready_at_read), C(url) (as read).
  returned: always
  type: list
  elements: dict
diff:
  description: The C(diff) of every changed entry, as a list for the diff callback.
  returned: in diff or check mode
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._args import run_module, with_connection
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._client import Client
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import InvalidInput
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._models_apply import apply
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._service import Service


def execute(module):
    params = module.params
    if params["workers"] < 1:
        raise InvalidInput("workers must be at least 1")
    if params["timeout"] < 1:
        raise InvalidInput("timeout must be a positive number of seconds")
    client = Client(params)
    service = Service(client, check_mode=module.check_mode)
    result = apply(client, service, params, module.check_mode, bool(module._diff or module.check_mode))
    # the entries are the play's own variable: not echoed back (50 models travel once, not twice)
    result["invocation"] = {"module_args": {"models_count": len(params["models"]), "workers": params["workers"],
                                            "allow_recreate": params["allow_recreate"]}}
    return result


def main():
    module = AnsibleModule(
        argument_spec=with_connection(dict(
            models=dict(type="list", elements="dict", required=True),
            credentials=dict(type="list", elements="dict", default=[], no_log=True),
            defaults=dict(type="dict", default={}),
            applications_namespace=dict(type="str", default="redhat-ods-applications"),
            dashboard_config_name=dict(type="str", default="odh-dashboard-config"),
            allow_recreate=dict(type="bool", default=False),
            timeout=dict(type="int", default=900),
            workers=dict(type="int", default=8),
            check_scope=dict(type="str", default="changed", choices=["changed", "all"]),
        )),
        supports_check_mode=True,
    )
    run_module(module, execute)


if __name__ == "__main__":
    main()
