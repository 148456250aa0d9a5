"""Invoke answers and activities as sent: a customer card goes out as the bytes its size
was checked on."""

from __future__ import annotations

import orjson
from botbuilder.core import CardFactory, MessageFactory

from bot.adapters.teams import activity_json, invoke
from bot.adaptive_cards.customer_card import RenderedCard
from bot.i18n import LANGUAGES, AgentLocale
from tests.adaptive_cards.test_golden_cards import golden_cards


def test_a_rendered_card_is_sent_as_its_own_bytes_equal_to_serializing_it_again() -> None:
    for language in LANGUAGES:
        for name, card in golden_cards(AgentLocale.of(language, "Europe/Paris")).items():
            assert isinstance(card, RenderedCard), name
            body = invoke.card(card).body
            plain = {**body, "value": dict(card)}
            assert invoke.encoded(body) == orjson.dumps(plain), (language, name)


def test_the_kept_bytes_are_what_is_sent() -> None:
    card = RenderedCard({"type": "AdaptiveCard"}, b'{"type":"AdaptiveCard","kept":true}')
    sent = orjson.loads(invoke.encoded(invoke.card(card).body))
    assert sent == {
        "statusCode": 200,
        "type": "application/vnd.microsoft.card.adaptive",
        "value": {"type": "AdaptiveCard", "kept": True},
    }


def test_other_answers_are_serialized_as_they_are() -> None:
    assert orjson.loads(invoke.encoded(invoke.message("Linked.").body)) == {
        "statusCode": 200,
        "type": "application/vnd.microsoft.activity.message",
        "value": "Linked.",
    }
    merged = {**RenderedCard({"type": "AdaptiveCard"}, b"{}"), "body": []}  # a new dict
    assert orjson.loads(invoke.encoded(invoke.card(merged).body))["value"] == merged
    assert invoke.encoded(None) == b"null"


def _sent_activity(card: dict[str, object]) -> bytes:
    activity = MessageFactory.attachment(CardFactory.adaptive_card(card))
    return activity_json.dumps(activity_json.activity_to_json(activity))


def test_a_card_posted_or_updated_is_sent_as_its_own_bytes_equal_to_serializing_it() -> None:
    for language in LANGUAGES:
        for name, card in golden_cards(AgentLocale.of(language, "Europe/Paris")).items():
            assert isinstance(card, RenderedCard), name
            assert _sent_activity(card) == _sent_activity(dict(card)), (language, name)


def test_an_activity_sends_the_kept_bytes() -> None:
    card = RenderedCard({"type": "AdaptiveCard"}, b'{"type":"AdaptiveCard","kept":true}')
    [attachment] = orjson.loads(_sent_activity(card))["attachments"]
    assert attachment["content"] == {"type": "AdaptiveCard", "kept": True}
