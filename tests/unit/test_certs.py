"""Unit tests for plugins/module_utils/_x509.py (generation, validation) and _certs.py (regeneration
verdict, and the Secret orchestration against an in-memory fake of the dynamic client)."""

import base64
import datetime
import json
import os
import sys

import pytest

_COLL = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), ".collections")
if _COLL not in sys.path:
    sys.path.insert(0, _COLL)

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._rest import ApiException  # noqa: E402

from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _certs as certs  # noqa: E402
from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _x509 as xc  # noqa: E402
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import InvalidInput  # noqa: E402

DOMAIN = "apps.test.example.com"
NOW = datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.timezone.utc)
PEM = serialization.Encoding.PEM


def _pem_key(key):
    return key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


@pytest.fixture(scope="module")
def generated():
    return xc.generate(DOMAIN, valid_days=365, now=NOW)


def _fast_key():
    return ec.generate_private_key(ec.SECP256R1())


def _ca(name="Test Root", now=NOW, days=3650):
    key = _fast_key()
    subj = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subj)
        .issuer_name(subj)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(ca, ca_key, sans, cn="example", now=NOW, days=365, start_days=-1):
    key = _fast_key()
    b = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + datetime.timedelta(days=start_days))
        .not_valid_after(now + datetime.timedelta(days=days))
    )
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False)
    return b.sign(ca_key, hashes.SHA256()), key


# ---------------------------------------------------------------------------------------------
# Domain validation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,expected",
    [
        ("apps.test.example.com", "apps.test.example.com"),
        ("Apps.Test.Example.COM.", "apps.test.example.com"),
        (" apps.x-y.example.com ", "apps.x-y.example.com"),
        ("apps.bücher.example", "apps.xn--bcher-kva.example"),
    ],
)
def test_normalize_domain_accepts(value, expected):
    assert xc.normalize_domain(value) == expected


@pytest.mark.parametrize(
    "value",
    ["", "   ", "com", "*.apps.example.com", "https://apps.example.com", "apps.example.com:443", "apps..example.com",
     "-bad.example.com", "bad-.example.com", "under_score.example.com", "a" * 64 + ".example.com", None],
)
def test_normalize_domain_refuses_and_names_the_variable(value):
    with pytest.raises(InvalidInput) as e:
        xc.normalize_domain(value, "wildcard_certificate_domain")
    assert "wildcard_certificate_domain" in e.value.msg
    assert e.value.details["param"] == "wildcard_certificate_domain"


# ---------------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------------


def test_generated_leaf_has_wildcard_and_base_in_san(generated):
    assert xc.dns_names(generated.cert) == ["*." + DOMAIN, DOMAIN]
    assert xc.covers_domain(xc.dns_names(generated.cert), DOMAIN)
    assert xc.key_matches(generated.cert, generated.key)
    bc = generated.cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca is False
    eku = generated.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku
    assert generated.cert.signature_hash_algorithm.name == "sha256"


def test_generated_ca_is_a_ca_and_signs_the_leaf(generated):
    ca = generated.ca
    assert ca.subject == ca.issuer
    bc = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca is True
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert generated.cert.issuer == ca.subject
    generated.cert.verify_directly_issued_by(ca)
    path = xc.verify_chain(generated.cert, [], [ca], now=NOW)
    assert path == [generated.cert, ca]
    # AKI of the leaf points at the CA's SKI
    aki = generated.cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert aki == ski


def test_generated_cert_passes_a_strict_tls_server_verifier(generated):
    """cryptography's RFC 5280 / CABF-style path builder accepts the chain for a host under the domain
    and for the base domain, and rejects a host one level deeper (a wildcard matches one label)."""
    verification = pytest.importorskip("cryptography.x509.verification")
    store = verification.Store([generated.ca])
    at = NOW + datetime.timedelta(days=1)
    for host in ("model-ns.%s" % DOMAIN, DOMAIN):
        verifier = verification.PolicyBuilder().store(store).time(at).build_server_verifier(x509.DNSName(host))
        chain = verifier.verify(generated.cert, [])
        assert chain[-1] == generated.ca
    verifier = verification.PolicyBuilder().store(store).time(at).build_server_verifier(x509.DNSName("a.b." + DOMAIN))
    with pytest.raises(verification.VerificationError):
        verifier.verify(generated.cert, [])


