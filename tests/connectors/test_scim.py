"""The SCIM connector against a real scim2-server on 127.0.0.1."""

from __future__ import annotations

import httpx
import pytest

from shared.connectors import ConnectorError, Outcome, open_connector
from shared.connectors.scim import ScimConnector
from shared.models.person import Person
from shared.models.provisioning import Action, OrderState
from tests.factories import a_person, a_target, an_order
from tests.helpers.servers import SCIM_TOKEN, SCIM_TOKEN_ENV, ScimServer


class Scim:
    """Orders for one person in one SCIM target, and a plain HTTP look at the server."""

    def __init__(self, server: ScimServer, sleeps, person: Person | None = None, **settings):
        self.server = server
        self.sleeps = sleeps
        self.person = person or a_person()
        self.target = a_target("scim", **server.settings(**settings))
        self.external_id: str | None = None

    def do(self, action: Action, entitlement: str = "account") -> Outcome:
        connector = open_connector(self.target)
        order = an_order(action, entitlement, person_id=self.person.id)
        outcome = connector.execute(self.target, order, self.person, self.external_id)
        self.external_id = outcome.external_id or self.external_id
        return outcome

    def get(self, path: str, **params) -> httpx.Response:
        headers = {"Authorization": f"Bearer {SCIM_TOKEN}"}
        return httpx.get(self.server.url + path, params=params, headers=headers)

    def users(self) -> list[dict]:
        return self.get("/Users").json().get("Resources", [])

    def user(self) -> dict:
        return self.get(f"/Users/{self.external_id}").json()

    def members(self, group: str) -> list[str]:
        [found] = self.get("/Groups", filter=f'displayName eq "{group}"').json()["Resources"]
        return [m["value"] for m in found.get("members", [])]


@pytest.fixture
def scim(scim_server, sleeps) -> Scim:
    return Scim(scim_server, sleeps)


def test_create_account_creates_the_user_and_reads_it_back(scim):
    outcome = scim.do(Action.create_account)

    assert outcome.state == OrderState.verified
    assert outcome.external_id
    assert outcome.note == f"SCIM user {outcome.external_id[:5]}… created, read back"
    user = scim.user()
    assert user["userName"] == "ada.lovelace@example.edu"
    assert user["externalId"] == "p-ada"
    assert user["name"] == {"givenName": "Ada", "familyName": "Lovelace"}
    assert user["displayName"] == "Ada Lovelace"
    assert user["emails"] == [
        {"value": "ada.lovelace@example.edu", "type": "work", "primary": True}
    ]
    assert user["active"] is True


def test_the_bearer_token_comes_from_the_environment(scim):
    scim.do(Action.create_account)

    assert scim.server.requests  # and the server refuses a request without it:
    assert httpx.get(scim.server.url + "/Users").status_code == 401


def test_a_person_without_email_gets_the_person_id_as_user_name(scim_server, sleeps):
    scim = Scim(scim_server, sleeps, a_person("p-noemail", email=None))

    assert scim.do(Action.create_account).state == OrderState.verified
    assert scim.user()["userName"] == "p-noemail"


def test_create_account_again_adopts_the_user_instead_of_duplicating_it(scim):
    first = scim.do(Action.create_account)
    scim.external_id = None  # Roster lost the id: the user is found by externalId

    again = scim.do(Action.create_account)

    assert again.state == OrderState.verified
    assert again.external_id == first.external_id
    assert again.note.endswith("adopted, read back")
    assert len(scim.users()) == 1


def test_create_account_adopts_a_user_made_outside_roster_by_user_name(scim):
    made = httpx.post(
        scim.server.url + "/Users",
        json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ada.lovelace@example.edu",
              "active": False},
        headers={"Authorization": f"Bearer {SCIM_TOKEN}"},
    ).json()  # fmt: skip

    outcome = scim.do(Action.create_account)

    assert outcome.state == OrderState.verified
    assert outcome.external_id == made["id"]
    assert scim.user()["externalId"] == "p-ada"
    assert scim.user()["active"] is True
    assert len(scim.users()) == 1


def test_create_account_refuses_a_user_name_that_belongs_to_another_person(scim_server, sleeps):
    Scim(scim_server, sleeps, a_person("p-other")).do(Action.create_account)
    scim = Scim(scim_server, sleeps, a_person("p-ada"))  # same address, another person

    outcome = scim.do(Action.create_account)

    assert outcome.state == OrderState.errored
    assert outcome.note == "the SCIM user with this userName has another externalId"
    assert len(scim.users()) == 1


def test_create_account_with_a_stale_id_finds_or_makes_the_user(scim):
    scim.external_id = "gone-long-ago"

    outcome = scim.do(Action.create_account)

    assert outcome.state == OrderState.verified
    assert outcome.external_id != "gone-long-ago"


