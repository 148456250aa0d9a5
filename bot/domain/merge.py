"""Merging two customer cards of one person: who matches, who survives, what comes out.

Pure functions only. Matching explains itself (every candidate carries the reasons it
matched), the survivor is chosen by an explicit rule, and a merge always comes with the
exact before-state of both cards so that it can be undone.

Survivor rule: the open card survives, unless it is anonymous (no CRM contact or lead
found or linked on it) and the other card has a CRM identity; then the CRM-identified
card survives. A real customer is never dropped in favour of a throwaway visitor.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import jellyfish
from pydantic import BaseModel, Field

from bot.domain.cards import CardIdentity, CustomerCard
from bot.domain.identifiers import IdentifierKind
from bot.domain.name_keys import canonical_given, normalise_name, phonetic

NAME_THRESHOLD = 0.88  # name_similarity of a search hit (bot.services.merge_candidates.search)
NAME_MATCH_MIN = 0.35  # name_match that makes a "similar name" reason
SURNAME_MIN = 0.9  # Jaro-Winkler of surnames for two full names to match
GIVEN_MIN = 0.85  # ...and of given names (nicknames read as their given name)
MIN_SCORE = 0.3  # candidates scoring less are not shown (a first name alone, say)


class ReasonKind(StrEnum):
    same_phone = "same-phone"
    same_email = "same-email"
    same_handle = "same-handle"
    same_crm_contact = "same-crm-contact"
    similar_name = "similar-name"
    same_details = "same-details"


# How much each kind of evidence alone says "same person". Phones are shared by
# households and switchboards, so they weigh less than a personal email or a CRM contact.
WEIGHTS: dict[ReasonKind, float] = {
    ReasonKind.same_crm_contact: 0.9,
    ReasonKind.same_email: 0.8,
    ReasonKind.same_handle: 0.8,
    ReasonKind.same_phone: 0.6,
    ReasonKind.similar_name: 0.5,
    ReasonKind.same_details: 0.6,
}

# Details of the CRM contacts found for two cards (different CRM records), by the field
# names CRMs use, and how much agreeing on each says (only ever next to a similar name:
# a household shares its street, postcode and town).
DETAIL_FIELDS: dict[str, tuple[tuple[str, ...], float]] = {
    "birth date": (("birthdate", "date_of_birth", "birth_date", "dob"), 0.5),
    "street": (("street", "mailing_street", "address", "address_1", "address_line1"), 0.35),
    "postcode": (("zip", "postcode", "postal_code", "mailing_postal_code"), 0.2),
    "city": (("city", "suburb", "mailing_city", "town"), 0.1),
}


class Reason(BaseModel):
    kind: ReasonKind
    detail: str
    weight: float

    @property
    def text(self) -> str:
        labels = {
            ReasonKind.same_phone: "Same phone",
            ReasonKind.same_email: "Same email",
            ReasonKind.same_handle: "Same handle",
            ReasonKind.same_crm_contact: "Same CRM contact",
            ReasonKind.similar_name: "Similar name",
            ReasonKind.same_details: "Same details",
        }
        return f"{labels[self.kind]}: {self.detail}"


class CardFacts(BaseModel):
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


class Candidate(BaseModel):
    card_id: str
    name: str
    score: float
    reasons: list[Reason]


# --- name similarity ------------------------------------------------------------------


def jaro_winkler(a: str, b: str, prefix_scale: float = 0.1) -> float:
    """Jaro-Winkler similarity in [0, 1]."""
    if a == b:
        return 1.0 if a else 0.0
    if not a or not b:
        return 0.0
    window = max(0, max(len(a), len(b)) // 2 - 1)
    a_hits = [False] * len(a)
    b_hits = [False] * len(b)
    matches = 0
    for i, ch in enumerate(a):
        for j in range(max(0, i - window), min(len(b), i + window + 1)):
            if not b_hits[j] and b[j] == ch:
                a_hits[i] = b_hits[j] = True
                matches += 1
                break
    if matches == 0:
        return 0.0
    a_seq = [c for c, hit in zip(a, a_hits, strict=True) if hit]
    b_seq = [c for c, hit in zip(b, b_hits, strict=True) if hit]
    transpositions = sum(x != y for x, y in zip(a_seq, b_seq, strict=True)) / 2
    jaro = (matches / len(a) + matches / len(b) + (matches - transpositions) / matches) / 3
    prefix = 0
    for x, y in zip(a[:4], b[:4], strict=False):
        if x != y:
            break
        prefix += 1
    return jaro + prefix * prefix_scale * (1 - jaro)


def _forms(name: str) -> list[str]:
    """The normalised name, and with nicknames put to their given name ("bob" -> "robert")."""
    plain = normalise_name(name)
    canonical = " ".join(canonical_given(t) for t in plain.split())
    return [plain] if canonical == plain else [plain, canonical]


def name_similarity(a: str, b: str) -> float:
    """Jaro-Winkler on normalised names, also with tokens sorted ("Ferrars, Edward") and
    nicknames read as the given name they stand for ("Bob Smith" ~ "Robert Smith").

    Uses jellyfish's Jaro-Winkler (same values as :func:`jaro_winkler`, much faster): the
    candidate lookup compares a card's names with every name in its index blocks.
    """
    best = 0.0
    for x in _forms(a):
        for y in _forms(b):
            if not x or not y:
                continue
            if x == y:
                return 1.0
            direct = jellyfish.jaro_winkler_similarity(x, y)
            ordered = jellyfish.jaro_winkler_similarity(
                " ".join(sorted(x.split())), " ".join(sorted(y.split()))
            )
            best = max(best, direct, ordered)
    return best


def _given_similarity(a: str, b: str) -> float:
    x, y = canonical_given(a), canonical_given(b)
    return 1.0 if x == y else jellyfish.jaro_winkler_similarity(x, y)


def name_match(a: str, b: str) -> float:
    """How strongly two names say "same person", in [0, 1]; structured, unlike
    :func:`name_similarity`: surname and given name must each be close.

    Full names: surname Jaro-Winkler >= SURNAME_MIN and given name >= GIVEN_MIN (after
    nicknames: "Liz Dashwod" ~ "Elizabeth Dashwood"; a surname that sounds the same
    counts SURNAME_MIN), in either order ("Ferrars, Edward");
    the product of the two. An initial for a given name ("C. Smith") counts 0.7 when
    it agrees. A name of one token ("Christopher") says little: 0.4 times its best match
    with the other name's first or last token. "Mia Jones" and "Mia Johnson", or the
    household's "Elinor Dashwood" and "Marianne Dashwood", do not match.
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
    g2, s2 = tb[0], tb[-1]
    for g1, s1 in ((ta[0], ta[-1]), (ta[-1], ta[0])):
        surname = 1.0 if s1 == s2 else jellyfish.jaro_winkler_similarity(s1, s2)
        if surname < SURNAME_MIN and phonetic(s1) == phonetic(s2):
            surname = SURNAME_MIN  # sounds the same: "Smith" and "Smyth"
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


