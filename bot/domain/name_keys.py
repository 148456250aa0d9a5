"""Blocking keys for the name index: which few index documents a name is filed under.

A duplicate's name is rarely spelt the same way twice ("Bob Smith", "Robert Smyth",
"Smith, Rob", "Robrt Smith"), so one name is filed under several keys, each tolerant of
a different kind of difference, and a lookup reads the same keys for the open card's
names. Every key combines two parts of the name, so a key stays small even for common
surnames (a key per surname alone would hold 1% of a tenant's cards for "Smith"):

- ``p:`` phonetic surname + phonetic first name (Metaphone), the first name put to its
  canonical form first (Bob -> robert, Liz -> elizabeth): spelling variants and nicknames;
- ``s:`` exact surname + the canonical first name's first two letters: a typo in the
  first name after its second letter;
- ``b:`` surname's first two letters and length + exact canonical first name: a typo in
  the surname that changes how it sounds;
- ``t:`` exact canonical first name + the surname without its second letter (surnames of
  six letters or more, as written: first name first): that letter typed wrong so that
  the surname no longer sounds the same ("Riley Bteheny" for Riley Breheny), which
  ``p:`` and ``b:`` both miss. A first letter that differs is left alone: it is often
  another surname (Bauer, Dauer);
- ``i:`` exact surname + first initial, written for every full name but read only for a
  name given with an initial ("J. Smith"); a full name reads ``s:`` + its initial, where
  the initials-only names are filed.

Two letters rather than one keep the blocks of common names small at a million cards
("s:smith:ja", not every J. Smith); a typo in a first name's first two letters is left to
the phonetic key. Filing and lookup keys differ only for initials
(:func:`blocking_keys`, :func:`lookup_keys`).

Two-token orders are both filed ("Ferrars Edward" is also "Edward Ferrars"; ``t:`` only
as written: read the other way it would be a first name's typo); a name of
three tokens or more also as its first or last token beside the rest as one surname
(:func:`name_splits`). One-token
names get ``p1:`` (phonetic) only. ``sx:`` (each token of a name, exact) serves the
agent's search by a surname alone; candidate lookups never read it.
"""

from __future__ import annotations

import functools
import unicodedata

import jellyfish

# Common English nicknames -> the given name they stand for (the canonical form).
_NICKNAMES: dict[str, tuple[str, ...]] = {
    "abigail": ("abby", "abbie", "gail"),
    "alexander": ("alex", "al", "sandy", "xander"),
    "alexandra": ("alexa", "lexi", "sasha"),
    "andrew": ("andy", "drew"),
    "anthony": ("tony", "ant"),
    "benjamin": ("ben", "benny", "benji"),
    "catherine": ("cathy", "cath", "kate", "katie", "kathy", "katherine", "kathryn", "kat"),
    "charles": ("charlie", "chuck", "chas"),
    "christopher": ("chris", "kit", "topher"),
    "daniel": ("dan", "danny"),
    "david": ("dave", "davy"),
    "deborah": ("deb", "debbie", "debby"),
    "donald": ("don", "donnie"),
    "edward": ("ed", "eddie", "eddy", "ted", "teddy", "ned"),
    "elizabeth": ("liz", "lizzie", "beth", "betty", "bess", "eliza", "lisa", "libby", "elisabeth"),
    "frederick": ("fred", "freddie", "freddy"),
    "gerald": ("gerry", "jerry"),
    "gregory": ("greg",),
    "henry": ("harry", "hank", "hal"),
    "james": ("jim", "jimmy", "jamie"),
    "jennifer": ("jen", "jenny", "jenn"),
    "jeffrey": ("jeff", "geoff", "geoffrey"),
    "john": ("jack", "johnny", "jon", "jonny"),
    "joseph": ("joe", "joey", "jo"),
    "katrina": ("trina",),
    "kenneth": ("ken", "kenny"),
    "lawrence": ("larry", "laurence"),
    "margaret": ("maggie", "meg", "peggy", "marge", "margie", "greta"),
    "matthew": ("matt", "matty"),
    "michael": ("mike", "mikey", "mick", "mickey"),
    "nathan": ("nate", "nathaniel"),
    "nicholas": ("nick", "nicky", "nico", "nicolas"),
    "patricia": ("pat", "patty", "trish", "tricia"),
    "patrick": ("paddy", "rick"),
    "peter": ("pete",),
    "rebecca": ("becky", "becca"),
    "richard": ("rich", "richie", "dick", "ricky"),
    "robert": ("bob", "bobby", "rob", "robbie", "bert"),
    "ronald": ("ron", "ronnie"),
    "samuel": ("sam", "sammy"),
    "samantha": ("sammie",),
    "sandra": ("sandi", "sandie"),
    "stephen": ("steve", "stevie", "steven", "stephan"),
    "susan": ("sue", "susie", "suzy", "suzanne"),
    "thomas": ("tom", "tommy"),
    "timothy": ("tim", "timmy"),
    "victoria": ("vicky", "vikki", "tori"),
    "william": ("bill", "billy", "will", "willy", "liam"),
}
NICKNAMES: dict[str, str] = {nick: full for full, nicks in _NICKNAMES.items() for nick in nicks}

