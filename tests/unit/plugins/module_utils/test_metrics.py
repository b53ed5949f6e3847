"""metrics_query logic: the seed's queries (quoted), response parsing, expectations and messages, and
the whole query with a fake cluster reader against a local HTTP server playing the query endpoint."""

import http.server
import json
import threading
from urllib.parse import parse_qs, urlsplit

import pytest

from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _metrics as M
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import (
    InvalidInput,
    ModelServingError,
    ResourceNotFound,
)

TOKEN = "eyJhbGciOiJSUzI1NiJ9.secret-metrics-token"


def test_named_queries_are_the_seeds_queries_quoted():
    assert M.named_query("requests_served", "vllm", "models", "granite") == (
        'round(sum(increase(vllm:request_success_total{namespace="models",model_name="granite"}[5m])))')
    assert M.named_query("requests_served", "tgis", "models", "flan", "10m") == (
        'round(sum(increase(tgi_request_success{namespace="models",pod=~"flan-predictor-.*"}[10m])))')
    assert M.named_query("requests_served", "caikit-tgis", "ns", "m") == (
        'round(sum(increase(tgi_request_success{namespace="ns",pod=~"m-predictor-.*"}[5m])))')
    assert M.named_query("requests_served", "ovms", "models", "mnist") == (
        'round(sum(increase(ovms_requests_success{namespace="models",name="mnist"}[5m])))')
    assert "predict_rpc_count_total" in M.named_query("requests_served", "caikit-standalone", "a", "b")


def test_a_dot_in_a_name_is_escaped_in_the_pod_regex():
    q = M.named_query("requests_served", "tgis", "ns", "a.b")
    assert 'pod=~"a\\\\.b-predictor-.*"' in q


@pytest.mark.parametrize("args,word", [
    (("nope", "vllm", "ns", "m"), "check"),
    (("requests_served", "triton", "ns", "m"), "runtime"),
    (("requests_served", "vllm", "Bad NS", "m"), "namespace"),
    (("requests_served", "vllm", "ns", 'm"}'), "model"),
    (("requests_served", "vllm", "ns", "m", "5 minutes"), "interval"),
])
def test_bad_named_query_input_names_the_field(args, word):
    with pytest.raises(InvalidInput) as e:
        M.named_query(*args)
    assert e.value.msg.startswith(word)


def test_promql_string_escapes():
    assert M.promql_string('a"b\\c') == 'a\\"b\\\\c'


def test_series_of_vector_scalar_matrix():
    v = M.series_of({"resultType": "vector", "result": [{"metric": {"a": "1"}, "value": [1.5, "5"]}]})
    assert v == [{"metric": {"a": "1"}, "timestamp": 1.5, "value": 5.0}]
    s = M.series_of({"resultType": "scalar", "result": [2, "NaN"]})
    assert s[0]["metric"] == {} and s[0]["value"] != s[0]["value"]
    m = M.series_of({"resultType": "matrix", "result": [{"metric": {}, "values": [[1, "1"], [2, "3"]]}]})
    assert m[0]["value"] == 3.0 and m[0]["values"] == [[1, 1.0], [2, 3.0]]
    assert M.series_of({"resultType": "vector", "result": []}) == []


def test_problems():
    one = [{"metric": {"job": "x"}, "value": 5.0}]
    assert M.problems([]) == []
    assert M.problems([], expect_series=True) == ["the query returned no series"]
    assert M.problems([], min_value=1) == ["the query returned no series"]
    assert M.problems(one, value=5) == []
    assert M.problems(one, value=4) == ["job=x is 5, expected 4"]
    assert M.problems(one, min_value=6) == ["job=x is 5, expected at least 6"]
    assert M.problems(one, max_value=4.5) == ["job=x is 5, expected at most 4.5"]
    assert M.problems([{"metric": {}, "value": float("nan")}], min_value=1) == ["result is NaN"]


def test_route_url():
    def get(api_version, kind, name, namespace):
        assert (kind, name, namespace) == ("Route", "thanos-querier", "openshift-monitoring")
        return {"spec": {"host": "spec.example.com"}, "status": {"ingress": [{"host": "admitted.example.com"}]}}

    assert M.route_url(get) == "https://admitted.example.com"
    assert M.route_url(lambda *a: {"spec": {"host": "h.example.com"}}) == "https://h.example.com"
    with pytest.raises(ResourceNotFound):
        M.route_url(lambda *a: None)


