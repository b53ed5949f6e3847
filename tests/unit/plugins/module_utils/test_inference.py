"""inference_check logic: runtime detection, request building, answer checks, resolve, the HTTP caller
(against a local TLS server) and the whole check with a fake cluster reader; plus the contract with
the testbed's model-server simulator (its answers pass these checks)."""

import datetime
import http.server
import json
import socket
import ssl
import threading

import pytest

from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _inference as I
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import (
    InvalidInput,
    ModelServingError,
    ResourceNotFound,
)

TOKEN = "eyJhbGciOiJSUzI1NiJ9.secret-token-value"


def sr(name="rt", template=None, containers=None, kserve_runtime=None, protocol=None):
    md = {"name": name, "namespace": "ns", "annotations": {}}
    if template:
        md["annotations"]["opendatahub.io/template-name"] = template
    if protocol:
        md["annotations"]["opendatahub.io/apiProtocol"] = protocol
    spec = {"containers": containers or [{"name": "kserve-container", "image": "registry.example.com/server:1"}]}
    if kserve_runtime:
        spec["annotations"] = {"opendatahub.io/kserve-runtime": kserve_runtime}
    return {"metadata": md, "spec": spec}


def isvc(name="granite", fmt="vLLM", runtime="rt", args=None, auth=False, ready=True, url=None):
    ann = {"serving.kserve.io/deploymentMode": "Serverless"}
    if auth:
        ann["security.opendatahub.io/enable-auth"] = "true"
    model = {"modelFormat": {"name": fmt}, "runtime": runtime}
    if args:
        model["args"] = args
    return {
        "metadata": {"name": name, "namespace": "ns", "annotations": ann, "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"predictor": {"model": model}},
        "status": {"url": url or "https://%s-ns.apps.example.com" % name, "deploymentMode": "Serverless",
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                   "reason": "" if ready else "RevisionFailed", "message": "" if ready else "boom"}]},
    }


VLLM_SR = sr("vllm-cuda-runtime", containers=[{
    "name": "kserve-container", "image": "quay.io/modh/vllm:x",
    "command": ["python", "-m", "vllm.entrypoints.openai.api_server"],
    "args": ["--port=8080", "--served-model-name={{.Name}}"]}])


# -- runtime detection ------------------------------------------------------------------------
@pytest.mark.parametrize("server, want, how", [
    (sr("my-llm", template="vllm-cuda-runtime"), "vllm", "annotation"),
    (sr("my-llm", template="vllm-runtime"), "vllm", "annotation"),
    (sr("x", template="caikit-tgis-runtime"), "caikit-tgis", "annotation"),
    (sr("x", template="caikit-standalone-runtime"), "caikit-standalone", "annotation"),
    (sr("x", template="tgis-grpc-runtime"), "tgis-grpc", "annotation"),
    (sr("x", template="kserve-ovms"), "ovms", "annotation"),
    (sr("vllm-gaudi-runtime"), "vllm", "ServingRuntime name"),
    (sr("x", kserve_runtime="ovms"), "ovms", "kserve-runtime"),
    (sr("x", kserve_runtime="caikit", containers=[{"name": "a"}, {"name": "b"}]), "caikit-tgis", "kserve-runtime"),
    (sr("x", kserve_runtime="caikit"), "caikit-standalone", "kserve-runtime"),
    (sr("x", containers=[{"name": "kserve-container", "image": "quay.io/x/openvino_model_server:1"}]), "ovms", "containers"),
    (sr("x", containers=[{"name": "kserve-container", "command": ["text-generation-launcher"]},
                         {"name": "transformer-container", "image": "quay.io/modh/caikit-tgis-serving:1"}]),
     "caikit-tgis", "containers"),
    (sr("x", containers=[{"name": "kserve-container", "args": ["-m", "caikit.runtime"]}]), "caikit-standalone", "containers"),
    (sr("x", containers=[{"name": "kserve-container", "command": ["text-generation-launcher"]}]), "tgis-grpc", "containers"),
    (sr("x", protocol="gRPC"), "tgis-grpc", "apiProtocol"),
])
def test_detect_runtime(server, want, how):
    runtime, source = I.detect_runtime(isvc(fmt="unknown"), server)
    assert runtime == want and how in source


