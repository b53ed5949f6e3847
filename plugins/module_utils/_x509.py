# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure X.509: parse, inspect, validate and generate certificates and keys.

No cluster I/O and no Secret conventions (those are in ``_certs``). Nothing here ever puts private
key material into a message, an exception or a summary: only fingerprints, names and dates leave.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import hashlib
import re

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import InvalidInput

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

KEY_TYPES = ("rsa2048", "rsa4096", "ecdsa-p256")
CLOCK_SKEW = datetime.timedelta(minutes=5)
# Leaf certificates: at most 397 days (the CA/Browser Forum limit browsers and Apple platforms
# enforce); the CA lives longer so that renewals keep it.
DEFAULT_VALID_DAYS = 397
DEFAULT_CA_VALID_DAYS = 3650

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


def spki(public_key):
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_matches(cert, key):
    return spki(cert.public_key()) == spki(key.public_key())


def key_type_of(key):
    if isinstance(key, rsa.RSAPrivateKey):
        return "rsa%d" % key.key_size
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "ecdsa-%s" % key.curve.name
    return type(key).__name__  # pragma: no cover


def iso(value):
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def summary(cert):
    """Public facts about a certificate: the only form in which it appears in results and diffs."""
    if cert is None:
        return {}
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "dns_names": dns_names(cert),
        "not_before": iso(not_before(cert)),
        "not_after": iso(not_after(cert)),
        "fingerprint": fingerprint(cert),
        "serial": "%x" % cert.serial_number,
    }


def is_ca(cert):
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
                if not is_ca(root):
                    raise InvalidInput("the certificate given in %s is not a CA (basicConstraints CA is false)" % param, param=param)
                path.append(root)
                for cert in path:
                    if not (not_before(cert) - CLOCK_SKEW <= now <= not_after(cert)):
                        raise InvalidInput(
                            "certificate %s on the chain is not valid now (valid %s .. %s)"
                            % (cert.subject.rfc4514_string(), iso(not_before(cert)), iso(not_after(cert))),
                            param=param,
                        )
                return path
        nxt = None
        for cand in pool:
            if cand is not current and _issued_by(current, cand) and is_ca(cand):
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
            "the certificate in %s expired on %s" % (names["certificate"], iso(not_after(leaf))), param=names["certificate"]
        )
    if now + CLOCK_SKEW < not_before(leaf):
        raise InvalidInput(
            "the certificate in %s is not valid before %s" % (names["certificate"], iso(not_before(leaf))),
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


def parse_certificates(pem):
    """The certificates of a PEM bundle (leaf first), or None when it cannot be parsed."""
    try:
        return x509.load_pem_x509_certificates(_as_bytes(pem))
    except ValueError:
        return None


def parse_private_key(pem):
    """An unencrypted PEM private key, or None when it cannot be parsed."""
    try:
        return serialization.load_pem_private_key(_as_bytes(pem), password=None)
    except (ValueError, TypeError):
        return None


def certificate_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def private_key_pem(key):
    """PKCS#8 PEM of ``key``, for a Secret's data only."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
