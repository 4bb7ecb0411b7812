"""The standard doors' routes (docs/scim.md): Entra-shaped bulk upload, its provisioning
logs, the per-source mapping, and the SCIM 2.0 service under `scim/v2`.

Errors: the Entra-shaped routes answer RFC 9457 problems like every `/api` route; the SCIM
service (`/api/scim/v2/...`) answers SCIM's own error schema
(`urn:ietf:params:scim:api:messages:2.0:Error` with `scimType`), as SCIM clients expect.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus

import azure.functions as func
from scim2_models import SCIMException, UnauthorizedException
from scim2_server.requests import ScimRequest
from scim2_server.responses import ScimResponse

from functions.auth import authenticate
from functions.http import Call, RouteInfo, endpoint, register
from shared.errors import BodyTooLarge, NotAuthenticated, NotFound
from shared.models.scim import ScimMapping
from shared.runtime import runtime
from shared.services.scim import inbound, service
from shared.services.scim.mapping import mapping_for, save_mapping
from shared.store.scim import LogRepository, MappingRepository

bp = func.Blueprint()
log = logging.getLogger("roster.scim")
SCIM_ROOT = "scim/v2"


@endpoint(
    bp, "servicePrincipals/{source}/synchronization/jobs/{job}/bulkUpload", name="scim_bulk_upload",
    methods=("POST",), role="Persons.Write", statuses=(202, 400, 413, 429),
    summary="Entra-shaped inbound provisioning: ≤ 50 SCIM users from one HR source, every outcome at once",
)
def bulk_upload(call: Call):
    source, job = call.route["source"], call.route["job"]
    inbound.check_rate(call.rt, source)
    raw, limit = call.req.get_body() or b"", call.rt.settings.max_message_bytes
    if len(raw) > limit:
        raise BodyTooLarge(f"the body is {len(raw)} bytes; the limit is {limit} (ROSTER_MAX_MESSAGE_BYTES)")
    operations = inbound.read_request(call.req.headers.get("content-type"), raw)
    done = inbound.upload(call.rt, source, job, operations, call.actor)
    api = f"{call.rt.settings.public_url}/api"
    location = f"{api}/provisioningLogs/{done.id}"
    body = inbound.response(done, location, f"{api}/persons")
    return func.HttpResponse(json.dumps(body, ensure_ascii=False), status_code=202, headers={"Location": location},
                             mimetype="application/scim+json", charset="utf-8")


@endpoint(
    bp, "provisioningLogs/{upload}", name="scim_provisioning_logs", methods=("GET",),
    role=("Persons.Read", "Persons.Write"), statuses=(200, 404),
    summary="One bulk upload's provisioning log (Entra's provisioningObjectSummary fields), readable at once",
)
def provisioning_logs(call: Call):
    entries = LogRepository(call.rt.store).of_upload(call.route["upload"])
    if not entries:
        raise NotFound(f"no provisioning log for upload {call.route['upload']!r}")
    return {"items": entries, "next": None}


@endpoint(
    bp, "sources/{source}/mapping", name="scim_mapping_get", methods=("GET",), role=("Admin", "Persons.Write"),
    response=ScimMapping, summary="The source's SCIM attribute mapping (the default until an Admin saves one)",
)
def get_mapping(call: Call):
    return mapping_for(MappingRepository(call.rt.store), call.route["source"])


@endpoint(
    bp, "sources/{source}/mapping", name="scim_mapping_put", methods=("PUT",), role="Admin", body=ScimMapping,
    response=ScimMapping, summary="Replace the source's SCIM attribute mapping (audited)",
)
def put_mapping(call: Call):
    return save_mapping(MappingRepository(call.rt.store), call.route["source"], call.body, call.actor,
                        call.rt.clock.now())


def serve_scim(req: func.HttpRequest) -> func.HttpResponse:
    """One SCIM request: authenticate, hand it to the SCIM service, answer SCIM JSON."""
    scim = service.service()
    try:
        rt = runtime()
        try:
            principal = authenticate(req, rt.settings)
        except NotAuthenticated as error:
            raise UnauthorizedException(detail=error.detail) from None
        request = _scim_request(req, principal.roles)
        return _http(service.handle(rt, request, principal.name))
    except SCIMException as error:
        return _http(scim.error_response(error))
    except Exception:
        log.exception("unhandled error in the SCIM service")
        return _http(scim.error_response(RuntimeError("unexpected")))


def _scim_request(req: func.HttpRequest, roles: frozenset[str]) -> ScimRequest:
    url = req.url.split("?", 1)[0]
    marker = f"/{SCIM_ROOT}"
    base, _, path = url.partition(marker)
    body = req.get_body() or b""
    return ScimRequest(
        method=req.method, base_url=f"{base}{marker}", path=f"/{path.lstrip('/')}" if path else "/",
        query=dict(req.params), headers=dict(req.headers), body=body, subject=frozenset(roles),
    )


def _http(response: ScimResponse) -> func.HttpResponse:
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}
    if response.status == HTTPStatus.UNAUTHORIZED:
        headers["WWW-Authenticate"] = 'Bearer realm="roster"'
    body = json.dumps(response.body, ensure_ascii=False, default=str) if response.body is not None else None
    return func.HttpResponse(body, status_code=int(response.status), headers=headers,
                             mimetype="application/scim+json", charset="utf-8")


register(bp, RouteInfo(
    "scim", SCIM_ROOT + "/{*path}", ("GET", "POST", "PUT", "PATCH", "DELETE"), ("Persons.Read", "Persons.Write"),
    "SCIM 2.0 service (RFC 7643/7644): discovery, Users, read-only Groups, /Bulk; SCIM error schema",
    statuses=(200, 201, 204, 304, 400, 401, 403, 404, 405, 409, 412, 413), errors="scim",
), serve_scim)
