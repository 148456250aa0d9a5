"""A CRM warning on a card clears itself once the CRM is back, by the injected clock.

The warning is stored with the interaction; the card's own refresh (Teams asks for it when
the agent looks at the card) and the tab loading it ask that CRM again once the warning is
``RECHECK_AFTER`` old, and never before: a dead CRM is not asked on every look.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from multidict import CIMultiDict, CIMultiDictProxy

from bot.adapters.crm.demo import DemoCrm
from bot.adapters.crm.http import HttpResponse, default_error
from bot.domain.interactions import Interaction
from bot.domain.records import CrmRecord
from bot.services import keys
from bot.services.context import Context
from bot.services.crm import CrmClient, SearchCriteria
from bot.services.crm_fan_out import still_answering
from bot.services.crm_warnings import RECHECK_AFTER
from bot.services.store import read_model, update
from bot.web.interactions import CONTEXT
from tests.bot.test_customer_card_flow import install, invoke, start_call, texts
from tests.cards import actions
from tests.connector import FakeConnector

Client = TestClient[Any, Any]
T0 = datetime(2026, 11, 23, 8, 0, 10, tzinfo=UTC)
DOWN = "Salesforce unavailable, retrying"


class FlakyCrm(DemoCrm):
    """The demo CRM's records under the name Salesforce, down until told otherwise."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.down = True
        self.searches = 0

    @property
    def display_name(self) -> str:
        return "Salesforce"

    async def search(self, criteria: SearchCriteria) -> list[CrmRecord]:
        self.searches += 1
        if self.down:  # what the HTTP adapter raises for a 503
            headers = CIMultiDictProxy(CIMultiDict[str]())
            raise default_error("Salesforce", HttpResponse("GET", "https://sf", 503, headers, ""))
        return await super().search(criteria)


class Directory:
    def __init__(self, clients: list[CrmClient]) -> None:
        self.list = clients

    async def clients(self, tenant_id: str) -> list[CrmClient]:
        return self.list


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def _rigged(client: Client, tmp_path: Path) -> tuple[Context, FlakyCrm, Clock]:
    ctx: Context = client.server.app[CONTEXT]
    crm = FlakyCrm(settings_id="sf", data_file=tmp_path / "sf.json")
    ctx.crms = Directory([crm])
    clock = Clock()
    ctx.clock = clock
    return ctx, crm, clock


async def _stored(ctx: Context) -> Interaction:
    interaction = await read_model(
        ctx.store, keys.interaction("demo-tenant", "call-1"), Interaction
    )
    assert interaction is not None
    return interaction


async def _call_while_down(client: Client, connector: tuple[FakeConnector, str]) -> Any:
    """A call's card, posted while the CRM is down: it warns about it."""
    fake, url = connector
    await install(client, url)
    await start_call(client)
    card = fake.cards()[-1].card
    assert DOWN in texts(card)
    return card


async def test_the_cards_refresh_clears_the_warning_once_the_crm_is_back(
    bot_client: Client, connector: tuple[FakeConnector, str], tmp_path: Path
) -> None:
    _, url = connector
    ctx, crm, clock = _rigged(bot_client, tmp_path)
    card = await _call_while_down(bot_client, connector)
    assert "Edward Ferrars" not in texts(card)
    [refresh] = actions(card, "refreshCard")
    asked = crm.searches

    crm.down = False  # the CRM recovers; the card does not know yet
    clock.now = T0 + RECHECK_AFTER - timedelta(seconds=1)
    early = (await invoke(bot_client, url, "refreshCard", refresh["data"]))["value"]
    assert DOWN in texts(early) and crm.searches == asked  # not asked again so soon

    clock.now = T0 + RECHECK_AFTER
    shown = (await invoke(bot_client, url, "refreshCard", refresh["data"]))["value"]
    assert DOWN not in texts(shown) and "Edward Ferrars" in texts(shown)
    assert crm.searches == asked + 1
    stored = await _stored(ctx)
    assert stored.shown.problems == {} and stored.shown.problems_at == clock.now


async def test_a_crm_still_down_keeps_its_warning_and_is_not_asked_on_every_look(
    bot_client: Client, connector: tuple[FakeConnector, str], tmp_path: Path
) -> None:
    _, url = connector
    _, crm, clock = _rigged(bot_client, tmp_path)
    [refresh] = actions(await _call_while_down(bot_client, connector), "refreshCard")
    clock.now = T0 + RECHECK_AFTER
    again = (await invoke(bot_client, url, "refreshCard", refresh["data"]))["value"]
    assert DOWN in texts(again)
    asked = crm.searches
    clock.now += RECHECK_AFTER / 2  # the warning was renewed: its clock starts again
    await invoke(bot_client, url, "refreshCard", refresh["data"])
    assert crm.searches == asked


async def test_a_still_answering_line_left_by_a_restart_clears_when_the_tab_loads(
    bot_client: Client, tmp_path: Path
) -> None:
    ctx, crm, clock = _rigged(bot_client, tmp_path)
    crm.down = False
    await start_call(bot_client)
    # What a process that died mid-lookup leaves behind: the slow CRM marked as still
    # answering, and no task of this process to finish it.
    await update(
        ctx.store,
        keys.interaction("demo-tenant", "call-1"),
        Interaction,
        lambda current: current.bumped(
            shown=current.shown.model_copy(
                update={"problems": {"sf": still_answering(crm)}, "problems_at": T0}
            )
        ),
    )
    stale = await (await bot_client.get("/api/tab/card")).json()
    assert "Salesforce is still answering…" in texts(stale["card"])  # too soon to ask

    clock.now = T0 + RECHECK_AFTER
    body = await (await bot_client.get("/api/tab/card")).json()
    assert "still answering" not in texts(body["card"])
    assert "Edward Ferrars" in texts(body["card"])
    assert (await _stored(ctx)).shown.problems == {}
