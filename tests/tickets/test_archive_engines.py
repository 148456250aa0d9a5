"""What each engine does on its own to answer common words fast (the contract is shared)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

from bot.adapters.tickets import sqlite as sqlite_module
from bot.adapters.tickets.facets import facet, facets, narrowing
from bot.adapters.tickets.postgres import COMMON, PostgresTicketArchive, share_of
from bot.adapters.tickets.sqlite import LAYOUT, SECOND, SqliteTicketArchive
from bot.adapters.tickets.text import indexed
from bot.domain.tickets import TicketChannel, TicketStatus
from bot.services.ticketing.archive import SortOrder, TicketQuery, TicketSummary
from tests.postgres import Postgres
from tests.tickets.conftest import fresh_database
from tests.tickets.factories import NOW, ticket


def test_only_filters_on_few_tickets_narrow_in_the_index() -> None:
    shares = {"xstsolved": 0.7, "xchsms": 0.08, "xchchat": 0.1, "xchvoice": 0.1}
    groups = [["xstsolved"], ["xchsms", "xchchat"], ["xchsms", "xchchat", "xchvoice"], ["xagn"]]
    # a status on 70% narrows nothing; two channels on 18% do, three on 28% not; an agent
    # the statistics never listed counts as rare
    assert narrowing(groups, shares) == [["xchsms", "xchchat"], ["xagn"]]


def test_how_common_a_query_is_comes_from_its_rarest_word_in_its_best_language() -> None:
    shares = {"refund": 0.4, "invoic": 0.3, "rechnung": 0.2}
    assert share_of("refunds", shares) == 0.4
    assert share_of("refund invoices", shares) == 0.3  # every word must be there
    assert share_of("Rechnungen", shares) == 0.2  # German stems it, English does not find it
    assert share_of("refund zyxxy", shares) == 0.0  # a word ANALYZE never saw is rare


async def test_postgres_walks_the_filter_index_for_common_words(
    postgres_server: Postgres,
) -> None:
    archive = PostgresTicketArchive(await fresh_database(postgres_server), max_size=2)
    await archive.open()
    try:
        await archive.put_tickets(
            [
                ticket(
                    str(n),
                    subject="Refund" + (" refund" if n == 7 else ""),
                    channel=TicketChannel.chat if n % 2 else TicketChannel.voice,
                    closed_at=NOW - timedelta(hours=n),
                )
                for n in range(40)
            ]
        )
        await archive.pool.execute("ANALYZE crmcard_tickets")
        assert share_of("refund", await archive._word_shares()) >= COMMON

        chat = (TicketChannel.chat,)
        by_date = await archive.search(
            "demo-tenant", TicketQuery(text="refund", channels=chat, sort=SortOrder.date)
        )
        assert [t.external_id for t in by_date.tickets][:3] == ["1", "3", "5"]
        best = await archive.search("demo-tenant", TicketQuery(text="refund", channels=chat))
        assert best.tickets[0].external_id == "7"
        assert all(t.channel is TicketChannel.chat for t in best.tickets)
    finally:
        await archive.close()


async def test_sqlite_ids_follow_closing_order(tmp_path: Path) -> None:
    archive = SqliteTicketArchive(tmp_path / "tickets.sqlite3")
    await archive.open()
    try:
        await archive.put_tickets(
            [ticket(str(n), closed_at=NOW - timedelta(hours=n)) for n in (3, 1, 2)]
        )
    finally:
        await archive.close()
    with sqlite3.connect(tmp_path / "tickets.sqlite3") as connection:
        rows = connection.execute(
            "SELECT external_id, id, closed_at FROM tickets ORDER BY id"
        ).fetchall()
    assert [r[0] for r in rows] == ["3", "2", "1"]
    assert all(row_id // SECOND == int(closed) for _, row_id, closed in rows)


async def test_an_archive_of_the_first_layout_is_re_keyed_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "tickets.sqlite3"
    fresh = SqliteTicketArchive(path)
    await fresh.open()
    await fresh.close()
    old = [
        ticket("late", closed_at=NOW - timedelta(hours=1)),
        ticket("early", closed_at=NOW - timedelta(days=3)),
        ticket("theirs", tenant_id="other-tenant", closed_at=NOW),
    ]
    with sqlite3.connect(path) as connection:  # ids in import order, no tenant tokens
        connection.execute("PRAGMA user_version = 0")
        for row_id, t in enumerate(old, start=1):
            connection.execute(
                "INSERT INTO tickets (id, tenant_id, crm_id, external_id, status, channel, "
                "agent_email, requester_email, requester_phone, closed_at, summary, data) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row_id,
                    t.tenant_id,
                    t.crm_id,
                    t.external_id,
                    t.status.value,
                    t.channel.value if t.channel else None,
                    t.agent_email,
                    t.requester_email,
                    t.requester_phone,
                    t.closed_at.timestamp(),
                    TicketSummary.of(t).model_dump_json(),
                    t.model_dump_json(),
                ),
            )
            connection.execute(
                "INSERT INTO tickets_fts (rowid, subject, conversation, facets) "
                "VALUES (?, ?, ?, ?)",
                (
                    row_id,
                    indexed(t.subject, t.language),
                    indexed(t.conversation, t.language),
                    " ".join(facets(t)),
                ),
            )

    archive = SqliteTicketArchive(path)
    await archive.open()
    try:
        page = await archive.search("demo-tenant", TicketQuery(text="ticket", sort=SortOrder.date))
        assert [t.external_id for t in page.tickets] == ["late", "early"]
        ranked = await archive.search("demo-tenant", TicketQuery(text="ticket"))
        assert sorted(t.external_id for t in ranked.tickets) == ["early", "late"]
        assert await archive.ticket("other-tenant", "zendesk", "theirs") == old[2]
    finally:
        await archive.close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (LAYOUT,)
        ids = [r[0] for r in connection.execute("SELECT id FROM tickets ORDER BY closed_at")]
    assert ids == sorted(ids) and min(ids) >= SECOND


async def test_sqlite_intersects_only_selective_tenants_and_filters_in_fts5(
    tmp_path: Path,
) -> None:
    archive = SqliteTicketArchive(tmp_path / "tickets.sqlite3")
    await archive.open()
    try:
        await archive.put_tickets(
            [
                ticket(str(n), channel=TicketChannel.voice if n else TicketChannel.chat)
                for n in range(8)
            ]
            + [ticket("theirs", tenant_id="other-tenant")]
        )
        shares = await archive._shares("demo-tenant")
        assert shares[facet("tn", "demo-tenant")] == 8 / 9
        assert shares[facet("ch", "chat")] == 1 / 8
        assert shares[facet("st", "solved")] == 1.0
        assert (await archive._shares("other-tenant"))[facet("tn", "other-tenant")] == 1 / 9

        asked = TicketQuery(
            text="ticket", statuses=(TicketStatus.solved,), channels=(TicketChannel.chat,)
        )
        match = sqlite_module._with_facets('"ticket"', "demo-tenant", asked, shares)
        assert facet("ch", "chat") in match  # one ticket in eight: narrows in the index
        assert facet("st", "solved") not in match  # every ticket: checked on the row only
        assert facet("tn", "demo-tenant") not in match
        unknown = sqlite_module._with_facets('"ticket"', "other-tenant", asked, {})
        assert all(facet(*f) in unknown for f in [("tn", "other-tenant"), ("st", "solved")])

        page = await archive.search("demo-tenant", asked)
        assert [t.external_id for t in page.tickets] == ["0"]
        voice = asked.model_copy(update={"channels": (TicketChannel.voice,)})
        assert len((await archive.search("demo-tenant", voice)).tickets) == 7
        assert [
            t.external_id
            for t in (await archive.search("other-tenant", TicketQuery(text="ticket"))).tickets
        ] == ["theirs"]
    finally:
        await archive.close()
