"""Model-server simulator: answers each runtime's inference protocol for one InferenceService.

No model runs. Answers are short, deterministic JSON derived from the request, shaped like the
real servers' answers (serving-api.md §6.2):

* vLLM (OpenAI API): ``GET /v1/models``, ``POST /v1/completions``, ``POST /v1/chat/completions``
  (only when the runtime/ISVC args set ``--chat-template``; otherwise vLLM's 400), ``POST /v1/embeddings``;
* Caikit-TGIS: ``POST /api/v1/task/text-generation`` (``model_id``, ``inputs``);
* Caikit standalone (embeddings): ``POST /api/v1/task/embedding``, ``/api/v1/task/embedding-tasks``;
* OVMS (KServe v2 REST): ``GET /v2``, ``/v2/health/ready``, ``/v2/models/<m>``, ``/v2/models/<m>/ready``,
  ``POST /v2/models/<m>[/versions/<v>]/infer``;
* TGIS standalone speaks gRPC only: every REST path is 404 (no gRPC here).

``/metrics`` returns Prometheus text with the runtime's metric names (serving-api.md §7) counting
the requests this simulator served, plus ``testbed_modelserver_requests_total`` for every answer.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
from typing import Optional

VLLM = "vllm"
CAIKIT_TGIS = "caikit-tgis"
CAIKIT_STANDALONE = "caikit-standalone"
OVMS = "ovms"
TGIS_GRPC = "tgis-grpc"
RUNTIMES = (VLLM, CAIKIT_TGIS, CAIKIT_STANDALONE, OVMS, TGIS_GRPC)

# ServingRuntime names of the shipped templates (serving-api.md §1.2) -> runtime
_SR_NAMES = (
    (re.compile(r"^vllm(-[a-z0-9]+)*-runtime$"), VLLM),
    (re.compile(r"^caikit-tgis-runtime$"), CAIKIT_TGIS),
    (re.compile(r"^caikit-standalone-runtime$"), CAIKIT_STANDALONE),
    (re.compile(r"^tgis-grpc-runtime$"), TGIS_GRPC),
    (re.compile(r"^(kserve-)?ovms$"), OVMS),
)
# spec.annotations opendatahub.io/kserve-runtime (2.25+)
_KSERVE_RUNTIME = {"vllm": VLLM, "ovms": OVMS, "tgis": TGIS_GRPC}


def _dig(obj, *path, default=None):
    for p in path:
        if not isinstance(obj, dict):
            return default
        obj = obj.get(p)
    return default if obj is None else obj


def _container_text(sr: Optional[dict]) -> str:
    parts = []
    for c in _dig(sr, "spec", "containers", default=[]) or []:
        parts.append(c.get("name") or "")
        parts.append(c.get("image") or "")
        parts.extend(str(x) for x in (c.get("command") or []))
        parts.extend(str(x) for x in (c.get("args") or []))
    return " ".join(parts)


def detect_runtime(isvc: dict, sr: Optional[dict]) -> Optional[str]:
    """The runtime an InferenceService is served by: the ServingRuntime's template name
    (``opendatahub.io/template-name``), its own name, ``opendatahub.io/kserve-runtime``, then its
    containers, then the model format. None when nothing tells."""
    ann = _dig(sr, "metadata", "annotations", default={}) or {}
    for name in (ann.get("opendatahub.io/template-name"), _dig(sr, "metadata", "name")):
        for rx, rt in _SR_NAMES:
            if name and rx.match(name):
                return rt
    containers = _dig(sr, "spec", "containers", default=[]) or []
    kr = (_dig(sr, "spec", "annotations", default={}) or {}).get("opendatahub.io/kserve-runtime")
    if kr in _KSERVE_RUNTIME:
        return _KSERVE_RUNTIME[kr]
    if kr == "caikit":
        return CAIKIT_TGIS if len(containers) > 1 else CAIKIT_STANDALONE
    text = _container_text(sr)
    if "vllm" in text:
        return VLLM
    if "caikit" in text:
        return CAIKIT_TGIS if ("text-generation-launcher" in text or len(containers) > 1) else CAIKIT_STANDALONE
    if "text-generation-launcher" in text or "text-generation-inference" in text:
        return TGIS_GRPC
    if "ovms" in text or "openvino" in text or "--rest_port" in text:
        return OVMS
    fmt = (_dig(isvc, "spec", "predictor", "model", "modelFormat", "name", default="") or "").lower()
    return {"vllm": VLLM, "openvino_ir": OVMS, "onnx": OVMS, "caikit": CAIKIT_STANDALONE,
            "pytorch": TGIS_GRPC}.get(fmt)


def _args(isvc: dict, sr: Optional[dict]) -> list:
    out = []
    for c in (_dig(sr, "spec", "containers", default=[]) or [])[:1]:
        out.extend(str(x) for x in (c.get("command") or []) + (c.get("args") or []))
    out.extend(str(x) for x in _dig(isvc, "spec", "predictor", "model", "args", default=[]) or [])
    return out


def _flag(args: list, name: str) -> Optional[str]:
    """Value of ``--name=value`` or ``--name value`` (last one wins); "" for a bare flag."""
    val = None
    for i, a in enumerate(args):
        if a == name:
            val = args[i + 1] if i + 1 < len(args) and not args[i + 1].startswith("--") else ""
        elif a.startswith(name + "="):
            val = a.split("=", 1)[1]
    return val


class Model:
    """What the simulator needs to know of one InferenceService."""

    def __init__(self, isvc: dict, sr: Optional[dict]):
        md = isvc["metadata"]
        self.name = md["name"]
        self.namespace = md["namespace"]
        self.runtime = detect_runtime(isvc, sr)
        args = [a.replace("{{.Name}}", self.name) for a in _args(isvc, sr)]
        served = _flag(args, "--served-model-name") if self.runtime == VLLM else None
        if self.runtime == OVMS:
            served = _flag(args, "--model_name")
        self.model_name = served or self.name
        self.chat = _flag(args, "--chat-template") is not None
        task = _flag(args, "--task") or ""
        self.embed = task in ("embed", "embedding")
        ts = md.get("creationTimestamp") or ""
        try:
            self.created = int(time.mktime(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ")))
        except ValueError:
            self.created = 0


def _words(seed: str, n: int) -> list:
    vocab = ("the", "model", "answers", "from", "a", "simulated", "server", "on", "the", "testbed",
             "with", "tokens", "in", "order")
    h = hashlib.sha256(seed.encode()).digest()
    return [vocab[h[i % len(h)] % len(vocab)] for i in range(max(n, 0))]


def _vector(seed: str, n: int = 8) -> list:
    h = hashlib.sha256(seed.encode()).digest()
    return [round((h[i] - 128) / 128.0, 6) for i in range(n)]


def _json(status: int, obj) -> tuple:
    return status, "application/json", json.dumps(obj).encode()


def _load(body: bytes):
    try:
        return json.loads(body.decode() or "null")
    except (ValueError, UnicodeDecodeError):
        return None


class Stats:
    """Request counters of every model the simulator served (one instance per sim process)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts: dict = {}  # (ns, name, metric, labels tuple) -> value

    def add(self, model: Model, metric: str, labels: dict, value: float = 1.0):
        key = (model.namespace, model.name, metric, tuple(sorted(labels.items())))
        with self.lock:
            self.counts[key] = self.counts.get(key, 0.0) + value

    def render(self, model: Model) -> str:
        with self.lock:
            rows = [(k[2], dict(k[3]), v, 0) for k, v in self.counts.items() if k[0] == model.namespace and k[1] == model.name]
        present = {(r[0], tuple(sorted(r[1].items()))) for r in rows}
        rows += [(m, lab, 0.0, 1) for m, lab in _initial(model) if (m, tuple(sorted(lab.items()))) not in present]
        lines = []
        seen = set()
        # counted series first within a metric, then the ones still at their initial 0
        for metric, labels, value, _ in sorted(rows, key=lambda r: (r[0], r[3], sorted(r[1].items()))):
            base = re.sub(r"_(sum|count|bucket)$", "", metric)
            if base not in seen:
                seen.add(base)
                kind = "histogram" if metric != base and base not in ("ovms_inference_time_us", "ovms_request_time_us",
                                                                       "tgi_request_duration",
                                                                       "tgi_request_inference_duration") \
                    else ("summary" if metric != base else "counter")
                lines.append(f"# TYPE {base} {kind}")
            lab = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            lines.append(f"{metric}{{{lab}}} {value:g}")
        for metric, labels, value in _gauges(model):
            lab = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            lines.append(f"# TYPE {metric} gauge")
            lines.append(f"{metric}{{{lab}}} {value:g}")
        return "\n".join(lines) + "\n"