# A surname shorter than this with its second letter typed wrong no longer matches as a
# surname (Jaro-Winkler under 0.9, merge.SURNAME_MIN: "Sbith" is not Smith): no t: key.
T_KEY_SURNAME_MIN = 6
SEARCH_BLOCK_LIMIT = 5_000  # entries kept in one ``sx:`` (surname search) block


@functools.lru_cache(maxsize=65_536)
def normalise_name(name: str) -> str:
    """Lower case, no accents, punctuation as spaces, single spaces."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    cleaned = "".join(c if c.isalnum() else " " for c in plain)
    return " ".join(cleaned.split())


def canonical_given(token: str) -> str:
    """The given name a nickname stands for ("bob" -> "robert"); else the token."""
    return NICKNAMES.get(token, token)


@functools.lru_cache(maxsize=65_536)
def phonetic(token: str) -> str:
    """Metaphone code of one token; the token itself when it has no letters to code."""
    code = jellyfish.metaphone(token) if token.isalpha() else ""
    return code or token


def name_tokens(name: str) -> list[str]:
    """What the frequency table counts: how each token of two letters or more sounds, its
    nickname read as the given name ("Bob Müller" -> RBRT, MLR), so that "Mueller",
    "Muller" and "Jan" for "Jean" count with the name they stand for."""
    found = (phonetic(canonical_given(t)) for t in normalise_name(name).split() if len(t) > 1)
    return list(dict.fromkeys(found))


def spelling_tokens(name: str) -> list[str]:
    """What the frequency table also counts: each token of two letters or more as it is
    spelt (a nickname read as its given name), so that a name agreeing letter for letter
    weighs as rare as that spelling is ("Reid" is rarer than all that sounds like it)."""
    found = (f"={canonical_given(t)}" for t in normalise_name(name).split() if len(t) > 1)
    return list(dict.fromkeys(found))


def counted_tokens(name: str) -> list[str]:
    """Every entry of the frequency table a name counts in: how it sounds, how it is spelt."""
    return [*name_tokens(name), *spelling_tokens(name)]


def _pair_keys(first: str, last: str, *, filing: bool) -> list[str]:
    given = canonical_given(first)
    found = [
        f"p:{phonetic(last)}:{phonetic(given)}",
        f"s:{last}:{given[:2]}",
        f"b:{last[:2]}{len(last)}:{given}",
    ]
    if len(given) > 1:
        # Initials: a full name is filed for "J. Smith" lookups under i:, and looks up
        # the initials-only names ("J. Smith" is filed under s:smith:j).
        found.append(f"i:{last}:{given[0]}" if filing else f"s:{last}:{given[0]}")
    else:
        found.append(f"s:{last}:{given}" if filing else f"i:{last}:{given}")
    return found


def name_splits(tokens: list[str]) -> list[tuple[str, str]]:
    """The (first token, last token) reading of a name of two tokens or more, and for
    three or more also a first or last token beside the rest written as one surname
    ("chelsea van groesen" -> (chelsea, groesen), (chelsea, vangroesen), (groesen,
    chelseavan)): surnames of several words, and a name split or joined by a stray space."""
    found = [(tokens[0], tokens[-1])]
    if len(tokens) > 2:
        found += [(tokens[0], "".join(tokens[1:])), (tokens[-1], "".join(tokens[:-1]))]
    return found


def _keys(name: str, *, filing: bool) -> list[str]:
    tokens = normalise_name(name).split()
    if not tokens:
        return []
    if len(tokens) == 1:
        return [f"p1:{phonetic(canonical_given(tokens[0]))}"]
    found = []
    for first, last in name_splits(tokens):
        found += _pair_keys(first, last, filing=filing) + _pair_keys(last, first, filing=filing)
        if len(last) >= T_KEY_SURNAME_MIN:  # the surname as written, not a first name
            found.append(f"t:{canonical_given(first)}:{last[0]}{last[2:]}")
    return list(dict.fromkeys(found))


def blocking_keys(name: str) -> list[str]:
    """The name-index keys ``name`` is filed under, no duplicates."""
    return _keys(name, filing=True)


def lookup_keys(name: str) -> list[str]:
    """The name-index keys read to find the cards filed under names close to ``name``."""
    return _keys(name, filing=False)


def search_keys(name: str) -> list[str]:
    """The ``sx:`` keys of each token of ``name`` (two characters or more)."""
    return list(dict.fromkeys(f"sx:{t}" for t in normalise_name(name).split() if len(t) > 1))


def query_keys(query: str) -> list[str]:
    """What the agent's name search reads: the name's own keys, or one token's ``sx:``."""
    tokens = normalise_name(query).split()
    if len(tokens) == 1:
        return [*lookup_keys(query), *search_keys(query)]
    return lookup_keys(query)
