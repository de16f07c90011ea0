"""A throwaway OpenLDAP ``slapd`` for tests and benchmarks (TESTING.md recipe).

``throwaway_slapd()`` writes a ``slapd.conf`` into a temp dir: schemas ``core``,
``cosine``, ``inetorgperson``, ``nis`` and the small ``TEST_SCHEMA``; modules ``back_mdb``,
``syncprov`` and ``accesslog``; two mdb databases, the access log ``cn=accesslog`` and the
main database ``dc=example,dc=org`` (root DN ``cn=admin,dc=example,dc=org``), which
carries the ``syncprov`` and ``accesslog`` overlays. The access log records every
successful write and, through ``logold``/``logoldattr``, the old ``entryUUID`` of deleted,
modified and renamed entries (so an incremental reader can name what was deleted). Only
the root DN may read the access log; anonymous users may read the main tree (never
``userPassword``).

slapd is started in the foreground (``-d 0``, so the PID is slapd's) on free loopback
ports, optionally with TLS (a throwaway CA and server certificate; ``ldaps://`` and
StartTLS), and stopped with SIGINT. ``seed_ldif()`` + ``throwaway_slapd(seed=...)`` load
many entries with ``slapadd`` before the server starts (benchmarks).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from attrs import frozen

SLAPD = Path("/usr/sbin/slapd")
SLAPADD = Path("/usr/sbin/slapadd")
MODULE_DIR = Path("/usr/lib/ldap")
SCHEMA_DIR = Path("/etc/ldap/schema")

BASE_DN = "dc=example,dc=org"
ROOT_DN = f"cn=admin,{BASE_DN}"
ROOT_PASSWORD = "test-root-secret"
ACCESSLOG_DN = "cn=accesslog"


def find_slapd() -> Path | None:
    """The slapd binary, or None when OpenLDAP is not installed."""
    if SLAPD.exists() and SLAPADD.exists() and (MODULE_DIR / "back_mdb.so").exists():
        return SLAPD
    found = shutil.which("slapd")
    return Path(found) if found else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@frozen
class Slapd:
    """A running throwaway slapd."""

    url: str
    """``ldap://127.0.0.1:PORT`` (plain; StartTLS works on it when ``tls``)."""
    ldaps_url: str | None
    """``ldaps://127.0.0.1:PORT`` when started with ``tls``."""
    ca_file: Path | None
    """The PEM file of the CA that signed the server certificate (``tls`` only)."""
    base_dn: str
    root_dn: str
    root_password: str
    directory: Path
    pid: int


TEST_SCHEMA = """\
attributetype ( 1.3.6.1.4.1.4203.666.100.1.1 NAME 'xavyoEnabled'
    DESC 'test: whether the account is enabled'
    EQUALITY booleanMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.7 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.4203.666.100.1.2 NAME 'xavyoExpires'
    DESC 'test: when the account expires'
    EQUALITY generalizedTimeMatch ORDERING generalizedTimeOrderingMatch
    SYNTAX 1.3.6.1.4.1.1466.115.121.1.24 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.4203.666.100.2.1 NAME 'xavyoAccount'
    DESC 'test: an inetOrgPerson with Boolean, time and integer attributes'
    SUP inetOrgPerson STRUCTURAL
    MAY ( xavyoEnabled $ xavyoExpires $ uidNumber ) )
"""
"""A small test schema (OpenLDAP's experimental OID arc): ``xavyoAccount``, a subclass of
``inetOrgPerson`` with a Boolean, a Generalized Time and an INTEGER attribute."""


def _config(directory: Path, *, tls: bool) -> str:
    (directory / "xavyo-test.schema").write_text(TEST_SCHEMA, encoding="utf-8")
    schemas = "\n".join(
        [
            *(
                f"include {SCHEMA_DIR / name}.schema"
                for name in ("core", "cosine", "inetorgperson", "nis")
            ),
            f"include {directory / 'xavyo-test.schema'}",
        ]
    )
    tls_lines = (
        f"TLSCACertificateFile {directory / 'ca.pem'}\n"
        f"TLSCertificateFile {directory / 'server.pem'}\n"
        f"TLSCertificateKeyFile {directory / 'server.key'}\n"
        if tls
        else ""
    )
    return f"""\
{schemas}
pidfile {directory / "slapd.pid"}
argsfile {directory / "slapd.args"}
modulepath {MODULE_DIR}
moduleload back_mdb
moduleload syncprov
moduleload accesslog
sizelimit unlimited
{tls_lines}
database mdb
suffix "{ACCESSLOG_DN}"
rootdn "cn=logadmin,{ACCESSLOG_DN}"
directory {directory / "accesslog"}
maxsize 1073741824
dbnosync
index objectClass eq
index reqStart,reqEnd eq
overlay syncprov
syncprov-nopresent TRUE
syncprov-reloadhint TRUE
access to * by dn.exact="{ROOT_DN}" read by * none

database mdb
suffix "{BASE_DN}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PASSWORD}
directory {directory / "data"}
maxsize 4294967296
dbnosync
index objectClass,uid,cn,mail,entryCSN,entryUUID eq
index modifyTimestamp eq
access to attrs=userPassword by self write by anonymous auth by * none
access to * by * read
overlay syncprov
overlay accesslog
logdb "{ACCESSLOG_DN}"
logops writes
logsuccess TRUE
logold (objectClass=*)
logoldattr entryUUID
"""


