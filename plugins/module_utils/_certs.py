# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wildcard certificate logic: generation, validation and the regeneration verdict.

Pure functions over ``cryptography`` objects and Secret data (dict of key -> bytes). Nothing
here talks to the cluster, and nothing here ever puts private key material into a message,
an exception, a summary or a diff: the only things that leave this layer are fingerprints,
names and dates.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import datetime
import hashlib
import json
import re

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import (
    ApiError,
    InvalidInput,
    ResourceNotFound,
)

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError as e:  # pragma: no cover - exercised by sanity import tests
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = e

ANNOTATION_PREFIX = "model-serving.openshift-ai.io/"
ANN_FINGERPRINT = ANNOTATION_PREFIX + "certificate-sha256"
ANN_NOT_AFTER = ANNOTATION_PREFIX + "certificate-not-after"
ANN_DOMAIN = ANNOTATION_PREFIX + "certificate-domain"
ANN_SOURCE = ANNOTATION_PREFIX + "certificate-source"
MANAGED_BY_LABEL = ("app.kubernetes.io/managed-by", "openshift_ai.model_serving")

TLS_TYPE = "kubernetes.io/tls"
KEY_TYPES = ("rsa2048", "rsa4096", "ecdsa-p256")
CLOCK_SKEW = datetime.timedelta(minutes=5)
# Leaf certificates: at most 397 days (the CA/Browser Forum limit browsers and Apple platforms
# enforce); the CA lives longer so that renewals keep it.
DEFAULT_VALID_DAYS = 397
DEFAULT_CA_VALID_DAYS = 3650
ANN_CA_DOMAIN = "model-serving.openshift-ai.io/ca-domain"

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


# --------------------------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------------------------


def normalize_domain(domain, param="domain"):
    """Return the domain in canonical form (lowercase, A-labels, no trailing dot).

    Raises InvalidInput naming ``param`` when the value cannot be the base of a wildcard
    (e.g. it is empty, has a scheme, a wildcard, a port, a bad label, or a single label)."""
    if not isinstance(domain, str) or not domain.strip():
        raise InvalidInput("%s must be a DNS domain such as apps.cluster.example.com; got an empty value" % param, param=param)
    raw = domain.strip()
    value = raw.rstrip(".").lower()
    problem = None
    if "://" in value or "/" in value:
        problem = "it must be a bare domain without scheme or path"
    elif value.startswith("*"):
        problem = "give the base domain without the '*.' prefix; the wildcard is added by the module"
    elif ":" in value:
        problem = "it must not contain a port"
    else:
        try:
            value = value.encode("idna").decode("ascii")
        except UnicodeError:
            problem = "it is not a valid internationalised domain name"
    if problem is None:
        labels = value.split(".")
        if len(labels) < 2:
            problem = "it needs at least two labels (a wildcard directly under a top-level domain is not allowed)"
        elif len(value) > 251:  # room for the "*." prefix within 253
            problem = "it is longer than 251 characters"
        else:
            bad = [label for label in labels if not _LABEL.match(label)]
            if bad:
                problem = "label %r is not a valid DNS label (letters, digits and inner hyphens, 1-63 characters)" % bad[0]
    if problem:
        raise InvalidInput("%s=%r is not a valid domain: %s" % (param, raw, problem), param=param)
    return value


def _as_bytes(data):
    if data is None:
        return None
    if isinstance(data, bytes):
        return data
    return data.encode("utf-8")


def load_certificates(pem, param):
    """Parse one or more PEM certificates; raise InvalidInput naming ``param``."""
    data = _as_bytes(pem)
    if not data or b"-----BEGIN CERTIFICATE-----" not in data:
        raise InvalidInput("%s does not contain a PEM certificate" % param, param=param)
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as e:
        raise InvalidInput("%s could not be parsed as PEM certificates: %s" % (param, e), param=param)
    if not certs:
        raise InvalidInput("%s does not contain a PEM certificate" % param, param=param)
    return certs


def load_private_key(pem, param, passphrase=None):
    """Parse a PEM private key; the error never echoes the content."""
    data = _as_bytes(pem)
    if not data or b"PRIVATE KEY-----" not in data:
        raise InvalidInput("%s does not contain a PEM private key" % param, param=param)
    try:
        key = serialization.load_pem_private_key(data, password=_as_bytes(passphrase))
    except TypeError:
        raise InvalidInput(
            "%s is encrypted: set private_key_passphrase, or it is not encrypted and a passphrase was given" % param,
            param=param,
        )
    except ValueError:
        raise InvalidInput("%s could not be parsed as a private key (wrong format or passphrase)" % param, param=param)
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise InvalidInput("%s must be an RSA or ECDSA key" % param, param=param)
    return key


