"""Matching, survivor choice and the merge/unmerge of card documents (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.domain import identifiers
from bot.domain.cards import CardIdentity, CustomerCard, new_card
from bot.domain.identifiers import Channel
from bot.domain.merge import (
    CardFacts,
    MarkerRole,
    MergeMarker,
    ReasonKind,
    choose_survivor,
    merged,
    name_similarity,
    rank,
    score,
    unmerged,
)

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def card(
    *ids: tuple[Channel, str], name: str | None = None, interactions: list[str] | None = None
) -> CustomerCard:
    identities = []
    for channel, raw in ids:
        make = identifiers.email if "@" in raw else identifiers.phone
        identities.append(CardIdentity(channel=channel, identifier=make(raw)))
    made = new_card("t", identities, name, NOW)
    return made.model_copy(update={"interaction_ids": interactions or []})


def facts(c: CustomerCard, contacts: dict[str, str] | None = None, *names: str) -> CardFacts:
    return CardFacts(card=c, names=list(names), crm_contacts=contacts or {})


def kinds(f: CardFacts, other: CardFacts) -> set[ReasonKind]:
    found = score(f, other)
    return {r.kind for r in found.reasons} if found else set()


def test_name_similarity_is_jaro_winkler() -> None:
    assert round(name_similarity("martha", "marhta"), 3) == 0.961
    assert round(name_similarity("dwayne", "duane"), 2) == 0.84
    assert name_similarity("abc", "abc") == 1.0
    assert name_similarity("abc", "xyz") == 0.0


def test_name_similarity_ignores_case_accents_and_order() -> None:
    assert name_similarity("Édward  FERRARS", "edward ferrars") == 1.0
    assert name_similarity("Ferrars, Edward", "Edward Ferrars") == 1.0
    assert name_similarity("Edward Ferars", "Edward Ferrars") > 0.9
    assert name_similarity("Edward Ferrars", "Marianne Dashwood") < 0.7


def test_same_phone_across_channels_is_a_reason() -> None:
    voice = facts(card((Channel.voice, "+1 555 0100")))
    sms = facts(card((Channel.sms, "5550100")))
    assert kinds(voice, sms) == {ReasonKind.same_phone}


def test_personal_identifiers_rank_above_a_crm_contact_and_a_phone() -> None:
    me = facts(
        card((Channel.voice, "+1 555 0100"), (Channel.email, "e@x.com")), {"c:contact:1": "E"}
    )
    phone_only = facts(card((Channel.sms, "+1 555 0100")))
    email = facts(card((Channel.email, "E@X.com")))
    contact = facts(card((Channel.chat, "+1 555 0199")), {"c:contact:1": "E"})
    both = facts(card((Channel.email, "e@x.com")), {"c:contact:1": "E"})
    ranked = rank(me, [phone_only, email, contact, both, me])
    assert [c.card_id for c in ranked] == [
        both.card.id,
        email.card.id,
        contact.card.id,
        phone_only.card.id,
    ]
    assert {r.kind for r in ranked[0].reasons} == {
        ReasonKind.same_email,
        ReasonKind.same_crm_contact,
    }
    assert all(0.5 < c.score <= 1 for c in ranked)


def test_similar_name_reason_and_no_match() -> None:
    me = facts(card((Channel.voice, "+1 555 0100")), None, "Edward Ferrars")
    typo = facts(card((Channel.email, "ed@x.com")), None, "Edwrad Ferrars")
    other = facts(card((Channel.email, "m@x.com")), None, "Marianne Dashwood")
    found = score(me, typo)
    assert found is not None and found.reasons[0].kind is ReasonKind.similar_name
    assert "Edwrad Ferrars" in found.reasons[0].text
    assert score(me, other) is None
    assert score(me, me) is None


def test_open_card_survives_by_default() -> None:
    open_card = facts(card((Channel.voice, "+1 555 0100")))
    other = facts(card((Channel.email, "e@x.com")))
    choice = choose_survivor(open_card, other)
    assert (choice.survivor_id, choice.absorbed_id) == (open_card.card.id, other.card.id)
    both_crm = choose_survivor(facts(open_card.card, {"k": "E"}), facts(other.card, {"k": "E"}))
    assert both_crm.survivor_id == open_card.card.id


def test_crm_identified_card_is_never_dropped_for_an_anonymous_one() -> None:
    visitor = facts(card((Channel.chat, "+1 555 0100")))
    customer = facts(card((Channel.email, "e@x.com")), {"crm:contact:1": "Edward"})
    choice = choose_survivor(visitor, customer)
    assert choice.survivor_id == customer.card.id
    assert choice.absorbed_id == visitor.card.id
    # ...and the open CRM card is kept when the other one is anonymous.
    assert choose_survivor(customer, visitor).survivor_id == customer.card.id


def test_merge_then_unmerge_restores_exactly_and_keeps_later_additions() -> None:
    survivor = card((Channel.voice, "+1 555 0100"), interactions=["call-1"])
    absorbed = card((Channel.email, "e@x.com"), name="Edward", interactions=["mail-1"])
    combined = merged(survivor, absorbed)
    assert [i.identifier.value for i in combined.identities] == ["+15550100", "e@x.com"]
    assert combined.interaction_ids == ["call-1", "mail-1"]
    assert combined.display_name == "Edward"
    assert merged(combined, absorbed) is combined  # idempotent
    assert unmerged(combined, survivor, absorbed) == survivor
    later = combined.model_copy(update={"interaction_ids": [*combined.interaction_ids, "call-2"]})
    assert unmerged(later, survivor, absorbed).interaction_ids == ["call-1", "call-2"]


def test_a_marker_stored_before_holders_still_reads() -> None:
    """Markers written before holders were recorded (the absorbed cards' "merged into"
    marks stay for good) read with no holder; new ones keep theirs."""
    old = '{"audit_id":"merge-1","role":"absorbed","survivor_id":"c-1","at":"2026-11-23T08:00:00Z"}'
    marker = MergeMarker.model_validate_json(old)
    assert marker.holder is None and marker.role is MarkerRole.absorbed
    held = marker.model_copy(update={"holder": "h-1"})
    assert MergeMarker.model_validate_json(held.model_dump_json()) == held
