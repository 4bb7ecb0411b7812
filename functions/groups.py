"""Group routes, the `person-changed` and `group-reevaluation` triggers, the due sweep."""

from __future__ import annotations

import logging

import azure.functions as func

from functions.http import PAGED, Call, endpoint, listed
from functions.queues import consume
from shared import telemetry
from shared.models.group import EvaluateIn, Group, GroupIn, GroupView, MemberIn, RuleIn
from shared.models.messages import PersonRef, ReevaluationRef
from shared.models.role import Role
from shared.runtime import runtime
from shared.services import groups
from shared.services.chain import after_group_change
from shared.services.membership import evaluate_person, memberships_of, sweep_due, upcoming

bp = func.Blueprint()
log = logging.getLogger("roster.groups")


@endpoint(bp, "groups", name="groups_list", methods=("GET",), role=(Role.groups_manage, Role.persons_read),
          query=PAGED, statuses=(200, 400, 422), summary="List groups, paged, by id")
def list_groups(call: Call):
    return listed(groups.group_page(call.rt, call.page("groups")))


@endpoint(bp, "groups", name="groups_create", methods=("POST",), role=Role.groups_manage, body=GroupIn,
          response=Group, statuses=(201, 409), summary="Create a group (a bad rule → 422 with the position)")
def create_group(call: Call):
    return 201, groups.create_group(call.rt, call.body, call.actor)


@endpoint(bp, "groups/{id}", name="groups_get", methods=("GET",), role=(Role.groups_manage, Role.persons_read), response=GroupView,
          statuses=(200, 404), summary="One group, with the progress of its latest re-evaluation")
def get_group(call: Call):
    group = groups.get_group(call.rt, call.route["id"])
    return GroupView(**group.model_dump(), reevaluation=groups.reevaluation_progress(call.rt, group.id))


@endpoint(bp, "groups/{id}", name="groups_update", methods=("PUT",), role=Role.groups_manage, body=GroupIn,
          response=Group, statuses=(200, 404, 409),
          summary="Change a group; a changed rule re-evaluates everyone in batches through the queue")
def update_group(call: Call):
    return groups.update_group(call.rt, call.route["id"], call.body, call.actor)


@endpoint(bp, "groups/{id}", name="groups_delete", methods=("DELETE",), role=Role.groups_manage,
          statuses=(200, 404, 409), summary="Delete a group; its members are re-evaluated")
def delete_group(call: Call):
    groups.delete_group(call.rt, call.route["id"], call.actor)
    return {"deleted": call.route["id"]}


@endpoint(bp, "groups/{id}/preview", name="groups_preview", methods=("POST",), role=Role.groups_manage,
          body=RuleIn, statuses=(200, 404), summary="Who would join and who would leave with this rule (nothing saved)")
def preview(call: Call):
    return groups.preview(call.rt, call.route["id"], call.body.rule)


@endpoint(bp, "groups/{id}/members", name="groups_members", methods=("GET",), role=(Role.groups_manage, Role.persons_read),
          query=PAGED, statuses=(200, 400, 404, 422), summary="Members with the reason for each, paged")
def list_members(call: Call):
    page = call.page("group-members", group=call.route["id"])
    return listed(groups.member_page(call.rt, call.route["id"], page))


@endpoint(bp, "groups/{id}/members", name="groups_member_add", methods=("POST",), role=(Role.groups_manage, Role.suspend_manage), body=MemberIn,
          statuses=(200, 404, 409),
          summary="Add a static member (suspend groups need Suspend.Manage); processed synchronously")
def add_member(call: Call):
    change = groups.add_member(call.rt, call.route["id"], call.body, call.actor, call.roles)
    return after_group_change(call.rt, change)


@endpoint(bp, "groups/{id}/members/{person_id}", name="groups_member_remove", methods=("DELETE",),
          role=(Role.groups_manage, Role.suspend_manage), query=("reason",), statuses=(200, 404, 409), summary="Remove a static member")
def remove_member(call: Call):
    reason = call.query("reason", max_length=1000) or "removed"
    change = groups.remove_member(call.rt, call.route["id"], call.route["person_id"], reason, call.actor, call.roles)
    return after_group_change(call.rt, change)


@endpoint(bp, "groups/{id}/repair", name="groups_repair", methods=("POST",), role=Role.admin, statuses=(200, 404),
          summary="Make the group's member list agree with the persons' memberships")
def repair(call: Call):
    return groups.repair_group(call.rt, call.route["id"])


@endpoint(bp, "groups/evaluate", name="groups_evaluate", methods=("POST",), role=Role.groups_manage,
          body=EvaluateIn, statuses=(200, 404), summary="Evaluate one person's groups now")
def evaluate(call: Call):
    change = evaluate_person(call.rt, call.body.person_id, f"evaluation asked by {call.actor}", call.actor,
                             announce=False)
    return after_group_change(call.rt, change)


@endpoint(bp, "persons/{id}/groups", name="persons_groups", methods=("GET",), role=Role.persons_read,
          statuses=(200, 404), summary="The person's memberships, with the reason for each")
def person_groups(call: Call):
    return {"items": memberships_of(call.rt, call.route["id"]), "next": None}


@endpoint(bp, "persons/{id}/upcoming", name="persons_upcoming", methods=("GET",), role=Role.persons_read,
          statuses=(200, 404), summary="Dated group changes to come (group, join/leave, when)")
def person_upcoming(call: Call):
    return {"items": upcoming(call.rt, call.route["id"]), "next": None}


@bp.function_name("person_changed_queue")
@bp.service_bus_queue_trigger(arg_name="msg", queue_name="%PersonChangedQueue%",
                              connection="ServiceBusConnection", is_sessions_enabled=True)
def person_changed_queue(msg: func.ServiceBusMessage) -> None:
    """A person changed (or a dated change is due): re-evaluate their groups."""
    consume(msg, "person-changed", PersonRef, lambda ref: evaluate_person(runtime(), ref.person_id, ref.cause))


@bp.function_name("group_reevaluation_queue")
@bp.service_bus_queue_trigger(arg_name="msg", queue_name="%GroupReevaluationQueue%",
                              connection="ServiceBusConnection")
def group_reevaluation_queue(msg: func.ServiceBusMessage) -> None:
    """One batch of a rule change's re-evaluation."""
    consume(msg, "group-reevaluation", ReevaluationRef,
            lambda ref: groups.reevaluate_bucket(runtime(), ref.group_id, ref.job_id, ref.bucket, ref.cause))


@bp.function_name("group_due_sweep")
@bp.timer_trigger(arg_name="timer", schedule="0 */5 * * * *", run_on_startup=False)
def group_due_sweep(timer: func.TimerRequest) -> None:
    """Safety net: anyone whose dated change is due is announced again."""
    with telemetry.span("timer group_due_sweep"):
        count = sweep_due(runtime())
    if count:
        log.info("due sweep announced %d persons", count)