# --------------------------------------------------------------------------------------------
# Inspection
# --------------------------------------------------------------------------------------------


def not_after(cert):
    value = getattr(cert, "not_valid_after_utc", None)
    if value is None:  # cryptography < 42
        value = cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)
    return value


def not_before(cert):
    value = getattr(cert, "not_valid_before_utc", None)
    if value is None:  # cryptography < 42
        value = cert.not_valid_before.replace(tzinfo=datetime.timezone.utc)
    return value


def fingerprint(cert):
    """SHA-256 over the DER encoding, lowercase hex (also used as the Secret annotation)."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def dns_names(cert):
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return [name.lower().rstrip(".") for name in ext.value.get_values_for_type(x509.DNSName)]


def covers_domain(names, domain):
    """A certificate serves every host under ``domain`` only with the SAN ``*.<domain>``.

    A wildcard matches exactly one label, so ``*.example.com`` does not cover
    ``x.apps.example.com``; the CN is ignored, as TLS clients do."""
    return ("*." + domain) in set(names)


def covers_host(names, host):
    """A certificate serves one host name with the SAN ``<host>`` or the wildcard of its parent."""
    parent = host.split(".", 1)[1] if "." in host else None
    return host in set(names) or (parent is not None and ("*." + parent) in set(names))


def _spki(public_key):
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_matches(cert, key):
    return _spki(cert.public_key()) == _spki(key.public_key())


def key_type_of(key):
    if isinstance(key, rsa.RSAPrivateKey):
        return "rsa%d" % key.key_size
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "ecdsa-%s" % key.curve.name
    return type(key).__name__  # pragma: no cover


def _iso(value):
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def summary(cert):
    """Public facts about a certificate: the only form in which it appears in results and diffs."""
    if cert is None:
        return {}
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "dns_names": dns_names(cert),
        "not_before": _iso(not_before(cert)),
        "not_after": _iso(not_after(cert)),
        "fingerprint": fingerprint(cert),
        "serial": "%x" % cert.serial_number,
    }


def _is_ca(cert):
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        # X.509 v1 roots (old openssl defaults) carry no extensions; accept self-signed ones.
        return cert.issuer == cert.subject


def _issued_by(cert, issuer):
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, Exception):  # InvalidSignature is not a ValueError
        return False
    return True


def verify_chain(leaf, intermediates, roots, now=None, param="ca_path"):
    """Check that ``leaf`` chains, through ``intermediates``, to one of ``roots``.

    Checks names, signatures, CA flags and validity dates of every certificate on the path.
    Returns the list of certificates on the path (leaf first). Raises InvalidInput naming
    ``param`` when no path exists."""
    now = now or utcnow()
    path = [leaf]
    current = leaf
    pool = list(intermediates)
    for _depth in range(10):
        for root in roots:
            if _issued_by(current, root):
                if not _is_ca(root):
                    raise InvalidInput("the certificate given in %s is not a CA (basicConstraints CA is false)" % param, param=param)
                path.append(root)
                for cert in path:
                    if not (not_before(cert) - CLOCK_SKEW <= now <= not_after(cert)):
                        raise InvalidInput(
                            "certificate %s on the chain is not valid now (valid %s .. %s)"
                            % (cert.subject.rfc4514_string(), _iso(not_before(cert)), _iso(not_after(cert))),
                            param=param,
                        )
                return path
        nxt = None
        for cand in pool:
            if cand is not current and _issued_by(current, cand) and _is_ca(cand):
                nxt = cand
                break
        if nxt is None:
            break
        pool.remove(nxt)
        path.append(nxt)
        current = nxt
    raise InvalidInput(
        "the certificate chain does not verify against the CA given in %s: no valid signature path from %s to %s"
        % (param, leaf.subject.rfc4514_string(), ", ".join(r.subject.rfc4514_string() for r in roots) or "(no CA)"),
        param=param,
    )


# --------------------------------------------------------------------------------------------
# Material: what goes into the Secret
# --------------------------------------------------------------------------------------------


class Material(object):
    """A certificate, its chain, its key and (optionally) its CA. ``key`` never leaves this object
    except through :meth:`secret_data`."""

    def __init__(self, cert, key, chain=None, ca=None, source="generated"):
        self.cert = cert
        self.key = key
        self.chain = list(chain or [])
        self.ca = ca
        self.source = source
        self.ca_key = None  # a new generated CA's key, to be stored for renewals
        self.new_ca = False

    @property
    def fingerprint(self):
        return fingerprint(self.cert)

    def secret_data(self):
        """Secret ``data`` values as raw bytes (the caller base64-encodes them)."""
        pem = serialization.Encoding.PEM
        crt = self.cert.public_bytes(pem) + b"".join(c.public_bytes(pem) for c in self.chain)
        data = {
            "tls.crt": crt,
            "tls.key": self.key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        }
        if self.ca is not None:
            data["ca.crt"] = self.ca.public_bytes(pem)
        return data

    def annotations(self, domain):
        return {
            ANN_FINGERPRINT: self.fingerprint,
            ANN_NOT_AFTER: _iso(not_after(self.cert)),
            ANN_DOMAIN: domain,
            ANN_SOURCE: self.source,
        }

    def ca_pem(self):
        if self.ca is None:
            return None
        return self.ca.public_bytes(serialization.Encoding.PEM).decode("ascii")

    def summary(self):
        out = summary(self.cert)
        out["key_type"] = key_type_of(self.key)
        if self.ca is not None:
            out["ca_fingerprint"] = fingerprint(self.ca)
        return out


def new_key(key_type):
    if key_type == "rsa2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "rsa4096":
        return rsa.generate_private_key(public_exponent=65537, key_size=4096)
    if key_type == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    raise InvalidInput("key_type must be one of %s" % ", ".join(KEY_TYPES), param="key_type")


def _cn(value):
    # CN is limited to 64 characters; the SAN is authoritative anyway.
    return value if len(value) <= 64 else value[:61] + "..."


def generate(domain, valid_days=DEFAULT_VALID_DAYS, key_type="rsa2048", now=None, organization="OpenShift AI model serving",
             ca=None, ca_valid_days=DEFAULT_CA_VALID_DAYS):
    """Generate a leaf certificate for ``*.<domain>`` and ``<domain>``, signed by ``ca`` (a
    (certificate, key) pair kept from an earlier run) or by a new root CA.

    Compared with the openssl commands of the manual install (seed 000 §3.3.1.3), the leaf
    carries both names in the SAN, is a real CA-signed certificate (AKI/SKI, CA:FALSE,
    serverAuth), and the CA is a proper CA (CA:TRUE, pathlen 0, keyCertSign) whose name
    constraints limit it to the domain, so that its key, kept for renewals, can sign nothing
    else. A new CA's key is returned on the Material (``ca_key``) for the caller to store."""
    if valid_days < 1:
        raise InvalidInput("valid_days must be at least 1 (got %s)" % valid_days, param="valid_days")
    now = now or utcnow()
    start = now - CLOCK_SKEW
    end = now + datetime.timedelta(days=valid_days)

    if ca is not None:
        ca, ca_key = ca
        new_ca = False
    else:
        ca, ca_key = _new_ca(domain, key_type, start, now + datetime.timedelta(days=max(ca_valid_days, valid_days + 1)),
                             organization)
        new_ca = True
    ca_name = ca.subject
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    material = _leaf(domain, key_type, start, end, organization, ca_name, ca_ski, ca_key)
    material.ca = ca
    material.ca_key = ca_key if new_ca else None
    material.new_ca = new_ca
    return material