def test_generated_validity_and_key_types():
    m = xc.generate("apps.k.example.com", valid_days=10, key_type="ecdsa-p256", now=NOW)
    assert xc.not_after(m.cert) == NOW + datetime.timedelta(days=10)
    assert xc.key_type_of(m.key) == "ecdsa-secp256r1"
    assert xc.not_after(m.ca) >= xc.not_after(m.cert)
    with pytest.raises(InvalidInput):
        xc.generate("apps.k.example.com", valid_days=0, now=NOW)


def test_long_domain_keeps_full_san_and_short_cn():
    domain = ".".join(["abcdefghij"] * 8) + ".example.com"
    m = xc.generate(domain, valid_days=5, key_type="ecdsa-p256", now=NOW)
    assert xc.dns_names(m.cert) == ["*." + domain, domain]
    assert len(m.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value) <= 64


def test_secret_data_and_summary_keep_the_key_out_of_public_views(generated):
    data = generated.secret_data()
    assert set(data) == {"tls.crt", "tls.key", "ca.crt"}
    assert b"PRIVATE KEY" in data["tls.key"]
    public = json.dumps([generated.summary(), certs.secret_annotations(generated, DOMAIN), generated.ca_pem()])
    assert "PRIVATE KEY" not in public
    assert certs.secret_annotations(generated, DOMAIN)[certs.ANN_FINGERPRINT] == xc.fingerprint(generated.cert)


# ---------------------------------------------------------------------------------------------
# Provided material
# ---------------------------------------------------------------------------------------------


def test_provided_good_cert_with_ca_is_accepted():
    ca, ca_key = _ca()
    leaf, key = _leaf(ca, ca_key, ["*." + DOMAIN])
    m = xc.validate_provided(leaf.public_bytes(PEM), _pem_key(key), DOMAIN, ca_pem=ca.public_bytes(PEM), now=NOW)
    assert m.source == "provided" and m.ca == ca and m.chain == []


def test_provided_san_not_covering_domain_is_refused_naming_the_parameter():
    ca, ca_key = _ca()
    leaf, key = _leaf(ca, ca_key, ["*.apps.other.example.com"])
    with pytest.raises(InvalidInput) as e:
        xc.validate_provided(
            leaf.public_bytes(PEM), _pem_key(key), DOMAIN, ca_pem=ca.public_bytes(PEM), now=NOW,
            names={"certificate": "certificate_path", "private_key": "private_key_path", "ca": "ca_path"},
        )
    assert "certificate_path" in e.value.msg
    assert "*." + DOMAIN in e.value.msg
    assert "does not cover" in e.value.msg
    assert "PRIVATE KEY" not in e.value.msg


def test_provided_cn_only_cert_is_refused():
    ca, ca_key = _ca()
    leaf, key = _leaf(ca, ca_key, [], cn="*." + DOMAIN)
    with pytest.raises(InvalidInput) as e:
        xc.validate_provided(leaf.public_bytes(PEM), _pem_key(key), DOMAIN, now=NOW)
    assert "no SAN" in e.value.msg


def test_provided_parent_wildcard_does_not_cover_subdomain():
    ca, ca_key = _ca()
    leaf, key = _leaf(ca, ca_key, ["*.example.com"])
    with pytest.raises(InvalidInput):
        xc.validate_provided(leaf.public_bytes(PEM), _pem_key(key), DOMAIN, now=NOW)


