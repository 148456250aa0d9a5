"""Callers are found however their number was typed, in every vendor's CRM.

Each vendor's fake holds the numbers as people type them and searches them the way the
vendor documents (raw-string operators for most, formatting-blind phone search for
Salesforce SOSL and Zendesk ``phone:*``, digits-only ``rawNumber`` for Oracle). For every
vendor and every written form, an E.164 lookup finds the person; a number that only
shares a suffix (or the digits under another country code) is never the caller.
"""

from __future__ import annotations

import pytest

from bot.adapters.crm.phones import is_caller, keep_candidate, written_forms
from bot.services.crm import SearchCriteria
from tests.crm.vendors import VENDORS, Env, connect

# caller (E.164), tenant default region, forms the caller's number is stored in,
# numbers that are not the caller's
NUMBERS = {
    "US": (
        "+14155550100",
        [
            "(415) 555-0100",
            "415-555-0100",
            "415.555.0100",
            "4155550100",
            "+14155550100",
            "+1 415-555-0100",
            "+1 (415) 555-0100",
            "1-415-555-0100",
            "(415) 555-0100 x123",
            "415.555.0100 ext. 45",
        ],
        ["555-0100", "+44 4155 550100", "(415) 555-0101"],
    ),
    "GB": (
        "+442079460958",
        [
            "020 7946 0958",
            "+44 20 7946 0958",
            "+44 (0)20 7946 0958",
            "02079460958",
            "0044 20 7946 0958",
            "020 7946 0958 ext. 12",
        ],
        ["7946 0958", "+1 207-946-0958", "+44 20 7946 0959"],
    ),
    "DE": (
        "+4930123456",
        [
            "030 123456",
            "+49 30 123456",
            "+49 (0)30 123456",
            "030/123456",
            "030-123456",
            "0049 30 123456",
            "030 / 123456",
            "+49-30-123456",
            "030 123456 Durchwahl 12",
            "+49 30 123456 App. 12",
            "49 30 123456",  # international without "+" or "00", as PBXes and exports write
            "4930123456",
        ],
        ["+49 89 30123456", "123456", "089 30123456"],
    ),
    "FR": (
        "+33123456789",
        [
            "01 23 45 67 89",
            "+33 1 23 45 67 89",
            "+33 (0)1 23 45 67 89",
            "01.23.45.67.89",
            "0123456789",
            "01 23 45 67 89 poste 12",
            "33 1 23 45 67 89",
            "33123456789",
        ],
        ["23 45 67 89", "+41 1 23 45 67 89", "01 23 45 67 88"],
    ),
    "CH": (
        "+41791234567",
        [
            "079 123 45 67",
            "+41 79 123 45 67",
            "+41 (0)79 123 45 67",
            "0041 79 123 45 67",
            "079/123 45 67",
        ],
        ["+41 79 123 45 68", "+49 79 123 45 67", "123 45 67"],
    ),
    "BE": (
        "+3221234567",
        [
            "02 123 45 67",
            "+32 2 123 45 67",
            "+32 (0)2 123 45 67",
            "02/123.45.67",
            "02/123 45 67",
        ],
        ["+32 2 123 45 68", "+33 2 123 45 67", "123 45 67"],
    ),
}


EXACT_MATCH_ONLY = {"freshdesk"}
"""Vendors whose phone search compares the whole stored string, with no prefix or
formatting-blind operator: a number stored with an extension cannot be asked for."""


ENGLISH_EXTENSIONS_ONLY = {"rest"}
"""Vendors whose own phone search reads stored numbers with libphonenumber, which knows
"ext." and "x" but not the German and French words for an extension."""
EXTENSION_WORDS = ("Durchwahl", "App.", "poste")


NATIONAL_READING_ONLY = {"rest"}
"""Vendors whose own phone search reads a stored number without "+" as a national number of
the caller's country (libphonenumber's reading): "491701234567" is never +49 170 1234567
there, so crmcard is never shown it to verify."""