def _new_ca(domain, key_type, start, end, organization):
    ca_key = new_key(key_type)
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, _cn("Wildcard CA for %s" % domain)),
        ]
    )
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.NameConstraints(permitted_subtrees=[x509.DNSName(domain)], excluded_subtrees=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return ca, ca_key


def _leaf(domain, key_type, start, end, organization, ca_name, ca_ski, ca_key):
    key = new_key(key_type)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                    x509.NameAttribute(NameOID.COMMON_NAME, _cn("*." + domain)),
                ]
            )
        )
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("*." + domain), x509.DNSName(domain)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=isinstance(key, rsa.RSAPrivateKey),
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return Material(leaf, key, chain=[], ca=None, source="generated")


def validate_provided(cert_pem, key_pem, domain, ca_pem=None, passphrase=None, now=None, names=None, coverage="wildcard"):
    """Validate user-provided material; return a Material or raise InvalidInput naming the parameter.

    ``names`` maps ``certificate``/``private_key``/``ca`` to the parameter the user set (e.g.
    ``certificate_path``) so that messages point at what to fix. Checks, in order: parsing, key
    match, SAN coverage of ``*.<domain>``, validity now, and the chain against the CA (when a
    CA is given, or when the bundle ends in a self-signed root). With ``coverage="host"`` the
    certificate must serve the host ``domain`` itself (a custom domain mapped to one model)."""
    names = dict({"certificate": "certificate", "private_key": "private_key", "ca": "ca_certificate"}, **(names or {}))
    now = now or utcnow()
    certs = load_certificates(cert_pem, names["certificate"])
    leaf, bundle = certs[0], certs[1:]
    key = load_private_key(key_pem, names["private_key"], passphrase)
    if not key_matches(leaf, key):
        raise InvalidInput(
            "the private key in %s does not belong to the certificate in %s (public keys differ)"
            % (names["private_key"], names["certificate"]),
            param=names["private_key"],
        )
    sans = dns_names(leaf)
    if coverage == "host" and not covers_host(sans, domain):
        raise InvalidInput(
            "the certificate in %s does not cover the host %s: its SAN DNS names are %s, and %s needs the SAN %s"
            % (names["certificate"], domain, sans or "[] (no SAN; a CN alone is ignored by TLS clients)", names["certificate"], domain),
            param=names["certificate"],
            dns_names=sans,
        )
    if coverage != "host" and not covers_domain(sans, domain):
        raise InvalidInput(
            "the certificate in %s does not cover the domain %s: its SAN DNS names are %s, and %s needs the SAN *.%s"
            % (names["certificate"], domain, sans or "[] (no SAN; a CN alone is ignored by TLS clients)", names["certificate"], domain),
            param=names["certificate"],
            dns_names=sans,
        )
    if now > not_after(leaf):
        raise InvalidInput(
            "the certificate in %s expired on %s" % (names["certificate"], _iso(not_after(leaf))), param=names["certificate"]
        )
    if now + CLOCK_SKEW < not_before(leaf):
        raise InvalidInput(
            "the certificate in %s is not valid before %s" % (names["certificate"], _iso(not_before(leaf))),
            param=names["certificate"],
        )
    ca = None
    if ca_pem:
        roots = load_certificates(ca_pem, names["ca"])
        verify_chain(leaf, bundle, roots, now=now, param=names["ca"])
        ca = roots[0]
        chain = [c for c in bundle if c.subject != c.issuer]
    else:
        chain = list(bundle)
        roots = [c for c in bundle if c.subject == c.issuer]
        if roots:
            verify_chain(leaf, [c for c in bundle if c not in roots], roots, now=now, param=names["certificate"])
            ca = roots[-1]
            chain = [c for c in bundle if c not in roots]
    return Material(leaf, key, chain=chain, ca=ca, source="provided")