def test_provided_key_mismatch_is_refused():
    ca, ca_key = _ca()
    leaf, _key = _leaf(ca, ca_key, ["*." + DOMAIN])
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(InvalidInput) as e:
        xc.validate_provided(leaf.public_bytes(PEM), _pem_key(other), DOMAIN, now=NOW,
                             names={"private_key": "private_key_path", "certificate": "certificate_path"})
    assert "private_key_path" in e.value.msg and "does not belong" in e.value.msg


def test_provided_expired_and_not_yet_valid_are_refused():
    ca, ca_key = _ca()
    leaf, key = _leaf(ca, ca_key, ["*." + DOMAIN], days=-1, start_days=-10)
    with pytest.raises(InvalidInput) as e:
        xc.validate_provided(leaf.public_bytes(PEM), _pem_key(key), DOMAIN, now=NOW)
    assert "expired" in e.value.msg
    leaf, key = _leaf(ca, ca_key, ["*." + DOMAIN], days=30, start_days=2)
    with pytest.raises(InvalidInput) as e:
        xc.validate_provided(leaf.public_bytes(PEM), _pem_key(key), DOMAIN, now=NOW)
    assert "not valid before" in e.value.msg


def test_provided_chain_must_verify_against_given_ca():
    ca, ca_key = _ca("Real Root")
    other_ca = _ca("Real Root")[0]  # same name, different key: only the signature tells them apart
    leaf, key = _leaf(ca, ca_key, ["*." + DOMAIN])
    with pytest.raises(InvalidInput) as e:
        xc.validate_provided(leaf.public_bytes(PEM), _pem_key(key), DOMAIN, ca_pem=other_ca.public_bytes(PEM), now=NOW,
                             names={"ca": "ca_path"})
    assert "ca_path" in e.value.msg and "does not verify" in e.value.msg


def test_provided_chain_through_intermediate():
    root, root_key = _ca("Root")
    inter_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    inter = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Intermediate")]))
        .issuer_name(root.subject)
        .public_key(inter_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=100))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    leaf, key = _leaf(inter, inter_key, ["*." + DOMAIN])
    bundle = leaf.public_bytes(PEM) + inter.public_bytes(PEM)
    m = xc.validate_provided(bundle, _pem_key(key), DOMAIN, ca_pem=root.public_bytes(PEM), now=NOW)
    assert m.chain == [inter]
    assert m.secret_data()["tls.crt"] == bundle
    # without the intermediate the chain does not verify
    with pytest.raises(InvalidInput):
        xc.validate_provided(leaf.public_bytes(PEM), _pem_key(key), DOMAIN, ca_pem=root.public_bytes(PEM), now=NOW)


def test_provided_garbage_names_the_parameter_without_echoing_content():
    with pytest.raises(InvalidInput) as e:
        xc.validate_provided(b"not a cert", b"-----BEGIN PRIVATE KEY-----\nsecretstuff\n-----END PRIVATE KEY-----\n", DOMAIN,
                             names={"certificate": "certificate"})
    assert "certificate" in e.value.msg
    ca, ca_key = _ca()
    leaf = _leaf(ca, ca_key, ["*." + DOMAIN])[0]
    with pytest.raises(InvalidInput) as e:
        xc.validate_provided(leaf.public_bytes(PEM), b"-----BEGIN PRIVATE KEY-----\nsecretstuff\n-----END PRIVATE KEY-----\n", DOMAIN,
                             names={"private_key": "private_key"})
    assert "secretstuff" not in e.value.msg and "private_key" in e.value.msg


def test_provided_encrypted_key_with_passphrase():
    ca, ca_key = _ca()
    leaf, key = _leaf(ca, ca_key, ["*." + DOMAIN])
    enc = key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw"))
    m = xc.validate_provided(leaf.public_bytes(PEM), enc, DOMAIN, passphrase="pw", now=NOW)
    assert xc.key_matches(m.cert, m.key)
    with pytest.raises(InvalidInput) as e:
        xc.validate_provided(leaf.public_bytes(PEM), enc, DOMAIN, now=NOW)
    assert "passphrase" in e.value.msg


