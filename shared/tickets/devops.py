"""Azure Boards work items over the Azure DevOps REST API (api-version 7.1) with httpx.

Work items are created and changed with JSON Patch (`application/json-patch+json`); a state
change is guarded by `{"op": "test", "path": "/rev"}`; a child is linked from its parent with
`System.LinkTypes.Hierarchy-Forward`; comments use the work-item comments API. Roster
authenticates with Microsoft Entra (a managed identity or service principal, token for Azure
DevOps' resource) or, as a fallback, a personal access token.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any
from urllib.parse import quote

import httpx

from shared import outbound
from shared.tickets.port import StaleRevision, TicketError, TicketRefused, WorkItem
from shared.tickets.settings import DevOpsSettings

API_VERSION = "7.1"
COMMENTS_VERSION = "7.1-preview.4"
DEVOPS_RESOURCE = "499b84ac-1321-427f-aa17-267ca6975798/.default"
PATCH = "application/json-patch+json"
TIMEOUT = 10.0
MAX_RETRY_AFTER = 300.0


class EntraToken:
    """A bearer token for Azure DevOps from the app's identity, refreshed before it expires."""

    def __init__(self, credential: Any = None):
        self._credential, self._token, self._lock = credential, None, threading.Lock()

    def header(self) -> str:
        with self._lock:
            if self._token is None or self._token.expires_on - 300 < time.time():
                if self._credential is None:
                    from azure.identity import DefaultAzureCredential

                    self._credential = DefaultAzureCredential()
                self._token = self._credential.get_token(DEVOPS_RESOURCE)
            return f"Bearer {self._token.token}"


class AzureDevOps:
    enabled = True

    def __init__(self, settings: DevOpsSettings, client: httpx.Client | None = None, credential: Any = None):
        self.settings = settings
        self.http = client or outbound.client(field="ROSTER_DEVOPS_URL", timeout=TIMEOUT)  # checked, pinned
        self._entra = EntraToken(credential) if settings.auth == "entra" else None

    # -- the port ---------------------------------------------------------------------------

    def find(self, tag: str) -> WorkItem | None:
        query = ("SELECT [System.Id] FROM workitems WHERE [System.TeamProject] = @project "
                 f"AND [System.Tags] CONTAINS '{tag.replace(chr(39), chr(39) * 2)}' ORDER BY [System.Id]")
        found = self._call("POST", f"{self._project}/_apis/wit/wiql", body={"query": query})["workItems"]
        return self.get(found[0]["id"]) if found else None

    def get(self, item_id: int) -> WorkItem:
        return self._item(self._call("GET", f"{self._project}/_apis/wit/workitems/{item_id}",
                                     params={"$expand": "relations"}))

    def create(self, kind: str, fields: dict[str, str], tags: list[str]) -> WorkItem:
        ops = [{"op": "add", "path": f"/fields/{name}", "value": value} for name, value in fields.items()]
        ops.append({"op": "add", "path": "/fields/System.Tags", "value": "; ".join(tags)})
        return self._item(self._call("POST", f"{self._project}/_apis/wit/workitems/${quote(kind)}", patch=ops))

    def set_state(self, item: WorkItem, state: str) -> WorkItem:
        ops = [{"op": "test", "path": "/rev", "value": item.rev},
               {"op": "add", "path": "/fields/System.State", "value": state}]
        return self._item(self._call("PATCH", f"{self._project}/_apis/wit/workitems/{item.id}", patch=ops))

    def link_child(self, parent: WorkItem, child: WorkItem) -> WorkItem:
        ops = [{"op": "test", "path": "/rev", "value": parent.rev},
               {"op": "add", "path": "/relations/-",
                "value": {"rel": "System.LinkTypes.Hierarchy-Forward", "url": child.url}}]
        return self._item(self._call("PATCH", f"{self._project}/_apis/wit/workitems/{parent.id}", patch=ops))

    def comments(self, item_id: int) -> list[str]:
        answer = self._call("GET", f"{self._project}/_apis/wit/workItems/{item_id}/comments",
                            version=COMMENTS_VERSION)
        return [c.get("text", "") for c in answer.get("comments", [])]

    def add_comment(self, item_id: int, html: str) -> None:
        self._call("POST", f"{self._project}/_apis/wit/workItems/{item_id}/comments", body={"text": html},
                   version=COMMENTS_VERSION)

    # -- HTTP -------------------------------------------------------------------------------

    @property
    def _project(self) -> str:
        return f"{self.settings.url}/{quote(self.settings.project)}"

    def _authorization(self) -> str:
        if self._entra is not None:
            return self._entra.header()
        return "Basic " + base64.b64encode(f":{self.settings.pat}".encode()).decode()

    def _call(self, method: str, url: str, *, body: Any = None, patch: list | None = None,
              params: dict | None = None, version: str = API_VERSION) -> dict:
        headers = {"Authorization": self._authorization(), "Accept": "application/json",
                   "Content-Type": PATCH if patch is not None else "application/json"}
        payload = patch if patch is not None else body
        try:
            response = self.http.request(method, url, params={**(params or {}), "api-version": version},
                                         content=json.dumps(payload).encode() if payload is not None else None,
                                         headers=headers)
        except httpx.HTTPError as exc:
            raise TicketError(f"Azure DevOps unreachable: {type(exc).__name__}") from None
        return _answer(response)

    def _item(self, body: dict) -> WorkItem:
        fields = body.get("fields", {})
        relations = body.get("relations") or []
        return WorkItem(
            id=body["id"], rev=body["rev"], url=body["url"],
            link=f"{self.settings.url}/{quote(self.settings.project)}/_workitems/edit/{body['id']}",
            state=fields.get("System.State", ""),
            tags=tuple(t.strip() for t in (fields.get("System.Tags") or "").split(";") if t.strip()),
            children=tuple(r["url"] for r in relations if r.get("rel") == "System.LinkTypes.Hierarchy-Forward"),
            fields=fields,
        )


def _answer(response: httpx.Response) -> dict:
    status = response.status_code
    if status < 300:
        return response.json() if response.content else {}
    if status in (409, 412) or (status == 400 and "TF401289" in response.text):  # the /rev test failed
        raise StaleRevision(f"HTTP {status}: the work item changed")
    if status == 429 or status >= 500:
        raise TicketError(f"Azure DevOps answered HTTP {status}", _retry_after(response))
    raise TicketRefused(f"Azure DevOps refused the call: HTTP {status}")


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after", "")
    try:
        return min(float(raw), MAX_RETRY_AFTER)
    except ValueError:
        return None
