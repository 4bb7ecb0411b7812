"""Item 7 of issue 11: every oversize or odd input is a 4xx, and nothing is stored."""

from __future__ import annotations

import base64
import dataclasses
import json
import re

import pytest

from functions.http import ROUTES
from tests.factories import hr_update
from tests.hardening.calls import call, functions, payload

functions()  # registers every route
# every route with an id in its path (the SCIM service's catch-all path is its own to answer)
ROUTED = sorted({(info.name, info.methods[0], info.route) for info in ROUTES if "{" in info.route and "{*" not in info.route})


def test_every_operation_with_a_path_id_is_listed():
    assert len([r for r in ROUTED if not r[0].startswith("console_")]) >= 18


@pytest.mark.parametrize(("name", "method", "route"), ROUTED, ids=[r[0] for r in ROUTED])
@pytest.mark.parametrize("odd", ["x" * 2000, "%" * 600, "a\x00b"], ids=["long", "escaped", "nul"])
def test_a_path_id_that_cannot_exist_is_a_404(rt, name, method, route, odd):
    params = {p: odd for p in re.findall(r"{(\w+)", route)}

    response = call(name, method, route=params, body={})

    assert response.status_code == 404


def _persons(rt) -> list:
    return [e for e in rt.store.table("identifiers").query("hr")]


def test_a_source_id_of_256_slashes_registers_and_is_found(rt):
    odd = "/" * 256

    created = call("persons_register", "POST", key="hr-key", body=hr_update(source_id=odd))
    again = call("persons_register", "POST", key="hr-key", body=hr_update(source_id=odd))
    found = payload(call("persons_search", key="reader-key", params={"source": "hr", "source_id": odd}))

    assert created.status_code == 201
    assert payload(again)["outcome"] == "unchanged"
    assert [p["id"] for p in found["items"]] == [payload(created)["person"]["id"]]


@pytest.mark.parametrize("odd", ["#?\\%" * 64, "😀" * 256, "a b", "x" * 256])
def test_odd_source_ids_within_the_documented_limit_work(rt, odd):
    created = call("persons_register", "POST", key="hr-key", body=hr_update(source_id=odd))
    found = payload(call("persons_search", key="reader-key", params={"source": "hr", "source_id": odd}))

    assert created.status_code == 201
    assert [p["id"] for p in found["items"]] == [payload(created)["person"]["id"]]


def _bulky(key: str, size: int) -> dict:
    """An affiliation carrying about `size` characters of attributes."""
    per = 1999
    count = max(1, size // per)
    attributes = {f"a{j}": "v" * per for j in range(min(count, 100))}
    return {"key": key, "type": "employee", "organization": "FIN", "start": "2024-01-01", "attributes": attributes}


def test_an_oversized_person_is_refused_before_any_write(rt, monkeypatch):
    """With a body limit raised above the store's (ROSTER_MAX_MESSAGE_BYTES may be), the
    person document is what is too large: refused before the identifier is claimed."""
    monkeypatch.setattr(rt, "settings", dataclasses.replace(rt.settings, max_message_bytes=4 * 1024 * 1024))
    big = hr_update(affiliations=[_bulky(f"job-{i}", 190_000) for i in range(3)])

    response = call("persons_register", "POST", key="hr-key", body=big)

    assert response.status_code == 413
    assert payload(response)["type"] == "urn:roster:problem:body-too-large"
    assert _persons(rt) == []  # no orphan identifier claim
    assert list(rt.store.table("directory").query("00")) == []


def test_an_update_that_would_make_a_stored_person_too_large_is_a_413_and_changes_nothing(rt):
    """Each source's update fits the body limit; together they would not fit one entity."""
    created = payload(call("persons_register", "POST", key="hr-key",
                           body=hr_update(affiliations=[_bulky("hr-job", 190_000)])))
    person_id = created["person"]["id"]
    for source in ("sis", "lms"):
        linked = call("persons_link", "POST", key="hr-key", route={"id": person_id},
                      body={"source": source, "source_id": "S-1", "reason": "matched"})
        assert linked.status_code == 200
    sis = hr_update(source="sis", source_id="S-1", affiliations=[_bulky("sis-job", 190_000)])
    assert call("persons_register", "POST", key="hr-key", body=sis).status_code == 200
    before = payload(call("persons_get", key="reader-key", route={"id": person_id}))

    lms = hr_update(source="lms", source_id="S-1", affiliations=[_bulky("lms-job", 190_000)])
    response = call("persons_register", "POST", key="hr-key", body=lms)

    assert response.status_code == 413
    after = payload(call("persons_get", key="reader-key", route={"id": person_id}))
    assert after["version"] == before["version"]


def _principal(document) -> str:
    return base64.b64encode(json.dumps(document).encode()).decode()


@pytest.mark.parametrize("header", [
    "not base64 at all!",
    base64.b64encode(b"not json").decode(),
    _principal([1, 2, 3]),
    _principal({"claims": "roles"}),
    _principal({"claims": [{"typ": "roles", "val": ["Admin"]}]}),
    _principal({"claims": [{"typ": "roles", "val": {"x": 1}}]}),
    base64.b64encode(b"[" * 100_000 + b"]" * 100_000).decode()[:60_000],
    _principal(json.loads("[" * 900 + "]" * 900)),
    "A" * 200_000,
], ids=["base64", "json", "list", "claims-text", "val-list", "val-object", "nested-cut", "nested", "huge"])
def test_a_malformed_or_nested_client_principal_is_a_401(rt, monkeypatch, header):
    monkeypatch.setattr(rt, "settings", dataclasses.replace(rt.settings, auth_enabled=True))

    response = call("persons_search", key=None, params={"q": "ada"}, headers={"x-ms-client-principal": header})

    assert response.status_code == 401


def test_a_deeply_nested_client_principal_that_is_valid_base64_and_json_is_a_401(rt, monkeypatch):
    monkeypatch.setattr(rt, "settings", dataclasses.replace(rt.settings, auth_enabled=True))
    nested = base64.b64encode(b'{"claims": ' + b"[" * 20_000 + b"]" * 20_000 + b"}").decode()

    response = call("persons_search", key=None, params={"q": "ada"}, headers={"x-ms-client-principal": nested})

    assert response.status_code == 401


def test_a_target_too_large_to_store_is_a_413_and_nothing_is_stored(rt):
    response = call("targets_create", "POST", body={"id": "wiki", "name": "Wiki", "settings": {"notes": "x" * 500_000}})

    assert response.status_code == 413
    assert call("targets_get", route={"id": "wiki"}).status_code == 404
