"""Refusals and CRM problems reach the agent in their language, from the one error tree.

Each error keeps its message id and parameters (``t(...)``); the invoke answer, the tab's
problem body, the card's CRM lines and write-back reasons are translated where they are
shown, with the agent's locale. Every path is checked in German and French.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import pytest
from aiohttp.test_utils import TestClient
from multidict import CIMultiDict, CIMultiDictProxy
from pydantic import BaseModel, ValidationError

from bot.adapters.crm.demo import DemoCrm
from bot.adapters.crm.http import HttpResponse, default_error
from bot.adapters.teams.sign_in import SIGN_IN_PATH
from bot.domain import identifiers
from bot.domain.errors import InvalidIdentifier
from bot.domain.interactions import Interaction
from bot.domain.memorialization import WritePayload
from bot.domain.records import CrmRecord, RecordRef
from bot.domain.workflows import (
    ExecuteRequest,
    InvalidInputs,
    SearchWorkflow,
    parse_record_key,
    parse_workflow,
    search_plan,
)
from bot.errors import FieldError, InvalidInput, field_errors, problem_for
from bot.errors import NotFound as BotNotFound
from bot.i18n import AgentLocale, localize, t
from bot.services import keys
from bot.services.crm import CrmClient, SearchCriteria
from bot.services.merge import MergeRefused
from bot.services.outbox import OutboxItem, OutboxStatus, summarize
from bot.services.store import (
    Document,
    PreconditionFailed,
    TooMuchContention,
    read_model,
    update,
)
from bot.services.store import NotFound as StoreNotFound
from bot.web.interactions import CONTEXT
from tests.activities import message
from tests.bot.test_customer_card_flow import install, invoke, start_call, texts
from tests.connector import FakeConnector
from tests.domain.factories import T0

Client = TestClient[Any, Any]

CHOOSE = {"de": "sprache de", "fr": "langue fr"}
NO_SUCH_INTERACTION = {
    "de": "Die Interaktion 'gone' existiert nicht",
    "fr": "L'interaction 'gone' n'existe pas",
}
UNAVAILABLE = {
    "de": "Salesforce nicht erreichbar, neuer Versuch läuft",
    "fr": "Salesforce indisponible, nouvelle tentative en cours",
}


def test_problem_for_translates_title_and_detail_and_keeps_the_english_message() -> None:
    refused = MergeRefused(t("A card cannot be merged with itself."))
    german = problem_for(refused, lambda text: localize(text, AgentLocale.of("de")))
    assert german.title == "Konflikt mit dem aktuellen Stand"
    assert german.detail == "Eine Karte kann nicht mit sich selbst zusammengeführt werden."
    assert problem_for(refused).detail == "A card cannot be merged with itself."  # logs, en
    french = problem_for(ValueError("boom"), lambda text: localize(text, AgentLocale.of("fr")))
    assert (french.status, french.detail) == (
        500,
        "crmcard n'a pas pu le faire pour le moment ; réessayez.",
    )


class Refusable(BaseModel, extra="forbid"):
    name: str
    rev: int
    kind: Literal["call", "chat"]


REFUSED_FIELDS = {
    "de": "Die Daten der Kartenaktion sind ungültig (name: Pflichtfeld fehlt; "
    "rev: Erwartet wird eine ganze Zahl; kind: Erwartet wird einer der erlaubten Werte; "
    "und 1 weitere)",
    "fr": "Les données de l'action de carte ne sont pas valides (name : Champ obligatoire "
    "manquant ; rev : Un nombre entier est attendu ; kind : L'une des valeurs autorisées "
    "est attendue ; et 1 de plus)",
}


@pytest.mark.parametrize("language", ["de", "fr"])
def test_the_refused_fields_are_named_in_the_readers_language(language: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Refusable.model_validate({"rev": "x", "kind": "mail", "extra": 1})
    error = InvalidInput(t("the card action's data is not valid"), field_errors(refused.value))
    problem = problem_for(error, lambda text: localize(text, AgentLocale.of(language)))
    assert problem.detail == REFUSED_FIELDS[language]
    assert [e["type"] for e in problem.errors] == [
        "missing",
        "int_parsing",
        "literal_error",
        "extra_forbidden",
    ]
    english = problem_for(error).detail  # pydantic's own words, which name the limits
    assert english.startswith(
        "the card action's data is not valid (name: Field required; rev: Input should be a"
    )
    assert english.endswith("Input should be 'call' or 'chat'; and 1 more)")
    unknown = InvalidInput("no", [FieldError(loc=["x"], msg="must be odd", type="odd")])
    german = problem_for(unknown, lambda text: localize(text, AgentLocale.of(language)))
    assert german.detail.endswith("must be odd)")  # a rule without a message: as raised


@pytest.mark.parametrize("language", ["de", "fr"])
async def test_a_card_actions_refused_data_is_named_in_the_agents_language(
    bot_client: Client, language: str
) -> None:
    await start_call(bot_client)
    response = await bot_client.post(
        f"/api/tab/actions?locale={language}",
        json={"verb": "link", "data": {"interactionId": "call-1", "rev": "x"}},
    )
    problem = await response.json()
    assert response.status == 422, problem
    wanted = {"de": "data.rev: Erwartet wird eine ganze Zahl", "fr": "data.rev : Un nombre entier"}
    assert wanted[language] in problem["detail"]
    assert "Input should" not in problem["detail"]


@pytest.mark.parametrize("language", ["de", "fr"])
async def test_a_refused_card_action_answers_in_the_agents_language(
    bot_client: Client, connector: tuple[FakeConnector, str], language: str
) -> None:
    _, url = connector
    await install(bot_client, url)
    await bot_client.post("/api/messages", json=message(url, CHOOSE[language]))
    body = await invoke(bot_client, url, "link", {"interactionId": "gone", "rev": 0, "record": "x"})
    assert body["statusCode"] == 422 and body["type"] == "application/vnd.microsoft.error"
    assert body["value"]["message"] == NO_SUCH_INTERACTION[language]


@pytest.mark.parametrize("language", ["de", "fr"])
async def test_the_tabs_refusals_are_in_the_agents_language(
    bot_client: Client, language: str
) -> None:
    await start_call(bot_client)
    response = await bot_client.post(
        f"/api/tab/actions?locale={language}-CH",
        json={"verb": "link", "data": {"interactionId": "gone", "rev": 0}},
    )
    problem = await response.json()
    assert response.status == 404
    assert problem["detail"] == NO_SUCH_INTERACTION[language]
    assert problem["title"] == {"de": "Nicht gefunden", "fr": "Introuvable"}[language]
    # Refused before anyone is known: in the language the request asks for.
    refused = await bot_client.get(
        "/api/tab/card?tenant=" + "x" * 201, headers={"Accept-Language": f"{language};q=0.9"}
    )
    assert refused.status == 401
    wanted = {"de": "Mandant oder Agent ist zu lang", "fr": "Le locataire ou l'agent est trop long"}
    assert (await refused.json())["detail"] == wanted[language]


@pytest.mark.parametrize(
    ("language", "wanted"),
    [
        ("de", "Der Server antwortete mit HTTP {status}."),
        ("fr", "Le serveur a répondu HTTP {status}."),
    ],
)
async def test_the_tab_tells_an_answer_without_a_detail_in_the_readers_language(
    bot_client: Client, language: str, wanted: str
) -> None:
    page = await (await bot_client.get(f"/tab?locale={language}")).text()
    texts = json.loads(page.split('<script id="texts" type="application/json">')[1].split("<")[0])
    assert texts["httpFailed"] == wanted
    script = await (await bot_client.get("/tab/static/tab.js")).text()
    assert '"HTTP " + r.status' not in script and "httpFailed(r.status)" in script


@pytest.mark.parametrize(("language", "loading"), [("de", "Wird geladen…"), ("fr", "Chargement…")])
async def test_the_tab_page_is_in_the_readers_language_from_its_first_paint(
    bot_client: Client, language: str, loading: str
) -> None:
    by_header = await (
        await bot_client.get("/tab", headers={"Accept-Language": f"{language}-{language.upper()}"})
    ).text()
    assert f'<html lang="{language}"' in by_header and loading in by_header
    assert "Loading…" not in by_header and "{{" not in by_header
    by_parameter = await (await bot_client.get(f"/tab?locale={language}")).text()
    assert loading in by_parameter
    english = await (await bot_client.get("/tab")).text()
    assert "Loading…" in english and "Development mode — not signed in." in english
    config = await (await bot_client.get(f"/tab/config?locale={language}")).text()
    wanted = {"de": "Speichern", "fr": "Enregistrer"}[language]
    assert wanted in config and "Select Save" not in config and "{{" not in config


LEGAL_PAGES = {
    "de": ("Datenschutzerklärung von crmcard", "Nutzungsbedingungen von crmcard"),
    "fr": ("Déclaration de confidentialité de crmcard", "Conditions d&#x27;utilisation de crmcard"),
}


@pytest.mark.parametrize("language", ["de", "fr"])
async def test_the_privacy_and_terms_pages_are_in_the_readers_language(
    bot_client: Client, language: str
) -> None:
    headers = {"Accept-Language": language}
    privacy = await (await bot_client.get("/privacy", headers=headers)).text()
    terms = await (await bot_client.get(f"/terms?locale={language}")).text()
    heading, terms_heading = LEGAL_PAGES[language]
    assert f'<html lang="{language}">' in privacy and f"<h1>{heading}</h1>" in privacy
    assert f"<h1>{terms_heading}</h1>" in terms
    for page in (privacy, terms):
        assert "{{" not in page and "organisation that installed it" not in page
    english = await (await bot_client.get("/privacy")).text()
    assert "<h1>crmcard privacy statement</h1>" in english


SIGN_IN_WORDS = {
    "de": ("Öffnen Sie diese Seite in Microsoft Teams.", "Der Server antwortete"),
    "fr": ("Ouvrez cette page depuis Microsoft Teams.", "Le serveur a répondu"),
}


@pytest.mark.parametrize("language", ["de", "fr"])
async def test_the_sign_in_page_fails_in_the_readers_language(
    bot_client: Client, language: str
) -> None:
    page = await (await bot_client.get(f"{SIGN_IN_PATH}?locale={language}")).text()
    teams_needed, http_failed = SIGN_IN_WORDS[language]
    assert f'data-teams-needed="{teams_needed}"' in page
    assert f'data-http-failed="{http_failed}' in page and "{{" not in page


class UnavailableCrm(DemoCrm):
    """Answers every search the way the HTTP adapter reports a CRM's 503."""

    @property
    def display_name(self) -> str:
        return "Salesforce"

    async def search(self, criteria: SearchCriteria) -> list[CrmRecord]:
        headers = CIMultiDictProxy(CIMultiDict[str]())
        raise default_error("Salesforce", HttpResponse("GET", "https://sf", 503, headers, ""))


