"""local.settings.json: created from the sample on first run, its `Values` put in the environment.

Like the Core Tools, a variable already set in the environment wins over the file.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, MutableMapping
from pathlib import Path

SAMPLE_NAME = "local.settings.sample.json"


class SettingsFileError(ValueError):
    """local.settings.json (or its sample) is missing or malformed; the message says which."""


def ensure_settings_file(path: Path, sample: Path | None = None) -> bool:
    """Create `path` from `sample` (default: local.settings.sample.json beside it) if it is
    missing. True when it was created."""
    if path.exists():
        return False
    sample = sample or path.with_name(SAMPLE_NAME)
    if not sample.is_file():
        raise SettingsFileError(f"{path} is missing and there is no {sample} to create it from")
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sample, path)
    return True


def read_values(path: Path) -> dict[str, str]:
    """The `Values` of a local.settings.json, every value as a string (nulls left out)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SettingsFileError(f"cannot read {path}: {exc}") from None
    if not isinstance(document, dict):
        raise SettingsFileError(f"{path} must hold a JSON object")
    if document.get("IsEncrypted") is True:
        raise SettingsFileError(f"{path} is encrypted; decrypt it (func settings decrypt)")
    values = document.get("Values") or {}
    if not isinstance(values, dict):
        raise SettingsFileError(f'{path}: "Values" must be an object')
    out: dict[str, str] = {}
    for key, value in values.items():
        if value is None:
            continue
        out[str(key)] = value if isinstance(value, str) else json.dumps(value)
    return out


def data_dir_values(data_dir: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """ROSTER_STORE and ROSTER_BUS_PATH inside `data_dir`, for whichever of them is embedded
    (SQLite store, local bus) in `environ`."""
    out: dict[str, str] = {}
    store = environ.get("ROSTER_STORE", "")
    if not store or store.startswith("sqlite:"):
        out["ROSTER_STORE"] = f"sqlite:///{(data_dir / 'roster.db').as_posix()}"
    if (environ.get("ROSTER_BUS") or "local") == "local":
        out["ROSTER_BUS_PATH"] = (data_dir / "bus.db").as_posix()
    return out


class Environment:
    """Changes to an environment mapping that can be undone (tests start several hosts)."""

    def __init__(self, environ: MutableMapping[str, str] | None = None):
        self.environ = os.environ if environ is None else environ
        self._saved: dict[str, str | None] = {}

    def set(self, key: str, value: str) -> None:
        self._saved.setdefault(key, self.environ.get(key))
        self.environ[key] = value

    def set_default(self, key: str, value: str) -> None:
        """Set `key` unless the environment already has it."""
        if key not in self.environ:
            self.set(key, value)

    def restore(self) -> None:
        for key, value in self._saved.items():
            if value is None:
                self.environ.pop(key, None)
            else:
                self.environ[key] = value
        self._saved.clear()


def apply_settings(
    settings_path: Path,
    *,
    sample_path: Path | None = None,
    data_dir: Path | None = None,
    env: Environment,
) -> bool:
    """Create the settings file if needed, load its Values into `env` (without overriding what
    is set) and point the embedded store and bus at `data_dir` when given. True if created."""
    created = ensure_settings_file(settings_path, sample_path)
    for key, value in read_values(settings_path).items():
        env.set_default(key, value)
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        for key, value in data_dir_values(data_dir, env.environ).items():
            env.set(key, value)
    return created
