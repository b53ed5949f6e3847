"""Model registries (issue 14, seed 004) through playbooks/model_registry.yml against a real MariaDB.

One dedicated testbed (OpenShift AI 2.19 from the catalog; the simulated model-registry operator of
testbed/sim/model_registry.py) and one MariaDB server (testbed/mariadb.py, TLS with a CA made here) for
the module. The CRs name the database by the Service FQDN ``mariadb.mr-db.svc.cluster.local``; that
Service carries the annotation ``testbed.openshift-ai.io/address: 127.0.0.1:<port>`` through which the
simulator (a host process) reaches the server.

- converge: two registries, ``team-a`` (display name "Team A", CA uploaded as PEM, a user that must use
  TLS, database host given as bare name + namespace) and ``plain`` (no CA, FQDN host, every
  authenticated user); the component set on the DSC with the other components kept; Available;
  the REST API checked by the role with a member's token; the password never printed;
- second run changed=0; --check --diff with changes writes nothing;
- REST: a member registers a model and lists it; a project's service account lists; a stranger's token
  gets 403, no token 401;
- a group member added by hand survives a rerun; revoke (the role's `permissions` entry point, no
  database fields) removes only what it names;
- a wrong password fails within 30 s with MariaDB's own "Access denied" text;
- refusals before any write: a name against the seed's rules, a rename of an existing registry;
- state: absent deletes the registry, says that the database is kept, and its tables are still there.
"""

import json
import os
import ssl
import time
import urllib.error
import urllib.request

import pytest
import yaml

from helpers import REPO, ansible_playbook
from k8s_util import api, wait_for
from role_runner import install_operators
from testbed.cluster import Testbed
from testbed.mariadb import MariaDB
from testbed.pytest_plugin import dynamic_client

pytestmark = pytest.mark.integration

PLAYBOOK = os.path.join(REPO, "playbooks", "model_registry.yml")
NS = "rhoai-model-registries"
MR_V1BETA1 = ("modelregistry.opendatahub.io/v1beta1", "ModelRegistry")
DSCI = ("dscinitialization.opendatahub.io/v1", "DSCInitialization")
DSC = ("datasciencecluster.opendatahub.io/v1", "DataScienceCluster")
GROUP = ("user.openshift.io/v1", "Group")
DB_NS = "mr-db"
USERS_NS = "mr-users"
PROJECT = "mr-project"
FQDN = "mariadb.%s.svc.cluster.local" % DB_NS
ALICE = "system:serviceaccount:%s:alice" % USERS_NS
CAROL = "system:serviceaccount:%s:carol" % USERS_NS
PASSWORDS = {"team_a": "Tls-Pass-7781", "plain": "Plain-Pass-5521"}


def _get(k8s, gvk, name, namespace=None):
    from kubernetes.dynamic.exceptions import NotFoundError

    try:
        return api(k8s, *gvk).get(name=name, namespace=namespace).to_dict()
    except NotFoundError:
        return None


def _create(k8s, body):
    api(k8s, body["apiVersion"], body["kind"]).create(body=body, namespace=body["metadata"].get("namespace"))


def _token(k8s, ns, sa):
    from kubernetes import client

    core = client.CoreV1Api(k8s.client)
    return core.create_namespaced_service_account_token(sa, ns, {"spec": {"expirationSeconds": 3600}}).status.token


