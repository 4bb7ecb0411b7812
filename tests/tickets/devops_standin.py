"""A local stand-in for Azure DevOps' work item REST API that checks every call Roster makes.

It answers as Azure DevOps does (work items with revisions, JSON Patch with a `/rev` test,
WIQL by tag, comments, hierarchy links) and records each call; a call that breaks the
contract (wrong api-version, auth, content type, patch operation) fails the test through
`problems`. `fail_next` makes the next calls answer 429/503, `bump` and `edit_after_next_read`
change an item behind Roster's back (another person's edit), `lose_next_create` creates an item but answers 503.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

PROJECT = "Identity Desk"
PAT = "test-pat"
STATES = {"Issue": ("To Do", "In Planning", "Doing", "Done", "Closed", "Removed"), "Task": ("To Do", "Doing", "Done")}
PATCH = "application/json-patch+json"


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: object


@dataclass
class DevOps:
    url: str = ""
    items: dict[int, dict] = field(default_factory=dict)
    comments: dict[int, list[str]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    failures: list[tuple[int, dict]] = field(default_factory=list)
    lose_next_create: bool = False
    edit_after_next_read: dict | None = None
    teams_posts: list = field(default_factory=list)  # another person's edit, right after Roster read

    def fail_next(self, status: int, times: int = 1, retry_after: str | None = None) -> None:
        headers = {"Retry-After": retry_after} if retry_after else {}
        self.failures += [(status, headers)] * times

    def bump(self, item_id: int, **fields: str) -> None:
        """Another person edits the item: its revision moves on."""
        item = self.items[item_id]
        item["rev"] += 1
        item["fields"].update(fields)

    def by_tag(self, tag: str) -> list[dict]:
        return [i for i in self.items.values() if tag in _tags(i)]

    def calls_to(self, method: str, pattern: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and re.search(pattern, c.path)]

    # -- answering ---------------------------------------------------------------------------

    def answer(self, call: Call) -> tuple[int, dict, object]:
        if call.path.startswith("/teams/"):  # a Teams Workflows webhook, for the channel post
            self.teams_posts.append(call.body)
            return 202, {}, {}
        self.calls.append(call)
        self._check(call)
        if self.failures:
            status, headers = self.failures.pop(0)
            return status, headers, {"message": "try later"}
        base = f"/org/{PROJECT}/_apis/wit/"
        if not call.path.startswith(base):
            return 404, {}, {"message": "no such resource"}
        rest = call.path[len(base):]
        for pattern, handler in ROUTES:
            if (m := re.fullmatch(pattern[1], rest)) and pattern[0] == call.method:
                return handler(self, call, *m.groups())
        return 404, {}, {"message": f"no route {call.method} {rest}"}

    def _check(self, call: Call) -> None:
        expected = "7.1-preview.4" if "/comments" in call.path else "7.1"
        if call.query.get("api-version") != expected:
            self.problems.append(f"{call.method} {call.path}: api-version {call.query.get('api-version')}")
        token = base64.b64encode(f":{PAT}".encode()).decode()
        if call.headers.get("authorization") != f"Basic {token}":
            self.problems.append(f"{call.method} {call.path}: authorization {call.headers.get('authorization')!r}")
        is_item_write = call.method in ("POST", "PATCH") and re.search(r"/workitems/(\$|\d)", call.path)
        wanted = PATCH if is_item_write else "application/json"
        if call.method in ("POST", "PATCH") and call.headers.get("content-type") != wanted:
            self.problems.append(f"{call.method} {call.path}: content-type {call.headers.get('content-type')}")

    def _create(self, call: Call, kind: str) -> tuple[int, dict, object]:
        if kind not in STATES:
            return 400, {}, {"message": f"TF401326: unknown work item type {kind}"}
        fields = {"System.WorkItemType": kind, "System.State": STATES[kind][0]}
        for op in call.body:
            if op["op"] != "add" or not op["path"].startswith("/fields/"):
                self.problems.append(f"create: unexpected operation {op}")
                continue
            fields[op["path"][len("/fields/"):]] = op["value"]
        item_id = len(self.items) + 1
        self.items[item_id] = {"id": item_id, "rev": 1, "fields": fields, "relations": [],
                               "url": f"{self.url}/org/_apis/wit/workItems/{item_id}"}
        if self.lose_next_create:
            self.lose_next_create = False
            return 503, {}, {"message": "the answer was lost"}
        return 200, {}, self.items[item_id]

    def _get(self, call: Call, item_id: str) -> tuple[int, dict, object]:
        item = self.items.get(int(item_id))
        if item is None:
            return 404, {}, {"message": "TF401232: not found"}
        answer = json.loads(json.dumps(item))
        if self.edit_after_next_read:
            self.bump(item["id"], **self.edit_after_next_read)
            self.edit_after_next_read = None
        return 200, {}, answer

    def _update(self, call: Call, item_id: str) -> tuple[int, dict, object]:
        item = self.items.get(int(item_id))
        if item is None:
            return 404, {}, {"message": "TF401232: not found"}
        for op in call.body:
            if op["op"] == "test" and op["path"] == "/rev" and op["value"] != item["rev"]:
                return 412, {}, {"message": "TF401289: the work item has changed (rev test failed)"}
        if not any(op["op"] == "test" and op["path"] == "/rev" for op in call.body):
            self.problems.append(f"update of {item_id} without a /rev test")
        for op in call.body:
            if op["op"] == "add" and op["path"] == "/fields/System.State":
                if op["value"] not in STATES[item["fields"]["System.WorkItemType"]]:
                    return 400, {}, {"message": f"TF401320: {op['value']} is not a valid state"}
                item["fields"]["System.State"] = op["value"]
            elif op["op"] == "add" and op["path"] == "/relations/-":
                item["relations"].append(op["value"])
            elif op["op"] != "test":
                self.problems.append(f"update: unexpected operation {op}")
        item["rev"] += 1
        return 200, {}, item

    def _wiql(self, call: Call) -> tuple[int, dict, object]:
        query = call.body.get("query", "")
        match = re.search(r"\[System\.Tags\] CONTAINS '([^']+)'", query)
        found = self.by_tag(match.group(1)) if match else []
        return 200, {}, {"workItems": [{"id": i["id"], "url": i["url"]} for i in found]}

    def _comments(self, call: Call, item_id: str) -> tuple[int, dict, object]:
        texts = self.comments.setdefault(int(item_id), [])
        if call.method == "POST":
            texts.append(call.body["text"])
            return 200, {}, {"id": len(texts), "text": call.body["text"]}
        return 200, {}, {"totalCount": len(texts), "comments": [{"text": t} for t in texts]}


def _tags(item: dict) -> list[str]:
    return [t.strip() for t in item["fields"].get("System.Tags", "").split(";")]


ROUTES = [
    (("POST", r"workitems/\$([A-Za-z]+)"), DevOps._create),
    (("GET", r"workitems/(\d+)"), DevOps._get),
    (("PATCH", r"workitems/(\d+)"), DevOps._update),
    (("POST", r"wiql"), lambda self, call: self._wiql(call)),
    (("GET", r"workItems/(\d+)/comments"), DevOps._comments),
    (("POST", r"workItems/(\d+)/comments"), DevOps._comments),
]


def serve() -> tuple[DevOps, ThreadingHTTPServer]:
    devops = DevOps()

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            parts = urlsplit(self.path)
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            call = Call(self.command, unquote(parts.path), {k: v[0] for k, v in parse_qs(parts.query).items()},
                        {k.lower(): v for k, v in self.headers.items()}, json.loads(raw) if raw else None)
            status, headers, body = devops.answer(call)
            data = json.dumps(body).encode()
            self.send_response(status)
            for name, value in {**headers, "Content-Type": "application/json"}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = _any

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    devops.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return devops, server
