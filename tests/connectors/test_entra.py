"""The entra connector with the real HTTP client against a local Graph stand-in that checks
every request (tests/connectors/graph_standin.py)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from shared.connectors import ConnectorError
from shared.connectors.entra import EntraConnector
from shared.connectors.graph import Request, session
from shared.models.person import AffiliationType, Person
from shared.models.provisioning import Action, OrderState
from shared.models.target_settings import EntraSettings
from tests.connectors.directory import Orders, a_person, a_target
from tests.connectors.graph_standin import TOKEN, Graph, graph_standin

MARKER = "extensionAttribute15"
SKU = "c7df2760-2c81-4ef7-b578-5b5392b571df"


@pytest.fixture
def graph(monkeypatch) -> Iterator[Graph]:
    monkeypatch.setenv("ROSTER_ALLOW_LOOPBACK", "true")
    monkeypatch.setenv("ROSTER_TARGET_SECRET_GRAPH_TOKEN", TOKEN)
    with graph_standin() as standin:
        yield standin
    assert standin.violations == []  # every request Roster sent was one Graph accepts


class Entra(Orders):
    """Orders for one person in the stand-in's tenant."""

    def __init__(self, graph: Graph, person: Person | None = None, **settings):
        super().__init__(a_target("entra", graph.settings(**settings)), person or a_person())
        self.graph = graph

    @property
    def user(self) -> dict:
        return self.graph.users[self.external_id]


@pytest.fixture
def entra(graph) -> Entra:
    return Entra(graph)


def test_create_account_creates_the_user_with_the_templates_upn_and_the_person_marker(entra):
    outcome = entra.do(Action.create_account)

    assert outcome.state == OrderState.executed
    assert outcome.note == f"Entra user {outcome.external_id[:5]}… created"
    user = entra.user
    assert user["userPrincipalName"] == "ada.lovelace@example.edu"
    assert user["mailNickname"] == "ada.lovelace"
    assert user["accountEnabled"] is True
    assert (user["givenName"], user["surname"], user["displayName"]) == ("Ada", "Lovelace", "Ada Lovelace")
    assert user["onPremisesExtensionAttributes"] == {MARKER: "p-ada"}
    create = next(c for c in entra.graph.calls if c.method == "POST")
    assert create.body["passwordProfile"]["forceChangePasswordNextSignIn"] is True
    assert len(create.body["passwordProfile"]["password"]) >= 16


def test_a_taken_upn_gets_the_next_candidate_and_names_are_folded_to_ascii(graph):
    first = Entra(graph, a_person("p-1", given="Zoë", family="Ŝtraße"))
    second = Entra(graph, a_person("p-2", given="Zoe", family="Strasse"))

    first.do(Action.create_account)
    second.do(Action.create_account)

    assert first.user["userPrincipalName"] == "zoe.strasse@example.edu"
    assert second.user["userPrincipalName"] == "zoe.strasse2@example.edu"


def test_a_create_tried_again_without_the_kept_id_adopts_the_user_it_made(entra):
    made = entra.do(Action.create_account)
    entra.external_id = None  # as if the first attempt crashed before Roster kept the id

    again = entra.do(Action.create_account)

    assert again.external_id == made.external_id
    assert again.note.endswith("adopted")
    assert len(entra.graph.users) == 1


def test_a_create_with_the_kept_id_of_a_disabled_user_enables_it(entra):
    entra.do(Action.create_account)
    entra.do(Action.disable_account)

    again = entra.do(Action.create_account)

    assert again.state == OrderState.executed and entra.user["accountEnabled"] is True
    assert len(entra.graph.users) == 1


def test_an_external_person_is_invited_as_a_guest_and_a_retry_finds_the_guest(graph):
    guest = Entra(graph, a_person(email="ext.partner@partner.example", kind=AffiliationType.guest),
                  external_types=["guest", "contractor"])

    outcome = guest.do(Action.create_account)
    guest.external_id = None
    again = guest.do(Action.create_account)

    assert outcome.note.startswith("Entra guest") and outcome.note.endswith("invited")
    invite = next(c for c in graph.calls if c.path == "/v1.0/invitations")
    assert invite.body["invitedUserEmailAddress"] == "ext.partner@partner.example"
    assert invite.body["inviteRedirectUrl"] == "https://myapps.microsoft.com"
    assert invite.body["sendInvitationMessage"] is True
    assert again.external_id == outcome.external_id and len(graph.users) == 1
    assert graph.users[outcome.external_id]["onPremisesExtensionAttributes"] == {MARKER: "p-ada"}


