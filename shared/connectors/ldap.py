"""The `ldap` connector: accounts and group memberships in an LDAP directory, on `ldap3`
(docs/targets.md). Flavours: `openldap` (inetOrgPerson, groupOfNames, ppolicy) and `ad`.

Entitlements: `account` → the person's entry under `base_dn`, its RDN from the account
template (`uid=ada.lovelace`; AD: `cn=` with sAMAccountName and userPrincipalName);
`group:<DN>` → a `member` value of that groupOfNames (AD `group`). Actions: create_account
adds the entry (or adopts the one carrying the person id); suspend and disable_account lock
it — OpenLDAP: `pwdAccountLockedTime: 000001010000Z` (ppolicy, with a policy that has
`pwdLockout: TRUE`), AD: the ACCOUNTDISABLE flag 0x2 of `userAccountControl` — and restore
unlocks; delete_account removes the entry from every group under `groups_base_dn`, then
deletes it; grant / revoke add or remove the member value.

The person id lives in `employeeNumber` (AD `employeeID`); the entry's immutable id
(`entryUUID`, AD `objectGUID`) is kept on the assignment and found again by a search, so a
retried create never makes a second entry. Connections are LDAPS or StartTLS except to the
loopback (see target_settings); the bind password comes from a `ROSTER_TARGET_SECRET_*`
variable. One attempt per delivery: an unreachable or busy directory is a transient outcome,
scheduled again by the provisioning service (shared/services/redelivery.py).
Reconciliation reads every entry and group by paged search (RFC 2696).
"""

from __future__ import annotations

import math
import os
import ssl
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ldap3 import (
    BASE,
    MODIFY_ADD,
    MODIFY_DELETE,
    MODIFY_REPLACE,
    NONE,
    SUBTREE,
    Connection,
    Server,
    Tls,
)
from ldap3.core.exceptions import LDAPCommunicationError, LDAPException, LDAPStartTLSError
from ldap3.utils.conv import escape_bytes, escape_filter_chars
from ldap3.utils.dn import escape_rdn

from shared import outbound
from shared.connectors.base import ConnectorError, Outcome, Refused, Transient, once
from shared.connectors.directory import directory_step, read_settings, short_id
from shared.models.account_template import AccountTemplate
from shared.models.person import Person
from shared.models.provisioning import Order, OrderState, Target
from shared.models.target_settings import LdapSettings, entitlement_problem

PAGE_SIZE = 500
LOCKED_FOREVER = "000001010000Z"  # ppolicy: locked until an administrator unlocks
ACCOUNTDISABLE = 0x2
NORMAL_ACCOUNT = 0x200
TRANSIENT_RESULTS = {3, 51, 52, 80}  # timeLimitExceeded, busy, unavailable, other
ALREADY, ABSENT, NO_OBJECT, EXISTS, VIOLATION = 20, 16, 32, 68, 65
RIGHTS = {49: "the bind was refused (invalid credentials)", 50: "the bind DN lacks the access rights",
          53: "the directory is unwilling to perform it"}  # fmt: skip


@dataclass(frozen=True)
class Flavour:
    """What differs between OpenLDAP and Active Directory."""

    person_class: tuple[str, ...]
    person_filter: str
    rdn: str
    person_id: str
    immutable_id: str
    group_filter: str


FLAVOURS = {
    "openldap": Flavour(("inetOrgPerson",), "(objectClass=inetOrgPerson)", "uid", "employeeNumber",
                        "entryUUID", "(objectClass=groupOfNames)"),
    "ad": Flavour(("top", "person", "organizationalPerson", "user"), "(&(objectCategory=person)(objectClass=user))",
                  "cn", "employeeID", "objectGUID", "(objectClass=group)"),
}


def settings_of(target: Target) -> LdapSettings:
    return read_settings(LdapSettings, target)


