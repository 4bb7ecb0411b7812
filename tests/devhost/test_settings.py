"""local.settings.json: created from the sample, Values into the environment, --data-dir."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

from devhost import Host, SettingsFileError
from devhost.settings import (
    Environment,
    data_dir_values,
    ensure_settings_file,
    read_values,
)
from tests.devhost.hosts import ROOT, make_host, write_sample


def test_settings_file_is_created_from_the_sample_on_first_run(tmp_path: Path) -> None:
    sample = write_sample(tmp_path)
    settings = tmp_path / "local.settings.json"
    host = make_host(tmp_path)
    with host:
        assert host.settings_created
        assert settings.read_text() == sample.read_text()
        assert httpx.get(f"{host.url}/api/setting").text == "from the settings file"
    settings.write_text(
        json.dumps({"Values": {**read_values(sample), "SAMPLE_GREETING": "edited"}})
    )
    again = make_host(tmp_path)  # rewrites the sample; the edited settings file stays
    with again:
        assert not again.settings_created
        assert httpx.get(f"{again.url}/api/setting").text == "edited"


def test_environment_wins_over_the_file_and_is_restored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAMPLE_GREETING", "from the environment")
    monkeypatch.delenv("SampleQueue", raising=False)
    with make_host(tmp_path) as host:
        assert httpx.get(f"{host.url}/api/setting").text == "from the environment"
        assert os.environ["SampleQueue"] == "sample-q"
    assert os.environ["SAMPLE_GREETING"] == "from the environment"
    assert "SampleQueue" not in os.environ


def test_data_dir_points_store_and_bus_inside_it(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    host.prepare()
    try:
        assert (
            os.environ["ROSTER_STORE"]
            == f"sqlite:///{(tmp_path / 'data' / 'roster.db').as_posix()}"
        )
        assert os.environ["ROSTER_BUS_PATH"] == (tmp_path / "data" / "bus.db").as_posix()
        assert (tmp_path / "data").is_dir()
    finally:
        host.stop()
    assert "ROSTER_BUS_PATH" not in os.environ


def test_data_dir_leaves_remote_store_and_bus_alone() -> None:
    remote = {"ROSTER_STORE": "https://acct.table.core.windows.net", "ROSTER_BUS": "servicebus"}
    assert data_dir_values(Path("d"), remote) == {}
    assert data_dir_values(Path("d"), {}) == {
        "ROSTER_STORE": "sqlite:///d/roster.db",
        "ROSTER_BUS_PATH": "d/bus.db",
    }


def test_without_data_dir_the_settings_paths_stay(tmp_path: Path) -> None:
    write_sample(tmp_path)
    host = Host(
        "tests.devhost.sample_app:app",
        settings_path=tmp_path / "local.settings.json",
        host_json=ROOT / "host.json",
    )
    host.prepare()
    try:
        assert os.environ["ROSTER_BUS_PATH"] == "somewhere/else.db"
    finally:
        host.stop()


def test_missing_sample(tmp_path: Path) -> None:
    with pytest.raises(SettingsFileError, match="missing"):
        ensure_settings_file(tmp_path / "local.settings.json")


def test_values_are_strings_and_encrypted_files_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"Values": {"A": "x", "N": 3, "B": True, "Z": None}}))
    assert read_values(path) == {"A": "x", "N": "3", "B": "true"}
    path.write_text(json.dumps({"IsEncrypted": True, "Values": {}}))
    with pytest.raises(SettingsFileError, match="encrypted"):
        read_values(path)
    path.write_text("{not json")
    with pytest.raises(SettingsFileError):
        read_values(path)


def test_environment_restore() -> None:
    environ = {"KEEP": "1", "OVER": "old"}
    env = Environment(environ)
    env.set_default("KEEP", "2")
    env.set_default("NEW", "3")
    env.set("OVER", "new")
    assert environ == {"KEEP": "1", "OVER": "new", "NEW": "3"}
    env.restore()
    assert environ == {"KEEP": "1", "OVER": "old"}


def test_repo_sample_is_valid_settings() -> None:
    values = read_values(ROOT / "local.settings.sample.json")
    assert values["ROSTER_BUS"] == "local" and "PersonUpdateQueue" in values