def test_detect_runtime_falls_back_to_the_model_format_and_says_when_it_cannot():
    assert I.detect_runtime(isvc(fmt="onnx"), sr("x"))[0] == "ovms"
    assert I.detect_runtime(isvc(fmt="vLLM"), None)[0] == "vllm"
    runtime, why = I.detect_runtime(isvc(fmt="sklearn"), sr("x"))
    assert runtime is None and "nothing" in why


def test_model_name_chat_and_embedding_from_args():
    i = isvc("granite", args=["--chat-template=/t.jinja"])
    assert I.served_model_name(i, VLLM_SR, "vllm") == "granite"  # {{.Name}} replaced
    assert I.chat_template_set(i, VLLM_SR) is True
    assert I.chat_template_set(isvc(), VLLM_SR) is False
    assert I.embedding_task(isvc(args=["--task", "embed"]), VLLM_SR) is True
    ovms = sr("x", containers=[{"name": "k", "args": ["--model_name=mnist-v2", "--rest_port=8888"]}])
    assert I.served_model_name(isvc("mnist"), ovms, "ovms") == "mnist-v2"
    assert I.served_model_name(isvc("emb"), sr("x"), "caikit-standalone") == "emb"


def test_flag_forms():
    assert I.flag(["--a=1", "--b", "2", "--c"], "--a") == "1"
    assert I.flag(["--a=1", "--b", "2", "--c"], "--b") == "2"
    assert I.flag(["--a=1", "--b", "2", "--c"], "--c") == ""
    assert I.flag(["--a=1"], "--d") is None
    assert I.flag(["--a=1", "--a=2"], "--a") == "2"


def test_auth_mode_and_readiness():
    assert I.auth_enabled(isvc(auth=True)) is True
    assert I.auth_enabled(isvc()) is False
    legacy = isvc()
    legacy["metadata"]["annotations"]["enable-auth"] = "true"
    assert I.auth_enabled(legacy) is True
    assert I.deployment_mode(isvc()) == "Serverless"
    assert I.readiness_problem(isvc()) is None
    assert "RevisionFailed: boom" in I.readiness_problem(isvc(ready=False))
    assert "no Ready condition" in I.readiness_problem({"status": {}})


# -- requests and checks ----------------------------------------------------------------------
def names(runtime, **kw):
    return [(c["name"], c["method"], c["path"]) for c in I.build_calls(runtime, "m", **kw)]


def test_build_calls_per_runtime():
    assert names("vllm") == [("models", "GET", "/v1/models"), ("completions", "POST", "/v1/completions")]
    assert names("vllm", chat=True)[-1] == ("chat_completions", "POST", "/v1/chat/completions")
    assert names("vllm", embed=True)[1] == ("embeddings", "POST", "/v1/embeddings")
    assert names("caikit-tgis") == [("text_generation", "POST", "/api/v1/task/text-generation")]
    assert names("caikit-standalone") == [("embedding", "POST", "/api/v1/task/embedding")]
    assert names("ovms") == [("ready", "GET", "/v2/models/m/ready"), ("infer", "POST", "/v2/models/m/infer")]
    assert names("tgis-grpc") == []


def test_build_calls_bodies_and_payload_override():
    comp = I.build_calls("vllm", "granite", prompt="Hi", max_tokens=5)[1]["body"]
    assert comp == {"model": "granite", "prompt": "Hi", "max_tokens": 5, "temperature": 0}
    gen = I.build_calls("caikit-tgis", "flan", prompt="Hi", max_tokens=7)[0]["body"]
    assert gen == {"model_id": "flan", "inputs": "Hi", "parameters": {"max_new_tokens": 7}}
    infer = I.build_calls("ovms", "mnist")[1]["body"]
    assert infer["inputs"][0]["shape"] == [1, 30] and len(infer["inputs"][0]["data"][0]) == 30
    mine = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1.0]}]}
    assert I.build_calls("ovms", "mnist", payload=mine)[1]["body"] is mine
    assert I.build_calls("ovms", "mnist", payload=mine)[0]["body"] is None