def _detail(fields: dict[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = fields.get(name)
        if value and value.strip():
            return normalise_name(value)
    return None


def details(open_facts: CardFacts, other: CardFacts) -> tuple[list[str], int]:
    """Details that agree between the two cards' (different) CRM contacts, and how many
    were compared at all."""
    agree: dict[str, None] = {}
    compared = 0
    for mine_key, mine in open_facts.crm_fields.items():
        for their_key, theirs in other.crm_fields.items():
            if mine_key == their_key:
                continue
            for label, (names, _) in DETAIL_FIELDS.items():
                x, y = _detail(mine, names), _detail(theirs, names)
                if x is None or y is None:
                    continue
                compared += 1
                close = x == y or (
                    label == "street" and jellyfish.jaro_winkler_similarity(x, y) >= 0.9
                )
                if close:
                    agree.setdefault(label)
    return list(agree), compared


# --- scoring --------------------------------------------------------------------------


def _shared(open_card: CustomerCard, other: CustomerCard, kind: IdentifierKind) -> list[str]:
    theirs = set(other.identifiers(kind))
    return [value for value in open_card.identifiers(kind) if value in theirs]


def reasons(open_facts: CardFacts, other: CardFacts) -> list[Reason]:
    found: list[Reason] = []
    for kind, reason_kind in (
        (IdentifierKind.phone, ReasonKind.same_phone),
        (IdentifierKind.email, ReasonKind.same_email),
        (IdentifierKind.handle, ReasonKind.same_handle),
    ):
        shared = _shared(open_facts.card, other.card, kind)
        if shared:
            found.append(
                Reason(kind=reason_kind, detail=", ".join(shared), weight=WEIGHTS[reason_kind])
            )
    contacts = [
        title for key, title in open_facts.crm_contacts.items() if key in other.crm_contacts
    ]
    if contacts:
        found.append(
            Reason(
                kind=ReasonKind.same_crm_contact,
                detail=", ".join(contacts),
                weight=WEIGHTS[ReasonKind.same_crm_contact],
            )
        )
    best, pair = 0.0, ("", "")
    for mine in [*open_facts.crm_contacts.values(), *open_facts.names]:
        for theirs in [*other.crm_contacts.values(), *other.names]:
            strength = name_match(mine, theirs)
            if strength > best:
                best, pair = strength, (mine, theirs)
    if best >= NAME_MATCH_MIN and not contacts:
        agreed, compared = details(open_facts, other)
        if not agreed and compared >= 2 and not found:
            # The CRM knows both, and their birth dates, addresses... all differ: two
            # people of the same name.
            return found
        detail = (
            pair[1]
            if normalise_name(pair[0]) == normalise_name(pair[1])
            else (f"{pair[1]} ~ {pair[0]}")
        )
        similarity = name_similarity(*pair)
        found.append(
            Reason(
                kind=ReasonKind.similar_name,
                detail=f"{detail} ({similarity:.0%})",
                weight=WEIGHTS[ReasonKind.similar_name] * best,
            )
        )
        if agreed:
            miss = 1.0
            for label in agreed:
                miss *= 1 - DETAIL_FIELDS[label][1]
            found.append(
                Reason(
                    kind=ReasonKind.same_details,
                    detail=", ".join(agreed),
                    weight=round(1 - miss, 4),
                )
            )
    return found


def score(open_facts: CardFacts, other: CardFacts) -> Candidate | None:
    """How likely ``other`` is the same person as the open card; None when nothing matches."""
    if other.card.id == open_facts.card.id:
        return None
    found = reasons(open_facts, other)
    if not found:
        return None
    miss = 1.0
    for reason in found:
        miss *= 1 - reason.weight
    return Candidate(
        card_id=other.card.id, name=other.name, score=round(1 - miss, 4), reasons=found
    )


def rank(open_facts: CardFacts, others: list[CardFacts], limit: int = 5) -> list[Candidate]:
    scored = [
        c
        for c in (score(open_facts, other) for other in others)
        if c is not None and c.score >= MIN_SCORE
    ]
    scored.sort(key=lambda c: (-c.score, c.card_id))
    return scored[:limit]


# --- survivor and merge ---------------------------------------------------------------


class SurvivorChoice(BaseModel):
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


class MergeAudit(BaseModel):
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


class MergeMarker(BaseModel):
    """A card taken by a merge: one per card, created if absent, so merges never overlap."""

    audit_id: str
    role: MarkerRole
    survivor_id: str
    at: datetime
