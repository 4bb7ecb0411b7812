"""The OpenAPI 3.1 description, built from the registered routes and the pydantic models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from functions.http import ROUTES, RouteInfo
from shared.models.role import any_of

PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem document",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}


SCIM_ERROR = {
    "type": "object",
    "description": "SCIM error (RFC 7644 §3.12), answered by the SCIM service under /api/scim/v2",
    "properties": {
        "schemas": {"type": "array", "items": {"type": "string"}},
        "status": {"type": "string"},
        "scimType": {"type": "string"},
        "detail": {"type": "string"},
    },
}


def describe(version: str) -> dict[str, Any]:
    models = _models()
    refs, defs = models_json_schema(
        [(m, "validation") for m in models], ref_template="#/components/schemas/{model}"
    )
    schemas = dict(defs.get("$defs", {}))
    schemas["Problem"] = PROBLEM
    schemas["ScimError"] = SCIM_ERROR
    paths: dict[str, dict] = {}
    for info in ROUTES:
        item = paths.setdefault("/api/" + _template(info.route), {})
        for method in info.methods:
            item[method.lower()] = _operation(info, refs, method)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Roster", "version": version},
        "components": {
            "schemas": schemas,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"apiKey": []}],
        "paths": paths,
    }


def _models() -> list[type[BaseModel]]:
    seen: list[type[BaseModel]] = []
    for info in ROUTES:
        for model in (info.body, info.response):
            if model is not None and model not in seen:
                seen.append(model)
    return seen


def statuses(info: RouteInfo) -> dict[int, str]:
    """Every status an operation can answer, and when (docs/security.md §9): what the route
    declares, plus what the plumbing adds to every route of its kind."""
    found = {status: ("success" if status < 400 else "problem") for status in info.statuses}
    if info.errors == "scim":
        return found  # the SCIM service declares every status it answers itself
    found.update(_caller_statuses(info))
    found.update(_input_statuses(info))
    if "GET" not in info.methods:
        found[413] = "the body, or what it would store, is too large"
        if info.media == "application/json":
            found[503] = "busy: others are changing the same thing; retry"
    return dict(sorted(found.items()))


def _caller_statuses(info: RouteInfo) -> dict[int, str]:
    page = info.media != "application/json"
    found: dict[int, str] = {}
    if not info.public:
        found[303 if page else 401] = "not signed in: to the sign-in page" if page else "no or unknown API key"
        roles = " or ".join((info.role,) if isinstance(info.role, str) else info.role or ("any",))
        found[403] = f"needs role {roles}"
    if page and "POST" in info.methods:
        found[403] = "the form's CSRF token is missing or wrong, or the role is missing"
    return found


def _input_statuses(info: RouteInfo) -> dict[int, str]:
    found: dict[int, str] = {}
    if _path_params(info.route):
        found[404] = "nothing with this id (an id too long or with control characters never exists)"
    if info.body:
        found.update({400: "the body is not JSON", 413: "the body, or what it would store, is too large"})
    if info.body or info.query or (info.media != "application/json" and "POST" in info.methods):
        found[422] = "invalid input, each field named"
    return found


def _content(info: RouteInfo, status: int, refs: dict) -> dict[str, Any] | None:
    """What a response of `status` carries: nothing for a redirect, the page for a console
    page, the model (or any JSON) for an API success, a problem document otherwise."""
    if status in (204, 303, 304):
        return None
    if info.errors == "scim":
        schema = {"$ref": "#/components/schemas/ScimError"} if status >= 400 else {}
        return {"application/scim+json": {"schema": schema}}
    if info.media != "application/json":
        return {info.media: {"schema": {"type": "string"}}}
    if status >= 400:
        return {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    return {"application/json": {"schema": _ref(info.response, refs)}}


def _operation(info: RouteInfo, refs: dict, method: str) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, why in statuses(info).items():
        responses[str(status)] = {"description": why}
        content = _content(info, status, refs)
        if content:
            responses[str(status)]["content"] = content
    operation: dict[str, Any] = {
        "operationId": _operation_id(info, method),
        "summary": info.summary,
        "responses": responses,
        "parameters": [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
            for p in _path_params(info.route)
        ]
        + [{"name": q, "in": "query", "required": False, "schema": {"type": "string"}} for q in info.query],
    }
    if info.role:
        operation["x-roster-role"] = info.role
    if info.public:
        operation["security"] = []
    if info.body:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(info.body, refs)}},
        }
    return operation


def _ref(model: type[BaseModel] | None, refs: dict) -> dict:
    return refs[(model, "validation")] if model else {}


def _operation_id(info: RouteInfo, method: str) -> str:
    """The function's name; one function serving several methods (the SCIM service) gets
    one id per method, since operation ids are unique."""
    return info.name if len(info.methods) == 1 else f"{info.name}_{method.lower()}"


def _template(route: str) -> str:
    """The route as an OpenAPI path: a catch-all `{*path}` is `{path}`."""
    return route.split("?")[0].replace("{*", "{")


def _path_params(route: str) -> list[str]:
    names = []
    for part in route.split("/"):
        if part.startswith("{") and part.endswith("}"):
            names.append(part[1:-1].split(":")[0].rstrip("?").lstrip("*"))
    return names


# -- OpenAPI 2.0 (Swagger), for a Power Automate custom connector --------------------------

SWAGGER_SCHEMA_KEYS = {
    "$ref", "format", "title", "description", "default", "multipleOf", "maximum",
    "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength", "minLength", "pattern",
    "maxItems", "minItems", "uniqueItems", "maxProperties", "minProperties", "required", "enum",
    "type", "items", "allOf", "properties", "additionalProperties", "readOnly", "example",
}  # fmt: skip
SUMMARY_LIMIT = 80  # Power Automate shows (and its connector checks want) short summaries


def describe_v2(version: str, public_url: str, role: str | None = None) -> dict[str, Any]:
    """Swagger 2.0 from the same routes: no `anyOf`/`const`/type lists (`X | None` becomes X).
    `role` keeps the operations that role may call, e.g. Requests.Submit for the flow."""
    routes = [info for info in ROUTES if role is None or _allows(info, role)]
    models = [m for m in _models() if any(m in (i.body, i.response) for i in routes)]
    refs, defs = models_json_schema(
        [(m, "validation") for m in models], ref_template="#/definitions/{model}"
    )
    definitions = {name: _swagger(schema) for name, schema in defs.get("$defs", {}).items()}
    definitions["Problem"] = PROBLEM
    definitions["ScimError"] = SCIM_ERROR
    paths: dict[str, dict] = {}
    for info in routes:
        item = paths.setdefault("/" + _template(info.route), {})
        for method in info.methods:
            item[method.lower()] = _operation_v2(info, refs, method)
    scheme, _, host = public_url.partition("://")
    return {
        "swagger": "2.0",
        "info": {
            "title": "Roster",
            "version": version,
            "description": "Roster's HTTP API (see docs/power-automate.md for the intake flow)",
        },
        "host": host.rstrip("/"),
        "basePath": "/api",
        "schemes": [scheme or "https"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "securityDefinitions": {
            "apiKey": {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "Bearer <API key> (in Azure: an Entra ID token, see the guide)",
            }
        },
        "security": [{"apiKey": []}],
        "paths": paths,
        "definitions": definitions,
    }


def _allows(info: RouteInfo, role: str) -> bool:
    return role in any_of(info.role)


def _operation_v2(info: RouteInfo, refs: dict, method: str) -> dict[str, Any]:
    problem = {"$ref": "#/definitions/" + ("ScimError" if info.errors == "scim" else "Problem")}
    responses: dict[str, Any] = {}
    for status, why in statuses(info).items():
        responses[str(status)] = {"description": why}
        if status >= 400:
            responses[str(status)]["schema"] = problem
        elif info.response and status not in (204, 303, 304):
            responses[str(status)]["schema"] = _ref(info.response, refs)
    parameters: list[dict[str, Any]] = [
        {"name": p, "in": "path", "required": True, "type": "string"} for p in _path_params(info.route)
    ]
    parameters += [{"name": q, "in": "query", "required": False, "type": "string"} for q in info.query]
    if info.body:
        parameters.append(
            {"name": "body", "in": "body", "required": True, "schema": _ref(info.body, refs)}
        )
    operation: dict[str, Any] = {
        "operationId": "".join(part.capitalize() for part in _operation_id(info, method).split("_")),
        "summary": info.summary[:SUMMARY_LIMIT],
        "description": info.summary,
        "parameters": parameters,
        "responses": responses,
    }
    if info.role:
        operation["x-roster-role"] = info.role
    if info.public:
        operation["security"] = []
    return operation


def _swagger(schema: Any) -> Any:
    """A JSON Schema of pydantic's as a Swagger 2.0 Schema Object."""
    if isinstance(schema, list):
        return [_swagger(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return {"$ref": schema["$ref"]}
    schema = dict(schema)
    options = schema.pop("anyOf", None) or schema.pop("oneOf", None)
    if options is not None:
        kept = [o for o in options if o != {"type": "null"}]
        if len(kept) == 1:
            inner = _swagger(kept[0])
            if "$ref" in inner:
                return inner
            schema = {**inner, **{k: v for k, v in schema.items() if k != "default"}}
        else:
            schema.pop("default", None)
    if isinstance(schema.get("type"), list):
        types = [t for t in schema["type"] if t != "null"]
        if len(types) == 1:
            schema["type"] = types[0]
        else:
            schema.pop("type")
    if "const" in schema:
        schema["enum"] = [schema.pop("const")]
    for bound, key in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(schema.get(bound), (int, float)) and not isinstance(schema[bound], bool):
            schema[key] = schema[bound]
            schema[bound] = True
    if schema.get("default", 0) is None:
        schema.pop("default")
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties":
            out[key] = {name: _labelled(_swagger(s)) for name, s in value.items()}
        elif key in ("items", "additionalProperties", "allOf"):
            out[key] = _swagger(value)
        elif key in SWAGGER_SCHEMA_KEYS or key.startswith("x-"):
            out[key] = value
    return out


def _labelled(schema: dict) -> dict:
    """Power Automate shows `x-ms-summary` as a field's label."""
    if "title" in schema and "$ref" not in schema:
        return {**schema, "x-ms-summary": schema["title"]}
    return schema
