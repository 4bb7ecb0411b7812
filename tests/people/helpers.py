"""Builders for the people suite (plain module: no conftest imports)."""

from __future__ import annotations

import re
from html import unescape

import azure.functions as func

import function_app
from shared.models.group import GroupIn
from shared.models.messages import DigestRef, Email, Notice
from shared.models.person import PersonUpdate
from shared.models.provisioning import Policy, Target
from shared.models.request import RequestSubmission
from shared.services import groups, requests
from shared.services.chain import ChainResult, run_sync
from shared.services.provisioning import send_digest
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


CLIENT = "grace.hopper@example.edu"


def submit_request(rt, **over: object):
    """REQ-000001: an invite for two accounts in `wiki`, as the Power Automate flow posts it."""
    body = {
        "form_response_id": "F-1", "submitted_at": "2026-11-02T08:55:00+00:00",
        "requester": {"email": CLIENT, "name": "Grace Hopper"}, "service": "wiki", "category": "invite",
        "details": "Two colleagues join on Monday.",
        "accounts": [{"email": "alan.turing@example.edu", "name": "Alan Turing"},
                     {"email": "ada.lovelace@example.edu", "name": "Ada Lovelace"}],
        **over,
    }  # fmt: skip
    return requests.submit(rt, RequestSubmission.model_validate(body), "flow").request


def deliver(rt) -> list[Email]:
    """Send every due notification through the mailer, as the queue trigger does (a due
    digest becomes its email); the emails sent."""
    queue, new = rt.settings.queue("notification"), list(rt.mail.sent())
    while (delivery := rt.bus.receive(queue)) is not None:
        body = Notice.model_validate_json(delivery.body).root
        send_digest(rt, body) if isinstance(body, DigestRef) else rt.mail.send(body)
        rt.bus.complete(delivery)
    before, new = new, list(rt.mail.sent())
    for old in before:  # the outbox is ordered by time: take away what was there before
        new.remove(old)
    return [Email.model_validate({k: v for k, v in e.items() if k in Email.model_fields}) for e in new]


def visible_text(body: str) -> str:
    """A page's text, tags stripped and whitespace collapsed."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())


def app_function(name: str):
    """One of the app's functions by name, as the Functions host would call it."""
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    for blueprint in function_app.BLUEPRINTS:
        app.register_functions(blueprint)
    return next(f.get_user_function() for f in app.get_functions() if f.get_function_name() == name)
