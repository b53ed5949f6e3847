"""inference_check against the testbed's serving data path (testbed/sim/ingress.py).

On the shared testbed: the platform (Service Mesh, Serverless, Authorino, OpenShift AI with KServe
Serverless and a SelfSigned ingress certificate) is installed through the simulated OLM unless it
already is; InferenceServices and ServingRuntimes are created directly in a test namespace. The
module reaches the models through the real HTTPS ingress on loopback (``resolve`` to the address in
ConfigMap ``testbed-system/testbed-ingress``) and verifies the served certificate with its CA.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import ssl
import tempfile
import uuid

import pytest
from helpers import ansible_playbook, fqcn, run_module
from kubernetes import client as k8s_client
from test_sim_support import cond, create, delete, get, items, subscribe, subscription, wait_for, wait_installed

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ISVC = ("serving.kserve.io/v1beta1", "InferenceService")
SR = ("serving.kserve.io/v1alpha1", "ServingRuntime")
DSCI = ("dscinitialization.opendatahub.io/v1", "DSCInitialization")
DSC = ("datasciencecluster.opendatahub.io/v1", "DataScienceCluster")
PACKAGES = ("servicemeshoperator", "serverless-operator", "authorino-operator", "rhods-operator")
# one namespace per run (deleted afterwards), so that a rerun on the shared testbed starts clean
NS = "inference-check-" + uuid.uuid4().hex[:6]


def _ready(obj, typ="Ready"):
    c = cond(obj, typ)
    return bool(c) and c["status"] == "True"


def ensure_platform(k8s):
    """KServe Serverless with Authorino on the testbed: reuse what is installed, install what is not."""
    dscs = items(k8s, *DSC)
    if not (dscs and _ready(dscs[0], "KserveReady")):
        for p in PACKAGES:
            if subscription(k8s, p) is None:
                subscribe(k8s, p)
        for p in PACKAGES:
            wait_installed(k8s, p, timeout=600)
        wait_for(lambda: [d for d in items(k8s, *DSCI) if (d.get("status") or {}).get("phase") == "Ready"],
                 timeout=600, desc="DSCInitialization Ready")
        if not items(k8s, *DSC):
            create(k8s, {"apiVersion": DSC[0], "kind": DSC[1], "metadata": {"name": "default-dsc"}, "spec": {
                "components": {"kserve": {"managementState": "Managed", "serving": {
                    "managementState": "Managed", "name": "knative-serving",
                    "ingressGateway": {"certificate": {"secretName": "knative-serving-cert", "type": "SelfSigned"}}}}}}})
        wait_for(lambda: [d for d in items(k8s, *DSC) if _ready(d, "KserveReady")], timeout=900,
                 desc="DataScienceCluster KserveReady")
    serving = ((items(k8s, *DSC)[0].get("spec") or {}).get("components") or {}).get("kserve", {}).get("serving") or {}
    if serving.get("managementState") == "Removed":
        pytest.fail("the shared testbed runs KServe without Serverless (DataScienceCluster kserve.serving Removed); "
                    "these tests deploy Serverless models: restart the testbed (make testbed-down testbed-up)")
    return wait_for(lambda: (get(k8s, "v1", "ConfigMap", "testbed-ingress", "testbed-system") or {}).get("data"),
                    timeout=60, desc="ConfigMap testbed-system/testbed-ingress (written by the simulated operators' "
                    "process at start; a testbed started before the data path existed needs a restart)")


@pytest.fixture(scope="module")
def ingress(k8s):
    data = ensure_platform(k8s)
    create(k8s, {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": NS, "labels": {"opendatahub.io/dashboard": "true", "modelmesh-enabled": "false"}}})
    try:
        yield data
    finally:
        delete(k8s, "v1", "Namespace", NS)


def gateway_tls(k8s):
    """(certificate PEM, CA PEM) of the Knative ingress gateway's TLS secret."""
    gw = get(k8s, "networking.istio.io/v1beta1", "Gateway", "knative-ingress-gateway", "knative-serving")
    name = gw["spec"]["servers"][0]["tls"]["credentialName"]
    secret = get(k8s, "v1", "Secret", name, "istio-system")
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    # a self-signed certificate is its own CA
    return data["tls.crt"], data.get("ca.crt") or data["tls.crt"]