class _Prom(http.server.BaseHTTPRequestHandler):
    answers = []
    seen = []

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        parts = urlsplit(self.path)
        self.seen.append((parts.path, parse_qs(parts.query), self.headers.get("Authorization")))
        if self.headers.get("Authorization") != "Bearer " + TOKEN:
            status, body = 401, b"Unauthorized"
        else:
            status, body = 200, json.dumps(self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def prom():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Prom)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    _Prom.seen = []
    yield srv, "http://prometheus.example.com:%d" % srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def vector(*values):
    return {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {}, "value": [1700000000.0, str(v)]} for v in values]}}


def params(url, **kw):
    p = {"url": url, "token": TOKEN, "resolve": {"*": "127.0.0.1"}, "validate_endpoint_certs": True,
         "timeout": 0, "interval": 1}
    p.update(kw)
    return p


def test_check_passes_and_polls_until_the_value_holds(prom):
    _srv, url = prom
    _Prom.answers = [vector(), vector(3), vector(5)]
    clock = [0.0]
    res = M.metrics_query(params(url, check={"runtime": "vllm", "namespace": "models", "model": "granite"},
                                 value=5, timeout=60), None, None,
                          clock=lambda: clock[0], sleep=lambda s: clock.__setitem__(0, clock[0] + s))
    assert res["ok"] and res["value"] == 5.0 and res["attempts"] == 3
    path, query, auth = _Prom.seen[0]
    assert path == "/api/v1/query"
    assert query["query"] == ['round(sum(increase(vllm:request_success_total{namespace="models",'
                              'model_name="granite"}[5m])))']
    assert TOKEN not in json.dumps(res)


def test_a_model_that_served_nothing_fails_saying_so(prom):
    _srv, url = prom
    _Prom.answers = [vector()]
    with pytest.raises(ModelServingError) as e:
        M.metrics_query(params(url, check={"runtime": "ovms", "namespace": "models", "model": "idle"}), None, None)
    assert "model idle in models (ovms): no series: the model served no requests in the last 5m" in e.value.msg
    assert e.value.details["ok"] is False
    _Prom.answers = [vector(0)]
    with pytest.raises(ModelServingError) as e:
        M.metrics_query(params(url, check={"runtime": "vllm", "namespace": "models", "model": "idle"}), None, None)
    assert "served no requests in the last 5m (the query returned 0)" in e.value.msg
    assert TOKEN not in e.value.msg


def test_refused_token_and_token_from_a_service_account(prom):
    _srv, url = prom
    _Prom.answers = [vector(1)]
    with pytest.raises(ModelServingError) as e:
        M.metrics_query(params(url, query="up", token="wrong"), None, None)
    assert "HTTP 401" in e.value.msg and "cluster-monitoring-view" in e.value.msg and "wrong" not in e.value.msg
    asked = []
    res = M.metrics_query(params(url, query="up", token=None, token_service_account={"name": "r", "namespace": "n"}),
                          None, lambda n, ns: asked.append((n, ns)) or TOKEN)
    assert asked == [("r", "n")] and res["value"] == 1.0


def test_url_from_the_route_and_input_errors(prom):
    _srv, url = prom
    _Prom.answers = [vector(2)]
    port = url.rsplit(":", 1)[1]
    with pytest.raises(ModelServingError) as e:  # the route gives https; the test server speaks http
        M.metrics_query(params(None, query="up", resolve={"*": "127.0.0.1:" + port}), lambda *a: {
            "spec": {"host": "thanos.example.com"}}, None)
    assert e.value.details["url"] == "https://thanos.example.com" and "not reachable" in e.value.msg
    for bad, word in (({"query": None}, "query or check"), ({"min_value": "x"}, "min_value"),
                      ({"token": None}, "token or token_service_account"), ({"timeout": -1}, "timeout")):
        with pytest.raises(InvalidInput) as e:
            M.metrics_query(dict(params(url, query="up"), **bad), None, None)
        assert word in e.value.msg