# ---------------------------------------------------------------------------------------------
# Regeneration verdict
# ---------------------------------------------------------------------------------------------


def _existing(material, **override):
    data = material.secret_data()
    data.update(override)
    return certs.Existing(certs.TLS_TYPE, data, {})


def test_verdict_keep_when_everything_matches(generated):
    assert certs.regeneration_reasons(_existing(generated), DOMAIN, 30, now=NOW) == []


def test_verdict_missing():
    reasons = certs.regeneration_reasons(certs.Existing(exists=False), DOMAIN, 30, now=NOW, where="Secret x/y")
    assert reasons == ["Secret x/y does not exist"]


def test_verdict_unreadable_or_empty(generated):
    assert certs.regeneration_reasons(_existing(generated, **{"tls.crt": b"garbage"}), DOMAIN, 30, now=NOW)
    assert certs.regeneration_reasons(certs.Existing(certs.TLS_TYPE, {}, {}), DOMAIN, 30, now=NOW)
    assert any("type Opaque" in r for r in certs.regeneration_reasons(
        certs.Existing("Opaque", generated.secret_data(), {}), DOMAIN, 30, now=NOW))


def test_verdict_key_mismatch(generated):
    other = xc.generate(DOMAIN, valid_days=365, now=NOW)
    reasons = certs.regeneration_reasons(_existing(generated, **{"tls.key": other.secret_data()["tls.key"]}), DOMAIN, 30, now=NOW)
    assert len(reasons) == 1 and "does not match" in reasons[0]


def test_verdict_domain_change(generated):
    reasons = certs.regeneration_reasons(_existing(generated), "apps.other.example.com", 30, now=NOW)
    assert len(reasons) == 1 and "domain changed" in reasons[0]
    # a parent or child domain is a different domain too
    assert certs.regeneration_reasons(_existing(generated), "test.example.com", 30, now=NOW)
    assert certs.regeneration_reasons(_existing(generated), "x." + DOMAIN, 30, now=NOW)


def test_verdict_renew_before(generated):
    # 365 days valid: 340 days later it is within 30 days
    assert certs.regeneration_reasons(_existing(generated), DOMAIN, 30, now=NOW + datetime.timedelta(days=334)) == []
    reasons = certs.regeneration_reasons(_existing(generated), DOMAIN, 30, now=NOW + datetime.timedelta(days=340))
    assert len(reasons) == 1 and "renew_before=30" in reasons[0]
    reasons = certs.regeneration_reasons(_existing(generated), DOMAIN, 30, now=NOW + datetime.timedelta(days=400))
    assert "expired" in reasons[0]


def test_replacement_reasons_for_provided(generated):
    same = xc.Material(generated.cert, generated.key, ca=generated.ca, source="provided")
    assert certs.replacement_reasons(_existing(generated), same) == []
    other = xc.generate(DOMAIN, valid_days=365, now=NOW)
    reasons = certs.replacement_reasons(_existing(generated), other)
    assert any("different certificate" in r for r in reasons)
    assert any("different private key" in r for r in reasons)


# ---------------------------------------------------------------------------------------------
# Orchestration with a fake core API
# ---------------------------------------------------------------------------------------------


class FakeCore(object):
    """In-memory Secrets, the store behind the fake Secret resource."""

    def __init__(self):
        self.secrets = {}
        self.writes = []

    def read(self, name, namespace):
        s = self.secrets.get((namespace, name))
        return json.loads(json.dumps(s)) if s is not None else None

    def create(self, namespace, body):
        if namespace == "missing-ns":  # what the API server answers
            e = ApiException(status=404, reason="Not Found")
            e.body = json.dumps({"kind": "Status", "reason": "NotFound", "code": 404,
                                 "details": {"name": "missing-ns", "kind": "namespaces"}})
            raise e
        self.writes.append(("create", namespace, body["metadata"]["name"]))
        self.secrets[(namespace, body["metadata"]["name"])] = json.loads(json.dumps(body))

    def patch(self, name, namespace, body):
        self.writes.append(("patch", namespace, name))
        s = self.secrets[(namespace, name)]
        for k, v in (body.get("metadata") or {}).items():
            s["metadata"].setdefault(k, {}).update(v)
        for k, v in (body.get("data") or {}).items():
            if v is None:
                s["data"].pop(k, None)
            else:
                s["data"][k] = v

    def delete(self, name, namespace):
        self.writes.append(("delete", namespace, name))
        del self.secrets[(namespace, name)]


