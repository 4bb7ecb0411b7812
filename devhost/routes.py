"""Functions (ASP.NET Core) route templates: `persons/{id}`, `{id?}`, `{id=x}`, `{id:int}`,
`{name:regex(^a{{2}}$)}`, `{*path}`, complex segments such as `{name}.{ext?}`.

A template matches the part of a request path after the route prefix; literals compare
case-insensitively, values are percent-decoded, constraints are checked on matched values.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote

__all__ = ["RouteTemplate", "RouteTemplateError"]


class RouteTemplateError(ValueError):
    """A route template the Functions host would refuse."""


Check = Callable[[str], bool]

_INT = re.compile(r"\s*[+-]?\d+\s*")
_FLOAT = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")
_DECIMAL = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)\s*")
_ALPHA = re.compile(r"[a-zA-Z]+")


def _int_range(bits: int) -> Check:
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return lambda v: bool(_INT.fullmatch(v)) and low <= int(v) <= high


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value.strip())
    except ValueError:
        return False
    return True


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value.strip())
    except ValueError:
        return False
    return True


def _is_file(value: str) -> bool:
    """The last path segment has a period followed by something (`report.pdf`)."""
    last = value.rsplit("/", 1)[-1]
    dot = last.rfind(".")
    return 0 <= dot < len(last) - 1


def _as_long(value: str) -> int | None:
    return int(value) if _INT.fullmatch(value) else None


def _ints(name: str, args: str | None, count: tuple[int, ...]) -> list[int]:
    parts = [] if args is None else [a.strip() for a in args.split(",")]
    if len(parts) not in count or not all(re.fullmatch(r"-?\d+", p) for p in parts):
        raise RouteTemplateError(
            f"constraint {name!r} needs {' or '.join(map(str, count))} integers"
        )
    return [int(p) for p in parts]


def _constraint(name: str, args: str | None) -> Check:
    """The check for one inline constraint, as the ASP.NET Core constraint map defines them."""
    key = name.lower()
    simple: dict[str, Check] = {
        "int": _int_range(32),
        "long": _int_range(64),
        "bool": lambda v: v.strip().lower() in ("true", "false"),
        "double": lambda v: bool(_FLOAT.fullmatch(v)),
        "float": lambda v: bool(_FLOAT.fullmatch(v)),
        "decimal": lambda v: bool(_DECIMAL.fullmatch(v)),
        "guid": _is_guid,
        "datetime": _is_datetime,
        "alpha": lambda v: bool(_ALPHA.fullmatch(v)),
        "required": lambda v: v != "",
        "file": _is_file,
        "nonfile": lambda v: not _is_file(v),
    }
    if key in simple:
        if args is not None:
            raise RouteTemplateError(f"constraint {name!r} takes no argument")
        return simple[key]
    if key == "regex":
        if not args:
            raise RouteTemplateError("constraint 'regex' needs a pattern")
        try:
            pattern = re.compile(args, re.IGNORECASE)
        except re.error as exc:
            raise RouteTemplateError(f"bad regex constraint {args!r}: {exc}") from None
        return lambda v: pattern.search(v) is not None
    if key in ("minlength", "maxlength"):
        (n,) = _ints(name, args, (1,))
        return (lambda v: len(v) >= n) if key == "minlength" else (lambda v: len(v) <= n)
    if key == "length":
        bounds = _ints(name, args, (1, 2))
        low, high = (bounds[0], bounds[0]) if len(bounds) == 1 else bounds
        return lambda v: low <= len(v) <= high
    if key in ("min", "max", "range"):
        bounds = _ints(name, args, (2,) if key == "range" else (1,))
        low = bounds[0] if key in ("min", "range") else None
        high = bounds[-1] if key in ("max", "range") else None

        def in_range(v: str) -> bool:
            n = _as_long(v)
            return n is not None and (low is None or n >= low) and (high is None or n <= high)

        return in_range
    raise RouteTemplateError(f"unknown route constraint {name!r}")


@dataclass(frozen=True)
class Literal:
    text: str


@dataclass(frozen=True)
class Param:
    name: str
    constraints: tuple[tuple[str, Check], ...] = ()
    optional: bool = False
    default: str | None = None
    catch_all: bool = False

    def accepts(self, value: str) -> bool:
        return all(check(value) for _, check in self.constraints)


Part = Literal | Param


def _parse_param(text: str) -> Param:
    """`name`, `*name`, `**name`, `name?`, `name=default`, `name:c1:c2(args)?`."""
    catch_all = text.startswith("*")
    text = text.lstrip("*") if catch_all else text
    end = len(text)
    i = 0
    while i < end and text[i] not in ":=" and not (text[i] == "?" and i == end - 1):
        i += 1
    name = text[:i].strip()
    if not name or any(c in name for c in "/{}*?=:"):
        raise RouteTemplateError(f"bad route parameter name in {{{text}}}")
    constraints: list[tuple[str, Check]] = []
    while i < end and text[i] == ":":
        j = i + 1
        while j < end and text[j] not in ":=(" and not (text[j] == "?" and j == end - 1):
            j += 1
        cname, args = text[i + 1 : j], None
        if j < end and text[j] == "(":
            close = j + 1
            while True:
                close = text.find(")", close)
                if close < 0:
                    raise RouteTemplateError(f"unclosed constraint argument in {{{text}}}")
                after = close + 1
                if after == end or text[after] in ":=" or (text[after] == "?" and after == end - 1):
                    break
                close += 1
            args, j = text[j + 1 : close], close + 1
        if not cname:
            raise RouteTemplateError(f"empty constraint in {{{text}}}")
        constraints.append((cname, _constraint(cname, args)))
        i = j
    optional, default = False, None
    if i < end and text[i] == "=":
        default = text[i + 1 :]
    elif i < end and text[i] == "?":
        optional = True
    elif i < end:
        raise RouteTemplateError(f"unexpected {text[i]!r} in {{{text}}}")
    if catch_all and optional:
        raise RouteTemplateError(f"a catch-all parameter cannot be optional: {{{text}}}")
    return Param(name, tuple(constraints), optional, default, catch_all)


def _tokenize(template: str) -> list[list[Part]]:
    """Split into segments of literal and parameter parts; `{{` and `}}` are literal braces."""
    segments: list[list[Part]] = []
    parts: list[Part] = []
    literal: list[str] = []

    def flush() -> None:
        if literal:
            parts.append(Literal("".join(literal)))
            literal.clear()

    i, n = 0, len(template)
    while i < n:
        c = template[i]
        if template.startswith(("{{", "}}"), i):
            literal.append(c)
            i += 2
        elif c == "{":
            flush()
            buf, j = [], i + 1
            while True:
                if j >= n:
                    raise RouteTemplateError(f"unclosed '{{' in route {template!r}")
                if template.startswith(("{{", "}}"), j):
                    buf.append(template[j])
                    j += 2
                elif template[j] == "}":
                    break
                elif template[j] == "{":
                    raise RouteTemplateError(f"unescaped '{{' in a parameter of {template!r}")
                else:
                    buf.append(template[j])
                    j += 1
            parts.append(_parse_param("".join(buf)))
            i = j + 1
        elif c == "}":
            raise RouteTemplateError(f"unmatched '}}' in route {template!r}")
        elif c == "/":
            flush()
            segments.append(parts)
            parts = []
            i += 1
        else:
            literal.append(c)
            i += 1
    flush()
    segments.append(parts)
    return segments


@dataclass(frozen=True)
class _Segment:
    parts: tuple[Part, ...]
    patterns: tuple[
        re.Pattern[str], ...
    ] = ()  # complex segments: with, then without the optional tail

    @property
    def param(self) -> Param | None:
        """The parameter when the segment is exactly one parameter."""
        if len(self.parts) == 1 and isinstance(self.parts[0], Param):
            return self.parts[0]
        return None

    def match(self, text: str) -> dict[str, str] | None:
        if len(self.parts) == 1:
            part = self.parts[0]
            if isinstance(part, Literal):
                return {} if text.casefold() == part.text.casefold() else None
            return {part.name: text} if text else None
        for pattern in self.patterns:
            m = pattern.fullmatch(text)
            if m:
                return {
                    self.parts[int(group[1:])].name: value  # type: ignore[union-attr]
                    for group, value in m.groupdict().items()
                    if value is not None
                }
        return None


def _compile_complex(parts: tuple[Part, ...]) -> tuple[re.Pattern[str], ...]:
    """Regexes for a segment mixing literals and parameters (groups `p<index>`); greedy
    groups make the last literal split at its rightmost occurrence, as ASP.NET does. An
    optional last parameter may be absent together with the literal before it."""

    def regex(items: tuple[Part, ...]) -> re.Pattern[str]:
        out = [
            re.escape(part.text) if isinstance(part, Literal) else f"(?P<p{index}>.+)"
            for index, part in enumerate(items)
        ]
        return re.compile("".join(out), re.IGNORECASE | re.DOTALL)

    patterns = [regex(parts)]
    last = parts[-1]
    if isinstance(last, Param) and last.optional:
        patterns.append(regex(parts[:-2]))
    return tuple(patterns)


class RouteTemplate:
    """One parsed route template; `match(path)` gives the route parameters or None."""

    def __init__(self, template: str):
        self.template = template
        text = template.strip()
        if text.startswith("~/"):
            text = text[2:]
        text = text.strip("/")
        raw = _tokenize(text) if text else []
        segments: list[_Segment] = []
        seen: set[str] = set()
        for index, parts in enumerate(raw):
            if not parts:
                raise RouteTemplateError(f"empty segment in route {template!r}")
            last_segment = index == len(raw) - 1
            for k, part in enumerate(parts):
                if isinstance(part, Param):
                    if part.name.lower() in seen:
                        raise RouteTemplateError(f"parameter {part.name!r} twice in {template!r}")
                    seen.add(part.name.lower())
                    if part.catch_all and not (last_segment and len(parts) == 1):
                        raise RouteTemplateError(
                            f"a catch-all parameter must be the whole last segment: {template!r}"
                        )
                    if part.optional and len(parts) > 1:
                        if k != len(parts) - 1 or not isinstance(parts[k - 1], Literal):
                            raise RouteTemplateError(
                                f"an optional parameter in a complex segment must come last, "
                                f"after a literal: {template!r}"
                            )
                    if k and isinstance(parts[k - 1], Param):
                        raise RouteTemplateError(
                            f"two parameters need a literal between them: {template!r}"
                        )
            frozen = tuple(parts)
            patterns = _compile_complex(frozen) if len(frozen) > 1 else ()
            segments.append(_Segment(frozen, patterns))
        self.segments = tuple(segments)
        self.params = tuple(p for s in segments for p in s.parts if isinstance(p, Param))

    @property
    def precedence(self) -> tuple[int, ...]:
        """Sort key: literal segments before complex ones, constrained parameters before
        plain ones, catch-alls last (ASP.NET Core inbound precedence)."""
        key = []
        for segment in self.segments:
            param = segment.param
            if param is None:
                key.append(1 if len(segment.parts) == 1 else 2)
            elif param.catch_all:
                key.append(5)
            else:
                key.append(3 if param.constraints else 4)
        return tuple(key)

    def match(self, path: str) -> dict[str, str] | None:
        """The route parameters when `path` (after the prefix, still percent-encoded, no
        leading slash) matches, else None."""
        pieces = path.split("/") if path else []
        if pieces and pieces[-1] == "":
            pieces.pop()  # one trailing slash is ignored
        values: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            param = segment.param
            if param is not None and param.catch_all:
                rest = "/".join(unquote(p) for p in pieces[index:])
                if rest:
                    values[param.name] = rest
                elif param.default is not None:
                    values[param.name] = param.default
                return values if self._accepts(values) else None
            if index >= len(pieces):
                for remaining in self.segments[index:]:
                    p = remaining.param
                    if p is None or not (p.optional or p.default is not None or p.catch_all):
                        return None
                    if p.default is not None:
                        values[p.name] = p.default
                break
            found = segment.match(unquote(pieces[index]))
            if found is None:
                return None
            values.update(found)
        else:
            if len(pieces) > len(self.segments):
                return None
        return values if self._accepts(values) else None

    def _accepts(self, values: dict[str, str]) -> bool:
        by_name = {p.name: p for p in self.params}
        return all(by_name[name].accepts(value) for name, value in values.items())

    def __repr__(self) -> str:
        return f"RouteTemplate({self.template!r})"
