"""Least privilege (issue 17): the install and the demo model deployment run as a ServiceAccount
bound only to the ClusterRole the collection ships (docs/rbac/), and a permission it lacks is
reported naming the verb and the resource, never read as "absent".

One dedicated testbed; the main command's inventory (inventories/local) with the SA's kubeconfig."""

import base64
import copy
import json
import os

import yaml

from helpers import REPO, ansible_playbook
from install_support import failure_text, snapshot
from testbed.pytest_plugin import dynamic_client

CLUSTERROLE = os.path.join(REPO, "docs", "rbac", "model-serving-installer.clusterrole.yml")
NS = "model-serving-admin"
INVENTORY = ("-i", os.path.join(REPO, "inventories", "local"))


def _account(k8s, admin_kubeconfig, tmp_path, name, role):
    """A ServiceAccount bound to ``role`` (a ClusterRole body) and a kubeconfig with its token."""
    role = copy.deepcopy(role)
    role["metadata"]["name"] = name
    k8s.resources.get(api_version="rbac.authorization.k8s.io/v1", kind="ClusterRole").create(body=role)
    k8s.resources.get(api_version="v1", kind="ServiceAccount").create(
        namespace=NS, body={"metadata": {"name": name}})
    k8s.resources.get(api_version="rbac.authorization.k8s.io/v1", kind="ClusterRoleBinding").create(body={
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": NS}]})
    token = k8s.request(
        "POST", "/api/v1/namespaces/%s/serviceaccounts/%s/token" % (NS, name),
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 7200}},
    ).status.token
    with open(admin_kubeconfig) as f:
        cfg = yaml.safe_load(f)
    cfg["users"] = [{"name": name, "user": {"token": token}}]
    for ctx in cfg["contexts"]:
        ctx["context"]["user"] = name
    path = tmp_path / ("%s.kubeconfig" % name)
    path.write_text(yaml.safe_dump(cfg))
    os.chmod(str(path), 0o600)
    return str(path), token


def test_install_and_models_as_a_least_privilege_account(fresh_testbed, tmp_path):
    tb = fresh_testbed(gpu_nodes=0, platform="AWS")
    admin = dynamic_client(str(tb.kubeconfig))
    admin.resources.get(api_version="v1", kind="Namespace").create(body={"metadata": {"name": NS}})
    with open(CLUSTERROLE) as f:
        role = yaml.safe_load(f)

    # 1. With the shipped ClusterRole and nothing else: the main command's install and demo model.
    kubeconfig, token = _account(admin, str(tb.kubeconfig), tmp_path, "model-serving-installer", role)
    #    With -vvv --diff: no private key, token or credential anywhere in the output.
    run = ansible_playbook("playbooks/install.yml", kubeconfig, diff=True, args=INVENTORY + ("-vvv",), timeout=1800)
    assert run.rc == 0, failure_text(run)[-4000:]
    models = ansible_playbook("playbooks/deploy_models.yml", kubeconfig, diff=True, args=INVENTORY + ("-vvv",),
                              timeout=1200)
    assert models.rc == 0, failure_text(models)[-4000:]
    out = json.dumps(run.output) + run.stderr + json.dumps(models.output) + models.stderr
    assert token not in out
    assert "PRIVATE KEY" not in out
    secrets = admin.resources.get(api_version="v1", kind="Secret")
    for ns, name, key in (("istio-system", "knative-serving-cert", "tls.key"), ("demo-models", "demo-demo-llm-sa", "token")):
        value = (secrets.get(name=name, namespace=ns).to_dict().get("data") or {}).get(key)
        assert value, (ns, name, key)
        assert value not in out and base64.b64decode(value).decode() not in out, (ns, name, key)

    # 2. Without list on ServiceMeshControlPlanes (served now) the install path cannot be decided: a rerun
    #    is refused, naming the verb and the resource, before anything is written.
    limited = copy.deepcopy(role)
    for rule in limited["rules"]:
        if "servicemeshcontrolplanes" in rule.get("resources", []):
            rule["resources"] = [r for r in rule["resources"] if r != "servicemeshcontrolplanes"]
    limited_kc, limited_token = _account(admin, str(tb.kubeconfig), tmp_path, "limited-installer", limited)
    before = snapshot(admin)
    run = ansible_playbook("playbooks/install.yml", limited_kc, args=INVENTORY)
    text = failure_text(run)
    assert run.rc != 0, text[-2000:]
    assert "servicemeshcontrolplanes.maistra.io" in text and "verb list" in text and "HTTP 403" in text, text[-3000:]
    assert snapshot(admin) == before
    assert limited_token not in json.dumps(run.output) + run.stderr