# --------------------------------------------------------------------------------------------
# The verdict on the existing Secret
# --------------------------------------------------------------------------------------------


class Existing(object):
    """What the current Secret holds, parsed as far as possible, without keeping the key."""

    def __init__(self, secret_type=None, data=None, annotations=None, exists=True):
        self.exists = exists
        self.type = secret_type
        self.annotations = dict(annotations or {})
        self.cert = None
        self.chain = []
        self.ca = None
        self.key_ok = None  # None: could not tell
        self.key_type = None
        self._key_spki = None
        self.problems = []
        data = data or {}
        if not exists:
            return
        crt, key = data.get("tls.crt"), data.get("tls.key")
        if not crt:
            self.problems.append("the Secret has no tls.crt")
        else:
            try:
                certs = x509.load_pem_x509_certificates(_as_bytes(crt))
                self.cert, self.chain = certs[0], certs[1:]
            except ValueError:
                self.problems.append("tls.crt in the Secret cannot be parsed")
        if not key:
            self.problems.append("the Secret has no tls.key")
        else:
            try:
                parsed = serialization.load_pem_private_key(_as_bytes(key), password=None)
                self._key_spki = _spki(parsed.public_key())
                self.key_type = key_type_of(parsed)
                del parsed
            except (ValueError, TypeError):
                self.problems.append("tls.key in the Secret cannot be parsed")
        if data.get("ca.crt"):
            try:
                self.ca = x509.load_pem_x509_certificates(_as_bytes(data["ca.crt"]))[0]
            except ValueError:
                self.ca = None
        if self.cert is not None and self._key_spki is not None:
            self.key_ok = _spki(self.cert.public_key()) == self._key_spki

    def same_key_as(self, key):
        return self._key_spki is not None and self._key_spki == _spki(key.public_key())

    def summary(self):
        if not self.exists:
            return {}
        out = summary(self.cert) if self.cert is not None else {}
        if self.key_type:
            out["key_type"] = self.key_type
        if self.ca is not None:
            out["ca_fingerprint"] = fingerprint(self.ca)
        return out