@pytest.mark.parametrize("name, body, problem", [
    ("models", {"data": [{"id": "m"}]}, None),
    ("models", {"data": [{"id": "other"}]}, "not in the served models"),
    ("completions", {"choices": [{"text": " hi"}]}, None),
    ("completions", {"choices": []}, "choices[0].text"),
    ("chat_completions", {"choices": [{"message": {"content": "hi"}}]}, None),
    ("chat_completions", {"choices": [{"text": "hi"}]}, "message.content"),
    ("embeddings", {"data": [{"embedding": [0.1]}]}, None),
    ("embeddings", {"data": []}, "embedding"),
    ("text_generation", {"generated_text": "x", "generated_tokens": 1}, None),
    ("text_generation", {"text": "x"}, "generated_text"),
    ("embedding", {"result": {"data": {"values": [0.1, 0.2]}}}, None),
    ("embedding", {"result": {}}, "result.data.values"),
    ("infer", {"outputs": [{"name": "o", "data": [0.9]}]}, None),
    ("infer", {"outputs": []}, "outputs"),
])
def test_check_answer(name, body, problem):
    got = I.check_answer(name, 200, json.dumps(body).encode(), "m")
    assert got is None if problem is None else problem in got


def test_check_answer_status_and_non_json():
    assert I.check_answer("completions", 500, b"{}", "m") == "HTTP 500"
    assert I.check_answer("ready", 200, b"", "m") is None
    assert "not a JSON object" in I.check_answer("completions", 200, b"<html>", "m")


def test_check_unauthorized():
    assert I.check_unauthorized(401) is None and I.check_unauthorized(403) is None
    assert "not enforced" in I.check_unauthorized(200)
    assert "no HTTP answer" in I.check_unauthorized(None)


def test_excerpt_and_scrub():
    assert I.excerpt(b'{"a":\n  1}') == '{"a": 1}'
    long = I.excerpt("x" * 500)
    assert len(long) == I.EXCERPT and long.endswith("...")
    assert I.scrub("Bearer %s here" % TOKEN, TOKEN) == "Bearer ******** here"
    assert I.scrub("nothing", None) == "nothing"


def test_endpoints():
    eps = I.endpoints("https://g.apps.x/", "vllm", "g", chat=True)
    assert eps == ["https://g.apps.x/v1/models", "https://g.apps.x/v1/completions",
                   "https://g.apps.x/v1/chat/completions", "https://g.apps.x/metrics"]
    assert I.endpoints("https://m.apps.x", "ovms", "m")[-1] == "https://m.apps.x/v2/models/m/infer"
    assert I.endpoints("https://t.apps.x", "tgis-grpc", "t") == ["grpc://t.apps.x:443 fmaas.GenerationService/Generate"]


# -- resolve ------------------------------------------------------------------------------------
def test_parse_resolve_and_most_specific_match():
    m = I.parse_resolve({"*": "10.0.0.1:8443", "*.apps.x": "10.0.0.2", "a.apps.x": "[::1]:9443"})
    assert m == {"*": ("10.0.0.1", 8443), "*.apps.x": ("10.0.0.2", None), "a.apps.x": ("::1", 9443)}
    assert I.connect_target("a.apps.x", 443, m) == ("::1", 9443)
    assert I.connect_target("B.apps.x", 443, m) == ("10.0.0.2", 443)
    assert I.connect_target("other.example", 443, m) == ("10.0.0.1", 8443)
    assert I.connect_target("h", 443, {}) == ("h", 443)


@pytest.mark.parametrize("bad", [{"h": "a:b:c"}, {"h": "1.2.3.4:0"}, {"h": ""}, {"h": "1.2.3.4:99999"}])
def test_parse_resolve_refuses_bad_entries(bad):
    with pytest.raises(InvalidInput) as e:
        I.parse_resolve(bad)
    assert "resolve" in e.value.msg


def test_split_url():
    assert I.split_url("https://Host.x") == ("https", "host.x", 443, "")
    assert I.split_url("http://h:8080/base/") == ("http", "h", 8080, "/base")
    for bad in ("ftp://h", "h.example.com", "https://"):
        with pytest.raises(InvalidInput):
            I.split_url(bad)


