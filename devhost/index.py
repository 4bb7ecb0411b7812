"""Load the Functions app module and index its functions, as the worker's indexing does.

`app.get_functions()` may run only once per FunctionApp, so a module imported earlier (by
tests, say) is re-imported: each host gets a fresh app that saw the settings it applied.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import re
import sys
import threading
import typing
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions.decorators.http import HttpTrigger
from azure.functions.decorators.servicebus import ServiceBusQueueTrigger
from azure.functions.decorators.timer import TimerTrigger

from devhost.routes import RouteTemplate, RouteTemplateError
from devhost.timers import Schedule

log = logging.getLogger("devhost")

_SETTING_REF = re.compile(r"%([^%]+)%")


class AppLoadError(RuntimeError):
    """The app module or attribute cannot be loaded."""


class InvocationContext(func.Context):
    """The `context` argument the worker passes to functions that declare one."""

    def __init__(self, function_name: str, function_directory: str):
        self._invocation_id = str(uuid.uuid4())
        self._function_name = function_name
        self._function_directory = function_directory
        self._local = threading.local()
        self._local.invocation_id = self._invocation_id

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return self._local

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> Any:
        return None

    @property
    def retry_context(self) -> Any:
        return None


@dataclass
class HostFunction:
    """One indexed function: its trigger, the user callable and how to call it."""

    name: str
    kind: str  # "http" | "queue" | "timer" | "other"
    trigger: Any
    func: Callable[..., Any]
    arg: str  # the trigger's parameter name
    directory: str = ""
    route: RouteTemplate | None = None
    methods: frozenset[str] | None = None  # None: every method
    queue: str | None = None
    batch: bool = False  # a Service Bus trigger with cardinality=many: it takes a list
    schedule: str | None = None
    disabled: str | None = None  # why devhost does not run it

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.func)

    def arguments(self, value: Any) -> dict[str, Any]:
        """Keyword arguments for one invocation: the trigger value, converted to the
        parameter's annotation (str/bytes for message bodies), and `context` if declared."""
        params = inspect.signature(self.func).parameters
        annotation = _annotation(self.func, self.arg)
        if isinstance(value, func.ServiceBusMessage) and annotation in (str, bytes):
            body = value.get_body()
            value = body.decode("utf-8") if annotation is str else body
        if isinstance(value, list) and typing.get_args(annotation) in ((str,), (bytes,)):
            kind = typing.get_args(annotation)[0]
            value = [m.get_body().decode("utf-8") if kind is str else m.get_body() for m in value]
        args = {self.arg: value}
        if "context" in params and self.arg != "context":
            args["context"] = InvocationContext(self.name, self.directory)
        return args

    def call(self, value: Any) -> Any:
        """Call in the current thread; a coroutine function runs in its own event loop."""
        result = self.func(**self.arguments(value))
        if inspect.isawaitable(result):
            result = asyncio.run(_awaited(result))
        return result


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _annotation(function: Callable[..., Any], name: str) -> Any:
    try:
        return typing.get_type_hints(function).get(name)
    except Exception:  # unresolvable string annotations: treat as the default type
        return None


def resolve(text: str, environ: Mapping[str, str]) -> str:
    """Replace `%Setting%` references with the setting's value, as binding expressions do."""

    def value(m: re.Match[str]) -> str:
        if m.group(1) not in environ:
            raise KeyError(f"'%{m.group(1)}%' does not resolve to a value")
        return environ[m.group(1)]

    return _SETTING_REF.sub(value, text)


def load_app(spec: str) -> Any:
    """`module:attribute` (attribute default `app`), imported afresh."""
    module_name, _, attribute = spec.partition(":")
    attribute = attribute or "app"
    try:
        if module_name in sys.modules:
            module = importlib.reload(sys.modules[module_name])
        else:
            module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AppLoadError(f"cannot import {module_name!r}: {exc}") from exc
    app = getattr(module, attribute, None)
    if app is None or not callable(getattr(app, "get_functions", None)):
        raise AppLoadError(f"{spec!r} is not a FunctionApp (no get_functions)")
    return app


def index_functions(
    app: Any, environ: Mapping[str, str], directory: str = ""
) -> list[HostFunction]:
    """Every function of `app` (get_functions is called here, once) with its trigger resolved
    against `environ`; those devhost cannot run carry `disabled` with the reason."""
    out = []
    for fn in app.get_functions():
        trigger = fn.get_trigger()
        name = fn.get_function_name()
        entry = HostFunction(
            name=name,
            kind="other",
            trigger=trigger,
            func=fn.get_user_function(),
            arg=trigger.name,
            directory=directory,
        )
        try:
            _describe(entry, trigger, environ)
        except (KeyError, ValueError) as exc:
            entry.disabled = str(exc).strip("'\"")
        if environ.get(f"AzureWebJobs.{name}.Disabled", "").lower() in ("true", "1"):
            entry.disabled = f"AzureWebJobs.{name}.Disabled is set"
        if entry.disabled:
            log.warning("function %s is not run by devhost: %s", name, entry.disabled)
        out.append(entry)
    return out


def _describe(entry: HostFunction, trigger: Any, environ: Mapping[str, str]) -> None:
    if isinstance(trigger, HttpTrigger):
        entry.kind = "http"
        try:
            entry.route = RouteTemplate(trigger.route if trigger.route is not None else entry.name)
        except RouteTemplateError as exc:
            raise ValueError(f"bad route {trigger.route!r}: {exc}") from None
        if trigger.methods:
            entry.methods = frozenset(str(getattr(m, "value", m)).upper() for m in trigger.methods)
    elif isinstance(trigger, ServiceBusQueueTrigger):
        entry.kind = "queue"
        entry.queue = resolve(trigger.queue_name, environ)
        entry.batch = str(getattr(trigger.cardinality, "value", trigger.cardinality) or "one").lower() == "many"
    elif isinstance(trigger, TimerTrigger):
        entry.kind = "timer"
        entry.schedule = resolve(trigger.schedule, environ)
        Schedule.parse(entry.schedule)  # refuse a bad schedule at start
    else:
        raise ValueError(f"devhost does not run {type(trigger).__name__} triggers")


def app_directory(spec: str) -> str:
    """The directory of the app module's file (the function directory)."""
    module = sys.modules.get(spec.partition(":")[0])
    file = getattr(module, "__file__", None)
    return str(Path(file).resolve().parent) if file else str(Path.cwd())
