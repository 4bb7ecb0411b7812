"""checkov passes on infra/: no failed check, and every skip says why, in place."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.templates import INFRA, REPO, bicep_files

CHECKOV = Path(sys.executable).with_name("checkov")


@pytest.fixture(scope="module")
def report() -> dict:
    # --skip-download: no call to Prisma Cloud for guidelines; the checks ship with checkov.
    # Not --quiet: the JSON report then keeps the passed and skipped checks too.
    done = subprocess.run(
        [
            str(CHECKOV),
            "-d",
            str(INFRA),
            "--framework",
            "bicep",
            "--compact",
            "--skip-download",
            "--output",
            "json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]
    data = json.loads(done.stdout)
    reports = data if isinstance(data, list) else [data]
    (bicep,) = [r for r in reports if r.get("check_type") == "bicep"]
    return bicep


def test_checkov_finds_no_failed_check(report):
    failed = [
        f"{c['check_id']} {c['resource']} {c['file_path']}: {c['check_name']}"
        for c in report["results"]["failed_checks"]
    ]

    assert failed == []


def test_checkov_reads_every_template(report):
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["resource_count"] > 0
    assert report["summary"]["passed"] > 0


def test_every_skip_carries_a_justification(report):
    for check in report["results"]["skipped_checks"]:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason) > 30 and reason != "No comment provided", check["check_id"]


def test_skips_are_single_check_comments_with_a_reason_in_the_bicep():
    # checkov reads one check id per comment in Bicep, inside the resource's braces.
    pattern = re.compile(r"^\s*//checkov:skip=CKV2?_[A-Z]+_\d+:\S.{30,}$")
    for path in bicep_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "checkov:skip" in line:
                assert pattern.match(line), f"{path.name}:{number}: {line.strip()}"