def regeneration_reasons(existing, domain, renew_before_days, now=None, where="the Secret"):
    """Why the generated certificate in ``existing`` must be replaced; [] means keep it.

    Only four things count, in this order: the material is missing or unreadable, the key does
    not match, the certificate does not cover ``*.<domain>``, or it expires within
    ``renew_before_days`` (or already has). Timestamps are otherwise ignored (an idempotent
    rerun never regenerates), and so are cosmetic details such as the subject."""
    now = now or utcnow()
    if not existing.exists:
        return ["%s does not exist" % where]
    reasons = []
    if existing.type not in (None, TLS_TYPE):
        reasons.append("%s has type %s, not %s" % (where, existing.type, TLS_TYPE))
    reasons.extend("%s" % p for p in existing.problems)
    if existing.cert is None or existing.key_ok is None:
        return reasons or ["%s holds no usable certificate and key" % where]
    if not existing.key_ok:
        reasons.append("the private key in %s does not match its certificate" % where)
    sans = dns_names(existing.cert)
    if not covers_domain(sans, domain):
        reasons.append("the certificate covers %s, not *.%s (domain changed)" % (sans or "no SAN DNS name", domain))
    end = not_after(existing.cert)
    if end <= now:
        reasons.append("the certificate expired on %s" % _iso(end))
    elif end - now <= datetime.timedelta(days=renew_before_days):
        reasons.append("the certificate expires on %s, within renew_before=%d days" % (_iso(end), renew_before_days))
    return reasons


def replacement_reasons(existing, material, where="the Secret"):
    """Why ``existing`` must be overwritten with provided ``material``; [] means it already holds it."""
    if not existing.exists:
        return ["%s does not exist" % where]
    reasons = []
    if existing.type not in (None, TLS_TYPE):
        reasons.append("%s has type %s, not %s" % (where, existing.type, TLS_TYPE))
    reasons.extend(existing.problems)
    if existing.cert is None or fingerprint(existing.cert) != material.fingerprint:
        reasons.append(
            "%s holds a different certificate (sha256 %s, provided %s)"
            % (where, fingerprint(existing.cert) if existing.cert is not None else "none", material.fingerprint)
        )
    elif [fingerprint(c) for c in existing.chain] != [fingerprint(c) for c in material.chain]:
        reasons.append("%s holds a different intermediate chain" % where)
    if existing.cert is not None and not existing.same_key_as(material.key):
        reasons.append("%s holds a different private key" % where)
    if material.ca is not None and (existing.ca is None or fingerprint(existing.ca) != fingerprint(material.ca)):
        reasons.append("%s holds a different ca.crt" % where)
    return reasons


def annotation_drift(current, wanted):
    """Annotations to add or change so the Secret describes its certificate ({} = none)."""
    return dict((k, v) for k, v in wanted.items() if (current or {}).get(k) != v)


# --------------------------------------------------------------------------------------------
# Orchestration against the cluster (used by the wildcard_certificate module)
# --------------------------------------------------------------------------------------------


def _b64decode_map(data):
    out = {}
    for k, v in (data or {}).items():
        try:
            out[k] = base64.b64decode(v) if v is not None else None
        except (TypeError, ValueError):
            out[k] = None
    return out


def _b64encode_map(data):
    return dict((k, base64.b64encode(v).decode("ascii") if v is not None else None) for k, v in data.items())


def _api_status(e):
    """Status and a short, safe message from an ApiException (never the request body)."""
    status = getattr(e, "status", None)
    msg = getattr(e, "reason", "") or ""
    body = getattr(e, "body", None)
    if body:
        try:
            msg = json.loads(body).get("message") or msg
        except (ValueError, TypeError, AttributeError):
            pass
    return status, msg


class SecretStore(object):
    """Secrets through the dynamic client (no CoreV1Api: importing its models costs seconds)."""

    def __init__(self, client):
        self.client = client
        self._res = None

    @classmethod
    def for_client(cls, client):
        return getattr(client, "secret_store", None) or cls(client)

    def _r(self):
        if self._res is None:
            self._res = self.client.resource("v1", "Secret")
        return self._res

    def read(self, name, namespace):
        try:
            obj = self._r().get(name=name, namespace=namespace)
        except Exception as e:
            if getattr(e, "status", None) == 404:
                return None
            raise
        return obj.to_dict() if hasattr(obj, "to_dict") else obj

    def create(self, namespace, body):
        self._r().create(body=body, namespace=namespace)

    def patch(self, name, namespace, body):
        self._r().patch(body=body, name=name, namespace=namespace, content_type="application/merge-patch+json")

    def delete(self, name, namespace):
        self._r().delete(name=name, namespace=namespace)


