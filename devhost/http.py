"""The HTTP side: a Starlette app routing `/<prefix>/<route>` to HTTP-triggered functions.

Routes are tried in ASP.NET Core precedence order among those allowing the method; a path
that matches only under other methods gets 405, anything else 404 (problem+json). The
function gets a real `func.HttpRequest`; its `func.HttpResponse` is sent back as is.
Log lines carry the route template, never the path or query (personal data stays out).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from typing import Any

import azure.functions as func
from azure.functions import _abc as azf_abc
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from devhost.activity import Activity, failure
from devhost.index import HostFunction

log = logging.getLogger("devhost.http")

DEFAULT_MAX_BODY = 100 * 1024 * 1024  # the Functions host's default request size limit


class BodyTooLarge(Exception):
    pass


def problem(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None
) -> Response:
    """An RFC 9457 problem document."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return Response(
        json.dumps(body).encode(),
        status_code=status,
        media_type="application/problem+json",
        headers=headers,
    )


def to_response(result: Any) -> Response:
    """A Starlette response for what an HTTP function returned (HttpResponse or str)."""
    if isinstance(result, str):
        return Response(result.encode(), media_type="text/plain; charset=utf-8")
    if not isinstance(result, azf_abc.HttpResponse):
        raise TypeError(f"an HTTP function returned {type(result).__name__}, not HttpResponse")
    status = int(result.status_code)
    body = result.get_body() or b""
    if status < 200 or status in (204, 304):
        body = b""
    response = Response(body, status_code=status)
    pairs = list(result.headers.items())
    for key, value in pairs:
        if key.lower() != "content-length":
            response.headers.append(key, str(value))
    has_type = any(key.lower() == "content-type" for key, _ in pairs)
    if not has_type and status >= 200 and status not in (204, 304):
        mimetype = result.mimetype or "text/plain"
        charset = result.charset or "utf-8"
        content_type = (
            f"{mimetype}; charset={charset}" if mimetype.startswith("text/") else mimetype
        )
        response.headers["content-type"] = content_type
    return response


def _joined(items: Iterable[tuple[str, str]], separator: str) -> dict[str, str]:
    """Repeated names joined into one value, as the Functions host passes them."""
    out: dict[str, str] = {}
    for key, value in items:
        out[key] = f"{out[key]}{separator}{value}" if key in out else value
    return out


class FunctionsRouter:
    """ASGI app serving the HTTP-triggered functions under the route prefix."""

    def __init__(
        self,
        functions: Iterable[HostFunction],
        activity: Activity,
        *,
        route_prefix: str = "api",
        max_body: int = DEFAULT_MAX_BODY,
    ):
        http = [f for f in functions if f.kind == "http" and not f.disabled and f.route]
        # stable sort: equal precedence keeps registration order
        self.functions = sorted(http, key=lambda f: f.route.precedence)  # type: ignore[union-attr]
        self.activity = activity
        self.prefix = route_prefix.strip("/")
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await WebSocket(scope, receive, send).close()
            return
        request = Request(scope, receive)
        response = await self.handle(request)
        await response(scope, receive, send)

    def relative_path(self, scope: Scope) -> str | None:
        """The raw (percent-encoded) path after the prefix, or None outside it."""
        raw = scope.get("raw_path") or scope["path"].encode()
        path = raw.decode("latin-1").split("?", 1)[0].lstrip("/")
        if not self.prefix:
            return path
        head, sep, rest = path.partition("/")
        if head.lower() != self.prefix.lower():
            return None
        return rest if sep else ""

    async def handle(self, request: Request) -> Response:
        rel = self.relative_path(request.scope)
        matches: list[tuple[HostFunction, dict[str, str]]] = []
        if rel is not None:
            for fn in self.functions:
                params = fn.route.match(rel)  # type: ignore[union-attr]
                if params is not None:
                    matches.append((fn, params))
        if not matches:
            return problem(404, "Not Found", "No function serves this path.")
        method = request.method.upper()
        chosen = next(
            ((f, p) for f, p in matches if f.methods is None or method in f.methods), None
        )
        if chosen is None:
            allowed = sorted({m for f, _ in matches for m in (f.methods or ())})
            return problem(
                405,
                "Method Not Allowed",
                f"This path does not accept {method}.",
                {"Allow": ", ".join(allowed)},
            )
        fn, params = chosen
        try:
            body = await self.read_body(request)
        except BodyTooLarge:
            return problem(413, "Content Too Large", f"The body exceeds {self.max_body} bytes.")
        req = func.HttpRequest(
            method,
            str(request.url),
            headers=_joined(request.headers.items(), ", "),
            params=_joined(request.query_params.multi_items(), ","),
            route_params=params,
            body=body,
        )
        return await self.invoke(fn, req, method)

    async def read_body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            raise BodyTooLarge
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body:
                raise BodyTooLarge
            chunks.append(chunk)
        return b"".join(chunks)

    async def invoke(self, fn: HostFunction, req: func.HttpRequest, method: str) -> Response:
        started = time.perf_counter()
        route = fn.route.template if fn.route else ""
        template = "/" + "/".join(part for part in (self.prefix, route) if part)
        with self.activity.invocation():
            try:
                if fn.is_async:
                    result = await fn.func(**fn.arguments(req))
                else:
                    result = await run_in_threadpool(fn.call, req)
                response = to_response(result)
            except Exception as exc:
                log.error(
                    "Executed 'Functions.%s' (Failed) %s %s: %s",
                    fn.name,
                    method,
                    template,
                    failure(exc),
                )
                log.debug("Functions.%s failed", fn.name, exc_info=True)
                return problem(
                    500,
                    "Internal Server Error",
                    "The function failed; the host log has the details.",
                )
        log.info(
            "%s %s -> %d (Functions.%s, %dms)",
            method,
            template,
            response.status_code,
            fn.name,
            (time.perf_counter() - started) * 1000,
        )
        return response


def build_app(
    router: FunctionsRouter,
    lifespan: Callable[[Starlette], AbstractAsyncContextManager[None]] | None = None,
) -> Starlette:
    """The Starlette app: every path goes to the router (as the default, so that even a path
    with a decoded line break, which no route pattern matches, is the router's to answer);
    `lifespan` runs pumps and timers."""
    app = Starlette(lifespan=lifespan)
    app.router.default = router
    return app
