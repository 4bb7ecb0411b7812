"""Provisioning routes called as the Functions host calls them: bad input and roles."""

from __future__ import annotations

from tests.helpers.app import http, payload


def call(functions, name, method, path, key="admin-key", body=None, raw=None, headers=None, **route):
    return functions[name](http(method, path, key=key, body=body, raw=raw, headers=headers, route=route))


def test_a_policy_naming_an_unknown_group_or_target_is_refused(functions, rt, finance):
    unknown_group = call(functions, "targets_policy_add", "POST", "targets/wiki/policies",
                         body={"group_id": "nobody-here"}, id="wiki")
    assert unknown_group.status_code == 422
    assert payload(unknown_group)["errors"][0]["field"] == "group_id"
    unknown_target = call(functions, "targets_policy_add", "POST", "targets/nowhere/policies",
                          body={"group_id": "fin-employees"}, id="nowhere")
    assert unknown_target.status_code == 404


def test_a_webhook_target_without_a_url_is_refused(functions, rt):
    response = call(functions, "targets_create", "POST", "targets", body={"id": "hook", "name": "Hook", "connector": "webhook"})
    assert response.status_code == 422 and "settings.url" in payload(response)["detail"]


def test_confirming_twice_is_a_409_naming_the_current_state(functions, rt, finance):
    [order] = finance().orders
    first = call(functions, "orders_confirm", "POST", f"orders/{order.id}/confirm", id=order.id)
    assert first.status_code == 200 and payload(first)["state"] == "Executed"
    again = call(functions, "orders_confirm", "POST", f"orders/{order.id}/confirm", id=order.id)
    assert again.status_code == 409
    assert payload(again)["current_state"] == "Executed"


def test_bulk_with_unknown_ids_reports_each_and_proceeds_with_the_rest(functions, rt, finance):
    [order] = finance().orders
    response = call(functions, "orders_bulk", "POST", "orders/bulk",
                    body={"action": "confirm", "ids": [order.id, "ghost.123", "plain"]})
    results = payload(response)["results"]
    assert [(r["id"], r["ok"]) for r in results] == [(order.id, True), ("ghost.123", False), ("plain", False)]


def test_reconciliation_that_does_not_parse_is_a_400(functions, rt, finance):
    [order] = finance().orders
    call(functions, "orders_confirm", "POST", f"orders/{order.id}/confirm", id=order.id)
    response = call(functions, "targets_reconcile", "POST", "targets/wiki/reconcile", raw=b"{broken", id="wiki")
    assert response.status_code == 400
    csv = call(functions, "targets_reconcile", "POST", "targets/wiki/reconcile", raw=b"who,what\n1,2\n",
               headers={"content-type": "text/csv"}, id="wiki")
    assert csv.status_code == 400 and "person_id, email or account" in payload(csv)["detail"]
    assert payload(call(functions, "orders_get", "GET", f"orders/{order.id}", id=order.id))["state"] == "Executed"


def test_worklist_actions_need_provisioning_operate(functions, rt, finance):
    [order] = finance().orders
    assert call(functions, "orders_confirm", "POST", "x", key="reader-key", id=order.id).status_code == 403
    assert call(functions, "orders_list", "GET", "orders", key=None).status_code == 401
    assert call(functions, "targets_create", "POST", "targets", key="hr-key",
                body={"id": "x", "name": "X"}).status_code == 403