class LdapConnector:
    def __init__(self, *, clock: Any = None, transport: Any = None):
        """The registry's options: LDAP needs neither a clock nor an HTTP transport."""

    def execute(self, target: Target, order: Order, person: Person, external_id: str | None) -> Outcome:
        def work() -> Outcome:
            settings = settings_of(target)
            step = directory_step("ldap", order, _group_dn)
            with connection(settings) as conn:
                return step(_Entry(conn, settings, person, external_id))

        return once(work)

    def accounts(self, target: Target) -> list[dict]:
        """Every entry carrying a person id, with the groups it is a member of (paged)."""
        try:
            settings = settings_of(target)
            flavour = FLAVOURS[settings.flavour]
            with connection(settings) as conn:
                groups_of: dict[str, list[str]] = {}
                for group in _paged(conn, settings.groups_base, flavour.group_filter, ["member"]):
                    for member in group["attributes"].get("member") or []:
                        groups_of.setdefault(member.lower(), []).append(f"group:{group['dn']}")
                attributes = [flavour.person_id, "mail", flavour.immutable_id, *_lock_attributes(settings)]
                people = _paged(conn, settings.base_dn, f"(&{flavour.person_filter}({flavour.person_id}=*))",
                                attributes)
                return [_account(entry, flavour, settings, groups_of) for entry in people]
        except (Refused, Transient) as fault:
            raise ConnectorError(fault.note) from None


@contextmanager
def connection(settings: LdapSettings) -> Iterator[Connection]:
    """A bound connection (TLS before the bind unless on the loopback). Raises Refused/Transient."""
    password = os.environ.get(settings.password_env)
    if not password:
        raise Refused(f"environment variable {settings.password_env} (the bind password) is not set")
    parts = urlsplit(settings.url)
    try:  # the addresses checked when connecting too (ldap3 resolves the name again itself)
        outbound.check_host(parts.hostname or "", parts.port or 389, "settings.url")
    except outbound.OutboundRefused as refused:
        raise Refused(refused.detail) from None
    secure = parts.scheme == "ldaps"
    tls = None
    if secure or settings.start_tls:
        tls = Tls(validate=ssl.CERT_REQUIRED, version=ssl.PROTOCOL_TLS_CLIENT, ca_certs_data=settings.ca_certificates)
    seconds = max(1, math.ceil(settings.timeout_seconds))  # ldap3 packs whole seconds
    server = Server(parts.hostname, port=parts.port or (636 if secure else 389), use_ssl=secure, tls=tls,
                    get_info=NONE, connect_timeout=seconds)
    conn = Connection(server, settings.bind_dn, password, auto_bind="NONE", auto_referrals=False,
                      receive_timeout=seconds, raise_exceptions=False)
    try:
        with _faults():
            conn.open()
            if settings.start_tls and not conn.start_tls():
                raise Refused("StartTLS was refused by the directory")
            if not conn.bind():
                _raise(conn.result, "bind")
        yield conn
    finally:
        conn.unbind()