def test_ssl_context_options(tmp_path):
    assert I.ssl_context(validate=False).verify_mode == ssl.CERT_NONE
    with pytest.raises(InvalidInput) as e:
        I.ssl_context(ca=str(tmp_path / "missing.pem"))
    assert "neither PEM text nor a readable file" in e.value.msg
    with pytest.raises(InvalidInput):
        I.ssl_context(ca="-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")


# -- the caller against a local TLS server ----------------------------------------------------
def _pki(tmp_path, host):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    crt = cert.public_bytes(serialization.Encoding.PEM)
    (tmp_path / "tls.crt").write_bytes(crt)
    (tmp_path / "tls.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    return crt.decode()


@pytest.fixture
def server(tmp_path):
    """A local HTTPS server for host ``model.apps.test`` that answers like vLLM and records requests."""
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            seen.append({"path": self.path, "host": self.headers.get("Host"), "sni": getattr(self.connection, "sni", None),
                         "auth": self.headers.get("Authorization"), "body": body})
            if self.headers.get("Authorization") != "Bearer " + TOKEN:
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            out = {"/v1/models": {"data": [{"id": "granite"}]},
                   "/v1/completions": {"choices": [{"text": " echo %s" % TOKEN}]}}.get(self.path, {})
            data = json.dumps(out).encode()
            self.send_response(200 if out else 404)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

    ca = _pki(tmp_path, "model.apps.test")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(tmp_path / "tls.crt"), str(tmp_path / "tls.key"))

    def sni(sock, name, _ctx):
        sock.sni = name

    ctx.sni_callback = sni
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield {"port": httpd.server_address[1], "ca": ca, "seen": seen}
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_caller_resolves_keeps_sni_and_host_verifies_and_never_returns_the_token(server):
    resolve = I.parse_resolve({"model.apps.test": "127.0.0.1:%d" % server["port"]})
    caller = I.Caller("https://model.apps.test", TOKEN, I.ssl_context(ca=server["ca"]), resolve, timeout=10)
    calls = I.build_calls("vllm", "granite")
    results, problems = I.run_check(caller, calls, "granite", expect_unauthorized=True)
    assert problems == []
    assert [(r["name"], r["status"], r["with_token"]) for r in results] == [
        ("without_token", 401, False), ("models", 200, True), ("completions", 200, True)]
    assert all(s["sni"] == "model.apps.test" and s["host"] == "model.apps.test" for s in server["seen"])
    assert server["seen"][0]["auth"] is None and server["seen"][1]["auth"] == "Bearer " + TOKEN
    assert results[1]["url"] == "https://model.apps.test/v1/models"
    assert TOKEN not in json.dumps(results) and "********" in results[2]["excerpt"]


def test_caller_wrong_ca_is_a_tls_error(server):
    resolve = I.parse_resolve({"*": "127.0.0.1:%d" % server["port"]})
    caller = I.Caller("https://model.apps.test", TOKEN, I.ssl_context(), resolve, timeout=10)
    res = caller.call({"name": "models", "method": "GET", "path": "/v1/models", "body": None})
    assert res["status"] is None and res["error"].startswith("TLS:") and "CERTIFICATE_VERIFY_FAILED" in res["error"]
    # and a name the certificate does not cover
    caller = I.Caller("https://other.apps.test", TOKEN, I.ssl_context(ca=server["ca"]), resolve, timeout=10)
    res = caller.call({"name": "models", "method": "GET", "path": "/v1/models", "body": None})
    assert res["status"] is None and "TLS" in res["error"]


def test_call_until_retries_while_unreachable_then_gives_the_last_answer():
    class Fake(I.Caller):
        def __init__(self, answers):
            I.Caller.__init__(self, "https://h", clock=self.now, sleep=self.advance)
            self.t = 0.0
            self.answers = list(answers)

        def now(self):
            return self.t

        def advance(self, s):
            self.t += s

        def call(self, call, with_token=True):
            return {"name": call["name"], "status": self.answers.pop(0), "with_token": with_token}

    c = Fake([None, 503, 404, 200])
    assert c.call_until({"name": "x"}, deadline=10)["status"] == 200 and c.t == 3.0
    c = Fake([503] * 20)
    assert c.call_until({"name": "x"}, deadline=5)["status"] == 503 and c.t == 5.0


