"""Rule text → tokens, with the unterminated strings and unknown operators found here."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator

from lark import Token

from shared.rules.errors import RuleError
from shared.rules.nodes import OPERATORS

DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2212"  # text pasted from documents has typographic dashes
KEYWORDS = {"and": "AND", "or": "OR", "not": "NOT", "any": "QUANT", "all": "QUANT"}
LITERAL_WORDS = {"true": "TRUE", "false": "FALSE", "null": "NULL"}
PUNCTUATION = {"(": "LPAR", ")": "RPAR", "[": "LSQB", "]": "RSQB", ",": "COMMA"}

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*")
_DASH_WORD = re.compile(rf"[{DASHES}]([A-Za-z]+)")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:T[0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)?(?![\w.])")
_NUMBER = re.compile(rf"[{DASHES}]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![\w.])")


def _token(kind: str, value: str, start: int, end: int) -> Token:
    return Token(kind, value, start_pos=start, end_pos=end)


def tokenize(text: str) -> Iterator[Token]:
    """Tokens with 0-based `start_pos`/`end_pos`; a STRING token's value is unescaped."""
    pos, size = 0, len(text)
    while pos < size:
        char = text[pos]
        if char.isspace():
            pos += 1
            continue
        if char in PUNCTUATION:
            yield _token(PUNCTUATION[char], char, pos, pos + 1)
            pos += 1
        elif char in "\"'":
            value, end = _string(text, pos)
            yield _token("STRING", value, pos, end)
            pos = end
        elif found := _DATE.match(text, pos):
            yield _token("DATE", found.group(), pos, found.end())
            pos = found.end()
        elif found := _NUMBER.match(text, pos):
            yield _token("NUMBER", "-" + found.group()[1:] if found.group()[0] in DASHES else found.group(),
                         pos, found.end())
            pos = found.end()
        elif found := _DASH_WORD.match(text, pos):
            yield _operator(text, found.group(1), pos, found.end())
            pos = found.end()
        elif found := _WORD.match(text, pos):
            word = found.group()
            yield _token(LITERAL_WORDS.get(word.casefold(), "PROPERTY"), word, pos, found.end())
            pos = found.end()
        else:
            raise RuleError(f"unexpected character {char!r}", text, pos)


def _operator(text: str, word: str, start: int, end: int) -> Token:
    name = word.casefold()
    if name in KEYWORDS:
        return _token(KEYWORDS[name], f"-{name}", start, end)
    if name in OPERATORS:
        return _token("OPERATOR", name, start, end)
    known = [*OPERATORS.values(), "-and", "-or", "-not", "-any", "-all"]
    close = difflib.get_close_matches(f"-{word}", known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else f"; operators are {', '.join(OPERATORS.values())}"
    raise RuleError(f"unknown operator -{word}{hint}", text, start)


def _string(text: str, start: int) -> tuple[str, int]:
    """A quoted string from `start`: "…" with \\" `" or "" for a quote, or '…' with ''."""
    quote = text[start]
    out: list[str] = []
    pos, size = start + 1, len(text)
    while pos < size:
        char = text[pos]
        nxt = text[pos + 1] if pos + 1 < size else ""
        if char == quote:
            if nxt == quote:  # doubled quote: one quote character
                out.append(quote)
                pos += 2
                continue
            return "".join(out), pos + 1
        if quote == '"' and char in "\\`" and nxt == '"':
            out.append('"')
            pos += 2
            continue
        out.append(char)
        pos += 1
    raise RuleError(f"unterminated text: the {quote} opened here is never closed", text, start)
