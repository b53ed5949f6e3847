"""Model registries (seed 004): input checks, host rule, CA choices, API version, refusals and the plan."""

import pytest

from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _registry as R

NS = "rhoai-model-registries"
CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def reg(**kw):
    out = {"name": "demo", "database": {"host": "mysql", "port": 3306, "database": "db", "username": "u",
                                        "password": "p"}}
    out.update(kw)
    return out


def test_valid_registry_has_no_errors():
    assert R.validate([reg()], NS) == []


@pytest.mark.parametrize("name", ["Demo", "demo_1", "-demo", "demo-", "dé", "a.b"])
def test_names_against_the_seed_rules_are_refused_naming_the_variable(name):
    errors = R.validate([reg(name=name)], NS)
    assert len(errors) == 1
    assert errors[0].startswith("model_registry_registries[0] (%s)" % name)
    assert "not a valid resource name" in errors[0] and "set resource_name" in errors[0]


def test_resource_name_overrides_the_name_and_is_limited_to_253():
    assert R.validate([reg(name="Team A", resource_name="team-a")], NS) == []
    assert R.validate([reg(resource_name="a" * 253)], NS) == []
    errors = R.validate([reg(resource_name="a" * 254)], NS)
    assert "longer than 253 characters" in errors[0]


def test_duplicate_resource_names_are_refused():
    errors = R.validate([reg(), reg(display_name="other")], NS)
    assert any("also used by model_registry_registries[0]" in e for e in errors)


def test_database_fields_are_required_for_present_only():
    errors = R.validate([{"name": "demo"}], NS)
    assert "database (host, port, database, username, password) is required" in errors[0]
    assert R.validate([{"name": "demo", "state": "absent"}], NS) == []
    errors = R.validate([reg(database={"host": "h"})], NS)
    assert {"database.database is required", "database.username is required"} <= set(
        e.split(": ", 1)[1] for e in errors)
    assert any("database.password" in e for e in errors)
    assert R.validate([reg(database={"host": "h", "database": "d", "username": "u", "password_secret": "s"})],
                      NS) == []
    errors = R.validate([reg(database={"host": "h", "database": "d", "username": "u", "password": "p",
                                       "port": 70000})], NS)
    assert "database.port must be a port number" in errors[0]


def test_permissions_only_needs_no_database():
    assert R.validate([{"name": "demo", "permissions": {"users": ["alice"]}}], NS, permissions_only=True) == []


def test_host_rule():
    assert R.db_host({"host": "mysql"}, NS) == "mysql"
    assert R.db_host({"host": "mysql", "namespace": NS}, NS) == "mysql"
    assert R.db_host({"host": "mysql", "namespace": "db"}, NS) == "mysql.db.svc.cluster.local"
    assert R.db_host({"host": "db.example.com"}, NS) == "db.example.com"
    errors = R.validate([reg(database={"host": "mysql.db", "namespace": "db", "database": "d", "username": "u",
                                       "password": "p"})], NS)
    assert "must be the bare service name" in errors[0]


@pytest.mark.parametrize("ca,fields", [
    ({"source": "cluster"}, {"sslRootCertificateConfigMap": {"name": "odh-trusted-ca-bundle", "key": "ca-bundle.crt"}}),
    ({"source": "openshift_ai"},
     {"sslRootCertificateConfigMap": {"name": "odh-trusted-ca-bundle", "key": "odh-ca-bundle.crt"}}),
    ({"source": "configmap", "name": "my-ca", "key": "ca.pem"},
     {"sslRootCertificateConfigMap": {"name": "my-ca", "key": "ca.pem"}}),
    ({"source": "secret", "name": "my-ca", "key": "ca.pem"},
     {"sslRootCertificateSecret": {"name": "my-ca", "key": "ca.pem"}}),
    ({"source": "pem", "pem": CA}, {"sslRootCertificateConfigMap": {"name": "demo-db-credential", "key": "ca.crt"}}),
    ({"source": "none"}, {}),
])
def test_ca_choices(ca, fields):
    r = reg(ca=ca)
    assert R.validate([r], NS) == []
    got = R.ca_fields(r)
    assert dict((k, v) for k, v in got.items() if v is not None) == fields
    assert set(got) == set(R.CA_FIELDS)  # the others are null: a changed choice removes the old field


@pytest.mark.parametrize("ca,text", [
    ({"source": "bundle"}, "ca.source must be one of"),
    ({"source": "configmap", "name": "x"}, "needs ca.name and ca.key"),
    ({"source": "pem", "pem": "not a pem"}, "must hold a PEM certificate"),
])
def test_bad_ca_choices(ca, text):
    errors = R.validate([reg(ca=ca)], NS)
    assert text in errors[0]


