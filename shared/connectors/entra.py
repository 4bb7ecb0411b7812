"""The `entra` connector: Microsoft Entra ID through Microsoft Graph v1.0 (docs/targets.md).

Entitlements: `account` → the person's user; `group:<object id>` → membership of that group;
`license:<sku id>` → that licence. Actions: create_account creates the user (UPN from the
target's account template and domain) or, for a person whose affiliation types are all in
`external_types`, invites a guest; suspend disables the user and revokes its sign-in
sessions in one `$batch`; restore enables; disable_account disables; delete_account
deletes; grant / revoke add or remove the membership or licence.

Every step is idempotent. A user Roster made carries the person id in an on-premises
extension attribute (`person_id_attribute`); a create that is tried again finds the user
by the object id kept on the assignment, else by walking the template's UPN candidates
and reading that attribute, and never makes a second one. Adding a member it has already,
removing one it lacks, disabling a disabled user, deleting a deleted one: all succeed.
One attempt per delivery, nothing waits in the process: 429, 503 and an unreachable Graph
are a transient outcome carrying Retry-After (the order is scheduled again,
shared/services/redelivery.py); 403 names the missing permission and errors the order.
Reconciliation reads `users/delta` and `groups/delta` from the cursor Roster keeps.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from shared.connectors.base import ConnectorError, Outcome, Refused, Transient, once
from shared.connectors.directory import directory_step, read_settings, short_id
from shared.connectors.graph import (
    INVITE,
    MEMBERS,
    USERS,
    VERSION,
    GraphSession,
    Reply,
    Request,
    check,
    session,
)
from shared.models.account_template import AccountTemplate
from shared.models.person import Person
from shared.models.provisioning import Order, OrderState, Target
from shared.models.target_settings import EntraSettings, entitlement_problem

USER_FIELDS = "id,accountEnabled,userPrincipalName,mail,onPremisesExtensionAttributes,assignedLicenses"
MAX_PAGES = 10_000  # a delta whose paging never ends is refused


def settings_of(target: Target) -> EntraSettings:
    return read_settings(EntraSettings, target)


class EntraConnector:
    def __init__(self, *, clock: Any = None, transport: httpx.BaseTransport | None = None):
        self.transport = transport  # the clock is not needed: Graph keeps the times

    def execute(self, target: Target, order: Order, person: Person, external_id: str | None) -> Outcome:
        def work() -> Outcome:
            settings = settings_of(target)
            step = directory_step("entra", order, _entitlement)
            with session(settings, self.transport, target.id) as graph:
                return step(_User(graph, settings, person, external_id))

        return once(work)

    def delta(self, target: Target, cursor: dict[str, str], groups: set[str]) -> Delta:
        """Users and memberships changed since `cursor` (everything, without one). Only the
        memberships of `groups` are reported. Raises ConnectorError."""
        try:
            settings = settings_of(target)
            with session(settings, self.transport, target.id) as graph:
                users, user_link = _follow(graph, cursor.get("users") or
                                           f"/{VERSION}/users/delta?$select={USER_FIELDS}", USERS)
                start = cursor.get("groups") or f"/{VERSION}/groups/delta?$select=id,members"
                changed, group_link = _follow(graph, start, MEMBERS)
        except (Refused, Transient) as fault:
            raise ConnectorError(fault.note) from None
        delta = Delta(cursor={"users": user_link, "groups": group_link}, full="users" not in cursor)
        for item in users:
            delta.add_user(item, settings.person_id_attribute)
        for item in changed:
            if item.get("id") in groups:
                delta.add_members(item)
        return delta


@dataclass
class Delta:
    """What changed in the tenant: users (None when removed), membership changes."""

    cursor: dict[str, str]
    full: bool  # no cursor was given: this is the whole tenant
    users: dict[str, dict | None] = field(default_factory=dict)
    joined: list[tuple[str, str]] = field(default_factory=list)  # (user id, group id)
    left: list[tuple[str, str]] = field(default_factory=list)

    def add_user(self, item: dict, marker: str) -> None:
        if "@removed" in item:
            self.users[item["id"]] = None
            return
        extension = item.get("onPremisesExtensionAttributes") or {}
        self.users[item["id"]] = {
            "person_id": extension.get(marker),
            "email": item.get("mail"),
            "active": item.get("accountEnabled") is not False,
            "licenses": sorted(str(x.get("skuId", "")).lower() for x in item.get("assignedLicenses") or []),
        }

    def add_members(self, item: dict) -> None:
        gid = str(item["id"]).lower()
        for member in item.get("members@delta") or []:
            pair = (str(member.get("id")), gid)
            (self.left if "@removed" in member else self.joined).append(pair)


class _User:
    """One person's user in one tenant, for the length of one order."""

    def __init__(self, graph: GraphSession, settings: EntraSettings, person: Person, external_id: str | None):
        self.graph = graph
        self.settings = settings
        self.person = person
        self.external_id = external_id

    # -- actions ---------------------------------------------------------------------------

    def create(self) -> Outcome:
        found = self._find()
        if found is not None:
            if found.get("accountEnabled") is False:
                self._set_enabled(found["id"], True)
            return _done(f"Entra user {short_id(found['id'])} adopted", found["id"])
        if self._is_guest():
            return self._invite()
        template = AccountTemplate(self.settings.account_template)
        for login in template.candidates(self.person):
            upn = f"{login}@{self.settings.domain}"
            reply = self.graph.send([Request("GET", f"/users/{quote(upn)}?$select={USER_FIELDS}")])[0]
            if reply.status == 404:
                created = self.graph.call(Request("POST", "/users", self._new_user(login, upn)))
                return _done(f"Entra user {short_id(created.body['id'])} created", created.body["id"])
            check_found(reply, "GET", "/users/{upn}")
            if self._is_ours(reply.body):  # made by an earlier attempt of this order
                return _done(f"Entra user {short_id(reply.body['id'])} adopted", reply.body["id"])
        raise Refused("every UPN the account template offers is taken")

    def set_enabled(self, enabled: bool, revoke_sessions: bool = False) -> Outcome:
        uid = self._user_id()
        if uid is None:
            if enabled:
                raise Refused("no Entra user for this person to restore")
            return _gone("no Entra user for this person: nothing to disable", None)
        requests = [_enable(uid, enabled)]
        if revoke_sessions:
            requests.append(Request("POST", f"/users/{uid}/revokeSignInSessions"))
        replies = self.graph.send(requests)
        if replies[0].status == 404 and not enabled:
            return _gone(f"Entra user {short_id(uid)} no longer exists: nothing to disable", uid)
        check_all(replies, requests)
        verb = "enabled" if enabled else "disabled" + (", sessions revoked" if revoke_sessions else "")
        return _done(f"Entra user {short_id(uid)} {verb}", uid)

    def delete(self) -> Outcome:
        uid = self._user_id()
        if uid is None:
            return _gone("no Entra user for this person: nothing to delete", None)
        reply = self.graph.send([Request("DELETE", f"/users/{uid}")])[0]
        if reply.status == 404:
            return _gone(f"Entra user {short_id(uid)} was deleted already", uid)
        check_all([reply], [Request("DELETE", "/users/{id}")])
        return _done(f"Entra user {short_id(uid)} deleted", uid)

    def grant(self, entitlement: str) -> Outcome:
        uid = self._user_id()
        if uid is None:
            raise Refused("no Entra user for this person: create the account first")
        kind, value = _entitlement(entitlement)
        if kind == "license":
            return self._license(uid, value, add=True)
        ref = {"@odata.id": f"{self.settings.graph_url}/{VERSION}/directoryObjects/{uid}"}
        request = Request("POST", f"/groups/{value}/members/$ref", ref, MEMBERS)
        reply = self.graph.send([request])[0]
        if reply.status == 400 and "already exist" in reply.message:
            return _done(f"Entra user {short_id(uid)} already in group {short_id(value)}", uid)
        check_all([reply], [request])
        return _done(f"Entra user {short_id(uid)} added to group {short_id(value)}", uid)

    def revoke(self, entitlement: str) -> Outcome:
        uid = self._user_id()
        if uid is None:
            return _gone("no Entra user for this person: nothing to revoke", None)
        kind, value = _entitlement(entitlement)
        if kind == "license":
            return self._license(uid, value, add=False)
        request = Request("DELETE", f"/groups/{value}/members/{uid}/$ref", None, MEMBERS)
        reply = self.graph.send([request])[0]
        if reply.status == 404:
            return _gone(f"Entra user {short_id(uid)} not in group {short_id(value)}", uid)
        check_all([reply], [request])
        return _done(f"Entra user {short_id(uid)} removed from group {short_id(value)}", uid)

    # -- pieces ----------------------------------------------------------------------------

    def _license(self, uid: str, sku: str, add: bool) -> Outcome:
        user = self.graph.call(Request("GET", f"/users/{uid}?$select=id,assignedLicenses"))
        held = {str(x.get("skuId", "")).lower() for x in user.body.get("assignedLicenses") or []}
        if (sku in held) == add:
            return _done(f"Entra user {short_id(uid)} {'has' if add else 'lacks'} licence {short_id(sku)} already", uid)
        body = {"addLicenses": [{"skuId": sku, "disabledPlans": []}] if add else [],
                "removeLicenses": [] if add else [sku]}
        self.graph.call(Request("POST", f"/users/{uid}/assignLicense", body))
        return _done(f"Entra user {short_id(uid)} licence {short_id(sku)} {'assigned' if add else 'removed'}", uid)

    def _invite(self) -> Outcome:
        email = self.person.primary_email
        if not email:
            raise Refused("an external person needs an email address to be invited")
        body = {"invitedUserEmailAddress": email, "inviteRedirectUrl": self.settings.invite_redirect_url,
                "sendInvitationMessage": True, "invitedUserDisplayName": self.person.names.display}
        invited = self.graph.call(Request("POST", "/invitations", body, INVITE))
        uid = str((invited.body.get("invitedUser") or {}).get("id", ""))
        if not uid:
            raise Refused("Graph invitation answered without the invited user's id")
        self.graph.call(Request("PATCH", f"/users/{uid}", {"onPremisesExtensionAttributes": self._marker()}))
        return _done(f"Entra guest {short_id(uid)} invited", uid)

    def _new_user(self, login: str, upn: str) -> dict[str, Any]:
        names = self.person.names
        body: dict[str, Any] = {
            "accountEnabled": True,
            "displayName": names.display,
            "givenName": names.preferred or names.given,
            "surname": names.family,
            "mailNickname": login,
            "userPrincipalName": upn,
            # Roster never knows it: the person sets their own (Temporary Access Pass, SSPR)
            "passwordProfile": {"forceChangePasswordNextSignIn": True, "password": _password()},
            "onPremisesExtensionAttributes": self._marker(),
        }
        if self.settings.usage_location:
            body["usageLocation"] = self.settings.usage_location
        return body

    def _find(self) -> dict | None:
        """The person's user, by the id Roster kept, else as a guest by address."""
        if self.external_id:
            reply = self.graph.send([Request("GET", f"/users/{self.external_id}?$select={USER_FIELDS}")])[0]
            if reply.status != 404:
                return check_found(reply, "GET", "/users/{id}").body
        if self._is_guest() and self.person.primary_email:
            address = self.person.primary_email.replace("'", "''")
            found = self.graph.call(Request("GET", f"/users?$filter=mail eq '{quote(address)}'&$select={USER_FIELDS}"))
            for user in found.body.get("value") or []:
                return user
        return None

    def _user_id(self) -> str | None:
        if self.external_id:
            return self.external_id
        template = AccountTemplate(self.settings.account_template)
        for login in template.candidates(self.person):
            upn = f"{login}@{self.settings.domain}"
            reply = self.graph.send([Request("GET", f"/users/{quote(upn)}?$select={USER_FIELDS}")])[0]
            if reply.status == 404:
                return None
            if self._is_ours(check_found(reply, "GET", "/users/{upn}").body):
                return reply.body["id"]
        return None

    def _set_enabled(self, uid: str, enabled: bool) -> None:
        self.graph.call(_enable(uid, enabled))

    def _is_ours(self, user: dict) -> bool:
        extension = user.get("onPremisesExtensionAttributes") or {}
        return extension.get(self.settings.person_id_attribute) == self.person.id

    def _is_guest(self) -> bool:
        types = {a.type for a in self.person.affiliations}
        external = set(self.settings.external_types)
        return bool(types) and bool(external) and types <= external

    def _marker(self) -> dict[str, str]:
        return {self.settings.person_id_attribute: self.person.id}


