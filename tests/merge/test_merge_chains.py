"""Chains of merges and undos of Edward's three cards, over HTTP, books checked at every step.

Edward Ferrars has a voice card (A, call-1), an e-mail card (B, mail-1, with the CRM
contact linked) and an SMS card (C, sms-1): three cards of one person. After every merge
and undo: every identifier and interaction belongs to exactly one standing card, the link
on B's interaction is still there, the merge candidates offer only standing cards (and
the undone one again), and the card of a moved interaction says which card it is on now.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient

from bot.domain.cards import CardIdentity
from bot.domain.interactions import Interaction
from bot.services import audit, data_subjects, keys, name_index
from bot.services.audit import AuditQuery
from bot.services.data_subjects import SubjectQuery
from bot.web.app import CONTEXT
from tests.activities import TENANT, interaction_event
from tests.bot.test_customer_card_flow import (
    KEY,
    actions,
    install,
    invoke,
    record_action,
    start_call,
    texts,
)
from tests.connector import FakeConnector
from tests.merge.test_merge_flow import documents, start_email

Client = TestClient[Any, Any]
EMAIL = "edward.ferrars@example.com"


async def start_sms(client: Client, interaction_id: str = "sms-1") -> dict[str, Any]:
    response = await client.post(
        "/api/interactions",
        json=interaction_event(interaction_id, "assigned", channel="sms"),
        headers=KEY,
    )
    assert response.status == 202, await response.text()
    body: dict[str, Any] = await response.json()
    return body


@dataclass
class Edward:
    client: Client
    url: str
    a: str  # the voice card
    b: str  # the e-mail card
    c: str  # the SMS card
    links: dict[str, Any]  # mail-1's links, as the agent left them

    async def interaction(self, interaction_id: str) -> dict[str, Any]:
        found: dict[str, Any] = (await documents(self.client, "interactions/"))[
            keys.interaction(TENANT, interaction_id)
        ]
        return found

    async def card(self, interaction_id: str) -> dict[str, Any]:
        """The interaction's card as a click renders it now."""
        rev = (await self.interaction(interaction_id))["revision"]
        data = {"interactionId": interaction_id, "rev": rev}
        card: dict[str, Any] = (await invoke(self.client, self.url, "refreshCard", data))["value"]
        return card

    async def merge(self, open_interaction: str, other_card: str) -> str:
        """From the card of ``open_interaction``: search ``other_card`` by id, merge it."""
        [start] = actions(await self.card(open_interaction), "merge")
        found = await invoke(
            self.client, self.url, "mergeSearch", {**start["data"], "query": other_card}
        )
        [pick] = actions(found["value"], "mergeConfirm")
        assert pick["data"]["otherCardId"] == other_card
        confirm = (await invoke(self.client, self.url, "mergeConfirm", pick["data"]))["value"]
        [do] = actions(confirm, "mergeDo")
        done = (await invoke(self.client, self.url, "mergeDo", do["data"]))["value"]
        [undo] = actions(done, "mergeUndo")
        merge_id: str = undo["data"]["auditId"]
        return merge_id

    async def undo(self, interaction_id: str, merge_id: str) -> str:
        """Undo ``merge_id`` from the card of ``interaction_id``: the card's texts."""
        rev = (await self.interaction(interaction_id))["revision"]
        data = {"interactionId": interaction_id, "rev": rev, "auditId": merge_id}
        body = await invoke(self.client, self.url, "mergeUndo", data)
        assert body["statusCode"] == 200
        return texts(body["value"])

    async def offered(self, interaction_id: str) -> set[str]:
        """The cards the Merge button of the interaction's card offers."""
        [start] = actions(await self.card(interaction_id), "merge")
        listed = (await invoke(self.client, self.url, "merge", start["data"]))["value"]
        return {a["data"]["otherCardId"] for a in actions(listed, "mergeConfirm")}

    async def books(self, expected: dict[str, list[str]]) -> None:
        """The standing cards are exactly ``expected`` (card -> its interactions), every
        identifier and interaction is on exactly one of them, and mail-1 keeps its link."""
        cards = await documents(self.client, "cards/")
        markers = await documents(self.client, "card-merges/")
        absorbed = {
            key.rsplit("/", 1)[1] for key, marker in markers.items() if marker["role"] == "absorbed"
        }
        assert not [m for m in markers.values() if m["role"] != "absorbed"]  # no hold left
        standing = {card["id"]: card for card in cards.values() if card["id"] not in absorbed}
        assert {c: card["interaction_ids"] for c, card in standing.items()} == expected
        interactions = await documents(self.client, "interactions/")
        for card_id, card in standing.items():
            for interaction_id in card["interaction_ids"]:
                assert interactions[keys.interaction(TENANT, interaction_id)]["card_id"] == card_id
        owners: dict[str, str] = {}
        for card_id, card in standing.items():
            for identity in card["identities"]:
                key = keys.card_index(TENANT, CardIdentity.model_validate(identity).key)
                assert key not in owners, f"{key} on {owners.get(key)} and {card_id}"
                owners[key] = card_id
        index = await documents(self.client, "card-index/")
        assert {k: e["card_id"] for k, e in index.items()} == owners
        assert (await self.interaction("mail-1"))["links"] == self.links

    async def offers(self, interaction_id: str, expected: set[str]) -> None:
        offered = await self.offered(interaction_id)
        assert offered == expected, (interaction_id, offered, expected)

    async def notice(self, interaction_id: str) -> str | None:
        """The undo the interaction's card offers for the merge that moved it, if any."""
        card = await self.card(interaction_id)
        if "Merged into the card of" not in texts(card):
            return None
        [undo] = actions(card, "mergeUndo")
        merge_id: str = undo["data"]["auditId"]
        return merge_id

    async def audited(self) -> list[tuple[str, str, str]]:
        assert self.client.app is not None
        found = await audit.query(self.client.app[CONTEXT].store, TENANT, AuditQuery(kind="card"))
        return [
            (e.kind, e.target or "", e.details["absorbedCardId"])
            for e in found
            if e.kind.startswith("card.merge")
        ]

    async def subject(self, **query: str) -> set[str]:
        assert self.client.app is not None
        ctx = self.client.app[CONTEXT]
        found = await data_subjects.find(
            ctx.store, TENANT, SubjectQuery.model_validate(query), "US"
        )
        return set(found.card_ids)