class _SecretResource(object):
    """The dynamic client's Secret resource, over FakeCore (looked up per call, so a test can swap
    one of FakeCore's methods)."""

    namespaced = True

    def __init__(self, client):
        self.client = client

    def get(self, name, namespace=None):
        obj = self.client.core.read(name, namespace)
        if obj is None:
            raise ApiException(status=404, reason="Not Found")
        return obj

    def create(self, body, namespace=None, **_kw):
        return self.client.core.create(namespace, body)

    def patch(self, body, name, namespace=None, **_kw):
        body = json.loads(json.dumps(body))
        (body.get("metadata") or {}).pop("resourceVersion", None)
        return self.client.core.patch(name, namespace, body)

    def delete(self, name, namespace=None):
        return self.client.core.delete(name, namespace)


class FakeClient(object):
    """Stands in for _client.Client: ``resource()`` hands out fake dynamic resources."""

    def __init__(self, domain=DOMAIN):
        self.core = FakeCore()
        self._domain = domain

    def resource(self, api_version, kind):
        if (api_version, kind) == ("v1", "Secret"):
            return _SecretResource(self)
        assert (api_version, kind) == ("config.openshift.io/v1", "Ingress")
        domain = self._domain

        class _Res(object):
            namespaced = False

            def get(self, name, namespace=None):
                return {"spec": {"domain": domain}}

        return _Res()


def _params(**kw):
    p = dict(domain=DOMAIN, secret_name="wildcard-certs", secret_namespace="istio-system", renew_before=30, valid_days=365,
             key_type="ecdsa-p256", force=False)
    p.update(kw)
    return p


def _assert_no_key_material(result):
    text = json.dumps(result)
    assert "PRIVATE KEY" not in text
    assert "tls.key" not in text


def test_ensure_generates_then_keeps_without_writing():
    client = FakeClient()
    r1 = certs.ensure_certificate(client, _params(), now=NOW)
    assert r1["changed"] and r1["action"] == "generated"
    assert r1["reasons"] == ["Secret istio-system/wildcard-certs does not exist"]
    assert r1["dns_names"] == ["*." + DOMAIN, DOMAIN]
    _assert_no_key_material(r1)
    stored = client.core.secrets[("istio-system", "wildcard-certs")]
    assert stored["type"] == "kubernetes.io/tls"
    assert set(stored["data"]) == {"tls.crt", "tls.key", "ca.crt"}
    assert stored["metadata"]["annotations"][certs.ANN_FINGERPRINT] == r1["fingerprint"]
    assert stored["metadata"]["annotations"][certs.ANN_DOMAIN] == DOMAIN
    assert r1["diff"]["before"] == {} and r1["diff"]["after"]["fingerprint"] == r1["fingerprint"]

    writes = len(client.core.writes)
    r2 = certs.ensure_certificate(client, _params(), now=NOW + datetime.timedelta(days=1))
    assert r2["changed"] is False and r2["action"] == "kept" and r2["reasons"] == []
    assert r2["fingerprint"] == r1["fingerprint"]
    assert len(client.core.writes) == writes
    assert r2["diff"]["before"] == r2["diff"]["after"]