def _write_certificates(directory: Path) -> None:
    """A throwaway CA and a server certificate for 127.0.0.1 / localhost."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "xavyo test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
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
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (directory / "ca.pem").write_bytes(ca.public_bytes(pem))
    (directory / "server.pem").write_bytes(cert.public_bytes(pem))
    key_path = directory / "server.key"
    key_path.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)


def _base_ldif() -> str:
    return (
        f"dn: {BASE_DN}\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\n"
        "dc: example\no: Example\n\n"
    )


def seed_ldif(path: Path, count: int, *, ou: str = "people") -> Path:
    """Write an LDIF with the base entry, ``ou=<ou>`` and ``count`` inetOrgPerson entries.

    Each person has 8 attributes (objectClass, uid, cn, sn, givenName, mail,
    employeeNumber, telephoneNumber) like a typical HR-fed directory entry.
    """
    with path.open("w", encoding="utf-8") as out:
        out.write(_base_ldif())
        out.write(f"dn: ou={ou},{BASE_DN}\nobjectClass: organizationalUnit\nou: {ou}\n\n")
        for i in range(count):
            uid = f"user{i:07d}"
            out.write(
                f"dn: uid={uid},ou={ou},{BASE_DN}\n"
                "objectClass: top\nobjectClass: person\nobjectClass: organizationalPerson\n"
                "objectClass: inetOrgPerson\n"
                f"uid: {uid}\ncn: User {i}\nsn: Number{i}\ngivenName: User\n"
                f"mail: {uid}@example.org\nemployeeNumber: {i}\n"
                f"telephoneNumber: +1 555 {i % 10_000:04d}\n\n"
            )
    return path


def _slapadd(directory: Path, ldif: Path) -> None:
    subprocess.run(
        [str(SLAPADD), "-q", "-f", str(directory / "slapd.conf"), "-b", BASE_DN, "-l", str(ldif)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"slapd exited with status {proc.returncode} at start")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("slapd did not open its port in time") from None
            time.sleep(0.01)


@contextmanager
def throwaway_slapd(
    *, tls: bool = False, seed: Path | None = None, start_timeout: float = 15.0
) -> Iterator[Slapd]:
    """Start a fresh slapd; yield it; stop it with SIGINT and remove its directory.

    Args:
        tls: also listen on ``ldaps://`` and offer StartTLS, with a throwaway CA.
        seed: an LDIF loaded with ``slapadd`` before the start; it must contain the base
            entry (``seed_ldif`` writes one). Without it the base entry is created empty.
    """
    slapd = find_slapd()
    if slapd is None:
        raise RuntimeError("OpenLDAP slapd not found (apt-get install slapd ldap-utils)")
    directory = Path(tempfile.mkdtemp(prefix="xavyo-slapd-"))
    try:
        for sub in ("data", "accesslog"):
            (directory / sub).mkdir()
        if tls:
            _write_certificates(directory)
        (directory / "slapd.conf").write_text(_config(directory, tls=tls), encoding="utf-8")
        if seed is None:
            seed = directory / "base.ldif"
            seed.write_text(_base_ldif(), encoding="utf-8")
        _slapadd(directory, seed)
        port = free_port()
        ldaps_port = free_port() if tls else None
        urls = [f"ldap://127.0.0.1:{port}"]
        if ldaps_port is not None:
            urls.append(f"ldaps://127.0.0.1:{ldaps_port}")
        proc = subprocess.Popen(
            [str(slapd), "-d", "0", "-h", " ".join(urls), "-f", str(directory / "slapd.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_port(port, proc, start_timeout)
            if ldaps_port is not None:
                _wait_port(ldaps_port, proc, start_timeout)
            yield Slapd(
                url=urls[0],
                ldaps_url=urls[1] if ldaps_port is not None else None,
                ca_file=directory / "ca.pem" if tls else None,
                base_dn=BASE_DN,
                root_dn=ROOT_DN,
                root_password=ROOT_PASSWORD,
                directory=directory,
                pid=proc.pid,
            )
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
