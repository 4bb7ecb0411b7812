"""Helpers around lark's lexer (the terminals are in parser.GRAMMAR): the plain value of a token,
and what is wrong with a text lark can't lex (unterminated text, an unknown operator…)."""

from __future__ import annotations

import difflib
import re

from lark import Token

from shared.rules.errors import RuleError
from shared.rules.nodes import OPERATORS

DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2212"  # text pasted from documents has typographic dashes
KEYWORDS = ("-and", "-or", "-not", "-any", "-all")

_DASH_WORD = re.compile(rf"[{DASHES}]([A-Za-z]+)")
_ESCAPED_QUOTE = re.compile(r'""|[\\`]"')


def unescape(quoted: str) -> str:
    """The text of a STRING as lark matched it, quotes included: "…" with \\" `" or "" for a
    quote, or '…' with '' for a quote."""
    quote, inner = quoted[0], quoted[1:-1]
    if quote == "'":
        return inner.replace("''", "'")
    return _ESCAPED_QUOTE.sub('"', inner)


def plain(token: Token) -> str:
    """A token's value as the rules use it, read from the text lark matched: a STRING unescaped,
    -5 for a NUMBER –5, -and for -AND/–and (and -or -not -any -all), and an OPERATOR's name
    casefolded without its dash (-startsWith → startswith, a key of OPERATORS)."""
    kind = token.type
    if kind == "STRING":
        return unescape(token)
    if kind == "OPERATOR":
        return token[1:].casefold()
    if kind in ("AND", "OR", "NOT", "QUANT"):
        return "-" + token[1:].casefold()
    if kind == "NUMBER" and token[0] in DASHES:
        return "-" + token[1:]
    return str(token)


def lexical_error(text: str, position: int) -> RuleError:
    """Why no terminal matches the text at `position` (where lark's lexer stopped)."""
    char = text[position]
    if char in "\"'":  # STRING matches every closed text, so this one is never closed
        return RuleError(f"unterminated text: the {char} opened here is never closed", text, position)
    if found := _DASH_WORD.match(text, position):  # the known operators and keywords are terminals
        word = found.group(1)
        known = [*OPERATORS.values(), *KEYWORDS]
        close = difflib.get_close_matches(f"-{word}", known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else f"; operators are {', '.join(OPERATORS.values())}"
        return RuleError(f"unknown operator -{word}{hint}", text, position)
    return RuleError(f"unexpected character {char!r}", text, position)