def _initial(model: Model) -> list:
    """Counters the real servers expose at 0 from the start (vLLM one per finish reason, OVMS one per
    method), so that a query's ``increase()`` also counts the first requests after the first scrape."""
    if model.runtime == VLLM:
        lab = {"model_name": model.model_name, "engine": "0"}
        return [("vllm:request_success_total", dict(lab, finished_reason=r)) for r in ("stop", "length", "abort")] + \
            [("vllm:prompt_tokens_total", lab), ("vllm:generation_tokens_total", lab)]
    if model.runtime == OVMS:
        lab = {"api": "KServe", "interface": "REST", "name": model.model_name, "version": "1"}
        return [("ovms_requests_success", dict(lab, method=m)) for m in ("ModelInfer", "ModelReady", "ModelMetadata")] + \
            [("ovms_requests_fail", dict(lab, method="ModelInfer"))]
    if model.runtime == CAIKIT_TGIS:
        return [("tgi_request_success", {}), ("tgi_request_count", {}),
                ("predict_rpc_count_total", {"code": "OK", "model_id": model.name, "rpc": "TextGenerationTaskPredict"})]
    if model.runtime == CAIKIT_STANDALONE:
        return [("predict_rpc_count_total", {"code": "OK", "model_id": model.name, "rpc": "EmbeddingTaskPredict"})]
    return []