def read_secret(client, name, namespace):
    """Return (exists, type, data bytes map, annotations, labels) for a Secret."""
    try:
        obj = SecretStore.for_client(client).read(name, namespace)
    except Exception as e:
        status, msg = _api_status(e)
        raise ApiError("Could not read Secret %s/%s: %s" % (namespace, name, msg or type(e).__name__), status=status)
    if obj is None:
        return False, None, {}, {}, {}
    meta = obj.get("metadata") or {}
    return True, obj.get("type"), _b64decode_map(obj.get("data")), dict(meta.get("annotations") or {}), dict(meta.get("labels") or {})


def cluster_domain(client):
    """The ingress domain: ``spec.domain`` of ``ingresses.config.openshift.io/cluster``."""
    res = client.resource("config.openshift.io/v1", "Ingress")
    try:
        obj = res.get(name="cluster")
    except Exception as e:
        raise ResourceNotFound("Could not read ingresses.config.openshift.io/cluster to find the domain: %s; set domain" % e)
    domain = ((obj.to_dict().get("spec") or {}).get("domain")) or ""
    if not domain:
        raise ResourceNotFound("ingresses.config.openshift.io/cluster has no spec.domain; set domain")
    return domain


def _read_file(path, param):
    try:
        with open(path, "rb") as f:
            return f.read()
    except (IOError, OSError) as e:
        raise InvalidInput("%s: cannot read %s: %s" % (param, path, e.strerror or e), param=param)


def provided_material(client, params, domain, now=None):
    """Material from the provided-mode parameters, validated; None in generated mode."""
    cert = key = ca = None
    names = {}
    src = params.get("existing_secret")
    if src:
        ns = src.get("namespace") or params["secret_namespace"]
        where = "existing_secret (%s/%s)" % (ns, src["name"])
        exists, _t, data, _a, _l = read_secret(client, src["name"], ns)
        if not exists:
            raise InvalidInput("%s does not exist" % where, param="existing_secret")
        cert, key, ca = data.get("tls.crt"), data.get("tls.key"), data.get("ca.crt")
        names = {"certificate": where + " tls.crt", "private_key": where + " tls.key", "ca": where + " ca.crt"}
    if params.get("certificate_path"):
        cert, names["certificate"] = _read_file(params["certificate_path"], "certificate_path"), "certificate_path"
    elif params.get("certificate"):
        cert, names["certificate"] = params["certificate"], "certificate"
    if params.get("private_key_path"):
        key, names["private_key"] = _read_file(params["private_key_path"], "private_key_path"), "private_key_path"
    elif params.get("private_key"):
        key, names["private_key"] = params["private_key"], "private_key"
    if params.get("ca_path"):
        ca, names["ca"] = _read_file(params["ca_path"], "ca_path"), "ca_path"
    elif params.get("ca_certificate"):
        ca, names["ca"] = params["ca_certificate"], "ca_certificate"
    if cert is None and key is None:
        if ca is not None:
            raise InvalidInput("%s is only used with a provided certificate and key" % names["ca"], param=names["ca"])
        return None
    if cert is None:
        raise InvalidInput("%s is set but no certificate: set certificate_path or certificate" % names["private_key"], param="certificate_path")
    if key is None:
        raise InvalidInput("%s is set but no private key: set private_key_path or private_key" % names["certificate"], param="private_key_path")
    return validate_provided(cert, key, domain, ca_pem=ca, passphrase=params.get("private_key_passphrase"), now=now, names=names,
                             coverage=params.get("coverage") or "wildcard")


