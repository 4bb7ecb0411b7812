"""SCIM `/Bulk` (shared/connectors/scim_bulk.py) against a real scim2-server on 127.0.0.1:
a batch of account orders in one bulk request when the server advertises Bulk, its limits
respected, each operation's status mapped back to its order, single calls when it does not."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from shared.connectors import open_connector
from shared.connectors.pool import POOL
from shared.models.person import Person
from shared.models.provisioning import Action, OrderState
from tests.factories import a_person, a_target, an_order
from tests.helpers.servers import SCIM_TOKEN, SCIM_TOKEN_ENV, ScimServer, start_scim_server


@pytest.fixture(autouse=True)
def token(monkeypatch):
    monkeypatch.setenv(SCIM_TOKEN_ENV, SCIM_TOKEN)
    POOL.close_all()
    yield
    POOL.close_all()


@contextmanager
def configured(**options) -> Iterator[ScimServer]:
    """scim2-server with other Bulk capabilities."""
    s = start_scim_server(**options)
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def server() -> Iterator[ScimServer]:
    with configured() as s:
        yield s


def persons(count: int) -> list[Person]:
    return [a_person(f"p-{n}", f"person{n}@example.edu") for n in range(count)]


def items(action: Action, people: list[Person], external_ids: list[str | None] | None = None) -> list:
    ids = external_ids or [None] * len(people)
    return [(an_order(action, person_id=p.id, order_id=f"o-{n}"), p, ids[n]) for n, p in enumerate(people)]


def run(server: ScimServer, batch: list, **settings):
    target = a_target("scim", **server.settings(**settings))
    return open_connector(target).execute_many(target, batch)


def users(server: ScimServer) -> list[dict]:
    answer = httpx.get(server.url + "/Users", headers={"Authorization": f"Bearer {SCIM_TOKEN}"})
    return answer.json().get("Resources", [])


def calls(server: ScimServer, method: str, path: str) -> int:
    return sum(1 for m, p in server.requests if (m, p) == (method, "/v2" + path))


def test_a_batch_of_creates_is_one_bulk_request_and_every_order_is_verified(server):
    outcomes = run(server, items(Action.create_account, persons(5)))

    assert server.requests == [("GET", "/v2/ServiceProviderConfig"), ("GET", "/v2/Users"),  # find them all
                               ("POST", "/v2/Bulk"), ("GET", "/v2/Users")]  # make them all, read them back
    assert {o.state for o in outcomes} == {OrderState.verified}
    assert all(o.note == f"SCIM user {o.external_id[:5]}… created (bulk), read back" for o in outcomes)
    assert sorted(u["externalId"] for u in users(server)) == [f"p-{n}" for n in range(5)]


def test_each_operations_status_is_mapped_back_to_its_own_order(server):
    made = run(server, items(Action.create_account, persons(2)))
    people = persons(3)
    batch = items(Action.disable_account, [people[0], people[2], people[1]], [made[0].external_id, "no-such-user", None])

    outcomes = run(server, batch)

    assert outcomes[0].state == OrderState.verified
    assert outcomes[0].note == f"SCIM user {made[0].external_id[:5]}… deactivated (bulk), read back"
    assert (outcomes[1].state, outcomes[1].note) == (OrderState.errored, "SCIM bulk 404")  # the failed operation
    assert outcomes[2].external_id == made[1].external_id  # found by its externalId
    assert outcomes[2].state == OrderState.verified
    assert {u["externalId"]: u["active"] for u in users(server)} == {"p-0": False, "p-1": False}


def test_creating_again_adopts_instead_of_duplicating(server):
    first = run(server, items(Action.create_account, persons(2)))
    again = run(server, items(Action.create_account, persons(3)))

    assert [o.external_id for o in again[:2]] == [o.external_id for o in first]
    assert [o.note.split("… ")[1] for o in again] == ["adopted, read back", "adopted, read back",
                                                     "created (bulk), read back"]
    assert len(users(server)) == 3


def test_delete_and_restore_go_through_bulk_and_a_second_delete_is_fine(server):
    made = run(server, items(Action.create_account, persons(2)))
    ids = [o.external_id for o in made]

    deleted = run(server, items(Action.delete_account, persons(2), ids))
    again = run(server, items(Action.delete_account, persons(1), ids[:1]))

    assert {o.state for o in deleted + again} == {OrderState.verified}
    assert again[0].note == f"SCIM user {ids[0][:5]}… already gone (bulk), read back"
    assert users(server) == []


def sized_run(server: ScimServer, count: int) -> tuple[int, list]:
    """The batch size the connector reads for the server, and `count` creates carried out."""
    target = a_target("scim", **server.settings())
    connector = open_connector(target)
    return connector.batch_size(target), connector.execute_many(target, items(Action.create_account, persons(count)))


def test_the_servers_max_operations_splits_a_batch_into_several_requests():
    with configured(max_operations=2) as small:
        size, outcomes = sized_run(small, 5)

        assert size == 2
        assert {o.state for o in outcomes} == {OrderState.verified}
        assert calls(small, "POST", "/Bulk") == 3


def test_the_servers_max_payload_size_splits_a_batch_into_several_requests():
    with configured(max_payload_size=1500) as small:
        outcomes = run(small, items(Action.create_account, persons(6)))

        assert {o.state for o in outcomes} == {OrderState.verified}
        assert calls(small, "POST", "/Bulk") > 1
        assert len(users(small)) == 6


def test_a_server_that_does_not_advertise_bulk_gets_single_calls():
    with configured(bulk=False) as plain:
        size, outcomes = sized_run(plain, 3)

        assert size == 1
        assert {o.state for o in outcomes} == {OrderState.verified}
        assert all(o.note.endswith("created, read back") for o in outcomes)
        assert calls(plain, "POST", "/Bulk") == 0 and calls(plain, "POST", "/Users") == 3


def test_grants_take_the_single_path_inside_a_bulk_batch(server):
    made = run(server, items(Action.create_account, persons(1)))
    batch = [(an_order(Action.grant, "editors", person_id="p-0", order_id="o-g"), persons(1)[0], made[0].external_id),
             *items(Action.create_account, persons(2))[1:]]

    outcomes = run(server, batch)

    assert [o.state for o in outcomes] == [OrderState.verified, OrderState.verified]
    assert "added to group 'editors'" in outcomes[0].note
    assert outcomes[1].note.endswith("created (bulk), read back")


def test_batch_size_1_turns_bulk_off(server):
    target = a_target("scim", **server.settings(batch_size=1))

    assert open_connector(target).batch_size(target) == 1


@pytest.mark.parametrize(("status", "state"), [(503, OrderState.pending), (400, OrderState.errored)])
def test_a_failed_bulk_request_is_every_orders_outcome_and_nothing_is_made(server, status, state):
    server.failures_on["POST /v2/Bulk"] = [status]

    outcomes = run(server, items(Action.create_account, persons(2)))

    assert [(o.state, o.note) for o in outcomes] == [(state, f"SCIM bulk {status}")] * 2
    assert users(server) == []
