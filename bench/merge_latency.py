"""Merge-candidate lookup latency at 10k, 100k and 1M cards: index, not scan.

    .venv/bin/python -m bench.merge_latency [--sizes 10000,100000,1000000] [--queries 400]
                                            [--azurite 10000] [--data DIR]

Setup (not timed): a tenant of N cards is written straight into the SQLite file of the
local store (``documents`` rows, one transaction), in the exact document formats the
services write: cards, identity-index entries, interactions (half with a CRM contact
found, with a birth date and an address), name-index blocks (birth-date, house and
postcode name-start blocks too), CRM-reference entries, card terms and the name frequency
table, built from the models of ``bot.services`` and from :mod:`bot.domain.name_keys`
itself. Thirty per cent of people have two cards (phone and email) whose names differ as
they do in life (nickname, typo, "Last, First"); names follow census-like frequencies
(:mod:`bench._names`), so common names make big blocks, as they would. A built store is
kept in ``--data`` (default ``/tmp/crmcard-merge-latency``) and reused by the next run.

Timed: ``bot.services.merge_candidates.candidates`` for ``--queries`` cards drawn at random (after
20 unrecorded ones), one after another, through ``LocalStore`` on that file: p50, p99,
max, the same for the process's CPU time per lookup (what a lookup costs when other
work shares the machine), and the store reads per lookup. With ``--azurite N`` the same
documents for N cards are uploaded to a private in-memory Azurite (loopback, started
and stopped here) and the lookups run through ``BlobStore``.

Blob Storage at scale: every document the lookup reads is one blob read by name (a
point GET: index block, CRM reference, identity entry, merge marker, card,
interaction); nothing lists blobs, so the lookup does not grow with the container's
size, only with the size of the blocks it reads (bounded by how common the name is).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._names import Names
from bot.adapters.storage.local import LocalStore, _create_table
from bot.domain import identifiers
from bot.domain.cards import CardIdentity, CustomerCard
from bot.domain.identifiers import Channel
from bot.domain.interactions import Agent, Interaction, ShownRecords
from bot.domain.merge import detail_keys
from bot.domain.name_keys import SEARCH_BLOCK_LIMIT, blocking_keys, counted_tokens, search_keys
from bot.domain.records import CrmRecord, RecordRef
from bot.services import keys, merge_candidates
from bot.services.cards import IndexEntry, get_card
from bot.services.context import Context
from bot.services.name_index import (
    CardTerms,
    CrmRefs,
    NameBlock,
    NameCount,
    card_shard,
)
from bot.services.store import Store
from tests.store_wrapper import StoreWrapper

TENANT = "bench-tenant"
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
NICK = {"Robert": "Bob", "William": "Bill", "James": "Jim", "Elizabeth": "Liz",
        "Michael": "Mike", "Richard": "Rick", "Thomas": "Tom", "Katherine": "Kate",
        "Margaret": "Maggie", "Joseph": "Joe", "Daniel": "Dan", "Edward": "Ted"}  # fmt: skip

# --- the documents ------------------------------------------------------------------------


def _typo(rng: random.Random, word: str) -> str:
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


class Templates:
    """JSON of each document kind, made once by the models, filled by string replacement."""

    def __init__(self) -> None:
        identity = CardIdentity(channel=Channel.voice, identifier=identifiers.phone("+15550100"))
        self.card = CustomerCard(
            id="@ID@",
            tenant_id=TENANT,
            display_name="@NAME@",
            identities=[identity],
            interaction_ids=["@IID@"],
            created_at=NOW,
        ).model_dump_json()
        record = CrmRecord(
            ref=RecordRef(crm="crm", type="contact", id="@CID@"),
            title="@TITLE@",
            fields={"phone": "@PHONE@", "birthdate": "@DOB@", "street": "@STREET@", "zip": "@ZIP@"},
        )
        self.interaction_crm = Interaction(
            id="@IID@",
            tenant_id=TENANT,
            card_id="@ID@",
            channel=Channel.voice,
            agent=Agent(aad_object_id="agent"),
            customer_name="@NAME@",
            identities=[identity],
            shown=ShownRecords(records={"crm:contact:@CID@": record}, person=["crm:contact:@CID@"]),
        ).model_dump_json()
        self.interaction = Interaction(
            id="@IID@",
            tenant_id=TENANT,
            card_id="@ID@",
            channel=Channel.voice,
            agent=Agent(aad_object_id="agent"),
            customer_name="@NAME@",
            identities=[identity],
        ).model_dump_json()
        self.identity_json = identity.model_dump_json()

    @staticmethod
    def fill(template: str, **values: str) -> str:
        for name, value in values.items():
            template = template.replace(f"@{name}@", json.dumps(value, ensure_ascii=False)[1:-1])
        return template


def documents(size: int, seed: int = 5) -> Iterator[tuple[str, bytes]]:
    """(key, data) of every document of a tenant of ``size`` cards."""
    rng = random.Random(seed)
    names = Names(seed)
    t = Templates()
    phone_identity = json.loads(t.identity_json)
    blocks: dict[str, dict[str, list[str]]] = defaultdict(dict)
    full: set[str] = set()
    refs: dict[str, dict[str, str]] = defaultdict(dict)
    key_cache: dict[str, list[str]] = {}
    counts: dict[str, int] = defaultdict(int)  # the name frequency table
    made = 0
    person = 0
    while made < size:
        person += 1
        given, surname = names.given(), names.surname()
        phone = f"+1{rng.choice('2345678')}{person:09}"  # unique: one owner per identity
        email = f"{given}.{surname}.{person}@example.org".lower().replace(" ", "")
        in_crm = rng.random() < 0.5
        born = f"{rng.randint(1940, 2005)}{rng.randint(1, 12):02}{rng.randint(1, 28):02}"
        street = f"{rng.randint(1, 200)} {names.surname()} Street"
        postcode = f"{rng.randint(1000, 8999)}"
        cards = 2 if rng.random() < 0.3 and made + 1 < size else 1
        for n in range(cards):
            card_id = uuid.UUID(int=rng.getrandbits(128)).hex
            interaction_id = f"i-{card_id}"
            if n == 0:
                name = f"{given} {surname}"
                channel, identifier = "voice", {"kind": "phone", "value": phone}
            else:
                roll = rng.random()
                if roll < 0.3 and given in NICK:
                    name = f"{NICK[given]} {surname}"
                elif roll < 0.6:
                    name = f"{given} {_typo(rng, surname)}"
                elif roll < 0.8:
                    name = f"{surname}, {given}"
                else:
                    name = f"{given} {surname}"
                channel, identifier = "email", {"kind": "email", "value": email}
            identity = {**phone_identity, "channel": channel, "identifier": identifier}
            identity_json = json.dumps(identity, separators=(",", ":"), ensure_ascii=False)
            card = t.fill(t.card, ID=card_id, NAME=name, IID=interaction_id)
            card = card.replace(t.identity_json, identity_json)
            contact = f"C{person}"
            if in_crm:
                interaction = t.fill(
                    t.interaction_crm,
                    ID=card_id,
                    IID=interaction_id,
                    NAME=name,
                    CID=contact,
                    TITLE=f"{given} {surname}",
                    PHONE=phone,
                    DOB=born,
                    STREET=street,
                    ZIP=postcode,
                )
            else:
                interaction = t.fill(t.interaction, ID=card_id, IID=interaction_id, NAME=name)
            interaction = interaction.replace(t.identity_json, identity_json)
            yield keys.card(TENANT, card_id), card.encode()
            yield keys.interaction(TENANT, interaction_id), interaction.encode()
            identity_key = f"{channel}/{identifier['kind']}:{identifier['value']}"
            entry = IndexEntry(card_id=card_id).model_dump_json().encode()
            yield keys.card_index(TENANT, identity_key), entry
            card_names = list(dict.fromkeys([name, f"{given} {surname}"] if in_crm else [name]))
            terms = CardTerms(
                names={x: ["own"] for x in card_names},
                crm={f"crm:contact:{contact}": ["own"]} if in_crm else {},
            )
            yield keys.card_terms(TENANT, card_id), terms.model_dump_json().encode()
            for filed in card_names:
                if filed not in key_cache:
                    key_cache[filed] = [*blocking_keys(filed), *search_keys(filed)]
                for block in key_cache[filed]:
                    entries = blocks[block]
                    if (
                        block.startswith("sx:")
                        and card_id not in entries
                        and len(entries) >= SEARCH_BLOCK_LIMIT
                    ):
                        full.add(block)
                        continue
                    entries.setdefault(card_id, []).append(filed)
            for token in {t for filed in card_names for t in counted_tokens(filed)}:
                counts[token] += 1
            counts[card_shard(card_id)] += 1
            if in_crm:
                refs[f"i:{contact}"][card_id] = f"crm:contact:{contact}"
                details = {"birthdate": born, "street": street, "zip": postcode}
                for block in detail_keys(details, f"{given} {surname}"):
                    blocks[block].setdefault(card_id, []).append(f"{given} {surname}")
            made += 1
    for block, entries in blocks.items():
        doc = NameBlock(cards=entries, full=block in full)
        yield keys.name_block(TENANT, block), doc.model_dump_json().encode()
    for ref, cards_of in refs.items():
        yield keys.crm_ref(TENANT, ref), CrmRefs(cards=cards_of).model_dump_json().encode()
    for token, count in counts.items():
        # Every card is named and spelt here: a shard's cards are all spelt cards.
        spelt = count if token.startswith("#cards-") else 0
        doc = NameCount(cards=count, spelt=spelt)
        yield keys.name_count(TENANT, token), doc.model_dump_json().encode()


def build_sqlite(path: Path, size: int) -> dict[str, int]:
    """Write the tenant into a fresh SQLite file in the LocalStore's schema."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".building")
    partial.unlink(missing_ok=True)
    db = sqlite3.connect(partial, isolation_level=None)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    _create_table(db)  # the LocalStore's own table
    counts: dict[str, int] = defaultdict(int)
    db.execute("BEGIN")
    batch: list[tuple[str, bytes, str]] = []
    for n, (key, data) in enumerate(documents(size)):
        counts[key.split("/")[2]] += 1
        batch.append((key, data, f'"{n:032x}"'))
        if len(batch) >= 50_000:
            db.executemany("INSERT INTO documents VALUES (?, ?, ?)", batch)
            batch.clear()
    db.executemany("INSERT INTO documents VALUES (?, ?, ?)", batch)
    db.execute("COMMIT")
    db.close()
    partial.rename(path)
    return dict(counts)


