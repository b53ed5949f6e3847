#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: resource_patch
short_description: Patch a Kubernetes object idempotently, merging keyed lists
version_added: 0.1.0
description:
  - Merges O(patch) into an existing object with JSON merge semantics, except that the lists named
    in O(list_merge_keys) are merged entry by entry on a key field, so adding an entry keeps the
    entries already there (for example the Service Mesh control plane
    C(spec.techPreview.meshConfig.extensionProviders), keyed by C(name)).
  - The merge is computed against a fresh read of the object. When the result equals the live
    object no request is sent, so the object's C(resourceVersion) does not move.
  - Otherwise a JSON merge patch is sent that carries the live C(metadata.resourceVersion); if
    another writer changed the object in between, the API server answers 409 and the module
    re-reads and merges again (up to 5 times).
  - Labels, annotations and every field the patch does not mention are kept.
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
      - The write is sent as a server-side dry run (C(dryRun=All)), so admission and defaulting
        are applied and nothing is stored. RV(result) is the object the server predicts.
      - With O(create=true), an object the server cannot dry-run yet because its kind is not served
        (its operator or CRD is installed by an earlier task) or its namespace does not exist (an
        earlier task creates it) is reported as a creation instead of an error - C(changed=true),
        RV(method=create), RV(deferred) giving the reason, RV(result) and the diff C(after) the object
        built from O(patch) (without server defaults), the diff C(before) empty.
  diff_mode:
    support: full
    details:
      - RV(diff) holds only the fields that differ between the live object and the result.
  idempotent:
    description: Running the task twice with the same options changes nothing the second time.
    support: full
  platform:
    platforms: posix
  action_group:
    membership:
      - openshift_ai.model_serving.cluster
options:
  api_version:
    description:
      - API version of the object, for example C(v1) or C(maistra.io/v2).
    type: str
    default: v1
  kind:
    description:
      - Kind of the object, for example C(ServiceMeshControlPlane).
    type: str
    required: true
  name:
    description:
      - Name of the object.
    type: str
    required: true
  namespace:
    description:
      - Namespace of the object. Required for namespaced kinds; ignored for cluster-scoped kinds.
    type: str
  patch:
    description:
      - Fields to merge into the object. Mappings merge recursively; a V(null) value removes the key.
      - Lists replace the live list, unless their path is in O(list_merge_keys).
    type: dict
    default: {}
  list_merge_keys:
    description:
      - Lists to merge entry by entry. Maps the dotted path of a list (from the object root) to the
        field that identifies an entry, for example C(spec.techPreview.meshConfig.extensionProviders)
        to C(name).
      - An entry of the patch whose key matches a live entry is merged into it; other entries are
        appended; live entries the patch does not mention are kept in place.
      - Escape a dot that belongs to a key with a backslash. A dotted key field names a nested field
        of the entry, for example C(port.name) for the C(servers) of an Istio Gateway.
      - The key field C(.) means a list of scalars (for example names) merged as a set, values
        of the patch that are missing are appended and the others are kept.
    type: dict
    default: {}
  remove_entries:
    description:
      - Entries to remove from keyed lists. Maps a dotted path that is also in O(list_merge_keys)
        to the key values of the entries to remove (for a C(.) list, the values themselves).
        Removing an absent entry changes nothing.
    type: dict
    default: {}
  replace_maps:
    description:
      - Dotted paths (from the object root) of mappings that O(patch) gives as a whole, such as a
        selector - live keys that the patch does not have are removed there, so a changed selector
        never ends up as the union of the old and the new keys.
      - Elsewhere mappings merge key by key and keep what others wrote.
    type: list
    elements: str
    default: []
  create:
    description:
      - Create the object from O(patch) (plus O(api_version), O(kind), O(name), O(namespace))
        when it does not exist. Without it a missing object is an error.
    type: bool
    default: false
  provided_by:
    description:
      - Who creates the object when it does not exist yet, for example C(the Authorino operator) or
        C(the service_mesh role).
      - In check mode a missing object (or a kind not served yet) is then reported as a change
        instead of an error - C(changed=true), RV(method=patch), RV(deferred) naming who provides
        it, RV(result) the patch as the object - because an earlier task of the same run would
        install what creates it. Outside check mode a missing object is still an error (wait for it
        first with M(openshift_ai.model_serving.resource_wait)).
    type: str