def test_group_membership_is_granted_and_revoked_and_both_are_idempotent(entra):
    gid = entra.graph.group()
    entra.do(Action.create_account)

    granted = entra.do(Action.grant, f"group:{gid}")
    again = entra.do(Action.grant, f"group:{gid.upper()}")

    assert granted.state == again.state == OrderState.executed
    assert "already in group" in again.note
    assert entra.graph.groups[gid] == {entra.external_id}
    ref = next(c for c in entra.graph.calls if c.path.endswith("/members/$ref"))
    assert ref.body == {"@odata.id": f"{entra.graph.url}/v1.0/directoryObjects/{entra.external_id}"}

    revoked = entra.do(Action.revoke, f"group:{gid}")
    gone = entra.do(Action.revoke, f"group:{gid}")

    assert revoked.state == OrderState.executed and entra.graph.groups[gid] == set()
    assert gone.state == OrderState.verified and "not in group" in gone.note


def test_a_licence_is_assigned_and_removed(graph):
    entra = Entra(graph, usage_location="BE")
    entra.do(Action.create_account)

    assert entra.do(Action.grant, f"license:{SKU}").state == OrderState.executed
    assert entra.user["assignedLicenses"] == [{"skuId": SKU, "disabledPlans": []}]
    assert entra.user["usageLocation"] == "BE"
    assert "already" in entra.do(Action.grant, f"license:{SKU}").note

    assert entra.do(Action.revoke, f"license:{SKU}").state == OrderState.executed
    assert entra.user["assignedLicenses"] == []


def test_suspend_disables_and_revokes_sessions_in_one_batch(entra):
    entra.do(Action.create_account)

    outcome = entra.do(Action.suspend)

    assert outcome.state == OrderState.executed
    assert outcome.note.endswith("disabled, sessions revoked")
    assert entra.user["accountEnabled"] is False
    assert entra.graph.revoked == [entra.external_id]
    assert entra.graph.batches == [2]
    batched = [(c.method, c.path.rsplit("/", 1)[-1]) for c in entra.graph.calls if c.in_batch]
    assert sorted(batched) == [("PATCH", entra.external_id), ("POST", "revokeSignInSessions")]


def test_restore_enables_the_user_again(entra):
    entra.do(Action.create_account)
    entra.do(Action.suspend)

    assert entra.do(Action.restore).state == OrderState.executed
    assert entra.user["accountEnabled"] is True


def test_429_with_retry_after_puts_the_order_off_without_waiting_then_it_goes_through(entra):
    entra.do(Action.create_account)
    entra.graph.fail("PATCH", r"/users/", 429, retry_after=7)

    put_off = entra.do(Action.suspend)

    assert put_off.state == OrderState.pending
    assert put_off.retry_after == 7
    assert put_off.note == "Graph 429 on PATCH /users/{id}"
    done = entra.do(Action.suspend, attempts=1)
    assert done.state == OrderState.executed and entra.user["accountEnabled"] is False


def test_503_without_retry_after_is_transient_and_leaves_the_wait_to_the_service(entra):
    entra.graph.fail("GET", r"/users/", 503)

    outcome = entra.do(Action.create_account)

    assert outcome.transient and outcome.retry_after is None
    assert outcome.note == "Graph 503 on GET /users/{upn}"
    assert entra.graph.users == {}


def test_a_deleted_user_answers_404_and_disabling_or_deleting_it_is_already_done(entra):
    entra.do(Action.create_account)
    del entra.graph.users[entra.external_id]  # deleted in the portal

    disabled = entra.do(Action.disable_account)
    deleted = entra.do(Action.delete_account)

    assert disabled.state == deleted.state == OrderState.verified
    assert "no longer exists" in disabled.note and "deleted already" in deleted.note


def test_delete_account_deletes_the_user(entra):
    entra.do(Action.create_account)

    assert entra.do(Action.delete_account).state == OrderState.executed
    assert entra.graph.users == {}


