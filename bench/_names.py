"""Realistic name frequencies for the merge benches.

Surnames follow a long tail like a national census: a head of real surnames (the most
common about 1% of people, as Smith is in the US) and a generated tail of rarer ones,
tens of thousands in all; given names are Zipf-like over a couple of hundred. Both benches
share it, so "James Smith" repeats as often here as in a real customer base.
"""

from __future__ import annotations

import bisect
import itertools
import random
import string

# fmt: off
HEAD_SURNAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
    "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson",
    "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White",
    "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young",
    "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green",
    "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter",
    "Roberts", "Patel", "Kim", "Chen", "Singh", "Müller", "O'Brien", "Dashwood", "Ferrars",
    "Kowalski", "Okafor", "Nakamura", "Fitzgerald", "Van der Berg", "Haddad", "Novak",
    "Bergström", "Costa", "Dubois", "Rossi", "Schneider", "Ivanova", "Mensah", "Tanaka",
    "McCarthy", "MacDonald", "Sullivan", "Murphy", "Kelly", "Reyes", "Cruz", "Morales",
    "Ortiz", "Gutierrez", "Chavez", "Ramos", "Ruiz", "Alvarez", "Mendoza", "Castillo",
    "Jimenez", "Moreno", "Romero", "Herrera", "Medina", "Aguilar", "Vargas", "Guzman",
    "Wallace", "Bennett", "Hughes", "Price", "Sanders", "Myers", "Long", "Ross", "Foster",
]
GIVEN = [
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda",
    "David", "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica",
    "Thomas", "Sarah", "Christopher", "Karen", "Charles", "Lisa", "Daniel", "Nancy",
    "Matthew", "Margaret", "Anthony", "Sandra", "Mark", "Ashley", "Donald", "Kimberly",
    "Steven", "Emily", "Paul", "Donna", "Andrew", "Michelle", "Joshua", "Carol", "Kenneth",
    "Amanda", "Kevin", "Melissa", "Brian", "Deborah", "George", "Stephanie", "Timothy",
    "Rebecca", "Ronald", "Sharon", "Edward", "Laura", "Jason", "Cynthia", "Jeffrey",
    "Katherine", "Ryan", "Amy", "Jacob", "Angela", "Gary", "Shirley", "Nicholas", "Anna",
    "Eric", "Brenda", "Jonathan", "Pamela", "Stephen", "Emma", "Larry", "Nicole", "Justin",
    "Helen", "Scott", "Samantha", "Brandon", "Christine", "Benjamin", "Debra", "Samuel",
    "Rachel", "Gregory", "Carolyn", "Alexander", "Janet", "Frank", "Catherine", "Patrick",
    "Maria", "Raymond", "Heather", "Jack", "Diane", "Dennis", "Ruth", "Jerry", "Julie",
    "Elinor", "Marianne", "Priya", "Wei", "Carlos", "Fatima", "Olusegun", "Aiko", "Mateo",
    "Sofia", "Ingrid", "Dmitri", "Aaliyah", "Hiroshi", "Lucia", "Kwame", "Siobhan", "Rahul",
    "Ana", "Jonas", "Hannah", "Grace", "Noah", "Liam", "Olivia", "Ava", "Mia", "Ethan",
    "Lucas", "Zoe", "Nathan", "Isabella", "Chloe", "Amelia", "Harper", "Evelyn", "Abigail",
    "Madison", "Charlotte", "Scarlett", "Layla", "Nora", "Riley", "Aria", "Jackson",
    "Aiden", "Caleb", "Owen", "Isaac", "Julian", "Adrian", "Miguel", "Diego", "Andrea",
    "Valentina", "Camila", "Yusuf", "Omar", "Leila", "Amara", "Chinedu", "Kofi", "Anjali",
    "Arjun", "Vikram", "Mei", "Jun", "Yuki", "Minh", "Thanh", "Lars", "Astrid", "Freya",
    "Niamh", "Ciaran", "Declan", "Bronwyn", "Rhys", "Gareth", "Pierre", "Camille", "Giulia",
    "Matteo", "Lorenzo", "Francesca", "Tomasz", "Katarzyna", "Oksana", "Victoria",
]
# fmt: on
_ONSETS = [*"bcdfghklmnprstvwz", "br", "ch", "gr", "st", "th", "sh"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ou"]
_CODAS = ["", "n", "r", "s", "t", "ll", "nd", "rk", "ck", "m"]
_ENDINGS = ["", "son", "man", "er", "ley", "ton", "ez", "ini", "ova", "sky", "berg", "well"]


def _tail(count: int) -> list[str]:
    seen = {s.lower() for s in HEAD_SURNAMES}
    combos = list(itertools.product(_ONSETS, _VOWELS, _CODAS, _ENDINGS))
    random.Random(11).shuffle(combos)
    made: list[str] = []
    for onset, vowel, coda, ending in combos:
        name = (onset + vowel + coda + ending).capitalize()
        if len(name) > 3 and name.lower() not in seen:
            seen.add(name.lower())
            made.append(name)
            if len(made) == count:
                break
    return made


class Names:
    """Draws (given, surname) with census-like frequencies."""

    def __init__(self, seed: int, surnames: int = 20_000) -> None:
        self.rng = random.Random(seed)
        self.surnames = HEAD_SURNAMES + _tail(surnames - len(HEAD_SURNAMES))
        self._surname_cdf = list(
            itertools.accumulate(1 / (rank + 10) for rank in range(len(self.surnames)))
        )
        self._given_cdf = list(itertools.accumulate(1 / (rank + 5) for rank in range(len(GIVEN))))

    def _pick(self, items: list[str], cdf: list[float]) -> str:
        return items[bisect.bisect(cdf, self.rng.random() * cdf[-1])]

    def given(self) -> str:
        return self._pick(GIVEN, self._given_cdf)

    def surname(self) -> str:
        return self._pick(self.surnames, self._surname_cdf)


def typo(rng: random.Random, word: str) -> str:
    """One slip of the keyboard: a letter dropped, swapped, replaced or doubled."""
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    op = rng.choice(["drop", "swap", "replace", "double"])
    if op == "drop":
        return word[:i] + word[i + 1 :]
    if op == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if op == "replace":
        return word[:i] + rng.choice(string.ascii_lowercase) + word[i + 1 :]
    return word[:i] + word[i] + word[i:]