def test_ensure_domain_change_regenerates():
    client = FakeClient()
    r1 = certs.ensure_certificate(client, _params(), now=NOW)
    r2 = certs.ensure_certificate(client, _params(domain="apps.new.example.com"), now=NOW)
    assert r2["changed"] and r2["action"] == "regenerated"
    assert "domain changed" in r2["reasons"][0]
    assert r2["fingerprint"] != r1["fingerprint"]
    assert r2["dns_names"] == ["*.apps.new.example.com", "apps.new.example.com"]
    assert r2["diff"]["before"]["dns_names"] == ["*." + DOMAIN, DOMAIN]
    _assert_no_key_material(r2)


def test_ensure_domain_defaults_to_cluster_ingress():
    client = FakeClient(domain="apps.cluster.example.org")
    r = certs.ensure_certificate(client, _params(domain=None), now=NOW)
    assert r["domain"] == "apps.cluster.example.org"


def test_ensure_check_mode_writes_nothing():
    client = FakeClient()
    r = certs.ensure_certificate(client, _params(), check_mode=True, now=NOW)
    assert r["changed"] and r["action"] == "generated"
    assert client.core.writes == [] and client.core.secrets == {}
    assert r["diff"]["after"]["dns_names"] == ["*." + DOMAIN, DOMAIN]
    certs.ensure_certificate(client, _params(), now=NOW)
    writes = list(client.core.writes)
    r = certs.ensure_certificate(client, _params(domain="apps.new.example.com"), check_mode=True, now=NOW)
    assert r["changed"] and r["action"] == "regenerated"
    assert client.core.writes == writes


def test_ensure_renews_within_renew_before():
    client = FakeClient()
    r1 = certs.ensure_certificate(client, _params(valid_days=40), now=NOW)
    r2 = certs.ensure_certificate(client, _params(valid_days=40), now=NOW + datetime.timedelta(days=11))
    assert r2["action"] == "regenerated" and "renew_before" in r2["reasons"][0]
    assert r2["fingerprint"] != r1["fingerprint"]


def test_ensure_restores_annotations_without_regenerating():
    client = FakeClient()
    r1 = certs.ensure_certificate(client, _params(), now=NOW)
    client.core.secrets[("istio-system", "wildcard-certs")]["metadata"]["annotations"] = {}
    r2 = certs.ensure_certificate(client, _params(), now=NOW)
    assert r2["changed"] and r2["action"] == "kept" and r2["fingerprint"] == r1["fingerprint"]
    assert "annotations" in r2["reasons"][0]
    assert client.core.writes[-1][0] == "patch"


def test_ensure_provided_refused_before_any_write(tmp_path):
    ca, ca_key = _ca()
    leaf, key = _leaf(ca, ca_key, ["*.apps.elsewhere.example.com"])
    crt = tmp_path / "c.crt"
    crt.write_bytes(leaf.public_bytes(PEM))
    keyf = tmp_path / "c.key"
    keyf.write_bytes(_pem_key(key))
    os.chmod(str(keyf), 0o600)
    client = FakeClient()
    with pytest.raises(InvalidInput) as e:
        certs.ensure_certificate(client, _params(certificate_path=str(crt), private_key_path=str(keyf)), now=NOW)
    assert "certificate_path" in e.value.msg and "does not cover" in e.value.msg
    assert client.core.writes == []


def test_ensure_provided_written_then_kept(tmp_path):
    ca, ca_key = _ca()
    leaf, key = _leaf(ca, ca_key, ["*." + DOMAIN, DOMAIN])
    client = FakeClient()
    p = _params(certificate=leaf.public_bytes(PEM).decode(), private_key=_pem_key(key).decode(),
                ca_certificate=ca.public_bytes(PEM).decode())
    r1 = certs.ensure_certificate(client, p, now=NOW)
    assert r1["action"] == "provided" and r1["changed"]
    _assert_no_key_material(r1)
    stored = client.core.secrets[("istio-system", "wildcard-certs")]
    assert base64.b64decode(stored["data"]["tls.key"]) == _pem_key(key)
    assert stored["metadata"]["annotations"][certs.ANN_SOURCE] == "provided"
    r2 = certs.ensure_certificate(client, p, now=NOW)
    assert r2["action"] == "kept" and r2["changed"] is False


