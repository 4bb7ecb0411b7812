"""A real OpenLDAP server (Debian's `slapd`) for the ldap connector's tests: a throw-away
`slapd.conf` and database in a temporary folder, free ports on 127.0.0.1 for `ldap://`
(StartTLS offered) and `ldaps://` with a certificate from a throw-away CA (`openssl`), the
ppolicy overlay with a default policy (so `pwdAccountLockedTime` locks an account), and a
small tree: `ou=people`, `ou=groups` with two `groupOfNames`. `make test` installs slapd
when it is missing (the Makefile's `slapd` target); without it these tests fail, never skip.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ldap3 import ALL_ATTRIBUTES, BASE, Connection, Server

BASE_DN = "dc=example,dc=edu"
PEOPLE = f"ou=people,{BASE_DN}"
GROUPS = f"ou=groups,{BASE_DN}"
ADMIN_DN = f"cn=admin,{BASE_DN}"
ADMIN_PASSWORD = "slapd-test-password"
PASSWORD_ENV = "ROSTER_TARGET_SECRET_LDAP_PASSWORD"
FINANCE = f"cn=finance,{GROUPS}"
VPN = f"cn=vpn,{GROUPS}"
SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
SCHEMAS = ("core", "cosine", "inetorgperson", "nis")

CONFIG = """\
{includes}
TLSCACertificateFile {folder}/ca.pem
TLSCertificateFile {folder}/server.pem
TLSCertificateKeyFile {folder}/server.key
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
pidfile {folder}/slapd.pid
database mdb
maxsize 10485760
suffix "{base}"
rootdn "{admin}"
rootpw {password}
directory {folder}/data
overlay ppolicy
ppolicy_default "cn=default,ou=policies,{base}"
"""


@dataclass
class Slapd:
    url: str  # ldap://127.0.0.1:<port>, StartTLS offered
    ldaps_url: str = ""
    ca: str = ""  # the PEM of the CA that signed the server's certificate

    def settings(self, **over: Any) -> dict[str, Any]:
        return {"url": self.url, "base_dn": PEOPLE, "groups_base_dn": GROUPS, "bind_dn": ADMIN_DN,
                "password_env": PASSWORD_ENV, **over}

    def admin(self) -> Connection:
        return Connection(Server(self.url), ADMIN_DN, ADMIN_PASSWORD, auto_bind=True)

    def entry(self, dn: str) -> dict[str, list] | None:
        with self.admin() as conn:
            conn.search(dn, "(objectClass=*)", BASE, attributes=[ALL_ATTRIBUTES, "pwdAccountLockedTime", "entryUUID"])
            return {k: list(v) for k, v in conn.entries[0].entry_attributes_as_dict.items()} if conn.entries else None

    def members(self, group: str) -> list[str]:
        return [m.lower() for m in (self.entry(group) or {}).get("member", [])]

    def people(self) -> list[str]:
        with self.admin() as conn:
            conn.search(PEOPLE, "(objectClass=inetOrgPerson)", attributes=["uid"])
            return sorted(str(e.entry_dn) for e in conn.entries)

    def can_bind(self, dn: str, password: str) -> bool:
        conn = Connection(Server(self.url), dn, password)
        try:
            return conn.bind()
        finally:
            conn.unbind()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def slapd(folder: Path) -> Iterator[Slapd]:
    """slapd in the foreground on a free port, stopped (and its folder left) at the end."""
    (folder / "data").mkdir(parents=True)
    includes = "\n".join(f"include /etc/ldap/schema/{name}.schema" for name in SCHEMAS)
    (folder / "slapd.conf").write_text(CONFIG.format(includes=includes, folder=folder, base=BASE_DN,
                                                     admin=ADMIN_DN, password=ADMIN_PASSWORD))
    ca = _certificates(folder)
    url, ldaps = f"ldap://127.0.0.1:{free_port()}", f"ldaps://127.0.0.1:{free_port()}"
    process = subprocess.Popen([SLAPD, "-f", str(folder / "slapd.conf"), "-h", f"{url}/ {ldaps}/", "-d", "0"],
                               stdout=subprocess.DEVNULL, stderr=(folder / "slapd.log").open("w"))
    try:
        server = Slapd(url, ldaps, ca)
        _wait(server, process, folder)
        _seed(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _certificates(folder: Path) -> str:
    """A CA and a server certificate for localhost / 127.0.0.1 signed by it; the CA's PEM."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=60)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", "/CN=Roster test CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=localhost")
    (folder / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "san.ext")
    return (folder / "ca.pem").read_text()


def _wait(server: Slapd, process: subprocess.Popen, folder: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("slapd stopped: " + (folder / "slapd.log").read_text()[-2000:])
        try:
            server.admin().unbind()
            return
        except Exception:  # noqa: BLE001 — not listening yet
            time.sleep(0.1)
    raise RuntimeError("slapd did not answer within 15 s")


def _seed(server: Slapd) -> None:
    with server.admin() as conn:
        conn.add(BASE_DN, ["dcObject", "organization"], {"dc": "example", "o": "Example University"})
        for ou in ("people", "groups", "policies"):
            conn.add(f"ou={ou},{BASE_DN}", ["organizationalUnit"], {"ou": ou})
        conn.add(f"cn=default,ou=policies,{BASE_DN}", ["pwdPolicy", "device"],
                 {"cn": "default", "pwdAttribute": "userPassword", "pwdLockout": "TRUE"})
        for group in (FINANCE, VPN):  # groupOfNames must have a member: the admin stands in
            conn.add(group, ["groupOfNames"], {"member": [ADMIN_DN]})
        assert conn.result["result"] == 0, conn.result
