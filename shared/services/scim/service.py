"""The SCIM 2.0 service at `/api/scim/v2` (docs/scim.md): `scim2-server`'s protocol
(discovery, filters, paging, PATCH, ETags, /Bulk with bulkId references) over
`RosterStorage`, with Roster's roles and SCIM's error schema.

Reads need `Persons.Read` (or `Persons.Write`); writes `Persons.Write`; Groups are
read-only. A client writes as the source `scim-<caller>` (see `source_for`).
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    ETag,
    External,
    Filter,
    ForbiddenException,
    InvalidPathException,
    NoTargetException,
    Patch,
    Path,
    Reference,
    Resource,
    ResourceType,
    ResponseParameters,
    SCIMException,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
)
from scim2_server.errors import MethodNotAllowedException
from scim2_server.handler import ScimHandler
from scim2_server.requests import ScimRequest
from scim2_server.responses import ScimResponse
from scim2_server.routing import Operation, Target
from scim2_server.service import ScimService
from scim2_server.utils import load_default_resource_types, load_default_schemas

from shared.runtime import Runtime
from shared.services.scim.users import READ_ONLY, RosterStorage

MAX_OPERATIONS = 100
MAX_PAYLOAD = 1024 * 1024
MAX_RESULTS = 200
READS = (Operation.query, Operation.search, Operation.search_with_body)
READ_ROLES = ("Persons.Read", "Persons.Write", "Admin")
WRITE_ROLES = ("Persons.Write", "Admin")


def config() -> ServiceProviderConfig:
    return ServiceProviderConfig(
        documentation_uri=Reference[External]("https://github.com/roster/roster/blob/main/docs/scim.md"),
        patch=Patch(supported=True),
        bulk=Bulk(supported=True, max_operations=MAX_OPERATIONS, max_payload_size=MAX_PAYLOAD),
        filter=Filter(supported=True, max_results=MAX_RESULTS),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=True),
        etag=ETag(supported=True),
        authentication_schemes=[AuthenticationScheme(
            type=AuthenticationScheme.Type.oauthbearertoken, name="Bearer token",
            description="An Entra ID token for Roster's app (App Service Authentication) or a Roster API key",
            primary=True,
        )],
    )


@cache
def provider() -> ScimProvider:
    return ScimProvider.from_discovery(load_default_schemas().values(), load_default_resource_types().values(),
                                       config=config())


class RosterScimService(ScimService):
    """scim2-server's service with Roster's roles; a PATCH answers 200 with the resource."""

    def authorize(self, request: ScimRequest, target: Target, resource_type: ResourceType) -> None:
        roles = request.subject or frozenset()
        reading = target.operation in READS
        if resource_type.name == "Group" and not reading:
            raise MethodNotAllowedException(allowed=("GET",), detail=READ_ONLY)
        wanted = READ_ROLES if reading else WRITE_ROLES
        if not roles & set(wanted):
            raise ForbiddenException(detail=f"this needs the role {' or '.join(wanted[:2])}")

    def read_patch(self, resource_type: ResourceType, body: bytes, content_type: str | None):
        """A well-formed path naming no attribute of the schema is `noTarget` (RFC 7644
        §3.5.2); a malformed one stays `invalidPath`."""
        try:
            return super().read_patch(resource_type, body, content_type)
        except InvalidPathException as error:
            if not _well_formed_paths(body):
                raise
            raise NoTargetException(detail=error.detail) from None

    def patch_response(self, base_url: str, resource: Resource[Any],
                       response_parameters: ResponseParameters[Any]) -> ScimResponse:
        published = self.publish(base_url, resource)
        return self.resource_response(published, Context.RESOURCE_REPLACEMENT_RESPONSE, response_parameters)


def _well_formed_paths(body: bytes) -> bool:
    try:
        operations = json.loads(body).get("Operations") or []
        for operation in operations:
            if operation.get("path") is not None:
                Path(operation["path"])
    except (ValueError, AttributeError, TypeError, SCIMException):
        return False
    return True


@cache
def service() -> RosterScimService:
    return RosterScimService(provider())


def source_for(caller: str) -> str:
    """The source a SCIM client writes as: `scim-` and the caller's name in lower-case
    letters, digits, dots and dashes (`apikey:1a2b3c4d` → `scim-apikey-1a2b3c4d`)."""
    slug = re.sub(r"[^a-z0-9.]+", "-", caller.lower()).strip("-")
    return f"scim-{slug}"[:100]


def handle(rt: Runtime, request: ScimRequest, caller: str) -> ScimResponse:
    """Serve one SCIM request; every failure becomes a SCIM Error response."""
    scim = service()
    try:
        if len(request.body) > MAX_PAYLOAD and scim.match(request).operation is not Operation.bulk:
            raise scim.payload_too_large(MAX_PAYLOAD)
        storage = RosterStorage(rt, provider(), source_for(caller), caller)
        return ScimHandler(scim, storage).handle(request)
    except SCIMException as exception:
        return scim.error_response(exception)