# -- the whole check ----------------------------------------------------------------------------
def reader(objects):
    def get_object(api_version, kind, name, namespace):
        return objects.get((kind, name))

    def list_objects(api_version, kind, namespace):
        return [o for key, o in objects.items() if key[0] == kind]

    return get_object, list_objects


def params(**kw):
    p = dict(name=None, namespace=None, url=None, runtime=None, model_name=None, token=None, ca=None,
             token_secret=None, validate_endpoint_certs=True, resolve=None, timeout=30, wait_timeout=0,
             expect_unauthorized_without_token=None, chat=None, prompt="Hello", max_tokens=16, payload=None)
    p.update(kw)
    return p


@pytest.mark.parametrize("kw, needle", [
    ({}, "name (with namespace) or url is required"),
    ({"name": "g"}, "namespace is required"),
    ({"url": "https://h"}, "model_name is required"),
    ({"url": "https://h", "model_name": "m"}, "runtime is required"),
    ({"url": "ftp://h", "model_name": "m", "runtime": "vllm"}, "not an http(s) URL"),
    ({"name": "g", "namespace": "ns", "timeout": 0}, "timeout"),
    ({"name": "g", "namespace": "ns", "max_tokens": 0}, "max_tokens"),
    ({"name": "g", "namespace": "ns", "resolve": {"h": "x:y:z"}}, "resolve"),
    ({"name": "g", "namespace": "ns", "token": "t", "token_secret": "s"}, "mutually exclusive"),
    ({"url": "https://h", "model_name": "m", "runtime": "vllm", "token_secret": "s"}, "namespace is required with token_secret"),
])
def test_inputs_are_refused_before_any_read(kw, needle):
    def never(*a):
        raise AssertionError("the cluster was read")

    with pytest.raises(InvalidInput) as e:
        I.inference_check(params(**kw), never, never)
    assert needle in e.value.msg


def test_missing_not_ready_and_unknown_runtime_isvc():
    with pytest.raises(ResourceNotFound) as e:
        I.inference_check(params(name="g", namespace="ns"), *reader({}))
    assert "InferenceService ns/g does not exist" in e.value.msg
    with pytest.raises(ModelServingError) as e:
        I.inference_check(params(name="g", namespace="ns"), *reader({("InferenceService", "g"): isvc("g", ready=False)}))
    assert "is not Ready: Ready=False (RevisionFailed: boom)" in e.value.msg
    with pytest.raises(InvalidInput) as e:
        I.inference_check(params(name="g", namespace="ns"),
                          *reader({("InferenceService", "g"): isvc("g", fmt="sklearn"), ("ServingRuntime", "rt"): sr("rt")}))
    assert "cannot tell the runtime" in e.value.msg and "give runtime" in e.value.msg


def test_tgis_grpc_is_a_clear_skip():
    res = I.inference_check(params(name="t", namespace="ns"), *reader({
        ("InferenceService", "t"): isvc("t", fmt="pytorch"), ("ServingRuntime", "rt"): sr("rt", template="tgis-grpc-runtime")}))
    assert res["skipped"] is True and "gRPC" in res["skip_reason"] and res["calls"] == [] and res["changed"] is False


def test_auth_on_without_token_needs_the_token_unless_only_the_refusal_is_checked():
    objs = {("InferenceService", "g"): isvc("g", auth=True), ("ServingRuntime", "rt"): VLLM_SR}
    with pytest.raises(InvalidInput) as e:
        I.inference_check(params(name="g", namespace="ns", expect_unauthorized_without_token=False), *reader(objs))
    assert "has token auth on" in e.value.msg


