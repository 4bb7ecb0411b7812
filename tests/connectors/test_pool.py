"""The pooled HTTP client per target (shared/connectors/pool.py) against a real keep-alive
receiver: orders reuse one connection, a changed setting gets a new client, the target's
`concurrency` bounds its calls, the outbound check still guards every request, and closing
the pool closes the clients."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from shared.clock import TravelClock
from shared.connectors import open_connector
from shared.connectors.pool import POOL, client_for
from shared.models.provisioning import Action, OrderState
from shared.outbound import AddressRefused
from tests.factories import NOW, a_person, a_target, an_order
from tests.helpers.hooks import hook

SECRET_ENV = "ROSTER_TARGET_SECRET_TEST_POOL"


@pytest.fixture(autouse=True)
def secret(monkeypatch):
    monkeypatch.setenv(SECRET_ENV, "pool-secret")


@pytest.fixture(autouse=True)
def empty_pool():
    POOL.close_all()
    yield
    POOL.close_all()


def deliver(target, order_id: str):
    connector = open_connector(target, clock=TravelClock(NOW))
    return connector.execute(target, an_order(Action.create_account, order_id=order_id), a_person(), None)


def test_the_orders_of_one_target_reuse_one_connection():
    with hook() as receiver:
        target = a_target("webhook", url=receiver.url, secret_env=SECRET_ENV)
        built = POOL.built

        outcomes = [deliver(target, f"o-{n}") for n in range(6)]

    assert {o.state for o in outcomes} == {OrderState.executed}
    assert len(receiver.bodies) == 6
    assert receiver.connections == 1  # one TCP connection for six orders
    assert POOL.built - built == 1


def test_a_changed_setting_gets_a_new_client_and_a_new_connection():
    with hook() as receiver:
        first = a_target("webhook", url=receiver.url, secret_env=SECRET_ENV)
        changed = a_target("webhook", url=receiver.url, secret_env=SECRET_ENV, timeout_seconds=3)
        built = POOL.built

        deliver(first, "o-1")
        deliver(changed, "o-2")
        deliver(changed, "o-3")

    assert POOL.built - built == 2
    assert receiver.connections == 2


def test_closing_the_pool_closes_its_clients_and_the_next_order_builds_another():
    with hook() as receiver:
        target = a_target("webhook", url=receiver.url, secret_env=SECRET_ENV)
        deliver(target, "o-1")
        client = client_for("app", url=receiver.url, timeout=10.0, concurrency=4)

        POOL.close_all()

        assert client.is_closed
        assert deliver(target, "o-2").state == OrderState.executed
    assert receiver.connections == 2


def test_a_target_never_gets_more_calls_at_once_than_its_concurrency():
    held = threading.Event()
    with hook(hold=held) as receiver:
        target = a_target("webhook", url=receiver.url, secret_env=SECRET_ENV, concurrency=2, timeout_seconds=10)
        with ThreadPoolExecutor(max_workers=6) as workers:
            futures = [workers.submit(deliver, target, f"o-{n}") for n in range(6)]
            deadline = time.monotonic() + 10
            while receiver.in_flight < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            at_most = receiver.most_in_flight
            held.set()
            outcomes = [f.result() for f in futures]

    assert at_most == 2  # two calls held by the receiver, four waiting for a connection
    assert receiver.most_in_flight == 2
    assert {o.state for o in outcomes} == {OrderState.executed}
    assert receiver.connections == 2


def test_a_pooled_client_still_checks_the_address_of_every_request():
    with hook() as receiver:
        client = client_for("app", url=receiver.url, timeout=5.0, concurrency=2)
        assert client.post(receiver.url, json={"order": {"id": "o-1"}}).status_code == 204

        with pytest.raises(AddressRefused, match="link-local"):
            client.get("http://169.254.169.254/latest/meta-data/")
        with pytest.raises(AddressRefused, match="private address"):
            client.get("http://10.0.0.8/hook")


def test_a_redirect_is_not_followed_by_a_pooled_client():
    def redirect(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "http://169.254.169.254/"})

    target = a_target("webhook", url="http://127.0.0.1:9/hook", secret_env=SECRET_ENV)
    connector = open_connector(target, clock=TravelClock(NOW), transport=httpx.MockTransport(redirect))

    outcome = connector.execute(target, an_order(Action.create_account), a_person(), None)

    assert (outcome.state, outcome.note) == (OrderState.errored, "HTTP 302")
