"""The order lifecycle on the model: `Order.new`, `order.moved_to` checked against the one
transition table, and every action's traits declared beside `Action` — a new action without
its traits, or a trait no part of Roster understands, fails here."""

from __future__ import annotations

import pytest

from shared.connectors import scim
from shared.connectors.directory import DIRECTORY_STEPS
from shared.errors import Conflict
from shared.models.provisioning import (
    ACTION_TRAITS,
    OPEN_STATES,
    TRANSITIONS,
    Action,
    ActionTraits,
    InvalidOrderTransition,
    Move,
    Order,
    OrderState,
    Presence,
)
from shared.models.request import AccountAction
from tests.factories import NOW, an_order

ON_REMOVE = ("disable", "delete")
FINAL_STATES = {OrderState.verified, OrderState.inactive}


def test_every_action_walks_through_every_trait_table():
    requested = {AccountAction(a): set() for a in AccountAction}
    for action in Action:
        traits = ACTION_TRAITS.get(action)
        assert isinstance(traits, ActionTraits), f"{action.value} has no traits"
        assert not (traits.grants and traits.removes), f"{action.value} both grants and removes"
        assert isinstance(traits.confirmed_by, Presence)
        # reconciliation: exactly the outcomes its presence rule names confirm it
        outcomes = {present: traits.confirmed_by.confirms(present) for present in (True, False, None)}
        assert any(outcomes.values()) and not all(outcomes.values()), action.value
        # the SCIM and the directory connectors: a step they can take, or explicitly none
        assert traits.scim is None or traits.scim in scim._STEPS, action.value
        assert traits.directory is None or traits.directory in DIRECTORY_STEPS, action.value
        # the request desk: the action a request's account action becomes on each kind of target
        if traits.request is not None:
            for on_remove in ON_REMOVE if traits.on_remove is None else (traits.on_remove,):
                assert Action.for_request(traits.request, on_remove) is action
                requested[traits.request].add(on_remove)
        assert traits.on_remove in (None, *ON_REMOVE)
    assert all(set(kinds) == set(ON_REMOVE) for kinds in requested.values()), requested


def test_grants_and_removals_are_the_actions_that_give_and_take_access():
    assert {a for a in Action if a.grants} == {Action.create_account, Action.grant}
    assert {a for a in Action if a.removes} == {Action.revoke, Action.disable_account, Action.delete_account}


def test_reconciliation_confirms_a_removal_only_when_the_account_is_gone_or_inactive():
    assert Action.delete_account.traits.confirmed_by.confirms(None)
    assert not Action.delete_account.traits.confirmed_by.confirms(False)
    assert Action.disable_account.traits.confirmed_by.confirms(False)
    assert not Action.create_account.traits.confirmed_by.confirms(None)


def test_a_new_order_is_pending_with_its_reason_as_the_first_event():
    order = Order.new(id="o-1", person_id="p-1", target_id="wiki", entitlement="account",
                      action=Action.create_account, reason="member of fin", at=NOW, by="hr")
    assert order.state == OrderState.pending and order.created_at == order.updated_at == NOW
    assert [(e.state, e.by, e.note) for e in order.history] == [(OrderState.pending, "hr", "member of fin")]


def test_every_state_is_reached_from_pending_and_final_states_have_no_way_out():
    reached, frontier = {OrderState.pending}, [OrderState.pending]
    while frontier:
        state = frontier.pop()
        for sources, destinations in TRANSITIONS.values():
            if state in sources:
                frontier += [d for d in destinations if d not in reached]
                reached |= destinations
    assert reached == set(OrderState)
    assert all(not (FINAL_STATES & sources) for sources, _ in TRANSITIONS.values())
    assert OPEN_STATES.isdisjoint(FINAL_STATES | {OrderState.executed})


@pytest.mark.parametrize("move", list(Move))
def test_each_move_records_itself_and_is_refused_from_every_other_state(move):
    sources, destinations = TRANSITIONS[move]
    state = sorted(destinations)[0]
    for current in OrderState:
        order = an_order(Action.grant).model_copy(update={"state": current})
        if current in sources:
            moved = order.moved_to(state, "staff", "why", at=NOW, move=move, error="e")
            assert moved.state == state and moved.error == "e" and moved.history[-1].note == "why"
            assert order.state == current  # the original is untouched
        else:
            with pytest.raises(InvalidOrderTransition) as refused:
                order.moved_to(state, "staff", "why", at=NOW, move=move)
            assert isinstance(refused.value, Conflict) and refused.value.status == 409
            assert refused.value.extra == {"current_state": current.value}


def test_a_move_to_a_state_it_does_not_lead_to_is_a_programming_error():
    with pytest.raises(ValueError):
        an_order(Action.grant).moved_to(OrderState.verified, "staff", at=NOW, move=Move.dispatch)


def test_confirming_a_pending_automatic_order_by_hand_is_refused():
    """Only orders on the worklist (Transmitted) are confirmed by hand; a connector's order
    stays the connector's."""
    with pytest.raises(InvalidOrderTransition) as refused:
        an_order(Action.grant).moved_to(OrderState.executed, "staff", at=NOW, move=Move.confirm)
    assert refused.value.detail == "the grant order for the person in app is Pending, not Transmitted"
    assert "o-1" not in refused.value.detail  # staff read it: no internal ids
