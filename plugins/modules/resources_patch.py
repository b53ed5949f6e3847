#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: resources_patch
short_description: Patch many Kubernetes objects idempotently in one task
version_added: 0.1.0
description:
  - Does what M(openshift_ai.model_serving.resource_patch) does for every entry of O(resources), in one
    module run with one connection and several requests in flight (O(workers)), so that hundreds of
    objects (for example the objects of 50 models) cost one task instead of hundreds.
  - Each entry is merged into a fresh read of its object; an entry whose merge equals the live object
    sends no write. Entries of one O(resources[].stage) are independent and written concurrently; the
    stages run in ascending order (a namespace in stage 0 before its objects in stage 1). When an entry of
    a stage fails, the later stages are not attempted.
  - Every entry is attempted; the module fails after the others are done when one fails, naming each
    failed object and the API server's message.
  - Secret C(data)/C(stringData) values never appear in RV(results) or diffs; mark the task C(no_log)
    when the entries carry Secret values, since Ansible shows module arguments at high verbosity.
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
      - Writes are server-side dry runs (C(dryRun=All)); RV(results) hold what the server predicts.
      - An entry with O(resources[].create=true) whose kind is not served yet or whose namespace does not
        exist yet (an earlier task or stage provides it) is reported as a creation built from its patch,
        with C(deferred) giving the reason, instead of an error; so is an entry whose owner is reported so.
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
  resources:
    description:
      - The objects, each with the options of M(openshift_ai.model_serving.resource_patch).
    type: list
    elements: dict
    required: true
    suboptions:
      api_version:
        description: API version of the object.
        type: str
        default: v1
      kind:
        description: Kind of the object.
        type: str
        required: true
      name:
        description: Name of the object.
        type: str
        required: true
      namespace:
        description: Namespace of the object (namespaced kinds).
        type: str
      patch:
        description: What to merge into the object (JSON merge semantics; C(null) deletes a key).
        type: dict
        default: {}
      list_merge_keys:
        description: Dotted path of a list -> key field its entries are merged on.
        type: dict
        default: {}
      remove_entries:
        description: Dotted path (also in O(resources[].list_merge_keys)) -> key values to remove.
        type: dict
        default: {}
      replace_maps:
        description: Dotted paths of mappings that the patch gives as a whole (live keys it lacks are removed).
        type: list
        elements: str
        default: []
      create:
        description: Create the object from O(resources[].patch) when it does not exist.
        type: bool
        default: false
      provided_by:
        description:
          - Who creates the object when it does not exist yet (an operator, an earlier task), as
            M(openshift_ai.model_serving.resource_patch)'s O(openshift_ai.model_serving.resource_patch#module:provided_by).
        type: str
      if_missing:
        description:
          - What to do when the object does not exist (or its kind is not served) and
            O(resources[].create=false).
          - V(fail) fails the entry. V(skip) writes nothing and reports the entry with C(missing=true), for an
            object that another component creates later (the caller then waits for it and patches it).
        type: str
        choices: [fail, skip]
        default: fail
      stage:
        description:
          - Order of the writes; entries of a lower stage are all written before any of a higher stage.
        type: int
        default: 0
      owner:
        description:
          - An object in the same namespace that owns this one (garbage collection deletes this one with it).
            C(metadata.ownerReferences) of the patch becomes a reference to it, with its C(uid) as written by
            an earlier stage of this task or else as read from the cluster.
          - In check mode an owner that would be created has the uid of its server-side dry run.
        type: dict
        suboptions:
          api_version:
            description: API version of the owner.
            type: str
            required: true
          kind:
            description: Kind of the owner.
            type: str
            required: true
          name:
            description: Name of the owner.
            type: str
            required: true
  workers:
    description:
      - Requests in flight at once.
    type: int
    default: 8
  return_objects:
    description:
      - Return each object after the write in RV(results) (C(result)); V(false) returns only
        C(metadata.uid) and C(metadata.resourceVersion) (smaller results for many objects), and the
        result's C(invocation) does not repeat the entries (only their count), so that hundreds of objects
        do not travel back through Ansible.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Label two projects and create a ServiceAccount in each
  openshift_ai.model_serving.resources_patch:
    resources:
      - kind: Namespace
        name: models-a
        patch: {metadata: {labels: {opendatahub.io/dashboard: "true"}}}
        create: true
      - kind: Namespace
        name: models-b
        patch: {metadata: {labels: {opendatahub.io/dashboard: "true"}}}
        create: true
