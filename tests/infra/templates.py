"""Read the Bicep templates of infra/ as data, for the infra tests.

pycep-parser turns a .bicep file into JSON: literals stay literals, expressions become
`{"operator": ...}` / `{"function": ...}` trees. It writes an identifier and a string
literal the same way (`mail` and `'mail'` both become "mail"), so `Template.resolve`
reads a string that names a parameter, variable or loop item as that name, and any
other string as itself. Module outputs and resource properties are only known at
deployment: they resolve to an `Unresolved` holding the expression.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pycep import BicepParser

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
MODULES = INFRA / "modules"


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


@dataclass(frozen=True)
class Unresolved:
    """An expression known only at deployment (a module output, a resource property)."""

    expression: Any

    def text(self) -> str:
        return json.dumps(self.expression, sort_keys=True, default=str)


class Template:
    def __init__(self, path: Path, data: dict[str, Any]):
        self.path = path
        self.data = data

    @property
    def parameters(self) -> dict[str, Any]:
        return self.data.get("parameters", {})

    @property
    def variables(self) -> dict[str, Any]:
        return self.data.get("variables", {})

    @property
    def resources(self) -> dict[str, Any]:
        return self.data.get("resources", {})

    @property
    def modules(self) -> dict[str, Any]:
        return self.data.get("modules", {})

    @property
    def outputs(self) -> dict[str, Any]:
        return self.data.get("outputs", {})

    def decorators(self, parameter: str) -> set[str]:
        return {d["type"] for d in self.parameters[parameter].get("decorators", [])}

    def default(self, parameter: str) -> Any:
        return self.resolve(self.parameters[parameter].get("default"))

    def var(self, name: str) -> Any:
        return self.resolve(self.variables[name]["value"])

    def resource(self, symbol: str) -> dict[str, Any]:
        """The body of a resource, unwrapped from its condition or loop."""
        return body(self.resources[symbol]["config"])

    def module_call(self, symbol: str) -> dict[str, Any]:
        """A module's name, scope and params, unwrapped from its condition."""
        return body(self.modules[symbol]["config"])

    def resources_of_type(self, type_: str) -> dict[str, dict[str, Any]]:
        return {
            symbol: self.resource(symbol)
            for symbol, r in self.resources.items()
            if r["type"] == type_ and not r.get("existing")
        }

    def resolve(self, value: Any, scope: dict[str, Any] | None = None) -> Any:
        scope = scope or {}
        if isinstance(value, str):
            if value in scope:
                return scope[value]
            if value in self.parameters:
                if self.parameters[value].get("default") is None:
                    return Unresolved(value)  # supplied by the caller
                return self.default(value)
            if value in self.variables:
                return self.var(value)
            return value
        if isinstance(value, list):
            return [self.resolve(v, scope) for v in value]
        if not isinstance(value, dict):
            return value
        if "loop_type" in value:
            items = self.resolve(value["loop_type"]["detail"]["array_name"], scope)
            name = value["loop_type"]["detail"]["item_name"]
            return [self.resolve(value["config"], {**scope, name: item}) for item in items]
        if "function" in value and value["function"]["type"] == "concat":
            args = [self.resolve(a, scope) for a in value["function"]["parameters"].values()]
            if all(isinstance(a, list) for a in args):
                return [x for a in args for x in a]
            return Unresolved(value)
        if "operator" in value and value["operator"]["type"] == "property_accessor":
            return self._access(value["operator"]["operands"], scope, value)
        if "operator" in value or "function" in value:
            return Unresolved(value)
        return {k: self.resolve(v, scope) for k, v in value.items()}

    def _access(self, operands: dict[str, Any], scope: dict[str, Any], whole: Any) -> Any:
        base = self.resolve(operands["operand_1"], scope)
        path = operands["operand_2"]
        while isinstance(path, dict) and "operator" in path:
            inner = path["operator"]["operands"]
            base = base.get(inner["operand_1"]) if isinstance(base, dict) else None
            path = inner["operand_2"]
        if isinstance(base, dict) and isinstance(path, str) and path in base:
            return base[path]
        return Unresolved(whole)


def body(config: dict[str, Any]) -> dict[str, Any]:
    """A resource's properties, whether it is plain, conditional (`if`) or a loop (`for`)."""
    while "config" in config and ("condition" in config or "loop_type" in config):
        config = config["config"]
    return config


@cache
def template(path: Path) -> Template:
    return Template(path, BicepParser().parse(file_path=path))


def main() -> Template:
    return template(INFRA / "main.bicep")


def module(name: str) -> Template:
    return template(MODULES / f"{name}.bicep")


def settings(pairs: list[Any]) -> dict[str, Any]:
    """{ name, value } pairs (App Service appSettings) as a dict; names must be unique."""
    names = [p["name"] for p in pairs]
    duplicates = {n for n in names if names.count(n) > 1}
    assert not duplicates, f"app settings set twice: {sorted(duplicates)}"
    return {p["name"]: p["value"] for p in pairs}


def app_settings() -> dict[str, Any]:
    """Every app setting of the function app: the module's host settings plus main's."""
    return settings(module("function-app").var("hostSettings") + main().var("appSettings"))


def text(value: Any) -> str:
    """A setting's value as text, expressions included, for pattern checks."""
    if isinstance(value, Unresolved):
        return value.text()
    return value if isinstance(value, str) else json.dumps(value, default=str)