def vllm_runtime(name, chat=True):
    args = ["--port=8080", "--model=/mnt/models", "--served-model-name={{.Name}}"]
    if chat:
        args.append("--chat-template=/app/data/template/tool_chat_template_granite.jinja")
    return {"apiVersion": SR[0], "kind": SR[1], "metadata": {
        "name": name, "namespace": NS, "labels": {"opendatahub.io/dashboard": "true"},
        "annotations": {"opendatahub.io/template-name": "vllm-cuda-runtime", "opendatahub.io/apiProtocol": "REST"}},
        "spec": {"supportedModelFormats": [{"name": "vLLM", "autoSelect": True}], "multiModel": False,
                 "annotations": {"prometheus.io/port": "8080", "prometheus.io/path": "/metrics"},
                 "containers": [{"name": "kserve-container", "image": "quay.io/modh/vllm:rhoai-2.19-cuda",
                                 "command": ["python", "-m", "vllm.entrypoints.openai.api_server"], "args": args,
                                 "ports": [{"containerPort": 8080, "protocol": "TCP"}]}]}}


def ovms_runtime(name):
    return {"apiVersion": SR[0], "kind": SR[1], "metadata": {
        "name": name, "namespace": NS, "labels": {"opendatahub.io/dashboard": "true"},
        "annotations": {"opendatahub.io/template-name": "kserve-ovms", "opendatahub.io/apiProtocol": "REST"}},
        "spec": {"supportedModelFormats": [{"name": "onnx", "version": "1"}], "multiModel": False,
                 "protocolVersions": ["v2", "grpc-v2"],
                 "annotations": {"prometheus.io/port": "8888", "prometheus.io/path": "/metrics"},
                 "containers": [{"name": "kserve-container", "image": "quay.io/modh/openvino_model_server:2025.1",
                                 "args": ["--model_name={{.Name}}", "--port=8001", "--rest_port=8888",
                                          "--model_path=/mnt/models"],
                                 "ports": [{"containerPort": 8888, "protocol": "TCP"}]}]}}


def isvc(name, runtime, fmt, auth=False):
    ann = {"serving.kserve.io/deploymentMode": "Serverless", "serving.knative.openshift.io/enablePassthrough": "true",
           "sidecar.istio.io/inject": "true", "sidecar.istio.io/rewriteAppHTTPProbers": "true"}
    if auth:
        ann["security.opendatahub.io/enable-auth"] = "true"
    return {"apiVersion": ISVC[0], "kind": ISVC[1], "metadata": {
        "name": name, "namespace": NS, "labels": {"opendatahub.io/dashboard": "true"}, "annotations": ann},
        "spec": {"predictor": {"minReplicas": 1, "maxReplicas": 1, "model": {
            "modelFormat": {"name": fmt}, "runtime": runtime, "storageUri": "oci://quay.io/example/%s:1" % name}}}}


def deploy(k8s, runtime, service):
    if get(k8s, *SR, runtime["metadata"]["name"], NS) is None:
        create(k8s, runtime)
    name = service["metadata"]["name"]
    if get(k8s, *ISVC, name, NS) is None:
        create(k8s, service)

    def ready():
        obj = get(k8s, *ISVC, name, NS)
        return obj if _ready(obj) else None

    return wait_for(ready, timeout=300, desc="InferenceService %s Ready" % name)


def host_of(obj):
    return obj["status"]["url"].split("/")[2]


def check(kubeconfig, ingress, args, **kw):
    base = {"resolve": {"*": ingress["https-address"]}, "wait_timeout": 60}
    base.update(args)
    return run_module("inference_check", base, kubeconfig, **kw)