def ensure_certificate(client, params, check_mode=False, now=None):
    """Bring the TLS Secret to the wanted state. Returns the module result (no key material).

    Everything that can be refused (domain, provided material) is checked before the first
    write; in check mode nothing is generated or written."""
    now = now or utcnow()
    if params.get("domain"):
        domain = normalize_domain(params["domain"], "domain")
    else:
        domain = normalize_domain(cluster_domain(client), "domain (from ingresses.config.openshift.io/cluster)")
    if params.get("renew_before") is not None and params["renew_before"] < 0:
        raise InvalidInput("renew_before must be >= 0 days (got %s)" % params["renew_before"], param="renew_before")
    renew_before = params.get("renew_before") or 0
    valid_days = params.get("valid_days")
    if valid_days is None:
        valid_days = DEFAULT_VALID_DAYS
    if valid_days < 1:
        raise InvalidInput("valid_days must be at least 1 (got %s)" % valid_days, param="valid_days")
    if valid_days <= renew_before:
        raise InvalidInput(
            "valid_days (%s) must be larger than renew_before (%s), or every run would regenerate" % (valid_days, renew_before),
            param="valid_days",
        )
    name, namespace = params["secret_name"], params["secret_namespace"]
    where = "Secret %s/%s" % (namespace, name)

    material = provided_material(client, params, domain, now=now)
    exists, secret_type, data, annotations, labels = read_secret(client, name, namespace)
    existing = Existing(secret_type, data, annotations, exists=exists)
    warnings = []

    if material is not None:
        reasons = replacement_reasons(existing, material, where)
        action = "provided" if reasons else "kept"
        end = not_after(material.cert)
        if end - now <= datetime.timedelta(days=renew_before):
            warnings.append(
                "the provided certificate expires on %s, within renew_before=%d days; replace it soon" % (_iso(end), renew_before)
            )
    else:
        reasons = regeneration_reasons(existing, domain, renew_before, now=now, where=where)
        if not reasons and params.get("force"):
            reasons = ["force=true"]
        foreign = existing.cert is not None and annotations.get(ANN_SOURCE) != "generated"
        if reasons and foreign and not (params.get("replace_provided") or params.get("force")):
            raise InvalidInput(
                "%s holds a certificate this collection did not generate (%s, sha256 %s, expires %s), and generating one "
                "would replace it because %s. Provide it (certificate_path and private_key_path, or existing_secret) to "
                "keep it, renew it yourself, or set replace_provided: true to replace it with a generated certificate; "
                "nothing was changed."
                % (where, "provided" if annotations.get(ANN_SOURCE) == "provided" else "made outside this collection",
                   fingerprint(existing.cert), _iso(not_after(existing.cert)), "; ".join(reasons)),
                param="replace_provided",
            )
        action = ("regenerated" if exists else "generated") if reasons else "kept"
        if reasons and not check_mode:
            ca_pair = None
            if params.get("keep_ca", True):
                ca_pair, ca_note = load_ca(client, ca_secret_name(params), namespace, domain,
                                           now + datetime.timedelta(days=valid_days))
                if ca_pair is None and existing.ca is not None:
                    warnings.append("a new CA signs the certificate (%s): clients that trust the old ca.crt of %s need the "
                                    "new one" % (ca_note, where))
            material = generate(domain, valid_days=valid_days, key_type=params.get("key_type") or "rsa2048", now=now,
                                ca=ca_pair)

    before = existing.summary()
    changed = False
    if action == "kept":
        cert = existing.cert
        wanted_ann = {
            ANN_FINGERPRINT: fingerprint(cert),
            ANN_NOT_AFTER: _iso(not_after(cert)),
            ANN_DOMAIN: domain,
            ANN_SOURCE: annotations.get(ANN_SOURCE) or ("provided" if params_provided(params) else "generated"),
        }
        drift = annotation_drift(annotations, wanted_ann)
        after = before
        if drift:
            changed = True
            reasons = ["annotations on %s are out of date: %s" % (where, ", ".join(sorted(drift)))]
            if not check_mode:
                _patch_secret(client, name, namespace, {"metadata": {"annotations": drift}})
        summary_cert, ca = cert, existing.ca
    else:
        changed = True
        if material is None:  # check mode, generation skipped
            after = {"dns_names": ["*." + domain, domain], "fingerprint": "(new, generated on apply)", "key_type": params.get("key_type") or "rsa2048"}
            summary_cert, ca = None, None
        else:
            after = material.summary()
            summary_cert, ca = material.cert, material.ca
            if not check_mode:
                if material.new_ca and params.get("keep_ca", True):
                    # The CA first: a failure after it leaves a CA the next run reuses.
                    _write_ca_secret(client, ca_secret_name(params), namespace, material, domain)
                _write_secret(client, name, namespace, existing, material, domain)

    result = {
        "changed": changed,
        "action": action,
        "reasons": reasons,
        "domain": domain,
        "secret": {"name": name, "namespace": namespace},
        "fingerprint": fingerprint(summary_cert) if summary_cert is not None else None,
        "not_after": _iso(not_after(summary_cert)) if summary_cert is not None else None,
        "dns_names": dns_names(summary_cert) if summary_cert is not None else after.get("dns_names", []),
        "ca_certificate": ca.public_bytes(serialization.Encoding.PEM).decode("ascii") if ca is not None else None,
        "ca_rotated": bool(existing.ca is not None and ca is not None and fingerprint(existing.ca) != fingerprint(ca)),
        "diff": {"before": before, "after": after},
    }
    if warnings:
        result["warnings"] = warnings
    return result


def ca_secret_name(params):
    """The Secret that keeps a generated CA (certificate and key) for renewals."""
    return params.get("ca_secret_name") or (params["secret_name"] + "-ca")