def test_ensure_provided_from_existing_secret():
    client = FakeClient()
    certs.ensure_certificate(client, _params(secret_name="knative-serving-cert"), now=NOW)
    r = certs.ensure_certificate(client, _params(existing_secret={"name": "knative-serving-cert", "namespace": None}), now=NOW)
    assert r["action"] == "provided"
    src = client.core.secrets[("istio-system", "knative-serving-cert")]["data"]
    dst = client.core.secrets[("istio-system", "wildcard-certs")]["data"]
    assert src["tls.crt"] == dst["tls.crt"] and src["tls.key"] == dst["tls.key"]
    with pytest.raises(InvalidInput) as e:
        certs.ensure_certificate(client, _params(existing_secret={"name": "nope", "namespace": None}), now=NOW)
    assert "existing_secret" in e.value.msg


def test_ensure_replaces_secret_of_wrong_type():
    client = FakeClient()
    client.core.secrets[("istio-system", "wildcard-certs")] = {"type": "Opaque", "metadata": {"name": "wildcard-certs"}, "data": {}}
    r = certs.ensure_certificate(client, _params(), now=NOW)
    assert r["action"] == "regenerated"
    assert client.core.secrets[("istio-system", "wildcard-certs")]["type"] == "kubernetes.io/tls"


def test_ensure_input_errors():
    client = FakeClient()
    with pytest.raises(InvalidInput) as e:
        certs.ensure_certificate(client, _params(domain="*.apps.example.com"), now=NOW)
    assert "domain" in e.value.msg
    with pytest.raises(InvalidInput) as e:
        certs.ensure_certificate(client, _params(valid_days=10, renew_before=30), now=NOW)
    assert "valid_days" in e.value.msg
    with pytest.raises(InvalidInput) as e:
        certs.ensure_certificate(client, _params(certificate="x"), now=NOW)
    assert "private key" in e.value.msg
    with pytest.raises(Exception) as e:
        certs.ensure_certificate(client, _params(secret_namespace="missing-ns"), now=NOW)
    assert "missing-ns does not exist" in str(e.value)


def test_module_marks_key_inputs_no_log():
    from ansible_collections.openshift_ai.model_serving.plugins.modules import wildcard_certificate as mod

    spec = mod.argument_spec()
    assert spec["private_key"]["no_log"] is True
    assert spec["private_key_passphrase"]["no_log"] is True
    assert spec["api_key"]["no_log"] is True


def test_host_coverage_for_a_custom_domain():
    assert xc.covers_host(["llm.models.example.org"], "llm.models.example.org")
    assert xc.covers_host(["*.models.example.org"], "llm.models.example.org")
    assert not xc.covers_host(["*.example.org"], "llm.models.example.org")
    assert not xc.covers_host(["other.models.example.org"], "llm.models.example.org")


def test_renewal_keeps_the_ca_and_its_key_stays_out_of_results():
    client = FakeClient()
    r1 = certs.ensure_certificate(client, _params(valid_days=40), now=NOW)
    ca_secret = client.core.secrets[("istio-system", "wildcard-certs-ca")]
    assert ca_secret["type"] == "Opaque" and set(ca_secret["data"]) == {"ca.crt", "ca.key"}
    r2 = certs.ensure_certificate(client, _params(valid_days=40), now=NOW + datetime.timedelta(days=11))
    assert r2["action"] == "regenerated" and r2["fingerprint"] != r1["fingerprint"]
    assert r2["ca_certificate"] == r1["ca_certificate"] and r2["ca_rotated"] is False
    _assert_no_key_material(r2)
    leaf = x509.load_pem_x509_certificate(base64.b64decode(client.core.secrets[("istio-system", "wildcard-certs")]["data"]["tls.crt"]))
    ca = x509.load_pem_x509_certificate(r1["ca_certificate"].encode())
    leaf.verify_directly_issued_by(ca)
    # the CA is limited to the domain
    nc = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert nc.critical and [n.value for n in nc.value.permitted_subtrees] == [DOMAIN]


