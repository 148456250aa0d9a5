"""The Teams tab: its pages, and the API its page calls for the agent's live customer card.

Routes
- ``GET /tab``, ``GET /tab/config``, ``GET /privacy``, ``GET /terms``: static pages.
- ``GET /tab/static/...`` and ``GET /tab/vendor/...``: the page's script, style and the
  ``adaptivecards`` / ``@microsoft/teams-js`` browser bundles from ``node_modules``.
- ``GET /api/tab/card``: the agent's current card.
- ``GET /api/tab/events``: server-sent events, one ``card`` event per change of that card,
  comment heartbeats in between.
- ``POST /api/tab/actions``: ``{"verb": ..., "data": ...}``, the same Universal Action verbs
  the bot answers; returns the new card and updates the agent's Teams message too.

Who is asking is decided in one place, :func:`tab_identity`.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from bot.adapters.crm.agent_tokens import AgentTokens
from bot.adapters.inbound import header, json_object
from bot.adapters.teams.openid import OpenIdMetadataUnavailable
from bot.adapters.teams.sign_in import SIGN_IN_PATH
from bot.adapters.teams.sso import InvalidSsoToken, SsoIdentity, SsoValidator, sso_audiences
from bot.domain.interactions import Interaction
from bot.errors import FieldError, InvalidInput, NotFound, Unauthorized, Unavailable
from bot.i18n import AgentLocale, Text, localize, t
from bot.services import (
    acting_agent,
    agent_locale,
    card_actions,
    crm_warnings,
    interactions,
    keys,
    supervisors,
)
from bot.services.audit import Door
from bot.services.live import LiveCards
from bot.services.rendering import publish
from bot.services.store import read_model
from bot.services.supervisors import SUPERVISOR_ROLE, expiry
from bot.services.tenants import TenantNotConsented, check_tenant
from bot.settings import Settings
from bot.web.interactions import CONTEXT, SETTINGS
from bot.web.problems import READER_LOCALE, reader_locale

log = logging.getLogger(__name__)

LIVE = web.AppKey("live_cards", LiveCards)
HEARTBEAT_SECONDS = web.AppKey("tab_heartbeat_seconds", float)
SSO_VALIDATOR = web.AppKey("sso_validator", SsoValidator)
AGENT_TOKENS = web.AppKey("agent_tokens", AgentTokens)
"""On-Behalf-Of for tab calls that must reach a CRM as the agent (``TabIdentity.sso``)."""

STATIC_DIR = Path(__file__).resolve().parent / "static"
NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"
VENDOR = {
    "adaptivecards.min.js": NODE_MODULES / "adaptivecards" / "dist" / "adaptivecards.min.js",
    "teams-js.min.js": NODE_MODULES / "@microsoft/teams-js/dist/umd/MicrosoftTeams.min.js",
}

DEV_AGENT_ID = "00000000-0000-0000-0000-0000000000a1"
MAX_ID_LENGTH = 200
MAX_LOCALE_LENGTH = 64

# Teams (web, desktop, mobile, Outlook, microsoft365.com) frames the tab; nobody else may.
FRAME_ANCESTORS = (
    "frame-ancestors 'self' https://teams.microsoft.com https://*.teams.microsoft.com "
    "https://*.cloud.microsoft https://*.office.com https://outlook.office.com "
    "https://*.microsoft365.com"
)


BEARER_CHALLENGE = 'Bearer realm="crmcard"'


class NotSignedIn(Unauthorized):
    """The request does not prove which agent of which tenant is asking."""

    def __init__(self, message: str) -> None:
        super().__init__(message, challenge=BEARER_CHALLENGE)


class SignInUnavailable(Unavailable):
    """The SSO signing keys cannot be fetched: a server-side failure (503, not 401)."""


@dataclass(frozen=True)
class TabIdentity:
    tenant_id: str
    agent_id: str  # the agent's Entra object id
    development: bool = False
    sso: SsoIdentity | None = None  # the validated SSO token, for On-Behalf-Of


def bearer_token(request: web.Request) -> str | None:
    """The SSO token: ``Authorization: Bearer``, or ``access_token`` for EventSource."""
    value = header(request, "Authorization")
    if value[:7].lower() == "bearer " and value[7:].strip():
        return value[7:].strip()
    return request.query.get("access_token") or None


async def validated_sso_identity(request: web.Request, token: str) -> TabIdentity:
    """Teams SSO token -> identity: signature, issuer, audience, expiry, tenant, agent."""
    try:
        sso = await request.app[SSO_VALIDATOR].validate(token)
    except InvalidSsoToken as error:
        log.info("refused a tab SSO token: %s", error)
        raise NotSignedIn(t("the Teams SSO token was refused: {error}", error=error)) from None
    except OpenIdMetadataUnavailable as error:
        log.warning("cannot validate tab SSO tokens: %s", error)
        raise SignInUnavailable(t("sign-in cannot be checked just now; try again")) from None
    if SUPERVISOR_ROLE in sso.roles:  # card actions through the bot honour it too
        store = request.app[CONTEXT].store
        await supervisors.remember(store, sso.tenant_id, sso.object_id, expiry(sso.expires_at))
    return TabIdentity(tenant_id=sso.tenant_id, agent_id=sso.object_id, sso=sso)


async def tab_identity(request: web.Request) -> TabIdentity:
    """Which tenant and agent this tab request speaks for; raises :class:`NotSignedIn`
    (or :class:`SignInUnavailable` when the signing keys cannot be fetched).

    DEVELOPMENT MODE (no ``MicrosoftAppId`` configured, the local demo): nobody signs in;
    the tenant and agent come from the ``tenant`` and ``agent`` query parameters, and the
    page shows that it is in development mode. With an app id, only a valid Teams SSO
    token identifies the caller.
    """
    settings = request.app[SETTINGS]
    if not settings.app_id:
        tenant = request.query.get("tenant") or settings.default_tenant_id
        agent = request.query.get("agent") or DEV_AGENT_ID
        if len(tenant) > MAX_ID_LENGTH or len(agent) > MAX_ID_LENGTH:
            raise NotSignedIn(t("tenant or agent is too long"))
        identity = TabIdentity(tenant_id=tenant, agent_id=agent, development=True)
    else:
        token = bearer_token(request)
        if token is None:
            raise NotSignedIn(t("sign in through Teams: no SSO token was presented"))
        identity = await validated_sso_identity(request, token)
    try:  # the tenant gate: tenants without admin consent see nothing and change nothing
        await check_tenant(request.app[CONTEXT].store, settings, identity.tenant_id)
    except TenantNotConsented as error:
        raise NotSignedIn(error.message) from None
    if identity.sso is not None and AGENT_TOKENS in request.app:
        await request.app[AGENT_TOKENS].remember(identity.sso)  # for delegated CRM access
    acting_agent.act_as(identity.tenant_id, identity.agent_id)
    return identity


def _identity_fields(identity: TabIdentity) -> dict[str, object]:
    return {
        "mode": "development" if identity.development else "sso",
        "tenantId": identity.tenant_id,
        "agentId": identity.agent_id,
    }


_TEXTS = {
    "title": t("crmcard — Customer card"),
    "heading": t("Customer card"),
    "loading": t("Loading…"),
    "connecting": t("connecting…"),
    "live": t("live"),
    "reconnecting": t("reconnecting…"),
    "offline": t("offline"),
    "failed": t("That did not work:"),
    "signInFailed": t("Teams sign-in failed:"),
    "loadFailed": t("Could not load the customer card:"),
    "httpFailed": t("The server answered HTTP {status}."),
    "teamsNeeded": t("Open this page from Microsoft Teams."),
    "noInteraction": t(
        "No open interaction. Your customer card appears here as soon as a call or chat "
        "reaches you."
    ),
    "notSignedIn": t("not signed in"),
    "signInRequired": t("Sign-in required:"),
    "openInTeams": t("Open crmcard inside Microsoft Teams to see your customer card."),
    "devMode": t("Development mode — not signed in."),
    "devWho": t("Showing agent {agent} of tenant {tenant} (set ?tenant=…&agent=… to change)."),
    "configTitle": t("crmcard — add the customer card"),
    "configIntro": t(
        "This tab shows the customer card of the interaction you are handling, updated live. "
        "Select Save to add it."
    ),
    "configOpenInTeams": t("Open this page from Microsoft Teams to add the tab."),
    "signInTitle": t("Sign in to crmcard"),
    "signingIn": t("Signing you in with Teams…"),
    "signedIn": t("You are signed in. You can close this window."),
}
"""The tab page's own words; ``{agent}``, ``{tenant}`` and ``{status}`` are filled in by
the page."""


_LEGAL_TEXTS = {
    "privacyTitle": t("crmcard — privacy"),
    "privacyHeading": t("crmcard privacy statement"),
    "privacyIntro": t(
        "crmcard shows contact-center agents the CRM records of the customer they are "
        "talking to. To do that it processes, for the organisation that installed it:"
    ),
    "privacyEvents": t(
        "interaction events sent by the organisation's contact-center platform (customer "
        "phone number, email or channel handle, name, queue, times, the agent handling "
        "it);"
    ),
    "privacyTeams": t(
        "the agent's Microsoft Teams identity (tenant and user object id) and the Teams "
        "conversation used to deliver the customer card;"
    ),
    "privacyRecords": t(
        "CRM records returned by the CRMs the organisation connected, and the links "
        "agents make between records and interactions."
    ),
    "privacyUse": t(
        "This data is stored per tenant, used only to show and update customer cards and "
        "to write interaction data back into the organisation's own CRM, and never shared "
        "with anyone else. Tenant administrators can ask for their tenant's data to be "
        "exported or deleted."
    ),
    "termsTitle": t("crmcard — terms of use"),
    "termsHeading": t("crmcard terms of use"),
    "termsBody": t(
        "crmcard is provided to the organisation that installed it in Microsoft Teams, "
        "for use by its contact-center agents and administrators. The organisation is "
        "responsible for the CRMs it connects, the data mappings it defines and for "
        "having the right to process its customers' data. crmcard writes to connected "
        "CRMs only what the organisation's mappings and workflows say. The service is "
        "provided as is, without warranty; use it in line with your organisation's "
        "policies and applicable law."
    ),
}
"""The privacy statement and the terms of use: pages of their own, not the tab's script."""


