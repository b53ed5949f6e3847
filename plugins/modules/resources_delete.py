#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: resources_delete
short_description: Delete the Kubernetes objects this collection wrote and wait until they are gone
version_added: 0.1.0
description:
  - Deletes the objects selected by O(resources), by default only those this collection wrote
    (label C(app.kubernetes.io/managed-by=openshift_ai.model_serving) or a C(metadata.managedFields)
    entry of the field manager C(openshift-ai-model-serving) every write of the collection uses).
    The others are returned in RV(kept) with the reason.
  - Then watches until every deleted object is gone. On timeout it fails naming each object left
    and the finalizers that hold it (RV(blocked)), never after a fixed pause.
  - With O(installed_csv), the ClusterServiceVersion named by the C(status.installedCSV) of each
    deleted Subscription is deleted after the Subscription is gone, in the Subscription's
    namespace only; the copies OLM puts in other namespaces (reason C(Copied)) are left to OLM.
  - With O(owned_crds), the CustomResourceDefinitions those CSVs own are deleted last.
  - O(remove_entries) removes named entries from a list field of an object (for example an
    extension provider of a ServiceMeshControlPlane) and keeps the other entries.
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
      - Lists what would be deleted (RV(deleted)); deletes and patches are sent as server dry runs,
        so nothing is deleted and nothing is waited for.
  diff_mode:
    support: none
  idempotent:
    description: A second run finds nothing left and reports C(changed=false).
    support: full
  platform:
    platforms: posix
  action_group:
    membership:
      - openshift_ai.model_serving.cluster
