"""Fixtures of the console suite: the console's keys and a browser calling its functions
directly (tests/helpers/console.py)."""

from __future__ import annotations

import pytest

from tests.helpers.console import Browser
from tests.helpers.keys import CONSOLE_KEYS


@pytest.fixture
def api_keys() -> dict[str, list[str]]:
    return CONSOLE_KEYS


@pytest.fixture
def browser(functions, rt):
    """browser(key) → a Browser signed in with that key (None: not signed in)."""
    return lambda key="admin-key": Browser(functions, key)
