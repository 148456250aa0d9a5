"""Lists read the way the reader's language sets them apart (French puts a space before
";"), and the ticket viewer's "Open in <CRM>" is in the reader's language."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.errors import FieldError, InvalidInput, problem_for
from bot.i18n import AgentLocale, localize, separated
from bot.settings import Settings
from bot.web.app import create_app
from bot.web.tickets import TICKETING
from tests.activities import message
from tests.bot.test_customer_card_flow import install, invoke, start_call, texts
from tests.connector import FakeConnector
from tests.merge.test_merge_flow import open_merge, start_email
from tests.tickets.factories import ticket

Client = TestClient[Any, Any]

SEPARATOR = {"en": "; ", "de": "; ", "fr": " ; "}


@pytest.mark.parametrize("language", sorted(SEPARATOR))
def test_refused_fields_are_separated_as_the_language_does(language: str) -> None:
    refused = [
        FieldError(loc=["a"], msg="must be odd", type="odd"),
        FieldError(loc=["b"], msg="must be even", type="even"),
    ]
    problem = problem_for(
        InvalidInput("no", refused), lambda text: localize(text, AgentLocale.of(language))
    )
    field = {"fr": " : "}.get(language, ": ")
    both = f"a{field}must be odd{SEPARATOR[language]}b{field}must be even"
    assert problem.detail.endswith(f"({both})"), problem.detail
    assert separated(["x", "y"], AgentLocale.of(language)) == f"x{SEPARATOR[language]}y"


CHOOSE = {"de": "sprache de", "fr": "langue fr"}
MERGED = {
    "de": "Edward Ferrars (Kanäle: E-Mail; E-Mail: edward.ferrars@example.com; ",
    "fr": "Edward Ferrars (Canaux : E-mail ; E-mail : edward.ferrars@example.com ; ",
}


@pytest.mark.parametrize("language", sorted(MERGED))
async def test_the_merge_success_text_separates_the_details_as_the_language_does(
    bot_client: Client, connector: tuple[FakeConnector, str], language: str
) -> None:
    fake, url = connector
    await install(bot_client, url)
    await bot_client.post("/api/messages", json=message(url, CHOOSE[language]))
    await start_call(bot_client, "call-1")
    await start_email(bot_client)
    phone_card = [s.card for s in fake.cards() if "call-1" in texts(s.card)][-1]
    do = await open_merge(bot_client, url, phone_card)
    done = (await invoke(bot_client, url, "mergeDo", do["data"]))["value"]
    assert MERGED[language] in texts(done), texts(done)


OPEN_IN = {"en": "Open in Zendesk", "de": "In Zendesk öffnen", "fr": "Ouvrir dans Zendesk"}


@pytest.mark.parametrize("language", sorted(OPEN_IN))
async def test_the_ticket_viewers_open_in_label_is_in_the_readers_language(
    aiohttp_client: Callable[..., Any], settings: Settings, language: str
) -> None:
    app = create_app(settings.model_copy(update={"ticket_sync_minutes": 0}))
    client = await aiohttp_client(app)
    await client.app[TICKETING].archive.put_tickets([ticket("1")])
    by_header = await client.get(
        "/api/tickets/zendesk/1",
        headers={"X-Api-Key": "demo-key", "Accept-Language": f"{language}-CH,en;q=0.5"},
    )
    assert (await by_header.json())["openIn"]["label"] == OPEN_IN[language]
    by_parameter = await client.get(
        f"/api/tickets/zendesk/1?tenant=demo-tenant&locale={language}",
        headers={"Accept-Language": "en-US"},
    )
    assert (await by_parameter.json())["openIn"]["label"] == OPEN_IN[language]