class Directory:
    def __init__(self, clients: list[CrmClient]) -> None:
        self.list = clients

    async def clients(self, tenant_id: str) -> list[CrmClient]:
        return self.list


@pytest.mark.parametrize("language", ["de", "fr"])
async def test_a_crm_problem_line_is_stored_with_its_message_id_and_shown_translated(
    bot_client: Client, connector: tuple[FakeConnector, str], tmp_path: Path, language: str
) -> None:
    fake, url = connector
    ctx = bot_client.server.app[CONTEXT]
    ctx.crms = Directory([UnavailableCrm(settings_id="sf", data_file=tmp_path / "sf.json")])
    await install(bot_client, url)
    await bot_client.post("/api/messages", json=message(url, CHOOSE[language]))
    await start_call(bot_client)
    card = fake.cards()[-1].card
    assert UNAVAILABLE[language] in texts(card) and "unavailable, retrying" not in texts(card)
    stored = await read_model(ctx.store, keys.interaction("demo-tenant", "call-1"), Interaction)
    assert stored is not None
    assert stored.shown.problems == {"sf": "Salesforce unavailable, retrying"}  # English id
    assert localize(stored.shown.problems["sf"], AgentLocale.of(language)) == UNAVAILABLE[language]


@pytest.mark.parametrize(
    ("language", "reason"),
    [
        ("de", "Salesforce unterstützt diesen Vorgang nicht"),
        ("fr", "Salesforce ne prend pas en charge cette opération"),
    ],
)
def test_a_write_back_reason_is_shown_in_the_agents_language(language: str, reason: str) -> None:
    headers = CIMultiDictProxy(CIMultiDict[str]())
    refused = default_error("Salesforce", HttpResponse("PATCH", "https://sf", 405, headers, ""))
    item = OutboxItem(
        tenant_id="t",
        interaction_id="i-1",
        record=RecordRef(crm="sf", type="case", id="CS-1"),
        record_title="Printer",
        payload=WritePayload(),
        steps=[],
        status=OutboxStatus.parked,
        parked_reason=refused.message,
        next_attempt_at=T0,
        created_at=T0,
        updated_at=T0,
    )
    stored = OutboxItem.model_validate_json(item.model_dump_json())  # as the store keeps it
    [line] = summarize([stored])
    assert localize(line, AgentLocale.of(language)).endswith(reason)