"""

RETURN = r"""
results:
  description:
    - One entry per resource, in the order given - C(api_version), C(kind), C(name), C(namespace),
      C(changed), C(method) (C(none), C(patch), C(create)), C(result) (the object after, redacted),
      C(diff) (in diff or check mode), C(deferred) (check mode, a creation predicted from the patch, see
      the check mode attribute), C(missing) (an entry with O(resources[].if_missing=skip) whose object does not
      exist; nothing was written) and, for a failed entry, C(failed) and C(msg).
  returned: always
  type: list
  elements: dict
changed_count:
  description: How many objects were (or in check mode would be) changed.
  returned: always
  type: int
diff:
  description: The C(diff) of every changed entry, as a list for the diff callback.
  returned: in diff or check mode
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._args import run_module, with_connection
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._batch import patch_staged
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._client import Client
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import InvalidInput
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._service import Service

ENTRY_OPTIONS = dict(
    api_version=dict(type="str", default="v1"),
    kind=dict(type="str", required=True),
    name=dict(type="str", required=True),
    namespace=dict(type="str"),
    patch=dict(type="dict", default={}),
    list_merge_keys=dict(type="dict", default={}, no_log=False),
    remove_entries=dict(type="dict", default={}),
    replace_maps=dict(type="list", elements="str", default=[]),
    create=dict(type="bool", default=False),
    provided_by=dict(type="str"),
    if_missing=dict(type="str", default="fail", choices=["fail", "skip"]),
    stage=dict(type="int", default=0),
    owner=dict(type="dict", options=dict(
        api_version=dict(type="str", required=True),
        kind=dict(type="str", required=True),
        name=dict(type="str", required=True),
    )),
)


def argspec():
    return with_connection(
        dict(
            resources=dict(type="list", elements="dict", required=True, options=ENTRY_OPTIONS),
            workers=dict(type="int", default=8),
            return_objects=dict(type="bool", default=True),
        )
    )


def execute(module):
    params = module.params
    entries = params["resources"]
    for entry in entries:
        for path, values in (entry.get("remove_entries") or {}).items():
            if not isinstance(values, list):
                raise InvalidInput("remove_entries.%s of %s %s must be a list of key values" % (
                    path, entry["kind"], entry["name"]))
    if params["workers"] < 1:
        raise InvalidInput("workers must be at least 1")
    client = Client(params)
    service = Service(client, check_mode=module.check_mode)
    want_diff = bool(module._diff or module.check_mode)
    results = patch_staged(client, service, entries, params["workers"], want_diff, params["return_objects"])
    changed_count = len([r for r in results if r.get("changed")])
    result = dict(changed=changed_count > 0, changed_count=changed_count, results=results)
    if not params["return_objects"]:
        result["invocation"] = {"module_args": {"resources_count": len(entries), "workers": params["workers"],
                                                "return_objects": False}}
    if want_diff:
        result["diff"] = [r["diff"] for r in results if r.get("diff")]
    failed = [r for r in results if r.get("failed")]
    if failed:
        names = ["%s %s%s: %s" % (r["kind"], (r["namespace"] + "/") if r.get("namespace") else "", r["name"], r["msg"])
                 for r in failed]
        module.fail_json(msg="; ".join(names), **result)
    return result


def main():
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    run_module(module, execute)


if __name__ == "__main__":
    main()