options:
  resources:
    description:
      - Selectors of the objects to delete, all deleted together, then waited for.
    type: list
    elements: dict
    default: []
    suboptions:
      api_version:
        description: API version of the objects.
        type: str
        default: v1
      kind:
        description: Kind of the objects. A kind the cluster does not serve has no objects to delete.
        type: str
        required: true
      name:
        description: Name of the object. Without it, every object matching O(resources[].label_selector) in the namespace.
        type: str
      namespace:
        description: Namespace of the objects; without it, all namespaces. Ignored for cluster-scoped kinds.
        type: str
      label_selector:
        description: Label selector of the objects.
        type: str
      ownership:
        description:
          - V(collection) deletes only objects this collection wrote (label or field manager).
          - V(any) deletes every selected object, for objects the operators generated for the install.
        type: str
        default: collection
        choices: [collection, any]
      annotations:
        description:
          - Annotations an object must carry, with these values, to be deleted (for example the
            certificate source V(generated), so that a certificate the user provided is kept).
        type: dict
      name_suffixes:
        description:
          - Only objects whose name ends with one of these, for example C(.serving.kserve.io) for the
            CRDs of an API group.
        type: list
        elements: str
      step:
        description:
          - Steps run in ascending order; the objects of one step are deleted together and are
            gone before the next step starts.
        type: int
        default: 0
      patch_before:
        description:
          - A JSON merge patch sent to each selected object just before its delete (for example
            the components of a DataScienceCluster set to C(Removed)).
        type: dict
      unless_holding:
        description:
          - For Namespaces, kinds (C(v1/PersistentVolumeClaim), C(apiVersion/Kind)) whose objects
            keep the namespace (user data); it is then listed in RV(kept).
        type: list
        elements: str
      keep_annotations:
        description:
          - Annotation keys that keep an object; for example C(opendatahub.io/connection-type) keeps
            data connection Secrets.
        type: list
        elements: str
      propagation_policy:
        description:
          - Propagation policy of these objects' deletes; without it, O(propagation_policy).
          - V(Foreground) keeps each object until the objects it owns are gone, so that the wait
            covers them too (a model's Knative revision, Deployment and pods in a project that is kept).
        type: str
        choices: [Background, Foreground, Orphan]
  installed_csv:
    description:
      - After a deleted Subscription is gone, delete the CSV its C(status.installedCSV) names.
    type: bool
    default: true
  owned_crds:
    description:
      - After those CSVs are gone, delete the CustomResourceDefinitions they own. Removes every
        custom resource of those kinds in the cluster.
    type: bool
    default: false
  remove_entries:
    description:
      - List entries to remove from an object before the deletions; the other entries stay.
    type: list
    elements: dict
    default: []
    suboptions:
      api_version:
        description: API version of the object.
        type: str
        required: true
      kind:
        description: Kind of the object.
        type: str
        required: true
      name:
        description: Name of the object.
        type: str
        required: true
      namespace:
        description: Namespace of the object.
        type: str
      path:
        description: Dotted path of the list, for example C(spec.meshConfig.extensionProviders).
        type: str
        required: true
      key:
        description: Field of the entries that names them.
        type: str
        default: name
      values:
        description: Names of the entries to remove.
        type: list
        elements: str
        required: true
      step:
        description: The step (see O(resources[].step)) at whose start the entries are removed.
        type: int
        default: 0
  propagation_policy:
    description: Propagation policy of the deletes.
    type: str
    default: Background
    choices: [Background, Foreground, Orphan]
  wait:
    description: Wait until the deleted objects are gone.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for each group of deletions (per step, objects, then CSVs, then CRDs).
    type: int
    default: 300
seealso:
  - module: openshift_ai.model_serving.resource_patch
  - module: openshift_ai.model_serving.resource_wait
"""

EXAMPLES = r"""
- name: Delete the InferenceServices and ServingRuntimes the collection created in a project
  openshift_ai.model_serving.resources_delete:
    resources:
      - api_version: serving.kserve.io/v1beta1
        kind: InferenceService
        namespace: models
        label_selector: app.kubernetes.io/managed-by=openshift_ai.model_serving
      - api_version: serving.kserve.io/v1alpha1
        kind: ServingRuntime
        namespace: models
        label_selector: app.kubernetes.io/managed-by=openshift_ai.model_serving
    timeout: 600

- name: Remove the Authorino extension provider and keep the others
  openshift_ai.model_serving.resources_delete:
    remove_entries:
      - api_version: maistra.io/v2
        kind: ServiceMeshControlPlane
        name: data-science-smcp
        namespace: istio-system
        path: spec.meshConfig.extensionProviders
        values: [redhat-ods-applications-auth-provider]

- name: Remove an operator - Subscription, then the CSV it installed
  openshift_ai.model_serving.resources_delete:
    resources:
      - api_version: operators.coreos.com/v1alpha1
        kind: Subscription
        name: serverless-operator
        namespace: openshift-serverless
    installed_csv: true
"""

RETURN = r"""
deleted:
  description: The objects deleted (in check mode, that would be deleted), CSVs and CRDs included.
  returned: always
  type: list
  elements: dict
  sample: [{"api_version": "operators.coreos.com/v1alpha1", "kind": "Subscription", "name": "rhods-operator",
            "namespace": "redhat-ods-operator"}]
kept:
  description:
    - Objects selected by name or label selector but left alone, each with the reason (not written by this
      collection, an annotation that keeps it, a namespace holding user data).
  returned: always
  type: list
  elements: dict
entries_removed:
  description: The list entries removed, per object (path and removed names).
  returned: always
  type: list
  elements: dict
steps:
  description: Per step, its number, what it deleted and the seconds it took.
  returned: always
  type: list
  elements: dict
blocked:
  description: On timeout, the objects still present, their finalizers and a message.
  returned: failure
  type: list
  elements: dict
elapsed:
  description: Seconds spent (monotonic clock).
  returned: always
  type: float
message:
  description: What was (or would be) deleted.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._args import run_module, with_connection
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._client import Client
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import InvalidInput
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._uninstall import run


def argspec():
    return with_connection(dict(
        resources=dict(type="list", elements="dict", default=[], options=dict(
            api_version=dict(type="str", default="v1"),
            kind=dict(type="str", required=True),
            name=dict(type="str"),
            namespace=dict(type="str"),
            label_selector=dict(type="str"),
            ownership=dict(type="str", default="collection", choices=["collection", "any"]),
            annotations=dict(type="dict"),
            keep_annotations=dict(type="list", elements="str"),
            name_suffixes=dict(type="list", elements="str"),
            step=dict(type="int", default=0),
            patch_before=dict(type="dict"),
            unless_holding=dict(type="list", elements="str"),
            propagation_policy=dict(type="str", choices=["Background", "Foreground", "Orphan"]),
        )),
        installed_csv=dict(type="bool", default=True),
        owned_crds=dict(type="bool", default=False),
        remove_entries=dict(type="list", elements="dict", default=[], options=dict(
            api_version=dict(type="str", required=True),
            kind=dict(type="str", required=True),
            name=dict(type="str", required=True),
            namespace=dict(type="str"),
            path=dict(type="str", required=True),
            key=dict(type="str", default="name", no_log=False),
            values=dict(type="list", elements="str", required=True),
            step=dict(type="int", default=0),
        )),
        propagation_policy=dict(type="str", default="Background", choices=["Background", "Foreground", "Orphan"]),
        wait=dict(type="bool", default=True),
        timeout=dict(type="int", default=300),
    ))


def execute(module):
    if module.params["timeout"] < 0:
        raise InvalidInput("timeout must not be negative")
    return run(Client(module.params), module.params, module.check_mode)


def main():
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    run_module(module, execute)


if __name__ == "__main__":
    main()