class _Entry:
    """One person's entry in one directory, for the length of one order."""

    def __init__(self, conn: Connection, settings: LdapSettings, person: Person, external_id: str | None):
        self.conn = conn
        self.settings = settings
        self.flavour = FLAVOURS[settings.flavour]
        self.person = person
        self.external_id = external_id

    # -- actions ---------------------------------------------------------------------------

    def create(self) -> Outcome:
        found = self._find()
        if found is not None:
            if not _active(found, self.settings):
                self._modify(found["dn"], self._lock_change(False))
            return _done(f"LDAP entry {_short(found)} adopted", found)
        for login in AccountTemplate(self.settings.account_template).candidates(self.person):
            dn = f"{self.flavour.rdn}={escape_rdn(login)},{self.settings.base_dn}"
            with _faults():
                self.conn.add(dn, list(self.flavour.person_class), self._attributes(login))
            if self.conn.result["result"] == EXISTS:
                continue
            _check(self.conn.result, "add")
            made = self._read(dn)
            return _done(f"LDAP entry {_short(made)} created", made)
        raise Refused("every name the account template offers is taken")

    def set_enabled(self, active: bool, revoke_sessions: bool = False) -> Outcome:
        """Unlock, or lock (LDAP keeps no sessions to revoke: the lock refuses the next bind)."""
        found = self._find()
        if found is None:
            if active:
                raise Refused("no LDAP entry for this person to restore")
            return _gone("no LDAP entry for this person: nothing to disable", None)
        if _active(found, self.settings) != active:
            self._modify(found["dn"], self._lock_change(not active, found))
        return _done(f"LDAP entry {_short(found)} {'enabled' if active else 'disabled'}", found)

    def delete(self) -> Outcome:
        found = self._find()
        if found is None:
            return _gone("no LDAP entry for this person: nothing to delete", None)
        for group in _paged(self.conn, self.settings.groups_base,
                            f"(&{self.flavour.group_filter}(member={escape_filter_chars(found['dn'])}))", ["cn"]):
            self._member(group["dn"], found["dn"], add=False)
        with _faults():
            self.conn.delete(found["dn"])
        if self.conn.result["result"] != NO_OBJECT:
            _check(self.conn.result, "delete")
        return _done(f"LDAP entry {_short(found)} deleted", found)

    def grant(self, entitlement: str) -> Outcome:
        found = self._find()
        if found is None:
            raise Refused("no LDAP entry for this person: create the account first")
        verb = "added to" if self._member(_group_dn(entitlement), found["dn"], add=True) else "already in"
        return _done(f"LDAP entry {_short(found)} {verb} the group", found)

    def revoke(self, entitlement: str) -> Outcome:
        found = self._find()
        if found is None:
            return _gone("no LDAP entry for this person: nothing to revoke", None)
        if self._member(_group_dn(entitlement), found["dn"], add=False):
            return _done(f"LDAP entry {_short(found)} removed from the group", found)
        return _gone(f"LDAP entry {_short(found)} not in the group", found)

    # -- pieces ----------------------------------------------------------------------------

    def _find(self) -> dict | None:
        """The entry by the immutable id Roster kept, else by the person id it carries."""
        flavour = self.flavour
        if self.external_id:
            found = self._search(f"({flavour.immutable_id}={_id_filter(self.external_id, flavour)})")
            if found is not None:
                return found
        return self._search(f"(&{flavour.person_filter}({flavour.person_id}={escape_filter_chars(self.person.id)}))")

    def _search(self, query: str) -> dict | None:
        entries = list(_paged(self.conn, self.settings.base_dn, query, self._read_attributes()))
        if len(entries) > 1:
            raise Refused(f"several LDAP entries carry this person's {self.flavour.person_id}")
        return entries[0] if entries else None

    def _read(self, dn: str) -> dict:
        with _faults():
            self.conn.search(dn, "(objectClass=*)", BASE, attributes=self._read_attributes())
        _check(self.conn.result, "read")
        [entry] = [e for e in self.conn.response if e.get("type") == "searchResEntry"]
        return entry

    def _read_attributes(self) -> list[str]:
        return [self.flavour.person_id, self.flavour.immutable_id, *_lock_attributes(self.settings)]

    def _attributes(self, login: str) -> dict[str, Any]:
        names = self.person.names
        values: dict[str, Any] = {"cn": names.display, "sn": names.family, "givenName": names.preferred or names.given,
                                  "displayName": names.display, self.flavour.person_id: self.person.id}
        if self.person.primary_email:
            values["mail"] = self.person.primary_email
        if self.settings.flavour == "ad":
            values.update(cn=login, sAMAccountName=login[:20], userPrincipalName=f"{login}@{self.settings.domain}",
                          userAccountControl=str(NORMAL_ACCOUNT))
        else:
            values["uid"] = login
        return values

    def _lock_change(self, lock: bool, entry: dict | None = None) -> dict[str, list]:
        if self.settings.flavour == "ad":
            flags = _flags(entry) if entry else NORMAL_ACCOUNT
            flags = flags | ACCOUNTDISABLE if lock else flags & ~ACCOUNTDISABLE
            return {"userAccountControl": [(MODIFY_REPLACE, [str(flags)])]}
        if lock:
            return {"pwdAccountLockedTime": [(MODIFY_REPLACE, [LOCKED_FOREVER])]}
        return {"pwdAccountLockedTime": [(MODIFY_DELETE, [])]}

    def _modify(self, dn: str, changes: dict[str, list]) -> None:
        with _faults():
            self.conn.modify(dn, changes)
        if self.conn.result["result"] != ABSENT:  # unlocking what was not locked
            _check(self.conn.result, "modify")

    def _member(self, group: str, dn: str, add: bool) -> bool:
        """Add or remove `dn` as a member of `group`; False when there was nothing to do."""
        with _faults():
            self.conn.modify(group, {"member": [(MODIFY_ADD if add else MODIFY_DELETE, [dn])]})
        code = self.conn.result["result"]
        if code in (ALREADY, ABSENT):
            return False
        if code == NO_OBJECT:
            raise Refused("no such group in the directory")
        if code == VIOLATION and not add:
            raise Refused("the group would be left without members (groupOfNames needs one)")
        _check(self.conn.result, "member change")
        return True


