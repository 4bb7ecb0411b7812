"""The console's HTTP side: who the browser is, its forms, and HTML responses.

A console route declares `@page(...)` on a handler taking a `Visit`. Like `endpoint`, that
registers an HTTP-triggered function and lists it in the OpenAPI description; unlike it,
the caller is a browser:

- Sign-in: App Service Authentication's client principal (in Azure), an `Authorization:
  Bearer` key, or the `roster_session` cookie that the sign-in form sets (HttpOnly,
  SameSite=Strict, Path=/api/console) holding a random server-side session id
  (shared/services/sessions.py: idle and absolute expiry, ended at sign-out and when its
  key leaves ROSTER_API_KEYS).
  Not signed in → 303 to the sign-in page; a missing role → a 403 page.
- Forms are posted (urlencoded; multipart/form-data for an upload, up to 8 MiB) and answered with 303 back to a page (Post/Redirect/Get) carrying a
  flash message in the query string; a refused form is drawn again with the errors by the
  fields. Every POST carries a CSRF token equal to the `roster_csrf` cookie (double submit;
  the cookie is random, HttpOnly, and renewed at sign-in), else 403.
- Pages are `text/html`, never cached, with a Content-Security-Policy allowing only the
  console's stylesheet and the page's own inline script (by nonce).
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import azure.functions as func
from pydantic import ValidationError

from functions.auth import Principal, authenticate, principal_for_digest, require
from functions.http import RouteInfo, invalid, register, route_values
from shared.console.render import render, stylesheet
from shared.errors import (
    FieldError,
    InvalidInput,
    NotAllowed,
    NotAuthenticated,
    RosterError,
)
from shared.models.role import Role
from shared.runtime import Runtime, runtime
from shared.services import sessions

log = logging.getLogger("roster.console")
BASE = "/api/console"
SESSION_COOKIE = "roster_session"
CSRF_COOKIE = "roster_csrf"
CSRF_FIELD = "csrf"
CSRF_SECONDS = 8 * 3600
MAX_FORM = 256 * 1024
FORM_TYPE = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
MAX_UPLOAD = 8 * 1024 * 1024  # a reconciliation CSV


@dataclass
class Visit:
    """One browser request as a console handler sees it."""

    req: func.HttpRequest
    rt: Runtime
    principal: Principal | None = None
    route: dict[str, str] = field(default_factory=dict)
    form: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    csrf: str = ""
    renew_csrf: bool = False
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    cookies: list[str] = field(default_factory=list)

    @property
    def actor(self) -> str:
        return self.principal.name if self.principal else "anonymous"

    def can(self, *roles: Role) -> bool:
        return self.principal is not None and any(self.principal.has(r) for r in roles)

    def query(self, name: str, *, max_length: int = 256) -> str | None:
        value = (self.req.params.get(name) or "").strip()
        if not value:
            return None
        if len(value) > max_length:
            raise InvalidInput(f"{name} is too long", [FieldError(name, f"at most {max_length} characters")])
        return value

    def field(self, name: str, *, max_length: int = 2000) -> str:
        """A form field's first value ("" when absent); too long → InvalidInput on the field."""
        value = (self.form.get(name) or [""])[0]
        if len(value) > max_length:
            raise InvalidInput(f"{name} is too long", [FieldError(name, f"at most {max_length} characters")])
        return value

    def fields(self, name: str, *, max_items: int = 500) -> list[str]:
        values = [v for v in self.form.get(name, []) if v]
        if len(values) > max_items:
            raise InvalidInput(f"at most {max_items} {name}", [FieldError(name, f"at most {max_items}")])
        return values

    def back(self, default: str) -> str:
        """Where a form returns to: its `back` field when it is a console page, else `default`."""
        return console_path(self.field("back", max_length=2000)) or default

    # -- responses ------------------------------------------------------------------------

    def html(self, template: str, status: int = 200, **context: Any) -> func.HttpResponse:
        body = render(
            template, visit=self, principal=self.principal, base=BASE, csrf=self.csrf, nonce=self.nonce,
            tz=self.rt.settings.tz, auth_enabled=self.rt.settings.auth_enabled, css_version=stylesheet()[1],
            who=self.rt.settings.display_name,
            flash=(self.req.params.get("flash") or "")[:1000], flash_error=self.req.params.get("flash_kind") == "error",
            **context,
        )  # fmt: skip
        return self.finish(func.HttpResponse(body, status_code=status, mimetype="text/html", charset="utf-8"))

    def redirect(self, location: str, flash: str | None = None, *, error: bool = False) -> func.HttpResponse:
        if flash:
            params = {"flash": flash[:1000], **({"flash_kind": "error"} if error else {})}
            location += ("&" if "?" in location else "?") + urlencode(params)
        return self.finish(func.HttpResponse(status_code=303, headers={"Location": location}))

    def finish(self, response: func.HttpResponse) -> func.HttpResponse:
        headers = response.headers
        headers["Cache-Control"] = "no-store"
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "same-origin"
        headers["X-Frame-Options"] = "DENY"
        headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
            f"frame-ancestors 'none'; base-uri 'none'; script-src 'nonce-{self.nonce}'"
        )
        if self.renew_csrf:
            self.cookies.append(cookie(self.req, CSRF_COOKIE, self.csrf, CSRF_SECONDS, same_site="Lax"))
        for value in self.cookies:
            headers.add("Set-Cookie", value)
        return response


