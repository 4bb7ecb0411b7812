"""Service Bus's limits hold on the local bus too, so tests catch what Azure would refuse:
ids of at most 128 characters (Roster derives a digest when longer), bodies of at most
ROSTER_MAX_MESSAGE_BYTES — the same setting the HTTP boundary answers 413 with."""

from __future__ import annotations

import pytest
from azure.servicebus import ServiceBusMessage

from shared.bus import MAX_ID_CHARS, LocalBus, MessageTooLarge, bus_id, open_bus
from shared.bus import servicebus as module
from shared.bus.servicebus import ServiceBusBus
from shared.config import Settings, SettingsError
from shared.models.group import GroupIn
from shared.models.person import PersonUpdate
from shared.models.provisioning import Target
from shared.services import groups
from shared.services.chain import run_sync
from shared.store.targets import TargetRepository
from tests.bus.calls import call, payload
from tests.factories import hr_update


@pytest.fixture
def extra_settings() -> dict[str, str]:
    return {"ROSTER_MAX_MESSAGE_BYTES": "65536"}


def test_a_short_id_is_kept_and_a_long_one_becomes_128_characters_ending_in_a_digest():
    assert bus_id("order:p1.abc:0") == "order:p1.abc:0"
    long = "person-update:" + "x" * 300
    derived = bus_id(long)
    assert len(derived) == MAX_ID_CHARS
    assert derived.startswith("person-update:xxx") and derived == bus_id(long)
    assert bus_id(long + "y") != derived  # the digest covers the whole text


@pytest.mark.parametrize("field", ["message_id", "session_id"])
def test_the_local_bus_refuses_an_id_service_bus_refuses_with_its_words(tmp_path, field):
    with pytest.raises(ValueError) as sdk:
        ServiceBusMessage("{}", **{field: "x" * 129})
    bus = LocalBus(str(tmp_path / "bus.db"))
    ids = {"message_id": "m-1", field: "x" * 129}

    with pytest.raises(ValueError) as local:
        bus.publish("q", "{}", **ids)

    assert str(local.value) == str(sdk.value)
    bus.publish("q", "{}", **{**ids, field: "x" * 128})
    assert bus.active_count("q") == 1


def test_both_adapters_refuse_a_body_over_the_limit_before_sending(tmp_path, monkeypatch):
    local = LocalBus(str(tmp_path / "bus.db"), max_message_bytes=1000)
    sent = []
    monkeypatch.setattr(module.ServiceBusBus, "_sender", lambda self, queue: sent.append(queue))
    remote = ServiceBusBus(connection_string="Endpoint=sb://x/;SharedAccessKeyName=k;SharedAccessKey=v",
                           max_message_bytes=1000)

    for bus in (local, remote):
        with pytest.raises(MessageTooLarge) as refused:
            bus.publish("q", b"x" * 1001, message_id="m-1")
        assert refused.value.status == 413

    local.publish("q", b"x" * 1000, message_id="m-2")
    assert local.active_count("q") == 1 and sent == []


def test_an_http_body_over_the_message_limit_is_a_413_naming_the_limit(rt):
    update = hr_update(names={"given": "A" * 70_000, "family": "L"})

    response = call("persons_register", "POST", "persons", key="hr-key", body=update, params={"mode": "async"})

    assert response.status_code == 413
    assert "65536" in payload(response)["detail"]


def test_an_async_update_with_a_long_source_id_is_queued_under_a_derived_session(rt):
    update = hr_update(source_id="S" * 250)

    response = call("persons_register", "POST", "persons", key="hr-key", body=update, params={"mode": "async"})

    assert response.status_code == 202
    delivery = rt.bus.receive(rt.settings.queue("person-update"))
    assert len(delivery.session_id) == MAX_ID_CHARS
    assert delivery.session_id == bus_id("hr:" + "S" * 250)


def test_a_policy_on_a_group_with_a_63_character_id_reaches_its_members(rt):
    group_id = "finance-" + "g" * 55
    rule = 'person.affiliations -any (affiliation.organization -eq "FIN")'
    groups.create_group(rt, GroupIn(id=group_id, name="Long", kind="dynamic", rule=rule), "admin")
    run_sync(rt, PersonUpdate.model_validate(hr_update()), "hr")
    TargetRepository(rt.store).save(Target(id="wiki", name="Wiki"))

    response = call("targets_policy_add", "POST", "targets/wiki/policies", body={"group_id": group_id},
                    route={"id": "wiki"})

    assert response.status_code == 201
    delivery = rt.bus.receive(rt.settings.queue("group-update"))
    assert delivery is not None and len(delivery.message_id) == MAX_ID_CHARS


def test_the_message_limit_is_one_setting_for_the_bus_and_checked_when_read(tmp_path):
    settings = Settings.from_env({"ROSTER_BUS_PATH": str(tmp_path / "bus.db"), "ROSTER_MAX_MESSAGE_BYTES": "2048"})
    bus = open_bus(settings)
    try:
        with pytest.raises(MessageTooLarge):
            bus.publish("q", b"x" * 2049, message_id="m-1")
    finally:
        bus.close()
    assert Settings.from_env({}).max_message_bytes == 256 * 1024
    for wrong in ("abc", "0", "-5", str(200 * 1024 * 1024)):
        with pytest.raises(SettingsError, match="ROSTER_MAX_MESSAGE_BYTES"):
            Settings.from_env({"ROSTER_MAX_MESSAGE_BYTES": wrong})
