"""How a contact is recognised: normalised phone numbers, emails and channel handles.

Normalising on the way in is what lets "+1 (555) 010-0", "5550100" and "+15550100" find
the same card.
"""

from __future__ import annotations

from enum import StrEnum

import phonenumbers
from pydantic import BaseModel, ConfigDict

from bot.domain.errors import InvalidIdentifier


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


class IdentifierKind(StrEnum):
    phone = "phone"
    email = "email"
    handle = "handle"


class Identifier(BaseModel):
    """One normalised way to reach a contact."""

    model_config = ConfigDict(frozen=True)

    kind: IdentifierKind
    value: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.value}"


def phone(raw: str, default_region: str = "US") -> Identifier:
    """E.164 form of a phone number, e.g. ``+15550100``."""
    try:
        parsed = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidIdentifier(f"{raw!r} is not a phone number: {exc}") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidIdentifier(f"{raw!r} is not a possible phone number")
    return Identifier(
        kind=IdentifierKind.phone,
        value=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
    )


def email(raw: str) -> Identifier:
    """Lower-cased, trimmed address; the domain and local part must both be present."""
    value = raw.strip().lower()
    local, _, domain = value.partition("@")
    if not local or "." not in domain or any(c.isspace() for c in value):
        raise InvalidIdentifier(f"{raw!r} is not an email address")
    return Identifier(kind=IdentifierKind.email, value=value)


def handle(channel: Channel, raw: str) -> Identifier:
    """A messaging handle, scoped by its channel so equal names on two networks differ."""
    value = raw.strip()
    if not value:
        raise InvalidIdentifier("a channel handle cannot be empty")
    return Identifier(kind=IdentifierKind.handle, value=f"{channel}:{value}")
