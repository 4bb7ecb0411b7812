"""The SCIM 2.0 connector: a person's account is a User, an entitlement a Group membership.

Settings: `url` (the SCIM base URL, e.g. https://app.example/scim/v2; checked by
shared/outbound.py), `token_env` (the name of the environment variable holding a bearer
token, `ROSTER_TARGET_SECRET_*`; optional), `timeout_seconds` (10),
`retries` (3).

Every action is idempotent, so a retried or redelivered order does no harm: the account is
found by its id, else by `externalId` (the person id), else by `userName`, before anything
is created. After each change the user or group is read back: the order is Verified when
the server shows the intended state, Errored ("read-back disagrees") when it does not.
The server is described, not discovered: Users at /Users (with the enterprise extension),
Groups at /Groups, as RFC 7644 names them; a server without PATCH gets a PUT instead.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from pydantic import ValidationError
from scim2_client import (
    BaseSyncSCIMClient,
    RequestNetworkException,
    SCIMClientException,
    UnexpectedStatusCodeException,
)
from scim2_models import (
    ConflictException,
    Email,
    EnterpriseUser,
    Group,
    GroupMember,
    Name,
    NotFoundException,
    NotImplementedException,
    PatchOp,
    PatchOperation,
    Resource,
    ResourceType,
    SCIMException,
    ScimProvider,
    SearchRequest,
    User,
)

from shared import secrets
from shared.connectors import pool
from shared.connectors.base import (
    USER_AGENT,
    ConnectorError,
    HttpSettings,
    Outcome,
    Refused,
    Sleep,
    Transient,
    errored,
    is_transient_status,
    once,
    retry_after,
    retrying,
    transport_fault,
)
from shared.models.person import Person
from shared.models.provisioning import Order, OrderState, ScimStep, Target

log = logging.getLogger(__name__)

ScimUser = User[EnterpriseUser]
PROVIDER = ScimProvider(
    models=(User, EnterpriseUser, Group),
    resource_types=(ResourceType.from_resource(ScimUser), ResourceType.from_resource(Group)),
)
PAGE_SIZE = 100
MAX_PAGES = 1000  # 100 000 resources: a guard against a server whose paging never ends


class HttpxScimClient(BaseSyncSCIMClient):
    """scim2-client over an `httpx.Client` (the engine scim2-client ships is for httpx2)."""

    def __init__(self, client: httpx.Client, **kwargs: Any):
        super().__init__(**kwargs)
        self.client = client

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.client.request(method, url, **kwargs)
        except httpx.RequestError as error:
            raise RequestNetworkException() from error


class ScimConnector:
    """One attempt per order; a listing (`accounts`) retries in place with `sleep`."""

    def __init__(
        self,
        *,
        clock: Any = None,
        sleep: Sleep = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ):
        self.sleep = sleep
        self.transport = transport

    def execute(
        self, target: Target, order: Order, person: Person, external_id: str | None
    ) -> Outcome:
        try:
            settings = HttpSettings.read(target.settings)
            headers = auth_headers(target.settings)
            step = _step(order)
        except Refused as refused:
            log.warning("scim order %s not carried out: %s", order.id, refused.note)
            return errored(refused.note)
        account = _Account(self._client(target, settings, headers), person, external_id)

        def attempt() -> Outcome:
            with scim_faults():
                return step(account)

        outcome = once(attempt)
        if outcome.state in (OrderState.errored, OrderState.pending):
            log.warning("scim order %s: %s", order.id, outcome.note)
        return outcome

    def accounts(self, target: Target) -> list[dict]:
        """Every User with the Groups it is a direct member of. Raises ConnectorError."""
        try:
            settings = HttpSettings.read(target.settings)
            scim = self._client(target, settings, auth_headers(target.settings))

            def attempt() -> list[dict]:
                with scim_faults():
                    return _listing(scim)

            return retrying(attempt, retries=settings.retries, sleep=self.sleep)
        except Refused as refused:
            raise ConnectorError(refused.note) from None

    def _client(self, target: Target, settings: HttpSettings, headers: dict[str, str]) -> HttpxScimClient:
        """A SCIM client over the target's pooled HTTP client (shared/connectors/pool.py)."""
        client = pool.client_for(target.id, url=settings.url, base_url=settings.url, headers=headers,
                                 timeout=settings.timeout, concurrency=settings.concurrency,
                                 transport=self.transport)
        return HttpxScimClient(client, provider=PROVIDER)


