"""How a contact is recognised: normalised phone numbers, emails and channel handles.

Normalising on the way in is what lets "+49 30 1234567", "030 1234567" (a German
tenant) and the WhatsApp id "49301234567" find the same card, and "Ann.Lee+orders@Gmail.com"
the same card as "annlee@gmail.com".

Phone numbers are read with the tenant's default region (numbers written without a
country code) and per channel: WhatsApp and SMS ids are international numbers without
"+". E-mail addresses compare case-insensitively, without a sub-address ("+tag",
RFC 5233, which Gmail, Outlook.com, iCloud, Fastmail and Proton document) and, for Gmail,
without dots in the local part ("dots don't matter in Gmail addresses", Google's help),
and with their letters composed (Unicode NFC: "ü" is one code point, as most devices write
it, not "u" and a combining diaeresis).

:func:`read` never refuses: a value that cannot be read is kept as typed and flagged
(``readable`` false), so an interaction is never lost for it. :func:`phone` and
:func:`email` are the strict readers for inputs a person can correct (workflow inputs,
the IVR lookup).
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from functools import lru_cache
from typing import Any

import phonenumbers
from pydantic import ConfigDict

from bot.domain.api_model import Model
from bot.domain.errors import InvalidIdentifier
from bot.i18n import t

DEFAULT_REGION = "US"
"""Region of numbers written without a country code, when neither the tenant nor the
deployment chose one."""

_REGIONS = frozenset(phonenumbers.SUPPORTED_REGIONS)


def checked_region(value: str) -> str:
    """An ISO 3166-1 alpha-2 region with phone numbers, upper case; ValueError otherwise."""
    region = value.strip().upper()
    if region not in _REGIONS:
        raise ValueError(
            t("{value} is not a region with phone numbers (e.g. DE, FR, GB, US)", value=repr(value))
        )
    return region


class Channel(StrEnum):
    voice = "voice"
    email = "email"
    chat = "chat"
    sms = "sms"
    whatsapp = "whatsapp"
    messenger = "messenger"
    teams = "teams"

    @property
    def is_voice(self) -> bool:
        return self is Channel.voice

    @property
    def sends_international_ids(self) -> bool:
        """WhatsApp and SMS identify senders by international numbers without "+"."""
        return self in (Channel.whatsapp, Channel.sms)


class IdentifierKind(StrEnum):
    phone = "phone"
    email = "email"
    handle = "handle"


class Identifier(Model):
    """One normalised way to reach a contact.

    ``value`` is what identifiers are compared by (E.164 number, canonical address);
    ``given`` is how it was written when that differs (shown to agents, sent to CRMs that
    store addresses as written). Two readings of one number are the same identifier, so
    equality and hashing look at ``kind`` and ``value`` only.
    """

    model_config = ConfigDict(frozen=True)

    kind: IdentifierKind
    value: str
    given: str | None = None
    readable: bool = True

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.value}"

    @property
    def shown(self) -> str:
        """How agents see it: as written for addresses and unreadable values."""
        return self.given or self.value

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, Identifier):
            return NotImplemented
        return (self.kind, self.value) == (other.kind, other.value)

    def __hash__(self) -> int:
        return hash((self.kind, self.value))


_SEPARATORS = re.compile(r"[\s().\-/]")


def _interpretations(raw: str, default_region: str, channel: Channel | None) -> list[str]:
    """The written forms worth trying, most likely first; ``raw`` read with the region
    is always one of them (an empty string stands for it).

    Digits without "+", "00" or the trunk "0" that start with the tenant's own country
    code ("49 170 1234567", "4930901820" in a German tenant) are read as international
    first: that is how PBX call logs, WhatsApp ids and CRM exports write a number whose
    "+" they dropped, while a national number is written with its trunk "0" ("0170 ...").
    The national reading is kept for when the international one is no valid number
    ("4931 12345", Norden without its "0")."""
    text = raw.strip()
    digits = _SEPARATORS.sub("", text)
    if not digits.isdigit():
        return [""]
    if digits.startswith("00"):  # international call prefix of most of the world
        return ["+" + digits[2:], ""]
    if digits.startswith("0"):  # national trunk prefix
        return [""]
    if channel is not None and channel.sends_international_ids:
        return ["+" + digits, ""]
    if digits.startswith(str(phonenumbers.country_code_for_region(default_region))):
        return ["+" + digits, ""]
    return ["", "+" + digits]


_EXTENSION_WORD = re.compile(
    r"(?<=[\d)])[\s,;]*\b(?:durchwahl|dw|apparat|app|nebenstelle|poste|p)\b\.?:?\s*(?=\d{1,7}\s*$)",
    re.IGNORECASE,
)
"""How German and French records name an extension ("030 123456 Durchwahl 12", "App. 12",
"01 23 45 67 89 poste 12"): read as the "ext." phonenumbers knows."""


def _parse(raw: str, default_region: str, channel: Channel | None) -> phonenumbers.PhoneNumber:
    possible: phonenumbers.PhoneNumber | None = None
    written = _EXTENSION_WORD.sub(" ext. ", raw)
    for form in _interpretations(written, default_region, channel):
        try:
            number = phonenumbers.parse(form or written, default_region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return number
        if possible is None and phonenumbers.is_possible_number(number):
            possible = number
    if possible is None:
        raise InvalidIdentifier(
            t("{value} is not a phone number crmcard can read", value=repr(raw))
        )
    return possible


@lru_cache(maxsize=4096)
def phone(
    raw: str, default_region: str = DEFAULT_REGION, channel: Channel | None = None
) -> Identifier:
    """E.164 form of a phone number, e.g. ``+4930123456``; raises InvalidIdentifier.

    A number with an extension ("x123", "ext. 45", "Durchwahl 12", "poste 12") is the same
    identifier as without it; the extension stays in ``given``. Cached (identifiers are
    frozen): a caller's number arrives with every event of every interaction, and reading
    it takes 20 us."""
    number = _parse(raw, default_region, channel)
    value = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    given = raw.strip() if number.extension else None
    return Identifier(kind=IdentifierKind.phone, value=value, given=given)


def is_landline(e164: str) -> bool:
    """A fixed line, as the numbering plan says (German, French, British... numbers); a
    home's line is shared by the household. US and Canadian numbers do not tell."""
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.FIXED_LINE


