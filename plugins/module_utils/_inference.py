# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inference check: which endpoints a deployed model has, how to call them, and whether the answers are right.

Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

Facts (shared/reference/serving-api.md §6): QE calls an exposed model at ``status.url`` of the
InferenceService; vLLM ``/v1/models``, ``/v1/completions`` (``model`` = ISVC name, the
``--served-model-name={{.Name}}`` of the runtime), ``/v1/chat/completions``; Caikit-TGIS
``/api/v1/task/text-generation`` (``model_id``, ``inputs``); Caikit standalone embeddings
``/api/v1/task/embedding``; OVMS ``/v2/models/<name>/ready`` and ``/infer``; TGIS speaks gRPC only.
With token auth (``security.opendatahub.io/enable-auth: "true"``) the call carries
``Authorization: Bearer <token>``.

The request building and the response checks are pure functions (unit-tested); :class:`Caller`
does the HTTP with the Python standard library. The token is only ever put into a request
header: it is never part of a result, a message or an exception text (:func:`scrub`).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import http.client as http_client
import json
import os
import re
import socket
import ssl
import time
from urllib.parse import urlsplit

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import (
    InvalidInput,
    ModelServingError,
    ResourceNotFound,
)

VLLM = "vllm"
CAIKIT_TGIS = "caikit-tgis"
CAIKIT_STANDALONE = "caikit-standalone"
OVMS = "ovms"
TGIS_GRPC = "tgis-grpc"
RUNTIMES = (VLLM, CAIKIT_TGIS, CAIKIT_STANDALONE, OVMS, TGIS_GRPC)

AUTH_ANNOTATIONS = ("security.opendatahub.io/enable-auth", "enable-auth")
TEMPLATE_NAME_ANNOTATION = "opendatahub.io/template-name"
KSERVE_RUNTIME_ANNOTATION = "opendatahub.io/kserve-runtime"
PROTOCOL_ANNOTATION = "opendatahub.io/apiProtocol"

# ServingRuntime names of the shipped templates (serving-api.md §1.2)
_SR_NAMES = (
    (re.compile(r"^vllm(-[a-z0-9]+)*-runtime$"), VLLM),
    (re.compile(r"^caikit-tgis-runtime$"), CAIKIT_TGIS),
    (re.compile(r"^caikit-standalone-runtime$"), CAIKIT_STANDALONE),
    (re.compile(r"^tgis-grpc-runtime$"), TGIS_GRPC),
    (re.compile(r"^(kserve-)?ovms$"), OVMS),
)
_FORMATS = {"vllm": VLLM, "openvino_ir": OVMS, "onnx": OVMS, "caikit": CAIKIT_STANDALONE}

# The sample OVMS input of the QE tests (a [1, 30] FP32 tensor).
OVMS_SAMPLE_INPUT = {
    "inputs": [
        {
            "name": "Func/StatefulPartitionedCall/input/_0:0",
            "shape": [1, 30],
            "datatype": "FP32",
            "data": [[float(i % 10) / 10.0 for i in range(30)]],
        }
    ]
}
TGIS_SKIP = (
    "TGIS standalone serves gRPC only (fmaas.GenerationService/Generate on port 8033); this module has "
    "no gRPC client, so the inference call is skipped"
)
EXCERPT = 200
REDACTED = "********"
RETRY_STATUSES = (404, 502, 503)


def _dig(obj, *path):
    for p in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(p)
    return obj


def scrub(text, secret):
    """``text`` with every occurrence of ``secret`` replaced."""
    if not secret or text is None:
        return text
    return text.replace(secret, REDACTED)


