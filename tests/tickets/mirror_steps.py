"""Driving the `ticket-mirror` queue in tests: every due message handed to the service."""

from __future__ import annotations

from shared.services.tickets import TicketEvent, mirror


def pump(rt, queue: str = "ticket-mirror") -> int:
    """Handle every due message; the number handled."""
    handled = 0
    while (delivery := rt.bus.receive(queue)) is not None:
        mirror(rt, TicketEvent.model_validate_json(delivery.body))
        rt.bus.complete(delivery)
        handled += 1
    return handled


def form(form_response_id: str = "F-1", **over) -> dict:
    body = {"version": 1, "form_response_id": form_response_id, "submitted_at": "2026-11-02T08:55:00Z",
            "requester": {"email": "grace@example.edu", "name": "Grace Hopper"}, "service": "wiki",
            "category": "invite", "details": "Two colleagues <b>join</b> on Monday.",
            "accounts": [{"email": "alan@example.edu", "name": "Alan Turing"}]}
    body.update(over)
    return body