def _registries(ca_pem, extra=None):
    regs = [
        {"name": "Team A", "resource_name": "team-a", "description": "Models of team A",
         "database": {"host": "mariadb", "namespace": DB_NS, "port": 3306, "database": "team_a",
                      "username": "team_a", "password": PASSWORDS["team_a"]},
         "ca": {"source": "pem", "pem": ca_pem},
         "permissions": {"users": [ALICE], "projects": [PROJECT]}},
        {"name": "plain",
         "database": {"host": FQDN, "database": "plain", "username": "plain", "password": PASSWORDS["plain"]},
         "permissions": {"groups": ["system:authenticated"]}},
    ]
    return regs + list(extra or [])


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    base = tmp_path_factory.mktemp("model-registry")
    tb = Testbed(str(base / "tb"), workers=1, gpu_nodes=0, platform="AWS")
    db = MariaDB(base / "mariadb", tls=True, dns_names=[FQDN])
    tb.up()
    try:
        db.start()
        db.create_database("team_a", "team_a", PASSWORDS["team_a"], require_ssl=True)
        db.create_database("plain", "plain", PASSWORDS["plain"])
        kc = str(tb.kubeconfig)
        k8s = dynamic_client(kc)
        install_operators(kc, ["rhods-operator"])
        wait_for(lambda: _get(k8s, DSCI, "default-dsci"), 180, 0.5, "default-dsci")
        # Another component on the DSC (set by someone else): must stay as it is.
        _create(k8s, {"apiVersion": DSC[0], "kind": DSC[1], "metadata": {"name": "default-dsc"},
                      "spec": {"components": {"kserve": {"managementState": "Removed"},
                                              "dashboard": {"managementState": "Removed"}}}})
        for ns in (DB_NS, USERS_NS, PROJECT):
            _create(k8s, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        _create(k8s, {"apiVersion": "v1", "kind": "Service", "metadata": {
            "name": "mariadb", "namespace": DB_NS, "annotations": {"testbed.openshift-ai.io/address": db.address}},
            "spec": {"ports": [{"name": "mysql", "port": 3306}], "selector": {"app": "mariadb"}}})
        for ns, sa in ((USERS_NS, "alice"), (USERS_NS, "eve"), (USERS_NS, "carol"), (PROJECT, "bob")):
            _create(k8s, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa, "namespace": ns}})
        api_cm = wait_for(lambda: (_get(k8s, ("v1", "ConfigMap"), "testbed-model-registry", "testbed-system") or {})
                          .get("data"), 60, 0.5, "ConfigMap testbed-system/testbed-model-registry")
        tokens = dict((sa, _token(k8s, ns, sa)) for ns, sa in
                      ((USERS_NS, "alice"), (USERS_NS, "eve"), (PROJECT, "bob")))
        yield {"tb": tb, "kc": kc, "k8s": k8s, "db": db, "base": base, "api": api_cm, "tokens": tokens}
    finally:
        db.stop()
        tb.down()


def _play(env, registries, check=False, diff=False, extra=None, name="vars.yml", verbose=False):
    path = env["base"] / name
    variables = {"model_registry_registries": registries, "model_registry_timeout": 120}
    variables.update(extra or {})
    path.write_text(yaml.safe_dump(variables))
    args = ("-e", "@%s" % path) + (("-vvv",) if verbose else ())
    return ansible_playbook(PLAYBOOK, env["kc"], check=check, diff=diff, timeout=900, args=args)


def _api_check_vars(env):
    ca = env["base"] / "rest-ca.crt"
    ca.write_text(env["api"]["ca.crt"])
    return {"model_registry_api_check": True, "model_registry_api_token": env["tokens"]["alice"],
            "model_registry_api_ca": str(ca), "model_registry_api_address": env["api"]["https-address"]}


def _failure(run):
    return "\n".join("%s: %s" % (n, r.get("msg")) for n, r in run.task_results() if r.get("failed"))


def _describe(run):
    changed = [n for n, r in run.task_results() if r.get("changed")]
    return "rc=%s changed=%s tasks=%s failure=%s\n%s" % (
        run.rc, run.stats.get("localhost", {}).get("changed"), changed, _failure(run), run.stderr[-3000:])