def _paged(conn: Connection, base: str, query: str, attributes: list[str]) -> Iterator[dict]:
    """Entries of a subtree search, PAGE_SIZE at a time (the simple paged results control)."""
    with _faults():
        pages = conn.extend.standard.paged_search(base, query, SUBTREE, attributes=attributes,
                                                  paged_size=PAGE_SIZE, generator=True)
        for item in pages:
            if item.get("type") == "searchResEntry":
                yield item
    if conn.result and conn.result.get("result") not in (0, NO_OBJECT):
        _check(conn.result, "search")


@contextmanager
def _faults() -> Iterator[None]:
    try:
        yield
    except LDAPStartTLSError as error:
        raise Refused(f"StartTLS failed ({type(error).__name__})") from None
    except LDAPCommunicationError as error:
        if "certificate" in str(error).lower():
            raise Refused("the directory's TLS certificate is not trusted (settings.ca_certificates)") from None
        raise Transient(f"LDAP directory unreachable ({type(error).__name__})") from None
    except LDAPException as error:
        raise Refused(f"LDAP failure ({type(error).__name__})") from None


def _check(result: dict, what: str) -> None:
    code = int(result.get("result", 0))
    if code == 0:
        return
    _raise(result, what)


def _raise(result: dict, what: str) -> None:
    code = int(result.get("result", 80))
    note = f"LDAP {what}: {result.get('description', code)}"
    if code in TRANSIENT_RESULTS:
        raise Transient(note)
    raise Refused(f"{note}; {RIGHTS[code]}" if code in RIGHTS else note)


def _lock_attributes(settings: LdapSettings) -> list[str]:
    return ["userAccountControl"] if settings.flavour == "ad" else ["pwdAccountLockedTime"]


def _active(entry: dict, settings: LdapSettings) -> bool:
    if settings.flavour == "ad":
        return not _flags(entry) & ACCOUNTDISABLE
    return not entry["attributes"].get("pwdAccountLockedTime")


def _flags(entry: dict | None) -> int:
    value = (entry or {}).get("attributes", {}).get("userAccountControl")
    value = value[0] if isinstance(value, list) and value else value
    return int(value) if value not in (None, []) else NORMAL_ACCOUNT


def _immutable(entry: dict) -> str | None:
    for name in ("entryUUID", "objectGUID"):
        value = entry.get("attributes", {}).get(name)
        value = value[0] if isinstance(value, list) and value else value
        if value:
            return str(value).strip("{}")
    return None


def _id_filter(external_id: str, flavour: Flavour) -> str:
    if flavour.immutable_id == "objectGUID":
        try:
            return escape_bytes(uuid.UUID(external_id).bytes_le)
        except ValueError:
            raise Refused("the kept objectGUID is not a GUID") from None
    return escape_filter_chars(external_id)


def _account(entry: dict, flavour: Flavour, settings: LdapSettings, groups_of: dict[str, list[str]]) -> dict:
    attributes = entry["attributes"]
    person_id = attributes.get(flavour.person_id)
    mail = attributes.get("mail")
    return {
        "person_id": person_id[0] if isinstance(person_id, list) else person_id,
        "email": (mail[0] if mail else None) if isinstance(mail, list) else mail,
        "entitlements": sorted(groups_of.get(entry["dn"].lower(), [])),
        "active": _active(entry, settings),
        "external_id": _immutable(entry),
    }


def _group_dn(entitlement: str) -> str:
    problem = entitlement_problem("ldap", entitlement)
    if problem or not entitlement.startswith("group:"):
        raise Refused(f"entitlement {entitlement[:80]!r} {problem or 'is not a group'}")
    return entitlement.removeprefix("group:")


def _done(note: str, entry: dict | None) -> Outcome:
    return Outcome(OrderState.executed, note, _immutable(entry) if entry else None)


def _gone(note: str, entry: dict | None) -> Outcome:
    return Outcome(OrderState.verified, note, _immutable(entry) if entry else None)


def _short(entry: dict) -> str:
    return short_id(_immutable(entry) or "?")
