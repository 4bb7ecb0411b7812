"""A SCIM User record → a `PersonUpdate` of one source, through that source's mapping.

The record is SCIM JSON as a client sent it (core, enterprise and any custom namespace).
The source keeps one affiliation (`mapping.affiliation_key`): `active: false` ends it now
(or keeps the end it already had), a hire/leave date from the mapping gives start/end.
Bad values raise `InvalidInput` naming the SCIM path.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import ValidationError

from shared.errors import FieldError, InvalidInput
from shared.models.base import parse_moment
from shared.models.person import Affiliation, Person, PersonUpdate
from shared.models.scim import CORE, ENTERPRISE, ScimMapping
from shared.store.audit import audit_entity
from shared.store.scim import MappingRepository

KNOWN_NAMESPACES = {CORE.lower(), ENTERPRISE.lower()}
MAX_ATTRIBUTE = 2000


def mapping_for(repo: MappingRepository, source: str) -> ScimMapping:
    """The source's stored mapping, or the documented default."""
    return repo.get(source) or ScimMapping()


def save_mapping(repo: MappingRepository, source: str, mapping: ScimMapping, actor: str, now) -> ScimMapping:
    audit = audit_entity(f"mapping:{source}", now, actor, "scim.mapping_saved", "mapping edited",
                         {"source": source})
    repo.save(source, mapping, audit)
    return mapping


def lookup(record: dict[str, Any], path: str) -> Any:
    """The value at a SCIM path (attribute names are case-insensitive; a multi-valued
    attribute gives its primary value, else its first)."""
    container: Any = record
    attribute = path
    if path.lower().startswith("urn:"):
        urn, _, attribute = path.rpartition(":")
        container = _get(record, urn)
    for part in attribute.split("."):
        if isinstance(container, list):
            container = _primary(container)
        container = _get(container, part) if isinstance(container, dict) else None
    return container


def to_update(
    record: dict[str, Any], mapping: ScimMapping, source: str, source_id: str, current: Person | None, now: datetime,
) -> PersonUpdate:
    """The `PersonUpdate` a record stands for; `current` supplies the start and end the
    source already gave when the record has none."""
    mine = _current_affiliation(current, source, mapping.affiliation_key)
    affiliation = {
        "key": mapping.affiliation_key,
        "type": mapping.affiliation_type,
        "organization": _organization(record, mapping),
        "title": _text(record, mapping.title),
        "start": _moment(record, mapping.start) or (mine.start if mine else now),
        "end": _end(record, mapping, mine, now),
        "attributes": _attributes(record, mapping.affiliation_attributes) | _unknown(record, mapping),
    }
    names = _names(record)
    if names is None and current is None:
        raise InvalidInput("a new person needs name.givenName and name.familyName (or a two-part displayName)",
                           [FieldError("name.familyName", "required when the person is new")])
    body = {
        "source": source,
        "source_id": source_id,
        "as_of": _moment(record, mapping.as_of) or now,
        "names": names,
        "emails": _emails(record),
        "attributes": _attributes(record, mapping.person_attributes),
        "affiliations": [affiliation],
    }
    if isinstance(body["as_of"], date) and not isinstance(body["as_of"], datetime):
        body["as_of"] = datetime.combine(body["as_of"], datetime.min.time(), tzinfo=now.tzinfo)
    try:
        return PersonUpdate.model_validate(body)
    except ValidationError as error:
        raise _invalid(error) from None


def _get(container: Any, name: str) -> Any:
    if not isinstance(container, dict):
        return None
    folded = name.lower()
    return next((value for key, value in container.items() if key.lower() == folded), None)


def _primary(values: list) -> Any:
    return next((v for v in values if isinstance(v, dict) and v.get("primary") is True), values[0] if values else None)


def _current_affiliation(person: Person | None, source: str, key: str) -> Affiliation | None:
    if person is None:
        return None
    return next((a for a in person.affiliations if a.source == source and a.key == key), None)


def _text(record: dict, path: str | None) -> str | None:
    value = lookup(record, path) if path else None
    if value is None or value == "":
        return None
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise InvalidInput(f"{path} must be text", [FieldError(path, "must be text")])
    return str(value)


