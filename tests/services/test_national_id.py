"""National ids: normalised, refused when malformed, kept only as a keyed hash, and refused
outright when the registry has no key to hash them with."""

from __future__ import annotations

import pytest

from shared.errors import InvalidInput
from shared.matching.national_id import keyed_hash, normalised
from shared.models.person import PersonUpdate
from shared.services.registration import register
from shared.store.persons import PersonRepository
from tests.factories import hr_update


def test_separators_and_case_do_not_change_the_hash():
    assert normalised(" ab-12.34/56 ") == "AB123456"
    assert keyed_hash("AB 12 34 56", "k") == keyed_hash("ab123456", "k")


def test_another_key_gives_another_hash():
    assert keyed_hash("AB123456", "k1") != keyed_hash("AB123456", "k2")


@pytest.mark.parametrize("value", ["--", "ABCDEF", "12;DROP", "1" * 21])
def test_a_malformed_national_id_is_refused(value):
    with pytest.raises(ValueError):
        normalised(value)


def test_without_a_key_a_national_id_is_refused_and_nothing_is_stored(rt):
    assert rt.settings.national_id_key is None
    with pytest.raises(InvalidInput) as refused:
        register(rt, PersonUpdate.model_validate(hr_update(national_id="AB123456")), "hr")
    assert refused.value.errors[0].field == "national_id"
    assert PersonRepository(rt.store).owner_of("hr", "E1001") is None


def test_a_parked_message_never_keeps_a_clear_national_id():
    from shared.matching.national_id import redacted

    body = b'{"source": "hr", "national_id": "AB 12 34 56", "national_id_hash": null}'
    assert redacted(body) == b'{"source": "hr", "national_id": "[redacted]", "national_id_hash": null}'


def test_an_unresolved_key_vault_reference_is_no_key():
    from shared.config import Settings

    unresolved = "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/national-id-key)"
    assert Settings.from_env({"ROSTER_NATIONAL_ID_KEY": unresolved}).national_id_key is None
    assert Settings.from_env({"ROSTER_NATIONAL_ID_KEY": "k"}).national_id_key == "k"
