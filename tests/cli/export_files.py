"""HR export files the CLI tests load: CSV rows of one affiliation each."""

from __future__ import annotations

import csv
from pathlib import Path

from cli.records import COLUMNS


def write_csv(path: Path, persons: int, affiliations: int = 2, columns: tuple[str, ...] = COLUMNS,
              organization: str = "FIN") -> Path:
    """`persons` × `affiliations` rows, one person's rows together; `columns` renames or drops."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for n in range(persons):
            for a in range(affiliations):
                row = {"source_id": f"E{n:05d}", "given": f"Given{n}", "family": f"Family{n}",
                       "email": f"p{n}@example.edu", "birth_date": "1990-01-31", "affiliation_key": f"job-{a}",
                       "type": "employee", "organization": organization if a == 0 else "HR", "title": "Analyst",
                       "start": "2024-01-01", "end": "2031-06-30"}
                writer.writerow([row.get(c, "") for c in map(_ours(columns), columns)])
    return path


def _ours(columns: tuple[str, ...]):
    renamed = dict(zip(columns, COLUMNS, strict=False))
    return lambda c: c if c in COLUMNS else renamed.get(c, c)