def test_vllm_answers_over_the_gateway_certificate(k8s, kubeconfig, ingress):
    obj = deploy(k8s, vllm_runtime("granite"), isvc("granite", "granite", "vLLM"))
    host = host_of(obj)
    crt, ca = gateway_tls(k8s)

    # the ingress serves the gateway secret's certificate for the model's host, and it verifies
    ctx = ssl.create_default_context(cadata=ca)
    addr, port = ingress["https-address"].rsplit(":", 1)
    with socket.create_connection((addr, int(port)), timeout=30) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as tls:
            served = tls.getpeercert(binary_form=True)
    assert hashlib.sha256(served).hexdigest() == hashlib.sha256(ssl.PEM_cert_to_DER_cert(crt)).hexdigest()

    res = check(kubeconfig, ingress, {"name": "granite", "namespace": NS, "ca": ca})
    assert not res.get("failed"), res
    assert res["changed"] is False and res["ok"] is True
    assert res["runtime"] == "vllm" and res["model_name"] == "granite" and res["auth"] is False
    assert res["url"] == "https://" + host and res["connect_to"] == ingress["https-address"]
    assert [c["name"] for c in res["calls"]] == ["models", "completions", "chat_completions"]
    assert all(c["status"] == 200 and c["ok"] and c["latency_ms"] >= 0 for c in res["calls"]), res["calls"]
    assert '"id": "granite"' in res["calls"][0]["excerpt"]
    assert "https://%s/v1/completions" % host in res["endpoints"]

    # verification is on by default: another CA is refused, naming TLS
    res = check(kubeconfig, ingress, {"name": "granite", "namespace": NS, "ca": ingress["fallback-ca.crt"],
                                      "wait_timeout": 0})
    assert res.get("failed") and "TLS" in res["msg"] and "CERTIFICATE_VERIFY_FAILED" in res["msg"], res

    # the model server counts what it served (Prometheus text, vLLM names)
    ctx = ssl.create_default_context(cadata=ca)
    with socket.create_connection((addr, int(port)), timeout=30) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as tls:
            tls.sendall(("GET /metrics HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host).encode())
            text = b""
            while True:
                chunk = tls.recv(65536)
                if not chunk:
                    break
                text += chunk
    metrics = text.decode()
    line = [ln for ln in metrics.splitlines() if ln.startswith("vllm:request_success_total{")]
    assert line and 'model_name="granite"' in line[0] and float(line[0].rsplit(" ", 1)[1]) >= 2, metrics


def test_ovms_answers_in_check_mode(k8s, kubeconfig, ingress):
    deploy(k8s, ovms_runtime("mnist"), isvc("mnist", "mnist", "onnx"))
    ca = gateway_tls(k8s)[1]
    res = check(kubeconfig, ingress, {"name": "mnist", "namespace": NS, "ca": ca}, check=True)
    assert not res.get("failed"), res
    assert res["changed"] is False and res["runtime"] == "ovms"
    assert [(c["name"], c["status"]) for c in res["calls"]] == [("ready", 200), ("infer", 200)]
    assert '"outputs"' in res["calls"][1]["excerpt"]


def _token(k8s, sa):
    core = k8s_client.CoreV1Api(k8s.client)
    if get(k8s, "v1", "ServiceAccount", sa, NS) is None:
        create(k8s, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa, "namespace": NS}})
    tr = core.create_namespaced_service_account_token(sa, NS, {"spec": {"expirationSeconds": 3600}})
    return tr.status.token