def test_whole_check_against_the_local_server(server):
    objs = {("InferenceService", "granite"): isvc("granite", auth=True, url="https://model.apps.test"),
            ("ServingRuntime", "rt"): VLLM_SR}
    p = params(name="granite", namespace="ns", token=TOKEN + "\n", ca=server["ca"],  # as read from a file
               resolve={"*": "127.0.0.1:%d" % server["port"]})
    res = I.inference_check(p, *reader(objs))
    assert res["ok"] and res["auth"] and res["runtime"] == "vllm" and res["model_name"] == "granite"
    assert [c["name"] for c in res["calls"]] == ["without_token", "models", "completions"]
    assert res["connect_to"] == "127.0.0.1:%d" % server["port"]
    assert TOKEN not in json.dumps(res)
    # a failing call raises with the result and a message free of the token
    p["model_name"] = "other"
    with pytest.raises(ModelServingError) as e:
        I.inference_check(p, *reader(objs))
    assert "not in the served models" in e.value.msg and e.value.details["ok"] is False
    assert TOKEN not in e.value.msg and TOKEN not in json.dumps(e.value.details)


# -- contract with the testbed's model-server simulator ---------------------------------------
def _simulate(runtime_sr, service, calls):
    from testbed.sim.modelserver import Model, ModelServer

    srv = ModelServer()
    model = Model(service, runtime_sr)
    out = []
    for c in calls:
        status, _ctype, body = srv.handle(model, c["method"], c["path"], json.dumps(c["body"]).encode() if c["body"] else b"")
        out.append((c["name"], status, I.check_answer(c["name"], status, body, I.served_model_name(service, runtime_sr, model.runtime))))
    return srv, model, out


@pytest.mark.parametrize("runtime_sr, service", [
    (VLLM_SR, isvc("granite", args=["--chat-template=/t.jinja"])),
    (sr("x", template="caikit-tgis-runtime"), isvc("flan", fmt="caikit")),
    (sr("x", template="caikit-standalone-runtime"), isvc("emb", fmt="caikit")),
    (sr("x", template="kserve-ovms", containers=[{"name": "k", "args": ["--model_name={{.Name}}"]}]), isvc("mnist", fmt="onnx")),
])
def test_the_simulator_answers_pass_the_checks(runtime_sr, service):
    runtime = I.detect_runtime(service, runtime_sr)[0]
    name = I.served_model_name(service, runtime_sr, runtime)
    calls = I.build_calls(runtime, name, chat=I.chat_template_set(service, runtime_sr))
    srv, model, out = _simulate(runtime_sr, service, calls)
    assert model.runtime == runtime
    assert all(status == 200 and problem is None for _name, status, problem in out), out
    metrics = srv.stats.render(model)
    counter = {"vllm": "vllm:request_success_total", "caikit-tgis": "tgi_request_success",
               "caikit-standalone": "predict_rpc_count_total", "ovms": "ovms_requests_success"}[runtime]
    assert counter + "{" in metrics


def test_the_simulator_refuses_chat_without_a_template_and_wrong_model_names():
    from testbed.sim.modelserver import Model, ModelServer

    srv, m = ModelServer(), Model(isvc("granite"), VLLM_SR)
    chat = {"model": "granite", "messages": [{"role": "user", "content": "x"}]}
    status, _ctype, body = srv.handle(m, "POST", "/v1/chat/completions", json.dumps(chat).encode())
    assert status == 400 and b"chat template" in body
    status, _ctype, body = srv.handle(m, "POST", "/v1/completions", json.dumps({"model": "x", "prompt": "p"}).encode())
    assert status == 404 and b"does not exist" in body
    ovms = Model(isvc("mnist", fmt="onnx"), sr("x", template="kserve-ovms"))
    bad = {"inputs": [{"name": "i", "shape": [1, 3], "datatype": "FP32", "data": [1.0]}]}
    status, _ctype, body = srv.handle(ovms, "POST", "/v2/models/mnist/infer", json.dumps(bad).encode())
    assert status == 400 and b"Invalid number of elements" in body
    # deterministic answers
    a = srv.handle(m, "POST", "/v1/completions", json.dumps({"model": "granite", "prompt": "p"}).encode())
    b = srv.handle(m, "POST", "/v1/completions", json.dumps({"model": "granite", "prompt": "p"}).encode())
    assert a == b


