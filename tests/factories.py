"""Small builders for the payloads HR systems send."""

from __future__ import annotations

from typing import Any


def hr_update(source_id: str = "E1001", as_of: str = "2026-11-01T08:00:00+00:00", **over: Any) -> dict:
    body: dict[str, Any] = {
        "source": "hr",
        "source_id": source_id,
        "as_of": as_of,
        "names": {"given": "Ada", "family": "Lovelace"},
        "emails": [{"address": "ada.lovelace@example.edu", "type": "work"}],
        "affiliations": [
            {
                "key": "job-1",
                "type": "employee",
                "organization": "FIN",
                "title": "Analyst",
                "start": "2024-01-01",
                "end": "2026-11-30",
            }
        ],
    }
    body.update(over)
    return body
