"""A candidate's score: per-field levels turned into Fellegi–Sunter weights, the better
of the straight and the given/family-swapped comparison, and the outcome rule."""

from __future__ import annotations

import math
from dataclasses import dataclass

from shared.matching.compare import AGREE, FIELDS, compare
from shared.matching.profile import Profile
from shared.matching.weights import Model


@dataclass(frozen=True)
class FieldScore:
    field: str
    level: str
    weight: float


@dataclass(frozen=True)
class Scored:
    person_id: str
    weight: float
    fields: tuple[FieldScore, ...]
    swapped: bool

    def probability(self, model: Model) -> float:
        """P(same person | comparison), from the weight and the prior among candidates."""
        odds = self.weight + math.log2(model.prior / (1 - model.prior))
        return 1 / (1 + 2 ** -max(min(odds, 60), -60))


@dataclass(frozen=True)
class Frequencies:
    """How many registered persons hold the query's given and family name, of how many."""

    given: int | None = None
    family: int | None = None
    registry: int = 0


def score(person_id: str, query: Profile, candidate: Profile, model: Model, freq: Frequencies) -> Scored:
    """The better of the two name orientations (a swap is how some records arrive)."""
    straight = _weighed(person_id, query, candidate, model, freq, False)
    names = {f.field: f.level for f in straight.fields if f.field in ("given", "family")}
    if not (query.given and query.family) or set(names.values()) == {AGREE} or not _may_be_swapped(query, candidate):
        return straight
    swapped = _weighed(person_id, query, candidate, model, Frequencies(registry=freq.registry), True)
    return swapped if swapped.weight > straight.weight else straight


def _may_be_swapped(query: Profile, candidate: Profile) -> bool:
    """A cheap test before the swapped comparison: a swapped name starts with the same letter."""
    return query.given[:1] == candidate.family[:1] or query.family[:1] == candidate.given[:1]


def _weighed(person_id: str, query: Profile, candidate: Profile, model: Model, freq: Frequencies,
             swapped: bool) -> Scored:
    levels = compare(query, candidate, swapped)
    fields = []
    for name in FIELDS:
        level = levels[name]
        if level is None:
            continue
        if level == AGREE and name in ("given", "family"):
            weight = model.agreement_weight(name, getattr(freq, name), freq.registry)
        else:
            weight = model.weight(name, level)
        fields.append(FieldScore(name, level, weight))
    return Scored(person_id, sum(f.weight for f in fields), tuple(fields), swapped)


def outcome(ranked: list[Scored], model: Model) -> str:
    """`exact`: the best is above the upper threshold by a margin over the runner-up;
    `possible`: the best is at least the lower threshold; otherwise `none`."""
    if not ranked or ranked[0].weight < model.lower:
        return "none"
    runner_up = ranked[1].weight if len(ranked) > 1 else model.lower
    if ranked[0].weight >= model.upper and ranked[0].weight - max(runner_up, model.lower) >= model.margin:
        return "exact"
    return "possible"
