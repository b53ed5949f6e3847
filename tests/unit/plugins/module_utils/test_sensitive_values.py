"""Secret values in module parameters that are not no_log are masked (module_utils/_args.py)."""

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._args import sensitive_values
from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _client

INLINE = {
    "apiVersion": "v1", "kind": "Config", "current-context": "admin",
    "clusters": [{"name": "c", "cluster": {"server": "https://api.example.com:6443", "certificate-authority-data": "Q0E="}}],
    "users": [{"name": "admin", "user": {"token": "sha256~s3cr3t-token", "client-key-data": "S0VZLURBVEE="}},
              {"name": "basic", "user": {"username": "kube", "password": "hunter22"}},
              {"name": "oidc", "user": {"auth-provider": {"config": {"id-token": "eyJ.id", "refresh-token": "rt-123"}}}}],
}


def test_inline_kubeconfig_credentials_are_masked_but_not_the_rest():
    got = sensitive_values({"kubeconfig": INLINE})
    assert got == {"sha256~s3cr3t-token", "S0VZLURBVEE=", "hunter22", "eyJ.id", "rt-123"}
    assert sensitive_values({"kubeconfig": "/home/me/.kube/config"}) == set()


def test_secret_values_sent_through_a_patch_are_masked():
    one = {"kind": "Secret", "patch": {"stringData": {"AWS_SECRET_ACCESS_KEY": "abc/def+ghi", "x": "no"},
                                       "data": {"token": "dG9rZW4="}, "metadata": {"labels": {"a": "visible"}}}}
    assert sensitive_values(one) == {"abc/def+ghi", "dG9rZW4="}
    assert sensitive_values({"kind": "ConfigMap", "patch": {"data": {"k": "not secret"}}}) == set()
    bulk = {"resources": [one, {"kind": "ConfigMap", "patch": {"data": {"k": "plain value"}}}]}
    assert sensitive_values(bulk) == {"abc/def+ghi", "dG9rZW4="}


def test_a_bad_inline_kubeconfig_is_not_echoed():
    try:
        _client.Client({"kubeconfig": dict(INLINE, **{"current-context": "missing"})}, environ={})
    except _client.ConnectionFailed as e:
        assert e.details["kubeconfig"] == "(an inline kubeconfig, not shown)"
        assert "s3cr3t" not in e.msg
    else:  # pragma: no cover
        raise AssertionError("no error for a missing context")