async def edward(client: Client, url: str, fake: FakeConnector) -> Edward:
    await install(client, url)
    a = (await start_call(client, "call-1"))["cardId"]
    b = (await start_email(client, "mail-1"))["cardId"]
    c = (await start_sms(client, "sms-1"))["cardId"]
    assert len({a, b, c}) == 3
    mail_card = [s.card for s in fake.cards() if '"mail-1"' in texts(s.card)][-1]
    link = record_action(mail_card or {}, "link", "contact:")
    assert (await invoke(client, url, "link", link["data"]))["statusCode"] == 200
    links = (await documents(client, "interactions/"))[keys.interaction(TENANT, "mail-1")]["links"]
    assert links
    person = Edward(client, url, a, b, c, links)
    await person.books({a: ["call-1"], b: ["mail-1"], c: ["sms-1"]})
    await person.offers("call-1", {b, c})
    return person


async def test_two_merges_into_one_card_then_the_first_undone(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    p = await edward(bot_client, url, fake)
    first = await p.merge("call-1", p.b)
    await p.books({p.a: ["call-1", "mail-1"], p.c: ["sms-1"]})
    await p.offers("call-1", {p.c})
    second = await p.merge("call-1", p.c)
    await p.books({p.a: ["call-1", "mail-1", "sms-1"]})
    await p.offers("call-1", set())
    assert (await p.notice("mail-1"), await p.notice("sms-1")) == (first, second)
    assert await p.subject(email=EMAIL) == {p.a, p.b, p.c}

    assert "Merge undone" in await p.undo("call-1", first)
    await p.books({p.a: ["call-1", "sms-1"], p.b: ["mail-1"]})
    await p.offers("call-1", {p.b})
    await p.offers("mail-1", {p.a})
    assert (await p.notice("mail-1"), await p.notice("sms-1")) == (None, second)
    assert await p.subject(email=EMAIL) == {p.b}
    assert await p.subject(phone="+1 555 0100") == {p.a, p.c}
    # Undone twice: the same answer, nothing moves.
    assert "Merge undone" in await p.undo("call-1", first)
    await p.books({p.a: ["call-1", "sms-1"], p.b: ["mail-1"]})

    assert "Merge undone" in await p.undo("sms-1", second)
    await p.books({p.a: ["call-1"], p.b: ["mail-1"], p.c: ["sms-1"]})
    await p.offers("call-1", {p.b, p.c})
    assert await p.audited() == [
        ("card.merge", p.a, p.b),
        ("card.merge", p.a, p.c),
        ("card.mergeUndo", p.a, p.b),
        ("card.mergeUndo", p.a, p.c),
    ]


async def test_the_merged_card_merged_again_is_undone_last_first(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    p = await edward(bot_client, url, fake)
    first = await p.merge("call-1", p.b)  # A <- B
    second = await p.merge("sms-1", p.a)  # C <- A (with B in it)
    await p.books({p.c: ["sms-1", "call-1", "mail-1"]})
    await p.offers("sms-1", set())
    assert await p.notice("call-1") == second
    assert await p.subject(email=EMAIL) == {p.a, p.b, p.c}
    # A new e-mail from B's address reaches the card that stands.
    mail2 = await start_email(bot_client, "mail-2")
    assert mail2["cardId"] == p.c
    await p.books({p.c: ["sms-1", "call-1", "mail-1", "mail-2"]})

    # The first merge cannot be undone while its card is merged into another.
    refused = await p.undo("mail-1", first)
    assert "merged again since; undo that merge first" in refused
    await p.books({p.c: ["sms-1", "call-1", "mail-1", "mail-2"]})

    assert "Merge undone" in await p.undo("call-1", second)
    await p.books({p.a: ["call-1", "mail-1"], p.c: ["sms-1", "mail-2"]})
    await p.offers("sms-1", {p.a})
    await p.offers("call-1", {p.c})
    # mail-1 is still on A by the first merge, which stands: its card says so.
    assert await p.notice("mail-1") == first
    assert await p.notice("call-1") is None
    assert await p.subject(phone="+1 555 0100") == {p.a, p.b, p.c}

    assert "Merge undone" in await p.undo("mail-1", first)
    await p.books({p.a: ["call-1"], p.b: ["mail-1"], p.c: ["sms-1", "mail-2"]})
    await p.offers("call-1", {p.b, p.c})
    assert await p.notice("mail-1") is None
    assert await p.subject(card_id=p.b) == {p.b}
    assert await p.audited() == [
        ("card.merge", p.a, p.b),
        ("card.merge", p.c, p.a),
        ("card.mergeUndo", p.c, p.a),
        ("card.mergeUndo", p.a, p.b),
    ]


async def test_a_merge_undone_lets_the_card_be_merged_elsewhere_and_back(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    """A <- B, undone; then C <- B and A <- C; undone in either order the books hold."""
    fake, url = connector
    p = await edward(bot_client, url, fake)
    first = await p.merge("call-1", p.b)
    assert "Merge undone" in await p.undo("call-1", first)
    second = await p.merge("sms-1", p.b)  # C <- B
    await p.books({p.a: ["call-1"], p.c: ["sms-1", "mail-1"]})
    await p.offers("call-1", {p.c})
    assert await p.notice("mail-1") == second
    third = await p.merge("call-1", p.c)  # A <- C (with B in it)
    await p.books({p.a: ["call-1", "sms-1", "mail-1"]})
    assert "undo that merge first" in await p.undo("mail-1", second)
    assert "Merge undone" in await p.undo("call-1", third)
    await p.books({p.a: ["call-1"], p.c: ["sms-1", "mail-1"]})
    assert await p.notice("mail-1") == second
    await p.offers("call-1", {p.c})
    assert "Merge undone" in await p.undo("mail-1", second)
    await p.books({p.a: ["call-1"], p.b: ["mail-1"], p.c: ["sms-1"]})
    await p.offers("call-1", {p.b, p.c})
    # The oldest merge, undone long ago, stays undone.
    assert "Merge undone" in await p.undo("call-1", first)
    await p.books({p.a: ["call-1"], p.b: ["mail-1"], p.c: ["sms-1"]})
    assert json.dumps(await p.audited()).count("card.mergeUndo") == 3


async def test_what_a_twice_moved_interaction_tells_later_leaves_with_each_undo(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    """mail-1, moved B -> A -> C, tells a new name (a CRM that answered late): B is filed
    under it as its own, A and C each for the merge that brought mail-1 there, so undoing
    both merges leaves the name on B only."""
    fake, url = connector
    p = await edward(bot_client, url, fake)
    first = await p.merge("call-1", p.b)
    second = await p.merge("sms-1", p.a)
    assert bot_client.app is not None
    store = bot_client.app[CONTEXT].store
    mail = Interaction.model_validate(await p.interaction("mail-1"))
    await name_index.index_interaction(
        store, TENANT, mail.model_copy(update={"customer_name": "Ned Ferrars"})
    )

    async def filed(card_id: str) -> list[str]:
        return (await name_index.terms_of(store, TENANT, card_id)).names.get("Ned Ferrars", [])

    assert [await filed(c) for c in (p.b, p.a, p.c)] == [["own"], [first], [second]]
    await p.undo("call-1", second)
    await p.undo("mail-1", first)
    assert [await filed(c) for c in (p.b, p.a, p.c)] == [["own"], [], []]


async def test_a_stale_undo_of_a_merge_done_again_since_says_so(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    """A <- B undone, then merged again by a new merge: the first merge's Undo, still on
    another device, changes nothing and does not claim the cards are separate."""
    fake, url = connector
    p = await edward(bot_client, url, fake)
    first = await p.merge("call-1", p.b)
    assert "Merge undone" in await p.undo("call-1", first)
    again = await p.merge("call-1", p.b)
    stale = await p.undo("call-1", first)
    assert "Merge undone" not in stale
    assert "merged again since" in stale
    await p.books({p.a: ["call-1", "mail-1"], p.c: ["sms-1"]})
    assert await p.notice("mail-1") == again