def test_socket_helpers_are_plain_sockets():
    # the HTTP (non-TLS) connection goes to the resolved target as well
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    port = lsock.getsockname()[1]

    def serve():
        conn = lsock.accept()[0]
        data = conn.recv(65536)
        assert b"Host: svc.cluster.local" in data
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    caller = I.Caller("http://svc.cluster.local", None, None, I.parse_resolve({"*": "127.0.0.1:%d" % port}), timeout=10)
    res = caller.call({"name": "ready", "method": "GET", "path": "/v2/models/m/ready", "body": None})
    t.join(10)
    lsock.close()
    assert res["status"] == 200 and res["with_token"] is False


# -- the testbed ingress's choices (fake informer caches, no cluster) ---------------------------
class _Cache(object):
    def __init__(self, objs):
        self.objs = objs
        self.served = True

    def items(self, namespace=None, selector=None):
        out = []
        for o in self.objs:
            md = o["metadata"]
            if namespace is not None and md.get("namespace") != namespace:
                continue
            if selector and any((md.get("labels") or {}).get(k) != v for k, v in selector.items()):
                continue
            out.append(o)
        return out

    def get(self, name, namespace=None):
        for o in self.objs:
            if o["metadata"]["name"] == name and o["metadata"].get("namespace") == namespace:
                return o
        return None


class _Mgr(object):
    def __init__(self, objs, secrets):
        from testbed.sim import resources as R

        self.caches = {}
        for res, o in objs:
            self.caches.setdefault(res, []).append(o)
        self.kube = self
        self.secrets = secrets
        self.secret_res = R.SECRET

    def informer(self, res):
        return _Cache(self.caches.get(res, []))

    def get(self, res, name, namespace=None):  # kube.get(R.SECRET, ...) and mgr.get(...)
        if res == self.secret_res:
            return self.secrets.get((namespace, name))
        return self.informer(res).get(name, namespace)


def _secret(crt, key):
    import base64

    return {"data": {"tls.crt": base64.b64encode(crt).decode(), "tls.key": base64.b64encode(key).decode()}}


def test_testbed_ingress_picks_the_certificate_routes_and_auth():
    from testbed.sim import resources as R
    from testbed.sim.ingress import Ingress, host_matches

    assert host_matches("*", "a.b") and host_matches("*.apps.x", "m-ns.apps.x") and host_matches("ns/*.apps.x", "a.apps.x")
    assert not host_matches("*.apps.x", "apps.x") and not host_matches("a.apps.x", "b.apps.x")

    gw = {"metadata": {"name": "knative-ingress-gateway", "namespace": "knative-serving"},
          "spec": {"servers": [{"hosts": ["*.apps.x"], "port": {"number": 443, "protocol": "HTTPS"},
                                "tls": {"mode": "SIMPLE", "credentialName": "wildcard-certs"}}]}}
    edge = {"metadata": {"name": "raw", "namespace": "ns", "labels": {"inferenceservice-name": "raw"}},
            "spec": {"host": "raw-ns.apps.x", "tls": {"termination": "edge", "certificate": "C", "key": "K"}}}
    serverless = isvc("llm", url="https://llm-ns.apps.x")
    raw = isvc("raw", url="http://raw-predictor.ns.svc.cluster.local")
    raw["metadata"]["annotations"]["security.opendatahub.io/enable-auth"] = "true"
    anon = {"metadata": {"name": "llm", "namespace": "ns"}, "spec": {"authentication": {"anonymous-access": {"anonymous": {}}}}}
    mgr = _Mgr([(R.GATEWAY, gw), (R.ROUTE, edge), (R.ISVC, serverless), (R.ISVC, raw), (R.AUTHCONFIG, anon)],
               {("istio-system", "wildcard-certs"): _secret(b"GWCRT", b"GWKEY")})
    ing = Ingress(mgr)
    ing.fallback = (b"FB", b"FBK")
    try:
        assert ing.certificate_for("llm-ns.apps.x") == (b"GWCRT", b"GWKEY", "secret istio-system/wildcard-certs")
        assert ing.certificate_for("raw-ns.apps.x") == (b"C", b"K", "route raw")
        assert ing.certificate_for("elsewhere.example.com")[2] == "fallback"
        assert ing.isvc_for("llm-ns.apps.x", tls=True)["metadata"]["name"] == "llm"
        assert ing.isvc_for("raw-ns.apps.x", tls=True)["metadata"]["name"] == "raw"
        assert ing.isvc_for("raw-predictor.ns.svc.cluster.local", tls=False)["metadata"]["name"] == "raw"
        assert ing.isvc_for("raw-predictor.ns", tls=False)["metadata"]["name"] == "raw"
        assert ing.isvc_for("nobody.apps.x", tls=True) is None
        assert ing.auth_required(raw) is True  # no AuthConfig: the annotation
        serverless["metadata"]["annotations"]["security.opendatahub.io/enable-auth"] = "true"
        assert ing.auth_required(serverless) is False  # the AuthConfig (anonymous) decides
        assert ing.authorize(raw, None) == (401, "credential not found")
        assert ing.authorize(raw, "Basic abc") == (401, "credential not found")
        status, _ctype, body, _extra = ing.serve(True, "nobody.apps.x", "GET", "/v1/models", {}, b"")
        assert status == 503 and b"Application is not available" in body
        serverless["status"]["conditions"][0]["status"] = "False"
        assert ing.serve(True, "llm-ns.apps.x", "GET", "/v1/models", {}, b"")[:3] == (503, "text/plain", b"no healthy upstream")
    finally:
        ing.stop()


