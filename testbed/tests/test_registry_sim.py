"""The simulated model-registry operator's database side without a cluster: host mapping, connection
parameters from the CR, and the real connection against a MariaDB started here (schema, models, errors)."""

import base64
import os
import shutil

import pytest

from testbed.sim import model_registry as M

ADDR = "testbed.openshift-ai.io/address"


class FakeKube:
    def __init__(self, objs):
        self.objs = objs

    def get(self, res, name, namespace=None):
        return self.objs.get((res.kind, namespace or "", name))


class FakeMgr:
    def __init__(self, objs):
        self.objs = objs
        self.kube = FakeKube(objs)

    def get(self, res, name, namespace=None):
        return self.objs.get((res.kind, namespace or "", name))


def svc(name, ns, address=None, port=3306):
    md = {"name": name, "namespace": ns}
    if address:
        md["annotations"] = {ADDR: address}
    return {"metadata": md, "spec": {"ports": [{"port": port}]}}


def mgr_with(*objs):
    out = {}
    for kind, o in objs:
        md = o["metadata"]
        out[(kind, md.get("namespace", ""), md["name"])] = o
    return FakeMgr(out)


def test_host_mapping():
    mgr = mgr_with(("Service", svc("mariadb", "db", "127.0.0.1:4000")), ("Namespace", {"metadata": {"name": "db"}}),
                   ("Service", svc("local", "regs", "127.0.0.1:4001")))
    for host in ("mariadb.db.svc.cluster.local", "mariadb.db.svc", "mariadb.db"):
        assert M._resolve(mgr, host, 3306, "regs") == ("127.0.0.1", 4000)
    assert M._resolve(mgr, "local", 3306, "regs") == ("127.0.0.1", 4001)  # bare name: the registry's namespace
    assert M._resolve(mgr, "127.0.0.1", 3307, "regs") == ("127.0.0.1", 3307)
    assert M._resolve(mgr, "db.example.com", 3306, "regs") == ("db.example.com", 3306)
    with pytest.raises(M.DBError, match="Unknown MySQL server host 'other.db.svc.cluster.local'"):
        M._resolve(mgr, "other.db.svc.cluster.local", 3306, "regs")
    with pytest.raises(M.DBError, match="Connection refused"):
        M._resolve(mgr, "mariadb.db.svc.cluster.local", 3307, "regs")


def _mr(mysql):
    return {"metadata": {"name": "r", "namespace": "regs"}, "spec": {"mysql": mysql}}


def test_params_from_the_cr():
    secret = {"metadata": {"name": "pw", "namespace": "regs"},
              "data": {"database-password": base64.b64encode(b"s3cret").decode()}}
    cm = {"metadata": {"name": "ca", "namespace": "regs"}, "data": {"ca.crt": "PEM"}}
    mgr = mgr_with(("Secret", secret), ("ConfigMap", cm))
    p = M.db_params(mgr, _mr({"host": "127.0.0.1", "port": 3306, "username": "u", "database": "d",
                              "passwordSecret": {"name": "pw", "key": "database-password"},
                              "sslRootCertificateConfigMap": {"name": "ca", "key": "ca.crt"}}))
    assert (p["password"], p["ca"], p["create"], p["verify"]) == ("s3cret", "PEM", True, True)
    with pytest.raises(M.DBError, match='secret "nope" not found'):
        M.db_params(mgr, _mr({"host": "h", "username": "u", "database": "d", "passwordSecret": {"name": "nope"}}))
    with pytest.raises(M.DBError, match='key "x" not found in configmap regs/ca'):
        M.db_params(mgr, _mr({"host": "h", "username": "u", "database": "d",
                              "sslRootCertificateConfigMap": {"name": "ca", "key": "x"}}))
    with pytest.raises(M.DBError, match="spec.mysql.database is required"):
        M.db_params(mgr, _mr({"host": "h", "username": "u"}))


@pytest.fixture(scope="module")
def mariadb(tmp_path_factory):
    if not shutil.which("mariadbd") and not os.path.exists("/usr/sbin/mariadbd"):
        pytest.skip("mariadbd is not installed (testbed/deps.sh installs it)")
    from testbed.mariadb import MariaDB

    db = MariaDB(tmp_path_factory.mktemp("mariadb"), tls=True).start()
    db.create_database("tls_db", "tls_user", "pw1", require_ssl=True)
    db.create_database("plain_db", "plain_user", "pw2")
    yield db
    db.stop()


def _params(db, user, password, database, ca=None, create=True):
    return {"host": "mariadb.db.svc.cluster.local", "address": "127.0.0.1", "port": db.port, "user": user,
            "password": password, "database": database, "ca": ca, "verify": True, "create": create}


def test_schema_models_and_errors_against_a_real_server(mariadb):
    plain = _params(mariadb, "plain_user", "pw2", "plain_db")
    M.ensure_schema(plain)
    M.ensure_schema(plain)  # idempotent
    assert M.register_model(plain, {"name": "m1", "description": "first"})[0] == 201
    assert M.register_model(plain, {"name": "m1"})[0] == 409
    assert M.register_model(plain, {})[0] == 400
    models = M.list_models(plain)
    assert [(m["name"], m.get("description"), m["state"]) for m in models] == [("m1", "first", "LIVE")]
    # the database's own errors, naming the CR's host rather than the mapped address
    with pytest.raises(M.DBError, match=r"\(1045, \"Access denied for user 'plain_user'"):
        M.ensure_schema(_params(mariadb, "plain_user", "wrong", "plain_db"))
    with pytest.raises(M.DBError, match="Access denied for user 'tls_user'"):  # REQUIRE SSL without a CA
        M.ensure_schema(_params(mariadb, "tls_user", "pw1", "tls_db"))
    M.ensure_schema(_params(mariadb, "tls_user", "pw1", "tls_db", ca=mariadb.ca_pem))
    from testbed.mariadb import _ca_and_server

    other_ca = _ca_and_server(["x"])[0]
    with pytest.raises(M.DBError, match="CERTIFICATE_VERIFY_FAILED") as err:
        M.ensure_schema(_params(mariadb, "tls_user", "pw1", "tls_db", ca=other_ca))
    assert "mariadb.db.svc.cluster.local" in str(err.value)
    tables = {r[0] for r in mariadb.query("SHOW TABLES", database="tls_db")}
    assert {"MLMDEnv", "Type", "Context", "ContextProperty"} <= tables