# -- registration -------------------------------------------------------------------------


def page(
    bp: func.Blueprint,
    route: str,
    *,
    name: str,
    methods: tuple[str, ...],
    role: Role | tuple[Role, ...] | None,
    summary: str,
    query: tuple[str, ...] = (),
    statuses: tuple[int, ...] = (200,),
    public: bool = False,
    media: str = "text/html",
) -> Callable:
    """Register `handler(visit) -> HttpResponse` as the function serving /api/console/<route>."""
    full = "console" + (f"/{route}" if route else "")
    info = RouteInfo(name, full, methods, role, summary, query=query, statuses=statuses, public=public, media=media)

    def decorate(handler: Callable[[Visit], func.HttpResponse]) -> Callable[[Visit], func.HttpResponse]:
        register(bp, info, lambda req: serve(req, info, handler))
        return handler

    return decorate


def serve(req: func.HttpRequest, info: RouteInfo, handler: Callable[[Visit], func.HttpResponse]) -> func.HttpResponse:
    visit: Visit | None = None
    try:
        visit = Visit(req, runtime(), route={})
        visit.route = route_values(req)
        known = read_cookie(req, CSRF_COOKIE)
        visit.csrf, visit.renew_csrf = (known, False) if known else (secrets.token_urlsafe(32), True)
        try:
            visit.principal = signed_in(req, visit.rt)
        except NotAuthenticated:
            if not info.public:
                raise
            visit.cookies.append(cookie(req, SESSION_COOKIE, "", 0))  # a public page: as if signed out
        if not info.public:
            if visit.principal is None:
                return visit.redirect(sign_in_url(req))
            require(visit.principal, info.role)
        if req.method.upper() == "POST":
            visit.form, visit.files = parse_form(req)
            check_csrf(visit, known)
        return handler(visit)
    except NotAuthenticated as error:
        visit.cookies.append(cookie(req, SESSION_COOKIE, "", 0))
        return visit.redirect(sign_in_url(req), f"Please sign in again: {error.detail}.", error=True)
    except RosterError as error:
        return error_page(visit, error, error.status)
    except Exception:
        log.exception("unhandled error in %s", info.name)
        return error_page(visit, RosterError("an unexpected error occurred; it has been logged"), 500)


def error_page(visit: Visit | None, error: RosterError, status: int) -> func.HttpResponse:
    title = "Something went wrong" if status == 500 else error.title
    if type(error) is NotAllowed and visit is not None and visit.principal is not None:
        title = "You may not use this page"
    try:
        return visit.html("error.html", status, title=title, error=error, code=status)
    except Exception:  # no runtime, or the page itself failed: say it plainly
        log.exception("the error page failed")
        return func.HttpResponse(f"{title}: {error.detail}", status_code=status, mimetype="text/plain")


# -- who is signed in ---------------------------------------------------------------------


def signed_in(req: func.HttpRequest, rt: Runtime) -> Principal | None:
    """The principal of the request, or None when it carries no credentials at all.
    App Service Authentication and a Bearer key come first, as for the API."""
    if (rt.settings.auth_enabled and req.headers.get("x-ms-client-principal")) or req.headers.get("authorization"):
        return authenticate(req, rt.settings)
    session_id = read_cookie(req, SESSION_COOKIE)
    if not session_id:
        return None
    digest = sessions.key_of(rt, session_id)
    try:
        return principal_for_digest(digest, rt.settings)
    except NotAuthenticated:
        sessions.end(rt, session_id)  # the key left ROSTER_API_KEYS: so does every session of it
        raise NotAuthenticated("the API key of this session is no longer valid") from None


