"""Conventions every Roster model shares."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, WithJsonSchema


def parse_moment(value: Any) -> date | datetime:
    """`2026-11-30` is a date; anything longer an ISO 8601 instant that must carry an offset."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("an instant needs a time zone offset")
        return value
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError("expected an ISO 8601 date or instant")
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an ISO 8601 date or instant: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        raise ValueError("an instant needs a time zone offset, e.g. 2026-11-30T17:00:00+01:00")
    return parsed


# A moment in HR data: a date (in the institution's time zone) or an exact instant.
Moment = Annotated[
    date | datetime,
    PlainValidator(parse_moment),
    PlainSerializer(lambda v: v.isoformat(), return_type=str),
    WithJsonSchema({"type": "string", "description": "ISO 8601 date or instant with offset"}),
]



def _flat(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        if isinstance(value, str) and len(value) > 2000:
            raise ValueError("attribute text is limited to 2000 characters")
        return value
    raise ValueError("attribute values are text, numbers, true/false or null")


# Flat attribute values, so they can become Table Storage properties and rule operands.
AttributeValue = Annotated[
    str | int | float | bool | None,
    PlainValidator(_flat),
    WithJsonSchema({"type": ["string", "number", "boolean", "null"]}),
]
Attributes = Annotated[dict[str, AttributeValue], Field(default_factory=dict, max_length=100)]


class Model(BaseModel):
    """Strict about unknown fields: a misspelt `end_date` must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def moment_start(value: date | datetime, tz: ZoneInfo) -> datetime:
    """The instant a moment begins: 00:00 of a date in `tz`, or the instant itself."""
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time(), tzinfo=tz)


def moment_end(value: date | datetime, tz: ZoneInfo) -> datetime:
    """The first instant after a moment: the next day's 00:00 for a date (inclusive end)."""
    if isinstance(value, datetime):
        return value
    return datetime.combine(value + timedelta(days=1), time(), tzinfo=tz)


def plain(value: Any) -> Any:
    """JSON-ready form of a model or value (dates ISO 8601)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value
