"""Roster's store as a `scim2-server` storage (docs/scim.md, "SCIM service").

Users are Roster's persons. A SCIM client writes as its own source (`scim-<caller>`):
what it last wrote about a person is its record (what it reads back), and through the
source's mapping that record is a `PersonUpdate` applied by the usual chain. A person the
client never wrote is shown as Roster knows it. DELETE ends the client's affiliation now
(deprovisioning follows) and forgets its record: the person is gone for that client (404)
while Roster keeps them. Groups are Roster's groups and their members, read-only.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from scim2_models import (
    ConflictException,
    Context,
    InvalidValueException,
    Meta,
    NotFoundException,
    PreconditionFailedException,
    Resource,
    ResourceType,
    ResponseParameters,
    SCIMException,
    ScimFilter,
    ScimProvider,
    SearchRequest,
    UniquenessException,
)
from scim2_models.path import CompareOperator, Comparison
from scim2_server.errors import MethodNotAllowedException
from scim2_server.storage import ScimStorage, SearchPage

from shared.errors import Busy, Conflict, InvalidInput, NotFound
from shared.models.person import Person
from shared.models.scim import CORE
from shared.runtime import Runtime
from shared.services import search as person_search
from shared.services.chain import register_now
from shared.services.groups import get_group, list_groups, members
from shared.services.scim.mapping import mapping_for, to_update
from shared.store.persons import PersonRepository
from shared.store.port import EntityExists, ETagMismatch
from shared.store.scim import MappingRepository, RecordRepository, ScimRecord

READ_ONLY = "Groups are read-only here: Roster's groups are managed at /api/groups"
WRITE_ONLY = ("password",)
INDEX_LIMIT = 500  # more persons than this behind one userName prefix: scan instead  # never stored: Roster holds no passwords


class BusyException(SCIMException):
    status = 503
    _default_detail = "the person is being changed by others; retry"


class RosterStorage(ScimStorage):
    """One request's view of the store, for the client `source` acting as `actor`."""

    def __init__(self, rt: Runtime, provider: ScimProvider, source: str, actor: str):
        self.rt, self.provider, self.source, self.actor = rt, provider, source, actor
        self.persons = PersonRepository(rt.store)
        self.records = RecordRepository(rt.store)

    # -- reads ----------------------------------------------------------

    def get(self, resource_type: ResourceType, resource_id: str, *,
            response_parameters: ResponseParameters[Any] | None = None) -> Resource[Any]:
        if resource_type.name == "Group":
            return self._group(resource_type, resource_id)
        record = self.records.get(self.source, resource_id)
        if record is not None:
            if record.deleted:
                raise NotFoundException(detail=f"User {resource_id!r} not found")
            return self._from_record(resource_type, record)
        stored = self.persons.get(resource_id)
        if stored is None:
            raise NotFoundException(detail=f"User {resource_id!r} not found")
        return self._from_person(resource_type, stored.person)

    def search(self, resource_types: list[ResourceType], search_request: SearchRequest[Any], *,
               position: Any = None) -> SearchPage:
        found = [r for rt in resource_types for r in self._candidates(rt, search_request)
                 if _matches(search_request, r)]
        found.sort(key=lambda r: _sort_key(search_request, r),
                   reverse=search_request.sort_by is not None
                   and search_request.sort_order == SearchRequest.SortOrder.descending)
        start = search_request.start_index_0 or 0
        stop = None if search_request.count is None else start + search_request.count
        return SearchPage(len(found), found[start:stop])

    # -- writes ---------------------------------------------------------

    def create(self, resource_type: ResourceType, resource: Resource[Any]) -> Resource[Any]:
        _refuse_groups(resource_type)
        document = _document(resource)
        person_id = self._claim_name(_fold(document["userName"]), uuid.uuid4().hex)
        previous = self.records.get(self.source, person_id)
        record = self._write(person_id, document, previous, previous is None or previous.deleted)
        return self._from_record(resource_type, record)

    def update(self, resource_type: ResourceType, resource: Resource[Any], *,
               expected_version: str | None = None) -> Resource[Any]:
        _refuse_groups(resource_type)
        current = self.get(resource_type, str(resource.id))
        _check_version(current, expected_version)
        person_id, document = str(resource.id), _document(resource)
        previous = self.records.get(self.source, person_id)
        old_name = _fold(previous.document.get("userName", "")) if previous else None
        new_name = _fold(document["userName"])
        if new_name != old_name:
            self._claim_name(new_name, person_id, moving=True)
        record = self._write(person_id, document, previous, False)
        if old_name and new_name != old_name:
            self.records.release_name(self.source, old_name, person_id)
        return self._from_record(resource_type, record)

    def delete(self, resource_type: ResourceType, resource_id: str, *, expected_version: str | None = None) -> None:
        _refuse_groups(resource_type)
        current = self.get(resource_type, resource_id)
        _check_version(current, expected_version)
        record = self.records.get(self.source, resource_id)
        if record is None:
            document = _document(current)
        else:
            document = dict(record.document)
            self._register(resource_id, {**document, "active": False})
        now = self.rt.clock.now()
        gone = ScimRecord(resource_id, document, (record.version if record else 0) + 1,
                          record.created if record else now, now, True, record.etag if record else None)
        self._keep(gone)

    # -- helpers --------------------------------------------------------

    def _write(self, person_id: str, document: dict, previous: ScimRecord | None, fresh: bool) -> ScimRecord:
        """Register what the record says, then keep the record: a crash in between leaves the
        person right and the record behind, and the client's retry finishes (docs/scim.md)."""
        self._register(person_id, document)
        now = self.rt.clock.now()
        record = ScimRecord(
            person_id, document, (previous.version if previous else 0) + 1,
            now if fresh or previous is None else previous.created, now, False,
            previous.etag if previous else None,
        )
        self._keep(record)
        return record

    def _keep(self, record: ScimRecord) -> None:
        """Store the record unless another request wrote it meanwhile (409: read and retry)."""
        try:
            self.records.put(self.source, record)
        except (ETagMismatch, EntityExists):
            raise ConflictException(detail="the user was changed at the same time; read it and retry") from None

    def _register(self, person_id: str, document: dict) -> None:
        stored = self.persons.get(person_id)
        mapping = mapping_for(MappingRepository(self.rt.store), self.source)
        try:
            update = to_update(_named(document), mapping, self.source, person_id,
                               stored.person if stored else None, self.rt.clock.now())
            self.persons.claim(self.source, person_id, person_id)
            register_now(self.rt, update, self.actor)
        except InvalidInput as error:
            raise InvalidValueException(detail=error.detail) from None
        except Conflict as error:
            raise UniquenessException(detail=error.detail) from None
        except Busy as error:
            raise BusyException(detail=error.detail) from None

    def _claim_name(self, name: str, person_id: str, moving: bool = False) -> str:
        """The person the userName belongs to for this client: a live record elsewhere is a
        uniqueness conflict; a deleted or unfinished one is taken over (a re-hire, a retry)."""
        owner = self.records.claim_name(self.source, name, person_id)
        if owner == person_id:
            return person_id
        held = self.records.get(self.source, owner)
        if held is not None and not held.deleted:
            raise UniquenessException(detail="userName is already taken")
        if moving:
            self.records.move_name(self.source, name, person_id)
            return person_id
        return owner

    def _candidates(self, resource_type: ResourceType, search_request: SearchRequest[Any]) -> list[Resource[Any]]:
        """Every resource the filter may match: for `userName eq` or `externalId eq` (what
        provisioning clients ask before a create) a few from the indexes, else everyone."""
        if resource_type.name == "Group":
            return [self._group_view(resource_type, g) for g in list_groups(self.rt)]
        ids = self._indexed_ids(search_request)
        found = []
        for person_id in self.persons.all_ids() if ids is None else sorted(ids):
            try:
                found.append(self.get(resource_type, person_id))
            except NotFoundException:
                continue
        return found

    def _indexed_ids(self, search_request: SearchRequest[Any]) -> set[str] | None:
        """A superset of the persons an equality on userName or externalId matches, or None."""
        equality = _equality(search_request)
        if equality is None:
            return None
        attribute, value = equality
        if attribute == "externalid":
            return self.records.with_external_id(self.source, value)
        ids = {self.records.name_owner(self.source, _fold(value)), value}
        token = person_search.fold(value)
        if len(token) >= person_search.MIN_TOKEN:
            by_email = self.persons.ids_with_token_prefix(token, INDEX_LIMIT)
            if len(by_email) >= INDEX_LIMIT:
                return None
            ids |= by_email
        return {i for i in ids if i}

    def _model(self, resource_type: ResourceType) -> type[Resource[Any]]:
        return self.provider.model_for(resource_type)

    def _from_record(self, resource_type: ResourceType, record: ScimRecord) -> Resource[Any]:
        resource = self._model(resource_type).model_validate(record.document)
        resource.id = record.person_id
        resource.meta = Meta(resource_type=resource_type.name, created=record.created,
                             last_modified=record.modified, version=f'W/"{record.version}"')
        return resource

    def _from_person(self, resource_type: ResourceType, person: Person) -> Resource[Any]:
        names = person.names
        document = {
            "schemas": [CORE],
            "userName": person.primary_email or person.id,
            "name": {"givenName": names.given, "familyName": names.family, "formatted": names.display},
            "displayName": names.display,
            "active": person.active_at(self.rt.clock.now(), self.rt.settings.tz),
            "emails": [{"value": e.address, "type": e.type, "primary": i == 0} for i, e in enumerate(person.emails)],
        }
        resource = self._model(resource_type).model_validate(document)
        resource.id = person.id
        resource.meta = Meta(resource_type=resource_type.name, created=person.created_at,
                             last_modified=person.updated_at, version=f'W/"p{person.version}"')
        return resource

    def _group(self, resource_type: ResourceType, group_id: str) -> Resource[Any]:
        try:
            return self._group_view(resource_type, get_group(self.rt, group_id))
        except NotFound:
            raise NotFoundException(detail=f"Group {group_id!r} not found") from None

    def _group_view(self, resource_type: ResourceType, group) -> Resource[Any]:
        people = [{"value": m.person_id, "$ref": f"Users/{m.person_id}", "type": "User"}
                  for m in members(self.rt, group.id)]
        resource = self._model(resource_type).model_validate(
            {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": group.name,
             "members": people or None})
        resource.id = group.id
        resource.meta = Meta(resource_type=resource_type.name, version=f'W/"{group.version}"')
        return resource


