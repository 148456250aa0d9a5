"""The ticket sync against the Salesforce REST query and Bulk API 2.0 contract fake."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.adapters.crm.http import ResilientHttp
from bot.adapters.crm.salesforce import SalesforceClient
from bot.adapters.crm.salesforce_tickets import CHANGE_STREAMS, SalesforceExport
from bot.adapters.crm.tokens import StaticSecret
from bot.adapters.tickets.sqlite import SqliteTicketArchive
from bot.domain.tickets import TicketChannel
from bot.services.ticketing.archive import TicketQuery
from bot.services.ticketing.sync import TicketSync
from tests.tickets.factories import NOW
from tests.tickets.fakes.salesforce_exports import TOKEN, SalesforceExports

EARLIER = NOW - timedelta(days=3)


@dataclass
class Org:
    fake: SalesforceExports
    archive: SqliteTicketArchive
    make: Callable[..., TicketSync]


@pytest.fixture
async def org(aiohttp_server: Callable[..., Any], tmp_path: Path) -> AsyncIterator[Org]:
    fake = SalesforceExports(batch_size=2)
    server = await aiohttp_server(fake.app())
    archive = SqliteTicketArchive(tmp_path / "tickets.sqlite3")
    await archive.open()

    async def no_wait(seconds: float) -> None:
        return None

    async with aiohttp.ClientSession() as session:

        def make(bulk_threshold: int = 10_000, **options: Any) -> TicketSync:
            http = ResilientHttp(session, name="Acme Salesforce", auth=StaticSecret(TOKEN))
            client = SalesforceClient(
                settings_id="salesforce",
                display_name="Acme Salesforce",
                http=http,
                instance_url=str(server.make_url("")).rstrip("/"),
            )
            source = SalesforceExport(
                client, bulk_threshold=bulk_threshold, bulk_page=2, sleep=no_wait, now=lambda: NOW
            )
            return TicketSync(archive, source, "demo-tenant", clock=lambda: NOW, **options)

        yield Org(fake, archive, make)
    await archive.close()


def seed(fake: SalesforceExports) -> dict[str, str]:
    ada = fake.add_user("Ada", "Lovelace", "ada@example.com", at=EARLIER)
    nameless = fake.add_user(None, "Hopper", "grace@example.com", at=EARLIER)
    phone = fake.add_case(
        "Router keeps rebooting",
        owner=ada,
        closed_at=NOW - timedelta(days=1),
        origin="Phone",
        contact={"Name": "Edward Ferrars", "Email": "edward@example.com", "Phone": "+1 555 0100"},
        at=EARLIER,
    )
    fake.add_comment(phone, "Replaced the power supply", by="Ada Lovelace", at=EARLIER)
    fake.add_email(
        phone,
        "My router reboots every hour",
        sender="Edward",
        incoming=True,
        at=EARLIER - timedelta(hours=1),
    )
    fake.add_case("Still new", owner=ada, closed_at=None, at=EARLIER)
    fake.add_case("Queue owned", owner="00G000000000001", closed_at=NOW, at=EARLIER)
    orphan = fake.add_case("By a nameless user", owner=nameless, closed_at=NOW, at=EARLIER)
    chat = fake.add_case("Refund", owner=ada, closed_at=NOW, origin="Chat", at=EARLIER)
    return {"ada": ada, "nameless": nameless, "phone": phone, "orphan": orphan, "chat": chat}


async def test_users_and_closed_cases_with_comments_and_emails(org: Org) -> None:
    ids = seed(org.fake)

    report = await org.make().run()

    assert report.error is None
    assert (report.users_imported, report.tickets_imported) == (1, 2)
    rejected = {(r.kind, r.external_id): r.reason for r in report.rejected}
    assert rejected[("user", ids["nameless"])] == "first name is missing"
    assert rejected[("ticket", ids["orphan"])] == f"agent {ids['nameless']}: first name is missing"
    assert "no agent (assignee) on the ticket" in rejected.values()
    ticket = await org.archive.ticket("demo-tenant", "salesforce", ids["phone"])
    assert ticket is not None
    assert ticket.channel is TicketChannel.voice and ticket.number == "00000001"
    assert [m.body for m in ticket.messages] == [
        "My router reboots every hour",
        "Replaced the power supply",
    ]
    assert ticket.url.endswith(f"/lightning/r/Case/{ids['phone']}/view")
    assert (ticket.requester_email, ticket.requester_phone) == ("edward@example.com", "+15550100")
    found = await org.archive.search("demo-tenant", TicketQuery(text="rebooting power"))
    assert [t.external_id for t in found.tickets] == [ids["phone"]]


async def test_watermarks_bring_changed_cases_and_new_comments_only(org: Org) -> None:
    ids = seed(org.fake)
    await org.make().run()
    org.fake.queries.clear()

    later = NOW + timedelta(hours=1)
    org.fake.add_comment(ids["chat"], "Refund issued after all", by="Ada Lovelace", at=later)
    org.fake.change(org.fake.users, ids["ada"], later, IsActive=False)
    report = await org.make().run()

    assert report.users_deactivated == 1
    # the comment watermark is where the first import started; the case watermark is the
    # last case's SystemModstamp (>=: the cases stamped then are read again, replaced)
    assert any(
        "FROM CaseComment WHERE SystemModstamp >= 2026-12-01T09:00:00Z" in q
        for q in org.fake.queries
    )
    assert any("SystemModstamp >= 2026-11-28T09:00:00Z" in q for q in org.fake.queries)
    chat = await org.archive.ticket("demo-tenant", "salesforce", ids["chat"])
    assert chat is not None and chat.messages[-1].body == "Refund issued after all"
    assert await org.archive.count("demo-tenant") == 2


async def test_a_case_reopened_since_the_last_sync_leaves_the_archive(org: Org) -> None:
    ids = seed(org.fake)
    await org.make().run()
    assert await org.archive.ticket("demo-tenant", "salesforce", ids["chat"]) is not None

    later = NOW + timedelta(hours=1)
    org.fake.change(org.fake.cases, ids["chat"], later, IsClosed=False, Status="Working")
    report = await org.make().run()

    assert report.tickets_removed == 1
    assert await org.archive.ticket("demo-tenant", "salesforce", ids["chat"]) is None
    assert await org.archive.count("demo-tenant") == 1


async def test_a_large_first_import_runs_as_bulk_api_jobs(org: Org) -> None:
    ids = seed(org.fake)

    report = await org.make(bulk_threshold=1).run()

    assert report.error is None and report.tickets_imported == 2
    assert len(org.fake.bulk_jobs) == 5  # cases, comments, emails, chats, sessions
    assert all(job["polls"] >= 2 for job in org.fake.bulk_jobs.values())
    ticket = await org.archive.ticket("demo-tenant", "salesforce", ids["phone"])
    assert ticket is not None
    assert [m.body for m in ticket.messages] == [
        "My router reboots every hour",
        "Replaced the power supply",
    ]
    assert ticket.requester_name == "Edward Ferrars"
    state = await org.archive.sync_state("demo-tenant", "salesforce")
    assert state is not None and {"cases", *CHANGE_STREAMS} <= set(state.cursors)


async def test_a_case_with_more_comments_than_one_batch_arrives_whole(org: Org) -> None:
    ada = org.fake.add_user("Ada", "Lovelace", "ada@example.com", at=EARLIER)
    long = org.fake.add_case("Long story", owner=ada, closed_at=NOW, at=EARLIER)
    for n in range(450):  # three child batches of 200 (the fake's, like Salesforce's)
        org.fake.add_comment(
            long, f"step {n}", by="Ada Lovelace", at=EARLIER + timedelta(seconds=n)
        )
    org.fake.add_email(
        long, "It started here", sender="Edward", incoming=True, at=EARLIER - timedelta(hours=1)
    )

    report = await org.make().run()

    assert report.error is None and report.tickets_imported == 1
    ticket = await org.archive.ticket("demo-tenant", "salesforce", long)
    assert ticket is not None
    assert len(ticket.messages) == 451
    assert ticket.messages[0].body == "It started here"
    assert [m.body for m in ticket.messages[1:]] == [f"step {n}" for n in range(450)]
    assert sum("/query/01g" in q for q in org.fake.queries) == 2  # each further batch once


CHAT_BODY = (
    '<p align="center">Chat Started: Sunday, November 29, 2026, 09:00:00 (+0000)</p>'
    "( 5s ) Ada L: Hello, how can I help?<br>( 12s ) Edward: My refund &amp; my invoice<br>"
)


def chats(fake: SalesforceExports) -> dict[str, str]:
    """A legacy Chat case with its transcript and a Messaging case with its session, in a
    conversation whose earlier session belongs to another case."""
    ada = fake.add_user("Ada", "Lovelace", "ada@example.com", at=EARLIER)
    chat = fake.add_case("Refund", owner=ada, closed_at=NOW, origin="Chat", at=EARLIER)
    fake.add_transcript(chat, CHAT_BODY, at=EARLIER)
    earlier = fake.add_case("Delivery", owner=ada, closed_at=NOW, origin="Messaging", at=EARLIER)
    fake.add_messaging_session(
        earlier,
        "conv-1",
        [("EndUser", "Where is my parcel?")],
        at=EARLIER - timedelta(days=1),
        ended=EARLIER - timedelta(days=1, hours=-1),
    )
    messaging = fake.add_case("Password", owner=ada, closed_at=NOW, origin="Messaging", at=EARLIER)
    fake.add_messaging_session(
        messaging,
        "conv-1",
        [("EndUser", "I forgot my password"), ("Agent", "A reset link is on its way")],
        at=EARLIER,
        ended=EARLIER + timedelta(hours=1),
    )
    return {"chat": chat, "earlier": earlier, "messaging": messaging}


async def conversation_of(org: Org, case_id: str) -> list[tuple[str, str, bool]]:
    ticket = await org.archive.ticket("demo-tenant", "salesforce", case_id)
    assert ticket is not None
    return [(m.author, m.body, m.from_agent) for m in ticket.messages]


async def test_chat_transcripts_and_messaging_sessions_are_the_case_conversation(
    org: Org,
) -> None:
    ids = chats(org.fake)

    report = await org.make().run()

    assert report.error is None and report.tickets_imported == 3
    [(author, body, from_agent)] = await conversation_of(org, ids["chat"])
    assert (author, from_agent) == ("Chat transcript", False)
    assert body.splitlines() == [
        "Chat Started: Sunday, November 29, 2026, 09:00:00 (+0000)",
        "( 5s ) Ada L: Hello, how can I help?",
        "( 12s ) Edward: My refund & my invoice",
    ]
    assert await conversation_of(org, ids["messaging"]) == [
        ("Customer", "I forgot my password", False),
        ("Agent", "A reset link is on its way", True),
    ]  # the conversation's other session is the other case's
    assert await conversation_of(org, ids["earlier"]) == [
        ("Customer", "Where is my parcel?", False)
    ]
    found = await org.archive.search("demo-tenant", TicketQuery(text="reset link"))
    assert [t.external_id for t in found.tickets] == [ids["messaging"]]


async def test_a_large_first_import_reads_chats_and_messaging_sessions_too(org: Org) -> None:
    ids = chats(org.fake)

    report = await org.make(bulk_threshold=1).run()

    assert report.error is None and report.tickets_imported == 3
    assert len(await conversation_of(org, ids["chat"])) == 1
    assert [body for _, body, _ in await conversation_of(org, ids["messaging"])] == [
        "I forgot my password",
        "A reset link is on its way",
    ]


async def test_a_messaging_session_added_to_a_closed_case_brings_it_in_again(org: Org) -> None:
    ids = chats(org.fake)
    await org.make().run()

    later = NOW + timedelta(hours=1)
    org.fake.add_messaging_session(
        ids["chat"], "conv-2", [("EndUser", "Thanks, refund received")], at=later, ended=later
    )
    report = await org.make().run()

    assert report.error is None
    assert [body for _, body, _ in await conversation_of(org, ids["chat"])][-1] == (
        "Thanks, refund received"
    )


@pytest.mark.parametrize("bulk_threshold", [10_000, 1])
async def test_an_org_without_chat_or_messaging_is_imported_as_before(
    org: Org, bulk_threshold: int
) -> None:
    org.fake.chat_objects = ()  # neither Chat nor Messaging switched on: no such objects
    ids = seed(org.fake)

    first = await org.make(bulk_threshold=bulk_threshold).run()
    org.fake.add_comment(ids["chat"], "One more thing", by="Ada Lovelace", at=NOW)
    again = await org.make().run()

    assert (first.error, again.error) == (None, None)
    assert first.tickets_imported == 2
    ticket = await org.archive.ticket("demo-tenant", "salesforce", ids["chat"])
    assert ticket is not None and ticket.messages[-1].body == "One more thing"


async def test_a_messaging_session_longer_than_one_request_arrives_whole(org: Org) -> None:
    ada = org.fake.add_user("Ada", "Lovelace", "ada@example.com", at=EARLIER)
    case = org.fake.add_case("Long chat", owner=ada, closed_at=NOW, origin="Messaging", at=EARLIER)
    said = [("EndUser" if n % 2 else "Agent", f"line {n}") for n in range(1500)]
    org.fake.add_messaging_session(
        case, "conv-long", said, at=EARLIER, ended=EARLIER + timedelta(days=2)
    )

    report = await org.make().run()

    assert report.error is None
    assert [body for _, body, _ in await conversation_of(org, case)] == [t for _, t in said]
    assert sum("/connect/conversation/conv-long/" in q for q in org.fake.queries) == 2


@pytest.mark.parametrize("after_start", [False, True])
async def test_entries_sharing_the_millisecond_a_request_ends_on_arrive_whole(
    org: Org, after_start: bool
) -> None:
    """A request of a thousand entries ends inside a millisecond that holds more of them;
    the next one must still get those, whether ``startTimestamp`` is inclusive or not
    (the documentation does not say)."""
    org.fake.entries_after_start = after_start
    ada = org.fake.add_user("Ada", "Lovelace", "ada@example.com", at=EARLIER)
    case = org.fake.add_case("Long chat", owner=ada, closed_at=NOW, origin="Messaging", at=EARLIER)
    said = [("EndUser" if n % 2 else "Agent", f"line {n}") for n in range(1200)]
    org.fake.add_messaging_session(
        case, "conv-long", said, at=EARLIER, ended=EARLIER + timedelta(days=2)
    )
    entries = org.fake.entries["conv-long"]
    for entry in entries[1000:1003]:  # the 1000th entry's millisecond holds three more
        entry["serverReceivedTimestamp"] = entries[999]["serverReceivedTimestamp"]

    report = await org.make().run()

    assert report.error is None
    assert sorted(body for _, body, _ in await conversation_of(org, case)) == sorted(
        t for _, t in said
    )


async def test_a_case_refused_for_its_owner_comes_in_once_the_org_fixes_the_user(
    org: Org,
) -> None:
    ids = seed(org.fake)
    await org.make().run()
    newer = NOW + timedelta(minutes=10)  # the case watermark moves past the refused case
    org.fake.add_case("Newer", owner=ids["ada"], closed_at=newer, at=newer)
    await org.make().run()
    assert await org.archive.ticket("demo-tenant", "salesforce", ids["orphan"]) is None

    later = NOW + timedelta(hours=1)
    org.fake.change(org.fake.users, ids["nameless"], later, FirstName="Grace")  # the case stays
    report = await org.make().run()

    assert (report.error, report.users_imported) == (None, 1)
    ticket = await org.archive.ticket("demo-tenant", "salesforce", ids["orphan"])
    assert ticket is not None and ticket.agent_name == "Grace Hopper"
    org.fake.queries.clear()
    await org.make().run()
    assert not any(f"'{ids['orphan']}'" in q for q in org.fake.queries)  # read again once