def test_grants_and_their_names():
    r = reg(permissions={"users": ["alice"], "groups": ["system:authenticated"], "projects": ["ds-project"]},
            revoke={"groups": ["old-group"]})
    g = R.grants(r)
    assert [(x["kind"], x["subject"]) for x in g["add"]] == [("group", "system:authenticated"),
                                                             ("project", "system:serviceaccounts:ds-project")]
    assert g["add"][1]["labels"]["opendatahub.io/rb-project-subject"] == "true"
    assert [x["subject"] for x in g["remove"]] == ["old-group"]
    name = g["add"][0]["name"]
    assert name.startswith("demo-group-system-authenticated-") and R.NAME_RE.match(name)
    assert R.rolebinding_name("demo", "group", "a:b") != R.rolebinding_name("demo", "group", "a-b")
    assert len(R.rolebinding_name("x" * 253, "project", "p" * 63)) <= 253
    errors = R.validate([reg(permissions={"users": ["a"]}, revoke={"users": ["a"]})], NS)
    assert "listed in both permissions.users and revoke.users" in errors[0]
    assert "projects: 'Bad_Project' is not a project name" in R.validate(
        [reg(permissions={"projects": ["Bad_Project"]})], NS)[0]


def test_api_version_from_the_served_versions():
    assert R.choose_api_version(["v1alpha1", "v1beta1"]) == "modelregistry.opendatahub.io/v1beta1"
    assert R.choose_api_version(["v1alpha1"]) == "modelregistry.opendatahub.io/v1alpha1"
    assert R.choose_api_version([]) is None
    beta = R.registry_patch(reg(), NS, "modelregistry.opendatahub.io/v1beta1")["spec"]
    assert beta["oauthProxy"] == {} and "istio" not in beta
    alpha = R.registry_patch(reg(), NS, "modelregistry.opendatahub.io/v1alpha1")["spec"]
    assert alpha["istio"] == {"gateway": {"grpc": {"tls": {}}, "rest": {"tls": {}}}}
    assert alpha["mysql"]["passwordSecret"] == {"name": "demo-db-credentials", "key": "database-password"}
    assert alpha["mysql"]["skipDBCreation"] is False and alpha["grpc"] == {} and alpha["rest"] == {}


def test_secret_patch_holds_no_values():
    patch = R.secret_patch(reg())
    assert "data" not in patch and "stringData" not in patch
    assert "p" not in str(patch.get("data", ""))


def _mr(name, ns=NS, display=None, managed=True):
    md = {"name": name, "namespace": ns, "annotations": {R.DISPLAY_NAME: display or name}}
    if managed:
        md["labels"] = {R.REGISTRY_LABEL: name}
    return {"metadata": md, "spec": {"mysql": {"host": "mysql", "port": 3306, "database": "db"}}}


DSC_MANAGED = {"spec": {"components": {"modelregistry": {"managementState": "Managed", "registriesNamespace": NS}}}}
DSCI_MESH = {"spec": {"serviceMesh": {"managementState": "Managed"}}}


def test_refusals():
    assert R.refusals([reg()], NS, [], DSC_MANAGED, DSCI_MESH, "2.19.1", True) == []
    # rename: the display name exists under another resource name
    out = R.refusals([reg(name="Demo", resource_name="demo-2")], NS, [_mr("demo", display="Demo")], DSC_MANAGED,
                     DSCI_MESH, "2.19.1", True)
    assert "resource name cannot be changed" in out[0] and "resource_name: demo" in out[0]
    # the same display name on a registry someone else made is no rename
    assert R.refusals([reg(name="Demo", resource_name="demo-2")], NS, [_mr("demo", display="Demo", managed=False)],
                      DSC_MANAGED, DSCI_MESH, "2.19.1", True) == []
    out = R.refusals([reg()], NS, [_mr("demo", ns="elsewhere")], DSC_MANAGED, DSCI_MESH, "2.19.1", True)
    assert "exists in namespace elsewhere" in out[0]
    other_ns = {"spec": {"components": {"modelregistry": {"managementState": "Managed", "registriesNamespace": "x"}}}}
    assert "cannot change while the component is Managed" in R.refusals([], NS, [], other_ns, DSCI_MESH, "", True)[0]
    no_mesh = {"spec": {"serviceMesh": {"managementState": "Removed"}}}
    assert "needs DSCInitialization serviceMesh Managed" in R.refusals([], NS, [], None, no_mesh, "2.19.1", True)[0]
    assert R.refusals([], NS, [], None, no_mesh, "2.22.1", True) == []
    assert "not Managed" in R.refusals([], NS, [], None, DSCI_MESH, "2.19.1", False)[0]
    assert "not installed" in R.refusals([], NS, [], None, None, "", True)[0]


def test_plan():
    cluster = {"api_version": "modelregistry.opendatahub.io/v1beta1", "existing": [_mr("old")]}
    out = R.plan([reg(ca={"source": "pem", "pem": CA}, permissions={"users": ["alice"]}),
                  {"name": "old", "state": "absent"}, {"name": "gone", "state": "absent"}], NS, cluster)
    p = out["present"][0]
    assert p["name"] == "demo" and p["group"] == "demo-users" and p["users_add"] == ["alice"]
    assert p["ca_configmap"]["name"] == "demo-db-credential" and p["ca_configmap"]["patch"]["data"]["ca.crt"] == CA
    assert p["registry_patch"]["metadata"]["annotations"][R.DISPLAY_NAME] == "demo"
    assert not p["exists"] and p["manage_secret"]
    absent = [(a["name"], a["exists"], a["database"]) for a in out["absent"]]
    assert absent == [("old", True, "db"), ("gone", False, None)]