def test_grant_adds_the_user_to_the_group_made_on_demand_and_revoke_removes_it(scim):
    scim.do(Action.create_account)

    granted = scim.do(Action.grant, "editors")

    assert granted.state == OrderState.verified
    assert granted.note.endswith("added to group 'editors', read back")
    assert scim.members("editors") == [scim.external_id]

    revoked = scim.do(Action.revoke, "editors")

    assert revoked.state == OrderState.verified
    assert revoked.note.endswith("removed from group 'editors', read back")
    assert scim.members("editors") == []


def test_grant_twice_and_revoke_twice_change_nothing_more(scim):
    scim.do(Action.create_account)
    scim.do(Action.grant, "editors")

    assert scim.do(Action.grant, "editors").note.endswith("already in group 'editors', read back")
    assert scim.members("editors") == [scim.external_id]
    groups = scim.get("/Groups").json()["Resources"]
    assert len(groups) == 1

    scim.do(Action.revoke, "editors")
    again = scim.do(Action.revoke, "editors")

    assert again.state == OrderState.verified
    assert again.note.endswith("not in group 'editors'")


def test_grant_keeps_the_other_members_of_an_existing_group(scim_server, sleeps):
    grace = Scim(scim_server, sleeps, a_person("p-grace", "grace.hopper@example.edu"))
    grace.do(Action.create_account)
    grace.do(Action.grant, 'Finance "R/W"')  # a name that needs quoting in a filter
    ada = Scim(scim_server, sleeps)
    ada.do(Action.create_account)

    assert ada.do(Action.grant, 'Finance "R/W"').state == OrderState.verified
    assert sorted(ada.members('Finance \\"R/W\\"')) == sorted([grace.external_id, ada.external_id])

    ada.do(Action.revoke, 'Finance "R/W"')

    assert ada.members('Finance \\"R/W\\"') == [grace.external_id]


def test_grant_without_an_account_is_an_error(scim):
    outcome = scim.do(Action.grant, "editors")

    assert outcome == Outcome(
        OrderState.errored, "no SCIM user for this person: create the account first"
    )


def test_grant_finds_the_user_by_external_id_when_roster_has_no_id(scim):
    scim.do(Action.create_account)
    known = scim.external_id
    scim.external_id = None

    assert scim.do(Action.grant, "editors").external_id == known
    assert scim.members("editors") == [known]


def test_suspend_deactivates_and_restore_reactivates(scim):
    scim.do(Action.create_account)

    suspended = scim.do(Action.suspend)

    assert suspended.state == OrderState.verified
    assert suspended.note == f"SCIM user {scim.external_id[:5]}… deactivated, read back"
    assert scim.user()["active"] is False

    restored = scim.do(Action.restore)

    assert restored.state == OrderState.verified
    assert scim.user()["active"] is True


def test_disable_account_deactivates(scim):
    scim.do(Action.create_account)

    assert scim.do(Action.disable_account).state == OrderState.verified
    assert scim.user()["active"] is False


def test_update_account_replaces_names_and_emails(scim):
    scim.do(Action.create_account)
    scim.person = scim.person.model_copy(
        update={
            "names": scim.person.names.model_copy(update={"preferred": "Augusta", "family": "King"})
        }
    )

    outcome = scim.do(Action.update_account)

    assert outcome.state == OrderState.verified
    user = scim.user()
    assert user["displayName"] == "Augusta King"
    assert user["name"] == {"givenName": "Ada", "familyName": "King"}
    assert user["userName"] == "ada.lovelace@example.edu"  # never renamed: sign-in depends on it


def test_reset_credentials_is_not_for_scim(scim):
    outcome = scim.do(Action.reset_credentials)

    assert outcome == Outcome(
        OrderState.errored, "the scim connector does not carry out reset_credentials"
    )
    assert scim.server.requests == []


def test_delete_removes_the_user_and_a_second_delete_is_fine(scim):
    scim.do(Action.create_account)
    uid = scim.external_id

    deleted = scim.do(Action.delete_account)

    assert deleted.state == OrderState.verified
    assert deleted.note == f"SCIM user {uid[:5]}… deleted, read back"
    assert scim.get(f"/Users/{uid}").status_code == 404

    again = scim.do(Action.delete_account)

    assert again.state == OrderState.verified
    assert again.note == f"SCIM user {uid[:5]}… already gone, read back"


def test_delete_without_any_account_is_fine(scim):
    assert scim.do(Action.delete_account) == Outcome(
        OrderState.verified, "no SCIM user for this person: nothing to delete"
    )


def test_a_server_without_patch_gets_put(scim_server_without_patch, sleeps):
    scim = Scim(scim_server_without_patch, sleeps)
    scim.do(Action.create_account)

    assert scim.do(Action.grant, "editors").state == OrderState.verified
    assert scim.do(Action.suspend).state == OrderState.verified
    assert scim.do(Action.revoke, "editors").state == OrderState.verified

    assert scim.members("editors") == []
    assert scim.user()["active"] is False
    assert ("PUT", f"/v2/Users/{scim.external_id}") in scim.server.requests