def roles_of(principal: Principal) -> list[str]:
    return [r for r in Role if r in principal.roles] + sorted(principal.roles - set(Role))


# -- cookies, forms, CSRF -----------------------------------------------------------------


def read_cookie(req: func.HttpRequest, name: str) -> str:
    for part in (req.headers.get("cookie") or "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value.strip().strip('"')
    return ""


def cookie(req: func.HttpRequest, name: str, value: str, max_age: int, same_site: str = "Strict") -> str:
    secure = "; Secure" if is_https(req) else ""
    return f"{name}={value}; Path={BASE}; Max-Age={max_age}; HttpOnly; SameSite={same_site}{secure}"


def is_https(req: func.HttpRequest) -> bool:
    return urlsplit(req.url).scheme == "https" or req.headers.get("x-forwarded-proto", "").lower() == "https"


def parse_form(req: func.HttpRequest) -> tuple[dict[str, list[str]], dict[str, bytes]]:
    """The form's fields, and its files when it is multipart (an upload)."""
    content_type = req.headers.get("content-type") or ""
    kind = content_type.split(";")[0].strip().lower()
    if kind not in (FORM_TYPE, MULTIPART):
        raise InvalidInput(f"a console form is sent as {FORM_TYPE}", [FieldError("content-type", FORM_TYPE)])
    raw = req.get_body() or b""
    limit = MAX_UPLOAD if kind == MULTIPART else MAX_FORM
    if len(raw) > limit:
        raise InvalidInput(f"the form is {len(raw)} bytes; the limit is {limit}", [FieldError("body", "too large")])
    if kind == MULTIPART:
        return parse_multipart(content_type, raw)
    return parse_qs(_utf8(raw, "body"), keep_blank_values=True, max_num_fields=1000), {}


def parse_multipart(content_type: str, raw: bytes) -> tuple[dict[str, list[str]], dict[str, bytes]]:
    """multipart/form-data through the standard library's MIME parser: text fields, and files by field name."""
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw)
    if not message.is_multipart():
        raise InvalidInput("the upload is not multipart/form-data", [FieldError("body", "not multipart")])
    fields: dict[str, list[str]] = {}
    files: dict[str, bytes] = {}
    for part in list(message.iter_parts())[:1000]:
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        data = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            files[name] = data
        else:
            fields.setdefault(name, []).append(_utf8(data, name))
    return fields, files


def _utf8(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{name} is not UTF-8", [FieldError(name, "not UTF-8")]) from None


class FormRefused(NotAllowed):
    title, slug = "Form refused", "form-refused"


def check_csrf(visit: Visit, known: str) -> None:
    sent = visit.field(CSRF_FIELD, max_length=200)
    if not (known and sent and hmac.compare_digest(known.encode(), sent.encode())):
        raise FormRefused(
            "the form was out of date or did not come from this console; "
            "go back, reload the page and try again"
        )


# -- where to go --------------------------------------------------------------------------


def console_path(value: str | None) -> str | None:
    """`value` when it is a path of the console on this host (no open redirects), else None."""
    if not value or any(c in value for c in "\\\r\n\t") or value.startswith("//"):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    if parts.path != BASE and not parts.path.startswith(BASE + "/"):
        return None
    return value


def sign_in_url(req: func.HttpRequest) -> str:
    if req.method.upper() != "GET":
        return f"{BASE}/"
    query = urlencode(dict(req.params))
    here = console_path(urlsplit(req.url).path + (f"?{query}" if query else ""))
    return f"{BASE}/" + (f"?{urlencode({'next': here})}" if here and here.rstrip("/") != BASE else "")


# -- forms into models --------------------------------------------------------------------


def form_model(model: type, data: dict):
    """`model` from a form's values; InvalidInput naming the fields when they do not fit."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise invalid(error) from None


def field_errors(error: RosterError) -> dict[str, str]:
    """The error by field, as the form shows it beside each; `_` when it names no field."""
    found = {e.field: e.message[:1].upper() + e.message[1:] for e in error.errors}
    return found or {"_": error.detail}
