#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: model_registry_plan
short_description: Check a list of model registries against the cluster and plan the objects to write
version_added: 0.1.0
description:
  - Reads, never writes. Validates the registries of seed 004 (resource names, database, CA choice,
    permissions) and fails naming the variable when one is wrong, before anything is written.
  - Reads the ModelRegistry API versions the cluster serves (V(v1beta1) with C(oauthProxy) when served,
    otherwise V(v1alpha1) with C(istio)), the DataScienceCluster, the DSCInitialization, the OpenShift AI
    version and the existing registries, and refuses a rename of an existing registry (a registry whose
    display name is requested under another resource name), a resource name used in another namespace,
    a change of the registries namespace, a CA ConfigMap or Secret that does not exist, and (OpenShift AI
    before 2.22) a DSCInitialization without Service Mesh Managed.
  - Returns, per registry, the ModelRegistry, password Secret (without its values) and CA ConfigMap
    bodies and the permission grants; for registries to delete, the database they used.
author:
  - OpenShift AI model_serving maintainers (@openshift-ai)
extends_documentation_fragment:
  - openshift_ai.model_serving.connection
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module is read-only; it behaves the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  registries:
    description: The registries, as the C(model_registry) role's O(registries) variable.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Name shown in the dashboard; also the resource name unless O(registries[].resource_name) is set.
        type: str
        required: true
      resource_name:
        description: Resource name of the ModelRegistry (seed 004 ch.2 step 4), fixed once created.
        type: str
      display_name:
        description: Dashboard name (default O(registries[].name)).
        type: str
      description:
        description: Description.
        type: str
      state:
        description: V(present) or V(absent) (the database is kept).
        type: str
        default: present
        choices: [present, absent]
      database:
        description: External MySQL database.
        type: dict
        suboptions:
          host:
            description: Host name; a bare service name with O(registries[].database.namespace).
            type: str
          namespace:
            description: Namespace of the database service when it is not the registries namespace.
            type: str
          port:
            description: Port.
            type: int
            default: 3306
          database:
            description: Database name.
            type: str
          username:
            description: User name.
            type: str
          password:
            description: Password, written to the registry's password Secret; never returned.
            type: str
          password_secret:
            description: An existing Secret with the password instead of O(registries[].database.password).
            type: str
          password_key:
            description: Key of the password in the Secret.
            type: str
            default: database-password
          skip_creation:
            description: Set C(skipDBCreation).
            type: bool
            default: false
      ca:
        description: CA certificate of the database (seed 004 ch.2 step 7).
        type: dict
        suboptions:
          source:
            description: Which CA.
            type: str
            default: none
            choices: [none, cluster, openshift_ai, configmap, secret, pem]
          name:
            description: ConfigMap or Secret name (V(configmap), V(secret)); ConfigMap to create for V(pem).
            type: str
          key:
            description: Key in that ConfigMap or Secret.
            type: str
          pem:
            description: PEM certificate(s) for V(pem).
            type: str
      permissions:
        description: Grants to add.
        type: dict
        suboptions:
          users:
            description: Users added to the group C(<name>-users).
            type: list
            elements: str
          groups:
            description: Groups bound to the registry's Role.
            type: list
            elements: str
          projects:
            description: Projects whose service accounts are bound to the registry's Role.
            type: list
            elements: str
      revoke:
        description: Grants to remove.
        type: dict
        suboptions:
          users:
            description: Users removed from the group C(<name>-users).
            type: list
            elements: str
          groups:
            description: Groups whose RoleBinding is removed.
            type: list
            elements: str
          projects:
            description: Projects whose RoleBinding is removed.
            type: list
            elements: str
  namespace:
    description: Registries namespace.
    type: str
    default: rhoai-model-registries
  dsc_name:
    description: DataScienceCluster name.
    type: str
    default: default-dsc
  dsci_name:
    description: DSCInitialization name.
    type: str
    default: default-dsci
  manage_component:
    description: Whether the caller enables the component (otherwise it must be Managed already).
    type: bool
    default: true
  api_version:
    description: ModelRegistry API version to use instead of the one chosen from the served versions.
    type: str
  permissions_only:
    description: Only the grants are planned; the database and CA of a registry are not required.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Plan the registries
  openshift_ai.model_serving.model_registry_plan:
    registries:
      - name: demo
        database: {host: mysql, port: 3306, database: demo, username: demo, password: "{{ vault_pw }}"}
  register: plan
