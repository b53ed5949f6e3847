"""Unit tests (no cluster) of what keeps a simulated model answering while operators are upgraded
(issue 16): the gateway's ext-authz needs an available Authorino pod, which a rolling update of
Deployment ``authorino`` keeps."""

from __future__ import annotations

from types import SimpleNamespace

from testbed.sim import resources as R
from testbed.sim.ingress import Ingress


class Inf:
    def __init__(self, objs, served=True):
        self.objs, self.served = objs, served

    def get(self, name, namespace=None):
        return self.objs.get((namespace or "", name))

    def items(self, namespace=None, selector=None):
        return list(self.objs.values())


class Mgr:
    def __init__(self, authconfigs, authorinos, deployments):
        self.inf = {R.AUTHCONFIG: Inf(authconfigs), R.AUTHORINO: Inf(authorinos)}
        self.deployments = deployments

    def informer(self, res):
        return self.inf[res]

    def get(self, res, name, namespace=None):
        assert res == R.DEPLOYMENT
        return self.deployments.get((namespace, name))


def _obj(name, ns, **extra):
    return dict({"metadata": {"name": name, "namespace": ns}}, **extra)


ISVC = _obj("demo-llm", "demo-models")
AC = {("demo-models", "demo-llm"): _obj("demo-llm", "demo-models")}
AUTHORINO = {("auth", "authorino"): _obj("authorino", "auth")}


def _down(mgr):
    return Ingress.ext_authz_down(SimpleNamespace(mgr=mgr), ISVC)


def test_rolling_update_keeps_an_available_authorino():
    # mid-rollout: the new pod not ready yet, the old one still available (maxUnavailable 0)
    status = {"replicas": 2, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1}
    rolling = _obj("authorino", "auth", status=status)
    assert not _down(Mgr(AC, AUTHORINO, {("auth", "authorino"): rolling}))


def test_no_available_authorino_fails_the_ext_authz_call():
    gone = _obj("authorino", "auth", status={"replicas": 1, "availableReplicas": 0})
    assert _down(Mgr(AC, AUTHORINO, {("auth", "authorino"): gone}))
    assert _down(Mgr(AC, AUTHORINO, {}))


def test_without_authconfig_or_authorino_no_ext_authz():
    assert not _down(Mgr({}, AUTHORINO, {}))
    assert not _down(Mgr(AC, {}, {}))
