"""Drawing console pages: the Jinja2 environment, its filters, the stylesheet."""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

TEMPLATES = Path(__file__).resolve().parent / "templates"
STYLESHEET = TEMPLATES / "console.css"
# Colour (with the word beside it) for order and request states.
TONES = {
    "AwaitingApproval": "warn", "Pending": "info", "Transmitted": "info", "Executed": "ok",
    "Verified": "ok", "Errored": "bad", "Inactive": "muted",
    "New": "info", "InPlanning": "warn", "InProgress": "warn", "Done": "ok", "Closed": "muted",
    "Rejected": "bad", "Open": "warn", "Completed": "ok",
    "active": "ok", "suspended": "bad", "removed": "muted", "inactive": "muted",
    "pending": "info", "failed": "bad", "removal_pending": "info", "removal_failed": "bad",
    "suspension_pending": "info", "suspension_failed": "bad",
    "agree": "ok", "partial": "warn", "disagree": "bad", "exact": "ok", "possible": "warn", "open": "warn",
    "linked": "ok", "created": "ok", "closed": "ok", "half-open": "warn",
}  # fmt: skip


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters["tone"] = lambda state: TONES.get(str(state), "muted")
    env.filters["mentions"] = mentions
    return env


def render(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)


@lru_cache(maxsize=1)
def stylesheet() -> tuple[bytes, str]:
    """The CSS and a short hash of it, for a URL that changes when the file does."""
    css = STYLESHEET.read_bytes()
    return css, hashlib.sha256(css).hexdigest()[:12]


def when(value: Any, tz: ZoneInfo | None = None) -> str:
    """An instant in the institution's time zone, minutes precision; a date as it is."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value) if len(value) > 10 else date.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        local = value.astimezone(tz) if tz is not None else value
        return local.strftime("%Y-%m-%d %H:%M ") + (local.tzname() or "")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def mentions(text: str, addresses: list[str]) -> Markup:
    """The comment, escaped, with each `@address` it mentions marked."""
    html = str(escape(text))
    for address in sorted(set(addresses), key=len, reverse=True):
        pattern = re.compile(re.escape(str(escape(f"@{address}"))), re.IGNORECASE)
        html = pattern.sub(lambda m: f'<strong class="mention">{m.group(0)}</strong>', html)
    return Markup(html)
