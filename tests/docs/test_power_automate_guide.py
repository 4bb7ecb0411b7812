"""The Power Automate guide's contract sample is accepted as documented, with the sample
settings' intake-only key — which can submit requests and nothing else."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from tests.docs.devhost_process import ROOT, sample_devhost

INTAKE = {"Authorization": "Bearer dev-intake-key"}
ADMIN = {"Authorization": "Bearer dev-admin-key"}


def guide_sample() -> dict:
    guide = (ROOT / "docs" / "power-automate.md").read_text()
    return json.loads(re.search(r"```json\n(.*?)```", guide, flags=re.S).group(1).replace("…", ""))


def test_the_guides_sample_body_creates_a_request_with_the_intake_only_key(tmp_path: Path) -> None:
    body = guide_sample()
    with sample_devhost(tmp_path) as url, httpx.Client(base_url=url) as client:
        target = {"id": body["service"], "name": "Wiki", "connector": "manual", "on_remove": "disable"}
        assert client.post("/api/targets", json=target, headers=ADMIN).status_code == 201
        first = client.post("/api/requests", json=body, headers=INTAKE)
        assert first.status_code == 201, first.text
        assert re.fullmatch(r"REQ-\d{6}", first.json()["number"])
        again = client.post("/api/requests", json=body, headers=INTAKE)
        assert (again.status_code, again.json()["number"]) == (200, first.json()["number"])
        assert client.get("/api/persons", params={"q": "x"}, headers=INTAKE).status_code == 403
        assert client.get("/api/requests", headers=INTAKE).status_code == 403