class AlwaysRaced:
    """A store where every write loses its race: another writer always came first."""

    async def read(self, key: str) -> Document:
        return Document(data=b"{}", etag="e")

    async def replace(self, key: str, data: bytes, etag: str) -> None:
        raise PreconditionFailed(key)


@pytest.mark.parametrize(
    ("language", "wanted"),
    [
        ("de", "Zu viele Änderungen gleichzeitig; nichts wurde geändert. Versuchen Sie es erneut."),
        ("fr", "Trop de modifications simultanées ; rien n'a été modifié. Réessayez."),
    ],
)
async def test_a_lost_race_is_told_without_the_store_key_in_the_agents_language(
    language: str, wanted: str
) -> None:
    with pytest.raises(TooMuchContention) as raised:
        await update(
            AlwaysRaced(),  # type: ignore[arg-type]
            "tenants/t/interactions/i",
            Tally,
            lambda current: Tally(count=current.count + 1),
            attempts=2,
        )
    problem = problem_for(raised.value, lambda text: localize(text, AgentLocale.of(language)))
    assert (problem.status, problem.detail) == (503, wanted)


class Tally(BaseModel):
    count: int = 0


class Emptied:
    """A store whose document vanished between the card and the click."""

    async def read(self, key: str) -> None:
        return None