@lru_cache(maxsize=8192)
def _line(raw: str, default_region: str) -> tuple[int | None, str] | None:
    """Country code and national significant number of a written number; None if it
    cannot be read. Cached: every CRM record on every card is compared with the caller's
    number, and reading a number costs more than the rest of the comparison."""
    try:
        number = _parse(raw, default_region, None)
    except InvalidIdentifier:
        return None
    return number.country_code, phonenumbers.national_significant_number(number)


def same_phone(a: str, b: str, default_region: str = DEFAULT_REGION) -> bool:
    """Whether two written numbers are one line: same country code and national
    significant number, extensions ignored. Unreadable numbers are never the same."""
    first = _line(a, default_region)
    return first is not None and first == _line(b, default_region)


_SUBADDRESSED = re.compile(r"\+.*$")
_GMAIL = frozenset({"gmail.com", "googlemail.com"})


def canonical_email(address: str) -> str:
    """The mailbox an address reaches: lower case, letters composed ("ü" one code point,
    Unicode NFC), no "+tag", no Gmail dots."""
    local, _, domain = unicodedata.normalize("NFC", address.strip().lower()).rpartition("@")
    local = _SUBADDRESSED.sub("", local) or local
    if domain in _GMAIL:
        local, domain = local.replace(".", "") or local, "gmail.com"
    return f"{local}@{domain}"


def email(raw: str) -> Identifier:
    """The canonical address (see :func:`canonical_email`); raises InvalidIdentifier.
    ``given`` keeps the address as written (letters composed) when it differs."""
    written = unicodedata.normalize("NFC", raw.strip())
    local, _, domain = written.rpartition("@")
    if not local or "." not in domain or any(c.isspace() for c in written):
        raise InvalidIdentifier(t("{value} is not an email address", value=repr(raw)))
    value = canonical_email(written)
    return Identifier(
        kind=IdentifierKind.email, value=value, given=written if written != value else None
    )


def search_forms(identifier: Identifier) -> list[str]:
    """What a CRM is asked for: nothing for an unreadable value; a number in E.164; an
    address as written and, when that differs, the mailbox it reaches (a CRM may hold
    "ann@x.com" for "Ann+orders@x.com")."""
    if not identifier.readable:
        return []
    if identifier.kind is IdentifierKind.email:
        return list(dict.fromkeys([identifier.shown.lower(), identifier.value]))
    return [identifier.value]


def handle(channel: Channel, raw: str) -> Identifier:
    """A messaging handle, scoped by its channel so equal names on two networks differ."""
    value = raw.strip()
    if not value:
        raise InvalidIdentifier(t("a channel handle cannot be empty"))
    return Identifier(kind=IdentifierKind.handle, value=f"{channel}:{value}")


def read(
    kind: IdentifierKind,
    raw: str,
    *,
    channel: Channel,
    default_region: str = DEFAULT_REGION,
) -> Identifier:
    """The identifier as well as it can be read; never raises.

    What cannot be read is kept as typed (trimmed), flagged ``readable=False``: it still
    finds the card it was first seen on, is shown to the agent, and is never sent to a CRM
    as a number or address."""
    try:
        if kind is IdentifierKind.phone:
            return phone(raw, default_region, channel)
        if kind is IdentifierKind.email:
            return email(raw)
        return handle(channel, raw)
    except InvalidIdentifier:
        typed = raw.strip()
        return Identifier(kind=kind, value=f"?{typed}", given=typed, readable=False)