def _document(resource: Resource[Any]) -> dict[str, Any]:
    """The record kept for a resource: SCIM JSON without id, meta or write-only secrets."""
    document = resource.model_dump(scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST)
    for name in ("id", "meta", *WRITE_ONLY):
        document.pop(name, None)
    return document


def _named(document: dict[str, Any]) -> dict[str, Any]:
    """SCIM requires only userName, Roster a given and a family name: a user sent without
    them is named after the userName (`jdoe@x.edu` → given `jdoe`, family `(not given)`)."""
    name = document.get("name") or {}
    if name.get("givenName") and name.get("familyName"):
        return document
    local = str(document.get("userName", "")).partition("@")[0] or "unknown"
    filled = {"givenName": name.get("givenName") or local, "familyName": name.get("familyName") or "(not given)"}
    return {**document, "name": {**name, **filled}}


def _fold(user_name: str) -> str:
    """userName is case-insensitive (RFC 7643 §4.1.1)."""
    return user_name.strip().casefold()


def _check_version(current: Resource[Any], expected: str | None) -> None:
    if expected is not None and current.meta is not None and current.meta.version != expected:
        raise PreconditionFailedException(detail="the resource changed since that version (If-Match)")


def _refuse_groups(resource_type: ResourceType) -> None:
    if resource_type.name == "Group":
        raise MethodNotAllowedException(allowed=("GET",), detail=READ_ONLY)


def _equality(search_request: SearchRequest[Any]) -> tuple[str, str] | None:
    """(attribute, value) when the filter is one `userName eq "…"` or `externalId eq "…"`."""
    node = search_request.filter.ast if search_request.filter is not None else None
    if not isinstance(node, Comparison) or node.op != CompareOperator.eq or not isinstance(node.value, str):
        return None
    path = node.attr_path
    attribute = path.attr.lower()
    if path.sub_attr is not None or path.uri not in (None, CORE) or attribute not in ("username", "externalid"):
        return None
    return attribute, node.value


def _matches(search_request: SearchRequest[Any], resource: Resource[Any]) -> bool:
    """A filter bound to several types (a search at the root) is matched as one of them."""
    scim_filter = search_request.filter
    if scim_filter is not None and scim_filter.model is None:
        scim_filter = ScimFilter[type(resource)](str(scim_filter))
    return scim_filter is None or scim_filter.match(resource)


def _sort_key(search_request: SearchRequest[Any], resource: Resource[Any]) -> tuple:
    value = search_request.sort_value(resource) if search_request.sort_by else None
    if isinstance(value, datetime):
        value = value.isoformat()
    return (value is None, str(value) if value is not None else "", str(resource.id))
