"""Words of the card that come from data crmcard knows, in the agent's language: an
unknown caller's name (on the card and among merge candidates), the CRM fields crmcard
knows (tier, subject, priority) and a create workflow's record type and inputs."""

from __future__ import annotations

import pytest

from tests.activities import interaction_event, message
from tests.bot.test_customer_card_flow import (
    KEY,
    Client,
    actions,
    install,
    invoke,
    record_action,
    start_call,
    texts,
)
from tests.connector import FakeConnector
from tests.workflows.test_card_workflows import open_workflows

CHOOSE = {"de": "sprache de", "fr": "langue fr"}
UNKNOWN = {"de": "Unbekannter Kontakt +49 30 1234567", "fr": "Contact inconnu +49 30 1234567"}


async def choose(client: Client, url: str, language: str) -> None:
    await install(client, url)
    await client.post("/api/messages", json=message(url, CHOOSE[language]))


@pytest.mark.parametrize("language", sorted(CHOOSE))
async def test_an_unknown_caller_is_named_in_the_agents_language(
    bot_client: Client, connector: tuple[FakeConnector, str], language: str
) -> None:
    fake, url = connector
    await choose(bot_client, url, language)
    event = interaction_event("call-9", "assigned", customer={"phone": "+49 30 1234567"})
    assert (await bot_client.post("/api/interactions", json=event, headers=KEY)).status == 202
    assert UNKNOWN[language] in texts(fake.cards()[-1].card)
    assert "Unknown contact" not in texts(fake.cards()[-1].card)

    await start_call(bot_client, "call-1")  # Edward's card, looking for the unknown one
    edward = [s.card for s in fake.cards() if "call-1" in texts(s.card)][-1]
    [merge] = actions(edward, "merge")
    query = {**merge["data"], "query": "+49 30 1234567"}
    found = (await invoke(bot_client, url, "mergeSearch", query))["value"]
    assert UNKNOWN[language] in texts(found)
    assert "Unknown contact" not in texts(found)


KNOWN_FIELDS = {
    "de": ("Kundenstufe", "Betreff", "Priorität", "email (eigenes Feld)", "Datensatz (Fall)"),
    "fr": ("Niveau client", "Objet", "Priorité", "email (champ personnalisé)", "fiche (Dossier)"),
}


@pytest.mark.parametrize("language", sorted(KNOWN_FIELDS))
async def test_known_fields_and_workflow_inputs_are_named_in_the_agents_language(
    bot_client: Client, connector: tuple[FakeConnector, str], language: str
) -> None:
    fake, url = connector
    await choose(bot_client, url, language)
    listed = texts(await open_workflows(bot_client, url, fake))
    tier, subject, priority, custom, record_type = KNOWN_FIELDS[language]
    for label in (subject, priority, custom, record_type):
        assert f'"{label}' in listed or label in listed, (label, listed)
    for english in ('"Subject"', '"Priority"', "(custom)", "(case)"):
        assert english not in listed

    card = [s.card for s in fake.cards() if "call-1" in texts(s.card)][-1]
    [refresh] = actions(card, "refresh")
    refreshed = (await invoke(bot_client, url, "refresh", refresh["data"]))["value"]
    expand = record_action(refreshed, "expand", "account:A-1001")
    expanded = texts((await invoke(bot_client, url, "expand", expand["data"]))["value"])
    assert f'"{tier}"' in expanded and '"Tier"' not in expanded
