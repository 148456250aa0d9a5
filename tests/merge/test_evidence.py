"""Duplicate candidates weigh evidence like a record-linkage engine: how common a name is
in the tenant, agreement and disagreement per field, the household rule, plain reasons."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.composition import open_store
from bot.domain import identifiers
from bot.domain.cards import CardIdentity, new_card
from bot.domain.identifiers import Channel, IdentifierKind
from bot.domain.interactions import Agent, Interaction, ShownRecords
from bot.domain.merge import (
    ALONE_WEIGHTS,
    CLOSE_NAME,
    DETAIL_WEIGHTS,
    INITIAL_SHARE,
    NAME_EXACT_M,
    NEIGHBOUR,
    OTHER_SURNAME,
    SAME_NUMBER,
    Candidate,
    CardFacts,
    NameFrequencies,
    Reason,
    ReasonKind,
    detail_keys,
    name_match,
    other_first_name,
    rank,
    reasons,
    score,
)
from bot.domain.name_keys import name_tokens
from bot.domain.records import CrmRecord, RecordRef
from bot.services import keys, merge_candidates, name_index
from bot.services.cards import attach_interaction, get_card, resolve_card
from bot.services.context import Context
from bot.services.store import Store, create_model
from bot.settings import Settings
from tests.merge.test_name_index import TENANT, _Demo, _NoDelivery, arrive

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[Context]:
    """The local store of a fresh tenant, with the demo CRM."""
    store = open_store(Settings(_env_file=None, data_dir=tmp_path))  # type: ignore[call-arg]
    try:
        yield Context(store=store, crms=_Demo(), delivery=_NoDelivery(), clock=lambda: NOW)
    finally:
        await store.close()


def facts(
    *ids: tuple[Channel, str],
    names: tuple[str, ...] = (),
    contacts: dict[str, str] | None = None,
    fields: dict[str, dict[str, str]] | None = None,
) -> CardFacts:
    identities = [
        CardIdentity(
            channel=channel,
            identifier=identifiers.read(
                IdentifierKind.email if "@" in raw else IdentifierKind.phone,
                raw,
                channel=channel,
                default_region="DE",
            ),
        )
        for channel, raw in ids
    ]
    card = new_card("t", identities, None, NOW)
    return CardFacts(
        card=card, names=list(names), crm_contacts=contacts or {}, crm_fields=fields or {}
    )


def tenant_of(cards: int, **counts: int) -> NameFrequencies:
    tokens = {name_tokens(name)[0]: count for name, count in counts.items()}
    return NameFrequencies(cards=cards, tokens=tokens)


def test_a_common_name_alone_is_no_candidate_and_a_rare_one_is() -> None:
    big = tenant_of(1_000_000, james=30_000, smith=10_000, elinor=40, dashwood=25)
    james = facts((Channel.voice, "+49 151 23456789"), names=("James Smith",))
    namesake = facts((Channel.email, "js@example.org"), names=("James Smith",))
    assert score(james, namesake, big) is None
    elinor = facts((Channel.voice, "+49 151 23456780"), names=("Elinor Dashwood",))
    twin = facts((Channel.email, "ed@example.org"), names=("Elinor Dashwood",))
    found = score(elinor, twin, big)
    assert found is not None and found.score >= 0.9
    assert found.reasons[0].text == "Similar name: Elinor Dashwood (100%, a rare name)"


def test_a_matching_name_adds_to_a_shared_phone() -> None:
    big = tenant_of(1_000_000, james=30_000, smith=10_000)
    voice = facts((Channel.voice, "+49 151 23456789"), names=("James Smith",))
    sms = facts((Channel.sms, "4915123456789"), names=("Jim Smith",))
    bare = facts((Channel.sms, "4915123456789"))
    with_name, phone_only = score(voice, sms, big), score(voice, bare, big)
    assert with_name is not None and phone_only is not None
    assert with_name.score > phone_only.score
    assert {r.kind for r in with_name.reasons} == {ReasonKind.same_phone, ReasonKind.similar_name}


def test_household_members_sharing_a_phone_or_crm_contact_are_never_proposed() -> None:
    home = "+49 30 1234567"
    elinor = facts((Channel.voice, home), names=("Elinor Dashwood",), contacts={"c:1": "E D"})
    marianne = facts((Channel.sms, home), names=("Marianne Dashwood",), contacts={"c:1": "E D"})
    assert score(elinor, marianne) is None
    ranked = rank(elinor, [marianne])
    assert ranked == []


def test_a_nameless_call_from_a_home_landline_is_not_enough_alone() -> None:
    ivr = facts((Channel.voice, "+49 30 1234567"), contacts={"c:1": "Elinor Dashwood"})
    elinor = facts((Channel.sms, "+49 30 1234567"), names=("Elinor Dashwood",))
    assert score(ivr, elinor) is None
    mobile_ivr = facts((Channel.voice, "+49 151 23456789"))
    mobile_sms = facts((Channel.sms, "4915123456789"), names=("Elinor Dashwood",))
    found = score(mobile_ivr, mobile_sms)
    assert found is not None and found.reasons[0].text == "Same phone: +4915123456789"


def test_a_different_birth_date_outweighs_a_name_and_a_same_one_outweighs_a_new_first_name() -> (
    None
):
    def contact(name: str, key: str, born: str, **more: str) -> CardFacts:
        return facts(names=(name,), fields={key: {"birthdate": born, **more}})

    me = contact("Anna Weber", "crm:contact:1", "19800102", zip="10115")
    assert score(me, contact("Anna Weber", "crm:contact:2", "19711230")) is None
    renamed = contact("Petra Weber", "crm:contact:3", "19800102", zip="10115")
    found = score(me, renamed)
    assert found is not None
    assert "Same details: birth date, postcode" in [r.text for r in found.reasons]
    assert any(r.text.startswith("Different name: same surname") for r in found.reasons)
    # The same name at the same postcode outweighs a birth date typed another way.
    retyped = score(me, contact("Anna Weber", "crm:contact:4", "19711230", zip="10115"))
    assert retyped is not None
    assert [r.text for r in retyped.reasons][-1] == "Different details: birth date"


async def test_the_frequency_table_is_kept_with_the_name_index(ctx: Context) -> None:
    store = ctx.store
    first = await arrive(ctx, "c-1", "voice", "Anna Weber", phone="+1 555 0101")
    await arrive(ctx, "c-2", "voice", "Anna Weber", phone="+1 555 0101")  # same card
    await arrive(ctx, "c-3", "voice", "Anne Müller", phone="+1 555 0102")
    await arrive(ctx, "c-4", "voice", "Jan Mueller", phone="+1 555 0103")
    table = await name_index.frequencies(store, TENANT, ["Anna Weber", "Hans Muller"])
    assert table.cards == 3
    count = {name: table.tokens[name_tokens(name)[0]] for name in ("anna", "weber", "muller")}
    assert count == {"anna": 2, "weber": 1, "muller": 2}  # Anna/Anne, Müller/Mueller
    # ...and as spelt, among the cards whose spellings were counted: all three here.
    assert table.spelt == 3
    assert {t: table.tokens[t] for t in ("=anna", "=muller", "=hans")} == {
        "=anna": 1,
        "=muller": 1,  # Müller; Mueller is spelt otherwise
        "=hans": 0,
    }
    assert await _candidates_of(ctx, first) == []


async def _card_of(
    store: Store, n: int, name: str, born: str, street: str = "14 Miller Street", zip: str = "2617"
) -> str:
    """A chat card whose interaction found CRM contact C<n> with these details."""
    handle = identifiers.handle(Channel.chat, f"h{n}")
    identity = CardIdentity(channel=Channel.chat, identifier=handle)
    card, _ = await resolve_card(store, TENANT, [identity], name, NOW)
    fields = {"birthdate": born, "zip": zip, "street": street}
    record = CrmRecord(
        ref=RecordRef(crm="crm", type="contact", id=f"C{n}"),
        title=name,
        fields={k: v for k, v in fields.items() if v},
    )
    interaction = Interaction(
        id=f"i-{n}",
        tenant_id=TENANT,
        card_id=card.id,
        channel=Channel.chat,
        agent=Agent(aad_object_id="agent"),
        customer_name=name,
        identities=[identity],
        shown=ShownRecords(records={record.ref.key: record}, person=[record.ref.key]),
    )
    await create_model(store, keys.interaction(TENANT, interaction.id), interaction)
    await attach_interaction(store, TENANT, card.id, interaction.id)
    await name_index.index_interaction(store, TENANT, interaction)
    return card.id


async def _candidates_of(ctx: Context, card_id: str) -> list[Candidate]:
    card = await get_card(ctx.store, TENANT, card_id)
    assert card is not None
    return await merge_candidates.candidates(ctx, TENANT, card)


async def test_a_shared_birth_date_finds_a_name_written_too_differently_for_the_name_blocks(
    ctx: Context,
) -> None:
    store = ctx.store
    first = await _card_of(store, 1, "Joshua Whiteway", "19560615")
    twin = await _card_of(store, 2, "Jsohua Whitaway", "19560615")  # no shared name block
    # Born the same day, nothing else alike; and one living in the same house.
    await _card_of(store, 3, "Ann Kowalski", "19560615", street="3 Ebden Street", zip="3000")
    housemate = await _card_of(store, 4, "Jsohua Whitaway", "19610203")
    assert twin not in await name_index.lookup_names(store, TENANT, ["Joshua Whiteway"])
    found = await _candidates_of(ctx, first)
    assert [c.card_id for c in found] == [twin, housemate]  # by the house's block
    assert "Same details: birth date, street, postcode" in [r.text for r in found[0].reasons]


async def test_a_postcode_and_a_name_start_find_a_name_written_too_differently_for_the_name_blocks(
    ctx: Context,
) -> None:
    store = ctx.store
    first = await _card_of(store, 1, "Oscar Bitmead", "19191217", "4 Ellerston Avenue", "4020")
    # Both names typed wrong, another birth date, another house number: no name, birth
    # date or house block in common; the postcode and the name's start are.
    retyped = await _card_of(store, 2, "Oscaf Bitmaed", "", "14 Ellerston Avenue", "4020")
    # The postcode and the name's start alone: nothing alike, never read.
    await _card_of(store, 3, "Oswin Kerr", "", "9 Tully Street", "4020")
    assert retyped not in await name_index.lookup_names(store, TENANT, ["Oscar Bitmead"])
    found = await _candidates_of(ctx, first)
    assert [c.card_id for c in found] == [retyped]
    assert "Same details: street, another house number, postcode" in [
        r.text for r in found[0].reasons
    ]


async def test_a_surname_typed_wrong_in_its_first_letters_is_found_by_the_rest_of_it(
    ctx: Context,
) -> None:
    # "Bteheny" no longer sounds like Breheny, the postcode's digits are swapped, the
    # house number is another: no phonetic, surname-start, house or postcode block.
    typed = await _card_of(ctx.store, 2, "Riley Bteheny", "", "14 Barritt Street", "0586")
    riley = await _card_of(ctx.store, 1, "Riley Breheny", "", "42 Barritt Street", "5086")
    [found] = await _candidates_of(ctx, riley)
    assert (found.card_id, found.reasons[0].kind) == (typed, ReasonKind.similar_name)


async def test_a_birth_day_few_cards_share_is_read_whole_whatever_the_names(ctx: Context) -> None:
    store = ctx.store
    first = await _card_of(store, 1, "Max Kirby-Fahey", "19800916", "21 Duffy Street", "2130")
    # Born that day a house away, a first name alone, the postcode typed anew: no name,
    # house, postcode or birth-postcode block in common, only the birth day's.
    alisha = await _card_of(store, 2, "Alisha", "19800916", "22 Duffy Street", "3134")
    found = await _candidates_of(ctx, first)
    assert [c.card_id for c in found] == [alisha]
    assert "Same details: birth date, street, another house number" in [
        r.text for r in found[0].reasons
    ]
    # A day many cards share is not read whole: the lookup's reads stay bounded.
    for n in range(3, 3 + merge_candidates.FEW_BORN_THAT_DAY):
        await _card_of(store, n, f"Person{n} Other{n}", "19800916", "1 Elm Road", "9000")
    assert await _candidates_of(ctx, first) == []


def test_another_house_number_on_the_street_is_a_neighbour_not_the_same_house() -> None:
    big = tenant_of(1_000_000, katharina=5_000, koch=3_000, schneider=8_000, elinor=40)

    def at(name: str, street: str, key: str) -> CardFacts:
        return facts(names=(name,), fields={key: {"street": street, "zip": "10115"}})

    koch = at("Katharina Koch", "Dorfstraße 25", "c:1")
    # Same first name, another surname, the neighbour's house: not the same person.
    assert score(koch, at("Katharina Schneider", "Dorfstraße 23", "c:2"), big) is None
    # The same name two doors down: the number typed wrong, maybe; a little evidence only.
    two_doors = at("Elinor Dashwood", "Dorfstr. 23", "c:4")
    found = score(at("Elinor Dashwood", "Dorfstr. 25", "c:3"), two_doors, big)
    assert found is not None
    same = next(r for r in found.reasons if r.kind is ReasonKind.same_details)
    assert same.text == "Same details: street, another house number, postcode"
    assert same.weight == NEIGHBOUR + DETAIL_WEIGHTS["postcode"][0]
    # The house number alone is no street: it is told as the house number only.
    other = reasons(koch, at("Katharina Koch", "Gartenstraße 25", "c:5"), big)
    assert "Same details: street, the house number only, postcode" in [r.text for r in other]


def test_the_same_house_number_under_another_street_name_is_the_street_written_anew() -> None:
    from bot.i18n import AgentLocale, localize
    from bot.services.card_actions.merging import _reason

    tenant = tenant_of(10_000, emily=150, green=60, mia=50)

    def at(name: str, street: str, key: str, zip_code: str = "2290") -> CardFacts:
        home = {"street": street, "zip": zip_code, "city": "Mount Colah"}
        born = "19340525" if key == "c:1" else "19310530"
        return facts(names=(name,), fields={key: {**home, "birthdate": born}})

    emily = at("Emily Green", "31 Julius Street", "c:1")
    # One name, one postcode, one house number under a street name written anew, and a
    # birth date typed anew: the person.
    found = score(emily, at("Emily Green", "31 Applegate Lane", "c:2"), tenant)
    assert found is not None
    same = next(r for r in found.reasons if r.kind is ReasonKind.same_details)
    assert same.text == "Same details: street, the house number only, postcode, city"
    assert same.weight == SAME_NUMBER + ALONE_WEIGHTS["postcode"][1] + DETAIL_WEIGHTS["city"][0]
    assert localize(_reason(same), AgentLocale(language="de")) == (
        "Gleiche Angaben: Straße, nur die Hausnummer, Postleitzahl, Ort"
    )
    assert localize(_reason(same), AgentLocale(language="fr")).endswith(
        "rue, seul le numéro de rue, code postal, ville"
    )
    # Another house number there too: another street.
    assert score(emily, at("Emily Green", "12 Applegate Lane", "c:3"), tenant) is None
    # In another postcode one house number is two addresses.
    elsewhere = reasons(emily, at("Emily Green", "31 Applegate Lane", "c:4", "3000"), tenant)
    assert "Different details: birth date, street, postcode" in [r.text for r in elsewhere]
    # A relative at that number: for a household only a birth date counts.
    assert score(emily, at("Mia Green", "31 Applegate Lane", "c:5"), tenant) is None


def test_an_initial_agrees_only_on_a_letter() -> None:
    def person(name: str, street: str, key: str) -> CardFacts:
        return facts(names=(name,), fields={key: {"street": street, "zip": "59000"}})

    meard = person("C. Meard", "avenue Victor Hugo 105", "c:1")
    foard = person("Catherine Foard", "rue de la Gare 113", "c:2")
    assert score(meard, foard) is None
    found = reasons(meard, foard)
    name = next(r for r in found if r.kind is ReasonKind.other_name)
    assert name.weight == round(math.log2(NAME_EXACT_M / INITIAL_SHARE) + OTHER_SURNAME, 3)


def test_names_compare_in_any_order_and_with_surnames_of_several_words() -> None:
    pairs = [
        ("Amper Neumann", "Neumann Amner"),  # surname first, a typo in the first name
        ("Chelsea van Groesen", "van Groesen Chelsea"),
        ("Dante Davila-Sanders", "Davila-Sanders Dante"),
        ("Nguy En Eliza", "Eliza Nguyen"),  # a stray space
    ]
    for a, b in pairs:
        assert name_match(a, b) == name_match(b, a) >= CLOSE_NAME, (a, b)
    assert name_match("Marianne Dashwood", "Dashwood Elinor") == 0.0


def test_a_name_written_surname_first_is_not_a_relative() -> None:
    amper = facts(names=("Amper Neumann",))
    assert not other_first_name(amper, facts(names=("Neumann Amner",)))
    assert other_first_name(amper, facts(names=("Greta Neumann",)))


def test_born_the_same_day_in_the_same_house_under_another_name_is_one_person_not_a_twin() -> None:
    def person(name: str, key: str, born: str) -> CardFacts:
        house = {"birthdate": born, "street": "45 Canberra Street", "zip": "2485"}
        return facts(names=(name,), fields={key: house})

    joel = person("Joel Bordin", "crm:contact:1", "19510904")
    rewritten = score(joel, person("Silas Dent", "crm:contact:2", "19510904"))
    assert rewritten is not None
    assert "Same details: birth date, street, postcode" in [r.text for r in rewritten.reasons]
    # Twins share a surname, a birth date and a home: only the birth date counts for them.
    twin = score(joel, person("Anna Bordin", "crm:contact:3", "19510904"))
    assert twin is not None
    same = next(r for r in twin.reasons if r.kind is ReasonKind.same_details)
    assert same.weight == DETAIL_WEIGHTS["birth date"][0]


def test_a_postcode_says_more_when_the_streets_do_not_say_it_already() -> None:
    def at(street: str | None, key: str) -> CardFacts:
        fields = {"zip": "10115", "city": "Berlin", **({"street": street} if street else {})}
        return facts(names=("Elinor Dashwood",), fields={key: fields})

    def agreeing(a: CardFacts, b: CardFacts) -> float:
        found = score(a, b)
        assert found is not None
        return next(r.weight for r in found.reasons if r.kind is ReasonKind.same_details)

    street, city = DETAIL_WEIGHTS["street"][0], DETAIL_WEIGHTS["city"][0]
    unknown, differs = ALONE_WEIGHTS["postcode"]
    assert agreeing(at("Chausseestr. 5", "c:1"), at("Chausseestr. 5", "c:2")) == (
        street + DETAIL_WEIGHTS["postcode"][0] + city
    )
    assert agreeing(at(None, "c:3"), at("Chausseestr. 5", "c:4")) == unknown + city
    assert agreeing(at("Tieckstr. 2", "c:5"), at("Chausseestr. 5", "c:6")) == differs + city


def test_details_file_a_card_under_its_birth_date_its_house_and_its_postcode_name_starts() -> None:
    fields = {"birthdate": "1956-06-15", "mailing_street": "14 Miller Street", "zip": "26 17"}
    assert detail_keys(fields, "Bob Whiteway") == [
        "dob:19560615",
        "dz:19560615:2617",
        "ad:2617:14",
        "zn:2617:ro",  # Bob: Robert
        "zn:2617:wh",
    ]
    assert detail_keys({"street": "Miller Street"}, "Joshua Whiteway") == []


def test_a_birth_date_slip_is_close_and_another_format_is_the_same_date() -> None:
    def born(value: str, key: str) -> CardFacts:
        return facts(names=("Elinor Dashwood",), fields={key: {"birthdate": value}})

    def level(a: str, b: str) -> str:
        found = score(born(a, "c:1"), born(b, "c:2"))
        assert found is not None
        return next(r.detail for r in found.reasons if r.kind is not ReasonKind.similar_name)

    assert level("1956-06-15", "19560615") == "birth date"  # same date, another format
    for slip in ("19560616", "19560651", "19561506"):  # a digit, two swapped, day/month
        found = score(born("19560615", "c:1"), born(slip, "c:2"))
        assert found is not None
        weights = [r.weight for r in found.reasons if r.kind is ReasonKind.same_details]
        assert weights == [DETAIL_WEIGHTS["birth date"][1]], slip
    # Two digits apart: another date, which outweighs the name alone.
    assert score(born("19560615", "c:1"), born("19580715", "c:2")) is None


def test_every_reason_a_candidate_carries_is_told_on_the_card_in_each_language() -> None:
    from bot.i18n import AgentLocale, localize
    from bot.services.card_actions.merging import _reason

    told = {
        language: [
            localize(
                _reason(Reason(kind=kind, detail="x", weight=0.0)), AgentLocale(language=language)
            )
            for kind in ReasonKind
        ]
        for language in ("en", "de", "fr")
    }
    assert told["en"][-2:] == ["Different name: x", "Different details: x"]
    assert told["de"][-2:] == ["Anderer Name: x", "Abweichende Angaben: x"]
    assert told["fr"][-2:] == ["Nom différent : x", "Coordonnées différentes : x"]
    assert len(set(told["de"])) == len(ReasonKind)


def test_a_first_name_typed_wrong_is_nearly_the_same_and_a_relatives_is_another() -> None:
    tenant = tenant_of(10_000, clarke=300, weber=300, james=100, paula=30, pablo=30)

    def person(name: str, key: str, born: str | None = None) -> CardFacts:
        home = {"street": "119 Moondarra Street", "zip": "3095", "city": "Tweed Heads"}
        born_on = {"birthdate": born} if born else {}
        return facts(names=(name,), fields={key: {**home, **born_on}})

    james = person("James Clarke", "c:1", "19061129")
    typed = score(james, person("Jaemo Clatke", "c:2", "19061129"), tenant)
    assert typed is not None
    assert any("a first name nearly the same: jaemo clatke" in r.text for r in typed.reasons)
    # Born that day in that home under another first name: a twin as much as a typo.
    assert score(james, person("Ebony Clarke", "c:3", "19061129"), tenant) is None
    # Alike names of one home, no birth date: relatives still, the home counts for nothing.
    pablo = reasons(person("Paula Weber", "c:4"), person("Pablo Weber", "c:5"), tenant)
    assert any("a first name nearly the same" in r.text for r in pablo)
    assert score(person("Paula Weber", "c:4"), person("Pablo Weber", "c:5"), tenant) is None


def test_a_city_typed_wrong_is_close() -> None:
    def at(city: str, key: str) -> CardFacts:
        return facts(names=("Elinor Dashwood",), fields={key: {"city": city}})

    close = reasons(at("Casino", "c:1"), at("Caisno", "c:2"))
    assert [(r.text, r.weight) for r in close if r.kind is ReasonKind.same_details] == [
        ("Same details: city", DETAIL_WEIGHTS["city"][1])
    ]
    other = reasons(at("Casino", "c:1"), at("Lismore", "c:3"))
    assert "Different details: city" in [r.text for r in other]


def test_a_new_surname_is_weak_evidence_unless_the_home_or_more_agrees() -> None:
    tenant = tenant_of(10_000, aidan=50, anna=50)

    def person(name: str, key: str, street: str, zip: str, city: str) -> CardFacts:
        fields = {"birthdate": "19410718", "street": street, "zip": zip, "city": city}
        return facts(names=(name,), fields={key: fields})

    webb = person("Aidan Webb", "c:1", "14 Benny Place", "6023", "Rosewater")
    # The same first name and birth day, another surname, home, postcode and city.
    assert (
        score(webb, person("Aidan Campbell", "c:2", "41 Edwards St", "4130", "Rolleston"), tenant)
        is None
    )
    # Married, same home: the new surname is no obstacle.
    anna = person("Anna Weber", "c:3", "Dorfstraße 5", "10115", "Berlin")
    married = score(anna, person("Anna Schulz", "c:4", "Dorfstraße 5", "10115", "Berlin"), tenant)
    assert married is not None
    assert any(
        r.text.startswith("Different name: same first name, another surname")
        for r in married.reasons
    )


def test_a_candidates_details_are_told_in_the_readers_words() -> None:
    from bot.i18n import AgentLocale, localize
    from bot.services.card_actions.merging import _reason

    big = tenant_of(100_000, dashwood=20, clarke=300)

    def at(name: str, street: str, key: str, born: str = "19800101") -> CardFacts:
        home = {"street": street, "zip": "10115", "birthdate": born}
        return facts(names=(name,), fields={key: home})

    found = score(
        at("Elinor Dashwood", "Dorfstr. 25", "c:1"),
        at("Elinor Dashwood", "Dorfstr. 23", "c:2"),
        big,
    )
    assert found is not None
    told = {
        language: [localize(_reason(r), AgentLocale(language=language)) for r in found.reasons]
        for language in ("en", "de", "fr")
    }
    assert "Same details: birth date, street, another house number, postcode" in told["en"]
    assert "Gleiche Angaben: Geburtsdatum, Straße, andere Hausnummer, Postleitzahl" in told["de"]
    assert any(r == "Nom proche : Elinor Dashwood (100%, un nom rare)" for r in told["fr"]), told[
        "fr"
    ]
    relatives = reasons(
        at("James Clarke", "Dorfstr. 25", "c:3"),
        at("Ebony Clarke", "Dorfstr. 25", "c:4", "19751231"),
        big,
    )
    german = [localize(_reason(r), AgentLocale(language="de")) for r in relatives]
    assert any(
        "gleicher Nachname, anderer Vorname: ebony clarke / james clarke" in r for r in german
    ), german
    assert any(r.endswith("Abweichende Angaben: Geburtsdatum") for r in german), german


def test_a_surname_alone_is_a_family_name_its_home_counts_beside_a_birth_date_it_shares() -> None:
    tenant = tenant_of(10_000, mitchell=300, noyce=3)

    def person(name: str, key: str, born: str, street: str = "5 Rosella Street") -> CardFacts:
        details = {"birthdate": born, "street": street, "zip": "2540"}
        return facts(names=(name,), fields={key: details})

    def name_weight(found: list[Reason]) -> float:
        return next(r.weight for r in found if r.kind is ReasonKind.similar_name)

    mitchell = person("Mitchell Noyce", "c:1", "19660901")
    # The birth date typed with two digits swapped, the street without its space: him,
    # "Noyce" being the family's name, not another first name...
    noyce = person("Noyce", "c:4", "19660091", "5 Rosellastreet")
    typed = score(noyce, mitchell, tenant)
    assert typed is not None
    assert "Same details: birth date, street, postcode" in [r.text for r in typed.reasons]
    # ...as "Charlotte" is: someone else of the home, whose birth date alone counts.
    assert score(person("Charlotte", "c:3", "19660091", "5 Rosellastreet"), mitchell) is None
    # "Noyce" says as much as it is rare, whatever first name the other card adds.
    ann = person("Ann Noyce", "c:5", "19660901")
    assert name_weight(reasons(noyce, mitchell, tenant)) == name_weight(reasons(noyce, ann, tenant))
    # A family name and a birth date decades apart: anyone of the family, and the home
    # counts for nothing.
    father = person("Noyce", "c:6", "19380215")
    same = next(r for r in reasons(father, mitchell, tenant) if r.kind is ReasonKind.same_details)
    assert same.weight == 0
    assert score(father, mitchell, tenant) is None
    # A home's line that "Noyce" and Mitchell Noyce both called from stays the home's.
    line = "+49 30 1234567"
    at_home = reasons(
        facts((Channel.voice, line), names=("Noyce",)),
        facts((Channel.voice, line), names=("Mitchell Noyce",)),
        tenant,
    )
    assert next(r.weight for r in at_home if r.kind is ReasonKind.same_phone) == 0


def test_of_one_name_and_home_a_birth_date_slip_is_the_person_and_a_generation_apart_is_told() -> (
    None
):
    from bot.i18n import AgentLocale, localize
    from bot.services.card_actions.merging import _reason

    tenant = tenant_of(10_000, anna=100, weber=200)
    home = {"street": "Dorfstraße 5", "zip": "10115", "city": "Berlin"}

    def anna(key: str, born: str) -> CardFacts:
        return facts(names=("Anna Weber",), fields={key: {**home, "birthdate": born}})

    me = anna("c:1", "19800102")
    typed = score(me, anna("c:2", "19800120"), tenant)  # day's digits swapped
    assert typed is not None and typed.score > 0.99
    assert "Same details: birth date, street, postcode, city" in [r.text for r in typed.reasons]
    # A date typed anew within a generation is just another date...
    near = reasons(me, anna("c:3", "19761230"), tenant)
    assert "Different details: birth date" in [r.text for r in near]
    # ...one a generation apart may be a parent and the child named after them: it says so.
    parent = reasons(me, anna("c:4", "19550102"), tenant)
    other = next(r for r in parent if r.kind is ReasonKind.other_details)
    assert other.text == "Different details: birth date, a generation apart"
    assert localize(_reason(other), AgentLocale(language="de")) == (
        "Abweichende Angaben: Geburtsdatum, eine Generation auseinander"
    )
    assert localize(_reason(other), AgentLocale(language="fr")).endswith(
        "date de naissance, à une génération d\u2019écart"
    )
    # Twins: one surname, one birth day, one home, another first name. With a surname
    # this common in the tenant the day is theirs, not one person's.
    twin = facts(names=("Petra Weber",), fields={"c:5": {**home, "birthdate": "19800102"}})
    assert score(me, twin, tenant_of(10_000, anna=100, weber=400)) is None


def test_a_name_spelt_alike_weighs_as_rare_as_its_spelling_where_spellings_were_counted() -> None:
    reid, kira = name_tokens("Reid")[0], name_tokens("Kira")[0]  # Reid, Reed, Read, Rudd...
    counted = {reid: 300, kira: 500}
    tenant = NameFrequencies(
        cards=10_000, spelt=10_000, tokens={**counted, "=reid": 3, "=kira": 400}
    )
    assert tenant.agreeing("reid", "reid") < tenant.agreeing("reid", "reed") == tenant.share(reid)

    def told(frequencies: NameFrequencies) -> Reason:
        found = reasons(facts(names=("Kira Reid",)), facts(names=("Kira Reid",)), frequencies)
        return next(r for r in found if r.kind is ReasonKind.similar_name)

    assert told(tenant).text == "Similar name: Kira Reid (100%, a rare name)"
    # A tenant whose cards were counted before spellings were: a spelling is as common as
    # its sound, nothing rarer.
    before = NameFrequencies(cards=10_000, tokens=counted)
    assert before.agreeing("reid", "reid") == before.share(reid)
    assert told(before).text == "Similar name: Kira Reid (100%, about 14 cards by chance)"
    assert told(before).weight < told(tenant).weight