class _Account:
    """One person's account in one SCIM server, for the length of one order."""

    def __init__(self, scim: HttpxScimClient, person: Person, external_id: str | None):
        self.scim = scim
        self.person = person
        self.external_id = external_id

    # -- actions ---------------------------------------------------------------------------

    def create(self) -> Outcome:
        user, verb = self._existing(), "adopted"
        if user is None:
            try:
                user, verb = self.scim.create(self._new_user()), "created"
            except ConflictException:  # made meanwhile, or its userName is taken
                user = self._one(ScimUser, eq_filter("userName", self._user_name))
                if user is None:
                    raise
        if user.external_id not in (None, self.person.id):
            raise Refused("the SCIM user with this userName has another externalId")
        changes = {}
        if user.active is False:
            changes["active"] = True
        if user.external_id is None:
            changes["externalId"] = self.person.id
        if changes:
            self._replace_attributes(user.id, changes)
        back = self._read_user(user.id)
        if back is not None and back.active is not False and back.external_id == self.person.id:
            return self._verified(f"SCIM user {short_id(user.id)} {verb}, read back", user.id)
        return self._disagrees(user.id)

    def grant(self, entitlement: str) -> Outcome:
        uid = self._user_id()
        if uid is None:
            raise Refused("no SCIM user for this person: create the account first")
        group = self._group(entitlement) or self._new_group(entitlement)
        if _is_member(group, uid):
            verb = "already in"
        else:
            self._add_member(group, uid)
            verb = "added to"
        if _is_member(self.scim.query(Group, group.id), uid):
            return self._verified(
                f"SCIM user {short_id(uid)} {verb} group {entitlement!r}, read back", uid
            )
        return self._disagrees(uid)

    def revoke(self, entitlement: str) -> Outcome:
        uid = self._user_id()
        if uid is None:
            return self._verified("no SCIM user for this person: nothing to revoke", None)
        group = self._group(entitlement)
        if group is None:
            return self._verified(f"no group {entitlement!r}: nothing to revoke", uid)
        if not _is_member(group, uid):
            return self._verified(f"SCIM user {short_id(uid)} not in group {entitlement!r}", uid)
        self._remove_member(group, uid)
        if _is_member(self.scim.query(Group, group.id), uid):
            return self._disagrees(uid)
        return self._verified(
            f"SCIM user {short_id(uid)} removed from group {entitlement!r}, read back", uid
        )

    def set_active(self, active: bool) -> Outcome:
        uid = self._user_id()
        if uid is None:
            if active:
                raise Refused("no SCIM user for this person to restore")
            return self._verified("no SCIM user for this person: nothing to deactivate", None)
        self._replace_attributes(uid, {"active": active})
        back = self._read_user(uid)
        if back is not None and (back.active is not False) == active:
            verb = "reactivated" if active else "deactivated"
            return self._verified(f"SCIM user {short_id(uid)} {verb}, read back", uid)
        return self._disagrees(uid)

    def update(self) -> Outcome:
        uid = self._user_id()
        if uid is None:
            raise Refused("no SCIM user for this person to update")
        wanted = self._new_user()
        self._replace_attributes(
            uid, {"displayName": wanted.display_name, "name": wanted.name, "emails": wanted.emails}
        )
        back = self._read_user(uid)
        if (
            back is not None
            and back.display_name == wanted.display_name
            and _addresses(back) == _addresses(wanted)
        ):
            return self._verified(f"SCIM user {short_id(uid)} updated, read back", uid)
        return self._disagrees(uid)

    def delete(self) -> Outcome:
        uid = self._user_id()
        if uid is None:
            return self._verified("no SCIM user for this person: nothing to delete", None)
        try:
            self.scim.delete(ScimUser, uid)
            verb = "deleted"
        except NotFoundException:
            verb = "already gone"
        if self._read_user(uid) is None:
            return self._verified(f"SCIM user {short_id(uid)} {verb}, read back", uid)
        return self._disagrees(uid)

    # -- finding -----------------------------------------------------------------------------

    @property
    def _user_name(self) -> str:
        return user_name_of(self.person)

    def _user_id(self) -> str | None:
        """The id Roster knows, trusted as is (a stale one gets the server's 404), else found."""
        if self.external_id:
            return self.external_id
        user = self._one(ScimUser, eq_filter("externalId", self.person.id))
        return None if user is None else user.id

    def _existing(self) -> Any:
        """The person's user, however the server knows it; None when it has none."""
        if self.external_id and (user := self._read_user(self.external_id)) is not None:
            return user
        return self._one(ScimUser, eq_filter("externalId", self.person.id)) or self._one(
            ScimUser, eq_filter("userName", self._user_name)
        )

    def _read_user(self, uid: str) -> Any:
        try:
            return self.scim.query(ScimUser, uid)
        except NotFoundException:
            return None

    def _group(self, name: str) -> Group | None:
        return self._one(Group, eq_filter("displayName", name))

    def _one(self, model: type[Resource[Any]], filter: str) -> Any:
        found = self.scim.query(model, query_parameters=SearchRequest(filter=filter, count=2))
        resources = found.resources or []
        if len(resources) > 1:
            raise Refused(f"several SCIM {model.__name__.split('[')[0]}s match {filter.split()[0]}")
        return resources[0] if resources else None

    # -- changing ----------------------------------------------------------------------------

    def _new_user(self) -> Any:
        return new_user(self.person)

    def _new_group(self, name: str) -> Group:
        try:
            return self.scim.create(Group(display_name=name))
        except ConflictException:  # another order made it meanwhile
            group = self._group(name)
            if group is None:
                raise
            return group

    def _replace_attributes(self, uid: str, values: dict[str, Any]) -> None:
        operations = [
            PatchOperation[ScimUser](op="replace", path=path, value=value)
            for path, value in values.items()
        ]

        def put(user: Any) -> None:
            for path, value in values.items():
                setattr(user, _FIELDS[path], value)

        self._patch_or_put(ScimUser, uid, operations, put)

    def _add_member(self, group: Group, uid: str) -> None:
        operation = PatchOperation[Group](op="add", path="members", value=[{"value": uid}])

        def put(current: Group) -> None:
            current.members = [*(current.members or []), GroupMember(value=uid)]

        self._patch_or_put(Group, group.id, [operation], put)

    def _remove_member(self, group: Group, uid: str) -> None:
        operation = PatchOperation[Group](op="remove", path=f"members[{eq_filter('value', uid)}]")

        def put(current: Group) -> None:
            current.members = [m for m in current.members or [] if m.value != uid]

        self._patch_or_put(Group, group.id, [operation], put)

    def _patch_or_put(
        self, model: Any, rid: str, operations: list[PatchOperation], change: Callable[[Any], None]
    ) -> None:
        """PATCH; on a server that has no PATCH (501, 405), read, change and PUT the resource."""
        try:
            self.scim.modify(model, rid, PatchOp[model](operations=operations))
            return
        except NotImplementedException:
            pass
        except UnexpectedStatusCodeException as error:
            if _status(error) not in (405, 501):
                raise
        current = self.scim.query(model, rid)
        change(current)
        self.scim.replace(current)

    # -- outcomes ----------------------------------------------------------------------------

    @staticmethod
    def _verified(note: str, uid: str | None) -> Outcome:
        return Outcome(OrderState.verified, note, uid)

    @staticmethod
    def _disagrees(uid: str) -> Outcome:
        return Outcome(OrderState.errored, f"SCIM user {short_id(uid)}: read-back disagrees", uid)


