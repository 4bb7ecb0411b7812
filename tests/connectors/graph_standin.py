"""A local stand-in for Microsoft Graph v1.0 on 127.0.0.1, strict about what it is sent.

It keeps users, groups and licences in memory and answers the calls the `entra` connector
makes the way Graph does: 201 with the new object, 204 on PATCH/DELETE, 404
`Request_ResourceNotFound` for a missing user, 400 on a duplicate UPN or member, a `$batch`
answered per request. Every request is checked — the bearer token, the JSON content type,
the properties of each body, the `$batch` envelope (1–20 requests, unique ids, relative
URLs, a Content-Type header beside each body) — and what fails a check is answered 400 and
kept in `violations`, which a test asserts empty. Tests script faults with `fail`: any
status (429 with Retry-After, 403, 503) for the next requests matching a method and path,
inside a `$batch` or not. `users/delta` and `groups/delta` follow a change log.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

TOKEN = "graph-test-token"
DOMAIN = "example.edu"
USER_WRITABLE = {"accountEnabled", "displayName", "givenName", "surname", "mailNickname", "userPrincipalName",
                 "passwordProfile", "onPremisesExtensionAttributes", "usageLocation"}
CREATE_REQUIRED = {"accountEnabled", "displayName", "mailNickname", "userPrincipalName", "passwordProfile"}
INVITE_FIELDS = {"invitedUserEmailAddress", "inviteRedirectUrl", "sendInvitationMessage", "invitedUserDisplayName"}


class Answer(Exception):
    """A Graph answer other than the usual (an error, or a scripted fault)."""

    def __init__(self, status: int, code: str = "", message: str = "", headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}} if self.code else {}


@dataclass
class Fault:
    method: str
    path: re.Pattern
    status: int
    retry_after: int | None
    times: int


@dataclass
class Call:
    method: str
    path: str
    body: Any
    in_batch: bool


@dataclass
class Graph:
    """The tenant's state and what was asked of it."""

    url: str = ""
    users: dict[str, dict] = field(default_factory=dict)
    groups: dict[str, set[str]] = field(default_factory=dict)
    revoked: list[str] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    batches: list[int] = field(default_factory=list)  # requests per $batch
    violations: list[str] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    log: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, object id, member id)
    lock: threading.RLock = field(default_factory=threading.RLock)

    # -- what tests use ----------------------------------------------------------------------

    def settings(self, **over: Any) -> dict[str, Any]:
        return {"graph_url": self.url, "domain": DOMAIN, "auth": "token",
                "token_env": "ROSTER_TARGET_SECRET_GRAPH_TOKEN", **over}

    def group(self) -> str:
        gid = str(uuid.uuid4())
        with self.lock:
            self.groups[gid] = set()
        return gid

    def fail(self, method: str, path: str, status: int, retry_after: int | None = None, times: int = 1) -> None:
        """The next `times` requests `method` on a path matching the regex `path` get `status`."""
        self.faults.append(Fault(method, re.compile(path), status, retry_after, times))

    def user_by_upn(self, upn: str) -> dict | None:
        return next((u for u in self.users.values() if u["userPrincipalName"].lower() == upn.lower()), None)

    def writes(self) -> list[tuple[str, str]]:
        """(method, path) of every call that changed something, in order."""
        return [(c.method, _shape(c.path)) for c in self.calls if c.method != "GET" and c.path != "/v1.0/$batch"]

    # -- dispatch ----------------------------------------------------------------------------

    def handle(self, method: str, target: str, body: Any, in_batch: bool) -> tuple[int, dict, dict]:
        parts = urlsplit(target)
        path, query = unquote(parts.path), parse_qs(parts.query)
        with self.lock:
            self.calls.append(Call(method, path, body, in_batch))
            try:
                self._scripted(method, path)
                if path == "/v1.0/$batch" and method == "POST":
                    return 200, self._batch(body), {}
                status, payload = self._route(method, path, query, body)
                return status, payload, {}
            except Answer as answer:
                return answer.status, answer.body(), answer.headers

    def _scripted(self, method: str, path: str) -> None:
        for fault in self.faults:
            if fault.times > 0 and fault.method == method and fault.path.search(path):
                fault.times -= 1
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                code = {429: "TooManyRequests", 403: "Authorization_RequestDenied",
                        503: "ServiceUnavailable"}.get(fault.status, "Injected")
                raise Answer(fault.status, code, "injected by the test", headers)

    def _route(self, method: str, path: str, query: dict, body: Any) -> tuple[int, dict]:
        for pattern, verb, handler in ROUTES:
            found = re.fullmatch(pattern, path)
            if found and verb == method:
                return handler(self, *found.groups(), query=query, body=body)
        self.violations.append(f"no such Graph call: {method} {path}")
        raise Answer(400, "BadRequest", f"Invalid request: {method} {path}")

    def _batch(self, envelope: Any) -> dict:
        requests = envelope.get("requests") if isinstance(envelope, dict) else None
        if not isinstance(requests, list) or not 1 <= len(requests) <= 20:
            self._refuse("a $batch needs 1 to 20 requests")
        ids = [r.get("id") for r in requests]
        if len(set(ids)) != len(ids) or not all(isinstance(i, str) and i for i in ids):
            self._refuse("$batch request ids must be unique non-empty strings")
        self.batches.append(len(requests))
        responses = []
        for item in requests:
            url = str(item.get("url", ""))
            if not url.startswith("/") or url.startswith("/v1.0"):
                self._refuse(f"$batch url must be relative to the version: {url}")
            if "body" in item and (item.get("headers") or {}).get("Content-Type") != "application/json":
                self._refuse("a $batch request with a body needs headers Content-Type: application/json")
            status, payload, headers = self.handle(item.get("method", ""), "/v1.0" + url, item.get("body"), True)
            responses.append({"id": item["id"], "status": status, "headers": headers, "body": payload})
        return {"responses": list(reversed(responses))}  # Graph promises no order

    def _refuse(self, why: str) -> None:
        self.violations.append(why)
        raise Answer(400, "BadRequest", why)

    # -- users -------------------------------------------------------------------------------

    def _user(self, key: str) -> dict:
        user = self.users.get(key) or self.user_by_upn(key)
        if user is None:
            raise Answer(404, "Request_ResourceNotFound", f"Resource '{key}' does not exist")
        return user

    def get_user(self, key: str, query: dict, body: Any) -> tuple[int, dict]:
        return 200, _selected(self._user(key), query)

    def list_users(self, query: dict, body: Any) -> tuple[int, dict]:
        wanted = re.fullmatch(r"mail eq '(.*)'", query.get("$filter", [""])[0])
        if wanted is None:
            self._refuse("only $filter=mail eq '…' is expected")
        address = wanted.group(1).replace("''", "'").lower()
        return 200, {"value": [_selected(u, query) for u in self.users.values()
                               if (u.get("mail") or "").lower() == address]}

    def create_user(self, query: dict, body: Any) -> tuple[int, dict]:
        self._properties(body, CREATE_REQUIRED, USER_WRITABLE)
        upn = body["userPrincipalName"]
        if not upn.lower().endswith("@" + DOMAIN) or "@" in body["mailNickname"]:
            self._refuse("userPrincipalName must be in the verified domain; mailNickname has no @")
        if not body["passwordProfile"].get("password"):
            self._refuse("passwordProfile.password is required")
        if self.user_by_upn(upn):
            raise Answer(400, "Request_BadRequest",
                         "Another object with the same value for property userPrincipalName already exists.")
        user = {k: v for k, v in body.items() if k != "passwordProfile"}
        user.update(id=str(uuid.uuid4()), mail=None, assignedLicenses=[], userType="Member")
        self.users[user["id"]] = user
        self.log.append(("user", user["id"], ""))
        return 201, user

    def patch_user(self, key: str, query: dict, body: Any) -> tuple[int, dict]:
        self._properties(body, set(), USER_WRITABLE)
        user = self._user(key)
        user.update(body)
        self.log.append(("user", user["id"], ""))
        return 204, {}

    def delete_user(self, key: str, query: dict, body: Any) -> tuple[int, dict]:
        user = self._user(key)
        del self.users[user["id"]]
        for members in self.groups.values():
            members.discard(user["id"])
        self.log.append(("user", user["id"], ""))
        return 204, {}

    def revoke_sessions(self, key: str, query: dict, body: Any) -> tuple[int, dict]:
        if body not in (None, {}):
            self._refuse("revokeSignInSessions takes no body")
        self.revoked.append(self._user(key)["id"])
        return 200, {"value": True}

    def assign_license(self, key: str, query: dict, body: Any) -> tuple[int, dict]:
        self._properties(body, {"addLicenses", "removeLicenses"}, {"addLicenses", "removeLicenses"})
        user = self._user(key)
        if body["addLicenses"] and not user.get("usageLocation"):
            raise Answer(400, "Request_BadRequest", "License assignment cannot be done for user with invalid usage location.")
        held = {x["skuId"] for x in user["assignedLicenses"]}
        for item in body["addLicenses"]:
            if set(item) != {"skuId", "disabledPlans"}:
                self._refuse("addLicenses items are {skuId, disabledPlans}")
            held.add(item["skuId"])
        held -= set(body["removeLicenses"])
        user["assignedLicenses"] = [{"skuId": s, "disabledPlans": []} for s in sorted(held)]
        self.log.append(("user", user["id"], ""))
        return 200, _selected(user, {})

    def invite(self, query: dict, body: Any) -> tuple[int, dict]:
        self._properties(body, {"invitedUserEmailAddress", "inviteRedirectUrl"}, INVITE_FIELDS)
        if not str(body["inviteRedirectUrl"]).startswith("https://"):
            self._refuse("inviteRedirectUrl must be https")
        address = body["invitedUserEmailAddress"]
        user = {"id": str(uuid.uuid4()), "mail": address, "accountEnabled": True, "userType": "Guest",
                "userPrincipalName": address.replace("@", "_") + "#EXT#@" + DOMAIN, "assignedLicenses": [],
                "displayName": body.get("invitedUserDisplayName", address)}
        self.users[user["id"]] = user
        self.log.append(("user", user["id"], ""))
        return 201, {"id": str(uuid.uuid4()), "status": "PendingAcceptance", "invitedUser": {"id": user["id"]},
                     "inviteRedeemUrl": "https://login.microsoftonline.com/redeem"}

    # -- groups ------------------------------------------------------------------------------

    def _group(self, gid: str) -> set[str]:
        if gid not in self.groups:
            raise Answer(404, "Request_ResourceNotFound", f"Resource '{gid}' does not exist")
        return self.groups[gid]

    def add_member(self, gid: str, query: dict, body: Any) -> tuple[int, dict]:
        self._properties(body, {"@odata.id"}, {"@odata.id"})
        ref = re.fullmatch(re.escape(self.url) + r"/v1\.0/directoryObjects/([0-9a-f-]{36})", body["@odata.id"])
        if ref is None:
            self._refuse("@odata.id must be {graph}/v1.0/directoryObjects/{id}")
        members = self._group(gid)
        uid = self._user(ref.group(1))["id"]
        if uid in members:
            raise Answer(400, "Request_BadRequest", "One or more added object references already exist for the "
                         "following modified properties: 'members'.")
        members.add(uid)
        self.log.append(("member", gid, uid))
        return 204, {}

    def remove_member(self, gid: str, uid: str, query: dict, body: Any) -> tuple[int, dict]:
        members = self._group(gid)
        if uid not in members:
            raise Answer(404, "Request_ResourceNotFound", f"Resource '{uid}' does not exist")
        members.discard(uid)
        self.log.append(("left", gid, uid))
        return 204, {}

    # -- delta -------------------------------------------------------------------------------

    def users_delta(self, query: dict, body: Any) -> tuple[int, dict]:
        since = int(query.get("$deltatoken", ["-1"])[0])
        if since < 0:
            items = [_selected(u, query) for u in self.users.values()]
        else:
            ids = dict.fromkeys(oid for kind, oid, _ in self.log[since:] if kind == "user")
            items = [_selected(self.users[i], query) if i in self.users else {"id": i, "@removed": {"reason": "changed"}}
                     for i in ids]
        return 200, self._delta_page("users", items, query)

    def groups_delta(self, query: dict, body: Any) -> tuple[int, dict]:
        since = int(query.get("$deltatoken", ["-1"])[0])
        changes: dict[str, list[dict]] = {}
        if since < 0:
            for gid, members in self.groups.items():
                changes[gid] = [{"@odata.type": "#microsoft.graph.user", "id": m} for m in sorted(members)]
        else:
            for kind, gid, uid in self.log[since:]:
                if kind in ("member", "left"):
                    entry = {"@odata.type": "#microsoft.graph.user", "id": uid}
                    if kind == "left":
                        entry["@removed"] = {"reason": "deleted"}
                    changes.setdefault(gid, []).append(entry)
        items = [{"id": gid, "members@delta": members} for gid, members in changes.items()]
        return 200, self._delta_page("groups", items, query)

    def _delta_page(self, kind: str, items: list[dict], query: dict) -> dict:
        """Two pages when there are more than two items: a nextLink, then the deltaLink."""
        page = int(query.get("$skiptoken", ["0"])[0])
        if page == 0 and len(items) > 2:
            return {"value": items[:2], "@odata.nextLink": f"{self.url}/v1.0/{kind}/delta?$skiptoken=1"
                    + ("&$deltatoken=" + query["$deltatoken"][0] if "$deltatoken" in query else "")
                    + "&$select=" + query.get("$select", [""])[0]}
        rest = items[2:] if page == 1 else items
        return {"value": rest, "@odata.deltaLink": f"{self.url}/v1.0/{kind}/delta?$deltatoken={len(self.log)}"
                + "&$select=" + query.get("$select", [""])[0]}

    def _properties(self, body: Any, required: set[str], allowed: set[str]) -> None:
        if not isinstance(body, dict):
            self._refuse("the body must be a JSON object")
        missing, unknown = required - set(body), set(body) - allowed
        if missing or unknown:
            self._refuse(f"properties missing {sorted(missing)} or not expected {sorted(unknown)}")


