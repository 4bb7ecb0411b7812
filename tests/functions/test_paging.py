"""Every list route pages: walked with `?next=` it returns each item exactly once, in order,
past the 500 it used to stop at; a forged token, a token of other filters or another list is
a 400 naming `next`; `limit` out of bounds is a 422 naming `limit` (docs/api.md, "Paging")."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from shared.models.messages import Email
from shared.models.provisioning import Target
from shared.models.request import RequestSubmission
from shared.services import orders, paging, requests, targets
from tests.helpers.app import http, payload
from tests.helpers.desk import form
from tests.helpers.lists import (
    MANY,
    many_dead_letters,
    many_groups,
    many_members,
    many_orders,
    many_persons,
)


def call(functions, name, path, key="admin-key", route=None, **params):
    return functions[name](http("GET", path, key=key, params=params, route=route))


def walk(functions, name, path, key="admin-key", route=None, **params) -> tuple[list, int]:
    """Every item of the list, following `next` page by page, and the number of pages."""
    items, pages, token = [], 0, None
    while True:
        response = call(functions, name, path, key, route, **params, **({"next": token} if token else {}))
        assert response.status_code == 200, response.get_body()
        body = payload(response)
        items += body["items"]
        pages += 1
        token = body["next"]
        if token is None:
            return items, pages
        assert pages <= MANY, "the list never ends"


def problem(response) -> tuple[int, list[str]]:
    body = payload(response)
    return response.status_code, [e["field"] for e in body.get("errors", [])]


# -- every list pages past 500 -------------------------------------------------------------------


def test_the_worklist_of_520_orders_comes_back_whole_in_pages_oldest_first(functions, rt):
    ids = many_orders(rt)
    items, pages = walk(functions, "orders_list", "orders", state="Transmitted", target="wiki")
    assert [o["id"] for o in items] == ids and pages == 6
    everything, _ = walk(functions, "orders_list", "orders", limit="500")
    assert [o["id"] for o in everything] == ids


def test_one_persons_orders_page_in_creation_order(functions, rt):
    ids = many_orders(rt, 30)
    person_id = ids[0].split(".")[0]
    items, pages = walk(functions, "orders_list", "orders", person=person_id, limit="7")
    assert [o["id"] for o in items] == ids[:20] and pages == 3


def test_a_text_search_matching_520_persons_pages_through_all_of_them(functions, rt):
    ids = many_persons(rt)
    items, pages = walk(functions, "persons_search", "persons", q="lovelace", limit="250")
    assert [p["id"] for p in items] == ids and pages == 3


def test_520_groups_page_by_id(functions, rt):
    ids = many_groups(rt)
    items, _ = walk(functions, "groups_list", "groups")
    assert [g["id"] for g in items] == sorted([*ids, "suspend-immediate"])  # the group that always exists


def test_a_group_of_520_members_pages(functions, rt):
    ids = many_members(rt)
    items, pages = walk(functions, "groups_members", "groups/visitors/members", route={"id": "visitors"})
    assert [m["person_id"] for m in items] == ids and pages == 6


def test_520_dead_letters_page(functions, rt):
    ids = many_dead_letters(rt)
    items, _ = walk(functions, "ops_deadletters", "deadletters", queue="person-update", limit="200")
    assert [m["message_id"] for m in items] == ids


def test_520_stored_emails_page_oldest_first(functions, rt, clock):
    for n in range(MANY):
        clock.advance(timedelta(seconds=1))
        rt.mail.send(Email(to=[f"p{n}@example.edu"], subject=f"s{n:04d}", text="hello"))
    items, _ = walk(functions, "ops_outbox", "outbox", limit="500")
    assert [m["subject"] for m in items] == [f"s{n:04d}" for n in range(MANY)]


def test_520_requests_page_in_number_order(functions, rt):
    targets.create_target(rt, Target(id="wiki", name="Wiki", connector="manual"), "test")
    for n in range(MANY):
        requests.submit(rt, RequestSubmission.model_validate(form(f"F-{n}")), "flow")
    items, pages = walk(functions, "requests_list", "requests", key="desk-key")
    assert [r["number"] for r in items] == [f"REQ-{n:06d}" for n in range(1, MANY + 1)] and pages == 6


# -- refused tokens and limits ---------------------------------------------------------------


def first_token(functions, **params) -> str:
    body = payload(call(functions, "orders_list", "orders", limit="2", **params))
    assert body["next"], "the list has a second page"
    return body["next"]


def test_a_forged_or_garbled_token_is_a_400_naming_next(functions, rt):
    many_orders(rt, 5)
    token = first_token(functions, target="wiki")
    document, mac = token.split(".")
    raw = json.loads(base64.urlsafe_b64decode(document + "=" * (-len(document) % 4)))
    raw["c"][2] = "0"  # moved to another position, the MAC left as it was
    forged = base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=") + "." + mac
    for bad in (forged, "garbage", token[:-3], token + "x", "e30.", "." + mac):
        assert problem(call(functions, "orders_list", "orders", target="wiki", next=bad)) == (400, ["next"]), bad


def test_a_token_from_other_filters_or_another_list_is_a_400_naming_next(functions, rt):
    many_orders(rt, 5)
    token = first_token(functions, target="wiki")
    assert problem(call(functions, "orders_list", "orders", target="wiki", state="Transmitted", next=token)) == (400, ["next"])
    assert problem(call(functions, "orders_list", "orders", next=token)) == (400, ["next"])
    assert problem(call(functions, "groups_list", "groups", next=token)) == (400, ["next"])
    assert call(functions, "orders_list", "orders", target="wiki", next=token).status_code == 200


@pytest.mark.parametrize("limit", ["0", "501", "-1", "ten", "1.5"])
def test_a_limit_out_of_bounds_is_a_422_naming_limit(functions, rt, limit):
    for name, path, params in (("orders_list", "orders", {}), ("groups_list", "groups", {}),
                               ("ops_deadletters", "deadletters", {"queue": "person-update"})):
        assert problem(call(functions, name, path, limit=limit, **params)) == (422, ["limit"]), name


def test_limit_bounds_are_accepted_and_cut_the_page(functions, rt):
    many_orders(rt, 3)
    one = payload(call(functions, "orders_list", "orders", limit="1"))
    assert len(one["items"]) == 1 and one["next"]
    full = payload(call(functions, "orders_list", "orders", limit="500"))
    assert len(full["items"]) == 3 and full["next"] is None



class CountingTable:
    """A table that counts the rows its queries hand out."""

    def __init__(self, table, counts: list[int]):
        self._table, self._counts = table, counts

    def __getattr__(self, name):
        return getattr(self._table, name)

    def query(self, *args, **kwargs):
        for entity in self._table.query(*args, **kwargs):
            self._counts.append(1)
            yield entity


def test_a_page_of_the_worklist_reads_about_one_page_of_the_store_not_the_whole_queue(rt, monkeypatch):
    many_orders(rt)
    counts: list[int] = []
    table = rt.store.table
    monkeypatch.setattr(rt.store, "table", lambda name: CountingTable(table(name), counts))
    asked = paging.page("orders", {"target": "wiki", "state": "Transmitted", "person": None}, "10")
    found, following = orders.order_page(rt, asked, "wiki", "Transmitted", None)
    assert len(found) == 10 and following is not None
    assert len(counts) <= 3 * 12  # queue rows, orders and the target: about one page, not 520
