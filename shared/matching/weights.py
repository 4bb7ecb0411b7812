"""Fellegi–Sunter weights: for each field and level, m = P(level | same person) and
u = P(level | different persons), estimated from unlabelled candidate pairs by EM
(`estimate`); a pair's weight is the sum of log2(m/u) over the fields both sides have.

Agreement on a given or family name is frequency-adjusted: agreeing on a rare name says
more than agreeing on a common one. u for the value is its share of the registry, blended
with the field's average u as `PRIOR_PERSONS` pseudo-persons, so a small registry is not
over-read (docs/matching.md).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from shared.matching.compare import AGREE, FIELDS, LEVELS, Levels

MODEL_FILE = Path(__file__).with_name("model.json")
PRIOR_PERSONS = 1000
FLOOR = 1e-6
FREQUENCY_FIELDS = ("given", "family")
# Fields a data set may lack (FEBRL has no email or country): their m/u when EM saw none.
UNOBSERVED = {
    "email": ({AGREE: 0.95, "partial": 0.0, "disagree": 0.05}, {AGREE: 0.0001, "partial": 0.0, "disagree": 0.9999}),
    "country": ({AGREE: 0.98, "partial": 0.0, "disagree": 0.02}, {AGREE: 0.6, "partial": 0.0, "disagree": 0.4}),
}


@dataclass(frozen=True)
class Model:
    """m and u per field and level, the prior share of matches among candidate pairs,
    and the thresholds on a pair's total weight (docs/matching.md)."""

    m: dict[str, dict[str, float]]
    u: dict[str, dict[str, float]]
    prior: float
    upper: float
    lower: float
    margin: float

    def __post_init__(self) -> None:
        table = {(f, lv): math.log2(max(self.m[f][lv], FLOOR) / max(self.u[f][lv], FLOOR)) for f in FIELDS
                 for lv in LEVELS}
        for field in FIELDS:  # a partial agreement never weighs more than a full one
            table[field, "partial"] = min(table[field, "partial"], table[field, AGREE])
        object.__setattr__(self, "_weights", table)

    def weight(self, field: str, level: str) -> float:
        """log2(m/u) of the field at that level."""
        return self._weights[field, level]

    def agreement_weight(self, field: str, count: int | None, registry: int) -> float:
        """The weight of agreeing on a value held by `count` of `registry` persons."""
        if count is None or field not in FREQUENCY_FIELDS:
            return self.weight(field, AGREE)
        average = self.u[field][AGREE]
        u = (count + PRIOR_PERSONS * average) / (registry + PRIOR_PERSONS)
        return math.log2(max(self.m[field][AGREE], FLOOR) / max(u, FLOOR))

    def to_json(self) -> str:
        return json.dumps({"m": self.m, "u": self.u, "prior": self.prior, "upper": self.upper,
                           "lower": self.lower, "margin": self.margin}, indent=1, sort_keys=True)


@cache
def shipped() -> Model:
    """The model fitted by `python -m bench.matching --fit` (EM over FEBRL4 candidate pairs)."""
    return Model(**json.loads(MODEL_FILE.read_text()))


def random_u(patterns: Counter[Pattern]) -> dict[str, dict[str, float]]:
    """u from the patterns of random pairs of registered persons (almost all different
    persons): blocked pairs would make u of the blocking fields far too high."""
    sums = _zeros()
    for pat, count in patterns.items():
        for i, level in enumerate(pat):
            if level >= 0:
                sums[FIELDS[i]][LEVELS[level]] += count
    return _normalised(sums, 1)


Pattern = tuple[int, ...]  # per field: index into LEVELS, or -1 when missing


def pattern(levels: Levels) -> Pattern:
    return tuple(-1 if levels[f] is None else LEVELS.index(levels[f]) for f in FIELDS)


def estimate(patterns: Counter[Pattern], iterations: int = 100, prior: float = 0.1) -> tuple[dict, dict, float]:
    """EM under conditional independence over counted comparison patterns: (m, u, prior)."""
    m = {f: {AGREE: 0.9, "partial": 0.05, "disagree": 0.05} for f in FIELDS}
    u = {f: {AGREE: 0.05, "partial": 0.05, "disagree": 0.9} for f in FIELDS}
    for _ in range(iterations):
        matched, total, m_sums, u_sums = 0.0, 0, _zeros(), _zeros()
        for pat, count in patterns.items():
            g = _posterior(pat, m, u, prior)
            matched += g * count
            total += count
            for i, level in enumerate(pat):
                if level >= 0:
                    m_sums[FIELDS[i]][LEVELS[level]] += g * count
                    u_sums[FIELDS[i]][LEVELS[level]] += (1 - g) * count
        prior = min(max(matched / total, FLOOR), 1 - FLOOR)
        m, u = _normalised(m_sums, 0), _normalised(u_sums, 1)
    return m, u, prior


def _posterior(pat: Pattern, m: dict, u: dict, prior: float) -> float:
    log_m, log_u = math.log(prior), math.log(1 - prior)
    for i, level in enumerate(pat):
        if level >= 0:
            name = LEVELS[level]
            log_m += math.log(max(m[FIELDS[i]][name], FLOOR))
            log_u += math.log(max(u[FIELDS[i]][name], FLOOR))
    return 1 / (1 + math.exp(min(log_u - log_m, 700)))


def _zeros() -> dict[str, dict[str, float]]:
    return {f: dict.fromkeys(LEVELS, 0.0) for f in FIELDS}


def _normalised(sums: dict[str, dict[str, float]], which: int) -> dict[str, dict[str, float]]:
    """Probabilities from sums; a field without observations keeps its UNOBSERVED values
    (`which`: 0 for m, 1 for u), or no evidence at all."""
    out = {}
    for field, levels in sums.items():
        total = sum(levels.values())
        if total:
            out[field] = {lv: round(max(v / total, FLOOR), 6) for lv, v in levels.items()}
        else:
            out[field] = dict(UNOBSERVED[field][which]) if field in UNOBSERVED else dict.fromkeys(LEVELS, 1.0)
    return out
