"""Finding a caller's number in CRM data typed by people, and proving a candidate is it.

CRMs keep phone numbers as they were typed: "(415) 555-0100", "030 123456",
"+49 (0)30 123456", "01 23 45 67 89", "415.555.0100 ext. 45". The caller's number
arrives in E.164. Each adapter asks its CRM with the vendor's own means (a phone search
that ignores formatting where the vendor has one, else the common written forms of the
number, :func:`written_forms`), then keeps only the candidates whose stored number *is*
the caller's (:func:`is_caller`): read with the tenant's default region when it has no
country code (:func:`bot.domain.identifiers.same_phone`), compared on country code and
national significant number, extensions ignored for matching (the record keeps the
number as stored, extension included, for display). A number that merely shares a
suffix with the caller's ("+49 89 30123456" for "+49 30 123456") is never the caller.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import phonenumbers
from phonenumbers import PhoneNumber, PhoneNumberFormat

from bot.domain import identifiers
from bot.services.crm import SearchCriteria

_DIGITS = re.compile(r"\d+")
_MAX_STORED = 60  # longer values are not phone numbers (phonenumbers refuses > 250)


def parse_e164(e164: str) -> PhoneNumber | None:
    try:
        return phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None


def national_number(e164: str) -> str:
    """The national significant number of an E.164 number ("+4930123456" -> "30123456");
    its plain digits if it does not parse."""
    parsed = parse_e164(e164)
    if parsed is None:
        return "".join(_DIGITS.findall(e164))
    return phonenumbers.national_significant_number(parsed)


def written_forms(e164: str) -> list[str]:
    """The ways people commonly write this number, for CRMs that compare raw strings.

    E.164, the national and international formats of its country, their digit groups
    joined by space, hyphen, dot or nothing, the "(0)" and "00" international forms
    (DE, GB, FR...), the area code in parentheses or before a slash ("030 / 123456",
    "02/123.45.67"), "+49-30-123456", in countries with a trunk "0" the international
    forms without "+" ("49 30 123456", "4930123456": PBX logs, WhatsApp ids, exports), and
    the North American "1-415-555-0100". Forms
    with an extension start with one of these, so prefix operators (``startswith``,
    ``STARTSWITH``) find them too.
    """
    return list(_written_forms(e164))


@lru_cache(maxsize=4096)
def _written_forms(e164: str) -> tuple[str, ...]:
    """Cached: the caller's number is looked up in every CRM of every card."""
    parsed = parse_e164(e164)
    if parsed is None:
        return (e164,)
    cc = str(parsed.country_code)
    national = phonenumbers.format_number(parsed, PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(parsed, PhoneNumberFormat.INTERNATIONAL)
    local = _DIGITS.findall(national)  # ["030", "123456"], ["415", "555", "0100"]
    groups = _DIGITS.findall(international)[1:]  # without the country code
    forms = [phonenumbers.format_number(parsed, PhoneNumberFormat.E164), national, international]
    for sep in (" ", "-", ".", ""):
        forms += [sep.join(local), f"+{cc} " + sep.join(groups)]
    forms.append(f"+{cc}" + " ".join(groups))
    if len(local) > 1:
        rest = local[1:]
        forms += [
            f"({local[0]}) " + " ".join(rest),
            f"{local[0]}/" + "".join(rest),
            f"{local[0]}-" + "".join(rest),
        ]
        if local[0].startswith("0"):  # a trunk prefix: the European forms
            forms += [
                f"{local[0]} / " + " ".join(rest),  # "030 / 123456", German letterheads
                f"{local[0]}/" + " ".join(rest),  # "079/123 45 67", Swiss and Belgian
                f"{local[0]}/" + ".".join(rest),  # "02/123.45.67", Belgian
                f"+{cc}-" + "-".join(groups),  # "+49-30-123456"
            ]
    if "".join(local).startswith("0") and not "".join(groups).startswith("0"):
        forms += [f"+{cc} (0)" + " ".join(groups), f"+{cc} (0) " + " ".join(groups)]
    forms += [f"00{cc} " + " ".join(groups), f"00{cc}" + "".join(groups)]
    if national.startswith("0"):  # the "+" dropped: told apart from the national "0..."
        forms += [f"{cc} " + " ".join(groups), cc + "".join(groups)]
    if cc == "1":
        forms += [f"1-{'-'.join(groups)}", f"1 {' '.join(groups)}", f"+1 {national}"]
    return tuple(dict.fromkeys(f for f in forms if f))


def is_caller(numbers: Iterable[Any], criteria: SearchCriteria) -> bool:
    """Does any of a record's stored ``numbers`` equal one of the criteria's phones?
    Each is read with the tenant's region (:func:`bot.domain.identifiers.same_phone`:
    country code and national significant number, extensions ignored)."""
    stored = [n for n in numbers if isinstance(n, str) and n.strip() and len(n) <= _MAX_STORED]
    return any(
        identifiers.same_phone(raw, e164, criteria.region)
        for raw in stored
        for e164 in criteria.phones
    )


def keep_candidate(
    criteria: SearchCriteria, numbers: Iterable[Any], emails: Iterable[Any] = ()
) -> bool:
    """Whether a record a search returned stays: always without phones to look for;
    else when its email is one asked for, or when one of its numbers is the caller's
    (:func:`is_caller`). A record a name search found is kept (a name is not verified
    here; searches by name come without phones from the lookups)."""
    if not criteria.phones or criteria.name:
        return True
    wanted = {identifiers.canonical_email(e) for e in criteria.emails}
    if any(isinstance(e, str) and identifiers.canonical_email(e) in wanted for e in emails):
        return True
    return is_caller(numbers, criteria)


__all__ = ["is_caller", "keep_candidate", "national_number", "written_forms"]
