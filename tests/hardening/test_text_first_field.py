"""`Model`'s one check for control characters names the first offending field in field order,
whether the offence is in a text field or deep in a container, and passes clean models as they are."""

from __future__ import annotations

from enum import StrEnum

import pytest
from pydantic import ValidationError

from shared.models.base import Model


class Kind(StrEnum):
    WORK = "work"


class Part(Model):
    text: str


class Sample(Model):
    first: str = "a"
    tags: list[str] = []
    second: str = "b"
    parts: list[Part] = []
    extra: dict[str, str | list[str]] = {}
    kind: Kind = Kind.WORK
    count: int = 0


def _named(**fields) -> tuple:
    with pytest.raises(ValidationError) as refused:
        Sample(**fields)
    return tuple(e["loc"] for e in refused.value.errors())


@pytest.mark.parametrize(("fields", "named"), [
    ({"second": "b\x00"}, (("second",),)),
    ({"first": "a\x01", "second": "b\x00"}, (("first",),)),
    ({"tags": ["x", "y\x1b"], "second": "b\x00"}, (("tags",),)),
    ({"extra": {"k": ["ok", "n\x00"]}}, (("extra",),)),
    ({"extra": {"k\x7f": "v"}, "second": "\x00"}, (("second",),)),
    ({"parts": [{"text": "p\x00"}]}, (("parts", 0, "text"),)),
])
def test_the_first_offending_field_is_named(fields, named):
    assert _named(**fields) == named


def test_a_clean_model_with_every_kind_of_field_passes():
    sample = Sample(first="a\tb", tags=["x\ny"], parts=[{"text": "t"}], extra={"k": ["v"]}, count=3)
    assert sample.tags == ["x\ny"] and sample.parts[0].text == "t"