def load_ca(client, name, namespace, domain, needed_until):
    """((CA certificate, CA key), note) from the CA Secret when it can sign for ``domain`` until
    ``needed_until``; (None, why not) otherwise."""
    where = "Secret %s/%s" % (namespace, name)
    exists, _t, data, annotations, _l = read_secret(client, name, namespace)
    if not exists:
        return None, "%s does not exist" % where
    if annotations.get(ANN_CA_DOMAIN) != domain:
        return None, "the CA in %s is for %s, not %s" % (where, annotations.get(ANN_CA_DOMAIN) or "another domain", domain)
    try:
        cert = x509.load_pem_x509_certificates(_as_bytes(data.get("ca.crt") or b""))[0]
        key = serialization.load_pem_private_key(_as_bytes(data.get("ca.key") or b""), password=None)
    except (ValueError, TypeError, IndexError):
        return None, "the CA in %s cannot be parsed" % where
    if not key_matches(cert, key) or not _is_ca(cert):
        return None, "the CA in %s is not a CA certificate with its key" % where
    if not_after(cert) < needed_until:
        return None, "the CA in %s expires on %s, before the new certificate would" % (where, _iso(not_after(cert)))
    return (cert, key), "kept from %s" % where


def _write_ca_secret(client, name, namespace, material, domain):
    pem = serialization.Encoding.PEM
    data = _b64encode_map({
        "ca.crt": material.ca.public_bytes(pem),
        "ca.key": material.ca_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    })
    meta = {"annotations": {ANN_CA_DOMAIN: domain, ANN_FINGERPRINT: fingerprint(material.ca)},
            "labels": dict([MANAGED_BY_LABEL])}
    exists, _t, _d, _a, _l = read_secret(client, name, namespace)
    try:
        if exists:
            SecretStore.for_client(client).patch(name, namespace, {"metadata": meta, "data": data})
        else:
            SecretStore.for_client(client).create(namespace, {
                "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": dict(meta, name=name, namespace=namespace), "data": data})
    except Exception as e:
        status, msg = _api_status(e)
        if status == 404:
            msg = "namespace %s does not exist (create it first, e.g. with the service mesh control plane)" % namespace
        raise ApiError("Could not write the CA Secret %s/%s: %s" % (namespace, name, msg or type(e).__name__), status=status)


def params_provided(params):
    return bool(
        params.get("certificate_path") or params.get("certificate") or params.get("existing_secret")
    )


def _patch_secret(client, name, namespace, body):
    try:
        SecretStore.for_client(client).patch(name, namespace, body)
    except Exception as e:
        status, msg = _api_status(e)
        raise ApiError("Could not update Secret %s/%s: %s" % (namespace, name, msg or type(e).__name__), status=status)


def _write_secret(client, name, namespace, existing, material, domain):
    data = material.secret_data()
    if "ca.crt" not in data:
        data["ca.crt"] = None  # drop a stale CA on merge
    encoded = _b64encode_map(data)
    ann = material.annotations(domain)
    restore = None
    if existing.exists and existing.type not in (None, TLS_TYPE):
        # The type of a Secret is immutable: replace it, and put the old one back if the new one is refused.
        store = SecretStore.for_client(client)
        try:
            old = store.read(name, namespace) or {}
            old_meta = old.get("metadata") or {}
            restore = {"apiVersion": "v1", "kind": "Secret", "type": old.get("type"), "data": old.get("data") or {},
                       "metadata": {"name": name, "namespace": namespace, "labels": old_meta.get("labels") or {},
                                    "annotations": old_meta.get("annotations") or {}}}
            store.delete(name, namespace)
        except Exception as e:
            status, msg = _api_status(e)
            raise ApiError("Could not replace Secret %s/%s (type %s): %s" % (namespace, name, existing.type, msg), status=status)
        existing = Existing(exists=False)
    if existing.exists:
        _patch_secret(client, name, namespace, {"metadata": {"annotations": ann, "labels": dict([MANAGED_BY_LABEL])}, "data": encoded})
        return
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": TLS_TYPE,
        "metadata": {"name": name, "namespace": namespace, "annotations": ann, "labels": dict([MANAGED_BY_LABEL])},
        "data": dict((k, v) for k, v in encoded.items() if v is not None),
    }
    try:
        SecretStore.for_client(client).create(namespace, body)
    except Exception as e:
        status, msg = _api_status(e)
        if restore is not None:
            try:
                SecretStore.for_client(client).create(namespace, restore)
                msg = "%s (the previous Secret of type %s was put back)" % (msg, restore["type"])
            except Exception:  # pylint: disable=broad-except
                msg = "%s (and the previous Secret could not be put back)" % msg
        if status == 404:
            msg = "namespace %s does not exist (create it first, e.g. with the service mesh control plane)" % namespace
        raise ApiError("Could not create Secret %s/%s: %s" % (namespace, name, msg or type(e).__name__), status=status)
