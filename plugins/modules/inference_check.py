#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: inference_check
short_description: Call a deployed model the way its runtime is called and check the answers
version_added: 0.1.0
description:
  - Calls a model served by KServe (OpenShift AI single-model serving) over its inference protocol
    and checks that every answer is the runtime's success answer. Reads, never writes.
  - With O(name) and O(namespace) it reads the InferenceService (it must be C(Ready)) for its URL
    (C(status.url)), deployment mode, token auth (annotation C(security.opendatahub.io/enable-auth))
    and ServingRuntime (C(spec.predictor.model.runtime), or the one KServe auto-selects for the model
    format). With O(url) alone nothing is read from the cluster.
  - "The runtime, unless O(runtime) is given, is recognised from the ServingRuntime: its
    C(opendatahub.io/template-name) annotation (set by the dashboard and by this collection), its
    name, C(spec.annotations.opendatahub.io/kserve-runtime), its containers, then the model format."
  - "Calls per runtime: V(vllm) C(GET /v1/models), C(POST /v1/completions) (C(POST /v1/embeddings)
    instead when the runtime runs C(--task=embed)), and C(POST /v1/chat/completions) when a chat
    template is set; V(caikit-tgis) C(POST /api/v1/task/text-generation); V(caikit-standalone)
    C(POST /api/v1/task/embedding); V(ovms) C(GET /v2/models/<name>/ready) and
    C(POST /v2/models/<name>/infer). V(tgis-grpc) speaks gRPC only: the check is skipped
    (RV(skipped)) because this module has no gRPC client."
  - "With token auth on, a call without a token is made first and must be refused with HTTP 401 or
    403 (O(expect_unauthorized_without_token)); then the calls carry C(Authorization: Bearer <token>)."
  - The token is never returned or logged.
  - "With O(models), many models are checked in one run, O(workers) at a time: each entry takes the
    per-model options (O(name), O(namespace), O(url), O(token_secret), ...) and falls back to this
    task's options for the others (O(ca), O(resolve), O(wait_timeout), ...). RV(checks) has one result per
    model; the task fails after all checks ran when one of them failed, naming each."
author:
  - OpenShift AI model_serving maintainers (@openshift-ai)
extends_documentation_fragment:
  - openshift_ai.model_serving.connection
  - ansible.builtin.action_common_attributes
