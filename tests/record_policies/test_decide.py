"""Table-driven: for every policy combination and session story, which event creates the
interaction's one record (or none). The stories replay real lifecycle events through
:func:`apply_event`, so the facts are those the listener sees."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.cards import CardIdentity
from bot.domain.identifiers import Channel, phone
from bot.domain.interactions import Agent, EventRecord, Interaction, LifecycleEvent, apply_event
from bot.domain.record_policies import (
    AbandonedChats,
    Decision,
    RecordPolicy,
    decide,
    facts_of,
)

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
A, B = Agent(aad_object_id="agent-a"), Agent(aad_object_id="agent-b")

# (event, seconds after start, customer messages so far, agent)
Step = tuple[str, int, int, Agent]

CALLS: dict[str, list[Step]] = {
    "answered": [
        ("assigned", 0, 0, A),
        ("connected", 5, 0, A),
        ("ended", 60, 0, A),
        ("acw-completed", 90, 0, A),
    ],
    "hangup-before-connect": [("assigned", 0, 0, A), ("abandoned", 4, 0, A)],
    "abandoned-after-connect": [
        ("assigned", 0, 0, A),
        ("connected", 5, 0, A),
        ("abandoned", 9, 0, A),
    ],
    "cold-transfer": [
        ("assigned", 0, 0, A),
        ("transferred", 3, 0, A),
        ("assigned", 4, 0, B),
        ("connected", 8, 0, B),
        ("ended", 60, 0, B),
    ],
    "warm-transfer": [
        ("assigned", 0, 0, A),
        ("connected", 5, 0, A),
        ("transferred", 40, 0, A),
        ("assigned", 41, 0, B),
        ("connected", 42, 0, B),
        ("ended", 90, 0, B),
    ],
}

CHATS: dict[str, list[Step]] = {
    "talked": [("assigned", 0, 0, A), ("connected", 2, 1, A), ("ended", 300, 3, A)],
    "silent": [("assigned", 0, 0, A), ("connected", 2, 0, A), ("ended", 300, 0, A)],
    "abandoned-short-silent": [("assigned", 0, 0, A), ("abandoned", 10, 0, A)],
    "abandoned-short-chatty": [("assigned", 0, 0, A), ("abandoned", 10, 3, A)],
    "abandoned-long-chatty": [
        ("assigned", 0, 0, A),
        ("connected", 5, 1, A),
        ("abandoned", 60, 3, A),
    ],
    "transfer": [
        ("assigned", 0, 0, A),
        ("connected", 2, 1, A),
        ("transferred", 30, 2, A),
        ("assigned", 31, 2, B),
        ("connected", 33, 4, B),
        ("ended", 200, 5, B),
    ],
}

# Calls: (story, delay until connected, abandoned calls) -> "event#n" that creates, or None.
CALL_TABLE: list[tuple[str, bool, bool, str | None]] = [
    ("answered", False, False, "assigned#0"),
    ("answered", False, True, "assigned#0"),
    ("answered", True, False, "connected#1"),
    ("answered", True, True, "connected#1"),
    # a hang-up between assignment and connection: only the delay avoids its record;
    # with the delay, the abandoned-calls option decides
    ("hangup-before-connect", False, False, "assigned#0"),
    ("hangup-before-connect", False, True, "assigned#0"),
    ("hangup-before-connect", True, False, None),
    ("hangup-before-connect", True, True, "abandoned#1"),
    ("abandoned-after-connect", False, False, "assigned#0"),
    ("abandoned-after-connect", False, True, "assigned#0"),
    ("abandoned-after-connect", True, False, "connected#1"),
    ("abandoned-after-connect", True, True, "connected#1"),
    # transfers: one record, created for the first agent (or at the first connection)
    ("cold-transfer", False, False, "assigned#0"),
    ("cold-transfer", False, True, "assigned#0"),
    ("cold-transfer", True, False, "connected#3"),
    ("cold-transfer", True, True, "connected#3"),
    ("warm-transfer", False, False, "assigned#0"),
    ("warm-transfer", False, True, "assigned#0"),
    ("warm-transfer", True, False, "connected#1"),
    ("warm-transfer", True, True, "connected#1"),
]

ANY = "*"
# Chats: (story, min customer messages, abandoned chats, short-abandon seconds) -> creator.
# The abandoned-chats minimum is 2 messages; ANY expands to every value of that column.
CHAT_TABLE: list[tuple[str, object, object, object, str | None]] = [
    ("talked", 0, ANY, ANY, "assigned#0"),
    ("talked", 2, ANY, ANY, "ended#2"),
    ("silent", 0, ANY, ANY, "assigned#0"),
    ("silent", 2, ANY, ANY, None),  # never an empty record
    ("abandoned-short-silent", 0, ANY, ANY, "assigned#0"),
    ("abandoned-short-silent", 2, "off", ANY, None),
    ("abandoned-short-silent", 2, "all", ANY, "abandoned#1"),
    ("abandoned-short-silent", 2, "min-messages", ANY, None),
    ("abandoned-short-chatty", 0, ANY, ANY, "assigned#0"),
    ("abandoned-short-chatty", 2, "off", ANY, None),
    ("abandoned-short-chatty", 2, "all", ANY, "abandoned#1"),
    ("abandoned-short-chatty", 2, "min-messages", 0, "abandoned#1"),
    ("abandoned-short-chatty", 2, "min-messages", 30, None),  # a short abandon
    ("abandoned-long-chatty", 0, ANY, ANY, "assigned#0"),
    ("abandoned-long-chatty", 2, "off", ANY, None),
    ("abandoned-long-chatty", 2, "all", ANY, "abandoned#2"),
    ("abandoned-long-chatty", 2, "min-messages", ANY, "abandoned#2"),
    ("transfer", 0, ANY, ANY, "assigned#0"),
    ("transfer", 2, ANY, ANY, "transferred#2"),  # never again for the second agent
]
CHAT_COLUMNS = ([0, 2], ["off", "all", "min-messages"], [0, 30])


def _expand_chats() -> list[tuple[str, int, str, int, str | None]]:
    rows = []
    for story, minimum, mode, short, expected in CHAT_TABLE:
        cells = [
            column if value == ANY else [value]
            for value, column in zip((minimum, mode, short), CHAT_COLUMNS, strict=True)
        ]
        for m, a, s in itertools.product(*cells):
            rows.append((story, m, a, s, expected))
    return rows


def creators(policy: RecordPolicy, channel: Channel, story: list[Step]) -> list[str]:
    interaction = Interaction(
        id="i-1",
        tenant_id="t",
        card_id="c",
        channel=channel,
        agent=A,
        identities=[CardIdentity(channel=channel, identifier=phone("+1 555 0100"))],
    )
    created: list[str] = []
    for n, (event, seconds, messages, agent) in enumerate(story):
        record = EventRecord(
            event=LifecycleEvent(event),
            occurred_at=T0 + timedelta(seconds=seconds),
            agent=agent,
            customer_messages=messages,
        )
        interaction = apply_event(interaction, record)
        facts = facts_of(interaction, record.event, has_record=bool(created))
        if decide(policy, facts) is Decision.create:
            created.append(f"{event}#{n}")
    return created


def test_tables_cover_every_combination() -> None:
    calls = {(s, d, a) for s, d, a, _ in CALL_TABLE}
    assert calls == set(itertools.product(CALLS, [False, True], [False, True]))
    chats = [(s, m, a, sh) for s, m, a, sh, _ in _expand_chats()]
    assert len(chats) == len(set(chats))
    assert set(chats) == set(itertools.product(CHATS, *CHAT_COLUMNS))


@pytest.mark.parametrize(("story", "delay", "abandoned", "expected"), CALL_TABLE)
def test_call_policies(story: str, delay: bool, abandoned: bool, expected: str | None) -> None:
    policy = RecordPolicy(
        create_records=True, delay_call_until_connected=delay, abandoned_calls=abandoned
    )
    assert creators(policy, Channel.voice, CALLS[story]) == ([expected] if expected else [])


@pytest.mark.parametrize(("story", "minimum", "mode", "short", "expected"), _expand_chats())
def test_chat_policies(
    story: str, minimum: int, mode: str, short: int, expected: str | None
) -> None:
    policy = RecordPolicy(
        create_records=True,
        chat_min_customer_messages=minimum,
        abandoned_chats=AbandonedChats(mode),
        abandoned_chat_min_messages=2,
        short_abandon_seconds=short,
    )
    assert creators(policy, Channel.chat, CHATS[story]) == ([expected] if expected else [])


@pytest.mark.parametrize("channel", [Channel.voice, Channel.chat])
def test_no_policy_or_creation_off_creates_nothing(channel: Channel) -> None:
    story = CALLS["answered"] if channel.is_voice else CHATS["talked"]
    assert creators(RecordPolicy(create_records=False), channel, story) == []
    interaction_facts = facts_of(
        Interaction(id="x", tenant_id="t", card_id="c", channel=channel, agent=A, identities=[]),
        LifecycleEvent.assigned,
        has_record=False,
    )
    assert decide(None, interaction_facts) is Decision.skip
