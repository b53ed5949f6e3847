"""Transport layer without the kubernetes library: kubeconfig and in-cluster credentials, REST paths
and query parameters, discovery per group/version with its on-disk cache, watch event parsing.
Requests go to a scripted stand-in of RestClient.request (no API server needed here; the integration
tests run every module through this layer against the testbed's kube-apiserver)."""

import base64
import json
import os
import stat

import pytest

from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _rest
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._client import build_configuration


def _kubeconfig(path, server="https://api.one:6443", user=None, context="one", extra_users=(), current="one"):
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": current,
        "clusters": [{"name": "c-" + context, "cluster": {"server": server, "certificate-authority": "ca.crt"}}],
        "users": [{"name": "u-" + context, "user": user or {"token": "t-" + context}}] + list(extra_users),
        "contexts": [{"name": context, "context": {"cluster": "c-" + context, "user": "u-" + context}}],
    }
    path.write_text(json.dumps(doc))  # JSON is YAML
    return doc


def test_kubeconfig_token_and_a_ca_path_relative_to_the_file(tmp_path):
    _kubeconfig(tmp_path / "config")
    conf = _rest.load_kubeconfig(str(tmp_path / "config"))
    assert conf.host == "https://api.one:6443"
    assert conf.ssl_ca_cert == str(tmp_path / "ca.crt") and conf.verify_ssl
    assert conf.api_key == {"authorization": "Bearer t-one"}


def test_kubeconfig_inline_data_and_client_certificate(tmp_path):
    user = {"client-certificate-data": base64.b64encode(b"CERT").decode(),
            "client-key-data": base64.b64encode(b"KEY").decode()}
    doc = _kubeconfig(tmp_path / "config", user=user)
    doc["clusters"][0]["cluster"] = {"server": "https://api.one:6443/", "certificate-authority-data":
                                     base64.b64encode(b"CA").decode(), "tls-server-name": "api.internal"}
    conf = _rest.load_kubeconfig(doc)
    assert conf.host == "https://api.one:6443" and conf.ca_data == b"CA" and conf.ssl_ca_cert is None
    assert conf.cert_data == b"CERT" and conf.key_data == b"KEY" and conf.api_key == {}
    assert conf.tls_server_name == "api.internal"


def test_kubeconfig_list_first_file_wins_and_context_selects(tmp_path):
    _kubeconfig(tmp_path / "a", server="https://api.a:6443", context="a", current="a")
    _kubeconfig(tmp_path / "b", server="https://api.b:6443", context="b", current="b")
    env = {"KUBECONFIG": "%s%s%s" % (tmp_path / "a", os.pathsep, tmp_path / "b")}
    assert _rest.load_kubeconfig(None, environ=env).host == "https://api.a:6443"
    assert _rest.load_kubeconfig(None, context="b", environ=env).host == "https://api.b:6443"
    with pytest.raises(_rest.ConfigError, match="context c is not in the kubeconfig"):
        _rest.load_kubeconfig(None, context="c", environ=env)


def test_token_file_insecure_and_basic_auth(tmp_path):
    (tmp_path / "token").write_text("from-file\n")
    doc = _kubeconfig(tmp_path / "config", user={"tokenFile": str(tmp_path / "token")})
    doc["clusters"][0]["cluster"]["insecure-skip-tls-verify"] = True
    conf = _rest.load_kubeconfig(doc)
    assert conf.api_key == {"authorization": "Bearer from-file"} and not conf.verify_ssl
    doc["users"][0]["user"] = {"username": "admin", "password": "secret"}
    conf = _rest.load_kubeconfig(doc)
    headers = _rest.RestClient(conf).headers
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"admin:secret").decode()


def test_plugin_users_are_recognised(tmp_path):
    doc = _kubeconfig(tmp_path / "config", user={"exec": {"command": "oc-login", "apiVersion": "v1"}})
    with pytest.raises(_rest.PluginUser, match="plugin"):
        _rest.load_kubeconfig(doc)
    assert _rest.load_kubeconfig(_kubeconfig(tmp_path / "plain")).api_key == {"authorization": "Bearer t-one"}


def test_in_cluster_service_account(tmp_path):
    (tmp_path / "token").write_text("sa-token")
    (tmp_path / "ca.crt").write_text("CA")
    conf = _rest.load_incluster(environ={"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"},
                                sa_dir=str(tmp_path))
    assert conf.host == "https://[fd00::1]:443" and conf.api_key == {"authorization": "Bearer sa-token"}
    assert conf.ssl_ca_cert == str(tmp_path / "ca.crt")
    with pytest.raises(_rest.ConfigError, match="KUBERNETES_SERVICE_HOST"):
        _rest.load_incluster(environ={}, sa_dir=str(tmp_path))


def test_explicit_options_override_the_kubeconfig(tmp_path):
    doc = _kubeconfig(tmp_path / "config")
    conf = build_configuration({"kubeconfig": doc, "host": "https://other:6443", "api_key": "k", "validate_certs": False,
                                "ca_cert": "/ca.pem"}, environ={})
    assert conf.host == "https://other:6443" and conf.api_key == {"authorization": "Bearer k"}
    assert not conf.verify_ssl and conf.ssl_ca_cert == "/ca.pem"
    only_host = build_configuration({"host": "https://h:6443/", "api_key": "k"}, environ={})
    assert only_host.host == "https://h:6443"


