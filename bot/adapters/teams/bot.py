"""The Teams activity handler: thin glue from activities to crmcard's use cases."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from botbuilder.core import CardFactory, InvokeResponse, MessageFactory, TurnContext
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount

from bot.adapters.teams import conversations, invoke, message_extension, sign_in
from bot.adaptive_cards.customer_card import render_welcome
from bot.domain.errors import DomainError
from bot.domain.interactions import LifecycleEvent
from bot.errors import InvalidInput
from bot.i18n import LANGUAGES, AgentLocale, localize, t
from bot.services import (
    acting_agent,
    agent_locale,
    audit,
    card_actions,
    interactions,
    record_search,
)
from bot.services.audit import Door
from bot.services.context import Context
from bot.services.open_interactions import open_interactions_card
from bot.services.rendering import card_for
from bot.services.tenants import TenantNotConsented, check_tenant
from bot.settings import Settings

log = logging.getLogger(__name__)

_DEMO_START = re.compile(r"^(call|sms|whatsapp|email|chat)\s+(.+)$", re.IGNORECASE)
_DEMO_EVENTS = {
    "connect": LifecycleEvent.connected,
    "end": LifecycleEvent.ended,
    "acw": LifecycleEvent.acw_completed,
    "transfer": LifecycleEvent.transferred,
    "unassign": LifecycleEvent.unassigned,
    "abandon": LifecycleEvent.abandoned,
}
_COMMANDS = {  # what the agent types, in English, German or French -> the command
    **dict.fromkeys(("help", "hilfe", "aide", "hi", "hello", "hallo", "bonjour", "?"), "help"),
    **dict.fromkeys(("card", "karte", "carte"), "card"),
    **dict.fromkeys(("cards", "karten", "cartes"), "cards"),
}
_LANGUAGE = re.compile(r"^(?:language|sprache|langue)(?:\s+(\S+))?$", re.IGNORECASE)
_LOCALE_KEY = "crmcard.locale"
_DEMO_CHANNELS = {
    "call": "voice",
    "sms": "sms",
    "whatsapp": "whatsapp",
    "email": "email",
    "chat": "chat",
}


_MARKUP = re.compile(r"<[^>]*>|&nbsp;")


def _shares_a_card(activity: Activity) -> bool:
    """A message that is a card and no words: Teams writes the card inserted from the
    compose box as an attachment, its text only a placeholder element."""
    cards = [
        a
        for a in activity.attachments or []
        if a.content_type == CardFactory.content_types.adaptive_card
    ]
    return bool(cards) and not _MARKUP.sub("", activity.text or "").strip()


class CrmCardBot(TeamsActivityHandler):  # type: ignore[misc]
    def __init__(
        self,
        ctx: Context,
        settings: Settings,
        *,
        signing_in: sign_in.SignIn | None = None,
    ) -> None:
        self._ctx = ctx
        self._settings = settings
        self._sign_in = signing_in

    def _tenant(self, turn: TurnContext) -> str:
        return conversations.tenant_of(turn.activity, self._settings.default_tenant_id)

    async def on_turn(self, turn_context: TurnContext) -> None:
        try:  # the tenant gate: nothing is stored or done for a tenant without consent
            await check_tenant(self._ctx.store, self._settings, self._tenant(turn_context))
        except TenantNotConsented as refused:
            await self._refuse(turn_context, refused)
            return
        if turn_context.activity.type in ("message", "installationUpdate", "conversationUpdate"):
            await conversations.remember(
                self._ctx.store, self._tenant(turn_context), turn_context.activity
            )
        if turn_context.activity.type in ("message", "installationUpdate"):
            await self._observe_locale(turn_context)
        if turn_context.activity.from_property:  # delegated CRM calls are the sender's
            acting_agent.act_as(
                self._tenant(turn_context), conversations.agent_of(turn_context.activity)
            )
        await super().on_turn(turn_context)

    async def _observe_locale(self, turn_context: TurnContext) -> None:
        """Remember the language and time zone the agent's Teams client says it uses."""
        activity = turn_context.activity
        if not activity.from_property:
            return
        tenant, agent = self._tenant(turn_context), conversations.agent_of(activity)
        language, changed = await agent_locale.observe(
            self._ctx.store, tenant, agent, activity.locale, conversations.time_zone_of(activity)
        )
        turn_context.turn_state[_LOCALE_KEY] = language.locale()
        if changed:
            await interactions.follow_agent_locale(self._ctx, tenant, agent, language.locale())

    def _locale(self, turn_context: TurnContext) -> AgentLocale:
        locale = turn_context.turn_state.get(_LOCALE_KEY)
        return (
            locale
            if isinstance(locale, AgentLocale)
            else AgentLocale.of(turn_context.activity.locale)
        )

    async def _agent_locale(self, turn_context: TurnContext) -> AgentLocale:
        """The language the agent reads crmcard in (their choice wins over the client's):
        what a card action's refusal is written in, like the cards themselves."""
        agent = conversations.agent_of(turn_context.activity)
        if not agent:
            return self._locale(turn_context)
        return await agent_locale.locale_of(self._ctx.store, self._tenant(turn_context), agent)

    async def _say(self, turn_context: TurnContext, text: str) -> None:
        await turn_context.send_activity(localize(text, self._locale(turn_context)))

    async def _refuse(self, turn_context: TurnContext, refused: TenantNotConsented) -> None:
        log.info(
            "refused a %s activity of tenant %s: no consent",
            turn_context.activity.type,
            refused.tenant_id,
        )
        if turn_context.activity.type == "invoke":
            answer = invoke.error_for(refused, self._locale(turn_context))
            await turn_context.send_activity(Activity(type="invokeResponse", value=answer))
        elif turn_context.activity.type == "message":
            await self._say(turn_context, refused.message)

    async def on_members_added_activity(
        self, members_added: list[ChannelAccount], turn_context: TurnContext
    ) -> None:
        # In a personal chat Teams also sends installationUpdate, which welcomes already.
        if turn_context.activity.conversation.conversation_type == "personal":
            return
        bot_id = turn_context.activity.recipient.id
        if any(member.id != bot_id for member in members_added):
            await self._send_welcome(turn_context)

    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        await self._send_welcome(turn_context)
        await self._offer_sign_in(turn_context)

    async def _send_welcome(self, turn_context: TurnContext) -> None:
        card = render_welcome(
            demo=self._settings.accepts_demo_commands,
            personal=conversations.is_personal(turn_context.activity),
            locale=self._locale(turn_context),
        )
        await self._send_card(turn_context, card)

    async def _send_card(self, turn_context: TurnContext, card: dict[str, Any]) -> None:
        await turn_context.send_activity(MessageFactory.attachment(CardFactory.adaptive_card(card)))

    async def _offer_sign_in(self, turn_context: TurnContext) -> None:
        """In the agent's personal chat: an OAuthCard when a delegated CRM needs their
        token and crmcard holds none (Teams hands it over silently; see sign_in)."""
        activity = turn_context.activity
        if self._sign_in is None or not conversations.is_personal(activity):
            return
        crms = await self._sign_in.needed(
            self._tenant(turn_context), conversations.agent_of(activity)
        )
        if crms:
            card = self._sign_in.oauth_card(crms, self._locale(turn_context))
            await turn_context.send_activity(MessageFactory.attachment(card))

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        if _shares_a_card(turn_context.activity):
            return  # a record card from the message extension, posted here: not a command
        await self._offer_sign_in(turn_context)
        text = TurnContext.remove_recipient_mention(turn_context.activity) or ""
        text = " ".join(text.split())
        command = _COMMANDS.get(text.lower()) if text else "help"
        language = _LANGUAGE.match(text)
        if command == "help":
            await self._send_welcome(turn_context)
        elif command == "card":
            await self._show_latest(turn_context)
        elif command == "cards":
            await self._show_open(turn_context)
        elif language:
            await self._choose_language(turn_context, language[1])
        elif self._settings.accepts_demo_commands and await self._demo(turn_context, text):
            return
        else:
            shown = text if len(text) <= 40 else text[:39] + "…"
            await self._say(turn_context, t("I didn't understand “{text}”: try help.", text=shown))

    async def _choose_language(self, turn_context: TurnContext, wanted: str | None) -> None:
        """``language de|fr|en`` picks the agent's language; ``language auto`` follows Teams."""
        code = (wanted or "").lower()
        if code not in (*LANGUAGES, "auto"):
            await self._say(turn_context, t("Choose a language: language de, fr, en or auto."))
            return
        tenant, agent = self._tenant(turn_context), conversations.agent_of(turn_context.activity)
        chosen, changed = await agent_locale.choose(
            self._ctx.store, tenant, agent, None if code == "auto" else code
        )
        turn_context.turn_state[_LOCALE_KEY] = chosen.locale()
        if changed:
            await interactions.follow_agent_locale(self._ctx, tenant, agent, chosen.locale())
        await self._say(turn_context, t("crmcard now speaks English to you."))

    async def _show_latest(self, turn_context: TurnContext) -> None:
        agent = conversations.agent_of(turn_context.activity)
        latest = await interactions.latest_for_agent(self._ctx, self._tenant(turn_context), agent)
        if latest is None:
            await self._say(turn_context, t("You have no interaction yet."))
            return
        await self._send_card(turn_context, await card_for(self._ctx, latest))

    async def _show_open(self, turn_context: TurnContext) -> None:
        """The agent's open interactions, to choose which card to see."""
        agent = conversations.agent_of(turn_context.activity)
        card = await open_interactions_card(
            self._ctx, self._tenant(turn_context), agent, self._locale(turn_context)
        )
        await self._send_card(turn_context, card)

    async def _demo(self, turn_context: TurnContext, text: str) -> bool:
        """Demo commands that play the contact-center platform's part."""
        activity = turn_context.activity
        tenant, agent = self._tenant(turn_context), conversations.agent_of(activity)
        start = _DEMO_START.match(text)
        event_name = _DEMO_EVENTS.get(text.lower())
        try:
            if start:
                await self._demo_start(tenant, agent, _DEMO_CHANNELS[start[1].lower()], start[2])
                if not conversations.is_personal(activity):
                    await self._say(
                        turn_context,
                        t("The customer card opens in your personal chat with crmcard."),
                    )
                return True
            if event_name is not None:
                latest = await interactions.latest_for_agent(self._ctx, tenant, agent)
                if latest is None:
                    await self._say(turn_context, t("Start an interaction first: call +1 555 0100"))
                    return True
                identifier = latest.identities[0].identifier
                await interactions.ingest(
                    self._ctx,
                    tenant,
                    self._demo_event(
                        latest.id,
                        event_name,
                        latest.channel.value,
                        agent,
                        {identifier.kind.value: identifier.value.split(":", 1)[-1]},
                    ),
                )
                return True
        except (DomainError, ValueError) as error:
            reason = error.message if isinstance(error, DomainError) else str(error)
            await self._say(turn_context, t("That did not work: {error}", error=reason))
            return True
        return False

    async def _demo_start(self, tenant: str, agent: str, channel: str, who: str) -> None:
        interaction_id = f"demo-{uuid.uuid4().hex[:12]}"
        kind = "email" if "@" in who else ("handle" if channel == "chat" else "phone")
        for event in (LifecycleEvent.assigned, LifecycleEvent.connected):
            await interactions.ingest(
                self._ctx,
                tenant,
                self._demo_event(interaction_id, event, channel, agent, {kind: who}),
            )

    def _demo_event(
        self,
        interaction_id: str,
        event: LifecycleEvent,
        channel: str,
        agent: str,
        customer: dict[str, str],
    ) -> interactions.InteractionEventIn:
        return interactions.InteractionEventIn.model_validate(
            {
                "interactionId": interaction_id,
                "event": event.value,
                "occurredAt": self._ctx.clock(),
                "channel": channel,
                "agent": {"aadObjectId": agent},
                "customer": customer,
                "queue": "Demo queue",
            }
        )

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        name = turn_context.activity.name
        tenant = self._tenant(turn_context)
        if name in message_extension.INVOKES:
            asked = self._sign_in and await self._sign_in.compose_extension(
                turn_context.activity, tenant, self._locale(turn_context)
            )
            if asked:
                return asked
            return await message_extension.INVOKES[name](
                self._ctx, tenant, turn_context.activity.value, self._locale(turn_context)
            )
        if name == sign_in.TOKEN_EXCHANGE and self._sign_in:
            response = await self._sign_in.exchange(turn_context.activity, tenant)
        elif name == sign_in.VERIFY_STATE and self._sign_in:
            response = await self._sign_in.verify_state(turn_context.activity, tenant)
        elif name != "adaptiveCard/action":
            return await super().on_invoke_activity(turn_context)
        else:
            try:
                response = await self._card_action(turn_context)
            except Exception as error:  # every refusal and failure gets its typed answer
                response = invoke.error_for(error, await self._agent_locale(turn_context))
        # Hand the answer to the adapter directly: sent as an activity, the SDK would
        # deep-copy the whole card once more for nothing.
        turn_context.turn_state[TurnContext._INVOKE_RESPONSE_KEY] = Activity(
            type=ActivityTypes.invoke_response, value=response
        )
        return response

    async def _card_action(self, turn_context: TurnContext) -> InvokeResponse:
        value = turn_context.activity.value
        action = value.get("action") if isinstance(value, dict) else None
        if not isinstance(action, dict) or action.get("type") != "Action.Execute":
            raise InvalidInput(t("expected an Action.Execute card action"))
        verb = action.get("verb")
        data: Any = action.get("data") or {}
        if not isinstance(verb, str) or not isinstance(data, dict):
            raise InvalidInput(t("the card action has no verb or data"))
        tenant = self._tenant(turn_context)
        agent = conversations.agent_of(turn_context.activity)
        if verb == "demoCall" and self._settings.accepts_demo_commands:
            await self._demo_start(tenant, agent, "voice", str(data.get("from", "+1 555 0100")))
            return invoke.message(
                localize(
                    t("Simulated call started: the customer card is on its way."),
                    self._locale(turn_context),
                )
            )
        if verb == "linkToMine":  # a record card shared into a chat (message extension)
            _, record = await record_search.link_to_open_interaction(
                self._ctx, tenant, audit.Actor(agent, Door.teams), str(data.get("record", ""))
            )
            linked = t("Linked {title} to your open interaction.", title=record.title)
            return invoke.message(localize(linked, self._locale(turn_context)))
        actor = card_actions.Actor(user_id=agent, door=Door.teams)
        result = await card_actions.execute(self._ctx, tenant, actor, verb, data)
        return invoke.card(result.card)
