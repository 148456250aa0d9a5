"""A page that plays Microsoft Teams hosting crmcard's "Admin" personal tab.

It frames ``/admin`` and answers the TeamsJS SDK's postMessage protocol the way the Teams
web client does (TeamsJS 2.x, ``internal/communication.js``): the app posts requests
``{id, uuidAsString, func, args, ...}`` to its parent; the host answers ``{id,
uuidAsString, args}``, and pushes events as ``{func, args}``. Answered here:

* ``initialize`` -> ``[frameContext, hostClientType, runtimeConfig (JSON), sdkVersion]``;
* ``getContext`` -> ``[context]`` in the v1 shape TeamsJS maps to ``app.getContext()``;
* ``authentication.getAuthToken`` -> ``[true, token]`` (Teams SSO: the token for the app);
* ``themeChange`` is pushed by :func:`push_theme`.

The page is served on crmcard's own origin (the test intercepts one path), so TeamsJS's
check of the parent's origin passes as it does for Teams' own origins. Every call the
app made is kept in ``window.hostCalls``.
"""

from __future__ import annotations

import json
from typing import Any

HOST_PATH = "/teams-host.html"

RUNTIME = {
    "apiVersion": 4,
    "hostVersionsInfo": {"adaptiveCardSchemaVersion": {"majorVersion": 1, "minorVersion": 5}},
    "isLegacyTeams": False,
    "supports": {"appEntity": {}, "teamsCore": {}, "logs": {}, "pages": {"tabs": {}}},
}

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Teams (emulated)</title></head>
<body>
<iframe id="tab" title="crmcard admin tab" src="/admin" style="width:100%;height:860px"></iframe>
<script>
const TOKEN = __TOKEN__;
const CONTEXT = __CONTEXT__;
const RUNTIME = __RUNTIME__;
window.hostCalls = [];
const frame = document.getElementById("tab");
window.addEventListener("message", (event) => {
  if (event.source !== frame.contentWindow) return;
  const request = event.data;
  if (!request || typeof request.func !== "string") return;
  window.hostCalls.push(request.func);
  const reply = (args) =>
    frame.contentWindow.postMessage(
      { id: request.id, uuidAsString: request.uuidAsString, args }, location.origin);
  if (request.func === "initialize") reply(["content", "web", JSON.stringify(RUNTIME), "2.58.0"]);
  else if (request.func === "getContext") reply([CONTEXT]);
  else if (request.func === "authentication.getAuthToken") reply(
    TOKEN ? [true, TOKEN] : [false, "resourceRequiresConsent"]);
});
window.pushTheme = (theme) =>
  frame.contentWindow.postMessage({ func: "themeChange", args: [theme] }, location.origin);
</script>
</body></html>
"""


def host_page(token: str, *, user: dict[str, str], locale: str, theme: str) -> str:
    context = {
        "locale": locale,
        "theme": theme,
        "tid": user["tid"],
        "userObjectId": user["oid"],
        "userPrincipalName": user["username"],
        "loginHint": user["username"],
        "hostClientType": "web",
        "frameContext": "content",
        "entityId": "admin",
        "appSessionId": "00000000-0000-4000-8000-00000000a001",
    }
    return (
        _PAGE.replace("__TOKEN__", json.dumps(token))
        .replace("__CONTEXT__", json.dumps(context))
        .replace("__RUNTIME__", json.dumps(RUNTIME))
    )


async def serve_host(page: Any, public_url: str, html: str) -> str:
    """Serve ``html`` at ``HOST_PATH`` on crmcard's origin for this page; its URL."""

    async def fulfill(route: Any) -> None:
        await route.fulfill(status=200, content_type="text/html", body=html)

    url = public_url + HOST_PATH
    await page.route(url, fulfill)
    return url


async def push_theme(page: Any, theme: str) -> None:
    await page.evaluate("theme => window.pushTheme(theme)", theme)