def test_token_auth_like_authorino(k8s, kubeconfig, ingress):
    deploy(k8s, vllm_runtime("secured", chat=False), isvc("secured", "secured", "vLLM", auth=True))
    ca = gateway_tls(k8s)[1]
    args = {"name": "secured", "namespace": NS, "ca": ca}

    # no token: only the refusal is checked, and it is a 401
    res = check(kubeconfig, ingress, args)
    assert not res.get("failed"), res
    assert res["auth"] is True
    assert [(c["name"], c["status"], c["with_token"]) for c in res["calls"]] == [("without_token", 401, False)]

    # a bad token: 401
    res = check(kubeconfig, ingress, dict(args, token="not-a-token"))
    assert res.get("failed") and res["calls"][1]["status"] == 401, res

    # a valid token of a service account without `get` on the InferenceService: 403
    token = _token(k8s, "secured-reader")
    res = check(kubeconfig, ingress, dict(args, token=token))
    assert res.get("failed"), res
    assert res["calls"][0]["status"] == 401 and res["calls"][1]["status"] == 403, res["calls"]
    assert "no get permission" in res["msg"]
    assert token not in json.dumps(res)

    # the dashboard's Role/RoleBinding: get on this InferenceService
    create(k8s, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                 "metadata": {"name": "secured-view-role", "namespace": NS},
                 "rules": [{"apiGroups": ["serving.kserve.io"], "resources": ["inferenceservices"],
                            "resourceNames": ["secured"], "verbs": ["get"]}]})
    create(k8s, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                 "metadata": {"name": "secured-view", "namespace": NS},
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "secured-view-role"},
                 "subjects": [{"kind": "ServiceAccount", "name": "secured-reader", "namespace": NS}]})
    # (the API server's RBAC cache takes a moment to see the binding)

    def allowed():
        out = check(kubeconfig, ingress, dict(args, token=token))
        return out if out.get("ok") else None

    res = wait_for(allowed, timeout=120, interval=1, desc="the token is allowed")
    want = [("without_token", 401), ("models", 200), ("completions", 200)]
    assert [(c["name"], c["status"]) for c in res["calls"]] == want
    assert token not in json.dumps(res)

    # the dashboard's token Secret (kubernetes.io/service-account-token, filled by the token controller)
    create(k8s, {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token", "metadata": {
        "name": "default-name-secured-sa", "namespace": NS,
        "annotations": {"kubernetes.io/service-account.name": "secured-reader"}}})
    res = check(kubeconfig, ingress, dict(args, token_secret="default-name-secured-sa"))
    assert not res.get("failed"), res
    assert [(c["name"], c["status"]) for c in res["calls"]] == want
    secret_token = base64.b64decode(get(k8s, "v1", "Secret", "default-name-secured-sa", NS)["data"]["token"]).decode()
    assert secret_token not in json.dumps(res)

    # and nowhere in the whole -vvv run of a playbook
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": [
        {"name": "check", fqcn("inference_check"): dict(args, token=token, resolve={"*": ingress["https-address"]})}]}]
    fd, path = tempfile.mkstemp(prefix="inference_check_", suffix=".yml")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(play, f)
        run = ansible_playbook(path, kubeconfig, None, args=("-i", "localhost,", "-vvv"))
    finally:
        os.unlink(path)
    assert run.rc == 0, run.stderr[-3000:]
    assert token not in json.dumps(run.output) and token not in run.stderr


def test_raw_deployment_route_host_and_cluster_local_name(k8s, kubeconfig, ingress):
    raw = isvc("raw-llm", "raw-llm", "vLLM")
    raw["metadata"]["annotations"] = {"serving.kserve.io/deploymentMode": "RawDeployment"}
    raw["metadata"]["labels"]["networking.kserve.io/visibility"] = "exposed"
    deploy(k8s, vllm_runtime("raw-llm", chat=False), raw)
    domain = get(k8s, "config.openshift.io/v1", "Ingress", "cluster")["spec"]["domain"]
    host = "raw-llm-%s.%s" % (NS, domain)
    if get(k8s, "route.openshift.io/v1", "Route", "raw-llm", NS) is None:
        # the Route odh-model-controller makes for an exposed RawDeployment model (edge, no auth)
        create(k8s, {"apiVersion": "route.openshift.io/v1", "kind": "Route", "metadata": {
            "name": "raw-llm", "namespace": NS, "labels": {"inferenceservice-name": "raw-llm"}},
            "spec": {"host": host, "to": {"kind": "Service", "name": "raw-llm-predictor", "weight": 100},
                     "port": {"targetPort": "http"},
                     "tls": {"termination": "edge", "insecureEdgeTerminationPolicy": "Redirect"}}})
    # no router default certificate on the testbed: the route host gets the testbed's fallback certificate
    res = check(kubeconfig, ingress, {"name": "raw-llm", "namespace": NS, "url": "https://" + host,
                                      "ca": ingress["fallback-ca.crt"]})
    assert not res.get("failed"), res
    assert res["deployment_mode"] == "RawDeployment"
    assert [(c["name"], c["status"]) for c in res["calls"]] == [("models", 200), ("completions", 200)]

    # the cluster-local name, as a port-forward reaches it, over the plain HTTP listener
    res = run_module("inference_check", {
        "url": "http://raw-llm-predictor.%s.svc.cluster.local" % NS, "runtime": "vllm", "model_name": "raw-llm",
        "resolve": {"*": ingress["http-address"]}, "wait_timeout": 60}, kubeconfig)
    assert not res.get("failed"), res
    assert res["deployment_mode"] is None and [c["status"] for c in res["calls"]] == [200, 200]

    # a host nobody serves (the gateway's wildcard certificate covers it): the router's 503
    res = run_module("inference_check", {
        "url": "https://nobody-%s.%s" % (NS, domain), "runtime": "vllm", "model_name": "x",
        "resolve": {"*": ingress["https-address"]}, "ca": gateway_tls(k8s)[1]}, kubeconfig)
    assert res.get("failed") and res["calls"][0]["status"] == 503 and "HTTP 503" in res["msg"], res


