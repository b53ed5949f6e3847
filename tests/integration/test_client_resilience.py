"""The client layer survives an API server that goes away and comes back.

A TCP proxy on loopback stands between the module and the testbed's real kube-apiserver. While
``resource_wait`` waits, the proxy drops every connection and refuses new ones (as during an API
server restart or a load-balancer failover), then comes back. The module must re-list through the
outage and finish; before the client retried, the re-list after a broken watch failed the task
with an unexpected urllib3 error. A server that stays away ends in a message naming the request.
"""

import os
import socket
import tempfile
import threading
import time

import pytest
import yaml
from helpers import run_module, run_module_in_background, wait_module_running

from k8s_util import api, make_namespace

pytestmark = pytest.mark.integration


class FlakyProxy(object):
    """Forward 127.0.0.1:<port> to the API server; ``outage()`` closes everything and refuses
    connections until ``restore()`` listens again on the same port."""

    def __init__(self, target_host, target_port):
        self.target = (target_host, target_port)
        self.port = None
        self._listener = None
        self._conns = []
        self._lock = threading.Lock()
        self.accepted = 0
        self._listen()

    def _listen(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port or 0))
        sock.listen(64)
        self.port = sock.getsockname()[1]
        self._listener = sock
        threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def _accept(self, sock):
        while True:
            try:
                client, _addr = sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self.accepted += 1
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def outage(self):
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone does not
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def restore(self):
        self._listen()

    def close(self):
        self.outage()


@pytest.fixture
def proxied(kubeconfig):
    """(proxy, kubeconfig path through the proxy)."""
    with open(kubeconfig) as f:
        config = yaml.safe_load(f)
    server = config["clusters"][0]["cluster"]["server"]
    host, port = server.split("://", 1)[1].rsplit(":", 1)
    proxy = FlakyProxy(host, int(port))
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = "https://127.0.0.1:%d" % proxy.port
    fd, path = tempfile.mkstemp(prefix="kubeconfig-proxy-")
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(config, f)
    yield proxy, path
    proxy.close()
    os.unlink(path)


@pytest.fixture
def ns(k8s):
    with make_namespace(k8s, "flaky") as name:
        yield name


def _configmap(name, value):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"state": value}}


def test_wait_survives_an_api_server_outage(k8s, proxied, ns):
    proxy, kubeconfig = proxied
    cms = api(k8s, "v1", "ConfigMap")
    cms.create(namespace=ns, body=_configmap("flag", "starting"))
    run = run_module_in_background(
        "resource_wait",
        {"api_version": "v1", "kind": "ConfigMap", "name": "flag", "namespace": ns,
         "field": {"path": "data.state", "value": "ready"}, "timeout": 120},
        kubeconfig,
    )
    wait_module_running("resource_wait", run)  # listed and blocked in its watch
    before = proxy.accepted
    proxy.outage()
    # the object changes while the module cannot see the server (written directly, not through the proxy)
    cms.patch(namespace=ns, name="flag", body={"data": {"state": "ready"}})
    outage_start = time.monotonic()
    # the module keeps trying while the server is away: wait until it has been refused for a while
    while time.monotonic() - outage_start < 3:
        time.sleep(0.2)
    assert not run.done(), {k: v for k, v in run.result().items() if k in ("failed", "msg", "satisfied", "elapsed")}
    proxy.restore()
    result = run.result(timeout=120)
    assert not result.get("failed"), result
    assert result["satisfied"] is True
    assert proxy.accepted > before, "the module never came back through the proxy"


def test_an_api_server_that_stays_away_is_named(proxied, ns):
    proxy, kubeconfig = proxied
    proxy.outage()
    result = run_module(
        "resource_patch",
        {"api_version": "v1", "kind": "ConfigMap", "name": "never", "namespace": ns,
         "patch": {"data": {"a": "b"}}, "create": True},
        kubeconfig,
        timeout=300,
    )
    assert result.get("failed"), result
    assert "Unexpected error" not in result["msg"], result["msg"]
    # retried for the whole budget, then named: which request, how many attempts, why
    assert "did not answer GET https://127.0.0.1:%d/" % proxy.port in result["msg"], result["msg"]
    assert "Connection refused" in result["msg"], result["msg"]