def user_name_of(person: Person) -> str:
    """The userName of a person's SCIM user: the primary email, else the person id."""
    return person.primary_email or person.id


def new_user(person: Person) -> Any:
    """The SCIM user Roster makes for a person (externalId: the person id)."""
    return ScimUser(
        user_name=user_name_of(person),
        external_id=person.id,
        name=Name(given_name=person.names.given, family_name=person.names.family),
        display_name=person.names.display,
        emails=[
            Email(value=email.address, type=email.type, primary=index == 0)
            for index, email in enumerate(person.emails)
        ],
        active=True,
    )


_FIELDS = {"active": "active", "externalId": "external_id", "displayName": "display_name",
           "name": "name", "emails": "emails"}  # fmt: skip

_STEPS: dict[ScimStep, Callable[[_Account, str], Outcome]] = {
    ScimStep.create: lambda account, _: account.create(),
    ScimStep.add_to_group: _Account.grant,
    ScimStep.remove_from_group: _Account.revoke,
    ScimStep.deactivate: lambda account, _: account.set_active(False),
    ScimStep.activate: lambda account, _: account.set_active(True),
    ScimStep.delete: lambda account, _: account.delete(),
    ScimStep.update: lambda account, _: account.update(),
}  # which action takes which step: its `scim` trait (shared/models/provisioning.py)


