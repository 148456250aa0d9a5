"""GDPR export and erase of one data subject, over the admin API.

Edward Ferrars calls (his card, linked, written back) and writes an e-mail (a second card,
merged into the first); Marianne Dashwood calls too. Erasing Edward by his phone number
removes both of his cards and everything about them: afterwards a dump of the whole store
finds none of his numbers, addresses, names, card or interaction ids, while Marianne's
card and call are untouched and the erase itself is audited under a pseudonym.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.cli import subjects
from bot.cli.access import CommandFailed
from bot.cli.main import parser
from bot.domain.tickets import Message, Ticket, TicketStatus
from bot.services import keys, merge
from bot.settings import Settings
from bot.web.app import create_app
from bot.web.interactions import CONTEXT
from bot.web.tickets import TICKETING
from tests.activities import interaction_event
from tests.bot.test_customer_card_flow import install, invoke, record_action
from tests.connector import FakeConnector

Client = TestClient[Any, Any]
KEY = {"X-Api-Key": "demo-key"}
ADMIN = {"X-Admin-Key": "demo-admin-key"}
TENANT = "demo-tenant"
EDWARD = {"phone": "+1 555 0100"}
MARIANNE = {"phone": "+1 555 0199", "name": "Marianne Dashwood"}
MAPPING = {"fields": [{"source": "disposition", "target": "last_disposition"}]}


@pytest.fixture
async def client(aiohttp_client: Callable[..., Any], tmp_path: Path) -> Client:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        api_keys={TENANT: "demo-key"},
        writeback_poll_seconds=0.05,
    )
    made: Client = await aiohttp_client(create_app(settings))
    return made


async def event(client: Client, interaction_id: str, name: str, **fields: Any) -> None:
    payload = {**interaction_event(interaction_id, name), **fields}
    response = await client.post("/api/interactions", json=payload, headers=KEY)
    assert response.status == 202, await response.text()


async def dump(client: Client) -> str:
    """Every key and document of the store, as one text."""
    assert client.app is not None
    store = client.app[CONTEXT].store
    parts = []
    async for key in store.keys(""):
        document = await store.read(key)
        parts.append(key)
        parts.append(document.data.decode("utf-8", "replace") if document else "")
    return "\n".join(parts)


async def edward_and_marianne(client: Client, url: str, fake: FakeConnector) -> list[str]:
    response = await client.put("/api/admin/crms/demo/memorialization", json=MAPPING, headers=ADMIN)
    assert response.status == 200, await response.text()
    await install(client, url)
    for name in ("assigned", "connected"):
        await event(client, "call-1", name, customer=EDWARD)
    link = record_action(fake.cards()[-1].card or {}, "link", "contact:C-2001")
    assert (await invoke(client, url, "link", link["data"]))["statusCode"] == 200
    await event(client, "call-1", "ended")
    await event(client, "call-1", "acw-completed", details={"disposition": "Resolved"})
    mail = {"email": "Edward.Ferrars+orders@example.com"}
    await event(client, "mail-1", "assigned", channel="email", customer=mail)
    await event(client, "call-2", "assigned", customer=MARIANNE)
    assert client.app is not None
    ctx = client.app[CONTEXT]
    cards = []
    for interaction_id in ("call-1", "mail-1", "call-2"):
        document = await ctx.store.read(keys.interaction(TENANT, interaction_id))
        assert document is not None
        cards.append(json.loads(document.data)["card_id"])
    await merge.merge(ctx, TENANT, cards[0], cards[1], "agent", merge.new_merge_id())
    closed = datetime.now(UTC)
    await client.app[TICKETING].archive.put_tickets(
        [
            Ticket(
                tenant_id=TENANT,
                crm_id="zd",
                crm_name="Zendesk",
                external_id=number,
                number=number,
                subject=f"Gate broken, ticket {number}",
                status=TicketStatus.solved,
                agent_email="avery@contoso.example",
                agent_name="Avery Agent",
                requester_name=name,
                requester_email=email,
                created_at=closed - timedelta(days=2),
                closed_at=closed,
                url=f"https://contoso.zendesk.com/agent/tickets/{number}",
                messages=(Message(author=name, at=closed, body="The gate is broken."),),
            )
            for number, name, email in (
                ("101", "Edward Ferrars", "edward.ferrars@example.com"),
                ("102", "Marianne Dashwood", "marianne@example.com"),
            )
        ]
    )
    return cards


async def test_export_then_erase_leaves_nothing_of_the_subject(
    client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    edward_call, edward_mail, marianne = await edward_and_marianne(client, url, fake)
    before = await dump(client)
    assert "+15550100" in before and "Edward Ferrars" in before and "call-1" in before

    response = await client.post(
        "/api/admin/data-subjects/export", json={"phone": "+1 555 0100"}, headers=ADMIN
    )
    assert response.status == 200, await response.text()
    exported = await response.json()
    assert set(exported["cardIds"]) == {edward_call, edward_mail}  # the merge is followed
    assert set(exported["interactionIds"]) == {"call-1", "mail-1"}
    assert exported["writebacks"] and exported["auditEntries"]
    assert [t["number"] for t in exported["tickets"]] == ["101"]
    assert marianne not in str(exported)

    response = await client.post(
        "/api/admin/data-subjects/erase", json={"phone": "+1 555 0100"}, headers=ADMIN
    )
    assert response.status == 200, await response.text()
    report = await response.json()
    assert (report["cards"], report["interactions"]) == (2, 2)
    assert report["documentsDeleted"] > 0 and report["documentsScrubbed"] > 0
    assert report["ticketsDeleted"] == 1
    archive = client.app[TICKETING].archive
    assert await archive.ticket(TENANT, "zd", "101") is None
    assert await archive.ticket(TENANT, "zd", "102") is not None  # Marianne's stays

    after = await dump(client)
    for trace in (
        "+15550100",
        "555 0100",
        "edward.ferrars",
        "Edward.Ferrars",
        "Edward Ferrars",
        edward_call,
        edward_mail,
        '"call-1"',
        '"mail-1"',
        "interactions/call-1",
    ):
        assert trace not in after, trace
    assert report["pseudonym"] in after  # the audit trail keeps the events, pseudonymized
    assert "+15550199" in after and marianne in after  # someone else's data stays
    response = await client.get("/api/admin/audit?kind=gdpr", headers=ADMIN)
    [entry] = (await response.json())["entries"]
    assert entry["target"] == report["pseudonym"] and entry["kind"] == "gdpr.erase"

    again = await client.post(
        "/api/admin/data-subjects/erase", json={"phone": "+1 555 0100"}, headers=ADMIN
    )
    assert again.status == 404
    assert (await client.get("/api/tab/card")).status == 200  # the agent's tab still works


async def test_bad_queries_and_strangers_are_refused(client: Client) -> None:
    for body in ({}, {"phone": "+1 555 0100", "extra": 1}, {"phone": 42}):
        response = await client.post("/api/admin/data-subjects/erase", json=body, headers=ADMIN)
        assert response.status == 422, body
    response = await client.post("/api/admin/data-subjects/erase", json={"cardId": "x"})
    assert response.status == 401
    response = await client.post(
        "/api/admin/data-subjects/export", json={"cardId": "no-such-card"}, headers=ADMIN
    )
    assert response.status == 404


async def test_the_operator_exports_and_erases_from_the_command_line(
    client: Client,
    connector: tuple[FakeConnector, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake, url = connector
    edward_call, edward_mail, _ = await edward_and_marianne(client, url, fake)
    settings = Settings(_env_file=None, data_dir=tmp_path / "data")  # type: ignore[call-arg]

    def args(*words: str) -> Any:
        return parser().parse_args(["subjects", *words])

    assert (
        await subjects.run(args("export", "--email", "edward.ferrars@example.com"), settings) == 0
    )
    exported = json.loads(capsys.readouterr().out)
    assert set(exported["cardIds"]) == {edward_call, edward_mail}
    with pytest.raises(CommandFailed, match="--yes"):
        await subjects.run(args("erase", "--card-id", edward_mail), settings)
    assert await subjects.run(args("erase", "--card-id", edward_mail, "--yes"), settings) == 0
    assert json.loads(capsys.readouterr().out)["cards"] == 2
    assert "Edward Ferrars" not in await dump(client)


async def test_a_merge_undone_leaves_the_other_card_out_of_the_subjects_data(
    client: Client,
) -> None:
    """Merged by mistake and undone: Marianne's card is hers again, not Edward's."""
    await event(client, "call-1", "assigned", customer=EDWARD)
    await event(client, "call-2", "assigned", customer=MARIANNE)
    assert client.app is not None
    ctx = client.app[CONTEXT]
    edward, marianne = [
        json.loads(document.data)["card_id"]
        for document in [
            await ctx.store.read(keys.interaction(TENANT, interaction_id))
            for interaction_id in ("call-1", "call-2")
        ]
        if document is not None
    ]
    mistake = await merge.merge(ctx, TENANT, edward, marianne, "agent", merge.new_merge_id())
    await merge.undo(ctx, TENANT, mistake.id, "agent")

    response = await client.post(
        "/api/admin/data-subjects/export", json={"phone": "+1 555 0100"}, headers=ADMIN
    )
    assert response.status == 200, await response.text()
    exported = await response.json()
    assert exported["cardIds"] == [edward] and exported["interactionIds"] == ["call-1"]
    assert "Marianne Dashwood" not in json.dumps(exported)

    response = await client.post(
        "/api/admin/data-subjects/erase", json={"phone": "+1 555 0100"}, headers=ADMIN
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["cards"] == 1
    after = await dump(client)
    assert edward not in after and "+15550100" not in after
    assert marianne in after and "Marianne Dashwood" in after and "+15550199" in after
    response = await client.post(
        "/api/admin/data-subjects/export", json={"phone": "+1 555 0199"}, headers=ADMIN
    )
    assert response.status == 200 and (await response.json())["cardIds"] == [marianne]


async def test_erasing_a_subject_leaves_identifiers_and_ids_that_only_contain_theirs(
    client: Client,
) -> None:
    """bob@ is not jimbob@, and mail-1 is not mail-10: another person's stay whole."""
    bob, jim = {"email": "bob@example.com"}, {"email": "jimbob@example.com"}
    await event(client, "mail-1", "assigned", channel="email", customer=bob)
    await event(client, "mail-10", "assigned", channel="email", customer=jim)
    assert client.app is not None
    store = client.app[CONTEXT].store
    before = await store.read(keys.interaction(TENANT, "mail-10"))
    assert before is not None
    jims_card = json.loads(before.data)["card_id"]

    response = await client.post(
        "/api/admin/data-subjects/erase", json={"email": "bob@example.com"}, headers=ADMIN
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["cards"] == 1
    after = await store.read(keys.interaction(TENANT, "mail-10"))
    assert after is not None and after.data == before.data
    card = await store.read(keys.card(TENANT, jims_card))
    assert card is not None and "jimbob@example.com" in card.data.decode()
    await event(client, "mail-11", "assigned", channel="email", customer=jim)
    again = await store.read(keys.interaction(TENANT, "mail-11"))
    assert again is not None and json.loads(again.data)["card_id"] == jims_card