def excerpt(body, limit=EXCERPT):
    """A short, single-line excerpt of a response body (bytes or text)."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    text = " ".join((body or "").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------
# What the InferenceService tells
# --------------------------------------------------------------------------------------------
def container_args(isvc, sr):
    """Command and args of the runtime's first container plus the ISVC's ``model.args``, ``{{.Name}}``
    replaced by the InferenceService name as KServe does."""
    name = _dig(isvc, "metadata", "name") or ""
    out = []
    containers = _dig(sr, "spec", "containers") or []
    for c in containers[:1]:
        out.extend(str(x) for x in (c.get("command") or []) + (c.get("args") or []))
    out.extend(str(x) for x in _dig(isvc, "spec", "predictor", "model", "args") or [])
    return [a.replace("{{.Name}}", name) for a in out]


def flag(args, name):
    """Value of ``--name=value`` or ``--name value`` in ``args`` (last wins); "" for a bare flag; None when absent."""
    value = None
    for i, a in enumerate(args):
        if a == name:
            value = args[i + 1] if i + 1 < len(args) and not args[i + 1].startswith("--") else ""
        elif a.startswith(name + "="):
            value = a.split("=", 1)[1]
    return value


def detect_runtime(isvc, sr):
    """(runtime, how it was recognised). The runtime is None when nothing tells.

    Order: the ServingRuntime's ``opendatahub.io/template-name`` annotation (what the dashboard
    writes), its name, ``spec.annotations.opendatahub.io/kserve-runtime`` (2.25+), its containers
    (entry points and images), ``opendatahub.io/apiProtocol: gRPC``, then the model format."""
    ann = _dig(sr, "metadata", "annotations") or {}
    for source, name in (
        ("annotation %s" % TEMPLATE_NAME_ANNOTATION, ann.get(TEMPLATE_NAME_ANNOTATION)),
        ("ServingRuntime name", _dig(sr, "metadata", "name")),
    ):
        for rx, runtime in _SR_NAMES:
            if name and rx.match(name):
                return runtime, "%s %s" % (source, name)
    containers = _dig(sr, "spec", "containers") or []
    kr = (_dig(sr, "spec", "annotations") or {}).get(KSERVE_RUNTIME_ANNOTATION)
    how = "ServingRuntime spec.annotations %s=%s" % (KSERVE_RUNTIME_ANNOTATION, kr)
    if kr in ("vllm", "ovms"):
        return kr, how
    if kr == "tgis":
        return TGIS_GRPC, how
    if kr == "caikit":
        return (CAIKIT_TGIS if len(containers) > 1 else CAIKIT_STANDALONE), how
    parts = []
    for c in containers:
        parts.extend([c.get("name") or "", c.get("image") or ""])
        parts.extend(str(x) for x in (c.get("command") or []) + (c.get("args") or []))
    text = " ".join(parts).lower()
    how = "ServingRuntime containers"
    if "vllm" in text:
        return VLLM, how
    if "caikit" in text:
        return (CAIKIT_TGIS if ("text-generation-launcher" in text or len(containers) > 1) else CAIKIT_STANDALONE), how
    if "text-generation-launcher" in text or "text-generation-inference" in text:
        return TGIS_GRPC, how
    if "ovms" in text or "openvino" in text or "--rest_port" in text:
        return OVMS, how
    if str(ann.get(PROTOCOL_ANNOTATION, "")).lower() == "grpc":
        return TGIS_GRPC, "annotation %s=gRPC" % PROTOCOL_ANNOTATION
    fmt = (_dig(isvc, "spec", "predictor", "model", "modelFormat", "name") or "").lower()
    if fmt in _FORMATS:
        return _FORMATS[fmt], "model format %s" % fmt
    return None, "nothing in the ServingRuntime or the model format names a known runtime"


def served_model_name(isvc, sr, runtime):
    """The model name requests must carry: vLLM ``--served-model-name``, OVMS ``--model_name``, else the ISVC name."""
    args = container_args(isvc, sr)
    name = None
    if runtime == VLLM:
        name = flag(args, "--served-model-name")
    elif runtime == OVMS:
        name = flag(args, "--model_name")
    return name or _dig(isvc, "metadata", "name")


def chat_template_set(isvc, sr):
    return flag(container_args(isvc, sr), "--chat-template") is not None


def embedding_task(isvc, sr):
    return (flag(container_args(isvc, sr), "--task") or "") in ("embed", "embedding")


def auth_enabled(isvc):
    ann = _dig(isvc, "metadata", "annotations") or {}
    return any(str(ann.get(a, "")).lower() == "true" for a in AUTH_ANNOTATIONS)


def deployment_mode(isvc):
    ann = _dig(isvc, "metadata", "annotations") or {}
    return _dig(isvc, "status", "deploymentMode") or ann.get("serving.kserve.io/deploymentMode")


def readiness_problem(isvc):
    """None when the InferenceService is Ready, else why not (from its Ready condition)."""
    for c in _dig(isvc, "status", "conditions") or []:
        if c.get("type") == "Ready":
            if c.get("status") == "True":
                return None
            return "Ready=%s (%s: %s)" % (c.get("status"), c.get("reason") or "", c.get("message") or "")
    return "it has no Ready condition yet"


# --------------------------------------------------------------------------------------------
# Requests and checks
# --------------------------------------------------------------------------------------------
def endpoints(base_url, runtime, model, chat=False, embed=False):
    """The inference endpoints of the model for its runtime (full URLs)."""
    base = base_url.rstrip("/")
    vllm = ["/v1/models", "/v1/embeddings" if embed else "/v1/completions"]
    if chat:
        vllm.append("/v1/chat/completions")
    paths = {
        VLLM: vllm + ["/metrics"],
        CAIKIT_TGIS: ["/api/v1/task/text-generation", "/api/v1/task/server-streaming-text-generation"],
        CAIKIT_STANDALONE: ["/api/v1/task/embedding", "/api/v1/task/embedding-tasks"],
        OVMS: ["/v2/models/%s" % model, "/v2/models/%s/ready" % model, "/v2/models/%s/infer" % model],
        TGIS_GRPC: [],
    }.get(runtime, [])
    out = [base + p for p in paths]
    if runtime == TGIS_GRPC:
        out.append("grpc://%s:443 fmaas.GenerationService/Generate" % (urlsplit(base).hostname or base))
    return out


def build_calls(runtime, model, prompt="Hello", max_tokens=16, chat=False, embed=False, payload=None):
    """The calls of the check, in order: dicts with ``name``, ``method``, ``path``, ``body`` (dict or None).

    ``payload`` replaces the body of the runtime's inference call. TGIS gRPC gives no call."""
    calls = []
    if runtime == VLLM:
        calls.append(dict(name="models", method="GET", path="/v1/models", body=None))
        if embed:
            calls.append(dict(name="embeddings", method="POST", path="/v1/embeddings",
                              body={"model": model, "input": prompt, "encoding_format": "float"}))
        else:
            calls.append(dict(name="completions", method="POST", path="/v1/completions",
                              body={"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0}))
        if chat:
            calls.append(dict(name="chat_completions", method="POST", path="/v1/chat/completions",
                              body={"model": model, "messages": [{"role": "user", "content": prompt}],
                                    "max_tokens": max_tokens, "temperature": 0}))
    elif runtime == CAIKIT_TGIS:
        calls.append(dict(name="text_generation", method="POST", path="/api/v1/task/text-generation",
                          body={"model_id": model, "inputs": prompt, "parameters": {"max_new_tokens": max_tokens}}))
    elif runtime == CAIKIT_STANDALONE:
        calls.append(dict(name="embedding", method="POST", path="/api/v1/task/embedding",
                          body={"model_id": model, "inputs": prompt}))
    elif runtime == OVMS:
        calls.append(dict(name="ready", method="GET", path="/v2/models/%s/ready" % model, body=None))
        calls.append(dict(name="infer", method="POST", path="/v2/models/%s/infer" % model, body=OVMS_SAMPLE_INPUT))
    if payload is not None and calls:
        main = [c for c in calls if c["method"] == "POST"]
        if main:
            main[0]["body"] = payload
    return calls


def _json_body(body):
    try:
        return json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
    except (ValueError, UnicodeDecodeError, AttributeError):
        return None


def check_answer(call_name, status, body, model):
    """None when the answer of ``call_name`` is what the runtime answers on success, else the problem."""
    if status != 200:
        return "HTTP %s" % status
    if call_name == "ready":
        return None
    doc = _json_body(body)
    if not isinstance(doc, dict):
        return "the answer is not a JSON object"
    if call_name == "models":
        ids = [m.get("id") for m in doc.get("data") or [] if isinstance(m, dict)]
        return None if model in ids else "model %s is not in the served models %s" % (model, ids)
    if call_name == "completions":
        text = _dig((doc.get("choices") or [{}])[0], "text") if doc.get("choices") else None
        return None if isinstance(text, str) else "no choices[0].text in the answer"
    if call_name == "chat_completions":
        text = _dig((doc.get("choices") or [{}])[0], "message", "content") if doc.get("choices") else None
        return None if isinstance(text, str) else "no choices[0].message.content in the answer"
    if call_name == "embeddings":
        data = doc.get("data") or []
        ok = data and isinstance(data[0], dict) and isinstance(data[0].get("embedding"), list) and data[0]["embedding"]
        return None if ok else "no data[0].embedding in the answer"
    if call_name == "text_generation":
        return None if isinstance(doc.get("generated_text"), str) else "no generated_text in the answer"
    if call_name == "embedding":
        values = _dig(doc, "result", "data", "values")
        return None if isinstance(values, list) and values else "no result.data.values in the answer"
    if call_name == "infer":
        outputs = doc.get("outputs")
        ok = isinstance(outputs, list) and outputs and all(isinstance(o, dict) and "data" in o for o in outputs)
        return None if ok else "no outputs[].data in the answer"
    return None


def check_unauthorized(status):
    """None when a call without a token was refused as token auth refuses it (401/403), else the problem."""
    if status in (401, 403):
        return None
    if status is None:
        return "the call without a token got no HTTP answer"
    return "a call without a token got HTTP %s: token auth is not enforced" % status


# --------------------------------------------------------------------------------------------
# Where to connect
# --------------------------------------------------------------------------------------------
def parse_resolve(resolve):
    """Validate ``resolve`` (host pattern -> ``address[:port]``); returns {pattern: (address, port or None)}.

    Patterns: an exact host, ``*.suffix`` (any host under suffix) or ``*`` (any host)."""
    out = {}
    for pattern, target in (resolve or {}).items():
        pattern = str(pattern).strip().lower()
        target = str(target).strip()
        if not pattern or not target:
            raise InvalidInput("resolve: entries must map a host to an address, got %r: %r" % (pattern, target))
        address, port = target, None
        m = re.match(r"^\[([0-9a-fA-F:.]+)\](?::(\d+))?$", target) or re.match(r"^([^:\[\]]+)(?::(\d+))?$", target)
        if not m:
            raise InvalidInput("resolve: %s: %r is not an address, address:port or [IPv6]:port" % (pattern, target))
        address, port = m.group(1), m.group(2)
        if port is not None:
            port = int(port)
            if not 0 < port < 65536:
                raise InvalidInput("resolve: %s: port %d is out of range" % (pattern, port))
        out[pattern] = (address, port)
    return out


def connect_target(host, port, resolve_map):
    """(address, port) to connect to for ``host:port``: the most specific ``resolve`` entry, else the host itself."""
    host = (host or "").lower()
    best = None
    for pattern, (address, rport) in resolve_map.items():
        if pattern == host:
            rank = 3
        elif pattern.startswith("*.") and host.endswith(pattern[1:]):
            rank = 2
        elif pattern == "*":
            rank = 1
        else:
            continue
        if best is None or rank > best[0]:
            best = (rank, address, rport)
    if best is None:
        return host, port
    return best[1], best[2] or port


def split_url(url):
    """(scheme, host, port, base path) of a model URL; InvalidInput naming the URL when it is not http(s)."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("url: %r is not an http(s) URL" % (url,))
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidInput("url: %r has an invalid port" % (url,))
    return parts.scheme, parts.hostname.lower(), port, parts.path.rstrip("/")


def ssl_context(validate=True, ca=None):
    """Client TLS context: verification on by default; ``ca`` is PEM text or a path to a PEM file."""
    if not validate:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if ca:
        if "-----BEGIN" in ca:
            pem = ca
        else:
            path = os.path.expanduser(ca)
            if not os.path.isfile(path):
                raise InvalidInput("ca: %s is neither PEM text nor a readable file" % ca)
            with open(path) as f:
                pem = f.read()
        try:
            return ssl.create_default_context(cadata=pem)
        except (ssl.SSLError, ValueError) as e:
            raise InvalidInput("ca: not a usable PEM CA certificate: %s" % e)
    return ssl.create_default_context()


class _HTTPSConnection(http_client.HTTPSConnection):
    """HTTPS to ``connect_to`` with SNI, certificate check and Host header of the URL's host (curl --resolve)."""

    def __init__(self, host, port, connect_to, context, timeout):
        http_client.HTTPSConnection.__init__(self, host, port, context=context, timeout=timeout)
        self._target = connect_to
        self._ctx = context

    def connect(self):
        sock = socket.create_connection(self._target, self.timeout)
        self.sock = self._ctx.wrap_socket(sock, server_hostname=self.host)


class _HTTPConnection(http_client.HTTPConnection):
    def __init__(self, host, port, connect_to, timeout):
        http_client.HTTPConnection.__init__(self, host, port, timeout=timeout)
        self._target = connect_to

    def connect(self):
        self.sock = socket.create_connection(self._target, self.timeout)


class Caller(object):
    """Makes the calls of a check against one base URL. ``clock``/``sleep`` are injectable for tests."""

    def __init__(self, url, token=None, context=None, resolve_map=None, timeout=30, clock=time.monotonic, sleep=time.sleep):
        self.scheme, self.host, self.port, self.base_path = split_url(url)
        self.url = "%s://%s%s%s" % (
            self.scheme, self.host, "" if self.port in (80, 443) else ":%d" % self.port, self.base_path)
        self.connect_to = connect_target(self.host, self.port, resolve_map or {})
        self.token = token
        self.context = context
        self.timeout = timeout
        self.clock = clock
        self.sleep = sleep

    def _connection(self):
        if self.scheme == "https":
            return _HTTPSConnection(self.host, self.port, self.connect_to, self.context, self.timeout)
        return _HTTPConnection(self.host, self.port, self.connect_to, self.timeout)

    def call(self, call, with_token=True):
        """One call -> result dict (``name``, ``method``, ``url``, ``status``, ``latency_ms``, ``excerpt``,
        ``with_token``, and ``error`` when no HTTP answer came). The raw body is in ``_body``."""
        headers = {"Accept": "application/json"}
        data = None
        if call.get("body") is not None:
            data = json.dumps(call["body"]).encode("utf-8")
            headers["Content-Type"] = "application/json"
        sent_token = bool(with_token and self.token)
        if sent_token:
            headers["Authorization"] = "Bearer %s" % self.token
        out = dict(name=call["name"], method=call["method"], url=self.url + call["path"], status=None,
                   latency_ms=None, excerpt="", with_token=sent_token)
        conn = self._connection()
        start = self.clock()
        try:
            conn.request(call["method"], self.base_path + call["path"], body=data, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            out["status"] = resp.status
            out["_body"] = body
            out["excerpt"] = scrub(excerpt(body), self.token)
        except ssl.SSLError as e:
            out["error"] = scrub("TLS: %s" % e, self.token)
        except (socket.error, http_client.HTTPException, ValueError) as e:
            out["error"] = scrub("%s: %s" % (type(e).__name__, e), self.token)
        finally:
            out["latency_ms"] = int(round((self.clock() - start) * 1000))
            conn.close()
        return out

    def call_until(self, call, deadline, with_token=True):
        """``call`` repeated (1 s apart) while the endpoint is not reachable yet (no answer, HTTP 404/502/503)
        and ``deadline`` (a ``clock`` value) has not passed."""
        while True:
            res = self.call(call, with_token)
            retry = res["status"] is None or res["status"] in RETRY_STATUSES
            if not retry or self.clock() >= deadline:
                return res
            self.sleep(1.0)


def run_check(caller, calls, model, expect_unauthorized=False, wait_timeout=0, only_unauthorized=False):
    """Make the calls; returns (results, problems). The first call (and the unauthorized check) are
    repeated while the endpoint is not reachable yet, up to ``wait_timeout`` seconds."""
    results, problems = [], []
    deadline = caller.clock() + max(wait_timeout or 0, 0)
    if expect_unauthorized and calls:
        probe = dict(calls[0], name="without_token")
        res = caller.call_until(probe, deadline, with_token=False)
        res.pop("_body", None)
        problem = check_unauthorized(res["status"])
        if problem and res.get("error"):
            problem = "%s (%s)" % (problem, res["error"])
        res["ok"] = problem is None
        if problem:
            res["problem"] = problem
            problems.append("%s %s: %s" % (res["method"], res["url"], problem))
        results.append(res)
    if only_unauthorized:
        return results, problems
    for i, call in enumerate(calls):
        res = caller.call_until(call, deadline) if i == 0 else caller.call(call)
        body = res.pop("_body", None)
        problem = res.get("error") or check_answer(call["name"], res["status"], body, model)
        if res["status"] in (401, 403) and not res["with_token"]:
            problem = "HTTP %s: the model requires a token (token auth is on)" % res["status"]
        elif res["status"] in (401, 403):
            problem = "HTTP %s: the token was refused (%s)" % (
                res["status"], "not authenticated" if res["status"] == 401 else "no get permission on the InferenceService")
        res["ok"] = problem is None
        if problem:
            res["problem"] = problem
            problems.append("%s %s: %s" % (res["method"], res["url"], problem))
        results.append(res)
    return results, problems


# --------------------------------------------------------------------------------------------
# The whole check (the module calls this)
# --------------------------------------------------------------------------------------------
ISVC_API = ("serving.kserve.io/v1beta1", "InferenceService")
SR_API = ("serving.kserve.io/v1alpha1", "ServingRuntime")


def _validate(params):
    if not params.get("name") and not params.get("url"):
        raise InvalidInput("name (with namespace) or url is required")
    if params.get("name") and not params.get("namespace"):
        raise InvalidInput("namespace is required with name")
    if not params.get("name") and not params.get("model_name") and params.get("runtime") != TGIS_GRPC:
        raise InvalidInput("model_name is required with url when name (the InferenceService) is not given")
    if not params.get("name") and not params.get("runtime"):
        raise InvalidInput("runtime is required with url when name (the InferenceService) is not given")
    if params.get("token_secret") and params.get("token"):
        raise InvalidInput("token and token_secret are mutually exclusive")
    if params.get("token_secret") and not params.get("namespace"):
        raise InvalidInput("namespace is required with token_secret (the Secret's namespace)")
    if params.get("url"):
        split_url(params["url"])
    if (params.get("timeout") or 0) <= 0:
        raise InvalidInput("timeout must be a positive number of seconds, got %r" % params.get("timeout"))
    if (params.get("wait_timeout") or 0) < 0:
        raise InvalidInput("wait_timeout must not be negative, got %r" % params.get("wait_timeout"))
    if (params.get("max_tokens") or 0) < 1:
        raise InvalidInput("max_tokens must be at least 1, got %r" % params.get("max_tokens"))
    resolve_map = parse_resolve(params.get("resolve"))
    context = ssl_context(params.get("validate_endpoint_certs", True), params.get("ca"))
    return resolve_map, context


def _find_runtime(isvc, get_object, list_objects):
    """The ServingRuntime of the InferenceService: ``model.runtime`` by name, else the one KServe
    auto-selects for the model format. None when absent."""
    ns = _dig(isvc, "metadata", "namespace")
    name = _dig(isvc, "spec", "predictor", "model", "runtime")
    if name:
        return get_object(SR_API[0], SR_API[1], name, ns)
    fmt = (_dig(isvc, "spec", "predictor", "model", "modelFormat", "name") or "").lower()
    for sr in list_objects(SR_API[0], SR_API[1], ns) or []:
        if _dig(sr, "spec", "disabled"):
            continue
        for f in _dig(sr, "spec", "supportedModelFormats") or []:
            if (f.get("name") or "").lower() == fmt and f.get("autoSelect"):
                return sr
    return None


def secret_token(get_object, name, namespace, wait_timeout=0, clock=time.monotonic, sleep=time.sleep):
    """``data.token`` of Secret ``namespace/name`` (a ``kubernetes.io/service-account-token`` Secret, filled by the
    token controller shortly after it is created: waited for up to ``wait_timeout`` seconds)."""
    import base64

    deadline = clock() + max(wait_timeout or 0, 0)
    while True:
        secret = get_object("v1", "Secret", name, namespace)
        if secret is None:
            problem = "Secret %s/%s (token_secret) does not exist" % (namespace, name)
        else:
            value = (secret.get("data") or {}).get("token")
            if value:
                return base64.b64decode(value).decode("utf-8").strip()
            problem = ("Secret %s/%s (token_secret) has no data.token%s" % (
                namespace, name, " yet (the token controller fills kubernetes.io/service-account-token Secrets)"
                if secret.get("type") == "kubernetes.io/service-account-token" else ""))
        if clock() >= deadline:
            raise ResourceNotFound(problem, token_secret=dict(name=name, namespace=namespace))
        sleep(1.0)


def inference_check(params, get_object, list_objects):
    """Run the check described by the module parameters; returns the result dict.

    ``get_object(api_version, kind, name, namespace)`` -> dict or None and ``list_objects(api_version,
    kind, namespace)`` -> list read the cluster (only when ``name`` is given). Raises
    InvalidInput/ResourceNotFound before any call, ModelServingError (with the result as details)
    when a call fails its check."""
    resolve_map, context = _validate(params)
    token = (params.get("token") or "").strip() or None
    if params.get("token_secret"):
        token = secret_token(get_object, params["token_secret"], params["namespace"], params.get("wait_timeout") or 0)
    name, namespace = params.get("name"), params.get("namespace")
    isvc = sr = None
    what = params.get("url")
    if name:
        what = "InferenceService %s/%s" % (namespace, name)
        isvc = get_object(ISVC_API[0], ISVC_API[1], name, namespace)
        if isvc is None:
            raise ResourceNotFound("%s does not exist" % what, inference_service=dict(name=name, namespace=namespace))
        problem = readiness_problem(isvc)
        if problem:
            raise ModelServingError("%s is not Ready: %s" % (what, problem),
                                    inference_service=dict(name=name, namespace=namespace, ready=False))
        sr = _find_runtime(isvc, get_object, list_objects)
    url = params.get("url") or _dig(isvc, "status", "url")
    if not url:
        raise ModelServingError("%s has no status.url: give url" % what)
    runtime, runtime_source = params.get("runtime"), "parameter runtime"
    if not runtime:
        runtime, runtime_source = detect_runtime(isvc, sr)
        if not runtime:
            raise InvalidInput("runtime: cannot tell the runtime of %s (%s): give runtime" % (what, runtime_source))
    model = params.get("model_name") or (served_model_name(isvc, sr, runtime) if isvc is not None else None)
    auth = auth_enabled(isvc) if isvc is not None else bool(token)
    expect_unauthorized = params.get("expect_unauthorized_without_token")
    if expect_unauthorized is None:
        expect_unauthorized = bool(isvc is not None and auth)
    chat = params.get("chat")
    if chat is None:
        chat = bool(isvc is not None and chat_template_set(isvc, sr))
    embed = bool(isvc is not None and embedding_task(isvc, sr))
    parts = split_url(url)
    target = connect_target(parts[1], parts[2], resolve_map)
    result = dict(
        changed=False,
        url=url,
        connect_to="%s:%s" % target,
        runtime=runtime,
        runtime_source=runtime_source,
        model_name=model,
        deployment_mode=deployment_mode(isvc) if isvc is not None else None,
        auth=auth,
        endpoints=endpoints(url, runtime, model, chat, embed),
        calls=[],
        skipped=False,
        ok=True,
    )
    if isvc is not None:
        result["inference_service"] = dict(name=name, namespace=namespace, ready=True,
                                           runtime=_dig(sr, "metadata", "name"))
    if runtime == TGIS_GRPC:
        result.update(skipped=True, skip_reason=TGIS_SKIP)
        return result
    if auth and not token and not expect_unauthorized:
        raise InvalidInput(
            "token: %s has token auth on (annotation security.opendatahub.io/enable-auth): give token, or set "
            "expect_unauthorized_without_token to only check that a call without a token is refused" % what)
    caller = Caller(url, token, context, resolve_map, params.get("timeout") or 30)
    calls = build_calls(runtime, model, params.get("prompt") or "Hello", params.get("max_tokens") or 16,
                        chat=chat, embed=embed, payload=params.get("payload"))
    results, problems = run_check(caller, calls, model, expect_unauthorized=expect_unauthorized,
                                  wait_timeout=params.get("wait_timeout") or 0,
                                  only_unauthorized=bool(auth and not token))
    result.update(calls=results, ok=not problems)
    if problems:
        result["msg"] = scrub("Inference check of %s failed: %s" % (what, "; ".join(problems)), token)
        raise ModelServingError(result.pop("msg"), **result)
    return result


# --------------------------------------------------------------------------------------------
# Many models in one run (the module's ``models`` option)
# --------------------------------------------------------------------------------------------
BATCH_KEYS = ("name", "namespace", "url", "runtime", "model_name", "token", "token_secret", "payload",
              "expect_unauthorized_without_token", "chat", "prompt", "max_tokens", "wait_timeout", "ca",
              "validate_endpoint_certs", "resolve", "timeout")


def batch_params(params, entry):
    """The parameters of one model of ``models``: the module's options, overridden by the entry's
    options that are set."""
    out = dict((k, params.get(k)) for k in BATCH_KEYS)
    for key in ("name", "namespace", "url", "runtime", "model_name", "token", "token_secret", "payload"):
        out[key] = None
    for key, value in (entry or {}).items():
        if key in BATCH_KEYS and value is not None:
            out[key] = value
    return out


def _label(p):
    if p.get("name"):
        return "%s/%s" % (p.get("namespace"), p.get("name"))
    return p.get("url") or "?"


def inference_checks(params, get_object, list_objects, workers=8):
    """Every model of ``params['models']`` checked concurrently (``workers`` at a time).

    Returns the result dict: ``checks`` (one result per model in the given order, each with ``ok``,
    and ``msg`` when it failed), ``ok``. Raises ModelServingError (carrying ``checks``) when a check
    failed, after all of them ran; an invalid entry is refused (InvalidInput) before any call."""
    from concurrent.futures import ThreadPoolExecutor

    entries = [batch_params(params, e) for e in params.get("models") or []]
    for i, p in enumerate(entries):
        try:
            if p.get("token_secret") and p.get("token"):
                raise InvalidInput("token and token_secret are mutually exclusive")
            _validate(p)
        except InvalidInput as e:
            raise InvalidInput("models[%d] (%s): %s" % (i, _label(p), e.msg))

    def one(p):
        base = dict(name=p.get("name"), namespace=p.get("namespace"))
        try:
            res = inference_check(p, get_object, list_objects)
        except ModelServingError as e:
            res = dict((k, v) for k, v in e.details.items() if k not in ("failed", "changed"))
            res.update(ok=False, msg=e.msg)
        except Exception as e:  # pylint: disable=broad-except
            res = dict(ok=False, msg=scrub("%s: %s" % (type(e).__name__, e), p.get("token")))
        res.pop("changed", None)
        base.update(res)
        return base

    checks = []
    if entries:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(entries)))) as pool:
            checks = list(pool.map(one, entries))
    failed = [c for c in checks if not c.get("ok")]
    result = dict(changed=False, checks=checks, ok=not failed)
    if failed:
        raise ModelServingError("Inference check failed for %d of %d models: %s" % (
            len(failed), len(checks), " | ".join(c.get("msg") or "failed" for c in failed)), **result)
    return result
