"""HR export files → person updates: CSV (one row per affiliation, rows of one `source_id`
merged), JSON (an array) or NDJSON. A mapping file renames an HR system's own columns."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

COLUMNS = ("source_id", "given", "family", "email", "birth_date", "affiliation_key", "type", "organization",
           "title", "start", "end")
REQUIRED = ("source_id", "given", "family", "affiliation_key", "type", "organization", "start")
PERSON_FIELDS = ("given", "family", "email", "birth_date")


class ExportError(Exception):
    """The file cannot be read as described; the message says what to fix."""


def read_mapping(path: Path | None) -> dict[str, str]:
    """`{"their column": "our column"}`; every target must be one of `COLUMNS`."""
    if path is None:
        return {}
    try:
        mapping = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ExportError(f"the mapping {path} is not a JSON object of column names: {exc}") from None
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise ExportError(f"the mapping {path} must be a JSON object {{\"their column\": \"our column\"}}")
    unknown = sorted(set(mapping.values()) - set(COLUMNS))
    if unknown:
        raise ExportError(f"the mapping names columns Roster does not know: {', '.join(unknown)} "
                          f"(known: {', '.join(COLUMNS)})")
    return mapping


def read_updates(path: Path, source: str, as_of: datetime, mapping: dict[str, str]) -> list[dict]:
    """Every person update in the file, in file order."""
    suffix = path.suffix.lower()
    if suffix in (".json",):
        return _with_source(_json_array(path), source, as_of)
    if suffix in (".ndjson", ".jsonl"):
        return _with_source(_ndjson(path), source, as_of)
    return list(_from_csv(path, source, as_of, mapping))


def _json_array(path: Path) -> list[dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_constant=_not_a_number)
    except ValueError as exc:
        raise ExportError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, list):
        raise ExportError(f"{path} must hold a JSON array of person updates")
    return data


def _ndjson(path: Path) -> list[dict]:
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line, parse_constant=_not_a_number))
            except ValueError as exc:
                raise ExportError(f"{path}, line {number}: not valid JSON: {exc}") from None
    return records


def _not_a_number(constant: str) -> None:
    raise ValueError(f"{constant} is not a JSON number")


def _with_source(records: list, source: str, as_of: datetime) -> list:
    """JSON records may carry their own `source` and `as_of`; the command's fill the gaps."""
    return [{"source": source, "as_of": as_of.isoformat(), **r} if isinstance(r, dict) else r for r in records]


def _from_csv(path: Path, source: str, as_of: datetime, mapping: dict[str, str]) -> Iterator[dict]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = _check_header(reader.fieldnames or [], mapping)
        persons: dict[str, dict] = {}
        for row in reader:
            values = {header[column]: (value or "").strip() for column, value in row.items() if column in header}
            _merge(persons, values, source, as_of)
    yield from persons.values()


def _check_header(columns: list[str], mapping: dict[str, str]) -> dict[str, str]:
    """Their column → ours; refuses unknown columns, missing required ones and a mapping
    that names a column the file does not have."""
    absent = sorted(set(mapping) - set(columns))
    if absent:
        raise ExportError(f"the mapping names columns the file does not have: {', '.join(absent)}")
    header = {c: mapping.get(c, c) for c in columns}
    unknown = sorted(c for c, ours in header.items() if ours not in COLUMNS)
    if unknown:
        raise ExportError(f"unknown columns: {', '.join(unknown)} — rename them with --mapping "
                          f"(known: {', '.join(COLUMNS)})")
    missing = sorted(set(REQUIRED) - set(header.values()))
    if missing:
        raise ExportError(f"missing required columns: {', '.join(missing)}")
    return header


def _merge(persons: dict[str, dict], values: dict[str, str], source: str, as_of: datetime) -> None:
    source_id = values["source_id"]
    update = persons.setdefault(source_id, {
        "source": source, "source_id": source_id, "as_of": as_of.isoformat(),
        "names": {"given": values["given"], "family": values["family"]}, "affiliations": [],
    })
    if values.get("email"):
        update["emails"] = [{"address": values["email"], "type": "work"}]
    if values.get("birth_date"):
        update["birth_date"] = values["birth_date"]
    affiliation = {"key": values["affiliation_key"], "type": values["type"], "organization": values["organization"],
                   "start": values["start"]}
    affiliation.update({k: values[k] for k in ("title", "end") if values.get(k)})
    update["affiliations"].append(affiliation)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