def _moment(record: dict, path: str | None) -> date | datetime | None:
    text = _text(record, path)
    if text is None:
        return None
    try:
        return parse_moment(text)
    except ValueError as exc:
        raise InvalidInput(f"{path}: {exc}", [FieldError(path, str(exc))]) from None


def _organization(record: dict, mapping: ScimMapping) -> str:
    for path in mapping.organization:
        value = _text(record, path)
        if value:
            return value
    return mapping.default_organization


def _end(record: dict, mapping: ScimMapping, mine: Affiliation | None, now: datetime) -> date | datetime | None:
    """`active: false` ends the affiliation now, unless it already ended (a replay keeps the
    first end); otherwise the mapped leave date, if any."""
    end = _moment(record, mapping.end)
    active = lookup(record, "active")
    if active is not None and not isinstance(active, bool):
        raise InvalidInput("active must be true or false", [FieldError("active", "true or false")])
    if active is not False:
        return end
    if mine is not None and mine.end is not None and mine.ends_at(now.tzinfo) <= now:
        return mine.end
    return now if end is None or _after(end, now) else end


def _after(moment: date | datetime, now: datetime) -> bool:
    return moment > now if isinstance(moment, datetime) else moment > now.date()


def _attributes(record: dict, paths: dict[str, str]) -> dict[str, Any]:
    found = {}
    for name, path in paths.items():
        value = lookup(record, path)
        if value is None or isinstance(value, (dict, list)):
            continue
        found[name] = value[:MAX_ATTRIBUTE] if isinstance(value, str) else value
    return found


def _unknown(record: dict, mapping: ScimMapping) -> dict[str, Any]:
    """Custom namespaces' attributes the mapping does not name, kept as the source's
    attributes under their attribute name (`urn:contoso:employee:JobCode` → `JobCode`)."""
    if not mapping.keep_unknown:
        return {}
    mapped = {p.lower() for p in mapping_paths(mapping)}
    kept: dict[str, Any] = {}
    for urn, value in record.items():
        if not urn.lower().startswith("urn:") or urn.lower() in KNOWN_NAMESPACES or not isinstance(value, dict):
            continue
        for name, item in value.items():
            if f"{urn}:{name}".lower() in mapped or not name.isidentifier():
                continue
            if isinstance(item, (str, int, float, bool)):
                kept[name] = item[:MAX_ATTRIBUTE] if isinstance(item, str) else item
    return kept


def mapping_paths(mapping: ScimMapping) -> list[str]:
    paths = [*mapping.organization, mapping.title, mapping.start, mapping.end, mapping.as_of]
    paths += [*mapping.affiliation_attributes.values(), *mapping.person_attributes.values()]
    return [p for p in paths if p]


def _names(record: dict) -> dict | None:
    given, family = _text(record, "name.givenName"), _text(record, "name.familyName")
    display = _text(record, "displayName")
    if not (given and family) and display and " " in display.strip():
        first, _, last = display.strip().rpartition(" ")
        given, family = given or first, family or last
    if not (given and family):
        return None
    preferred = _text(record, "nickName")
    return {"given": given, "family": family, **({"preferred": preferred} if preferred else {})}


def _emails(record: dict) -> list[dict] | None:
    values = _get(record, "emails")
    if values is None:
        return None
    if not isinstance(values, list):
        raise InvalidInput("emails must be a list", [FieldError("emails", "must be a list")])
    ordered = sorted(values, key=lambda v: not (isinstance(v, dict) and v.get("primary") is True))
    return [{"address": _get(v, "value"), "type": _get(v, "type") or "work"} for v in ordered if isinstance(v, dict)]


def _invalid(error: ValidationError) -> InvalidInput:
    """PersonUpdate's complaint in the record's own terms (names → name, …)."""
    item = error.errors(include_url=False)[0]
    loc = [str(p) for p in item["loc"]]
    scim = {"names": "name", "emails": "emails", "affiliations": "affiliation", "as_of": "as_of"}
    field = scim.get(loc[0], loc[0]) if loc else "body"
    if loc[:1] == ["emails"] and len(loc) > 1:
        field = f"emails[{loc[1]}].value"
    elif loc[:1] == ["affiliations"] and len(loc) > 2:
        field = {"start": "start", "end": "end", "organization": "organization"}.get(loc[2], loc[2])
    message = item["msg"].removeprefix("Value error, ")
    return InvalidInput(f"{field}: {message}", [FieldError(field, message)])