def check_found(reply: Reply, method: str, url: str) -> Reply:
    return check(reply, Request(method, url))


def check_all(replies: list[Reply], requests: list[Request]) -> None:
    """Every reply a success, else the first fault (transient ones before the others)."""
    faults: list[Exception] = []
    for reply, request in zip(replies, requests, strict=True):
        try:
            check(reply, request)
        except (Transient, Refused) as fault:
            faults.append(fault)
    transient = [f for f in faults if isinstance(f, Transient)]
    if transient:
        waits = [f.retry_after for f in transient if f.retry_after is not None]
        raise Transient(transient[0].note, max(waits) if waits else None)
    if faults:
        raise faults[0]


def _follow(graph: GraphSession, start: str, permission: str) -> tuple[list[dict], str]:
    """Every item of a delta from `start`, and the deltaLink to start from next time."""
    items: list[dict] = []
    url = start
    for _ in range(MAX_PAGES):
        page = graph.get_url(url, permission).body
        items.extend(page.get("value") or [])
        if page.get("@odata.deltaLink"):
            return items, str(page["@odata.deltaLink"])
        url = str(page.get("@odata.nextLink") or "")
        if not url:
            raise Refused("Graph delta ended without a deltaLink")
    raise Refused(f"Graph delta longer than {MAX_PAGES} pages")


def _enable(uid: str, enabled: bool) -> Request:
    return Request("PATCH", f"/users/{uid}", {"accountEnabled": enabled})


def _entitlement(entitlement: str) -> tuple[str, str]:
    problem = entitlement_problem("entra", entitlement)
    if problem or entitlement == "account":
        raise Refused(f"entitlement {entitlement[:80]!r} {problem or 'is not a group or licence'}")
    kind, _, value = entitlement.partition(":")
    return kind, value.lower()


def _done(note: str, uid: str | None) -> Outcome:
    return Outcome(OrderState.executed, note, uid)


def _gone(note: str, uid: str | None) -> Outcome:
    return Outcome(OrderState.verified, note, uid)


def _password() -> str:
    """A random password meeting Entra's complexity rules, thrown away at once."""
    return secrets.token_urlsafe(24) + "aA1!"
