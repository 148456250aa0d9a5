"""The Store contract: every test runs on the SQLite store and on the blob store (Azurite)."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel

from bot.services.store import (
    AlreadyExists,
    NotFound,
    PreconditionFailed,
    Store,
    create_model,
    read_model,
    update,
)
from tests.storage import StoreTarget, open_store


class Counter(BaseModel):
    count: int = 0
    ids: list[str] = []


async def all_keys(store: Store, prefix: str) -> list[str]:
    return [key async for key in store.keys(prefix)]


async def test_read_missing_is_none(store: Store) -> None:
    assert await store.read("nobody/home") is None


async def test_create_then_read(store: Store) -> None:
    data = b'{"name": "Contoso"}\x00\xff'
    etag = await store.create("customers/1", data)

    document = await store.read("customers/1")

    assert document is not None
    assert document.data == data
    assert document.etag == etag


async def test_create_twice_is_already_exists(store: Store) -> None:
    await store.create("customers/1", b"first")

    with pytest.raises(AlreadyExists):
        await store.create("customers/1", b"second")

    document = await store.read("customers/1")
    assert document is not None
    assert document.data == b"first"


async def test_concurrent_creates_have_one_winner(store: Store) -> None:
    results = await asyncio.gather(
        *(store.create("race", str(i).encode()) for i in range(10)), return_exceptions=True
    )

    winners = [r for r in results if isinstance(r, str)]
    assert len(winners) == 1
    assert all(isinstance(r, AlreadyExists) for r in results if not isinstance(r, str))
    document = await store.read("race")
    assert document is not None
    assert document.etag == winners[0]


async def test_replace_with_current_etag(store: Store) -> None:
    etag = await store.create("doc", b"v1")

    new_etag = await store.replace("doc", b"v2", etag)

    assert new_etag != etag
    document = await store.read("doc")
    assert document is not None
    assert (document.data, document.etag) == (b"v2", new_etag)


async def test_replace_with_stale_etag_fails(store: Store) -> None:
    stale = await store.create("doc", b"v1")
    current = await store.replace("doc", b"v2", stale)

    with pytest.raises(PreconditionFailed):
        await store.replace("doc", b"v3", stale)

    document = await store.read("doc")
    assert document is not None
    assert (document.data, document.etag) == (b"v2", current)


async def test_replace_missing_fails(store: Store) -> None:
    etag = await store.create("doc", b"v1")
    await store.delete("doc")

    with pytest.raises(PreconditionFailed):
        await store.replace("doc", b"v2", etag)
    with pytest.raises(PreconditionFailed):
        await store.replace("never-was", b"v2", etag)
    assert await store.read("doc") is None


async def test_delete_without_etag(store: Store) -> None:
    await store.create("doc", b"v1")

    await store.delete("doc")
    await store.delete("doc")  # already gone: no error

    assert await store.read("doc") is None


async def test_delete_with_etag(store: Store) -> None:
    stale = await store.create("doc", b"v1")
    current = await store.replace("doc", b"v2", stale)

    with pytest.raises(PreconditionFailed):
        await store.delete("doc", stale)
    assert await store.read("doc") is not None

    await store.delete("doc", current)
    assert await store.read("doc") is None

    with pytest.raises(PreconditionFailed):
        await store.delete("doc", current)


async def test_keys_are_sorted_and_prefix_isolated(store: Store) -> None:
    keys = [
        "tenants/ab/1",
        "tenants/a/2",
        "tenants/a/10",
        "tenants/a.b",
        "tenants/a/1",
        "tenants/a:x",
        "tenant",
        "other/a/1",
    ]
    for key in keys:
        await store.create(key, b"{}")

    assert await all_keys(store, "tenants/a/") == ["tenants/a/1", "tenants/a/10", "tenants/a/2"]
    assert await all_keys(store, "tenants/ab/") == ["tenants/ab/1"]
    assert await all_keys(store, "tenants/a") == [
        "tenants/a.b",
        "tenants/a/1",
        "tenants/a/10",
        "tenants/a/2",
        "tenants/a:x",
        "tenants/ab/1",
    ]
    assert await all_keys(store, "") == sorted(keys)
    assert await all_keys(store, "nothing/") == []


ODD_KEYS = [
    "conversations/a:1Xyz-_~AbC/state",
    "users/29:1abc@contoso.onmicrosoft.com",
    "phones/+33 6 12 34 56 78",
    "b64/aGk+/w==",
    "percent/100%",
    "percent/%2F",
    "percent/%252F",
    "slashes/a/b",
    "slashes/a\\b",
    "slashes/a//b",
    "dots/./x",
    "dots/../x",
    "dots/x.",
    "query/q?x=1&y=2#frag",
    "unicode/ünïcødé/日本",
    "tab/a\tb",
]


async def test_odd_characters_in_keys_round_trip(store: Store) -> None:
    etags = {key: await store.create(key, key.encode()) for key in ODD_KEYS}

    for key in ODD_KEYS:
        document = await store.read(key)
        assert document is not None, key
        assert (document.data, document.etag) == (key.encode(), etags[key]), key
    assert await all_keys(store, "") == sorted(ODD_KEYS)
    assert await all_keys(store, "percent/%") == ["percent/%252F", "percent/%2F"]
    assert await all_keys(store, "slashes/a/") == ["slashes/a//b", "slashes/a/b"]
    assert await all_keys(store, "dots/.") == ["dots/../x", "dots/./x"]

    for key in ODD_KEYS:
        etags[key] = await store.replace(key, b"replaced", etags[key])
    for key in ODD_KEYS:
        await store.delete(key, etags[key])
    assert await all_keys(store, "") == []


async def test_update_loses_no_concurrent_increment(store: Store) -> None:
    """A dozen writers racing on one document: every increment lands. The race costs
    the square of the writers in round trips, so more writers prove nothing more."""
    await create_model(store, "counter", Counter())
    writers = 12
    reads = 0

    async def increment(counter: Counter) -> Counter:
        nonlocal reads
        reads += 1
        await asyncio.sleep(0)  # between read and write, as a real change may: they race
        return Counter(count=counter.count + 1, ids=counter.ids)

    # The default 50 attempts suffice: a writer only loses to one of the 11 others.
    await asyncio.gather(*(update(store, "counter", Counter, increment) for _ in range(writers)))

    final = await read_model(store, "counter", Counter)
    assert final is not None
    assert final.count == writers
    assert reads > writers, "some writers lost a race and tried again"


async def test_update_accepts_async_change(store: Store) -> None:
    await create_model(store, "counter", Counter())

    async def append(counter: Counter) -> Counter:
        await asyncio.sleep(0)
        return Counter(count=counter.count + 1, ids=[*counter.ids, "x"])

    assert await update(store, "counter", Counter, append) == Counter(count=1, ids=["x"])


async def test_update_returning_same_object_skips_write(store: Store) -> None:
    await create_model(store, "counter", Counter(count=7))
    before = await store.read("counter")
    assert before is not None

    result = await update(store, "counter", Counter, lambda counter: counter)

    assert result == Counter(count=7)
    after = await store.read("counter")
    assert after is not None
    assert after.etag == before.etag


async def test_update_from_a_stale_read_rereads(store: Store) -> None:
    await create_model(store, "counter", Counter())
    stale = await store.read("counter")
    await update(store, "counter", Counter, lambda c: Counter(count=c.count + 1, ids=c.ids))

    def add(counter: Counter) -> Counter:
        return Counter(count=counter.count + 1, ids=counter.ids)

    assert await update(store, "counter", Counter, add, read=stale) == Counter(count=2)


async def test_update_missing_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await update(store, "missing", Counter, lambda counter: counter)


async def test_two_instances_share_documents(store: Store, store_target: StoreTarget) -> None:
    other = open_store(store_target)
    try:
        etag = await store.create("shared", b"v1")
        with pytest.raises(AlreadyExists):
            await other.create("shared", b"v1 again")

        new_etag = await other.replace("shared", b"v2", etag)

        document = await store.read("shared")
        assert document is not None
        assert (document.data, document.etag) == (b"v2", new_etag)
        with pytest.raises(PreconditionFailed):
            await store.replace("shared", b"v3", etag)
    finally:
        await other.close()
