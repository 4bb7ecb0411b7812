"""Roster's HTTP API as the command-line client uses it: bearer key, retries with back-off
on 429 / 503 and dropped connections (honouring Retry-After), problems as errors."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

RETRIED = {429, 502, 503, 504}
MAX_WAIT = 30.0


class ApiError(Exception):
    """Roster refused the call; the message is the problem's detail."""


class Api:
    def __init__(self, url: str, key: str, attempts: int = 6, sleep: Callable[[float], None] = time.sleep,
                 transport: httpx.BaseTransport | None = None):
        self.http = httpx.Client(base_url=url.rstrip("/"), headers={"Authorization": f"Bearer {key}"},
                                 timeout=120, transport=transport)
        self.attempts, self.sleep = attempts, sleep

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON answer of a successful call, after retrying what may pass."""
        for attempt in range(1, self.attempts + 1):
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if attempt == self.attempts:
                    raise ApiError(f"cannot reach Roster: {exc}") from None
                self.sleep(_backoff(attempt, None))
                continue
            if response.status_code in RETRIED and attempt < self.attempts:
                self.sleep(_backoff(attempt, response.headers.get("retry-after")))
                continue
            return _answer(response)
        raise ApiError("no answer")  # pragma: no cover — the loop returns or raises

    def close(self) -> None:
        self.http.close()


def _backoff(attempt: int, retry_after: str | None) -> float:
    if retry_after and retry_after.replace(".", "", 1).isdigit():
        return min(float(retry_after), MAX_WAIT)
    return min(0.5 * 2 ** (attempt - 1), MAX_WAIT)


def _answer(response: httpx.Response) -> Any:
    if response.is_success:
        return response.json()
    try:
        problem = response.json()
        detail = problem.get("detail") or problem.get("title")
    except ValueError:
        detail = response.text[:200]
    raise ApiError(f"HTTP {response.status_code}: {detail}")
