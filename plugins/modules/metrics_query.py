#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: metrics_query
short_description: Run a PromQL query against the cluster's query endpoint and check the result
version_added: 0.1.0
description:
  - Runs a PromQL instant query (C(GET /api/v1/query)) against the cluster's query endpoint, by
    default the Thanos querier Route C(thanos-querier) in C(openshift-monitoring), with a bearer token
    and TLS verification, and returns the series and their values. Reads, never writes.
  - Can assert a condition (at least one series, a value, a minimum or a maximum) and fails with a
    message saying what was found; with O(timeout) it repeats the query until the condition holds.
  - "O(check) runs a named check for one model: V(requests_served) is the seed's query for the
    model's runtime (000 §3.7, metric names and quoting corrected, wrapped in C(round()) because
    C(increase()) extrapolates): vLLM C(vllm:request_success_total{namespace, model_name}),
    TGIS/Caikit-TGIS C(tgi_request_success{namespace, pod=~\"<model>-predictor-.*\"}), OVMS
    C(ovms_requests_success{namespace, name}), Caikit standalone C(predict_rpc_count_total{code=\"OK\", model_id}),
    summed over C(increase(...[<interval>])). Without an explicit expectation it requires at least 1."
  - The token is never returned or logged.
author:
  - OpenShift AI model_serving maintainers (@openshift-ai)
extends_documentation_fragment:
  - openshift_ai.model_serving.connection
  - ansible.builtin.action_common_attributes
options:
  query:
    description:
      - The PromQL expression. Either O(query) or O(check) is required.
    type: str
  check:
    description:
      - A named check for one model instead of O(query).
    type: dict
    suboptions:
      name:
        description: The check.
        type: str
        choices: [requests_served]
        default: requests_served
      runtime:
        description: The model's runtime, which decides the metric.
        type: str
        required: true
        choices: [vllm, tgis, caikit-tgis, ovms, caikit-standalone]
      namespace:
        description: Namespace (project) of the InferenceService.
        type: str
        required: true
      model:
        description: Name of the InferenceService.
        type: str
        required: true
      interval:
        description: The window of C(increase()), a PromQL duration.
        type: str
        default: 5m
  description:
    description:
      - What the query is about, put at the start of a failure message (default for O(check)
        C(model <model> in <namespace> (<runtime>))).
    type: str
  url:
    description:
      - Base URL of the query endpoint. Default C(https://) and the host of Route
        C(openshift-monitoring/thanos-querier).
    type: str
  token:
    description:
      - Bearer token whose user may query the endpoint (on OpenShift ClusterRole C(cluster-monitoring-view);
        for example C(oc whoami -t)). Either O(token) or O(token_service_account) is required.
    type: str
  token_service_account:
    description:
      - A service account whose short-lived token (TokenRequest API, 10 minutes) the module requests and
        uses; nothing is written to the cluster.
    type: dict
    suboptions:
      name:
        description: Name of the ServiceAccount.
        type: str
        required: true
      namespace:
        description: Its namespace.
        type: str
        required: true
  ca:
    description:
      - CA certificate of the query endpoint's certificate (the cluster ingress CA), as PEM text or the path to a
        PEM file. Without it the system trust store is used. Not the API server's CA, which is O(ca_cert).
    type: str
  validate_endpoint_certs:
    description:
      - Whether to verify the query endpoint's TLS certificate and host name. O(validate_certs) is the API
        server's setting, not this one.
    type: bool
    default: true
  resolve:
    description:
      - Host-to-address overrides, like C(curl --resolve), for clusters whose DNS the controller cannot
        resolve. Keys are a host, C(*.<suffix>) or C(*); values C(address), C(address:port) or C([ipv6]:port).
    type: dict
  expect_series:
    description:
      - Fail when the query returns no series.
    type: bool
    default: false
  value:
    description:
      - Every series must have this value (implies at least one series).
    type: float
  min_value:
    description:
      - Every series must be at least this (implies at least one series). Default V(1) with O(check).
    type: float
  max_value:
    description:
      - Every series must be at most this (implies at least one series).
    type: float
  timeout:
    description:
      - Seconds to keep repeating the query while the expectations do not hold. V(0) queries once.
    type: int
    default: 0
  interval:
    description:
      - Seconds between two queries with O(timeout).
    type: float
    default: 1
  request_timeout:
    description:
      - Seconds one HTTP request may take.
    type: int
    default: 30
attributes:
  check_mode:
    support: full
    details: The module only reads; it queries in check mode too.
  diff_mode:
    support: none
  idempotent:
    description: The query writes nothing; C(changed) is always false.
    support: full
  platform:
    platforms: posix
notes:
  - User workload monitoring must be on (role C(openshift_ai.model_serving.monitoring)) for model-server
    metrics to be collected.
"""

EXAMPLES = r"""
- name: Requests served by a vLLM model in the last 5 minutes (at least one)
  openshift_ai.model_serving.metrics_query:
    check:
      runtime: vllm
      namespace: models
      model: granite
    token: "{{ lookup('ansible.builtin.pipe', 'oc whoami -t') }}"
  register: served

- name: Exactly 5 requests, waiting up to 2 minutes for the scrapes
  openshift_ai.model_serving.metrics_query:
    check: {runtime: ovms, namespace: models, model: mnist}
    value: 5
    timeout: 120
    token_service_account: {name: metrics-reader, namespace: models}

- name: Any PromQL
  openshift_ai.model_serving.metrics_query:
    query: sum by (model_name) (vllm:num_requests_running{namespace="models"})
    token: "{{ metrics_token }}"
    expect_series: true
"""

RETURN = r"""
query:
  description: The PromQL expression run.
  returned: always
  type: str
  sample: round(sum(increase(vllm:request_success_total{namespace="models",model_name="granite"}[5m])))
url:
  description: Base URL of the query endpoint.
  returned: always
  type: str
  sample: https://thanos-querier-openshift-monitoring.apps.cluster.example.com
result_type:
  description: C(vector), C(matrix), C(scalar) or C(string).
  returned: always
  type: str
series:
  description:
    - The series, each C(metric) (labels) and C(value) (a float; the last one for a matrix, with C(values)) and C(timestamp).
  returned: always
  type: list
  elements: dict
value:
  description: The value when the query returned exactly one series, else null.
  returned: always
  type: float
ok:
  description: Whether the expectations held (also returned, false, when the module fails).
  returned: always
  type: bool
attempts:
  description: How many times the query ran.
  returned: always
  type: int
elapsed:
  description: Seconds spent querying.
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._args import run_module, with_connection
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._metrics import metrics_query


def _run(module):
    cluster = {}

    def client():
        if "client" not in cluster:
            from ansible_collections.openshift_ai.model_serving.plugins.module_utils._client import Client

            cluster["client"] = Client(module.params)
        return cluster["client"]

    def get_object(api_version, kind, name, namespace):
        from ansible_collections.openshift_ai.model_serving.plugins.module_utils._service import Service

        return Service(client()).get(api_version, kind, name, namespace)

    def request_token(name, namespace):
        from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import ApiError

        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 600}}
        try:
            out = client().request_token(name, namespace, body)
        except Exception as e:  # pylint: disable=broad-except
            raise ApiError("token_service_account: no token for ServiceAccount %s/%s: %s"
                           % (namespace, name, getattr(e, "reason", None) or e))
        return (out.get("status") or {}).get("token")

    return metrics_query(module.params, get_object, request_token)


def main():
    module = AnsibleModule(
        argument_spec=with_connection(
            dict(
                query=dict(type="str"),
                check=dict(type="dict", options=dict(
                    name=dict(type="str", choices=["requests_served"], default="requests_served"),
                    runtime=dict(type="str", required=True, choices=["vllm", "tgis", "caikit-tgis", "ovms",
                                                                     "caikit-standalone"]),
                    namespace=dict(type="str", required=True),
                    model=dict(type="str", required=True),
                    interval=dict(type="str", default="5m"),
                )),
                description=dict(type="str"),
                url=dict(type="str"),
                token=dict(type="str", no_log=True),
                token_service_account=dict(type="dict", no_log=False, options=dict(
                    name=dict(type="str", required=True),
                    namespace=dict(type="str", required=True),
                )),
                ca=dict(type="str"),
                validate_endpoint_certs=dict(type="bool", default=True),
                resolve=dict(type="dict"),
                expect_series=dict(type="bool", default=False),
                value=dict(type="float"),
                min_value=dict(type="float"),
                max_value=dict(type="float"),
                timeout=dict(type="int", default=0),
                interval=dict(type="float", default=1),
                request_timeout=dict(type="int", default=30),
            )
        ),
        required_one_of=[("query", "check")],
        mutually_exclusive=[("query", "check"), ("token", "token_service_account")],
        supports_check_mode=True,
    )
    run_module(module, _run)


if __name__ == "__main__":
    main()
