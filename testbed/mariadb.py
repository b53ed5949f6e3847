"""A real MariaDB server for the model registry tests (never the system service).

``MariaDB(base_dir, tls=True).start()`` initialises a data directory under ``base_dir`` with
Debian's ``mariadb-install-db``, starts ``mariadbd`` on a free loopback port (and a Unix socket in
``base_dir``) and, with ``tls``, serves TLS with a server certificate signed by a CA generated here
(``.ca_pem``; SANs ``localhost``, ``127.0.0.1`` and the ``dns_names`` given). ``.stop()`` ends the
process it started (by its pid) and the data directory stays for inspection.

    db = MariaDB(tmp, dns_names=["mariadb.db.svc.cluster.local"]).start()
    db.create_database("mr_a", "mr_a", "secret", require_ssl=True)   # user may only connect over TLS
    db.query("SELECT name FROM mr_a.Context")                          # as root, over the socket
    db.stop()

The servers are installed by ``testbed/deps.sh`` (``make deps``, run by ``make test``).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Optional

MARIADBD = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
INSTALL_DB = shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ca_and_server(dns_names, days=30):
    """(ca_pem, cert_pem, key_pem): a CA and a server certificate it signs (EC P-256)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "testbed-mariadb-ca")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now)
          .not_valid_after(now + datetime.timedelta(days=days))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName(n) for n in ["localhost"] + list(dns_names)]
    sans.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, (list(dns_names) or ["localhost"])[0])]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    return ca.public_bytes(pem).decode(), cert.public_bytes(pem).decode(), key_pem.decode()


class MariaDB:
    def __init__(self, base_dir, tls: bool = True, dns_names=(), port: Optional[int] = None):
        self.dir = Path(base_dir)
        self.tls = tls
        self.dns_names = list(dns_names)
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.datadir = self.dir / "data"
        self.socket = str(self.dir / "mysqld.sock")
        self.log = self.dir / "mariadbd.log"
        self.ca_pem: Optional[str] = None
        self.proc: Optional[subprocess.Popen] = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 60) -> "MariaDB":
        self.dir.mkdir(parents=True, exist_ok=True)
        if not (self.datadir / "mysql").is_dir():
            subprocess.run([INSTALL_DB, "--no-defaults", f"--datadir={self.datadir}", "--user=" + _user(),
                            "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"],
                           check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
        args = [MARIADBD, "--no-defaults", f"--datadir={self.datadir}", f"--socket={self.socket}",
                f"--port={self.port}", "--bind-address=127.0.0.1", f"--pid-file={self.dir / 'mariadbd.pid'}",
                f"--log-error={self.log}", "--skip-name-resolve", "--user=" + _user(),
                "--innodb-buffer-pool-size=16M", "--performance-schema=OFF", "--skip-log-bin"]
        if self.tls:
            ca, cert, key = _ca_and_server(self.dns_names)
            self.ca_pem = ca
            for name, text in (("ca.pem", ca), ("server-cert.pem", cert), ("server-key.pem", key)):
                path = self.dir / name
                path.write_text(text)
                os.chmod(path, 0o600)
            args += [f"--ssl-ca={self.dir / 'ca.pem'}", f"--ssl-cert={self.dir / 'server-cert.pem'}",
                     f"--ssl-key={self.dir / 'server-key.pem'}"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mariadbd exited with {self.proc.returncode}: {self._log_tail()}")
            try:
                self.query("SELECT 1")
                return self
            except Exception as e:  # noqa: BLE001 - not up yet
                last = e
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"mariadbd did not accept connections within {timeout}s ({last}): {self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return self.log.read_text()[-2000:]
        except OSError:
            return ""

    def connect(self, database: Optional[str] = None):
        import pymysql

        return pymysql.connect(unix_socket=self.socket, user="root", database=database, autocommit=True,
                               connect_timeout=5)

    def query(self, sql: str, args=None, database: Optional[str] = None) -> list:
        conn = self.connect(database)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return list(cur.fetchall())
        finally:
            conn.close()

    def create_database(self, name: str, user: str, password: str, require_ssl: bool = False) -> None:
        """A database and a user (from any host) with every privilege on it."""
        self.query(f"CREATE DATABASE IF NOT EXISTS `{name}`")
        self.query("CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s", (user, password))
        self.query(f"GRANT ALL PRIVILEGES ON `{name}`.* TO %s@'%%'", (user,))
        if require_ssl:
            self.query("ALTER USER %s@'%%' REQUIRE SSL", (user,))

    def stop(self, timeout: float = 30) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def _user() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name