def test_a_batch_with_one_failure_among_successes_errors_the_order_naming_it(entra):
    entra.do(Action.create_account)
    entra.graph.fail("POST", r"/revokeSignInSessions$", 403)

    outcome = entra.do(Action.suspend)

    assert outcome.state == OrderState.errored
    assert outcome.note.startswith("Graph 403 on POST /users/{id}/revokeSignInSessions: permission missing")
    assert "User.ReadWrite.All" in outcome.note
    assert entra.user["accountEnabled"] is False  # the other request of the batch went through
    assert entra.do(Action.suspend).state == OrderState.executed  # and the next delivery does both


def test_graph_answering_403_errors_the_order_naming_the_permission_and_is_not_retried(entra):
    gid = entra.graph.group()
    entra.do(Action.create_account)
    entra.graph.fail("POST", r"/members/\$ref$", 403, times=10)
    before = len(entra.graph.calls)

    outcome = entra.do(Action.grant, f"group:{gid}")

    assert outcome.state == OrderState.errored
    assert "GroupMember.ReadWrite.All" in outcome.note
    assert len(entra.graph.calls) - before == 1


def test_an_entitlement_that_is_neither_account_group_nor_license_errors_the_order(entra):
    entra.do(Action.create_account)

    unknown = entra.do(Action.grant, "finance-editors")
    not_guid = entra.do(Action.grant, "group:finance-editors")

    assert unknown.state == not_guid.state == OrderState.errored
    assert "must be account, group:<object id> or license:<sku id>" in unknown.note
    assert "group: must be followed by a GUID" in not_guid.note


def test_a_missing_token_setting_errors_the_order_naming_it(entra, monkeypatch):
    monkeypatch.delenv("ROSTER_TARGET_SECRET_GRAPH_TOKEN")

    outcome = entra.do(Action.create_account)

    assert outcome.state == OrderState.errored
    assert outcome.note == "environment variable ROSTER_TARGET_SECRET_GRAPH_TOKEN (the Graph token) is not set"
    assert entra.graph.calls == []


def test_more_than_twenty_requests_go_in_batches_of_twenty(entra):
    entra.do(Action.create_account)
    settings = EntraSettings.model_validate(entra.target.settings)
    requests = [Request("GET", f"/users/{entra.external_id}?$select=id") for _ in range(45)]

    with session(settings) as graph:
        replies = graph.send(requests)

    assert [r.status for r in replies] == [200] * 45
    assert entra.graph.batches == [20, 20, 5]


def test_delta_reads_the_whole_tenant_then_only_what_changed(entra):
    gid, other = entra.graph.group(), entra.graph.group()
    entra.do(Action.create_account)
    entra.do(Action.grant, f"group:{gid}")
    entra.do(Action.grant, f"group:{other}")
    connector = EntraConnector()

    full = connector.delta(entra.target, {}, {gid})
    entra.do(Action.revoke, f"group:{gid}")
    entra.do(Action.disable_account)
    changed = connector.delta(entra.target, full.cursor, {gid})

    assert full.full and full.users == {entra.external_id: {
        "person_id": "p-ada", "email": None, "active": True, "licenses": []}}
    assert full.joined == [(entra.external_id, gid)]  # `other` is not this target's group
    assert not changed.full and changed.users[entra.external_id]["active"] is False
    assert changed.left == [(entra.external_id, gid)] and changed.joined == []
    assert all(c.path.endswith("/delta") for c in entra.graph.calls[-4:] if c.method == "GET")


def test_the_bearer_token_is_sent_and_graph_refuses_a_request_without_it(entra):
    entra.do(Action.create_account)

    assert httpx.get(entra.graph.url + "/v1.0/users/x").status_code == 401
    entra.graph.violations.clear()  # the stand-in noted that unauthenticated request


def test_a_delta_link_to_another_address_is_not_followed_with_the_token(entra):
    connector = EntraConnector()
    cursor = {"users": "https://attacker.example/v1.0/users/delta?$deltatoken=1", "groups": "/v1.0/groups/delta"}

    with pytest.raises(ConnectorError, match="link to another address"):
        connector.delta(entra.target, cursor, set())
    assert entra.graph.calls == []


def test_the_orders_of_one_target_share_its_pooled_client(entra):
    """Graph connections are kept alive between orders: one client per target, the bearer
    token on each request rather than in the client (the stand-in checks it every time)."""
    from shared.connectors.pool import POOL

    built = POOL.built
    entra.do(Action.create_account)
    entra.do(Action.suspend)
    entra.do(Action.restore)

    assert POOL.built == built + 1
    assert entra.user["accountEnabled"] is True