def _rest(env, registry, method="GET", token=None, body=None):
    """(status, JSON or text) from the registry's REST API through the testbed's HTTPS listener."""
    host = "%s-rest.%s" % (registry, _domain(env))
    ctx = ssl.create_default_context(cadata=env["api"]["ca.crt"])
    req = urllib.request.Request("https://%s/api/model_registry/v1alpha3/registered_models" % env["api"]["https-address"],
                                 method=method, data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Host", host)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def _domain(env):
    return _get(env["k8s"], ("config.openshift.io/v1", "Ingress"), "cluster")["spec"]["domain"]


def _snapshot(k8s):
    out = {}
    for gvk, ns in ((MR_V1BETA1, NS), (("v1", "Secret"), NS), (("v1", "ConfigMap"), NS),
                    (("rbac.authorization.k8s.io/v1", "RoleBinding"), NS), (GROUP, None), (DSC, None)):
        try:
            objs = api(k8s, *gvk).get(namespace=ns).to_dict()["items"]
        except Exception:  # noqa: BLE001 - kind or namespace not there yet
            objs = []
        for o in objs:
            out[(gvk[1], o["metadata"]["name"])] = o["metadata"]["resourceVersion"]
    return out


@pytest.fixture(scope="module")
def converged(env):
    ca = env["db"].ca_pem
    run = _play(env, _registries(ca), extra=_api_check_vars(env), diff=True, verbose=True)
    assert run.rc == 0, _describe(run)
    return run


def test_refusals_and_check_mode_before_any_write(env):
    k8s = env["k8s"]
    before = _snapshot(k8s)
    db = {"host": "x", "database": "d", "username": "u", "password": "p"}
    run = _play(env, [{"name": "Team_B", "database": db}, {"name": "x", "resource_name": "a" * 254, "database": db}],
                name="bad.yml")
    assert run.rc != 0
    msg = _failure(run)
    assert "model_registry_registries[0] (Team_B)" in msg and "not a valid resource name" in msg, msg
    assert "model_registry_registries[1]" in msg and "longer than 253 characters" in msg, msg
    assert _snapshot(k8s) == before
    # --check before the component exists: reported as pending, nothing written
    run = _play(env, _registries(env["db"].ca_pem), check=True, diff=True, name="check-fresh.yml")
    assert run.rc == 0, _describe(run)
    assert any(n.endswith("Report the registries as pending in check mode") and not r.get("skipped")
               for n, r in run.task_results()), _describe(run)
    assert _snapshot(k8s) == before


def test_converge(env, converged):
    k8s, run = env["k8s"], converged
    dsc = _get(k8s, DSC, "default-dsc")
    assert dsc["spec"]["components"]["modelregistry"] == {"managementState": "Managed", "registriesNamespace": NS}
    assert dsc["spec"]["components"]["kserve"] == {"managementState": "Removed"}
    assert dsc["spec"]["components"]["dashboard"] == {"managementState": "Removed"}
    team = _get(k8s, MR_V1BETA1, "team-a", NS)
    assert team["metadata"]["annotations"]["openshift.io/display-name"] == "Team A"
    assert team["metadata"]["annotations"]["openshift.io/description"] == "Models of team A"
    mysql = team["spec"]["mysql"]
    assert mysql["host"] == FQDN and mysql["port"] == 3306 and mysql["database"] == "team_a"
    assert mysql["passwordSecret"] == {"name": "team-a-db-credentials", "key": "database-password"}
    assert mysql["sslRootCertificateConfigMap"] == {"name": "team-a-db-credential", "key": "ca.crt"}
    assert team["spec"]["oauthProxy"] == {} and "istio" not in team["spec"]
    cm = _get(k8s, ("v1", "ConfigMap"), "team-a-db-credential", NS)
    assert cm["data"]["ca.crt"] == env["db"].ca_pem
    plain = _get(k8s, MR_V1BETA1, "plain", NS)
    assert plain["spec"]["mysql"]["host"] == FQDN
    assert not any(k.startswith("sslRoot") for k in plain["spec"]["mysql"])
    secret = _get(k8s, ("v1", "Secret"), "team-a-db-credentials", NS)
    assert sorted(secret["data"]) == ["database-name", "database-password", "database-user"]
    for reg in ("team-a", "plain"):
        mr = _get(k8s, MR_V1BETA1, reg, NS)
        assert any(c["type"] == "Available" and c["status"] == "True" for c in mr["status"]["conditions"]), mr["status"]
    # the schema the registry created in each database
    for schema in ("team_a", "plain"):
        tables = [r[0] for r in env["db"].query("SHOW TABLES", database=schema)]
        assert {"Context", "Type", "MLMDEnv"} <= set(tables), tables
    # permissions: the user in the group, the project bound to the operator's Role
    assert ALICE in (_get(k8s, GROUP, "team-a-users")["users"] or [])
    rbs = api(k8s, "rbac.authorization.k8s.io/v1", "RoleBinding").get(namespace=NS).to_dict()["items"]
    subjects = dict((s["name"], rb["roleRef"]["name"]) for rb in rbs for s in rb.get("subjects") or []
                    if rb["metadata"]["name"] != "team-a-users" and rb["metadata"]["name"] != "plain-users")
    assert subjects["system:serviceaccounts:%s" % PROJECT] == "registry-user-team-a"
    assert subjects["system:authenticated"] == "registry-user-plain"
    # the role's own REST check ran (member's token 200, none refused)
    names = [n for n, _result in run.task_results()]
    assert any(n.endswith("List the registered models with the token") for n in names), names
    # the passwords are never printed
    for pw in PASSWORDS.values():
        assert pw not in json.dumps(run.output) and pw not in run.stderr


def test_second_run_keeps_a_hand_added_member_changes_nothing_and_check_writes_nothing(env, converged):
    k8s = env["k8s"]
    # a member added by hand (oc adm groups add-users) before the rerun
    api(k8s, *GROUP).patch(name="team-a-users", content_type="application/merge-patch+json",
                           body={"users": [ALICE, CAROL]})
    run = _play(env, _registries(env["db"].ca_pem))
    assert run.rc == 0 and run.stats["localhost"]["changed"] == 0, _describe(run)
    assert _get(k8s, GROUP, "team-a-users")["users"] == [ALICE, CAROL]
    before = _snapshot(k8s)
    changed = _registries(env["db"].ca_pem)
    changed[0]["description"] = "changed in check mode"
    changed[1]["permissions"]["projects"] = [PROJECT]
    run = _play(env, changed, check=True, diff=True, name="check.yml")
    assert run.rc == 0, _describe(run)
    assert run.stats["localhost"]["changed"] > 0, _describe(run)
    assert _snapshot(k8s) == before


def test_rest_api_tokens(env, converged):
    tokens = env["tokens"]
    status, body = _rest(env, "team-a", "POST", tokens["alice"], {"name": "fraud-detector", "description": "v1"})
    assert status == 201, body
    assert body["name"] == "fraud-detector"
    status, body = _rest(env, "team-a", token=tokens["alice"])
    assert status == 200 and [m["name"] for m in body["items"]] == ["fraud-detector"], body
    status, body = _rest(env, "team-a", token=tokens["bob"])  # the project's service accounts
    assert status == 200, body
    status, body = _rest(env, "team-a", token=tokens["eve"])
    assert status == 403, body
    status, body = _rest(env, "team-a")
    assert status == 401, body
    status, body = _rest(env, "plain", token=tokens["eve"])  # system:authenticated
    assert status == 200, body
    rows = env["db"].query("SELECT name FROM Context", database="team_a")
    assert [r[0] for r in rows] == ["fraud-detector"]


def test_revoke_removes_only_what_it_names(env, converged):
    """Through the role's `permissions` entry point: no database fields needed, nothing else written."""
    k8s = env["k8s"]
    regs = [{"name": "Team A", "resource_name": "team-a", "revoke": {"users": [ALICE], "projects": [PROJECT]}}]
    include = {"name": "openshift_ai.model_serving.model_registry", "tasks_from": "permissions"}
    play = [{"name": "permissions", "hosts": "localhost", "connection": "local", "gather_facts": False,
             "tasks": [{"name": "grants", "ansible.builtin.include_role": include}]}]
    path = env["base"] / "permissions.yml"
    path.write_text(yaml.safe_dump(play))
    before = dict((k, v) for k, v in _snapshot(k8s).items() if k[0] == "ModelRegistry")
    run = ansible_playbook(str(path), env["kc"], {"model_registry_registries": regs}, timeout=900,
                           args=("-i", "localhost,"))
    assert run.rc == 0, _describe(run)
    assert dict((k, v) for k, v in _snapshot(k8s).items() if k[0] == "ModelRegistry") == before
    assert _get(k8s, GROUP, "team-a-users")["users"] == [CAROL]
    rbs = api(k8s, "rbac.authorization.k8s.io/v1", "RoleBinding").get(namespace=NS).to_dict()["items"]
    assert not [rb for rb in rbs for s in rb.get("subjects") or [] if s["name"] == "system:serviceaccounts:" + PROJECT]
    assert [rb for rb in rbs for s in rb.get("subjects") or [] if s["name"] == "system:authenticated"]
    # the proxy's authorizer sees the removed member within moments
    wait_for(lambda: _rest(env, "team-a", token=env["tokens"]["alice"])[0] == 403, 30, 0.5, "403 for a revoked member")


def test_rename_refused(env, converged):
    k8s = env["k8s"]
    before = _snapshot(k8s)
    regs = _registries(env["db"].ca_pem)
    regs[0]["resource_name"] = "team-a-new"
    run = _play(env, regs, name="rename.yml")
    assert run.rc != 0
    assert "resource name cannot be changed" in _failure(run) and "team-a" in _failure(run), _describe(run)
    assert _snapshot(k8s) == before


def test_wrong_password_reported_fast_with_the_database_error(env, converged):
    bad = {"name": "broken", "database": {"host": FQDN, "database": "plain", "username": "plain",
                                          "password": "not-the-password"}}
    t0 = time.monotonic()
    run = _play(env, _registries(env["db"].ca_pem, [bad]), name="broken.yml", diff=True, verbose=True)
    assert run.rc != 0, _describe(run)
    msg = _failure(run)
    assert "Access denied for user 'plain'" in msg and "broken" in msg, msg
    waited = [r for n, r in run.task_results() if n.endswith("Wait for the registries to be available")]
    failed = [i for r in waited for i in r.get("results") or [] if not i.get("satisfied")]
    assert failed and failed[0]["elapsed"] < 30, failed
    assert time.monotonic() - t0 < 120
    assert "not-the-password" not in json.dumps(run.output) and "not-the-password" not in run.stderr


def test_delete_keeps_the_database(env, converged):
    k8s = env["k8s"]
    status, body = _rest(env, "plain", "POST", env["tokens"]["alice"], {"name": "kept-model"})
    assert status == 201, body
    regs = _registries(env["db"].ca_pem, [{"name": "broken", "state": "absent"}])
    regs[1] = {"name": "plain", "state": "absent"}
    run = _play(env, regs, name="delete.yml")
    assert run.rc == 0, _describe(run)
    assert _get(k8s, MR_V1BETA1, "plain", NS) is None
    assert _get(k8s, ("v1", "Secret"), "plain-db-credentials", NS) is None
    said = json.dumps([r for n, r in run.task_results() if n.endswith("Say that the databases are kept")])
    assert "database plain on %s:3306 is kept" % FQDN in said, said
    rows = env["db"].query("SELECT name FROM Context", database="plain")
    assert [r[0] for r in rows] == ["kept-model"]
    assert _get(k8s, MR_V1BETA1, "broken", NS) is None
