"""Shared pieces of the query-language adapters, Salesforce (SOQL) and Dynamics (OData).

Both search the same way (each phone and email compared for equality with the
object's phone / email fields, the name matched as a substring of its name fields),
select their default columns plus the mapped ones, give mapped fields their card
names, and follow their API's next-page links while under a limit. The vendors' own
literal quoting stays in their modules and is passed in. Both also write the card's
neutral field names (``subject``, ``name``, ``phone``, ``email``; see
:class:`bot.domain.records.NewRecord`) into their own fields the same way
(:func:`vendor_fields`), each naming its fields.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from bot.adapters.crm.http import HttpResponse
from bot.services.crm import SearchCriteria

Condition = Callable[[str, str], str]
"""(field, raw user value) -> one condition of the query language, value quoted."""


def search_terms(
    criteria: SearchCriteria,
    spec: Mapping[str, tuple[str, ...]],
    *,
    equals: Condition,
    contains: Condition,
    phone: Callable[[str, str], list[str]] | None = None,
) -> list[str]:
    """The conditions for ``criteria`` on an object whose searchable fields are ``spec``
    (``{"phone": (...), "email": (...), "name": (...)}``); any one of them may match.
    ``phone`` gives the conditions finding one E.164 number in a field (default: the
    field ``equals`` it)."""
    terms: list[str] = []
    for number in criteria.phones:
        for f in spec["phone"]:
            terms += phone(f, number) if phone else [equals(f, number)]
    for email in criteria.emails:
        terms += [equals(f, email) for f in spec["email"]]
    if criteria.name and criteria.name.strip():
        name = criteria.name.strip()
        terms += [contains(f, name) for f in spec["name"]]
    return terms


def mapped_columns(
    defaults: Iterable[str],
    field_mappings: Iterable[str],
    owner: str,
    valid: re.Pattern[str],
) -> list[str]:
    """``defaults`` plus the columns of ``owner`` the field mappings name
    (``owner.column``), when they are valid names not already selected."""
    columns = list(defaults)
    for crm_field in field_mappings:
        prefix, _, name = crm_field.rpartition(".")
        if prefix == owner and name not in columns and valid.fullmatch(name):
            columns.append(name)
    return columns


def card_name(field_mappings: Mapping[str, str], owner: str, key: str) -> str:
    """The card's name for ``owner``'s field ``key``: its ``owner.key`` mapping, else its
    plain ``key`` mapping, else ``key`` itself."""
    return field_mappings.get(f"{owner}.{key}") or field_mappings.get(key) or key


async def follow_next_links(
    response: HttpResponse,
    *,
    rows: str,
    next_link: str,
    limit: int | None,
    prefix: str,
    fetch: Callable[[str], Awaitable[HttpResponse]],
    done: Callable[[dict[str, Any]], bool] = lambda body: False,
) -> list[dict[str, Any]]:
    """The rows of a paged answer from ``response`` on: each page's ``rows`` list,
    then the page its ``next_link`` names, until ``done(body)``, no link, ``limit`` rows
    (None: no limit) or a link not starting with ``prefix`` (never off the CRM's API)."""
    found: list[dict[str, Any]] = []
    while True:
        body = response.body if isinstance(response.body, dict) else {}
        found.extend(r for r in body.get(rows, []) if isinstance(r, dict))
        link = body.get(next_link)
        if done(body) or not link or (limit is not None and len(found) >= limit):
            break
        if not str(link).startswith(prefix):
            break
        response = await fetch(str(link))
    return found[:limit] if limit is not None else found


def vendor_fields(
    fields: Mapping[str, str],
    renames: Mapping[str, str],
    person: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """``fields`` as the CRM spells them: each neutral name ``renames`` knows becomes the
    object's field; on a person (``person``: its first and last name fields, whose full
    name the CRM computes) ``name`` is split into the two, the last word the last name
    (both CRMs require it), the words before it the first name. Any other field is the
    CRM's own already (a workflow's, a mapping's) and passes as given."""
    body: dict[str, Any] = {}
    for key, value in fields.items():
        if person is not None and key == "name":
            first, _, last = value.strip().rpartition(" ")
            body.update({person[0]: first.strip(), person[1]: last} if first else {person[1]: last})
        else:
            body[renames.get(key, key)] = value
    return body


__all__ = [
    "Condition",
    "card_name",
    "follow_next_links",
    "mapped_columns",
    "search_terms",
    "vendor_fields",
]