def test_a_server_that_does_not_apply_the_change_fails_the_read_back(scim):
    scim.do(Action.create_account)
    scim.server.swallow_patches = True  # answers 204 to a PATCH and keeps the user as it was

    outcome = scim.do(Action.suspend)

    assert outcome.state == OrderState.errored
    assert outcome.note.endswith("read-back disagrees")
    assert scim.user()["active"] is True


# -- a server answering 4xx or 5xx, or gone ------------------------------------------------


def test_a_404_from_the_server_errors_the_order_at_once(scim):
    scim.external_id = "no-such-user"

    outcome = scim.do(Action.suspend)

    assert outcome == Outcome(OrderState.errored, "SCIM 404")
    assert scim.sleeps == []
    assert scim.server.requests == [("PATCH", "/v2/Users/no-such-user")]


def test_a_wrong_token_errors_the_order_at_once(scim, monkeypatch):
    monkeypatch.setenv(SCIM_TOKEN_ENV, "not-the-token")

    outcome = scim.do(Action.create_account)

    assert outcome == Outcome(OrderState.errored, "SCIM 401")
    assert len(scim.server.requests) == 1


def test_a_missing_token_errors_the_order_and_sends_nothing(scim, monkeypatch):
    monkeypatch.delenv(SCIM_TOKEN_ENV)

    outcome = scim.do(Action.create_account)

    assert outcome == Outcome(
        OrderState.errored,
        f"settings.token_env: environment variable {SCIM_TOKEN_ENV} is not set (the SCIM token)",
    )
    assert scim.server.requests == []


def test_a_passing_5xx_is_a_transient_outcome_and_the_next_attempt_verifies(scim):
    scim.do(Action.create_account)
    scim.server.fail_next(503)

    first = scim.do(Action.suspend)
    second = scim.do(Action.suspend)

    assert first == Outcome(OrderState.pending, "SCIM 503")
    assert first.transient
    assert second.state == OrderState.verified
    assert scim.sleeps == []  # nothing waits inside an attempt


def test_a_server_that_answers_500_makes_one_request_per_attempt(scim):
    scim.server.fail_next(*[500] * 10)

    outcome = scim.do(Action.create_account)

    assert outcome == Outcome(OrderState.pending, "SCIM 500")
    assert len(scim.server.requests) == 1


def test_a_server_gone_away_is_a_transient_outcome(scim):
    scim.do(Action.create_account)
    scim.server.stop()

    outcome = scim.do(Action.suspend)

    assert outcome == Outcome(OrderState.pending, "SCIM connection failed (ConnectError)")


def test_a_server_too_slow_is_a_transient_outcome_after_one_timeout(scim_server, sleeps):
    scim = Scim(scim_server, sleeps, timeout_seconds=0.2, retries=2)
    scim.server.app.check_auth = lambda request: __import__("time").sleep(1.0)

    outcome = scim.do(Action.create_account)

    assert outcome == Outcome(OrderState.pending, "SCIM timed out")
    assert sleeps == []


# -- reconciliation --------------------------------------------------------------------------


def test_accounts_lists_users_with_their_groups(scim_server, sleeps):
    ada = Scim(scim_server, sleeps)
    ada.do(Action.create_account)
    ada.do(Action.grant, "editors")
    ada.do(Action.grant, "admins")
    grace = Scim(scim_server, sleeps, a_person("p-grace", "grace.hopper@example.edu"))
    grace.do(Action.create_account)
    grace.do(Action.grant, "editors")
    grace.do(Action.suspend)

    rows = ScimConnector(sleep=sleeps).accounts(ada.target)

    assert sorted(rows, key=lambda r: r["person_id"]) == [
        {"person_id": "p-ada", "email": "ada.lovelace@example.edu", "entitlements": ["admins", "editors"],
         "active": True, "external_id": ada.external_id},
        {"person_id": "p-grace", "email": "grace.hopper@example.edu", "entitlements": ["editors"],
         "active": False, "external_id": grace.external_id},
    ]  # fmt: skip


def test_accounts_pages_through_a_long_listing(scim_server, sleeps, monkeypatch):
    monkeypatch.setattr("shared.connectors.scim.PAGE_SIZE", 2)
    for n in range(5):
        Scim(scim_server, sleeps, a_person(f"p-{n}", f"person{n}@example.edu")).do(
            Action.create_account
        )
    target = a_target("scim", **scim_server.settings())

    rows = ScimConnector(sleep=sleeps).accounts(target)

    assert sorted(r["person_id"] for r in rows) == [f"p-{n}" for n in range(5)]


def test_accounts_of_a_server_gone_away_raise_a_connector_error(scim_server, sleeps):
    target = a_target("scim", **scim_server.settings())
    scim_server.stop()

    with pytest.raises(ConnectorError) as raised:
        ScimConnector(sleep=sleeps).accounts(target)

    assert raised.value.note == "SCIM connection failed (ConnectError) after 3 attempts"
