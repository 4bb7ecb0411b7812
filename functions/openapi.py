"""The OpenAPI 3.1 description, built from the registered routes and the pydantic models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from functions.http import ROUTES, RouteInfo

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


def describe(version: str) -> dict[str, Any]:
    models = _models()
    refs, defs = models_json_schema(
        [(m, "validation") for m in models], ref_template="#/components/schemas/{model}"
    )
    schemas = dict(defs.get("$defs", {}))
    schemas["Problem"] = PROBLEM
    paths: dict[str, dict] = {}
    for info in ROUTES:
        item = paths.setdefault("/api/" + info.route.split("?")[0], {})
        for method in info.methods:
            item[method.lower()] = _operation(info, refs)
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


def _operation(info: RouteInfo, refs: dict) -> dict[str, Any]:
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    responses: dict[str, Any] = {}
    for status in info.statuses:
        content = {"application/json": {"schema": _ref(info.response, refs)}} if info.response else {}
        responses[str(status)] = {"description": "success" if status < 400 else "problem"}
        if status < 400 and content:
            responses[str(status)]["content"] = content
        if status >= 400:
            responses[str(status)]["content"] = problem
    for status in (400, 422) if info.body else ():
        responses[str(status)] = {"description": "invalid input", "content": problem}
    if not info.public:
        responses["401"] = {"description": "no or unknown API key", "content": problem}
        responses["403"] = {"description": f"needs role {info.role}", "content": problem}
    operation: dict[str, Any] = {
        "operationId": info.name,
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


def _path_params(route: str) -> list[str]:
    names = []
    for part in route.split("/"):
        if part.startswith("{") and part.endswith("}"):
            names.append(part[1:-1].split(":")[0].rstrip("?").lstrip("*"))
    return names