# --- timing ------------------------------------------------------------------------------


class CountingStore(StoreWrapper):
    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.reads = 0

    async def before(self, call: str, key: str) -> None:
        if call == "read":
            self.reads += 1

    def keys(self, prefix: str) -> AsyncIterator[str]:
        raise AssertionError("a candidate lookup must not list keys")


class _NoCrms:
    async def clients(self, tenant_id: str) -> list[Any]:
        return []


class _NoDelivery:
    async def deliver(
        self, interaction: Interaction, card: dict[str, Any], reached: object = None
    ) -> bool:
        return True

    async def refresh_user_ids(self, interaction: Interaction) -> list[str]:
        return []


def sample_card_ids(path: Path, count: int, seed: int = 9) -> list[str]:
    db = sqlite3.connect(path)
    prefix = keys.cards_prefix(TENANT)
    rows = db.execute(
        "SELECT key FROM documents WHERE key >= ? AND key < ?", (prefix, prefix + "\uffff")
    ).fetchall()
    db.close()
    picked = random.Random(seed).sample(rows, min(count, len(rows)))
    return [key.rsplit("/", 1)[1] for (key,) in picked]


async def time_lookups(store: Store, card_ids: list[str], warmup: int = 20) -> dict[str, float]:
    counting = CountingStore(store)
    ctx = Context(store=counting, crms=_NoCrms(), delivery=_NoDelivery(), clock=lambda: NOW)
    timings: list[float] = []
    cpu: list[float] = []  # this process's CPU time: what the lookup costs on a busy machine
    reads: list[int] = []
    found: list[int] = []
    for n, card_id in enumerate(card_ids):
        card = await get_card(store, TENANT, card_id)
        assert card is not None
        counting.reads = 0
        started, started_cpu = time.perf_counter(), time.process_time()
        candidates = await merge_candidates.candidates(ctx, TENANT, card)
        elapsed = time.perf_counter() - started
        if n >= warmup:
            timings.append(elapsed * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
            reads.append(counting.reads)
            found.append(len(candidates))
    timings.sort()
    cpu.sort()
    return {
        "p50": statistics.median(timings),
        "p99": timings[min(len(timings) - 1, int(len(timings) * 0.99))],
        "cpu_p50": statistics.median(cpu),
        "cpu_p99": cpu[min(len(cpu) - 1, int(len(cpu) * 0.99))],
        "max": timings[-1],
        "reads": statistics.mean(reads),
        "found": statistics.mean(found),
        "n": len(timings),
    }


async def run_local(path: Path, queries: int) -> dict[str, float]:
    store = LocalStore(path)
    try:
        return await time_lookups(store, sample_card_ids(path, queries + 20))
    finally:
        await store.close()


async def run_azurite(path: Path, queries: int, size: int) -> dict[str, float]:
    from bot.adapters.storage.blob import BlobStore
    from tests.azurite import start_azurite

    with tempfile.TemporaryDirectory() as workdir:
        azurite = start_azurite("blob", workdir=Path(workdir))
        store = BlobStore(azurite.connection_string, f"bench-{uuid.uuid4().hex[:12]}")
        try:
            started = time.perf_counter()
            db = sqlite3.connect(path)
            rows = db.execute("SELECT key, data FROM documents").fetchall()
            db.close()
            gate = asyncio.Semaphore(32)

            async def put(key: str, data: bytes) -> None:
                async with gate:
                    await store.create(key, data)

            await asyncio.gather(*(put(k, bytes(d)) for k, d in rows))
            print(
                f"  azurite: {len(rows)} blobs uploaded in {time.perf_counter() - started:.0f} s",
                file=sys.stderr,
            )
            result = await time_lookups(store, sample_card_ids(path, queries + 20))
            result["blobs"] = len(rows)
            return result
        finally:
            await store.close()
            azurite.stop()


def store_path(data: Path, size: int) -> Path:
    return data / f"cards-{size}-v8.sqlite3"  # v8: the rowid table


def ensure_built(data: Path, size: int) -> Path:
    path = store_path(data, size)
    if not path.exists():
        started = time.perf_counter()
        counts = build_sqlite(path, size)
        print(
            f"  built {size} cards in {time.perf_counter() - started:.0f} s: "
            + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
            file=sys.stderr,
        )
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--azurite", type=int, default=10_000, help="cards on Azurite; 0: none")
    parser.add_argument("--data", type=Path, default=Path("/tmp/crmcard-merge-latency"))
    args = parser.parse_args(argv)
    rows: list[tuple[str, int, dict[str, float]]] = []
    for size in (int(s) for s in args.sizes.split(",") if s):
        path = ensure_built(args.data, size)
        rows.append(("local (SQLite)", size, asyncio.run(run_local(path, args.queries))))
    if args.azurite:
        path = ensure_built(args.data, args.azurite)
        result = asyncio.run(run_azurite(path, args.queries, args.azurite))
        rows.append(("Azurite (Blob)", args.azurite, result))
    header = (
        f"{'store':<16} {'cards':>9} {'lookups':>7} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'max ms':>7} {'cpu p50':>7} {'cpu p99':>7} {'reads/lookup':>12} {'found/lookup':>12}"
    )
    print(header)
    print("-" * len(header))
    for label, size, r in rows:
        print(
            f"{label:<16} {size:>9} {int(r['n']):>7} {r['p50']:>7.2f} {r['p99']:>7.2f} "
            f"{r['max']:>7.2f} {r['cpu_p50']:>7.2f} {r['cpu_p99']:>7.2f} "
            f"{r['reads']:>12.1f} {r['found']:>12.2f}"
        )
    local = [(size, r) for label, size, r in rows if label.startswith("local")]
    if len(local) > 1:
        (s0, r0), (s1, r1) = local[0], local[-1]
        print(
            f"\n{s1 // s0}x the cards: p50 x{r1['p50'] / r0['p50']:.2f}, "
            f"p99 x{r1['p99'] / r0['p99']:.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
