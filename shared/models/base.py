"""Conventions every Roster model shares (docs/security.md §5 for the text rules).

- Unknown fields are refused; surrounding white space is trimmed.
- Text: no model accepts a NUL, another control character (tab, CR and LF excepted) or a
  lone surrogate in any string, a dict key included (`Model._plain_text`, one check for every
  model); one-line fields (`Line`: names, titles, group names, subjects) refuse CR, LF and the
  Unicode line separators as well. Each refusal is a 422 naming the field.
- Attribute names: `ATTRIBUTE_NAME`, at most 128 characters.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

# C0 controls but tab, CR and LF; DEL and the C1 controls; lone surrogates.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_LINE_BREAK = re.compile(r"[\t\r\n\x85\u2028\u2029]")
MAX_NESTING = 32
_CONTAINERS = (dict, list, tuple, set, frozenset)
ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def plain_text(value: str) -> str:
    """Text with line breaks and tabs, but no other control character."""
    found = _CONTROL.search(value)
    if found:
        raise ValueError(f"must not contain control characters (U+{ord(found.group()):04X} at {found.start()})")
    return value


def one_line(value: str) -> str:
    """One line: no CR, LF, tab or other control character (such text may end up in a
    mail header)."""
    plain_text(value)
    if _LINE_BREAK.search(value):
        raise ValueError("must be a single line (no CR, LF or tab)")
    return value


def _no_control_anywhere(value: Any, depth: int = 0) -> None:
    """`plain_text` over a value's strings, dict keys and nested lists and dicts."""
    if depth > MAX_NESTING:
        raise ValueError(f"nested more than {MAX_NESTING} deep")
    if isinstance(value, str):
        plain_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_control_anywhere(key, depth + 1)
            _no_control_anywhere(item, depth + 1)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            _no_control_anywhere(item, depth + 1)


# A one-line text field, e.g. a name, a title, a group name.
Line = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(one_line)]


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
def _attribute_name(name: str) -> str:
    if not ATTRIBUTE_NAME.fullmatch(name):
        raise ValueError(
            "attribute names are 1 to 128 letters, digits, '_', '-' or '.', not starting with '-' or '.'"
        )
    return name


AttributeName = Annotated[str, AfterValidator(_attribute_name)]
Attributes = Annotated[dict[AttributeName, AttributeValue], Field(default_factory=dict, max_length=100)]


class Model(BaseModel):
    """Strict about unknown fields: a misspelt `end_date` must not be silently ignored; and
    about text: no control characters in any field (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="after")
    def _plain_text(self) -> Model:
        """One pass over the fields (nested models check their own), naming the field: the
        text fields at once (joined), then the containers, one by one; when the joined text
        holds a control character, every field in order, so the first offending one is named."""
        texts, containers = [], []
        for name, value in self.__dict__.items():
            if isinstance(value, str):
                texts.append(value)
            elif value and isinstance(value, _CONTAINERS) and not (
                    isinstance(value, list) and isinstance(value[0], BaseModel)):  # models check themselves
                containers.append(name)
        if _CONTROL.search("".join(texts)) is not None:
            containers = list(self.__dict__)
        for name in containers:
            self._check_field(name, self.__dict__[name])
        return self

    def _check_field(self, name: str, value: Any) -> None:
        """ValidationError naming `name` when its value holds a control character anywhere."""
        if isinstance(value, str):
            if _CONTROL.search(value) is None:
                return
        elif not value or not isinstance(value, _CONTAINERS):
            return
        elif isinstance(value, list) and isinstance(value[0], BaseModel):
            return  # a list of models: each checked itself
        try:
            _no_control_anywhere(value)
        except ValueError as refused:
            error = InitErrorDetails(type=PydanticCustomError("value_error", str(refused)), loc=(name,), input=value)
            raise ValidationError.from_exception_data(type(self).__name__, [error]) from None


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
