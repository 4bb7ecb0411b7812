"""A rule refused when it is saved, with where in its text the problem is."""

from __future__ import annotations

from shared.errors import FieldError, InvalidInput


def line_and_column(text: str, position: int) -> tuple[int, int]:
    """1-based line and column of a 0-based offset (columns count characters)."""
    position = max(0, min(position, len(text)))
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return line, column


class RuleError(InvalidInput):
    """A rule that cannot be saved: `message` is plain text, `position` a 0-based offset.

    A `RosterError` (422, `urn:roster:problem:invalid-rule`), so `functions/` maps it like
    every other domain error; `errors` carries one field error for `rule`.
    """

    title, slug = "Invalid rule", "invalid-rule"

    def __init__(self, message: str, text: str, position: int, field: str = "rule"):
        self.message = message
        self.position = max(0, min(position, len(text)))
        self.line, self.column = line_and_column(text, self.position)
        detail = f"line {self.line}, column {self.column}: {message}"
        super().__init__(detail, [FieldError(field, detail)])


def explain_error(text: str, error: RuleError) -> str:
    """The error under the line it is on, with a caret at its column (for consoles and UIs)."""
    lines = text.split("\n")
    shown = lines[error.line - 1] if error.line <= len(lines) else ""
    start = max(0, error.column - 60)
    snippet = shown[start:start + 120]
    caret = " " * (error.column - 1 - start) + "^"
    return f"line {error.line}, column {error.column}: {error.message}\n  {snippet}\n  {caret}"
