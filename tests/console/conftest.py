"""Fixtures of the console suite: the console's keys (the `browser` fixture is the root
conftest's; tests/helpers/console.py)."""

from __future__ import annotations

import pytest

from tests.helpers.keys import CONSOLE_KEYS


@pytest.fixture
def api_keys() -> dict[str, list[str]]:
    return CONSOLE_KEYS