notes:
  - The error for a kind the cluster does not serve names the kind (its operator or CRD is
    probably not installed yet); the error for a missing object names the object.
  - Secret C(data) and C(stringData) values are never returned; they are replaced by a placeholder.
seealso:
  - module: openshift_ai.model_serving.resource_wait
  - module: kubernetes.core.k8s_json_patch
"""

EXAMPLES = r"""
- name: Add Authorino as an extension provider, keeping the other providers
  openshift_ai.model_serving.resource_patch:
    api_version: maistra.io/v2
    kind: ServiceMeshControlPlane
    name: data-science-smcp
    namespace: istio-system
    list_merge_keys:
      spec.techPreview.meshConfig.extensionProviders: name
    patch:
      spec:
        techPreview:
          meshConfig:
            extensionProviders:
              - name: redhat-ods-applications-auth-provider
                envoyExtAuthzGrpc:
                  service: authorino-authorino-authorization.redhat-ods-applications-auth-provider.svc.cluster.local
                  port: 50051

- name: Remove an extension provider by name
  openshift_ai.model_serving.resource_patch:
    api_version: maistra.io/v2
    kind: ServiceMeshControlPlane
    name: data-science-smcp
    namespace: istio-system
    list_merge_keys:
      spec.techPreview.meshConfig.extensionProviders: name
    remove_entries:
      spec.techPreview.meshConfig.extensionProviders:
        - old-provider

- name: Hide one dashboard runtime template, show another, keep the other entries
  openshift_ai.model_serving.resource_patch:
    api_version: opendatahub.io/v1alpha
    kind: OdhDashboardConfig
    name: odh-dashboard-config
    namespace: redhat-ods-applications
    list_merge_keys:
      spec.templateDisablement: "."
    patch:
      spec:
        templateDisablement:
          - ovms
    remove_entries:
      spec.templateDisablement:
        - vllm-cuda-runtime

- name: Set a ConfigMap key, creating the ConfigMap when absent
  openshift_ai.model_serving.resource_patch:
    kind: ConfigMap
    name: inferenceservice-config
    namespace: redhat-ods-applications
    create: true
    patch:
      data:
        deploy: '{"defaultDeploymentMode": "Serverless"}'
"""

RETURN = r"""
result:
  description:
    - The object after the patch (in check mode, as the server predicts it). Unchanged objects are
      returned as read.
  returned: success
  type: dict
  sample: {"apiVersion": "maistra.io/v2", "kind": "ServiceMeshControlPlane", "metadata": {"name": "data-science-smcp"}}
deferred:
  description:
    - Check mode only - why the creation is predicted from O(patch) instead of dry-run by the server
      (the kind is not served yet, or the namespace does not exist yet).
  returned: when check mode predicts a creation the server cannot dry-run
  type: str
  sample: kind maistra.io/v2 ServiceMeshControlPlane is not served yet
method:
  description: What was sent to the API server.
  returned: success
  type: str
  sample: patch
  choices: [none, patch, create]
diff:
  description:
    - The fields that differ between the live object and RV(result). Returned in diff mode and in
      check mode.
  returned: when diff or check mode is on
  type: dict
  contains:
    before:
      description: Differing fields as they were.
      type: dict
      returned: always
    after:
      description: Differing fields as they are (or would be).
      type: dict
      returned: always
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._args import run_module, with_connection
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._client import Client
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import InvalidInput
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._data import redact
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._service import Service


def argspec():
    return with_connection(
        dict(
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
        )
    )


def execute(module):
    params = module.params
    for path, values in params["remove_entries"].items():
        if not isinstance(values, list):
            raise InvalidInput("remove_entries.%s must be a list of key values" % path)
    service = Service(Client(params), check_mode=module.check_mode)
    outcome = service.patch(
        params["api_version"],
        params["kind"],
        params["name"],
        namespace=params["namespace"],
        patch=params["patch"],
        list_merge_keys=params["list_merge_keys"],
        remove_entries=params["remove_entries"],
        replace_maps=params["replace_maps"],
        create=params["create"],
        provided_by=params["provided_by"],
    )
    result = dict(changed=outcome.changed, result=redact(outcome.after), method=outcome.method)
    if outcome.deferred:
        result["deferred"] = outcome.deferred
    if module._diff or module.check_mode:
        result["diff"] = outcome.diff()
    return result


def main():
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    run_module(module, execute)


if __name__ == "__main__":
    main()