def page_texts(locale: AgentLocale, texts: dict[str, Text] = _TEXTS) -> dict[str, str]:
    return {"lang": locale.language, **{k: localize(v, locale) for k, v in texts.items()}}


_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def _script_json(value: object) -> str:
    """``value`` as JSON inside a script element: ``</`` never closes it early."""
    return json.dumps(value, ensure_ascii=False).replace("</", "<\\/")


def localized_page(
    name: str, words: dict[str, Text] = _TEXTS
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A page of the tab in the reader's language (``locale`` parameter or the Teams
    client's ``Accept-Language``) from its first paint ("Loading…" included): its
    ``{{key}}`` placeholders are the page texts, HTML-escaped (``{{keyJson}}`` as a script
    string, ``{{texts}}`` all of them for the page's script)."""
    template = (STATIC_DIR / name).read_text()

    async def handler(request: web.Request) -> web.StreamResponse:
        texts = page_texts(reader_locale(request), words)
        values = {
            **{k: html.escape(v) for k, v in texts.items()},
            **{k + "Json": _script_json(v) for k, v in texts.items()},
            "texts": _script_json(texts),
        }
        page = _PLACEHOLDER.sub(lambda m: values.get(m[1], m[0]), template)
        response = web.Response(text=page, content_type="text/html")
        response.headers["Content-Security-Policy"] = FRAME_ANCESTORS
        response.headers["Cache-Control"] = "no-cache"
        return response

    return handler


async def _reader_locale(request: web.Request, identity: TabIdentity) -> AgentLocale:
    """The agent's language and time zone, as their Teams context says (``locale`` and
    ``timeZone`` query parameters, remembered for their cards) unless they chose one;
    the answer to this request, refusals included, is in it."""
    ctx = request.app[CONTEXT]
    seen, changed = await agent_locale.observe(
        ctx.store,
        identity.tenant_id,
        identity.agent_id,
        request.query.get("locale", "")[:MAX_LOCALE_LENGTH] or None,
        request.query.get("timeZone", "")[:MAX_LOCALE_LENGTH] or None,
    )
    locale = seen.locale()
    if changed:
        await interactions.follow_agent_locale(ctx, identity.tenant_id, identity.agent_id, locale)
    request[READER_LOCALE] = locale
    return locale


async def get_card(request: web.Request) -> web.Response:
    """The agent's card, and the page's words, in the language of their Teams context
    (``locale`` and ``timeZone`` query parameters, remembered for their cards)."""
    identity = await tab_identity(request)
    locale = await _reader_locale(request, identity)
    ctx = request.app[CONTEXT]
    latest = await interactions.latest_for_agent(ctx, identity.tenant_id, identity.agent_id)
    if latest is not None:  # a CRM the card warns about may be back: ask it again
        await crm_warnings.recheck(ctx, latest)
    current = await request.app[LIVE].current(identity.tenant_id, identity.agent_id)
    texts = page_texts(locale)
    return web.json_response({**_identity_fields(identity), **current, "texts": texts})


async def get_events(request: web.Request) -> web.StreamResponse:
    identity = await tab_identity(request)
    live = request.app[LIVE]
    heartbeat = request.app.get(HEARTBEAT_SECONDS, 15.0)
    subscription = await live.subscribe(identity.tenant_id, identity.agent_id)
    try:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache, no-transform",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        await response.write(b"retry: 3000\n\n")
        while True:
            payload = await subscription.next(heartbeat)
            if subscription.closed:
                break
            if payload is None:
                await response.write(b": heartbeat\n\n")
            else:
                await response.write(f"event: card\ndata: {payload}\n\n".encode())
    except ConnectionResetError:
        pass  # the tab went away
    finally:
        live.unsubscribe(subscription)
    return response


async def post_action(request: web.Request) -> web.Response:
    identity = await tab_identity(request)
    ctx = request.app[CONTEXT]
    await _reader_locale(request, identity)
    body = await json_object(request)
    verb, data = body.get("verb"), body.get("data")
    refused: list[FieldError] = []
    if not isinstance(verb, str):
        refused.append(FieldError(loc=["verb"], msg="must be a string", type="string_type"))
    if not isinstance(data, dict):
        refused.append(FieldError(loc=["data"], msg="must be an object", type="dict_type"))
    if refused or not isinstance(verb, str) or not isinstance(data, dict):
        raise InvalidInput(t("expected a verb and its data"), refused)
    interaction_id = data.get("interactionId")
    interaction = (
        await read_model(
            ctx.store, keys.interaction(identity.tenant_id, interaction_id), Interaction
        )
        if isinstance(interaction_id, str) and interaction_id
        else None
    )
    if interaction is None:
        raise NotFound(
            t("interaction {interaction} does not exist", interaction=repr(interaction_id))
        )
    actor = card_actions.Actor(
        user_id=identity.agent_id,
        door=Door.tab,
        supervisor=identity.sso is not None and SUPERVISOR_ROLE in identity.sso.roles,
    )
    result = await card_actions.execute(ctx, identity.tenant_id, actor, verb, data)
    current = await read_model(
        ctx.store, keys.interaction(identity.tenant_id, interaction.id), Interaction
    )
    if current is not None:
        await publish(ctx, current)  # the Teams message shows the same card
    return web.json_response(
        {
            **_identity_fields(identity),
            "interactionId": interaction.id,
            "revision": current.revision if current else None,
            "card": result.card,
            "notices": result.notices,
        }
    )


async def post_sign_in(request: web.Request) -> web.Response:
    """The sign-in page's token: kept for the agent's delegated CRM calls (as every tab
    request's is), so the bot's ``signin/verifyState`` finds it."""
    identity = await tab_identity(request)
    return web.json_response({**_identity_fields(identity), "signedIn": True})


def _files(folder: Path) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The files of ``folder`` by name (not its subfolders); anything else is a 404 problem
    (aiohttp's static resource answers a missing file with an empty 404 of its own)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        name = request.match_info["filename"]
        path = folder / name
        if name.startswith(".") or not path.is_file():
            raise NotFound(t("no file {name} here", name=repr(name)))
        return web.FileResponse(path)

    return handler


async def get_vendor(request: web.Request) -> web.StreamResponse:
    path = VENDOR.get(request.match_info["name"])
    if path is None or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Content-Type": "text/javascript; charset=utf-8"})


def sso_validator(settings: Settings) -> SsoValidator:
    """The checker of Teams SSO tokens for the configured SSO app (tab and bot sign-in)."""
    return SsoValidator(
        metadata_url=settings.sso_openid_metadata_url,
        authority=settings.entra_authority,
        audiences=sso_audiences(settings.sso_app_id, settings.public_url)
        if settings.sso_app_id
        else (),
    )


def setup_tab(app: web.Application, live: LiveCards) -> None:
    """Register the tab's pages and API on ``app`` (whose context publishes to ``live``)."""
    app[LIVE] = live
    if SSO_VALIDATOR not in app:
        app[SSO_VALIDATOR] = sso_validator(app[SETTINGS])
    app.router.add_get("/tab", localized_page("tab.html"))
    app.router.add_get("/tab/config", localized_page("config.html"))
    app.router.add_get(SIGN_IN_PATH, localized_page("sign-in.html"))
    app.router.add_post("/api/tab/sign-in", post_sign_in)
    app.router.add_get("/privacy", localized_page("privacy.html", _LEGAL_TEXTS))
    app.router.add_get("/terms", localized_page("terms.html", _LEGAL_TEXTS))
    app.router.add_get("/tab/static/{filename}", _files(STATIC_DIR))
    app.router.add_get("/icons/{filename}", _files(STATIC_DIR / "icons"))  # the cards' icons
    app.router.add_get("/tab/vendor/{name}", get_vendor)
    app.router.add_get("/api/tab/card", get_card)
    app.router.add_get("/api/tab/events", get_events)
    app.router.add_post("/api/tab/actions", post_action)

    async def end_streams(app: web.Application) -> None:
        await live.close()

    app.on_shutdown.append(end_streams)
    app.on_cleanup.append(end_streams)  # again: no store watcher outlives the store