def _gauges(model: Model) -> list:
    if model.runtime == VLLM:
        lab = {"model_name": model.model_name, "engine": "0"}
        return [("vllm:num_requests_running", lab, 0), ("vllm:num_requests_waiting", lab, 0),
                ("vllm:kv_cache_usage_perc", lab, 0), ("vllm:gpu_cache_usage_perc", lab, 0)]
    if model.runtime == OVMS:
        return [("ovms_current_requests", {"name": model.model_name, "version": "1"}, 0)]
    if model.runtime in (CAIKIT_TGIS, TGIS_GRPC):
        return [("tgi_queue_size", {}, 0), ("tgi_batch_current_size", {}, 0)]
    return []


class ModelServer:
    """Answers one request for a model: ``handle(model, method, path, body)`` -> (status, content type, body)."""

    def __init__(self):
        self.stats = Stats()

    def handle(self, model: Model, method: str, path: str, body: bytes, latency_s: float = 0.001) -> tuple:
        path = path.split("?", 1)[0]
        if path.rstrip("/") == "/metrics" and method == "GET":
            return 200, "text/plain; version=0.0.4; charset=utf-8", self.stats.render(model).encode()
        rt = model.runtime
        if rt == VLLM:
            out = self._vllm(model, method, path, body, latency_s)
        elif rt == CAIKIT_TGIS:
            out = self._caikit_tgis(model, method, path, body, latency_s)
        elif rt == CAIKIT_STANDALONE:
            out = self._caikit_standalone(model, method, path, body, latency_s)
        elif rt == OVMS:
            out = self._ovms(model, method, path, body, latency_s)
        else:
            out = _json(404, {"error": f"the {rt or 'unknown'} runtime serves no REST path {path} on this simulator"})
        self.stats.add(model, "testbed_modelserver_requests_total", {"path": path, "code": str(out[0])})
        return out

    # -- vLLM ------------------------------------------------------------------------------
    def _vllm(self, m: Model, method, path, body, lat):
        def err(status, typ, msg):
            return _json(status, {"object": "error", "message": msg, "type": typ, "param": None, "code": status})

        if path in ("/health", "/ping") and method == "GET":
            return 200, "application/json", b""
        if path == "/v1/models" and method == "GET":
            return _json(200, {"object": "list", "data": [{
                "id": m.model_name, "object": "model", "created": m.created, "owned_by": "vllm",
                "root": "/mnt/models", "parent": None, "max_model_len": 4096}]})
        if path not in ("/v1/completions", "/v1/chat/completions", "/v1/embeddings"):
            return _json(404, {"detail": "Not Found"})
        if method != "POST":
            return _json(405, {"detail": "Method Not Allowed"})
        req = _load(body)
        if not isinstance(req, dict):
            return err(400, "BadRequestError", "request body is not a JSON object")
        if req.get("model") != m.model_name:
            return err(404, "NotFoundError", f"The model `{req.get('model')}` does not exist.")
        lab = {"model_name": m.model_name, "engine": "0"}
        if path == "/v1/embeddings":
            if not m.embed:
                return err(400, "BadRequestError", "The model does not support Embeddings API")
            text = req.get("input")
            inputs = text if isinstance(text, list) else [text]
            data = [{"index": i, "object": "embedding", "embedding": _vector(str(t))} for i, t in enumerate(inputs)]
            n = sum(len(str(t).split()) for t in inputs)
            self.stats.add(m, "vllm:request_success_total", dict(lab, finished_reason="stop"))
            self.stats.add(m, "vllm:prompt_tokens_total", lab, n)
            return _json(200, {"id": "embd-sim", "object": "list", "created": m.created, "model": m.model_name,
                               "data": data, "usage": {"prompt_tokens": n, "total_tokens": n}})
        max_tokens = req.get("max_tokens") or 16
        if not isinstance(max_tokens, int) or max_tokens < 1:
            return err(400, "BadRequestError", "max_tokens must be at least 1, got %r." % (max_tokens,))
        if path == "/v1/chat/completions":
            if not m.chat:
                return err(400, "BadRequestError",
                           "As of transformers v4.44, default chat template is no longer allowed, so you must "
                           "provide a chat template if the tokenizer does not define one.")
            msgs = req.get("messages")
            if not isinstance(msgs, list) or not msgs:
                return err(400, "BadRequestError", "messages must be a non-empty list")
            prompt = " ".join(str((x or {}).get("content", "")) for x in msgs if isinstance(x, dict))
        else:
            prompt = req.get("prompt")
            if not isinstance(prompt, (str, list)) or not prompt:
                return err(400, "BadRequestError", "prompt must be a string or a list of strings")
            prompt = prompt if isinstance(prompt, str) else " ".join(str(p) for p in prompt)
        n = min(max_tokens, 12)
        words = _words(m.model_name + "|" + prompt, n)
        text = " " + " ".join(words)
        reason = "length" if n == max_tokens else "stop"
        ptoks = len(prompt.split())
        usage = {"prompt_tokens": ptoks, "total_tokens": ptoks + n, "completion_tokens": n}
        rid = hashlib.sha256(prompt.encode()).hexdigest()[:16]
        self.stats.add(m, "vllm:request_success_total", dict(lab, finished_reason=reason))
        self.stats.add(m, "vllm:prompt_tokens_total", lab, ptoks)
        self.stats.add(m, "vllm:generation_tokens_total", lab, n)
        self.stats.add(m, "vllm:e2e_request_latency_seconds_count", lab)
        self.stats.add(m, "vllm:e2e_request_latency_seconds_sum", lab, lat)
        if path == "/v1/chat/completions":
            return _json(200, {"id": "chatcmpl-" + rid, "object": "chat.completion", "created": m.created,
                               "model": m.model_name, "choices": [{
                                   "index": 0, "message": {"role": "assistant", "content": text.strip()},
                                   "logprobs": None, "finish_reason": reason}], "usage": usage})
        return _json(200, {"id": "cmpl-" + rid, "object": "text_completion", "created": m.created,
                           "model": m.model_name, "choices": [{"index": 0, "text": text, "logprobs": None,
                                                               "finish_reason": reason, "stop_reason": None}],
                           "usage": usage})

    # -- Caikit ----------------------------------------------------------------------------
    @staticmethod
    def _caikit_request(m: Model, method, body):
        if method != "POST":
            return None, _json(405, {"details": "Method Not Allowed", "code": 405})
        req = _load(body)
        if not isinstance(req, dict):
            return None, _json(422, {"details": "request body is not a JSON object", "code": 422})
        if req.get("model_id") != m.name:
            return None, _json(404, {"details": f"Model '{req.get('model_id')}' not loaded", "code": 404,
                                     "id": hashlib.sha256(str(req.get("model_id")).encode()).hexdigest()[:32]})
        return req, None

    def _caikit_tgis(self, m: Model, method, path, body, lat):
        if path == "/health":
            return 200, "text/plain", b"OK"
        if path != "/api/v1/task/text-generation":
            return _json(404, {"details": "Not Found", "code": 404})
        req, bad = self._caikit_request(m, method, body)
        if bad:
            self.stats.add(m, "tgi_request_failure", {"err": "validation"})
            return bad
        inputs = req.get("inputs")
        if not isinstance(inputs, str) or not inputs:
            return _json(422, {"details": "inputs must be a non-empty string", "code": 422})
        max_new = int((req.get("parameters") or {}).get("max_new_tokens") or 20)
        n = min(max(max_new, 1), 12)
        words = _words(m.name + "|" + inputs, n)
        self.stats.add(m, "tgi_request_success", {})
        self.stats.add(m, "tgi_request_count", {})
        self.stats.add(m, "tgi_request_input_count", {})
        self.stats.add(m, "tgi_request_generated_tokens_sum", {}, n)
        self.stats.add(m, "tgi_request_inference_duration_count", {})
        self.stats.add(m, "tgi_request_inference_duration_sum", {}, lat)
        self.stats.add(m, "tgi_request_duration_count", {})
        self.stats.add(m, "tgi_request_duration_sum", {}, lat)
        self.stats.add(m, "predict_rpc_count_total", {"code": "OK", "model_id": m.name,
                                                      "rpc": "TextGenerationTaskPredict"})
        return _json(200, {"generated_text": " ".join(words), "generated_tokens": n,
                           "finish_reason": "MAX_TOKENS" if n == max_new else "EOS_TOKEN",
                           "input_token_count": len(inputs.split()), "seed": None,
                           "producer_id": {"name": "Text Generation", "version": "0.1.0"}})

    def _caikit_standalone(self, m: Model, method, path, body, lat):
        if path == "/health":
            return 200, "text/plain", b"OK"
        if path not in ("/api/v1/task/embedding", "/api/v1/task/embedding-tasks"):
            return _json(404, {"details": "Not Found", "code": 404})
        req, bad = self._caikit_request(m, method, body)
        if bad:
            self.stats.add(m, "predict_rpc_count_total", {"code": "NOT_FOUND", "model_id": str(m.name),
                                                          "rpc": "EmbeddingTaskPredict"})
            return bad
        inputs = req.get("inputs")
        producer = {"name": "EmbeddingModule", "version": "0.0.1"}
        if path.endswith("embedding-tasks"):
            if not isinstance(inputs, list) or not inputs:
                return _json(422, {"details": "inputs must be a non-empty list of strings", "code": 422})
            out = {"results": {"vectors": [{"data": {"values": _vector(str(t))}} for t in inputs]},
                   "producer_id": producer, "input_token_count": sum(len(str(t).split()) for t in inputs)}
            rpc = "EmbeddingTasksPredict"
        else:
            if not isinstance(inputs, str) or not inputs:
                return _json(422, {"details": "inputs must be a non-empty string", "code": 422})
            out = {"result": {"data": {"values": _vector(inputs)}}, "producer_id": producer,
                   "input_token_count": len(inputs.split())}
            rpc = "EmbeddingTaskPredict"
        self.stats.add(m, "predict_rpc_count_total", {"code": "OK", "model_id": m.name, "rpc": rpc})
        self.stats.add(m, "predict_caikit_library_duration_seconds_count", {"model_id": m.name})
        self.stats.add(m, "predict_caikit_library_duration_seconds_sum", {"model_id": m.name}, lat)
        return _json(200, out)

    # -- OVMS (KServe v2) ------------------------------------------------------------------
    def _ovms(self, m: Model, method, path, body, lat):
        if path in ("/v2/health/ready", "/v2/health/live"):
            return 200, "application/json", b""
        if path == "/v2":
            return _json(200, {"name": "OpenVINO Model Server", "version": "2025.2.1"})
        mt = re.match(r"^/v2/models/([^/]+)(?:/versions/([^/]+))?(/ready|/infer)?$", path)
        if not mt:
            return _json(404, {"error": "Invalid request URL"})
        name, version, tail = mt.group(1), mt.group(2) or "1", mt.group(3)
        if name != m.model_name or version != "1":
            self.stats.add(m, "ovms_requests_fail", {"api": "KServe", "interface": "REST", "method": "ModelInfer",
                                                     "name": name, "version": version})
            return _json(404, {"error": "Model with requested name is not found" if name != m.model_name
                               else "Model with requested version is not found"})
        lab = {"api": "KServe", "interface": "REST", "name": m.model_name, "version": "1"}
        if tail == "/ready":
            self.stats.add(m, "ovms_requests_success", dict(lab, method="ModelReady"))
            return 200, "application/json", b""
        if tail is None:
            self.stats.add(m, "ovms_requests_success", dict(lab, method="ModelMetadata"))
            return _json(200, {"name": m.model_name, "versions": ["1"], "platform": "OpenVINO",
                               "inputs": [{"name": "Func/StatefulPartitionedCall/input/_0:0", "datatype": "FP32",
                                           "shape": [-1, 30]}],
                               "outputs": [{"name": "Func/StatefulPartitionedCall/output/_13:0", "datatype": "FP32",
                                            "shape": [-1, 1]}]})
        if method != "POST":
            return _json(405, {"error": "Method Not Allowed"})
        req = _load(body)
        problem = _v2_problem(req)
        if problem:
            self.stats.add(m, "ovms_requests_fail", dict(lab, method="ModelInfer"))
            return _json(400, {"error": problem})
        total = sum(_flat(i.get("data")) for i in req["inputs"])
        score = round(1.0 / (1.0 + math.exp(-max(min(total, 50.0), -50.0))), 8)
        self.stats.add(m, "ovms_requests_success", dict(lab, method="ModelInfer"))
        self.stats.add(m, "ovms_inference_time_us_count", {"name": m.model_name, "version": "1"})
        self.stats.add(m, "ovms_inference_time_us_sum", {"name": m.model_name, "version": "1"}, lat * 1e6)
        self.stats.add(m, "ovms_request_time_us_count", {"interface": "REST", "name": m.model_name, "version": "1"})
        self.stats.add(m, "ovms_request_time_us_sum", {"interface": "REST", "name": m.model_name, "version": "1"},
                       lat * 1e6)
        out = {"model_name": m.model_name, "model_version": "1",
               "outputs": [{"name": "Func/StatefulPartitionedCall/output/_13:0", "datatype": "FP32",
                            "shape": [1, 1], "data": [score]}]}
        if req.get("id") is not None:
            out["id"] = req["id"]
        return _json(200, out)


def _flat(data) -> float:
    if isinstance(data, list):
        return sum(_flat(x) for x in data)
    if isinstance(data, (int, float)) and not isinstance(data, bool):
        return float(data)
    return 0.0


def _count(data) -> int:
    if isinstance(data, list):
        return sum(_count(x) for x in data)
    return 1


def _v2_problem(req) -> Optional[str]:
    """What is wrong with a KServe v2 infer request (OVMS wording where known), or None."""
    if not isinstance(req, dict) or not isinstance(req.get("inputs"), list) or not req["inputs"]:
        return "Invalid message structure - missing inputs"
    for i in req["inputs"]:
        if not isinstance(i, dict) or not i.get("name") or not isinstance(i.get("shape"), list) \
                or not i.get("datatype") or "data" not in i:
            return "Invalid message structure - an input needs name, shape, datatype and data"
        want = 1
        for d in i["shape"]:
            if not isinstance(d, int) or d < 0:
                return "Invalid shape - dimensions must be non-negative integers"
            want *= d
        if _count(i["data"]) != want:
            return (f"Invalid number of elements - Expected: {want} bytes; Actual: {_count(i['data'])} bytes; "
                    f"input name: {i['name']}")
    return None
