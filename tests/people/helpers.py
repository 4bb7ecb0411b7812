"""Builders for the people suite (plain module: no conftest imports)."""

from __future__ import annotations

from shared.models.group import GroupIn
from shared.models.person import PersonUpdate
from shared.models.provisioning import Policy, Target
from shared.services import groups
from shared.services.chain import ChainResult, run_sync
from shared.store.targets import TargetRepository
from tests.factories import hr_update

FIN_RULE = 'person.affiliations -any (affiliation.type -eq "employee" -and affiliation.organization -in ["FIN","HR"])'


def finance_wiki(rt, **target: object) -> Target:
    """fin-employees (dynamic) granting an account in a manual `wiki` target."""
    groups.create_group(rt, GroupIn(id="fin-employees", name="Finance", kind="dynamic", rule=FIN_RULE), "admin")
    wiki = Target.model_validate({"id": "wiki", "name": "Wiki", **target})
    repo = TargetRepository(rt.store)
    repo.save(wiki)
    repo.add_policy("wiki", Policy(group_id="fin-employees"))
    return wiki


def hire(rt, source_id: str, given: str, family: str, end: str | None = "2026-11-30") -> ChainResult:
    body = hr_update(source_id=source_id, names={"given": given, "family": family},
                     emails=[{"address": f"{source_id.lower()}@example.edu", "type": "work"}])
    body["affiliations"][0]["end"] = end
    return run_sync(rt, PersonUpdate.model_validate(body), "hr")
