#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: platform_info
short_description: Facts about an OpenShift cluster for installing OpenShift AI model serving
version_added: 0.1.0
description:
  - Reads, never writes. Reports the ingress domain, the platform type (and whether it is ROSA), the
    OpenShift version, the installed operators (ClusterServiceVersions) and their versions, the
    existing ServiceMeshControlPlanes, KnativeServings, DSCInitialization and DataScienceCluster
    with their management states, and the GPU nodes.
  - Decides which KServe install path the cluster allows (seed 000 §3.1.2 and §3.2).
    V(automated) only when no ServiceMeshControlPlane or KnativeServing exists, except ones the
    OpenShift AI operator created itself (those carry an ownerReference to one of its
    FeatureTrackers). Otherwise, or when the DSCInitialization or DataScienceCluster is already set
    to Unmanaged, V(manual). The reasons are returned with the decision.
  - Decides which KServe deployment mode (platform) the cluster runs and whether a request for
    O(deployment_mode) is refused (RV(platform.deployment_mode)). V(Serverless) runs when the
    OpenShift AI operator manages a control plane or KnativeServing, or the DataScienceCluster has
    kserve Managed with serving Managed or Unmanaged; V(RawDeployment) runs when it has kserve
    Managed, serving Removed and the RawDeployment mode. A request for the other mode is refused,
    because switching would leave a half-state.
  - For O(deployment_mode=RawDeployment) the install path ignores existing control planes and
    KnativeServings, because the operator needs neither (with serving Removed it skips their preconditions).
  - A kind that the cluster does not serve (its operator is not installed) counts as none present.
author:
  - OpenShift AI model_serving maintainers (@openshift-ai)
extends_documentation_fragment:
  - openshift_ai.model_serving.connection
  - ansible.builtin.action_common_attributes
options:
  deployment_mode:
    description:
      - The KServe deployment mode the caller is about to install. It selects RV(platform.install_path)
        and RV(platform.deployment_mode.refusals). Unset means V(Serverless) for the install path and
        no request for the refusals (both modes are in RV(platform.deployment_mode.refusals_by_mode)).
    type: str
    choices: [Serverless, RawDeployment]
  node_minimum:
    description:
      - Allocatable CPU and memory that at least one schedulable node must have (seed 000 §3.2 and
        §3.3 prerequisites, 4 CPUs and 16 GB). Sets RV(platform.node_capacity.ok) and its message.
        Unset means the nodes are only reported. The module never fails on it (it warns); the caller decides.
    type: dict
    suboptions:
      cpu:
        description: CPU cores, as a Kubernetes quantity (V(4), V(3500m)).
        type: str
        required: true
      memory:
        description: Memory, as a Kubernetes quantity (V(16Gi), V(15G)).
        type: str
        required: true
attributes:
  check_mode:
    support: full
    details: The module is read-only; it behaves the same in check mode.
  diff_mode:
    support: none
  idempotent:
    description: Running the task twice with the same options changes nothing the second time.
    support: full
  platform:
    platforms: posix
notes:
  - ROSA reports the platform type V(AWS). It is recognised by the cluster's AWS resource tag
    C(red-hat-clustertype=rosa) in C(infrastructures.config.openshift.io/cluster)
    C(status.platformStatus.aws.resourceTags).
  - GPU nodes are nodes labelled C(nvidia.com/gpu.present=true) (NVIDIA GPU operator) or
    C(feature.node.kubernetes.io/pci-10de.present=true) (Node Feature Discovery).
"""

EXAMPLES = r"""
- name: Read the cluster facts
  openshift_ai.model_serving.platform_info:
  register: facts

- name: Refuse the automated path when the cluster cannot take it
  ansible.builtin.assert:
    that: facts.platform.install_path == 'automated'
    fail_msg: "{{ facts.platform.install_path_reasons | join('; ') }}"

- name: Read the cluster facts for a RawDeployment install
  openshift_ai.model_serving.platform_info:
    deployment_mode: RawDeployment
  register: raw_facts

- name: Refuse RawDeployment on a cluster that runs the Serverless mode
  ansible.builtin.assert:
    that: raw_facts.platform.deployment_mode.allowed
    fail_msg: "{{ raw_facts.platform.deployment_mode.refusals | join('; ') }}"
