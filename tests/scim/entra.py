"""Entra API-driven inbound provisioning payloads, built from Microsoft's documented field
lists and examples (bulkUpload: core + enterprise User schemas, externalId, a custom
namespace `urn:contoso:employee` with HireDate/JobCode, `active: false` for leavers,
`manager.value` as the manager's externalId)."""

from __future__ import annotations

import copy
from typing import Any

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CONTOSO = "urn:contoso:employee"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"

CONTOSO_MAPPING = {
    "start": f"{CONTOSO}:HireDate",
    "end": f"{CONTOSO}:LeaveDate",
    "as_of": f"{CONTOSO}:LastModified",
}

BARBARA: dict[str, Any] = {
    "schemas": [CORE, ENTERPRISE, CONTOSO],
    "externalId": "701984",
    "userName": "bjensen@contoso.example",
    "name": {"formatted": "Ms. Barbara J Jensen, III", "familyName": "Jensen", "givenName": "Barbara",
             "middleName": "Jane", "honorificPrefix": "Ms.", "honorificSuffix": "III"},
    "displayName": "Babs Jensen",
    "nickName": "Babs",
    "profileUrl": "https://login.example.com/bjensen",
    "userType": "Employee",
    "title": "Tour Guide",
    "preferredLanguage": "en-US",
    "locale": "en-US",
    "timezone": "America/Los_Angeles",
    "active": True,
    "emails": [{"value": "bjensen@contoso.example", "type": "work", "primary": True},
               {"value": "babs@jensen.example", "type": "home"}],
    "phoneNumbers": [{"value": "555-555-5555", "type": "work"}],
    "addresses": [{"type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood",
                   "region": "CA", "postalCode": "91608", "country": "USA", "primary": True}],
    ENTERPRISE: {"employeeNumber": "701984", "costCenter": "4130", "organization": "Universal Studios",
                 "division": "Theme Park", "department": "Tour Operations", "manager": {"value": "89607"}},
    CONTOSO: {"HireDate": "2026-09-01", "JobCode": "TG-2", "LastModified": "2026-11-01T08:00:00Z"},
}


def worker(external_id: str, given: str, family: str, **changes: Any) -> dict[str, Any]:
    """Barbara's record shape for another worker; `changes` override top-level attributes."""
    data = copy.deepcopy(BARBARA)
    data.update(externalId=external_id, userName=f"{given.lower()}@contoso.example",
                name={"givenName": given, "familyName": family},
                emails=[{"value": f"{given.lower()}@contoso.example", "type": "work", "primary": True}])
    data[ENTERPRISE] = {**data[ENTERPRISE], "employeeNumber": external_id}
    data.update(changes)
    return data


def operation(data: dict[str, Any], bulk_id: str | None = None, **over: Any) -> dict[str, Any]:
    return {"method": "POST", "bulkId": bulk_id or str(data.get("externalId")), "path": "/Users", "data": data,
            **over}


def bulk(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [BULK], "Operations": list(operations), "failOnErrors": None}


def leaver(data: dict[str, Any], last_modified: str) -> dict[str, Any]:
    gone = copy.deepcopy(data)
    gone["active"] = False
    gone[CONTOSO] = {**gone[CONTOSO], "LastModified": last_modified}
    return gone