_ID = r"([^/]+)"
ROUTES = [
    (r"/v1\.0/users/delta", "GET", Graph.users_delta),
    (r"/v1\.0/groups/delta", "GET", Graph.groups_delta),
    (r"/v1\.0/users", "GET", Graph.list_users),
    (r"/v1\.0/users", "POST", Graph.create_user),
    (rf"/v1\.0/users/{_ID}", "GET", Graph.get_user),
    (rf"/v1\.0/users/{_ID}", "PATCH", Graph.patch_user),
    (rf"/v1\.0/users/{_ID}", "DELETE", Graph.delete_user),
    (rf"/v1\.0/users/{_ID}/revokeSignInSessions", "POST", Graph.revoke_sessions),
    (rf"/v1\.0/users/{_ID}/assignLicense", "POST", Graph.assign_license),
    (r"/v1\.0/invitations", "POST", Graph.invite),
    (rf"/v1\.0/groups/{_ID}/members/\$ref", "POST", Graph.add_member),
    (rf"/v1\.0/groups/{_ID}/members/{_ID}/\$ref", "DELETE", Graph.remove_member),
]


def _selected(user: dict, query: dict) -> dict:
    fields = [f for f in query.get("$select", [""])[0].split(",") if f]
    return {k: user.get(k) for k in ["id", *fields]} if fields else dict(user)


def _shape(path: str) -> str:
    return re.sub(r"/[0-9a-f-]{36}|/[^/]+@[^/]+", "/{id}", path.removeprefix("/v1.0"))


@contextmanager
def graph_standin() -> Iterator[Graph]:
    """The stand-in on a free port of 127.0.0.1, for the length of the block."""
    graph = Graph()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            raw = self.rfile.read(length) if length else b""
            status, payload, headers = self._answer(raw)
            data = json.dumps(payload).encode() if payload else b""
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _answer(self, raw: bytes) -> tuple[int, dict, dict]:
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                graph.violations.append(f"{self.command} {self.path} without the bearer token")
                return 401, {"error": {"code": "InvalidAuthenticationToken", "message": "no token"}}, {}
            body = None
            if raw:
                if not self.headers.get("Content-Type", "").startswith("application/json"):
                    graph.violations.append(f"{self.command} {self.path}: a body that is not application/json")
                    return 415, {}, {}
                body = json.loads(raw)
            return graph.handle(self.command, self.path, body, False)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    graph.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield graph
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