@pytest.mark.parametrize(
    ("language", "wanted"),
    [
        ("de", "Das existiert nicht mehr; nichts wurde geändert."),
        ("fr", "Cela n'existe plus ; rien n'a été modifié."),
    ],
)
async def test_a_vanished_document_is_told_without_its_key_in_the_readers_language(
    language: str, wanted: str
) -> None:
    key = "tenants/t/interactions/i"
    with pytest.raises(StoreNotFound) as raised:
        await update(Emptied(), key, Tally, lambda current: current)  # type: ignore[arg-type]
    assert raised.value.key == key  # for the logs
    problem = problem_for(raised.value, lambda text: localize(text, AgentLocale.of(language)))
    assert (problem.status, problem.detail) == (404, wanted)
    stale = problem_for(
        PreconditionFailed(key), lambda text: localize(text, AgentLocale.of(language))
    )
    assert stale.status == 409 and key not in stale.detail and "nothing" not in stale.detail


UNREADABLE_INPUT = {
    "de": ("Eingabe 'ani': 'abc' ist keine Telefonnummer, die crmcard lesen kann"),
    "fr": ("Saisie 'ani' : 'abc' n'est pas un numéro de téléphone que crmcard sait lire"),
}


@pytest.mark.parametrize("language", ["de", "fr"])
def test_an_unreadable_workflow_input_is_told_in_the_readers_language(language: str) -> None:
    workflow = parse_workflow(
        {"id": "find", "type": "search", "criteria": [{"by": "phone", "input": "ani"}]}
    )
    assert isinstance(workflow, SearchWorkflow)
    with pytest.raises(InvalidInputs) as refused:
        search_plan(workflow, ExecuteRequest(inputs={"ani": "abc"}))
    assert localize(refused.value.message, AgentLocale.of(language)) == UNREADABLE_INPUT[language]
    with pytest.raises(InvalidIdentifier) as unreadable:
        identifiers.email("ann at example")
    wanted = {"de": "ist keine E-Mail-Adresse", "fr": "n'est pas une adresse e-mail"}[language]
    assert localize(unreadable.value.message, AgentLocale.of(language)) == (
        f"'ann at example' {wanted}"
    )


ADMIN_DETAILS = {
    "de": (
        "recordKey 'nope' hat nicht die Form 'settings:type:id'",
        "Hier gibt es keine Datei 'x.js'",
    ),
    "fr": ("recordKey 'nope' n'a pas la forme 'settings:type:id'", "Aucun fichier 'x.js' ici"),
}


@pytest.mark.parametrize("language", ["de", "fr"])
def test_a_refused_record_key_and_a_missing_file_are_told_in_the_readers_language(
    language: str,
) -> None:
    def detail(error: Exception) -> str:
        problem = problem_for(error, lambda text: localize(text, AgentLocale.of(language)))
        return problem.detail

    with pytest.raises(InvalidInputs) as refused:
        parse_record_key("nope", "crm")
    missing_file = BotNotFound(t("no file {name} here", name=repr("x.js")))
    assert (detail(refused.value), detail(missing_file)) == ADMIN_DETAILS[language]
