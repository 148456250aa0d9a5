"""The ticket sync against the Zendesk incremental-export contract fake."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from bot.adapters.crm.zendesk import ZendeskCrm, ZendeskSettings
from bot.adapters.crm.zendesk_tickets import ZendeskExport
from bot.adapters.tickets.sqlite import SqliteTicketArchive
from bot.domain.tickets import MAX_COMMENT_CHARS, Agent, TicketChannel, TicketStatus
from bot.services.retry import RetryPolicy
from bot.services.ticketing.archive import TicketQuery
from bot.services.ticketing.sync import TicketSync
from tests.tickets.factories import NOW
from tests.tickets.fakes.zendesk_exports import (
    EMAIL,
    TOKEN,
    ZendeskExports,
    broken_comments,
    iso,
)


@dataclass
class FakeTime:
    """One clock for the fake, the HTTP caller and the source; sleeping advances it."""

    now: float = NOW.timestamp()
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def utc(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)


@dataclass
class Zendesk:
    fake: ZendeskExports
    time: FakeTime
    archive: SqliteTicketArchive
    make: Callable[..., TicketSync]


@pytest.fixture
async def zendesk(aiohttp_server: Callable[..., Any], tmp_path: Any) -> AsyncIterator[Zendesk]:
    clock = FakeTime()
    fake = ZendeskExports(clock=clock)
    server = await aiohttp_server(fake.app())
    archive = SqliteTicketArchive(tmp_path / "tickets.sqlite3")
    await archive.open()
    async with aiohttp.ClientSession() as session:

        def make(crm_id: str = "zendesk", per_page: int = 2, **options: Any) -> TicketSync:
            crm = ZendeskCrm(
                session,
                ZendeskSettings(str(server.make_url("")), email=EMAIL, api_token=TOKEN),
                settings_id=crm_id,
                policy=RetryPolicy(max_attempts=3),
                clock=clock,
                sleep=clock.sleep,
                wall_clock=clock,
                rand=lambda: 0.0,  # a Retry-After is waited as given, no spread
            )
            source = ZendeskExport(
                crm, sleep=clock.sleep, clock=clock, wall_clock=clock, per_page=per_page
            )
            return TicketSync(archive, source, "demo-tenant", clock=clock.utc, **options)

        yield Zendesk(fake, clock, archive, make)
    await archive.close()


def solved(days_ago: float = 1) -> datetime:
    return NOW - timedelta(days=days_ago)


async def test_agents_and_solved_tickets_with_their_conversation_are_imported(
    zendesk: Zendesk,
) -> None:
    fake = zendesk.fake
    ada = fake.add_user("Ada Lovelace", "Ada@Example.com")
    customer = fake.add_user(
        "Edward Ferrars", "edward@example.com", role="end-user", phone="(555) 010-0100"
    )
    fake.add_ticket(
        "Invoice missing",
        assignee=ada,
        requester=customer,
        channel="whatsapp",
        comments=[(customer, "Where is my invoice?"), (ada, "Sent again, sorry!")],
        solved_at=solved(2),
    )
    fake.add_ticket("Still open", status="open", assignee=ada, requester=customer)
    fake.add_ticket("Ancient", assignee=ada, requester=customer, solved_at=solved(120))
    fake.add_ticket(
        "Closed by phone", status="closed", assignee=ada, channel="voice", solved_at=solved(3)
    )

    report = await zendesk.make().run()

    assert report.error is None
    assert (report.users_imported, report.tickets_imported) == (1, 2)
    assert report.tickets_skipped == {"not solved or closed": 1, "closed more than 90 days ago": 1}
    assert report.rejected == []
    assert [a.email for a in await zendesk.archive.agents("demo-tenant")] == ["ada@example.com"]
    page = await zendesk.archive.search("demo-tenant", TicketQuery(text="invoices"))
    [hit] = page.tickets
    assert (hit.subject, hit.status, hit.channel) == (
        "Invoice missing",
        TicketStatus.solved,
        TicketChannel.whatsapp,
    )
    assert hit.closed_at == solved(2)
    assert hit.url.endswith(f"/agent/tickets/{hit.external_id}")
    ticket = await zendesk.archive.ticket("demo-tenant", "zendesk", hit.external_id)
    assert ticket is not None
    assert [(m.author, m.body, m.from_agent) for m in ticket.messages] == [
        ("Edward Ferrars", "Where is my invoice?", False),
        ("Ada Lovelace", "Sent again, sorry!", True),
    ]
    assert (ticket.agent_name, ticket.requester_email, ticket.requester_phone) == (
        "Ada Lovelace",
        "edward@example.com",
        "+15550100100",
    )
    voice = await zendesk.archive.search(
        "demo-tenant", TicketQuery(channels=(TicketChannel.voice,), statuses=(TicketStatus.closed,))
    )
    assert [t.subject for t in voice.tickets] == ["Closed by phone"]


async def test_messaging_tickets_are_found_under_their_channel(zendesk: Zendesk) -> None:
    """Messaging tickets carry the via type of their integration as ``via.channel``."""
    fake = zendesk.fake
    ada = fake.add_user("Ada Lovelace", "ada@example.com")
    via = {
        "sunshine_conversations_facebook_messenger": TicketChannel.facebook,
        "twilio_sms": TicketChannel.sms,
        "messagebird_sms": TicketChannel.sms,
        "business_messaging_slack_connect": TicketChannel.slack,
        "api_phone_call_inbound": TicketChannel.voice,
    }
    for channel in via:
        fake.add_ticket(f"Came by {channel}", assignee=ada, channel=channel, solved_at=solved())

    assert (await zendesk.make().run()).tickets_imported == len(via)

    for channel, expected in via.items():
        found = await zendesk.archive.search("demo-tenant", TicketQuery(channels=(expected,)))
        assert f"Came by {channel}" in [t.subject for t in found.tickets], channel


def by_path(fake: ZendeskExports) -> dict[str, int]:
    """Requests the fake answered, per endpoint (the last path segment)."""
    counts: dict[str, int] = {}
    for path, _ in fake.requests:
        name = "comments.json" if path.endswith("/comments.json") else path.rsplit("/", 1)[-1]
        counts[name] = counts.get(name, 0) + 1
    return counts


async def test_comments_come_from_the_ticket_event_export_many_tickets_a_request(
    zendesk: Zendesk,
) -> None:
    fake = zendesk.fake
    ada = fake.add_user("Ada Lovelace", "ada@example.com")
    customer = fake.add_user("Edward Ferrars", "edward@example.com", role="end-user")
    carol = fake.add_user("Carol Danvers", "carol@example.com", role="end-user")  # a CC
    for n in range(30):
        zendesk.time.now += 1  # tickets of different seconds
        fake.add_ticket(
            f"Ticket {n}",
            assignee=ada,
            requester=customer,
            comments=[(customer, f"Help {n}"), (ada, f"Done {n}"), (carol, f"Thanks {n}")],
            solved_at=solved(),
        )
    zendesk.time.now += 120  # the export leaves out the last minute

    report = await zendesk.make(per_page=100).run()

    assert report.error is None and report.tickets_imported == 30
    # 120 events (3 comments + the solve per ticket) on 2 pages; per ticket, nothing
    assert by_path(fake) == {
        "cursor.json": 2,  # users, tickets
        "ticket_events.json": 2,
        "show_many.json": 1,  # Carol: neither an agent nor sideloaded with the tickets
    }
    page = await zendesk.archive.search("demo-tenant", TicketQuery(text="Help 7"))
    stored = await zendesk.archive.ticket("demo-tenant", "zendesk", page.tickets[0].external_id)
    assert stored is not None
    assert [(m.author, m.body, m.from_agent) for m in stored.messages] == [
        ("Edward Ferrars", "Help 7", False),
        ("Ada Lovelace", "Done 7", True),
        ("Carol Danvers", "Thanks 7", False),
    ]


async def test_a_calls_voice_comment_is_part_of_the_conversation(zendesk: Zendesk) -> None:
    """Zendesk Talk adds a call to its ticket as a VoiceComment (the call's details and its
    transcription), in the event export as in the comments."""
    fake = zendesk.fake
    ada = fake.add_user("Ada Lovelace", "ada@example.com")
    customer = fake.add_user("Edward Ferrars", "edward@example.com", role="end-user")
    call = "Inbound call from +1 555 0100\nTranscription: my router keeps rebooting"
    fake.add_ticket(
        "Call from Edward",
        assignee=ada,
        requester=customer,
        channel="voice",
        comments=[(ada, call, "VoiceComment"), (ada, "Replaced the power supply")],
        solved_at=solved(),
    )
    zendesk.time.now += 120  # the event export leaves out the last minute

    assert (await zendesk.make(per_page=100).run()).tickets_imported == 1

    assert "comments.json" not in by_path(fake)  # the conversation came from the events
    found = await zendesk.archive.search("demo-tenant", TicketQuery(text="router rebooting"))
    [hit] = found.tickets
    stored = await zendesk.archive.ticket("demo-tenant", "zendesk", hit.external_id)
    assert stored is not None
    assert [m.body for m in stored.messages] == [call, "Replaced the power supply"]


async def test_tickets_older_than_the_event_stream_read_their_own_comments(
    zendesk: Zendesk,
) -> None:
    fake = zendesk.fake
    ada = fake.add_user("Ada Lovelace", "ada@example.com")
    customer = fake.add_user("Edward Ferrars", "edward@example.com", role="end-user")
    pending = fake.add_ticket(
        "Pending", status="open", assignee=ada, requester=customer, comments=[(customer, "Hi")]
    )
    zendesk.time.now += 5
    fake.add_ticket("Quick", assignee=ada, requester=customer, solved_at=solved())
    zendesk.time.now += 120
    first = await zendesk.make(per_page=100).run()  # the open ticket is not imported
    assert first.tickets_imported == 1
    fake.requests.clear()

    zendesk.time.now += 600
    fake.update_ticket(pending, status="solved", comment=(ada, "Sorted"))
    fresh = fake.add_ticket(
        "Fresh", assignee=ada, requester=customer, comments=[(customer, "New")], solved_at=solved()
    )
    zendesk.time.now += 120
    report = await zendesk.make(per_page=100).run()

    assert report.tickets_imported == 2
    # the stream goes on after "Quick": "Pending" began before, its first comment is behind
    comments = [path for path, _ in fake.requests if path.endswith("/comments.json")]
    assert comments == [f"/api/v2/tickets/{pending}/comments.json"]  # "Fresh": from the stream
    old = await zendesk.archive.ticket("demo-tenant", "zendesk", pending)
    new = await zendesk.archive.ticket("demo-tenant", "zendesk", fresh)
    assert old is not None and [m.body for m in old.messages] == ["Hi", "Sorted"]
    assert new is not None and [m.body for m in new.messages] == ["New"]


async def test_a_rerun_resumes_from_the_cursor_and_never_duplicates(zendesk: Zendesk) -> None:
    fake = zendesk.fake
    ada = fake.add_user("Ada Lovelace", "ada@example.com")
    for n in range(3):
        fake.add_ticket(f"Ticket {n}", assignee=ada, solved_at=solved())
    sync = zendesk.make()
    assert (await sync.run()).tickets_imported == 3
    first = await zendesk.archive.sync_state("demo-tenant", "zendesk")
    fake.requests.clear()

    zendesk.time.now += 3600
    fake.add_ticket("Ticket 3", assignee=ada, solved_at=solved())
    again = await zendesk.make().run()

    assert again.tickets_imported == 1
    exports = [q for path, q in fake.requests if path.endswith("/cursor.json")]
    assert exports and all("cursor" in q and "start_time" not in q for q in exports)
    events = [q for path, q in fake.requests if path.endswith("/ticket_events.json")]
    assert first is not None  # the event stream goes on where the first sync left it
    assert events and events[0]["start_time"] == first.cursors["ticket_events"]
    assert await zendesk.archive.count("demo-tenant") == 4

    full = await zendesk.make().run(full=True)  # everything again: replaced, not added
    assert full.tickets_imported == 4
    assert await zendesk.archive.count("demo-tenant") == 4


async def test_a_failed_sync_reports_its_error_and_the_next_one_resumes(zendesk: Zendesk) -> None:
    fake = zendesk.fake
    ada = fake.add_user("Ada Lovelace", "ada@example.com")
    for n in range(6):
        fake.add_ticket(f"Ticket {n}", assignee=ada, solved_at=solved())
    fake.outage_after = 3  # the users page and two ticket pages, then an outage
    first = await zendesk.make().run()
    assert first.error is not None and "unavailable" in first.error
    imported_first = first.tickets_imported
    assert 0 < imported_first < 6
    state = await zendesk.archive.sync_state("demo-tenant", "zendesk")
    assert state is not None and "tickets" in state.cursors and state.last_report == first

    fake.outage_after = None
    second = await zendesk.make().run()
    assert second.error is None
    assert imported_first + second.tickets_imported == 6
    assert await zendesk.archive.count("demo-tenant") == 6


async def test_export_requests_respect_the_rate_limit_and_retry_after(zendesk: Zendesk) -> None:
    fake = zendesk.fake
    ada = fake.add_user("Ada Lovelace", "ada@example.com")
    for n in range(6):
        fake.add_ticket(f"Ticket {n}", assignee=ada, solved_at=solved())
    fake.throttle_next = 4  # a burst: more 429s than the HTTP caller retries by itself

    report = await zendesk.make().run()

    assert report.error is None and report.tickets_imported == 6
    assert zendesk.time.slept.count(7) == 4  # every Retry-After waited out
    assert all(s <= 6.0 for s in zendesk.time.slept if s != 7)
    # 10 export requests a minute: spaced by 6 s, never refused by the fake's counter
    assert any(abs(s - 6.0) < 1e-6 for s in zendesk.time.slept)


async def test_bad_users_and_tickets_are_reported_never_imported_half(zendesk: Zendesk) -> None:
    fake = zendesk.fake
    ada = fake.add_user("Ada Lovelace", "ada@example.com")
    no_email = fake.add_user("Grace Hopper", None)
    mononym = fake.add_user("Cher", "cher@example.com")
    email_name = fake.add_user("ada@example.com Smith", "smith@example.com")
    twin = fake.add_user("Ada Byron", "ADA@example.com")
    fake.add_ticket("By a user without email", assignee=no_email, solved_at=solved())
    fake.add_ticket("Nobody assigned", assignee=None, solved_at=solved())
    huge = fake.add_ticket(
        "Huge", assignee=ada, comments=[(ada, "x" * (MAX_COMMENT_CHARS + 5))], solved_at=solved()
    )
    broken = fake.add_ticket("Broken bytes", assignee=ada, solved_at=solved())
    fake.broken_bytes[broken] = broken_comments(ada)

    report = await zendesk.make().run()

    assert report.error is None
    rejected = {(r.kind, r.external_id): r.reason for r in report.rejected}
    assert rejected[("user", no_email)] == "email address is missing"
    assert rejected[("user", mononym)] == "last name is missing"
    assert rejected[("user", email_name)] == "the first name holds an email address"
    assert rejected[("user", twin)] == f"email ada@example.com is already used by user {ada}"
    assert any(
        k == "ticket" and r == f"agent {no_email}: email address is missing"
        for (k, _), r in rejected.items()
    )
    assert "no agent (assignee) on the ticket" in rejected.values()
    assert report.tickets_imported == 2
    stored = await zendesk.archive.ticket("demo-tenant", "zendesk", huge)
    assert stored is not None
    assert stored.messages[0].body.endswith("[… 5 more characters not imported]")
    fixed = await zendesk.archive.ticket("demo-tenant", "zendesk", broken)
    assert fixed is not None
    assert [m.body for m in fixed.messages] == ["caf\ufffd cr\ufffdme", "lone \ufffd surrogate"]
    notices = {(n.external_id, n.reason) for n in report.notices}
    assert (huge, "1 huge comment(s) cut") in notices
    assert (broken, "broken text repaired (U+FFFD)") in notices


async def test_same_email_from_two_crms_and_local_agents(zendesk: Zendesk) -> None:
    fake = zendesk.fake
    ada = fake.add_user("Ada Lovelace", "ada@example.com")
    local = Agent(
        tenant_id="demo-tenant", email="grace@example.com", first_name="Grace", last_name="Hopper"
    )
    await zendesk.archive.put_agent(local)
    grace = fake.add_user("Grace B. Hopper-CRM", "grace@example.com")
    fake.add_ticket("Grace's ticket", assignee=grace, solved_at=solved())
    assert (await zendesk.make().run()).tickets_imported == 1
    assert await zendesk.archive.agent("demo-tenant", "grace@example.com") == local

    second = await zendesk.make("zendesk-eu").run()
    rejected = {r.external_id: r.reason for r in second.rejected if r.kind == "user"}
    assert rejected[ada] == "email ada@example.com is already used by a zendesk user"


async def test_a_local_agent_keeps_its_tickets_when_the_crm_changes_its_address(
    zendesk: Zendesk,
) -> None:
    fake = zendesk.fake
    local = Agent(
        tenant_id="demo-tenant", email="grace@example.com", first_name="Grace", last_name="Hopper"
    )
    await zendesk.archive.put_agent(local)
    grace = fake.add_user("Grace Hopper", "grace@example.com")
    await zendesk.make().run()
    zendesk.time.now += 60
    fake.change_user(grace, name="Grace B. Hopper-CRM", email="g.hopper@example.com")
    fake.add_ticket("Solved after the change", assignee=grace, solved_at=zendesk.time.utc())

    report = await zendesk.make().run()

    assert report.tickets_imported == 1
    assert await zendesk.archive.agents("demo-tenant") == [local]
    found = await zendesk.archive.search("demo-tenant", TicketQuery())
    assert [(t.agent_email, t.agent_name) for t in found.tickets] == [
        ("grace@example.com", "Grace Hopper")
    ]


async def test_deactivations_and_deletions_are_mirrored(zendesk: Zendesk) -> None:
    fake = zendesk.fake
    ada = fake.add_user("Ada Lovelace", "ada@example.com")
    grace = fake.add_user("Grace Hopper", "grace@example.com")
    await zendesk.make().run()
    zendesk.time.now += 60
    fake.change_user(ada, role="end-user")
    fake.change_user(grace, active=False)

    report = await zendesk.make().run()

    assert (report.users_deactivated, report.users_deleted) == (1, 1)
    agents = await zendesk.archive.agents("demo-tenant")
    assert [(a.email, a.active) for a in agents] == [("ada@example.com", False)]


async def test_a_reopened_ticket_leaves_the_archive(zendesk: Zendesk) -> None:
    fake = zendesk.fake
    ada = fake.add_user("Ada Lovelace", "ada@example.com")
    reopened = fake.add_ticket("Came back", assignee=ada, solved_at=solved())
    await zendesk.make().run()
    assert await zendesk.archive.count("demo-tenant") == 1

    zendesk.time.now += 60
    ticket = next(t for t in fake.tickets if str(t["id"]) == reopened)
    ticket.update(status="open", updated_at=iso(datetime.fromtimestamp(zendesk.time.now, UTC)))
    report = await zendesk.make().run()

    assert report.tickets_removed == 1
    assert await zendesk.archive.count("demo-tenant") == 0


async def test_a_ticket_refused_for_its_agent_comes_in_once_the_crm_fixes_the_agent(
    zendesk: Zendesk,
) -> None:
    fake = zendesk.fake
    grace = fake.add_user("Grace Hopper", None)  # no email: not created, tickets refused
    waiting = fake.add_ticket(
        "Printer on fire", assignee=grace, comments=[(grace, "Put it out")], solved_at=solved()
    )
    first = await zendesk.make().run()
    assert first.tickets_imported == 0
    assert {r.external_id for r in first.rejected if r.kind == "ticket"} == {waiting}

    zendesk.time.now += 120
    fake.change_user(grace, email="grace@example.com")  # the ticket itself is unchanged
    again = await zendesk.make().run()

    assert (again.error, again.users_imported, again.tickets_imported) == (None, 1, 1)
    ticket = await zendesk.archive.ticket("demo-tenant", "zendesk", waiting)
    assert ticket is not None and ticket.agent_email == "grace@example.com"
    assert [m.body for m in ticket.messages] == ["Put it out"]
    fake.requests.clear()
    assert (await zendesk.make().run()).tickets_imported == 0  # read again once, not always
    assert not [path for path, _ in fake.requests if path.startswith("/api/v2/tickets/")]
