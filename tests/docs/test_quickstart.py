"""The README's Quickstart and the tour in docs/ run as written against devhost and do what
they say.

Their sh blocks are run in one bash session against `python -m devhost` started with the
sample settings (only the address differs: a free port instead of 7071), and the JSON answers
are checked against the outcomes the text states."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx

from tests.docs.devhost_process import ROOT, sample_devhost

DOCUMENTED_URL = "http://127.0.0.1:7071"
ADMIN = {"Authorization": "Bearer dev-admin-key"}


def script_of(text: str) -> str:
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.S)
    assert blocks, "no sh blocks"
    lines = [line for block in blocks for line in block.splitlines() if line.strip() != "make run &"]
    return "\n".join(lines) + "\n"


def readme_quickstart() -> str:
    readme = (ROOT / "README.md").read_text()
    return script_of(readme.split("\n## Quickstart\n", 1)[1].split("\n## ", 1)[0])


def answers(output: str) -> list:
    """Every JSON document the script printed, in order (curl prints them back to back)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while (start := output.find("{", at)) != -1:
        try:
            value, at = decoder.raw_decode(output, start)
        except json.JSONDecodeError:
            at = start + 1
            continue
        found.append(value)
    return found


def run_as_written(script: str, url: str) -> list:
    result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script.replace(DOCUMENTED_URL, url)],
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    return answers(result.stdout)


def test_the_readme_quickstart_runs_as_written_and_does_what_it_says(tmp_path: Path) -> None:
    with sample_devhost(tmp_path) as url:
        docs = run_as_written(readme_quickstart(), url)
        registered = next(d for d in docs if d.get("outcome") == "created")
        assert [g["group_id"] for g in registered["groups"]["added"]] == ["fin-employees"]
        assert [(o["action"], o["state"]) for o in registered["orders"]] == [("create_account", "Transmitted")]
        assert docs[-1]["id"] == registered["orders"][0]["id"] and docs[-1]["state"] == "Executed"
        console = httpx.get(f"{url}/api/console/")
        assert console.status_code == 200 and "Sign in" in console.text


def test_the_tour_runs_as_written_and_does_what_it_says(tmp_path: Path) -> None:
    with sample_devhost(tmp_path) as url:
        docs = run_as_written(script_of((ROOT / "docs" / "tour.md").read_text()), url)
        assert docs[0]["outcome"] == "created" and docs[0]["person"]["names"]["given"] == "Ada"
        assert any(d.get("status") == "ok" and "store" in d for d in docs), "health answered"
        assert any(d.get("openapi") for d in docs), "the API description was served"
        worklists = [d for d in docs if d.get("items") and d["items"][0].get("action") == "create_account"]
        assert worklists and worklists[0]["items"][0]["state"] == "Transmitted"
        assert "member of fin-employees" in worklists[0]["items"][0]["reason"]
        confirmed = [d for d in docs if d.get("id") == worklists[0]["items"][0]["id"]]
        assert confirmed and confirmed[-1]["state"] == "Executed"
        assert any(d.get("can_request") is False and d.get("can_recover") is False for d in docs)
        person_id = docs[0]["person"]["id"]
        groups = httpx.get(f"{url}/api/persons/{person_id}/groups", headers=ADMIN).json()["items"]
        assert {"fin-employees", "suspend-immediate"} <= {g["group_id"] for g in groups}
        orders = httpx.get(f"{url}/api/orders", params={"person": person_id}, headers=ADMIN).json()["items"]
        assert {o["action"] for o in orders} >= {"create_account", "suspend"}
