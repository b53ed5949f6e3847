# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PromQL queries against the cluster's query endpoint (the Thanos querier route on OpenShift).

Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

Facts (shared/reference/serving-api.md §7, seed-coverage.md bundle 3): QE queries Thanos through
Route ``thanos-querier`` in ``openshift-monitoring`` (``status.ingress[0].host``) with a bearer token,
``GET /api/v1/query``. The seed's per-runtime "requests served" queries (000 §3.7), with the metric
names and quoting corrected:

* vLLM: ``sum(increase(vllm:request_success_total{namespace="<ns>",model_name="<m>"}[<interval>]))``
* TGIS / Caikit-TGIS: ``sum(increase(tgi_request_success{namespace="<ns>",pod=~"<m>-predictor-.*"}[<interval>]))``
* OVMS: ``sum(increase(ovms_requests_success{namespace="<ns>",name="<m>"}[<interval>]))``

(Caikit standalone, from odh-model-controller's dashboard queries: ``predict_rpc_count_total{code="OK",model_id}``.)
``increase()`` extrapolates to the window's edges, so the named checks wrap the seed's query in
``round()`` as the dashboard's own queries do: N requests give N, not 5.17 for 5.

The evaluation of a response against the expectations is a pure function (unit-tested); the HTTP is
the Python standard library through :mod:`._inference`'s connection helpers (``resolve``, CA). The
token only ever goes into a request header.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import re
import time
from urllib.parse import urlencode

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import (
    InvalidInput,
    ModelServingError,
    ResourceNotFound,
)
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._inference import (
    Caller,
    parse_resolve,
    scrub,
    split_url,
    ssl_context,
)

QUERY_ROUTE = ("openshift-monitoring", "thanos-querier")
RUNTIMES = ("vllm", "tgis", "caikit-tgis", "ovms", "caikit-standalone")
CHECKS = ("requests_served",)
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_INTERVAL = re.compile(r"^[0-9]+(ms|s|m|h|d|w|y)$")

# runtime -> (metric, selector template); {ns}, {model}, {model_re} are filled in quoted/escaped
_REQUESTS_SERVED = {
    "vllm": ("vllm:request_success_total", 'namespace="{ns}",model_name="{model}"'),
    "tgis": ("tgi_request_success", 'namespace="{ns}",pod=~"{model_re}-predictor-.*"'),
    "caikit-tgis": ("tgi_request_success", 'namespace="{ns}",pod=~"{model_re}-predictor-.*"'),
    "ovms": ("ovms_requests_success", 'namespace="{ns}",name="{model}"'),
    "caikit-standalone": ("predict_rpc_count_total", 'namespace="{ns}",code="OK",model_id="{model}"'),
}


def promql_string(value):
    """A PromQL double-quoted string body (backslash and quote escaped)."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def named_query(check, runtime, namespace, model, interval="5m"):
    """The query of a named check for one model; InvalidInput naming the bad field."""
    if check not in CHECKS:
        raise InvalidInput("check: %r is not one of %s" % (check, ", ".join(CHECKS)))
    if runtime not in _REQUESTS_SERVED:
        raise InvalidInput("runtime: %r is not one of %s" % (runtime, ", ".join(RUNTIMES)))
    for field, value in (("namespace", namespace), ("model", model)):
        if not value or not _NAME.match(str(value)):
            raise InvalidInput("%s: %r is not a Kubernetes object name" % (field, value))
    if not _INTERVAL.match(str(interval or "")):
        raise InvalidInput("interval: %r is not a PromQL duration such as 5m or 1h" % (interval,))
    metric, selector = _REQUESTS_SERVED[runtime]
    sel = selector.format(ns=promql_string(namespace), model=promql_string(model),
                          model_re=promql_string(str(model).replace(".", "\\.")))
    return "round(sum(increase(%s{%s}[%s])))" % (metric, sel, interval)


def _number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")


def series_of(data):
    """Prometheus ``data`` of a query answer -> list of {metric, value, timestamp} (vector/scalar)
    or {metric, values: [[t, v], ...], value: last} (matrix)."""
    rtype = (data or {}).get("resultType")
    result = (data or {}).get("result")
    if rtype in ("scalar", "string"):
        return [{"metric": {}, "timestamp": result[0], "value": _number(result[1])}] if result else []
    out = []
    for item in result or []:
        if "values" in item:
            values = [[v[0], _number(v[1])] for v in item.get("values") or []]
            out.append({"metric": item.get("metric") or {}, "values": values,
                        "value": values[-1][1] if values else float("nan")})
        else:
            v = item.get("value") or [None, None]
            out.append({"metric": item.get("metric") or {}, "timestamp": v[0], "value": _number(v[1])})
    return out


def _fmt(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NaN"
    return ("%d" % value) if float(value).is_integer() else ("%g" % value)


def problems(series, expect_series=False, min_value=None, max_value=None, value=None):
    """What is wrong with ``series`` against the expectations (empty list: all hold).
    A value expectation needs at least one series; every series must satisfy it."""
    out = []
    need = expect_series or min_value is not None or max_value is not None or value is not None
    if need and not series:
        out.append("the query returned no series")
        return out
    for s in series:
        v = s.get("value")
        label = ",".join("%s=%s" % kv for kv in sorted((s.get("metric") or {}).items())) or "result"
        if v is None or math.isnan(v):
            if min_value is not None or max_value is not None or value is not None:
                out.append("%s is NaN" % label)
            continue
        if value is not None and v != value:
            out.append("%s is %s, expected %s" % (label, _fmt(v), _fmt(value)))
        if min_value is not None and v < min_value:
            out.append("%s is %s, expected at least %s" % (label, _fmt(v), _fmt(min_value)))
        if max_value is not None and v > max_value:
            out.append("%s is %s, expected at most %s" % (label, _fmt(v), _fmt(max_value)))
    return out


def route_url(get_object, namespace=QUERY_ROUTE[0], name=QUERY_ROUTE[1]):
    """``https://<host>`` of the query Route (admitted host first, else spec.host)."""
    route = get_object("route.openshift.io/v1", "Route", name, namespace)
    if not route:
        raise ResourceNotFound("Route %s/%s (the cluster's query endpoint) does not exist; give url" % (namespace, name))
    hosts = [i.get("host") for i in (route.get("status") or {}).get("ingress") or [] if i.get("host")]
    host = hosts[0] if hosts else (route.get("spec") or {}).get("host")
    if not host:
        raise ResourceNotFound("Route %s/%s has no host yet; give url" % (namespace, name))
    return "https://%s" % host


class Querier(object):
    """``GET <url>/api/v1/query``; ``clock``/``sleep`` injectable for tests."""

    def __init__(self, url, token=None, context=None, resolve_map=None, timeout=30, clock=time.monotonic,
                 sleep=time.sleep):
        self.caller = Caller(url, token=token, context=context, resolve_map=resolve_map, timeout=timeout,
                             clock=clock, sleep=sleep)
        self.token = token

    @property
    def url(self):
        return self.caller.url

    def query(self, promql, at=None):
        """-> (series, raw data). Raises ModelServingError with the HTTP answer when it is not a success."""
        params = {"query": promql}
        if at is not None:
            params["time"] = at
        res = self.caller.call({"name": "query", "method": "GET", "path": "/api/v1/query?" + urlencode(params)})
        status = res.get("status")
        if status is None:
            raise ModelServingError("query endpoint %s not reachable: %s" % (self.url, res.get("error")),
                                    url=self.url)
        body = res.get("_body") or b""
        if status in (401, 403):
            raise ModelServingError(
                "query endpoint %s refused the token (HTTP %d: %s); the token's user needs ClusterRole "
                "cluster-monitoring-view (get namespaces)" % (self.url, status, scrub(res.get("excerpt"), self.token)),
                url=self.url, status=status)
        try:
            answer = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            answer = None
        if status != 200 or not isinstance(answer, dict) or answer.get("status") != "success":
            err = answer.get("error") if isinstance(answer, dict) else None
            raise ModelServingError("query failed (HTTP %s): %s" % (status, err or res.get("excerpt")),
                                    url=self.url, status=status, query=promql)
        return series_of(answer.get("data")), answer.get("data")


def _validate(params):
    for k in ("min_value", "max_value", "value"):
        v = params.get(k)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise InvalidInput("%s: %r is not a number" % (k, v))
    if params.get("timeout") is not None and params["timeout"] < 0:
        raise InvalidInput("timeout: must be 0 or more seconds")
    if params.get("interval") is not None and params["interval"] <= 0:
        raise InvalidInput("interval: must be more than 0 seconds")
    sa = params.get("token_service_account")
    if sa is not None and (not isinstance(sa, dict) or not sa.get("name") or not sa.get("namespace")):
        raise InvalidInput("token_service_account: needs name and namespace")
    if not params.get("query") and not params.get("check"):
        raise InvalidInput("query or check is required")
    if params.get("query") and params.get("check"):
        raise InvalidInput("query and check are mutually exclusive")


def metrics_query(params, get_object, request_token, clock=time.monotonic, sleep=time.sleep):
    """The module's work; ``get_object(api_version, kind, name, namespace)`` reads the cluster,
    ``request_token(name, namespace)`` returns a service account token (TokenRequest)."""
    _validate(params)
    description = params.get("description")
    promql = params.get("query")
    expect = dict(expect_series=bool(params.get("expect_series")), min_value=params.get("min_value"),
                  max_value=params.get("max_value"), value=params.get("value"))
    check = params.get("check")
    if check:
        c = check
        if not isinstance(c, dict):
            raise InvalidInput("check: must be a dict with name, runtime, namespace, model")
        promql = named_query(c.get("name") or "requests_served", c.get("runtime"), c.get("namespace"),
                             c.get("model"), c.get("interval") or "5m")
        description = description or "model %s in %s (%s)" % (c.get("model"), c.get("namespace"), c.get("runtime"))
        if all(v is None for v in (expect["min_value"], expect["max_value"], expect["value"])):
            expect["min_value"] = 1
    resolve_map = parse_resolve(params.get("resolve"))
    url = params.get("url") or route_url(get_object)
    split_url(url)
    token = params.get("token")
    sa = params.get("token_service_account")
    if not token and sa:
        token = request_token(sa["name"], sa["namespace"])
    if not token:
        raise InvalidInput("token or token_service_account is required: the query endpoint checks a bearer token")
    ctx = ssl_context(params.get("validate_endpoint_certs", True), params.get("ca"))
    querier = Querier(url, token=token, context=ctx, resolve_map=resolve_map,
                      timeout=params.get("request_timeout") or 30, clock=clock, sleep=sleep)
    timeout = params.get("timeout") or 0
    interval = params.get("interval") or 1
    start = clock()
    attempts = 0
    while True:
        attempts += 1
        series, data = querier.query(promql)
        found = problems(series, **expect)
        elapsed = round(clock() - start, 3)
        if not found or clock() - start >= timeout:
            break
        sleep(interval)
    result = dict(changed=False, query=promql, url=querier.url, series=series,
                  result_type=(data or {}).get("resultType"), attempts=attempts, elapsed=elapsed,
                  value=series[0]["value"] if len(series) == 1 else None, ok=not found)
    if found:
        what = description + ": " if description else ""
        if check and not series:
            reason = ("no series: the model served no requests in the last %s, or its metrics are not "
                      "scraped (user workload monitoring, the %s-metrics ServiceMonitor)"
                      % (check.get("interval") or "5m", check.get("model")))
        elif check and expect["min_value"] == 1 and series and all(s["value"] == 0 for s in series):
            reason = "served no requests in the last %s (the query returned 0)" % (check.get("interval") or "5m")
        else:
            reason = "; ".join(found)
        waited = " after %ss (%d queries)" % (elapsed, attempts) if timeout else ""
        raise ModelServingError("%s%s%s; query: %s" % (what, reason, waited, promql), **result)
    return result
