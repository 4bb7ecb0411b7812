"""`python -m devhost`: the start-up listing, serving, and a clean stop on Ctrl+C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import httpx

from devhost.__main__ import banner, parser
from tests.devhost.conftest import APP, ROOT, write_sample


def test_defaults() -> None:
    args = parser().parse_args([])
    assert (args.port, args.host, args.app, args.settings) == (
        7071,
        "127.0.0.1",
        "function_app:app",
        "local.settings.json",
    )
    assert args.data_dir is None


def test_python_m_devhost(tmp_path: Path) -> None:
    write_sample(tmp_path)
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    command = [
        sys.executable,
        "-m",
        "devhost",
        "--port",
        "0",
        "--app",
        APP,
        "--settings",
        str(tmp_path / "local.settings.json"),
        "--data-dir",
        str(tmp_path / "data"),
        "--functions",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(command, cwd=ROOT, stdout=stdout, stderr=stderr, env=env)
    try:
        deadline = time.monotonic() + 30
        url = None
        while url is None and time.monotonic() < deadline and proc.poll() is None:
            m = re.search(r"Roster devhost on (http://\S+)", out.read_text())
            url = m.group(1) if m else None
            time.sleep(0.05)
        assert url, err.read_text()
        time.sleep(0.1)  # the listing is printed in one go; let it land
        listing = out.read_text()
        assert f"API      {url}/api/" in listing
        assert f"[GET] {url}/api/things/{{id}}" in listing
        assert "queue sample-q" in listing and "timer * * * * * *" in listing
        assert httpx.get(f"{url}/api/things/7").json()["id"] == "7"
        assert (tmp_path / "local.settings.json").exists()
        assert (tmp_path / "data" / "bus.db").exists()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0, err.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in err.read_text()


def test_bad_app_exits_with_a_message(tmp_path: Path) -> None:
    write_sample(tmp_path)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "devhost",
            "--port",
            "0",
            "--app",
            "tests.devhost.nope:app",
            "--settings",
            str(tmp_path / "local.settings.json"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "cannot import 'tests.devhost.nope'" in result.stderr


def _function(name: str, kind: str, template: str | None = None) -> SimpleNamespace:
    route = SimpleNamespace(template=template) if template is not None else None
    return SimpleNamespace(name=name, kind=kind, route=route, methods={"GET"}, disabled=None, queue="q",
                           schedule="0 * * * * *", trigger=SimpleNamespace(run_on_startup=False))


def test_the_banner_shows_console_and_api_first_and_lists_functions_only_when_asked() -> None:
    functions = [_function(f"f{n}", "http", f"things/{n}") for n in range(70)]
    functions += [_function("console_home", "http", "console"), _function("person_update", "queue")]
    host = SimpleNamespace(url="http://127.0.0.1:7071", route_prefix="api", functions=functions, bus_path=None)
    short = banner(host).splitlines()
    assert short[2:4] == ["  Console  http://127.0.0.1:7071/api/console/",
                          "  API      http://127.0.0.1:7071/api/  (description: http://127.0.0.1:7071/api/openapi.json)"]
    assert "Functions: 71 http, 1 queue (--functions lists them)" in short
    assert len(short) < 10
    listing = banner(host, list_functions=True)
    assert "[GET] http://127.0.0.1:7071/api/things/69" in listing