def findable(vendor: str, form: str) -> bool:
    if vendor in ENGLISH_EXTENSIONS_ONLY and any(word in form for word in EXTENSION_WORDS):
        return False
    return vendor not in EXACT_MATCH_ONLY or not any(c.isalpha() for c in form)


@pytest.fixture
def env(aiohttp_server, session, vtime, entra, tls) -> Env:
    return Env(aiohttp_server, session, vtime, entra, tls)


@pytest.mark.parametrize("region", list(NUMBERS))
@pytest.mark.parametrize("vendor", VENDORS)
async def test_every_written_form_is_found_and_no_look_alike(env, vendor, region):
    caller, forms, look_alikes = NUMBERS[region]
    connected = await connect(vendor, env)
    for i, form in enumerate(forms):
        connected.add_person(f"Caller{i}", form)
    for i, other in enumerate(look_alikes):
        connected.add_person(f"Other{i}", other)
    found = await connected.crm.search(SearchCriteria(phones=[caller], region=region))
    stored = {f"Caller{i}": form for i, form in enumerate(forms)}
    stored |= {f"Other{i}": other for i, other in enumerate(look_alikes)}
    titles = {r.title.strip() for r in found}
    assert sorted(stored[t] for t in titles) == sorted(f for f in forms if findable(vendor, f))


@pytest.mark.parametrize("region", list(NUMBERS))
def test_verification_alone(region):
    caller, forms, look_alikes = NUMBERS[region]
    criteria = SearchCriteria(phones=[caller], region=region)
    assert all(is_caller([form], criteria) for form in forms)
    assert not any(is_caller([other], criteria) for other in look_alikes)


@pytest.mark.parametrize("vendor", VENDORS)
async def test_an_international_number_without_plus_is_the_caller_in_its_own_country(env, vendor):
    """A German tenant's CRM holding a mobile number as "491701234567" (the "+" dropped,
    as PBX call logs, WhatsApp ids and CSV exports write it): read as +49 170 1234567, not
    as the national number 049 1701234567, which is written with its trunk "0"."""
    connected = await connect(vendor, env)
    connected.add_person("Caller0", "491701234567")
    connected.add_person("Caller1", "49 170 1234567")
    connected.add_person("Other", "0491701234567")
    found = await connected.crm.search(SearchCriteria(phones=["+491701234567"], region="DE"))
    expected = [] if vendor in NATIONAL_READING_ONLY else ["Caller0", "Caller1"]
    assert sorted(r.title.strip() for r in found) == expected


def test_numbers_without_country_code_are_read_in_the_tenant_region():
    berlin = SearchCriteria(phones=["+4930123456"], region="DE")
    assert is_caller(["030 123456"], berlin)
    paris = berlin.model_copy(update={"region": "FR"})
    assert not is_caller(["030 123456"], paris)  # in a French tenant that is no Berlin line
    us = SearchCriteria(phones=["+14155550100"], region="US")
    assert not is_caller([None, "", "n/a", "x" * 100], us)


def test_an_email_match_keeps_a_record_its_phone_does_not():
    criteria = SearchCriteria(phones=["+14155550100"], emails=["ann@example.com"])
    assert keep_candidate(criteria, ["555-0199"], ["Ann@Example.com"])
    assert not keep_candidate(criteria, ["555-0199"], ["bob@example.com"])
    assert keep_candidate(SearchCriteria(emails=["ann@example.com"]), [], [])


def test_written_forms_cover_the_common_national_and_international_forms():
    assert {"030 123456", "+49 30 123456", "+49 (0)30 123456", "030/123456"} <= set(
        written_forms("+4930123456")
    )
    assert {"(415) 555-0100", "415.555.0100", "+1 415-555-0100", "1-415-555-0100"} <= set(
        written_forms("+14155550100")
    )
    assert written_forms("not a number") == ["not a number"]