options:
  name:
    description:
      - Name of the InferenceService. One of O(name), O(url) or O(models) is required.
    type: str
  models:
    description:
      - Several models to check in one run (concurrently, see O(workers)), each a dictionary with the
        per-model options below; the other options of the task apply to every entry unless the entry sets them.
      - Mutually exclusive with O(name) and O(url).
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the InferenceService.
        type: str
      namespace:
        description: Namespace of the InferenceService (or of O(models[].token_secret)).
        type: str
      url:
        description: Base URL of the model (see O(url)).
        type: str
      runtime:
        description: The runtime (protocol) of the model (see O(runtime)).
        type: str
        choices: [vllm, caikit-tgis, caikit-standalone, ovms, tgis-grpc]
      model_name:
        description: The model name requests carry (see O(model_name)).
        type: str
      token:
        description: Bearer token (see O(token)).
        type: str
      token_secret:
        description: Secret holding the token (see O(token_secret)).
        type: str
      payload:
        description: Request body of the inference call (see O(payload)).
        type: dict
      expect_unauthorized_without_token:
        description: See O(expect_unauthorized_without_token).
        type: bool
      chat:
        description: See O(chat).
        type: bool
      wait_timeout:
        description: See O(wait_timeout).
        type: int
      ca:
        description: See O(ca).
        type: str
      validate_endpoint_certs:
        description: See O(validate_endpoint_certs); the task's value when not set.
        type: bool
      resolve:
        description: See O(resolve).
        type: dict
  workers:
    description:
      - With O(models), how many models are checked at the same time.
    type: int
    default: 8
  namespace:
    description:
      - Namespace (project) of the InferenceService. Required with O(name).
    type: str
  url:
    description:
      - Base URL of the model, for example C(https://granite-models.apps.example.com). Default is the
        C(status.url) of the InferenceService.
      - Without O(name), O(runtime) and O(model_name) are required.
    type: str
  runtime:
    description:
      - The runtime (protocol) of the model. By default it is recognised from the ServingRuntime.
    type: str
    choices: [vllm, caikit-tgis, caikit-standalone, ovms, tgis-grpc]
  model_name:
    description:
      - The model name requests carry (vLLM C(model), Caikit C(model_id), OVMS path). By default the
        runtime's C(--served-model-name) (vLLM) or C(--model_name) (OVMS), else the InferenceService name.
    type: str
  token:
    description:
      - Bearer token of a service account allowed to C(get) the InferenceService (the token secret
        C(<token name>-<isvc>-sa) the dashboard creates, or C(oc create token)).
      - Needed (or O(token_secret)) when token auth is on, unless only the refusal is checked
        (O(expect_unauthorized_without_token)).
    type: str
  token_secret:
    description:
      - Name of a Secret in O(namespace) whose C(data.token) is the token, for example the
        C(kubernetes.io/service-account-token) Secret C(<token name>-<isvc>-sa) the dashboard creates
        for token auth. Its token is read by the module and never returned. Mutually exclusive with O(token).
      - A C(kubernetes.io/service-account-token) Secret gets its token shortly after it is created;
        the module waits for it up to O(wait_timeout) seconds.
    type: str
  ca:
    description:
      - CA certificate that signed the model endpoint's certificate (the cluster ingress CA or the
        wildcard certificate's CA), as PEM text or the path to a PEM file. Without it the system trust store is used.
      - Not the API server's CA, which is O(ca_cert).
    type: str
  validate_endpoint_certs:
    description:
      - Whether to verify the model endpoint's TLS certificate and host name.
      - O(validate_certs) is the API server's setting, not this one.
    type: bool
    default: true
  resolve:
    description:
      - Host-to-address overrides, like C(curl --resolve), for clusters whose DNS the controller cannot
        resolve. Keys are a host, C(*.<suffix>) (any host under the suffix) or C(*) (any host); values
        C(address), C(address:port) or C([ipv6]:port). The TLS server name and the C(Host) header stay
        the URL's host.
    type: dict
  timeout:
    description:
      - Seconds each call may take.
    type: int
    default: 30
  wait_timeout:
    description:
      - Seconds to keep repeating the first call (once a second) while the endpoint is not reachable
        yet (no connection, or HTTP 404/502/503 from the router or gateway). V(0) calls once.
    type: int
    default: 0
  expect_unauthorized_without_token:
    description:
      - Make a call without a token first and require HTTP 401 or 403.
      - By default V(true) when the InferenceService has token auth on, else V(false).
    type: bool
  chat:
    description:
      - Also call C(/v1/chat/completions) (vLLM). By default V(true) when the runtime or model args set
        C(--chat-template).
    type: bool
  prompt:
    description:
      - Text sent to text-generation and embedding calls.
    type: str
    default: Hello
  max_tokens:
    description:
      - Tokens to generate (vLLM C(max_tokens), Caikit C(max_new_tokens)).
    type: int
    default: 16
  payload:
    description:
      - Request body of the inference call (the first C(POST)), replacing the one built for the runtime;
        for example the input tensor an OVMS model expects.
      - The default OVMS input is one C(FP32) tensor of shape C([1, 30]) named C(Func/StatefulPartitionedCall/input/_0:0).
    type: dict
attributes:
  check_mode:
    support: full
    details: The module only reads and calls the model; it does the same in check mode.
  diff_mode:
    support: none
  idempotent:
    description: The check writes nothing; C(changed) is always false.
    support: full
  platform:
    platforms: posix
notes:
  - A cluster-local model (no external route) has an in-cluster URL; reach it through a port-forward
    and O(resolve), for example O(resolve) C(granite-predictor.models.svc.cluster.local) to C(127.0.0.1:8080)
    with O(url) C(http://granite-predictor.models.svc.cluster.local).
"""

EXAMPLES = r"""
- name: Call a model (token auth on) and check that a call without the token is refused
  openshift_ai.model_serving.inference_check:
    name: granite
    namespace: models
    token_secret: default-name-granite-sa
    ca: "{{ lookup('ansible.builtin.file', 'wildcard-ca.crt') }}"
  register: check

- name: Show the endpoint and the answer
  ansible.builtin.debug:
    msg: "{{ check.url }}: {{ check.calls | map(attribute='excerpt') | list }}"

- name: The cluster's DNS is not resolvable from the controller
  openshift_ai.model_serving.inference_check:
    name: mnist
    namespace: models
    resolve:
      "*.apps.cluster.example.com": "192.0.2.10:443"

- name: Check every model of a project in one task, four at a time
  openshift_ai.model_serving.inference_check:
    models:
      - name: granite
        namespace: models
        token_secret: ci-bot-granite-sa
      - name: mnist
        namespace: models
    workers: 4
    wait_timeout: 60
  register: checks

- name: A model by URL only
  openshift_ai.model_serving.inference_check:
    url: https://granite-models.apps.cluster.example.com
    runtime: vllm
    model_name: granite
    validate_endpoint_certs: false
"""

RETURN = r"""
url:
  description: The base URL called.
  returned: always
  type: str
  sample: https://granite-models.apps.cluster.example.com
connect_to:
  description: The address and port connected to (differs from the URL's host with O(resolve)).
  returned: always
  type: str
  sample: 192.0.2.10:443
runtime:
  description: The runtime (protocol) used.
  returned: always
  type: str
  sample: vllm
runtime_source:
  description: How the runtime was recognised.
  returned: always
  type: str
  sample: annotation opendatahub.io/template-name vllm-cuda-runtime
model_name:
  description: The model name the requests carried.
  returned: always
  type: str
deployment_mode:
  description: C(status.deploymentMode) of the InferenceService (null with O(url) alone).
  returned: always
  type: str
auth:
  description: Whether token auth is on (from the InferenceService; with O(url) alone, whether a token was given).
  returned: always
  type: bool
endpoints:
  description: The model's inference endpoints for its runtime (full URLs).
  returned: always
  type: list
  elements: str
calls:
  description:
    - Per call C(name), C(method), C(url), C(status) (HTTP status, null without an answer), C(latency_ms),
      C(excerpt) (start of the answer), C(with_token), C(ok), and C(problem) or C(error) when not ok.
    - The call without a token is named C(without_token).
  returned: always
  type: list
  elements: dict
inference_service:
  description: C(name), C(namespace), C(ready), C(runtime) (the ServingRuntime name) of the InferenceService.
  returned: with O(name)
  type: dict
skipped:
  description: Whether the calls were skipped (TGIS gRPC); RV(skip_reason) says why.
  returned: always
  type: bool
skip_reason:
  description: Why the calls were skipped.
  returned: when skipped
  type: str
ok:
  description: Whether every call passed its check (also returned, false, when the module fails).
  returned: always
  type: bool
checks:
  description:
    - With O(models), one result per model in the order given, each with C(name), C(namespace), C(ok),
      the keys above (C(url), C(runtime), C(calls), ...) and C(msg) when its check failed.
  returned: with O(models)
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._args import run_module, with_connection
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._inference import RUNTIMES, inference_check, inference_checks


def _run(module):
    cluster = {}

    def service():
        if "svc" not in cluster:
            from ansible_collections.openshift_ai.model_serving.plugins.module_utils._client import Client
            from ansible_collections.openshift_ai.model_serving.plugins.module_utils._service import Service

            cluster["svc"] = Service(Client(module.params))
        return cluster["svc"]

    def get_object(api_version, kind, name, namespace):
        return service().get(api_version, kind, name, namespace)

    def list_objects(api_version, kind, namespace):
        res = service().resource(api_version, kind)
        return res.get(namespace=namespace).to_dict().get("items", [])

    if module.params.get("models") is not None:
        return inference_checks(module.params, get_object, list_objects, module.params["workers"])
    return inference_check(module.params, get_object, list_objects)


def main():
    module = AnsibleModule(
        argument_spec=with_connection(
            dict(
                name=dict(type="str"),
                namespace=dict(type="str"),
                url=dict(type="str"),
                runtime=dict(type="str", choices=list(RUNTIMES)),
                model_name=dict(type="str"),
                token=dict(type="str", no_log=True),
                token_secret=dict(type="str", no_log=False),
                ca=dict(type="str"),
                validate_endpoint_certs=dict(type="bool", default=True),
                resolve=dict(type="dict"),
                timeout=dict(type="int", default=30),
                wait_timeout=dict(type="int", default=0),
                expect_unauthorized_without_token=dict(type="bool"),
                chat=dict(type="bool"),
                prompt=dict(type="str", default="Hello"),
                max_tokens=dict(type="int", default=16, no_log=False),
                payload=dict(type="dict"),
                models=dict(
                    type="list",
                    elements="dict",
                    options=dict(
                        name=dict(type="str"),
                        namespace=dict(type="str"),
                        url=dict(type="str"),
                        runtime=dict(type="str", choices=list(RUNTIMES)),
                        model_name=dict(type="str"),
                        token=dict(type="str", no_log=True),
                        token_secret=dict(type="str", no_log=False),
                        payload=dict(type="dict"),
                        expect_unauthorized_without_token=dict(type="bool"),
                        chat=dict(type="bool"),
                        wait_timeout=dict(type="int"),
                        ca=dict(type="str"),
                        validate_endpoint_certs=dict(type="bool"),
                        resolve=dict(type="dict"),
                    ),
                ),
                workers=dict(type="int", default=8),
            )
        ),
        required_one_of=[("name", "url", "models")],
        mutually_exclusive=[("token", "token_secret"), ("models", "name"), ("models", "url")],
        required_by={"name": "namespace"},
        supports_check_mode=True,
    )
    run_module(module, _run)


if __name__ == "__main__":
    main()