def test_secret_token_waits_for_the_token_controller():
    import base64

    state = {"t": 0.0, "reads": 0}
    filled = {"type": "kubernetes.io/service-account-token", "data": {"token": base64.b64encode(TOKEN.encode() + b"\n").decode()}}
    empty = {"type": "kubernetes.io/service-account-token", "data": {}}

    def get_object(api_version, kind, name, namespace):
        assert (api_version, kind, name, namespace) == ("v1", "Secret", "default-name-g-sa", "ns")
        state["reads"] += 1
        return filled if state["reads"] >= 3 else empty

    def clock():
        return state["t"]

    def sleep(s):
        state["t"] += s

    assert I.secret_token(get_object, "default-name-g-sa", "ns", 10, clock, sleep) == TOKEN and state["t"] == 2.0
    state.update(t=0.0, reads=-100)
    with pytest.raises(ResourceNotFound) as e:
        I.secret_token(get_object, "default-name-g-sa", "ns", 3, clock, sleep)
    assert "has no data.token yet (the token controller" in e.value.msg and TOKEN not in e.value.msg
    with pytest.raises(ResourceNotFound) as e:
        I.secret_token(lambda *a: None, "x", "ns")
    assert "Secret ns/x (token_secret) does not exist" in e.value.msg


def test_many_models_in_one_run_each_with_its_result_and_one_failure_named(server):
    objs = {("InferenceService", "granite"): isvc("granite", auth=True, url="https://model.apps.test"),
            ("ServingRuntime", "rt"): VLLM_SR,
            ("InferenceService", "broken"): isvc("broken", ready=False)}
    p = params(ca=server["ca"], resolve={"*": "127.0.0.1:%d" % server["port"]})
    p["models"] = [{"name": "granite", "namespace": "ns", "token": TOKEN}] * 3 + [{"name": "broken", "namespace": "ns"}]
    with pytest.raises(ModelServingError) as e:
        I.inference_checks(p, *reader(objs), workers=3)
    checks = e.value.details["checks"]
    assert [c["name"] for c in checks] == ["granite"] * 3 + ["broken"]
    assert all(c["ok"] for c in checks[:3]) and not checks[3]["ok"]
    assert "1 of 4 models" in e.value.msg and "InferenceService ns/broken is not Ready" in e.value.msg
    assert TOKEN not in json.dumps(e.value.details) and TOKEN not in e.value.msg
    assert [c["name"] for c in checks[0]["calls"]] == ["without_token", "models", "completions"]


def test_many_models_a_bad_entry_is_refused_before_any_call():
    def never(*a):
        raise AssertionError("the cluster was read")

    p = params()
    p["models"] = [{"name": "a", "namespace": "ns"}, {"name": "b"}]
    with pytest.raises(InvalidInput) as e:
        I.inference_checks(p, never, never)
    assert e.value.msg.startswith("models[1] (None/b): namespace is required")