def test_a_domain_change_or_keep_ca_false_makes_a_new_ca():
    client = FakeClient()
    r1 = certs.ensure_certificate(client, _params(), now=NOW)
    r2 = certs.ensure_certificate(client, _params(domain="apps.other.example.com"), now=NOW)
    assert r2["ca_rotated"] is True and r2["ca_certificate"] != r1["ca_certificate"]
    assert any("new CA" in w for w in r2.get("warnings", []))
    r3 = certs.ensure_certificate(client, _params(domain="apps.other.example.com", force=True, keep_ca=False,
                                                  ca_secret_name="unused"), now=NOW)
    assert r3["ca_rotated"] is True and ("istio-system", "unused") not in client.core.secrets


def test_a_provided_certificate_is_never_replaced_by_a_generated_one_unasked(tmp_path):
    ca, ca_key = _ca()
    leaf, key = _leaf(ca, ca_key, ["*." + DOMAIN, DOMAIN], days=20)
    client = FakeClient()
    provided = _params(certificate=leaf.public_bytes(PEM).decode(), private_key=_pem_key(key).decode())
    certs.ensure_certificate(client, provided, now=NOW)
    writes = list(client.core.writes)
    # a later run without the provided variables: the certificate expires within renew_before
    with pytest.raises(InvalidInput) as e:
        certs.ensure_certificate(client, _params(), now=NOW)
    assert e.value.details["param"] == "replace_provided" and "did not generate" in e.value.msg and "renew_before" in e.value.msg
    assert client.core.writes == writes
    r = certs.ensure_certificate(client, _params(replace_provided=True), now=NOW)
    assert r["action"] == "regenerated"


def test_a_hand_made_certificate_in_an_opaque_secret_is_kept_unless_asked():
    ca, ca_key = _ca()
    leaf, key = _leaf(ca, ca_key, ["*." + DOMAIN, DOMAIN])
    client = FakeClient()
    client.core.secrets[("istio-system", "wildcard-certs")] = {
        "type": "Opaque", "metadata": {"name": "wildcard-certs"},
        "data": {"tls.crt": base64.b64encode(leaf.public_bytes(PEM)).decode(), "tls.key": base64.b64encode(_pem_key(key)).decode()}}
    with pytest.raises(InvalidInput) as e:
        certs.ensure_certificate(client, _params(), now=NOW)
    assert "made outside this collection" in e.value.msg and "type Opaque" in e.value.msg


def test_type_change_puts_the_old_secret_back_when_the_new_one_is_refused():
    client = FakeClient()
    old = {"type": "Opaque", "metadata": {"name": "wildcard-certs", "labels": {"keep": "me"}}, "data": {"x": "eA=="}}
    client.core.secrets[("istio-system", "wildcard-certs")] = json.loads(json.dumps(old))
    real_create = client.core.create

    def refuse_tls(namespace, body):
        if body.get("type") == "kubernetes.io/tls":
            raise ApiException(status=422, reason="Unprocessable Entity")
        return real_create(namespace, body)

    client.core.create = refuse_tls
    with pytest.raises(Exception) as e:
        certs.ensure_certificate(client, _params(), now=NOW)
    assert "put back" in str(e.value)
    back = client.core.secrets[("istio-system", "wildcard-certs")]
    assert back["type"] == "Opaque" and back["data"] == {"x": "eA=="} and back["metadata"]["labels"] == {"keep": "me"}


def test_leaf_validity_defaults_to_397_days_and_zero_is_refused():
    client = FakeClient()
    p = _params()
    del p["valid_days"]
    r = certs.ensure_certificate(client, p, now=NOW)
    assert r["not_after"] == xc.iso(NOW + datetime.timedelta(days=397))
    with pytest.raises(InvalidInput) as e:
        certs.ensure_certificate(FakeClient(), _params(valid_days=0), now=NOW)
    assert e.value.details["param"] == "valid_days"