def _step(order: Order) -> Callable[[_Account], Outcome]:
    step = order.action.traits.scim
    found = _STEPS.get(step) if step else None
    if found is None:
        raise Refused(f"the scim connector does not carry out {order.action.value}")
    return lambda account: found(account, order.entitlement)


def _listing(scim: HttpxScimClient) -> list[dict]:
    groups_of: dict[str, list[str]] = defaultdict(list)
    for group in _all(scim, Group):
        for member in group.members or []:
            if member.value and group.display_name:
                groups_of[member.value].append(group.display_name)
    return [
        {
            "person_id": user.external_id,
            "email": _primary_address(user),
            "entitlements": sorted(groups_of.get(user.id, [])),
            "active": user.active is not False,
            "external_id": user.id,
        }
        for user in _all(scim, ScimUser)
    ]


def _all(scim: HttpxScimClient, model: Any) -> list[Any]:
    items: list[Any] = []
    for _ in range(MAX_PAGES):
        page = scim.query(
            model, query_parameters=SearchRequest(start_index=len(items) + 1, count=PAGE_SIZE)
        )
        resources = page.resources or []
        items.extend(resources)
        if not resources or len(items) >= (page.total_results or 0):
            return items
    raise Refused(f"SCIM listing longer than {MAX_PAGES} pages")


@contextmanager
def scim_faults() -> Iterator[None]:
    """The SCIM client's exceptions as Transient (worth another attempt) or Refused."""
    try:
        yield
    except RequestNetworkException as error:
        cause = error.__cause__
        if isinstance(cause, httpx.TransportError):
            raise Transient(f"SCIM {transport_fault(cause).note}") from error
        raise Refused(f"SCIM request failed ({type(cause).__name__})") from error
    except SCIMException as error:  # the server's SCIM error (or the client's own check)
        status = int(getattr(error, "status", 400) or 400)
        note = f"SCIM {status}" + (f" {error.scim_type}" if getattr(error, "scim_type", "") else "")
        if is_transient_status(status):
            raise Transient(note, _retry_after(error)) from error
        raise Refused(note) from error
    except UnexpectedStatusCodeException as error:  # an answer without a SCIM error in it
        status = _status(error)
        if status is not None and is_transient_status(status):
            raise Transient(f"SCIM {status}", _retry_after(error)) from error
        raise Refused(f"SCIM {status or 'unexpected status'}") from error
    except SCIMClientException as error:
        raise Refused(f"SCIM response not understood ({type(error).__name__})") from error
    except ValidationError as error:  # the person does not fit the SCIM model
        fields = sorted({str(e["loc"][0]) for e in error.errors() if e.get("loc")})
        raise Refused("person data does not fit the SCIM model: " + ", ".join(fields)) from None


def _status(error: Exception) -> int | None:
    source = getattr(error, "source", None)
    return source.status_code if isinstance(source, httpx.Response) else None


def _retry_after(error: Exception) -> float | None:
    source = getattr(error, "source", None)
    return retry_after(source) if isinstance(source, httpx.Response) else None


def auth_headers(settings: dict[str, Any]) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT}
    name = settings.get("token_env")
    if name:
        try:
            token = secrets.secret(name, "settings.token_env")
        except secrets.SecretRefused as refused:
            raise Refused(f"{refused.detail} (the SCIM token)") from None
        headers["Authorization"] = f"Bearer {token}"
    return headers


def eq_filter(attribute: str, value: str) -> str:
    """A filter `attribute eq "value"`, the value quoted as a JSON string (RFC 7644 §3.4.2.2)."""
    return f"{attribute} eq {json.dumps(value, ensure_ascii=False)}"


def _is_member(group: Group, uid: str) -> bool:
    return any(member.value == uid for member in group.members or [])


def _addresses(user: Any) -> set[str]:
    return {str(email.value).lower() for email in user.emails or [] if email.value}


def _primary_address(user: Any) -> str | None:
    emails = [email for email in user.emails or [] if email.value]
    primary = next((email for email in emails if email.primary), emails[0] if emails else None)
    return str(primary.value) if primary else None


def short_id(uid: str) -> str:
    return uid if len(uid) <= 8 else uid[:5] + "…"