"""

RETURN = r"""
api_version:
  description: ModelRegistry API version to write (null while the CRD is not served).
  returned: always
  type: str
served_versions:
  description: Versions the CRD serves.
  returned: always
  type: list
  elements: str
rhoai_version:
  description: OpenShift AI version from the DSCInitialization status.
  returned: always
  type: str
present:
  description: Registries to create or update with their object bodies and grants.
  returned: always
  type: list
  elements: dict
absent:
  description: Registries to delete, with the database they used (kept).
  returned: always
  type: list
  elements: dict
"""

import copy

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._args import run_module, with_connection
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._client import Client
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import InvalidInput
from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _registry

GRANTS = dict(type="dict", options=dict(users=dict(type="list", elements="str"), groups=dict(type="list", elements="str"),
                                        projects=dict(type="list", elements="str")))
REGISTRY = dict(
    name=dict(type="str", required=True),
    resource_name=dict(type="str"),
    display_name=dict(type="str"),
    description=dict(type="str"),
    state=dict(type="str", default="present", choices=["present", "absent"]),
    database=dict(type="dict", options=dict(
        host=dict(type="str"), namespace=dict(type="str"), port=dict(type="int", default=3306),
        database=dict(type="str"), username=dict(type="str"), password=dict(type="str", no_log=True),
        password_secret=dict(type="str", no_log=False), password_key=dict(type="str", default="database-password", no_log=False),
        skip_creation=dict(type="bool", default=False))),
    ca=dict(type="dict", options=dict(
        source=dict(type="str", default="none", choices=list(_registry.CA_SOURCES)), name=dict(type="str"),
        key=dict(type="str", no_log=False), pem=dict(type="str"))),
    permissions=copy.deepcopy(GRANTS),
    revoke=copy.deepcopy(GRANTS),
)


def _plain(regs):
    """The registries without unset options (so the checks see what the user wrote)."""
    def strip(v):
        if isinstance(v, dict):
            return dict((k, strip(x)) for k, x in v.items() if x is not None)
        if isinstance(v, list):
            return [strip(x) for x in v]
        return v
    return [strip(r) for r in regs or []]


def run(module):
    p = module.params
    regs = _plain(p["registries"])
    errors = _registry.validate(regs, p["namespace"], var="model_registry_registries",
                                permissions_only=p["permissions_only"])
    if errors:
        raise InvalidInput("Refused before any write: " + "; ".join(errors), errors=errors)
    client = Client(p)
    cluster = _registry.read_cluster(client, p["namespace"], p["dsc_name"], p["dsci_name"])
    if p["api_version"]:
        cluster["api_version"] = p["api_version"]
    refused = _registry.refusals(regs, p["namespace"], cluster["existing"], cluster["dsc"], cluster["dsci"],
                                 cluster["rhoai_version"], p["manage_component"])
    refused += _registry.missing_references(client, regs, p["namespace"])
    if refused:
        raise InvalidInput("Refused before any write: " + "; ".join(refused), errors=refused)
    out = _registry.plan(regs, p["namespace"], cluster)
    return dict(changed=False, api_version=cluster["api_version"], served_versions=cluster["served_versions"],
                rhoai_version=cluster["rhoai_version"], present=out["present"], absent=out["absent"])


def main():
    spec = with_connection(dict(
        registries=dict(type="list", elements="dict", default=[], options=REGISTRY),
        namespace=dict(type="str", default=_registry.DEFAULT_NAMESPACE),
        dsc_name=dict(type="str", default="default-dsc"),
        dsci_name=dict(type="str", default="default-dsci"),
        manage_component=dict(type="bool", default=True),
        api_version=dict(type="str"),
        permissions_only=dict(type="bool", default=False),
    ))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    run_module(module, run)


if __name__ == "__main__":
    main()
