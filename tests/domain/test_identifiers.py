import pytest

from bot.domain import identifiers
from bot.domain.errors import InvalidIdentifier
from bot.domain.identifiers import Channel, IdentifierKind


@pytest.mark.parametrize("raw", ["+1 555 0100", "(555) 0100", "+1-555-0100", "+15550100"])
def test_phone_numbers_normalise_to_e164(raw: str) -> None:
    assert identifiers.phone(raw).value == "+15550100"


@pytest.mark.parametrize("raw", ["banana", "12", ""])
def test_impossible_phone_numbers_are_refused(raw: str) -> None:
    with pytest.raises(InvalidIdentifier):
        identifiers.phone(raw)


def test_email_is_trimmed_and_lowercased() -> None:
    found = identifiers.email("  Edward.Ferrars@Example.COM ")
    assert (found.kind, found.value) == (IdentifierKind.email, "edward.ferrars@example.com")


@pytest.mark.parametrize("raw", ["no-at-sign", "a@b", "@example.com", "a b@example.com"])
def test_bad_emails_are_refused(raw: str) -> None:
    with pytest.raises(InvalidIdentifier):
        identifiers.email(raw)


def test_handles_are_scoped_by_channel() -> None:
    assert identifiers.handle(Channel.chat, "ed") != identifiers.handle(Channel.whatsapp, "ed")
    with pytest.raises(InvalidIdentifier):
        identifiers.handle(Channel.chat, "  ")
