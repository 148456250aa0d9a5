import unicodedata

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


@pytest.mark.parametrize(
    ("raw", "region", "channel", "e164"),
    [
        ("030 1234567", "DE", Channel.voice, "+49301234567"),
        ("+49 (0)30 123456", "US", Channel.voice, "+4930123456"),
        ("0049 30 123456", "US", Channel.voice, "+4930123456"),
        ("01 23 45 67 89", "FR", Channel.voice, "+33123456789"),
        ("020 7946 0958", "GB", Channel.voice, "+442079460958"),
        ("4915123456789", "US", Channel.whatsapp, "+4915123456789"),
        ("447911123456", "DE", Channel.sms, "+447911123456"),
        ("14155550100", "DE", Channel.sms, "+14155550100"),
        ("4155550100", "US", Channel.voice, "+14155550100"),
        ("4155550100", "US", Channel.sms, "+14155550100"),  # no valid +41 reading: national
        # the tenant's own country code without "+": international where that is a number
        ("491701234567", "DE", Channel.voice, "+491701234567"),
        ("49 30 901820", "DE", Channel.voice, "+4930901820"),
        ("0491701234567", "DE", Channel.voice, "+49491701234567"),  # trunk "0": national
        ("4931 123456", "DE", Channel.voice, "+494931123456"),  # no valid +49 31...: national
        ("33 1 23 45 67 89", "FR", Channel.voice, "+33123456789"),
    ],
)
def test_phone_numbers_read_with_region_and_channel(
    raw: str, region: str, channel: Channel, e164: str
) -> None:
    assert identifiers.phone(raw, region, channel).value == e164


def test_extension_is_kept_as_written_but_not_compared() -> None:
    found = identifiers.phone("+44 20 7946 0958 ext. 45", "GB")
    assert (found.value, found.shown) == ("+442079460958", "+44 20 7946 0958 ext. 45")
    assert found == identifiers.phone("020 7946 0958", "GB")


EXTENSION_WORDS = {  # as written -> the tenant's region, the number read
    "030 123456 Durchwahl 12": ("DE", "+4930123456"),
    "+49 30 123456, App. 12": ("DE", "+4930123456"),
    "01 23 45 67 89 poste 204": ("FR", "+33123456789"),
}


@pytest.mark.parametrize("raw", list(EXTENSION_WORDS))
def test_german_and_french_extension_words_are_read_as_extensions(raw: str) -> None:
    region, e164 = EXTENSION_WORDS[raw]
    found = identifiers.phone(raw, region)
    assert (found.value, found.shown) == (e164, raw)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("030 123456", "+49 (0)30 123456", True),
        ("+49 30 123456 x12", "0049 30 123456", True),
        ("+49 30 123456", "+49 30 1234567", False),  # shares a prefix only
        ("+49 30 123456", "+44 30 123456", False),
        ("banana", "banana", False),
    ],
)
def test_same_phone_compares_the_line(a: str, b: str, same: bool) -> None:
    assert identifiers.same_phone(a, b, "DE") is same


def test_a_number_compared_again_is_not_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every CRM record of every card is compared with the caller's number: each written
    form is read once per region, not once per comparison."""
    reads: list[str] = []
    parse = identifiers._parse

    def counted(raw: str, region: str, channel: Channel | None) -> object:
        reads.append(raw)
        return parse(raw, region, channel)

    monkeypatch.setattr(identifiers, "_parse", counted)
    identifiers._line.cache_clear()
    for _ in range(3):
        assert identifiers.same_phone("+49 30 987650", "030 987650", "DE")
    assert not identifiers.same_phone("+49 30 987650", "030 987650", "AT")  # Vienna's 030
    assert reads == ["+49 30 987650", "030 987650", "+49 30 987650", "030 987650"]


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("Ann.Lee+orders@GoogleMail.com", "annlee@gmail.com"),
        ("a.n.n.lee@gmail.com", "annlee@gmail.com"),
        ("Jean.Dupont+shop@orange.fr", "jean.dupont@orange.fr"),  # dots count outside Gmail
    ],
)
def test_emails_compare_by_mailbox_and_keep_the_address_as_given(raw: str, canonical: str) -> None:
    found = identifiers.email(raw)
    assert (found.value, found.shown) == (canonical, raw)
    assert found == identifiers.email(canonical)


def test_an_address_with_umlauts_is_one_mailbox_however_its_letters_are_encoded() -> None:
    """ "ü" is one code point or "u" and a combining diaeresis (macOS and iOS copy, some
    mail clients): the same address, found on the same card and asked of CRMs as one."""
    composed = identifiers.email("Jürgen.Müller@Bäckerei.de")
    decomposed = identifiers.email(unicodedata.normalize("NFD", "Jürgen.Müller@Bäckerei.de"))
    assert decomposed == composed
    assert identifiers.search_forms(decomposed) == ["jürgen.müller@bäckerei.de"]


def test_search_forms_ask_for_the_address_as_written_and_the_mailbox() -> None:
    found = identifiers.email("Ann+orders@example.com")
    assert identifiers.search_forms(found) == ["ann+orders@example.com", "ann@example.com"]


@pytest.mark.parametrize(
    ("kind", "raw"),
    [(IdentifierKind.phone, "call me maybe"), (IdentifierKind.email, "ann at example")],
)
def test_read_keeps_what_it_cannot_read_as_typed_and_flags_it(
    kind: IdentifierKind, raw: str
) -> None:
    found = identifiers.read(kind, f" {raw} ", channel=Channel.voice, default_region="DE")
    assert (found.readable, found.shown) == (False, raw)
    assert identifiers.search_forms(found) == []
    assert found == identifiers.read(kind, raw, channel=Channel.voice)


def test_regions_are_checked() -> None:
    assert identifiers.checked_region(" de ") == "DE"
    with pytest.raises(ValueError, match="not a region"):
        identifiers.checked_region("XX")
