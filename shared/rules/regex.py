"""`-match` / `-notMatch` patterns, run by RE2 (google-re2): time linear in the text, whatever
the pattern, so a rule cannot be made slow on purpose (docs/security.md §6).

The syntax is RE2's (https://github.com/google/re2/wiki/Syntax): literals, `.`, classes
`[a-z]` `\\d` `\\w` `\\s` `\\p{Greek}`, anchors `^ $ \\A \\z \\b`, groups `( )` `(?: )`
`(?P<name> )`, alternation `|`, repetition `* + ? {n,m}` (at most 1000) and their lazy forms,
flags `(?i)` `(?s)` `(?m)`. Not supported, because they need backtracking: backreferences
(`\\1`), lookahead and lookbehind (`(?=` `(?!` `(?<=` `(?<!`), atomic groups `(?>`, possessive
repetition (`a++`), `\\Z` (write `\\z`). Matching ignores case, as every text comparison in
rules does; a pattern is searched anywhere in the value unless anchored.
"""

from __future__ import annotations

import re2

MAX_PATTERN = 1000  # characters
MAX_MEMORY = 8 << 20  # bytes RE2 may use for one compiled pattern


class PatternError(ValueError):
    """A pattern RE2 refuses; `offset` is where in the pattern (0-based)."""

    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.message = message
        self.offset = offset


def _options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # the refusal is reported to whoever saved the rule
    options.max_mem = MAX_MEMORY
    return options


def compile_pattern(pattern: str) -> re2._Regexp:
    """The compiled pattern, or PatternError with RE2's reason and where it applies."""
    if len(pattern) > MAX_PATTERN:
        raise PatternError(f"a regular expression is limited to {MAX_PATTERN} characters", MAX_PATTERN)
    try:
        return re2.compile(pattern, _options())
    except re2.error as error:
        reason = error.args[0].decode("utf-8", "replace") if isinstance(error.args[0], bytes) else str(error)
        raise PatternError(_explained(reason), _offset(pattern, reason)) from None


def _offset(pattern: str, reason: str) -> int:
    """Where RE2's complaint points: its message ends with the offending fragment."""
    fragment = reason.rpartition(": ")[2]
    found = pattern.find(fragment) if fragment else -1
    return max(found, 0)


_HINTS = {
    "invalid perl operator: (?=": "lookahead is not supported",
    "invalid perl operator: (?!": "lookahead is not supported",
    "invalid perl operator: (?<": "lookbehind is not supported",
    "invalid perl operator: (?>": "atomic groups are not supported",
    "bad repetition operator: ": "possessive or doubled repetition is not supported",
    "invalid escape sequence: \\Z": "\\Z is not supported: use \\z",
}


def _explained(reason: str) -> str:
    for start, hint in _HINTS.items():
        if reason.startswith(start):
            return f"{hint} ({reason})"
    if reason.startswith("invalid escape sequence: \\") and reason[-1:].isdigit():
        return f"backreferences are not supported ({reason})"
    return reason