class Script(object):
    """Stand-in for RestClient.request: answers by (method, path), records every request."""

    def __init__(self, answers):
        self.answers = answers
        self.sent = []
        self.configuration = _rest.Configuration()
        self.configuration.host = ""  # the paths below are the URLs

    def request(self, method, url, query_params=None, headers=None, body=None, _preload_content=True,
                _request_timeout=None):
        self.sent.append((method, url, list(query_params or []), headers, body))
        status, data = self.answers.get((method, url), (404, {"kind": "Status", "code": 404}))
        return Answer(status, data)


class Answer(object):
    def __init__(self, status, data):
        self.status = status
        self.reason = "OK" if status < 300 else "Not Found"
        self.data = json.dumps(data).encode()
        self.headers = {}


APPS = {"resources": [
    {"name": "deployments", "kind": "Deployment", "namespaced": True, "verbs": ["get"]},
    {"name": "deployments/scale", "kind": "Scale", "namespaced": True},
]}


def test_paths_and_query_parameters():
    rest = Script({("GET", "/apis/apps/v1"): (200, APPS),
                   ("PATCH", "/apis/apps/v1/namespaces/ns%201/deployments/web"): (200, {"metadata": {"name": "web"}}),
                   ("GET", "/apis/apps/v1/deployments"): (200, {"items": []})})
    client = _rest.DynamicClient(rest)
    res = client.resources.get(api_version="apps/v1", kind="Deployment")
    assert res.namespaced and res.path("web", "ns") == "/apis/apps/v1/namespaces/ns/deployments/web"
    out = res.patch(body={"spec": {}}, name="web", namespace="ns 1", field_manager="fm", dry_run="All")
    assert out.to_dict() == {"metadata": {"name": "web"}}
    method, url, query, headers, body = rest.sent[-1]
    assert query == [("dryRun", "All"), ("fieldManager", "fm")]
    assert headers == {"Content-Type": _rest.MERGE_PATCH} and body == {"spec": {}}
    assert res.get(label_selector="a=b", field_selector="metadata.name=x").to_dict() == {"items": []}
    assert rest.sent[-1][2] == [("labelSelector", "a=b"), ("fieldSelector", "metadata.name=x")]
    with pytest.raises(_rest.ApiException) as err:
        res.get(name="gone", namespace="ns")
    assert err.value.status == 404 and '"code": 404' in err.value.body


def test_discovery_reads_one_group_version_and_caches_it_on_disk(tmp_path):
    cache = tmp_path / "discovery.json"
    rest = Script({("GET", "/apis/apps/v1"): (200, APPS), ("GET", "/api/v1"): (200, {"resources": [
        {"name": "namespaces", "kind": "Namespace", "namespaced": False}]})})
    first = _rest.DynamicClient(rest, cache_file=str(cache))
    assert first.resources.get(api_version="apps/v1", kind="Deployment").name == "deployments"
    assert not first.resources.get(api_version="v1", kind="Namespace").namespaced
    assert [s[1] for s in rest.sent] == ["/apis/apps/v1", "/api/v1"]
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    with pytest.raises(_rest.ResourceNotFoundError):  # a subresource is not a kind
        first.resources.get(api_version="apps/v1", kind="Scale")
    second = _rest.DynamicClient(rest, cache_file=str(cache))
    second.resources.get(api_version="apps/v1", kind="Deployment")
    assert len(rest.sent) == 2  # from the file
    second.resources.invalidate_cache()
    second.resources.get(api_version="apps/v1", kind="Deployment")
    assert len(rest.sent) == 3  # asked again


def test_a_group_version_not_served_is_not_found_and_asked_again_after_invalidation(tmp_path):
    rest = Script({})
    client = _rest.DynamicClient(rest, cache_file=str(tmp_path / "d.json"))
    for attempt in (1, 2):
        with pytest.raises(_rest.ResourceNotFoundError):
            client.resources.get(api_version="maistra.io/v2", kind="ServiceMeshControlPlane")
        assert len(rest.sent) == 1, attempt
    rest.answers[("GET", "/apis/maistra.io/v2")] = (200, {"resources": [
        {"name": "servicemeshcontrolplanes", "kind": "ServiceMeshControlPlane", "namespaced": True}]})
    client.resources.invalidate_cache()
    assert client.resources.get(api_version="maistra.io/v2", kind="ServiceMeshControlPlane").namespaced


class Stream(object):
    def __init__(self, chunks):
        self.chunks = chunks
        self.closed = False
        self.status = 200

    def stream(self, amt=None, decode_content=False):
        return iter(self.chunks)

    def close(self):
        self.closed = True


def test_watch_events_split_across_chunks_and_an_expired_version():
    one = json.dumps({"type": "ADDED", "object": {"metadata": {"name": "a"}}}).encode()
    gone = json.dumps({"type": "ERROR", "object": {"kind": "Status", "code": 410, "message": "too old"}}).encode()
    stream = Stream([one[:10], one[10:] + b"\n", gone + b"\n"])

    class Client(_rest.DynamicClient):
        def call(self, method, path, query=None, body=None, content_type=None, preload=True, timeout=None):
            self.query = query
            return stream

    client = Client(Script({}))
    res = _rest.Resource(client, "v1", {"name": "pods", "kind": "Pod", "namespaced": True})
    events = client.watch(res, namespace="ns", resource_version="7", timeout=30)
    assert next(events)["raw_object"] == {"metadata": {"name": "a"}}
    with pytest.raises(_rest.ApiException) as err:
        next(events)
    assert err.value.status == 410 and stream.closed
    assert ("resourceVersion", "7") in client.query and ("timeoutSeconds", 30) in client.query
