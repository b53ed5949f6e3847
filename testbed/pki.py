"""Certificates and keys for a testbed control plane.

Everything is generated with the ``cryptography`` library into ``<state-dir>/pki``:

- ``ca.crt``/``ca.key``: the cluster CA (also signs kubelet-less CSRs in kcm)
- ``apiserver.crt``/``apiserver.key``: serving certificate for kube-apiserver
- ``admin.crt``/``admin.key``: client certificate, CN=testbed-admin, O=system:masters
- ``sa.key``/``sa.pub``: service-account token signing key pair

Private keys are written with mode 0600.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 365
SERVICE_IP = "10.96.0.1"  # first address of --service-cluster-ip-range

SERVER_DNS = [
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
]
SERVER_IPS = ["127.0.0.1", "::1", SERVICE_IP]


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(path, 0o600)


def _key_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _new_key():
    # P-256 keys are fast to generate and accepted by every component.
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = []
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _builder(subject: x509.Name, issuer: x509.Name, public_key) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
    )


def _leaf(ca_key, ca_cert, cn, org=None, server=False):
    key = _new_key()
    b = _builder(_name(cn, org), ca_cert.subject, key.public_key())
    b = b.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    b = b.add_extension(
        x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=True,
            data_encipherment=False, key_agreement=False, key_cert_sign=False,
            crl_sign=False, encipher_only=False, decipher_only=False,
        ),
        critical=True,
    )
    b = b.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
    )
    if server:
        sans = [x509.DNSName(d) for d in SERVER_DNS]
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in SERVER_IPS]
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    else:
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    cert = b.sign(ca_key, hashes.SHA256())
    return key, cert


def generate(pki_dir: Path) -> dict[str, Path]:
    """Create every certificate and key in ``pki_dir``; return a name -> path map."""
    pki_dir = Path(pki_dir)
    pki_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(pki_dir, 0o700)

    ca_key = _new_key()
    ca_subject = _name("testbed-ca")
    ca_cert = (
        _builder(ca_subject, ca_subject, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = {}

    def put(name, key, cert):
        kp, cp = pki_dir / f"{name}.key", pki_dir / f"{name}.crt"
        _write_private(kp, _key_pem(key))
        cp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        paths[f"{name}_key"], paths[f"{name}_crt"] = kp, cp

    put("ca", ca_key, ca_cert)
    put("apiserver", *_leaf(ca_key, ca_cert, "kube-apiserver", server=True))
    put("admin", *_leaf(ca_key, ca_cert, "testbed-admin", org="system:masters"))

    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_private(pki_dir / "sa.key", _key_pem(sa_key))
    (pki_dir / "sa.pub").write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    paths["sa_key"], paths["sa_pub"] = pki_dir / "sa.key", pki_dir / "sa.pub"
    return paths


def paths(pki_dir: Path) -> dict[str, Path]:
    pki_dir = Path(pki_dir)
    out = {}
    for n in ("ca", "apiserver", "admin"):
        out[f"{n}_key"], out[f"{n}_crt"] = pki_dir / f"{n}.key", pki_dir / f"{n}.crt"
    out["sa_key"], out["sa_pub"] = pki_dir / "sa.key", pki_dir / "sa.pub"
    return out


def complete(pki_dir: Path) -> bool:
    return all(p.is_file() for p in paths(pki_dir).values())


def write_kubeconfig(path: Path, server: str, pki: dict[str, Path], name: str = "testbed") -> None:
    """Admin kubeconfig with the certificates embedded (file stays valid if copied)."""
    import base64

    def b64(p):
        return base64.b64encode(Path(p).read_bytes()).decode()

    content = f"""apiVersion: v1
kind: Config
clusters:
- name: {name}
  cluster:
    server: {server}
    certificate-authority-data: {b64(pki['ca_crt'])}
users:
- name: {name}-admin
  user:
    client-certificate-data: {b64(pki['admin_crt'])}
    client-key-data: {b64(pki['admin_key'])}
contexts:
- name: {name}
  context:
    cluster: {name}
    user: {name}-admin
    namespace: default
current-context: {name}
preferences: {{}}
"""
    tmp = Path(str(path) + ".tmp")
    _write_private(tmp, content.encode())
    os.replace(tmp, path)
