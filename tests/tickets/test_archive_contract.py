"""One contract for both ticket archive engines (embedded SQLite FTS5, PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.tickets import (
    Agent,
    ImportReport,
    Language,
    TicketChannel,
    TicketStatus,
)
from bot.services.ticketing import archive as archive_module
from bot.services.ticketing.archive import SortOrder, SyncState, TicketArchive, TicketQuery
from tests.tickets.factories import NOW, ticket


def ids(page: object) -> list[str]:
    return [t.external_id for t in page.tickets]  # type: ignore[attr-defined]


async def test_a_ticket_is_stored_whole_and_importing_it_again_replaces_it(
    archive: TicketArchive,
) -> None:
    first = ticket("1", subject="Printer on fire")
    await archive.put_tickets([first])
    assert await archive.ticket("demo-tenant", "zendesk", "1") == first

    changed = ticket("1", subject="Printer no longer on fire")
    await archive.put_tickets([changed, ticket("2")])
    assert await archive.ticket("demo-tenant", "zendesk", "1") == changed
    assert await archive.count("demo-tenant") == 2
    found = await archive.search("demo-tenant", TicketQuery(text="fire"))
    assert ids(found) == ["1"]
    assert found.tickets[0].subject == "Printer no longer on fire"


async def test_filters_status_channel_agent_crm_dates_and_contact(archive: TicketArchive) -> None:
    await archive.put_tickets(
        [
            ticket("1", status=TicketStatus.closed, channel=TicketChannel.voice),
            ticket("2", channel=TicketChannel.whatsapp, agent_email="grace@example.com"),
            ticket("3", closed_at=NOW - timedelta(days=30), requester_phone="+15550100"),
            ticket("4", crm_id="salesforce", requester_email="x@example.com"),
            ticket("5", tenant_id="other-tenant"),
        ]
    )

    async def find(**asked: object) -> list[str]:
        page = await archive.search("demo-tenant", TicketQuery(sort=SortOrder.date, **asked))
        return sorted(ids(page))

    assert await find() == ["1", "2", "3", "4"]
    assert await find(statuses=(TicketStatus.closed,)) == ["1"]
    assert await find(channels=(TicketChannel.voice, TicketChannel.whatsapp)) == ["1", "2"]
    assert await find(agents=("Grace@Example.com",)) == ["2"]
    assert await find(crm_id="salesforce") == ["4"]
    assert await find(closed_to=NOW - timedelta(days=7)) == ["3"]
    assert await find(closed_from=NOW - timedelta(days=7)) == ["1", "2", "4"]
    assert await find(requester_emails=("EDWARD@example.com",)) == ["1", "2", "3"]
    assert await find(requester_phones=("+15550100",), requester_emails=("x@example.com",)) == [
        "3",
        "4",
    ]
    two = await find(channels=(TicketChannel.email,), agents=("ada@example.com",))
    assert two == ["3", "4"]


async def test_text_is_stemmed_in_english_german_and_french(archive: TicketArchive) -> None:
    await archive.put_tickets(
        [
            ticket("en", subject="Invoice missing", body="The invoices were never delivered"),
            ticket(
                "de",
                language=Language.german,
                subject="Frage zur Rechnung",
                body="Ich habe die Rechnungen nicht erhalten",
            ),
            ticket(
                "fr",
                language=Language.french,
                subject="Remboursement",
                body="Les factures sont arrivées en retard",
            ),
        ]
    )

    async def find(text: str) -> list[str]:
        return sorted(ids(await archive.search("demo-tenant", TicketQuery(text=text))))

    assert await find("invoices") == ["en"]
    assert await find("delivering invoice") == ["en"]
    assert await find("Rechnungen") == ["de"]
    assert await find("rechnung erhalten") == ["de"]
    assert await find("facture") == ["fr"]
    assert await find("remboursements") == ["fr"]
    assert await find("invoice Rechnung") == []  # every word must match
    assert await find("the") == []  # stop words alone find nothing
    # operators and quotes are words, never syntax
    assert await find('invoice" OR "x') == []
    assert await find('"invoice*) (:') == ["en"]


async def test_relevance_and_date_order_and_paging(archive: TicketArchive) -> None:
    await archive.put_tickets(
        [
            ticket("body-only", body="refund refused", closed_at=NOW - timedelta(hours=1)),
            ticket("subject", subject="Refund", body="ok", closed_at=NOW - timedelta(days=2)),
            ticket("other", subject="Login", closed_at=NOW - timedelta(hours=2)),
        ]
    )
    relevance = await archive.search("demo-tenant", TicketQuery(text="refund"))
    assert ids(relevance) == ["subject", "body-only"]
    by_date = await archive.search("demo-tenant", TicketQuery(text="refund", sort=SortOrder.date))
    assert ids(by_date) == ["body-only", "subject"]

    first = await archive.search("demo-tenant", TicketQuery(page_size=2))
    second = await archive.search("demo-tenant", TicketQuery(page_size=2, page=2))
    assert (ids(first), first.has_more) == (["body-only", "other"], True)
    assert (ids(second), second.has_more) == (["subject"], False)


async def test_purge_removes_old_tickets_and_their_index_entries(archive: TicketArchive) -> None:
    await archive.put_tickets(
        [
            ticket(str(n), subject="Old outage", closed_at=NOW - timedelta(days=91, minutes=n))
            for n in range(5)
        ]
        + [ticket("fresh", subject="New outage", closed_at=NOW - timedelta(days=89))]
    )
    assert await archive.purge(NOW - timedelta(days=90), batch=2) == 5
    assert await archive.count("demo-tenant") == 1
    assert ids(await archive.search("demo-tenant", TicketQuery(text="outage"))) == ["fresh"]
    assert await archive.ticket("demo-tenant", "zendesk", "0") is None
    assert await archive.purge(NOW - timedelta(days=90)) == 0


async def test_purge_rests_after_each_full_batch(
    archive: TicketArchive, monkeypatch: pytest.MonkeyPatch
) -> None:
    rests: list[float] = []
    sleep = archive_module.asyncio.sleep

    async def rest(seconds: float) -> None:
        rests.append(seconds)
        await sleep(0)

    await archive.put_tickets(
        [ticket(f"old-{n}", closed_at=NOW - timedelta(days=91, hours=n)) for n in range(5)]
        + [ticket("kept", closed_at=NOW - timedelta(days=1))]
    )
    monkeypatch.setattr(archive_module.asyncio, "sleep", rest)
    assert await archive.purge(NOW - timedelta(days=90), batch=2) == 5
    assert len(rests) == 2  # after the two full batches; the short last one ends the purge
    assert all(seconds >= 0 for seconds in rests)
    assert ids(await archive.search("demo-tenant", TicketQuery())) == ["kept"]


async def test_agents_and_sync_state(archive: TicketArchive) -> None:
    ada = Agent(
        tenant_id="demo-tenant",
        email="ada@example.com",
        first_name="Ada",
        last_name="Lovelace",
        source="zendesk",
        external_id="361",
    )
    await archive.put_agent(ada)
    await archive.link_agent("demo-tenant", "zendesk", "361", "Ada@example.com")
    await archive.put_agent(ada.model_copy(update={"tenant_id": "other-tenant"}))
    assert await archive.agent("demo-tenant", "ADA@example.com") == ada
    assert await archive.agent_by_external_id("demo-tenant", "zendesk", "361") == ada
    assert await archive.agent_by_external_id("demo-tenant", "salesforce", "361") is None
    assert await archive.agent_by_external_id("other-tenant", "zendesk", "361") is None
    inactive = ada.model_copy(update={"active": False})
    await archive.put_agent(inactive)
    assert await archive.agents("demo-tenant") == [inactive]
    await archive.unlink_agent("demo-tenant", "zendesk", "361")
    assert await archive.agent_by_external_id("demo-tenant", "zendesk", "361") is None
    await archive.link_agent("demo-tenant", "zendesk", "361", "ada@example.com")
    await archive.delete_agent("demo-tenant", "ada@example.com")
    assert await archive.agent("demo-tenant", "ada@example.com") is None
    assert await archive.agent_by_external_id("demo-tenant", "zendesk", "361") is None
    assert len(await archive.agents("other-tenant")) == 1

    state = SyncState(
        tenant_id="demo-tenant",
        crm_id="zendesk",
        cursors={"tickets": "MTU4MDc1Mzc5OC4wfHw0MzJ8"},
        last_report=ImportReport(crm_id="zendesk", started_at=NOW, tickets_imported=3),
    )
    await archive.put_sync_state(state)
    assert await archive.sync_state("demo-tenant", "zendesk") == state
    assert await archive.sync_state("other-tenant", "zendesk") is None
    assert await archive.sync_states("demo-tenant") == [state]


async def test_broken_text_and_huge_tickets_are_stored(archive: TicketArchive) -> None:
    huge = "word " * 100_000
    await archive.put_tickets([ticket("big", subject="Ünïcödé ✓", body=huge)])
    stored = await archive.ticket("demo-tenant", "zendesk", "big")
    assert stored is not None and stored.messages[-1].body == huge
    assert ids(await archive.search("demo-tenant", TicketQuery(text="word"))) == ["big"]


async def test_deleting_reopened_tickets_and_a_requesters_tickets(archive: TicketArchive) -> None:
    await archive.put_tickets(
        [
            ticket("1", subject="Outage one", requester_email="ann@gmail.com"),
            ticket("2", subject="Outage two", requester_email=None, requester_phone="+15550100"),
            ticket("3", subject="Outage three", requester_email="bob@example.com"),
            ticket(
                "4",
                subject="Outage four",
                tenant_id="other-tenant",
                requester_email="ann@gmail.com",
            ),
        ]
    )
    assert await archive.delete_tickets("demo-tenant", "zendesk", ["3", "missing"]) == 1
    assert await archive.delete_tickets("demo-tenant", "zendesk", []) == 0
    assert ids(await archive.search("demo-tenant", TicketQuery(text="outage"))) != []

    mine = await archive.requester_tickets(
        "demo-tenant", emails=["A.n.n+orders@GMAIL.com"], phones=["+15550100"]
    )
    assert sorted(t.external_id for t in mine) == ["1", "2"]
    assert await archive.requester_tickets("demo-tenant", emails=[], phones=[]) == []
    erased = await archive.erase_requester(
        "demo-tenant", emails=["ann@gmail.com"], phones=["+15550100"]
    )
    assert erased == 2
    assert ids(await archive.search("demo-tenant", TicketQuery(text="outage"))) == []
    assert await archive.count("other-tenant") == 1


async def test_text_with_filters_narrows_in_the_index_too(archive: TicketArchive) -> None:
    await archive.put_tickets(
        [
            ticket("a", subject="Invoice", channel=TicketChannel.voice),
            ticket("b", subject="Invoice", agent_email="grace@example.com"),
            ticket("c", subject="Invoice", status=TicketStatus.closed),
            ticket("d", subject="Invoice", channel=None),
        ]
    )

    async def find(**asked: object) -> list[str]:
        page = await archive.search("demo-tenant", TicketQuery(text="invoices", **asked))
        return sorted(ids(page))

    assert await find(channels=(TicketChannel.voice, TicketChannel.sms)) == ["a"]
    assert await find(agents=("GRACE@example.com",)) == ["b"]
    assert await find(statuses=(TicketStatus.closed,), agents=("ada@example.com",)) == ["c"]
    assert await find(statuses=(TicketStatus.solved,)) == ["a", "b", "d"]
    assert await find(channels=(TicketChannel.email,), agents=("nobody@example.com",)) == []


async def test_relevance_ranks_the_newest_matches_of_a_common_word(
    archive: TicketArchive, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive_module, "RANKED_WINDOW", 3)
    days = {"best-but-old": 9, "new-1": 1, "new-2": 2, "good-3": 3, "other": 0, "far": 5}
    await archive.put_tickets(
        [
            ticket(
                name,
                subject="Refund refund" if "good" in name or "best" in name else "Refund",
                closed_at=NOW - timedelta(days=day),
                channel=TicketChannel.chat,
            )
            for name, day in days.items()
            if name != "other"
        ]
        + [ticket("other", subject="Refund", channel=TicketChannel.voice)]
    )

    async def ranked(**asked: object) -> list[str]:
        page = await archive.search("demo-tenant", TicketQuery(text="refund", **asked))
        return ids(page)

    # the three newest chat matches are ranked (the best of all is older), then by date
    chat = (TicketChannel.chat,)
    assert await ranked(channels=chat) == ["good-3", "new-1", "new-2", "far", "best-but-old"]
    pages = [await ranked(channels=chat, page=n, page_size=2) for n in (1, 2, 3)]
    assert pages == [["good-3", "new-1"], ["new-2", "far"], ["best-but-old"]]
    by_date = await archive.search(
        "demo-tenant", TicketQuery(text="refund", sort=SortOrder.date, page_size=2)
    )
    assert (ids(by_date), by_date.has_more) == (["other", "new-1"], True)


async def test_a_ticket_closed_again_later_moves_in_date_order(archive: TicketArchive) -> None:
    await archive.put_tickets(
        [
            ticket("1", closed_at=NOW - timedelta(days=3)),
            ticket("2", closed_at=NOW - timedelta(days=2)),
        ]
    )
    await archive.put_tickets([ticket("1", subject="Ticket 1 again", closed_at=NOW)])

    page = await archive.search("demo-tenant", TicketQuery(text="ticket", sort=SortOrder.date))
    assert ids(page) == ["1", "2"]
    assert await archive.count("demo-tenant") == 2
    window = await archive.search(
        "demo-tenant", TicketQuery(text="ticket", closed_to=NOW - timedelta(days=1))
    )
    assert ids(window) == ["2"]