"""

RETURN = r"""
platform:
  description: The cluster facts.
  returned: always
  type: dict
  contains:
    ingress_domain:
      description: C(spec.domain) of C(ingresses.config.openshift.io/cluster); null when not served.
      type: str
      sample: apps.cluster.example.com
    platform_type:
      description: C(status.platformStatus.type) of the Infrastructure C(cluster).
      type: str
      sample: AWS
    is_rosa:
      description: Whether the cluster is Red Hat OpenShift Service on AWS.
      type: bool
    rosa_signals:
      description: What identified the cluster as ROSA.
      type: list
      elements: str
    openshift_version:
      description: The last completed version in ClusterVersion C(version).
      type: str
      sample: 4.16.20
    operators:
      description: Installed ClusterServiceVersions (OLM copies excluded), with package, version and phase.
      type: list
      elements: dict
    smcp:
      description: ServiceMeshControlPlanes with C(name), C(namespace), C(version), C(ready), C(created_by_operator), C(owner).
      type: list
      elements: dict
    knative_serving:
      description: KnativeServings, same fields as RV(platform.smcp).
      type: list
      elements: dict
    dsci:
      description: The DSCInitialization (null when none) with C(service_mesh.management_state) and C(phase).
      type: dict
    dsc:
      description: The DataScienceCluster (null when none) with C(kserve.management_state), C(kserve.serving_management_state).
      type: dict
    gpu_nodes:
      description: Nodes with an NVIDIA GPU, with C(allocatable_gpus).
      type: list
      elements: dict
    node_capacity:
      description: Allocatable CPU and memory per node, largest first, against O(node_minimum).
      type: dict
      contains:
        nodes:
          description: C(name), C(cpu) (cores), C(memory_gib), C(memory_bytes), C(schedulable).
          type: list
          elements: dict
        minimum:
          description: O(node_minimum) as given; null without it.
          type: dict
        fitting:
          description: Schedulable nodes that meet O(node_minimum).
          type: list
          elements: str
        ok:
          description: Whether at least one node meets O(node_minimum); null without it.
          type: bool
        message:
          description: What was found, naming the largest nodes when none fits.
          type: str
    install_path:
      description: The KServe install path the cluster allows, for O(deployment_mode) (V(Serverless) when unset).
      type: str
      choices: [automated, manual]
    install_path_reasons:
      description: Why.
      type: list
      elements: str
    deployment_mode:
      description: The KServe deployment mode of the cluster and what a request for one would be refused for.
      type: dict
      contains:
        current:
          description: V(Serverless), V(RawDeployment), V(mixed) (signs of both) or null (KServe not installed).
          type: str
        current_reasons:
          description: What shows the current mode.
          type: list
          elements: str
        requested:
          description: O(deployment_mode) as given.
          type: str
        allowed:
          description: Whether the requested mode may be installed; null without O(deployment_mode).
          type: bool
        refusals:
          description: Why the requested mode is refused (empty when allowed).
          type: list
          elements: str
        refusals_by_mode:
          description: The refusals for each mode, keyed V(Serverless) and V(RawDeployment).
          type: dict
        install_path_by_mode:
          description: RV(platform.install_path) and its reasons for each mode (C(path), C(reasons)).
          type: dict
    served_kinds:
      description: Which of the kinds read are served by the cluster.
      type: dict
    unreadable_kinds:
      description: Kinds these credentials are not allowed to list (HTTP 403); their facts are empty.
      type: list
      elements: str
"""

import copy

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._client import CONNECTION_ARG_SPEC, Client
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._data import quantity
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import ModelServingError
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._platform import DEPLOYMENT_MODES, platform_facts


def main():
    argument_spec = copy.deepcopy(CONNECTION_ARG_SPEC)
    argument_spec.update(
        deployment_mode=dict(type="str", choices=list(DEPLOYMENT_MODES)),
        node_minimum=dict(type="dict", options=dict(cpu=dict(type="str", required=True), memory=dict(type="str", required=True))),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    minimum = module.params["node_minimum"]
    for key in ("cpu", "memory") if minimum else ():
        try:
            if quantity(minimum[key]) <= 0:
                raise ValueError(minimum[key])
        except ValueError:
            module.fail_json(msg="node_minimum.%s must be a positive Kubernetes quantity, got %r" % (key, minimum[key]))
    try:
        facts = platform_facts(Client(module.params), module.params["deployment_mode"], minimum)
    except ModelServingError as e:
        module.fail_json(msg=e.msg, **e.details)
    if facts["unreadable_kinds"]:
        module.warn(
            "These credentials may not list %s; the facts about them are incomplete" % ", ".join(facts["unreadable_kinds"])
        )
    if facts["node_capacity"]["ok"] is False:
        module.warn(facts["node_capacity"]["message"])
    module.exit_json(changed=False, platform=facts)


if __name__ == "__main__":
    main()
