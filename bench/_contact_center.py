"""A European contact center's customers, built differently from ``synthetic``.

German, French, British and US people (a German tenant: default region DE) reach the
center over voice, e-mail, web chat, WhatsApp and SMS. Numbers arrive as each channel
sends them: national ("030 1234567", German callers only), international ("+33 6 12 34
56 78", "0044 7911 123456", "+49 (0)30 1234567"), and WhatsApp/SMS ids (international
digits without "+"). Addresses arrive with sub-addresses ("anna.weber+info@web.de"),
Gmail dots and case changes. Names follow census-like frequencies per country (Müller,
Martin and Smith about 2% of their countries' people) and arrive as given, as a
nickname, with a typo, with umlauts transliterated (Mueller, Muller) or accents
dropped, "Last, First", a first name alone, or not at all. Households share a landline,
often a surname, an address and a family mailbox; the CRM (60% of people) finds a
household's contact for every member calling from the shared line. CRM contacts carry a
birth date, street, postcode and city when known (about half each).
"""

from __future__ import annotations

import random
import string
from collections import defaultdict
from typing import Any

import phonenumbers

from bench._names import typo
from bot.domain.identifiers import canonical_email

# fmt: off
PEOPLE: dict[str, tuple[list[str], list[str]]] = {
    "DE": (
        ["Thomas", "Michael", "Andreas", "Stefan", "Peter", "Christian", "Klaus", "Wolfgang",
         "Jürgen", "Johannes", "Josef", "Frank", "Markus", "Sabine", "Susanne", "Petra",
         "Monika", "Stefanie", "Katharina", "Anna", "Julia", "Claudia", "Birgit", "Ursula",
         "Franziska", "Jörg", "Günter", "Lena", "Lukas", "Maximilian"],
        ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
         "Schulz", "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf",
         "Schröder", "Neumann", "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann",
         "Hartmann", "Lange", "Schmitt", "Werner", "Krause", "Meier", "Lehmann", "Köhler",
         "Weiß", "Jäger", "Groß", "Kühn", "Vogel", "Friedrich", "Günther", "Keller", "Roth"],
    ),
    "FR": (
        ["Jean", "Pierre", "Michel", "Philippe", "Nicolas", "François", "Frédéric", "Stéphane",
         "Marie", "Nathalie", "Isabelle", "Sylvie", "Catherine", "Françoise", "Céline",
         "Sébastien", "Julien", "Camille", "Léa", "Manon", "Hélène", "Thierry", "Éric",
         "Laurent", "Sophie"],
        ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
         "Leroy", "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David",
         "Bertrand", "Roux", "Vincent", "Fournier", "Morel", "Girard", "André", "Lefebvre",
         "Mercier", "Dupont", "Lambert", "Bonnet", "François", "Martinez", "Lévêque"],
    ),
    "GB": (
        ["Oliver", "George", "Harry", "Jack", "James", "William", "Thomas", "David", "Paul",
         "Mark", "Elizabeth", "Margaret", "Sarah", "Emma", "Charlotte", "Sophie", "Rebecca",
         "Katherine", "Victoria", "Olivia", "Siobhan", "Gareth", "Rhys", "Robert", "Susan"],
        ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
         "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green",
         "Hall", "Wood", "Jackson", "Clarke", "Patel", "Hughes", "Edwards", "O'Brien",
         "McCarthy", "Khan", "Lewis", "Harris", "Murphy", "Cooper"],
    ),
    "US": (
        ["James", "Robert", "John", "Michael", "David", "William", "Richard", "Joseph",
         "Christopher", "Daniel", "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth",
         "Barbara", "Susan", "Jessica", "Karen", "Nancy", "Anthony", "Steven", "Deborah",
         "Samantha", "Benjamin"],
        ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
         "Rodriguez", "Martinez", "Hernandez", "Lopez", "Wilson", "Anderson", "Taylor",
         "Moore", "Jackson", "Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Lewis",
         "Nguyen", "Kowalski", "Cohen", "Sullivan"],
    ),
}
NICKNAMES: dict[str, list[str]] = {
    "Johannes": ["Hans", "Hannes"], "Josef": ["Sepp", "Joseph"], "Stefanie": ["Steffi"],
    "Katharina": ["Kathi", "Katja"], "Franziska": ["Franzi"], "Maximilian": ["Max"],
    "Michael": ["Mike", "Micha"], "Christian": ["Chris"], "Thomas": ["Tom"],
    "Andreas": ["Andi"], "Nicolas": ["Nico"], "Frédéric": ["Fred"], "Elizabeth": ["Liz", "Beth"],
    "Margaret": ["Maggie", "Peggy"], "William": ["Will", "Bill"], "Robert": ["Bob", "Rob"],
    "James": ["Jim", "Jamie"], "Katherine": ["Kate", "Katie"], "Rebecca": ["Becky"],
    "Victoria": ["Vicky"], "Richard": ["Rick", "Dick"], "Joseph": ["Joe"],
    "Christopher": ["Chris"], "Daniel": ["Dan", "Danny"], "Jennifer": ["Jen", "Jenny"],
    "Patricia": ["Pat", "Trish"], "Susan": ["Sue"], "Anthony": ["Tony"], "Steven": ["Steve"],
    "Samantha": ["Sam"], "Benjamin": ["Ben"], "Deborah": ["Debbie"], "David": ["Dave"],
    "Jürgen": ["Jürgi"], "Wolfgang": ["Wolf"],
}
EMAIL_DOMAINS = {
    "DE": ["web.de", "gmx.de", "t-online.de", "gmail.com", "googlemail.com"],
    "FR": ["orange.fr", "free.fr", "laposte.net", "gmail.com", "sfr.fr"],
    "GB": ["btinternet.com", "yahoo.co.uk", "gmail.com", "outlook.com", "sky.com"],
    "US": ["gmail.com", "yahoo.com", "outlook.com", "icloud.com", "aol.com"],
}
COUNTRY_SHARE = {"DE": 0.4, "FR": 0.25, "GB": 0.2, "US": 0.15}
# What a national number starts with (after the trunk 0 / country code), per kind.
PREFIXES = {
    ("DE", "mobile"): ["151", "160", "170", "171", "176"],
    ("DE", "home"): ["30", "40", "89", "221"],
    ("FR", "mobile"): ["6", "7"], ("FR", "home"): ["1", "2", "4", "5"],
    ("GB", "mobile"): ["7911", "7700", "7400"], ("GB", "home"): ["20", "161", "131"],
    ("US", "mobile"): ["212", "415", "617", "312"], ("US", "home"): ["206", "303", "404"],
}
TRANSLIT = {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"}
STREETS = {
    "DE": ["Hauptstraße", "Schulstraße", "Gartenstraße", "Bahnhofstraße", "Dorfstraße"],
    "FR": ["rue de la Paix", "avenue Victor Hugo", "rue Pasteur", "rue de la Gare"],
    "GB": ["High Street", "Station Road", "Church Lane", "Victoria Road"],
    "US": ["Main Street", "Oak Avenue", "Maple Drive", "Park Place"],
}
CITIES = {
    "DE": [("Berlin", "10115"), ("Hamburg", "20095"), ("München", "80331"), ("Köln", "50667")],
    "FR": [("Paris", "75001"), ("Lyon", "69001"), ("Marseille", "13001"), ("Lille", "59000")],
    "GB": [("London", "SW1A 1AA"), ("Manchester", "M1 1AE"), ("Glasgow", "G1 1XQ")],
    "US": [("New York", "10001"), ("Boston", "02108"), ("Chicago", "60601")],
}
# fmt: on
TENANT_REGION = "DE"


ENDINGS = {
    "DE": ["mann", "er", "bach", "berg", "hardt", "ke", "inger", "hoff"],
    "FR": ["ier", "eau", "ot", "in", "ard", "et", "aud", "on"],
    "GB": ["son", "ton", "ley", "ford", "well", "by", "wood", "er"],
    "US": ["son", "ton", "ley", "man", "ez", "ski", "stein", "er"],
}


class _Names:
    """Per-country names with census-like frequencies: the list above as the head (the
    commonest surname about 2% of people, as Müller or Smith are), a generated tail of
    rarer surnames, and first names over the head plus an international tail."""

    def __init__(self, rng: random.Random) -> None:
        from bench._names import GIVEN

        self.rng = rng
        self.lists: dict[str, tuple[list[str], list[float], list[str], list[float]]] = {}
        for country, (given, surnames) in PEOPLE.items():
            tail = [
                (onset + vowel + ending).capitalize()
                for onset in ["b", "d", "f", "g", "h", "k", "l", "m", "n", "r", "s", "t", "w"]
                for vowel in ["a", "e", "i", "o", "u", "au", "ei"]
                for ending in ENDINGS[country]
            ]
            all_surnames = [*surnames, *(t for t in tail if t not in surnames)]
            all_given = [*given, *(g for g in GIVEN if g not in given)]
            self.lists[country] = (
                all_given,
                [1 / (rank + 5) for rank in range(len(all_given))],
                all_surnames,
                [1 / (rank + 10) for rank in range(len(all_surnames))],
            )

    def given(self, country: str) -> str:
        names, weights, _, _ = self.lists[country]
        return self.rng.choices(names, weights)[0]

    def surname(self, country: str) -> str:
        _, _, names, weights = self.lists[country]
        return self.rng.choices(names, weights)[0]


def _number(rng: random.Random, country: str, kind: str, used: set[str]) -> str:
    """A valid E.164 number of that country and kind, not used before."""
    code = phonenumbers.country_code_for_region(country)
    while True:
        prefix = rng.choice(PREFIXES[(country, kind)])
        length = {"DE": 11, "FR": 9, "GB": 10, "US": 10}[country]
        rest = "".join(rng.choice(string.digits) for _ in range(length - len(prefix)))
        if country == "US":
            rest = str(rng.randint(2, 9)) + rest[1:]
        e164 = f"+{code}{prefix}{rest}"
        if e164 not in used and phonenumbers.is_valid_number(phonenumbers.parse(e164)):
            used.add(e164)
            return e164


def written_number(rng: random.Random, e164: str, channel: str) -> str:
    """How the platform sends the number on that channel."""
    number = phonenumbers.parse(e164)
    digits = e164.lstrip("+")
    if channel in ("whatsapp", "sms") and rng.random() < 0.85:
        return digits  # WhatsApp / SMS ids: international, no "+"
    region = phonenumbers.region_code_for_number(number)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    forms = [international, e164, "00" + international.lstrip("+")]
    if region == TENANT_REGION:
        forms += [national, national.replace(" ", ""), national.replace(" ", "/", 1)]
        trunkless = national.lstrip("0")
        forms.append(f"+{number.country_code} (0){trunkless}")
    return rng.choice(forms)


def _plain(text: str) -> str:
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", text.translate(str.maketrans(TRANSLIT)))
    kept = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return "".join(c for c in kept if c.isalnum() or c == ".")


def _transliterated(rng: random.Random, word: str) -> str:
    if rng.random() < 0.5:
        return word.translate(str.maketrans(TRANSLIT))  # Müller -> Mueller
    return _plain(word).capitalize() if word.isalpha() else word  # Müller -> Muller


def _address(rng: random.Random, local: str, domain: str, taken: set[str]) -> str:
    """A mailbox nobody else has: a common name gets a number, as providers insist."""
    address = f"{local}@{domain}"
    while canonical_email(address) in taken:
        address = f"{local}{rng.randint(1, 999)}@{domain}"
    taken.add(canonical_email(address))
    return address


def people(persons: int, seed: int) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """The population (person id -> facts) and each person's household id."""
    rng = random.Random(seed)
    names = _Names(rng)
    used: set[str] = set()
    taken: set[str] = set()
    found: dict[str, dict[str, Any]] = {}
    household_of: dict[str, str] = {}
    previous: str | None = None
    for p in range(persons):
        pid = f"Q{p}"
        head = found.get(previous) if previous else None
        joins = head is not None and rng.random() < 0.25 and head["members"] < 3
        if joins and head is not None and previous is not None:
            country = head["country"]
            given = names.given(country)
            while given in head["given_names"]:
                given = names.given(country)
            head["given_names"].append(given)
            surname = head["surname"] if rng.random() < 0.8 else names.surname(country)
            home, address = head["home"], head["address"]
            family_email = head["family_email"] if rng.random() < 0.3 else None
            head["members"] += 1
            household_of[pid] = household_of[previous]
        else:
            country = rng.choices(list(COUNTRY_SHARE), list(COUNTRY_SHARE.values()))[0]
            given, surname = names.given(country), names.surname(country)
            home = _number(rng, country, "home", used) if rng.random() < 0.5 else None
            city, postcode = rng.choice(CITIES[country])
            address = {
                "street": f"{rng.choice(STREETS[country])} {rng.randint(1, 120)}",
                "city": city,
                "zip": postcode,
            }
            family_email = None
            household_of[pid] = pid
            previous = pid
        domain = rng.choice(EMAIL_DOMAINS[country])
        emails = [_address(rng, f"{_plain(given)}.{_plain(surname)}", domain, taken)]
        if rng.random() < 0.3:
            work = rng.choice(EMAIL_DOMAINS[country])
            emails.append(_address(rng, f"{_plain(given)[0]}{_plain(surname)}", work, taken))
        found[pid] = {
            "country": country,
            "given": given,
            "surname": surname,
            "mobile": _number(rng, country, "mobile", used),
            "home": home,
            "address": address,
            "emails": list(dict.fromkeys(emails)),
            "family_email": family_email
            or (_address(rng, f"familie.{_plain(surname)}", domain, taken) if home else None),
            "handle": f"web-{rng.getrandbits(40):x}",
            "birthdate": f"{rng.randint(1940, 2005)}{rng.randint(1, 12):02}{rng.randint(1, 28):02}",
            "crm": rng.random() < 0.6,
            "members": 1,
            "given_names": [given],
        }
    return found, household_of


def _spoken(rng: random.Random, person: dict[str, Any], channel: str) -> str | None:
    given, surname = person["given"], person["surname"]
    if channel in ("voice", "sms", "whatsapp") and rng.random() < 0.2:
        return None  # IVR, or a message without a signature
    if channel == "chat" and rng.random() < 0.3:
        return None  # anonymous web visitor
    roll = rng.random()
    if roll < 0.4:
        return f"{given} {surname}"
    if roll < 0.52 and given in NICKNAMES:
        return f"{rng.choice(NICKNAMES[given])} {surname}"
    if roll < 0.64:
        return f"{_transliterated(rng, given)} {_transliterated(rng, surname)}"
    if roll < 0.76:
        if rng.random() < 0.5:
            return f"{typo(rng, given)} {surname}"
        return f"{given} {typo(rng, surname)}"
    if roll < 0.82:
        return f"{surname}, {given}"
    if roll < 0.92:
        return given  # chat: a first name only
    return f"{given[0]}. {surname}"


def _address_variant(rng: random.Random, address: str) -> str:
    roll = rng.random()
    if roll < 0.6:
        return address.upper() if rng.random() < 0.2 else address
    if roll < 0.8:
        return address.replace("+", "").replace("@", "+info@", 1)  # a sub-address
    local, _, domain = address.partition("@")
    if domain in ("gmail.com", "googlemail.com"):
        return f"{local.replace('.', '')}@{rng.choice(['gmail.com', 'googlemail.com'])}"
    return address.capitalize()


def touches(persons: int, seed: int) -> tuple[list[tuple[Any, ...]], dict[str, str]]:
    """(person, channel, raw identifier, name given, CRM contacts found) per interaction,
    and the household of each person."""
    rng = random.Random(seed + 1)
    population, household_of = people(persons, seed)
    by_phone: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_email: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for pid, person in population.items():
        if not person["crm"]:
            continue
        phone = person["home"] if person["home"] and rng.random() < 0.4 else person["mobile"]
        fields = {"phone": phone, "email": person["emails"][0]}
        if rng.random() < 0.5:
            fields["birthdate"] = person["birthdate"]
        if rng.random() < 0.5:
            fields.update(person["address"])
        contact = {
            "id": f"C{pid}",
            "name": f"{person['given']} {person['surname']}",
            "fields": fields,
        }
        if not any(c["fields"]["phone"] == phone for c in by_phone[phone]):
            by_phone[phone].append(contact)  # a shared line finds the first member's contact
        by_email[person["emails"][0]].append(contact)
    made: list[tuple[Any, ...]] = []
    for pid, person in population.items():
        options: list[tuple[str, str]] = [
            ("voice", person["mobile"]),
            ("whatsapp", person["mobile"]),
            ("sms", person["mobile"]),
            *(("email", e) for e in person["emails"]),
            ("chat", person["handle"]),
        ]
        if person["home"]:
            options += [("voice", person["home"])] * 2
        if person["family_email"]:
            options.append(("email", person["family_email"]))
        rng.shuffle(options)
        count = rng.choices([1, 2, 3, 4], [0.3, 0.35, 0.2, 0.15])[0]
        for channel, value in options[:count]:
            if channel in ("voice", "sms", "whatsapp"):
                raw = written_number(rng, value, channel)
                found = by_phone.get(value, [])
            elif channel == "email":
                raw = _address_variant(rng, value)
                found = by_email.get(value, [])
            else:
                raw, found = value, []
            made.append((pid, channel, raw, _spoken(rng, person, channel), list(found)))
    rng.shuffle(made)
    return made, household_of
