"""Merging two customer cards of one person: who matches, who survives, what comes out.

Pure functions only. Matching explains itself (every candidate carries the reasons it
matched), the survivor is chosen by an explicit rule, and a merge always comes with the
exact before-state of both cards so that it can be undone.

Survivor rule: the open card survives, unless it is anonymous (no CRM contact or lead
found or linked on it) and the other card has a CRM identity; then the CRM-identified
card survives. A real customer is never dropped in favour of a throwaway visitor.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

import jellyfish
from pydantic import Field

from bot.domain.api_model import Model
from bot.domain.cards import CardIdentity, CustomerCard
from bot.domain.identifiers import IdentifierKind, is_landline
from bot.domain.name_keys import (
    canonical_given,
    name_splits,
    name_tokens,
    normalise_name,
    phonetic,
    spelling_tokens,
)
from bot.i18n import StoredText, Text, nt, t

NAME_MATCH_MIN = 0.35  # name_match that makes a "similar name" reason
SURNAME_MIN = 0.9  # Jaro-Winkler of surnames for two full names to match
GIVEN_MIN = 0.85  # ...and of given names (nicknames read as their given name)
CLOSE_NAME = GIVEN_MIN * SURNAME_MIN  # name_match of two full names that agree


class ReasonKind(StrEnum):
    same_phone = "same-phone"
    same_email = "same-email"
    same_handle = "same-handle"
    same_crm_contact = "same-crm-contact"
    similar_name = "similar-name"
    same_details = "same-details"
    other_name = "other-name"
    other_details = "other-details"


# Details of the CRM contacts found for two cards (different CRM records), by the field
# names CRMs use (weights: DETAIL_WEIGHTS).
DETAIL_FIELDS: dict[str, tuple[str, ...]] = {
    "birth date": ("birthdate", "date_of_birth", "birth_date", "dob"),
    "street": ("street", "mailing_street", "address", "address_1", "address_line1"),
    "postcode": ("zip", "postcode", "postal_code", "mailing_postal_code"),
    "city": ("city", "suburb", "mailing_city", "town"),
}


def detail_keys(fields: dict[str, str], name: str) -> list[str]:
    """Name-index blocks a CRM contact's details file its card under: its birth date
    (``dob:``), its birth date with its postcode (``dz:``), its postcode with the house
    number (``ad:``) and its postcode with the first two letters of its name's first and
    last token (``zn:``, a nickname read as its given name), the ways to a duplicate whose
    name was written too differently for the name blocks ("Oscaf Bitmaed" for "Oscar
    Bitmead", born another day, at another house number). All are small blocks: a day's
    births, fewer of them in one postcode, one house's people, a postcode's people whose
    name starts alike."""
    found = []
    born = _detail(fields, "birth date") or ""
    postcode = (_detail(fields, "postcode") or "").replace(" ", "")
    street = _detail(fields, "street") or ""
    number = _house_number(street)
    if len(born) >= 6:
        found.append(f"dob:{born}")
        if postcode:
            found.append(f"dz:{born}:{postcode}")
    if postcode and number:
        found.append(f"ad:{postcode}:{number}")
    if postcode:
        found += [f"zn:{postcode}:{start}" for start in _name_starts(name)]
    return found


def _name_starts(name: str) -> list[str]:
    """The first two letters of a name's first and last token (nicknames read as the
    given name): "Bob Smith" -> ro, sm."""
    tokens = [canonical_given(t) for t in normalise_name(name).split() if len(t) > 1]
    return list(dict.fromkeys(t[:2] for t in tokens[:1] + tokens[-1:]))


def _house_number(street: str) -> str | None:
    return next((t for t in street.split() if t.isdigit()), None)


class Reason(Model):
    kind: ReasonKind
    detail: StoredText = Field(description="what agreed or differed, told in the reader's words")
    weight: float

    @property
    def text(self) -> Text:
        """The reason in plain words (English; a :class:`Text`, shown translated)."""
        return REASON_TEXTS[self.kind].fill(detail=self.detail)


REASON_TEXTS = {
    ReasonKind.same_phone: t("Same phone: {detail}"),
    ReasonKind.same_email: t("Same email: {detail}"),
    ReasonKind.same_handle: t("Same handle: {detail}"),
    ReasonKind.same_crm_contact: t("Same CRM contact: {detail}"),
    ReasonKind.similar_name: t("Similar name: {detail}"),
    ReasonKind.same_details: t("Same details: {detail}"),
    ReasonKind.other_name: t("Different name: {detail}"),
    ReasonKind.other_details: t("Different details: {detail}"),
}


class CardFacts(Model):
    """A card plus what its interactions taught us about the person behind it."""

    card: CustomerCard
    names: list[str] = Field(default_factory=list)
    crm_contacts: dict[str, str] = Field(
        default_factory=dict, description="contact/lead record key -> title"
    )
    crm_fields: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="contact/lead record key -> its fields"
    )

    @property
    def has_crm_identity(self) -> bool:
        return bool(self.crm_contacts)

    @property
    def name(self) -> str:
        if self.crm_contacts:
            return next(iter(self.crm_contacts.values()))
        return self.names[0] if self.names else ""


class Candidate(Model):
    card_id: str
    name: str
    score: float
    reasons: list[Reason]


# --- name similarity ------------------------------------------------------------------


def _forms(name: str) -> list[str]:
    """The normalised name, and with nicknames put to their given name ("bob" -> "robert")."""
    plain = normalise_name(name)
    canonical = " ".join(canonical_given(t) for t in plain.split())
    return [plain] if canonical == plain else [plain, canonical]


def name_similarity(a: str, b: str) -> float:
    """Jaro-Winkler on normalised names, also with tokens sorted ("Ferrars, Edward") and
    nicknames read as the given name they stand for ("Bob Smith" ~ "Robert Smith").

    Uses jellyfish's Jaro-Winkler (a compiled implementation): the
    candidate lookup compares a card's names with every name in its index blocks.
    """
    best = 0.0
    for x in _forms(a):
        for y in _forms(b):
            if not x or not y:
                continue
            if x.replace(" ", "") == y.replace(" ", ""):
                return 1.0  # "Riley H O" is "Riley Ho" with a stray space
            direct = jellyfish.jaro_winkler_similarity(x, y)
            ordered = jellyfish.jaro_winkler_similarity(
                " ".join(sorted(x.split())), " ".join(sorted(y.split()))
            )
            best = max(best, direct, ordered)
    return best


def _given_similarity(a: str, b: str) -> float:
    """Jaro-Winkler of given names (nicknames read as the name), 0 for names more than
    two typos apart: "Frank" is not "Franziska", however alike they start."""
    x, y = canonical_given(a), canonical_given(b)
    if x == y:
        return 1.0
    if jellyfish.damerau_levenshtein_distance(x, y) > 2:
        return 0.0
    return jellyfish.jaro_winkler_similarity(x, y)


def _surname_similarity(a: str, b: str) -> float:
    """Jaro-Winkler of surnames; SURNAME_MIN for two that sound the same ("Smith",
    "Smyth"); 0 for two more than two typos apart ("Frank" is no surname of "Franziska")."""
    if a == b:
        return 1.0
    similarity = jellyfish.jaro_winkler_similarity(a, b)
    if similarity >= SURNAME_MIN and jellyfish.damerau_levenshtein_distance(a, b) <= 2:
        return similarity
    return SURNAME_MIN if phonetic(a) == phonetic(b) else 0.0


def name_match(a: str, b: str) -> float:
    """How strongly two names say "same person", in [0, 1]; structured, unlike
    :func:`name_similarity`: surname and given name must each be close.

    Full names: surname Jaro-Winkler >= SURNAME_MIN and given name >= GIVEN_MIN (after
    nicknames: "Liz Dashwod" ~ "Elizabeth Dashwood"; a surname that sounds the same
    counts SURNAME_MIN), in either order ("Ferrars, Edward");
    the product of the two. A name of three tokens or more is also read as a given name
    and a surname of several words, either way round ("Chelsea van Groesen" ~ "van
    Groesen Chelsea", "Nguy en Eliza" ~ "Eliza Nguyen"). An initial for a given name
    ("C. Smith") counts 0.7 when it agrees. A name of one token ("Christopher") says
    little: 0.4 times its best match with the other name's first or last token. "Mia
    Jones" and "Mia Johnson", or the household's "Elinor Dashwood" and "Marianne
    Dashwood", do not match.
    """
    ta, tb = normalise_name(a).split(), normalise_name(b).split()
    if not ta or not tb:
        return 0.0
    if len(ta) == 1 or len(tb) == 1:
        single, other = (ta, tb) if len(ta) == 1 else (tb, ta)
        if len(single[0]) < 2:
            return 0.0
        return 0.4 * max(_given_similarity(single[0], t) for t in {other[0], other[-1]})
    best = 0.0
    # Either name may be written surname first: every reading of one against every
    # reading of the other, so the result does not depend on the argument order.
    readings = [[r for g, s in name_splits(t) for r in ((g, s), (s, g))] for t in (ta, tb)]
    for g1, s1 in readings[0]:
        for g2, s2 in readings[1]:
            surname = _surname_similarity(s1, s2)
            if surname < SURNAME_MIN:
                continue
            if len(g1) == 1 or len(g2) == 1:
                given = 0.7 if g1[0] == g2[0] else 0.0
            else:
                given = _given_similarity(g1, g2)
                if given < GIVEN_MIN:
                    continue
            best = max(best, surname * given)
    return best


# --- scoring: evidence weighed as a record-linkage engine does ---------------------------
#
# Fellegi-Sunter: every field compared gives a weight, log2(m / u) (a log2 Bayes factor),
# where m is how often the field agrees (at that level) between two cards of one person
# and u how often it does between two cards of different people. Weights add to the
# prior log2 odds (one other card per person among the tenant's N cards: -log2 N); the
# sum is the probability shown. For names u comes from the tenant's own cards: how many
# cards carry each name token (:class:`NameFrequencies`, kept with the name index), so
# "James Smith" alone says little in a big tenant and "Elinor Dashwood" says a lot.
# Disagreement counts against: a different first name, birth date or street.
#
# Household rule: a phone, an email or a CRM contact shared by cards whose own first names
# differ is a household's (or a switchboard's), not one person's: it then weighs little,
# and never enough on its own.

MIN_PROBABILITY = 0.5  # candidates less likely than this are not shown
PRIOR_CARDS = 200  # pseudo-cards smoothing the frequency table of a small tenant...
PRIOR_SHARE = 0.002  # ...towards this share of cards per name token
MIN_TENANT = 100

# log2 odds two cards sharing an identifier are one person's, alone (the Bayes factor is
# this minus the prior), and the Bayes factor when it is a household's: next to nothing.
SHARED: dict[ReasonKind, tuple[float, float]] = {
    ReasonKind.same_email: (7.0, 0.5),
    ReasonKind.same_handle: (7.0, 0.5),
    ReasonKind.same_crm_contact: (5.0, 0.0),
    ReasonKind.same_phone: (4.0, 0.0),
}
LANDLINE = -1.0  # ...a home's landline, and the CRM contact it found: not enough alone
# Name levels: m (share of true duplicate pairs at that level) and how many times the
# chance of an unrelated card is the chance of one with the same tokens.
NAME_EXACT_M, NAME_CLOSE_M, NAME_WEAK_M = 0.9, 0.6, 0.3
# ...and the fewest unrelated cards assumed to share a name at each level, however rare
# (relatives share rare names too): a name alone never outweighs a different birth date,
# and a first name or an initial alone never makes a candidate.
NAME_EXACT_FLOOR, NAME_CLOSE_FLOOR, NAME_WEAK_FLOOR = 0.1, 0.2, 0.3
NAME_CLOSE_SPREAD = 4.0  # typos, nicknames and sound-alikes reach more unrelated cards
OTHER_GIVEN_NAME = -6.0  # same surname, another first name: a relative
# ...a first name two typos from the other, same first letter: m about 1 in 30 duplicate
# pairs, u about 1 in 8 relatives' pairs (Paula and Pablo).
ALIKE_GIVEN_NAME = -2.0
OTHER_SURNAME = -5.0  # same first name, another surname (names change on marriage)
INITIAL_SHARE = 1 / 16  # first names starting with a given letter, about (u of an initial)
OTHER_NAME = -6.0
# CRM details of two (different) CRM records: (agree, close, disagree) weights.
DETAIL_WEIGHTS: dict[str, tuple[float, float, float]] = {
    "birth date": (14.0, 5.0, -4.0),  # u: one day in 20,000; m of another: a typo, 6%
    "street": (8.0, 5.0, -2.0),
    "postcode": (3.0, 1.0, -1.5),  # mostly said by the street already
    "city": (1.0, 0.5, -0.5),
}
# Birth dates this many years apart (and no slip of one another) are a generation's: of
# one name and one home, maybe a parent and the child named after them, which the
# candidate says in so many words (a birth date typed anew looks the same: it weighs as
# any other date that differs).
GENERATION = 15
# The street agrees and the house number does not: a number typed wrong (m about 5%) or
# a neighbour (u: one of the street's other houses, about 1%).
NEIGHBOUR = 2.0
# ...and the other way round, the house number agrees under another street name in the
# same postcode: the street's name typed anew or renamed (m: about half the pairs whose
# street names differ; the others moved) or the same number on another of the postcode's
# streets (u: house numbers are small, about one in 20 agree by chance), log2 10 above a
# street that differs; the postcode then says as much as beside a street that differs.
# In another postcode it is another address.
SAME_NUMBER = 1.3
# ...a postcode agreeing where a street is unknown: u one in ~250, m ~0.9; where the
# streets differ, m is lower (a move within it, a street typed anew). A city likewise where
# a postcode is unknown (one in ~16: a contact center's customers crowd cities) or differs.
ALONE_WEIGHTS: dict[str, tuple[float, float]] = {"postcode": (8.0, 4.0), "city": (4.0, 2.0)}
WIDER: dict[str, str] = {"postcode": "street", "city": "postcode"}  # the field that says more


class NameFrequencies(Model):
    """How many of the tenant's named cards carry each name token (nicknames read as their
    given name), and how many named cards there are: the u side of name agreement. Tokens
    count as they sound ("MLR" for Müller, Mueller and Muller) and as they are spelt
    ("=muller", :func:`bot.domain.name_keys.spelling_tokens`), these among the ``spelt``
    cards whose spellings were counted (a tenant's cards filed before spellings were, not)."""

    cards: int = 0
    spelt: int = 0
    tokens: dict[str, int] = Field(default_factory=dict)

    def share(self, token: str) -> float:
        count = self.tokens.get(token, 0)
        if token.startswith("="):
            # Among the spelt cards, drawn towards how common the name sounds: where few
            # (or no) spellings were counted, a spelling is as common as its sound.
            sound = self.share(phonetic(token[1:]))
            return (count + PRIOR_CARDS * sound) / (self.spelt + PRIOR_CARDS)
        return (count + PRIOR_CARDS * PRIOR_SHARE) / (self.cards + PRIOR_CARDS)

    def agreeing(self, a: str, b: str) -> float:
        """The share of cards carrying a token two names agree on (``a`` as it sounds), as
        spelt when spelt alike: "Reid" and "Reid" say more than "Reid" and "Reed"."""
        sound = self.share(phonetic(a))
        return min(sound, self.share(f"={a}")) if a == b else sound

    @property
    def prior(self) -> float:
        """log2 odds that two cards picked at random are one person's (about one other
        card per person among the tenant's cards)."""
        return -math.log2(self.size)

    @property
    def size(self) -> int:
        """The named cards, at least MIN_TENANT (a young tenant is not a tiny world)."""
        return max(self.cards, MIN_TENANT)

    def by_chance(self, tokens: list[str]) -> float:
        """Cards of other people expected to carry all of ``tokens``."""
        expected = float(self.size)
        for token in tokens:
            expected *= self.share(token)
        return expected


def _given(name: str) -> str | None:
    """The first name of a written name ("Ferrars, Edward" -> edward), canonical."""
    text = name.strip()
    if "," in text:
        last, _, first = text.partition(",")
        text = f"{first} {last}"
    tokens = normalise_name(text).split()
    return canonical_given(tokens[0]) if tokens else None


def _alike_given(a: str, b: str) -> bool:
    """Two first names too far apart to be the same but two typos apart, with the same
    first letter ("Jaemo", "James"): the name typed wrong, or a relative's alike name."""
    return (
        min(len(a), len(b)) >= 4
        and a[0] == b[0]
        and jellyfish.damerau_levenshtein_distance(a, b) <= 2
    )


def _same_given(a: str, b: str) -> bool:
    if len(a) == 1 or len(b) == 1:
        return a[0] == b[0]
    return a == b or phonetic(a) == phonetic(b) or jellyfish.jaro_winkler_similarity(a, b) >= 0.85


def _own_names(facts: CardFacts) -> list[str]:
    """Names the customer gave: those of the card itself, else of its CRM contacts (not
    those a home's line found: they are the household's)."""
    return facts.names or ([] if _home_line_only(facts) else list(facts.crm_contacts.values()))


def _home_line_only(facts: CardFacts) -> bool:
    """A card nobody gave a name on, reached only over landlines: anyone in the home."""
    identities = [i.identifier for i in facts.card.identities]
    return (
        not facts.names
        and bool(identities)
        and all(i.kind is IdentifierKind.phone and is_landline(i.value) for i in identities)
    )


def other_first_name(a: CardFacts, b: CardFacts) -> bool:
    """Both cards carry first names and none of them agree: two people."""
    mine = {g for g in map(_given, a.names) if g}
    theirs = {g for g in map(_given, b.names) if g}
    if not mine or not theirs:
        return False
    if any(_same_given(x, y) for x in mine for y in theirs):
        return False
    # "Neumann Amner" is "Amper Neumann" written surname first, not a relative.
    return not any(name_match(x, y) >= CLOSE_NAME for x in a.names for y in b.names)


def _surname_alone(a: CardFacts, b: CardFacts) -> bool:
    """One card's names are single words, one of them the other card's surname ("Noyce",
    "Mitchell Noyce"): a family name, not another first name."""
    for one, other in ((a, b), (b, a)):
        words = [normalise_name(n).split() for n in one.names]
        if words and all(len(w) == 1 for w in words):
            surnames = [p[1] for n in other.names if (p := _parts(n))]
            if any(_close_surname(w[0], s) for w in words for s in surnames):
                return True
    return False


def _name_evidence(
    open_facts: CardFacts, other: CardFacts, frequencies: NameFrequencies
) -> Reason | None:
    mine, theirs = _own_names(open_facts), _own_names(other)
    best, pair = 0.0, ("", "")
    for x in mine:
        for y in theirs:
            strength = name_match(x, y)
            if strength > best:
                best, pair = strength, (x, y)
    if best >= NAME_MATCH_MIN:
        # How many cards share the name by chance: the commoner of the two spellings.
        chance = max(frequencies.by_chance(name_tokens(n)) for n in pair)
        similarity = name_similarity(*pair)
        if similarity >= 1.0:
            # The same letters: as rare as that spelling (not all that sounds like it).
            spelt = max(frequencies.by_chance(spelling_tokens(n)) for n in pair)
            m, chance = NAME_EXACT_M, max(min(chance, spelt), NAME_EXACT_FLOOR)
        elif best >= CLOSE_NAME:
            m, chance = NAME_CLOSE_M, max(chance * NAME_CLOSE_SPREAD, NAME_CLOSE_FLOOR)
        else:
            # An initial, or one name alone ("Noyce", "Mitchell"): only the token the
            # shorter name carries is known to agree, and it says as much as it is rare
            # (not its first name: "Noyce" is no commoner for being "Mitchell Noyce").
            shared = min((name_tokens(n) for n in pair), key=len)[:1]
            alone = frequencies.by_chance(shared)
            m, chance = NAME_WEAK_M, max(alone * NAME_CLOSE_SPREAD, NAME_WEAK_FLOOR)
        names = pair[1] if similarity >= 1.0 else f"{pair[1]} ~ {pair[0]}"
        alike = f"{similarity:.0%}"
        detail = (
            t("{names} ({similarity}, a rare name)", names=names, similarity=alike)
            if chance < 0.5
            else nt(
                "{names} ({similarity}, about {count} card by chance)",
                "{names} ({similarity}, about {count} cards by chance)",
                round(chance),
                names=names,
                similarity=alike,
            )
        )
        return Reason(
            kind=ReasonKind.similar_name,
            detail=detail,
            weight=round(math.log2(m / chance) - frequencies.prior, 3),
        )
    parts = [(a, b) for x in mine for y in theirs if (a := _parts(x)) and (b := _parts(y))]
    if not parts:
        return None  # a first name alone, or no name: nothing said either way
    (g1, s1), (g2, s2) = parts[0]
    if not _close_surname(s1, s2) and _close_surname(s1, g2):
        g2, s2 = s2, g2  # written the other way round ("White Jasmine")
    shown = f"{' '.join((g2, s2))} / {' '.join((g1, s1))}"
    if _close_surname(s1, s2) and not _same_given(g1, g2):
        # a relative, or one person whose first name was typed wrong ("Jaemo" for James)
        agree = math.log2(NAME_EXACT_M / frequencies.agreeing(s1, s2))
        if _alike_given(g1, g2):
            weight = agree + ALIKE_GIVEN_NAME
            detail = t("same surname, a first name nearly the same: {names}", names=shown)
        else:
            weight = agree + OTHER_GIVEN_NAME
            detail = t("same surname, another first name: {names}", names=shown)
    elif _same_given(g1, g2) and not _close_surname(s1, s2):
        # An initial says only which letter the name starts with.
        share = INITIAL_SHARE if min(len(g1), len(g2)) == 1 else frequencies.agreeing(g1, g2)
        agree = math.log2(NAME_EXACT_M / share)
        weight = agree + OTHER_SURNAME
        detail = t("same first name, another surname: {names}", names=shown)
    elif not _same_given(g1, g2):
        weight, detail = OTHER_NAME, Text(shown)
    else:
        return None
    return Reason(kind=ReasonKind.other_name, detail=detail, weight=round(weight, 3))


def _parts(name: str) -> tuple[str, str] | None:
    """(first name, surname) of a full name, "Last, First" read as such; nicknames read as
    the given name."""
    text = name.strip()
    if "," in text:
        last, _, first = text.partition(",")
        text = f"{first} {last}"
    tokens = normalise_name(text).split()
    if len(tokens) < 2:
        return None
    return canonical_given(tokens[0]), tokens[-1]


def _close_surname(a: str, b: str) -> bool:
    return (
        a == b
        or phonetic(a) == phonetic(b)
        or jellyfish.jaro_winkler_similarity(a, b) >= SURNAME_MIN
    )


def _detail(fields: dict[str, str], label: str) -> str | None:
    """One detail of a CRM contact under any of its field names, normalised; a birth date
    without separators (1956-06-15 and 19560615 are one date)."""
    for name in DETAIL_FIELDS[label]:
        value = fields.get(name)
        if value and value.strip():
            plain = normalise_name(value)
            return plain.replace(" ", "") if label == "birth date" else plain
    return None


def _slip_of_a_date(x: str, y: str) -> bool:
    """One digit typed wrong or two swapped, or day and month swapped (YYYYMMDD)."""
    if jellyfish.damerau_levenshtein_distance(x, y) <= 1:
        return True
    return len(x) == len(y) == 8 and x[:4] == y[:4] and x[4:6] == y[6:] and x[6:] == y[4:6]


def _within(x: str, y: str) -> bool:
    """The words of one street are all in the other, and say more than a number."""
    a, b = set(x.split()), set(y.split())
    shorter = a if len(a) <= len(b) else b
    return (a <= b or b <= a) and any(not t.isdigit() for t in shorter)


AGREE, CLOSE, OTHER_HOUSE, OTHER_STREET, DIFFER = range(5)  # detail levels, best first


def _detail_level(label: str, x: str, y: str) -> int:
    """AGREE, CLOSE (a typo, or a street nearly the same), OTHER_HOUSE (the street's name
    agrees, its house number does not), OTHER_STREET (the other way round) or DIFFER."""
    if x == y:
        return AGREE
    if label == "street":
        return _street_level(x, y)
    if label == "postcode" and jellyfish.damerau_levenshtein_distance(x, y) <= 1:
        return CLOSE  # a slip or two digits swapped
    if label == "city" and _typo_of(x, y):
        return CLOSE  # "Casino" typed "Caisno", "Tweed Heads" "Tweedhaeds"
    if label == "birth date" and _slip_of_a_date(x, y):
        return CLOSE
    return DIFFER


def _typo_of(x: str, y: str) -> bool:
    """Nearly the same words: a letter or two typed wrong, a space lost."""
    return (
        jellyfish.jaro_winkler_similarity(x, y) >= 0.9
        or jellyfish.damerau_levenshtein_distance(x, y) <= 1
    )


def _street_level(x: str, y: str) -> int:
    here, there = _house_number(x), _house_number(y)
    if here is not None and there is not None and here != there:
        # Two house numbers: a neighbour, or a number typed wrong ("Dorfstraße 23", 25).
        a, b = (" ".join(t for t in s.split() if t != n) for s, n in ((x, here), (y, there)))
        return OTHER_HOUSE if a and b and _street_level(a, b) < OTHER_STREET else DIFFER
    if _typo_of(x, y):
        return CLOSE
    if _within(x, y):
        return CLOSE  # one written without its house number ("Sturt Avenue", "102 Sturt Avenue")
    if here is not None and here == there:
        return OTHER_STREET  # "31 Julius Street", "31 Applegate Lane"
    return DIFFER


def _full_names(a: CardFacts, b: CardFacts) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    mine = [p for n in _own_names(a) if (p := _parts(n))]
    theirs = [p for n in _own_names(b) if (p := _parts(n))]
    return [(x, y) for x in mine for y in theirs]


def _same_surname(a: CardFacts, b: CardFacts) -> bool:
    """Some full names of the two cards share a surname: relatives, maybe."""
    return any(_close_surname(x[1], y[1]) for x, y in _full_names(a, b))


def _same_first_name(a: CardFacts, b: CardFacts) -> bool:
    """Some full names of the two cards share a first name (a surname changed, maybe)."""
    return any(_same_given(x[0], y[0]) for x, y in _full_names(a, b))


def _detail_evidence(
    open_facts: CardFacts, other: CardFacts, household: bool, kin: bool, family: bool = False
) -> list[Reason]:
    """Details of the two cards' (different) CRM contacts, each compared once: the best
    level any pair of contacts reaches. Relatives (and cards whose names say nothing)
    share an address: for them only a birth date counts, unless the two were born the
    same day and their names do not share a surname (``kin``, which twins would): people
    of one address and one birth date are one person written twice. A family name alone
    (``family``: "Noyce" for "Mitchell Noyce") names the household, not one of it: its
    address counts only beside a birth date that agrees or is a slip of the other. Birth
    dates a generation apart are told as such ("Anna Weber" born 1955 and 1980: a parent
    and a child of one name, or a date typed anew)."""
    levels: dict[str, int] = {}
    gaps: list[int] = []  # years between the birth dates compared
    for mine_key, mine in open_facts.crm_fields.items():
        for their_key, theirs in other.crm_fields.items():
            if mine_key == their_key:
                continue
            for label in DETAIL_FIELDS:
                x, y = _detail(mine, label), _detail(theirs, label)
                if x is not None and y is not None:
                    levels[label] = min(levels.get(label, DIFFER), _detail_level(label, x, y))
                    if label == "birth date" and x[:4].isdigit() and y[:4].isdigit():
                        gaps.append(abs(int(x[:4]) - int(y[:4])))
    if levels.get("street") == OTHER_STREET and levels.get("postcode") != AGREE:
        levels["street"] = DIFFER  # one house number in two places: two addresses
    same_day = levels.get("birth date") == AGREE and not kin
    generation = levels.get("birth date") == DIFFER and min(gaps, default=0) >= GENERATION
    if family and levels.get("birth date", DIFFER) > CLOSE:
        household = True
    agree = [label for label, level in levels.items() if level < DIFFER]
    differ = [label for label, level in levels.items() if level == DIFFER]
    found = []
    if agree:
        found.append(
            Reason(
                kind=ReasonKind.same_details,
                detail=_listed(agree, {a: _NOTES[levels[a]] for a in agree if levels[a] in _NOTES}),
                weight=sum(
                    _agreement(label, levels)
                    for label in agree
                    if not household or label == "birth date" or same_day
                ),
            )
        )
    if differ:
        found.append(
            Reason(
                kind=ReasonKind.other_details,
                detail=_listed(differ, {"birth date": "a generation apart"} if generation else {}),
                weight=sum(DETAIL_WEIGHTS[label][2] for label in differ),
            )
        )
    return found


_DETAIL_WORDS = {
    "birth date": t("birth date"),
    "street": t("street"),
    "postcode": t("postcode"),
    "city": t("city"),
    "another house number": t("another house number"),
    "the house number only": t("the house number only"),
    "a generation apart": t("a generation apart"),
}
# What a street agreeing at a level short of the whole says after it.
_NOTES = {OTHER_HOUSE: "another house number", OTHER_STREET: "the house number only"}


def _listed(labels: Iterable[str], notes: dict[str, str]) -> Text:
    """Detail labels as one text, each label in the reader's words (a list has none of
    its own), a label's note after it ("street, another house number")."""
    told = [w for label in labels for w in (label, notes.get(label)) if w is not None]
    return Text("{labels}", {"labels": [_DETAIL_WORDS[w] for w in told]})


def _agreement(label: str, levels: dict[str, int]) -> float:
    """The weight of one detail at its level: a postcode that agrees says little more
    once the street agrees, and a city once the postcode does; where the wider field is
    unknown it says much more, and where it differs (a move, a typo) somewhat more."""
    level = levels[label]
    wider = WIDER.get(label)
    if level == AGREE and wider is not None and levels.get(wider) in (None, OTHER_STREET, DIFFER):
        unknown, differs = ALONE_WEIGHTS[label]
        return unknown if wider not in levels else differs
    if level == OTHER_HOUSE:
        return NEIGHBOUR
    if level == OTHER_STREET:
        return SAME_NUMBER
    return DETAIL_WEIGHTS[label][level]


def _shared(open_card: CustomerCard, other: CustomerCard, kind: IdentifierKind) -> list[str]:
    theirs = set(other.identifiers(kind))
    return [value for value in open_card.identifiers(kind) if value in theirs]


def reasons(
    open_facts: CardFacts,
    other: CardFacts,
    frequencies: NameFrequencies | None = None,
    households: frozenset[str] = frozenset(),
) -> list[Reason]:
    """Every piece of evidence for and against ``other`` being the open card's person,
    with its weight (log2 odds). ``households``: identifier values and CRM record keys
    known to be shared by people of different first names (see :func:`households`)."""
    frequencies = frequencies or NameFrequencies()
    relatives = other_first_name(open_facts, other)
    found: list[Reason] = []
    shared: list[tuple[ReasonKind, list[str], list[str]]] = [
        (reason_kind, values, values)
        for kind, reason_kind in (
            (IdentifierKind.phone, ReasonKind.same_phone),
            (IdentifierKind.email, ReasonKind.same_email),
            (IdentifierKind.handle, ReasonKind.same_handle),
        )
        if (values := _shared(open_facts.card, other.card, kind))
    ]
    contacts = [k for k in open_facts.crm_contacts if k in other.crm_contacts]
    if contacts:
        titles = [open_facts.crm_contacts[k] for k in contacts]
        shared.append((ReasonKind.same_crm_contact, titles, contacts))
    anyone_at_home = _home_line_only(open_facts) or _home_line_only(other)
    for reason_kind, shown, values in shared:
        alone, household = SHARED[reason_kind]
        if reason_kind is ReasonKind.same_phone and all(map(is_landline, values)):
            alone = LANDLINE
        if reason_kind is ReasonKind.same_crm_contact and anyone_at_home:
            alone = LANDLINE  # the contact a home's line found
        if relatives or any(v in households for v in values):
            found.append(
                Reason(
                    kind=reason_kind,
                    detail=f"{', '.join(shown)}, shared by people of different first names",
                    weight=household,
                )
            )
        else:
            found.append(
                Reason(
                    kind=reason_kind,
                    detail=", ".join(shown),
                    weight=alone - frequencies.prior,
                )
            )
    if not contacts:
        name = _name_evidence(open_facts, other, frequencies)
        if name is not None:
            found.append(name)
        # An address is a household's: it corroborates a name, never stands in for one.
        # ...of people of different first names: two of one home rarely share one.
        # ...and a family name alone is no other first name (its home counts beside a
        # birth date: see _detail_evidence); a shared line stays a household's for it.
        family = _surname_alone(open_facts, other)
        household = (relatives and not family) or name is None
        if name is not None and name.kind is ReasonKind.other_name:
            household = household or not _same_first_name(open_facts, other)
        kin = _same_surname(open_facts, other)
        found.extend(_detail_evidence(open_facts, other, household, kin, family))
    return found


def households(open_facts: CardFacts, others: list[CardFacts]) -> frozenset[str]:
    """Phones, emails and CRM contacts that cards of different first names share: a
    household's line, a family address, the contact a shared line finds for everyone."""
    holders: dict[str, list[CardFacts]] = {}
    for facts in [open_facts, *others]:
        held = [i.identifier.value for i in facts.card.identities]
        for value in dict.fromkeys([*held, *facts.crm_contacts]):
            holders.setdefault(value, []).append(facts)
    return frozenset(
        value
        for value, cards in holders.items()
        if len(cards) > 1
        and any(other_first_name(a, b) for i, a in enumerate(cards) for b in cards[i + 1 :])
    )


def probability(found: list[Reason], prior: float = 0.0) -> float:
    """The evidence's log2 Bayes factors on top of the prior log2 odds, as a probability."""
    return 1 / (1 + 2 ** -(prior + sum(r.weight for r in found)))


def score(
    open_facts: CardFacts,
    other: CardFacts,
    frequencies: NameFrequencies | None = None,
    households: frozenset[str] = frozenset(),
) -> Candidate | None:
    """How likely ``other`` is the same person as the open card; None unless more likely
    than MIN_PROBABILITY."""
    if other.card.id == open_facts.card.id:
        return None
    found = reasons(open_facts, other, frequencies, households)
    likely = probability(found, (frequencies or NameFrequencies()).prior)
    if likely <= MIN_PROBABILITY:
        return None
    found.sort(key=lambda r: -r.weight)
    return Candidate(card_id=other.card.id, name=other.name, score=round(likely, 4), reasons=found)


def rank(
    open_facts: CardFacts,
    others: list[CardFacts],
    limit: int = 5,
    frequencies: NameFrequencies | None = None,
) -> list[Candidate]:
    shared_by_many = households(open_facts, others)
    scored = [
        c
        for c in (score(open_facts, other, frequencies, shared_by_many) for other in others)
        if c is not None
    ]
    scored.sort(key=lambda c: (-c.score, c.card_id))
    return scored[:limit]


# --- survivor and merge ---------------------------------------------------------------


class SurvivorChoice(Model):
    survivor_id: str
    absorbed_id: str
    why: str


def choose_survivor(open_facts: CardFacts, other: CardFacts) -> SurvivorChoice:
    if not open_facts.has_crm_identity and other.has_crm_identity:
        return SurvivorChoice(
            survivor_id=other.card.id,
            absorbed_id=open_facts.card.id,
            why="the other card is tied to a CRM contact and the open card is not",
        )
    return SurvivorChoice(
        survivor_id=open_facts.card.id,
        absorbed_id=other.card.id,
        why="the open card survives",
    )


def merged(survivor: CustomerCard, absorbed: CustomerCard) -> CustomerCard:
    """``survivor`` with every identity and interaction of ``absorbed``; idempotent."""
    identities: list[CardIdentity] = list(
        dict.fromkeys([*survivor.identities, *absorbed.identities])
    )
    interactions = list(dict.fromkeys([*survivor.interaction_ids, *absorbed.interaction_ids]))
    if (
        identities == survivor.identities
        and interactions == survivor.interaction_ids
        and (survivor.display_name or not absorbed.display_name)
    ):
        return survivor
    return survivor.model_copy(
        update={
            "identities": identities,
            "interaction_ids": interactions,
            "display_name": survivor.display_name or absorbed.display_name,
        }
    )


def unmerged(
    current: CustomerCard, survivor_before: CustomerCard, absorbed_before: CustomerCard
) -> CustomerCard:
    """The survivor with what the merge brought taken out again.

    What the survivor had before stays, and so does what reached it after the merge
    (new identities, new interactions); only what came from the absorbed card leaves.
    """
    brought_ids = set(absorbed_before.identities) - set(survivor_before.identities)
    brought_interactions = set(absorbed_before.interaction_ids) - set(
        survivor_before.interaction_ids
    )
    display_name = current.display_name
    if survivor_before.display_name is None and display_name == absorbed_before.display_name:
        display_name = None
    restored = current.model_copy(
        update={
            "identities": [i for i in current.identities if i not in brought_ids],
            "interaction_ids": [
                i for i in current.interaction_ids if i not in brought_interactions
            ],
            "display_name": display_name,
        }
    )
    return current if restored == current else restored


class MergeState(StrEnum):
    pending = "pending"
    done = "done"
    undoing = "undoing"
    undone = "undone"


class MergeAudit(Model):
    """The audit entry of one merge: who, when, where, and both cards' exact before-state."""

    id: str
    kind: str = "card-merge"
    tenant_id: str
    actor: str
    at: datetime
    open_card_id: str
    survivor_before: CustomerCard
    absorbed_before: CustomerCard
    why: str
    reasons: list[Reason] = Field(default_factory=list)
    state: MergeState = MergeState.pending
    undone_by: str | None = None
    undone_at: datetime | None = None

    @property
    def survivor_id(self) -> str:
        return self.survivor_before.id

    @property
    def absorbed_id(self) -> str:
        return self.absorbed_before.id


class MarkerRole(StrEnum):
    """What a card's merge marker says about it (the marker is held while a merge runs)."""

    survivor = "survivor"
    absorbing = "absorbing"  # held for a merge that has not started moving anything
    absorbed = "absorbed"  # "merged into survivor_id": find_card follows it


class MergeMarker(Model):
    """A card taken by a merge: one per card, created if absent, so merges never overlap."""

    audit_id: str
    role: MarkerRole
    survivor_id: str
    at: datetime
    holder: str | None = None
    """Which call of merge ``audit_id`` holds the card (the same merge can be sent twice
    at once): a call that stops lets go only of its own holds. None in markers stored
    before holders were recorded."""

    def moved_onto(self, card_id: str) -> bool:
        """Whether this card's merge moved it onto ``card_id`` (and was not undone)."""
        return self.role is MarkerRole.absorbed and self.survivor_id == card_id
