"""The requester's page (docs/request-desk.md): what a client opens from their emails.

`GET /api/track/{number}/{token}` needs no sign-in: the token is the request's own
unguessable secret (32 random bytes), renewed — and the old link revoked — from the
console. It shows the number, state, public comments and the accounts done; never the
staff console, internal comments, tasks or orders. A wrong number or token is one 404.
"""

from __future__ import annotations

import logging
import secrets

import azure.functions as func

from functions.http import RouteInfo, register
from shared.console.history import state_words
from shared.console.render import render
from shared.errors import NotFound
from shared.runtime import runtime
from shared.services import requests

bp = func.Blueprint()
log = logging.getLogger("roster.requester")
DESK = "The request desk"  # how a key without a display name signs what requesters read
INFO = RouteInfo("requester_view", "track/{number}/{token}", ("GET",), None, public=True, statuses=(200, 404),
                 media="text/html",
                 summary="The requester's page of a request (the link in their emails): no sign-in")


def serve(req: func.HttpRequest) -> func.HttpResponse:
    nonce = secrets.token_urlsafe(16)
    try:
        rt = runtime()
        route = req.route_params
        data = requests.requester_view(rt, route.get("number", ""), route.get("token", ""))
        body, status = render("requester.html", tz=rt.settings.tz, who=lambda a: rt.settings.display_name(a, DESK),
                              state_words=state_words, nonce=nonce, **data), 200
    except NotFound as missing:
        body, status = render("requester_missing.html", detail=missing.detail, nonce=nonce), 404
    except Exception:
        log.exception("the requester's page failed")
        body, status = render("requester_missing.html", detail="something went wrong; please try again later",
                              nonce=nonce), 500
    return func.HttpResponse(body, status_code=status, mimetype="text/html", charset="utf-8", headers={
        "Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY", "X-Robots-Tag": "noindex, nofollow",
        "Content-Security-Policy": ("default-src 'none'; style-src 'nonce-" + nonce + "'; frame-ancestors 'none'; "
                                    "base-uri 'none'; form-action 'none'"),
    })  # fmt: skip


register(bp, INFO, serve)
