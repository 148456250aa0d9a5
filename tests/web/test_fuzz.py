"""Bounded property-based fuzzing of every route and every card verb: never a 5xx, and a
refused request stores nothing.

Bodies are arbitrary JSON, near-valid payloads with fields replaced or dropped, and raw
bytes; headers carry arbitrary keys. Card actions go through both doors (the bot's invoke
on ``/api/messages`` and the tab's ``/api/tab/actions``) with every verb and arbitrary
data, on a real interaction. Examples are derandomized and bounded, so a run is
repeatable and takes seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.services.card_actions import VERBS
from bot.services.late_crm_answers import drain
from bot.services.store import Store
from bot.settings import Settings
from bot.web.app import create_app
from bot.web.interactions import CONTEXT
from tests.activities import card_action, interaction_event

Client = TestClient[Any, Any]

API = {"X-Api-Key": "demo-key"}
ADMIN = {"X-Admin-Key": "demo-admin-key"}
CALL = "call-1"
SERVICE_URL = "http://127.0.0.1:9/connector"  # never reached: invoke answers are HTTP

EXAMPLES = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

TEMPLATES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/interactions"): interaction_event("fz-call", "assigned"),
    ("POST", "/api/lookup"): {"phone": "+1 555 0100"},
    ("POST", "/api/workflows/{id}/execute"): {"interactionId": CALL, "inputs": {"name": "x"}},
    ("POST", "/api/admin/crms"): {"settingsId": "fz", "kind": "demo", "displayName": "Fz"},
    ("PATCH", "/api/admin/crms/{id}"): {"displayName": "Renamed"},
    ("POST", "/api/admin/crms/{id}/rotate-secret"): {"secret": "s3cret"},
    ("PUT", "/api/admin/crms/{id}/memorialization"): {"fields": [], "timeline": {}},
    ("POST", "/api/admin/outbox/replay"): {"interactionId": CALL, "record": "demo:contact:1"},
    ("PUT", "/api/admin/workflows/{id}"): {"type": "search", "name": "Find", "settingsId": "demo"},
    ("PUT", "/api/admin/policies/{id}"): {"recordType": "case", "title": "Call"},
    ("PUT", "/api/admin/routing"): {"rules": []},
    ("PUT", "/api/admin/tenant"): {"defaultRegion": "DE"},
    ("POST", "/api/tab/actions"): {"verb": "refreshCard", "data": {"interactionId": CALL}},
}
READS = [
    "/api/admin/crms",
    "/api/admin/crms/{id}",
    "/api/admin/outbox",
    "/api/admin/workflows/{id}",
    "/api/admin/policies/{id}",
    "/api/admin/routing",
    "/api/admin/tenant",
    "/api/admin/crm-audit",
    "/api/tab/card",
    "/healthz",
]
PLAUSIBLE_DATA: dict[str, st.SearchStrategy[Any]] = {
    "interactionId": st.sampled_from([CALL, "call-404", ""]),
    "rev": st.integers(-1, 4),
    "record": st.sampled_from(["demo:contact:C-2001", "demo:case:CS-4001", "nope:x:y", "x"]),
    "section": st.sampled_from(["contact", "case", "account", "x"]),
    "recordType": st.sampled_from(["case", "contact", "x"]),
    "subject": st.text(max_size=8),
    "otherCardId": st.sampled_from(["card-1", "x" * 300]),
    "mergeId": st.sampled_from(["merge-" + "0" * 32, "merge-x"]),
    "auditId": st.sampled_from(["merge-" + "1" * 32, "nope"]),
    "query": st.text(max_size=8),
    "workflowId": st.sampled_from(["wf", "nope", ""]),
    "workflowInputs": st.dictionaries(st.sampled_from(["wf.wf.name", "x"]), st.text(max_size=5)),
}
"""Card action fields (``ActionData``) with values near what a card sends."""


def _headers(path: str) -> dict[str, str]:
    if path.startswith("/api/admin"):
        return ADMIN
    return {} if path.startswith(("/api/tab", "/healthz")) else API


header_values = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_categories=("Cc",)), max_size=12
)
ids = st.sampled_from(["demo", "fz", "nope", "_default", "x y", "%2e%2e", "ä"])


@st.composite
def near_valid(draw: st.DrawFn, template: dict[str, Any]) -> Any:
    body = dict(template)
    for name in draw(st.lists(st.sampled_from(sorted(template)), max_size=3, unique=True)):
        if draw(st.booleans()):
            body[name] = draw(json_values)
        else:
            body.pop(name)
    extra = draw(st.dictionaries(st.text(max_size=8), json_values, max_size=2))
    return {**body, **extra}


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, dict[str, str], dict[str, Any]]:
    """(method, path, headers, aiohttp request kwargs)."""
    if draw(st.integers(0, 4)) == 0:
        path = draw(st.sampled_from(READS)).replace("{id}", draw(ids))
        headers = dict(_headers(path))
        if draw(st.booleans()):
            headers = {name: draw(header_values) for name in headers}
        return "GET", path, headers, {}
    (method, route), template = draw(st.sampled_from(sorted(TEMPLATES.items())))
    path = route.replace("{id}", draw(ids))
    headers = dict(_headers(path))
    choice = draw(st.integers(0, 5))
    if choice == 0:
        kwargs: dict[str, Any] = {
            "data": draw(st.binary(max_size=40)),
            "headers": {"Content-Type": "application/json"},
        }
    elif choice == 1:
        kwargs = {"json": draw(json_values)}
    else:
        kwargs = {"json": draw(near_valid(template))}
    if draw(st.integers(0, 5)) == 0:  # a key that is not ASCII, or not known
        headers = {name: draw(header_values) for name in headers}
    return method, path, headers, kwargs


@st.composite
def card_actions(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    verb = draw(st.sampled_from([*sorted(VERBS), "noSuchVerb", ""]))
    names = draw(st.lists(st.sampled_from(sorted(PLAUSIBLE_DATA)), max_size=5, unique=True))
    data = {
        name: draw(PLAUSIBLE_DATA[name] if draw(st.integers(0, 3)) else json_values)
        for name in names
    }
    if draw(st.integers(0, 4)):  # mostly on the real interaction, at a real revision
        data.setdefault("interactionId", CALL)
        data.setdefault("rev", draw(st.integers(0, 3)))
    return verb, data


async def snapshot(store: Store) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    async for key in store.keys(""):
        document = await store.read(key)
        if document is not None:
            found[key] = document.data
    return found


@pytest.fixture
async def fuzz_client(aiohttp_client: Callable[..., Any], tmp_path: Path) -> Client:
    app = create_app(
        Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=tmp_path / "data",
            writeback_worker=False,
        )
    )
    client: Client = await aiohttp_client(app)
    for second, event in enumerate(("assigned", "connected")):
        payload = interaction_event(CALL, event, occurred_at=f"2026-11-23T08:00:0{second}Z")
        response = await client.post("/api/interactions", json=payload, headers=API)
        assert response.status == 202, await response.text()
    await drain(app[CONTEXT])
    return client


async def _checked(client: Client, send: Callable[[], Any]) -> tuple[int, int | None]:
    """Send; assert no 5xx and, for a refusal, an unchanged store. (HTTP, invoke status)."""
    ctx = client.app[CONTEXT]
    await ctx.audit_feed.flush()  # an earlier accepted click's audit entry is written now
    before = await snapshot(ctx.store)
    response = await send()
    text = await response.text()
    assert response.status < 500, text
    invoke_status = None
    if response.status == 200 and '"statusCode"' in text[:40]:
        invoke_status = (await response.json())["statusCode"]
        assert invoke_status < 500, text
    refused = response.status >= 400 or (invoke_status or 0) >= 400
    await drain(ctx)
    await ctx.audit_feed.flush()  # a refusal leaves no audit entry waiting either
    if refused:
        assert await snapshot(ctx.store) == before, text
    return response.status, invoke_status


@EXAMPLES
@given(request=requests())
async def test_no_route_answers_5xx_or_stores_on_a_refusal(
    fuzz_client: Client, request: tuple[str, str, dict[str, str], dict[str, Any]]
) -> None:
    method, path, headers, kwargs = request
    extra = kwargs.pop("headers", {})
    await _checked(
        fuzz_client,
        lambda: fuzz_client.request(method, path, headers={**headers, **extra}, **kwargs),
    )


@EXAMPLES
@given(action=card_actions(), door=st.sampled_from(["invoke", "tab"]))
async def test_no_card_verb_answers_5xx_or_stores_on_a_refusal(
    fuzz_client: Client, action: tuple[str, dict[str, Any]], door: str
) -> None:
    verb, data = action
    if door == "invoke":
        activity = card_action(SERVICE_URL, verb, data)
        await _checked(fuzz_client, lambda: fuzz_client.post("/api/messages", json=activity))
    else:
        body = {"verb": verb, "data": data}
        await _checked(fuzz_client, lambda: fuzz_client.post("/api/tab/actions", json=body))