def caikit_runtime(name, template, containers):
    return {"apiVersion": SR[0], "kind": SR[1], "metadata": {
        "name": name, "namespace": NS, "labels": {"opendatahub.io/dashboard": "true"},
        "annotations": {"opendatahub.io/template-name": template}},
        "spec": {"supportedModelFormats": [{"name": "caikit", "autoSelect": True}], "multiModel": False,
                 "containers": containers}}


def test_caikit_runtimes_answer_and_tgis_grpc_is_skipped(k8s, kubeconfig, ingress):
    ca = gateway_tls(k8s)[1]
    env = [{"name": "RUNTIME_LOCAL_MODELS_DIR", "value": "/mnt/models"}]
    deploy(k8s, caikit_runtime("flan", "caikit-tgis-runtime", [
        {"name": "kserve-container", "image": "quay.io/modh/text-generation-inference:rhoai-2.16",
         "command": ["text-generation-launcher"], "args": ["--model-name=/mnt/models/artifacts/"]},
        {"name": "transformer-container", "image": "quay.io/modh/caikit-tgis-serving:rhoai-2.16", "env": env,
         "ports": [{"containerPort": 8080, "protocol": "TCP"}]}]), isvc("flan", "flan", "caikit"))
    deploy(k8s, caikit_runtime("minilm", "caikit-standalone-runtime", [
        {"name": "kserve-container", "image": "quay.io/modh/caikit-nlp:rhoai-2.16",
         "command": ["python", "-m", "caikit.runtime"], "env": env,
         "ports": [{"containerPort": 8080, "protocol": "TCP"}]}]), isvc("minilm", "minilm", "caikit"))
    tgis = caikit_runtime("tgis", "tgis-grpc-runtime", [
        {"name": "kserve-container", "image": "quay.io/modh/text-generation-inference:rhoai-2.16",
         "command": ["text-generation-launcher"], "args": ["--model-name=/mnt/models/", "--grpc-port=8033"],
         "ports": [{"containerPort": 8033, "name": "h2c", "protocol": "TCP"}]}])
    tgis["spec"]["supportedModelFormats"] = [{"name": "pytorch", "autoSelect": True}]
    deploy(k8s, tgis, isvc("tgis", "tgis", "pytorch"))

    res = check(kubeconfig, ingress, {"name": "flan", "namespace": NS, "ca": ca, "prompt": "What is KServe?"})
    assert not res.get("failed"), res
    assert res["runtime"] == "caikit-tgis" and [(c["name"], c["status"]) for c in res["calls"]] == [
        ("text_generation", 200)]
    assert '"generated_text"' in res["calls"][0]["excerpt"]
    res = check(kubeconfig, ingress, {"name": "minilm", "namespace": NS, "ca": ca})
    assert not res.get("failed"), res
    assert res["runtime"] == "caikit-standalone" and res["calls"][0]["name"] == "embedding"
    assert res["calls"][0]["status"] == 200 and '"values"' in res["calls"][0]["excerpt"]
    res = check(kubeconfig, ingress, {"name": "tgis", "namespace": NS, "ca": ca})
    assert not res.get("failed"), res
    assert res["skipped"] is True and "gRPC" in res["skip_reason"] and res["calls"] == []
