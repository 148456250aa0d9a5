"""A store that passes every call on to another: the base of the stores tests and
benchmarks wrap around a real one to count, delay, break or interleave its calls.

A wrapper overrides :meth:`StoreWrapper.before` to see each read and write before it is
passed on (to count it, wait as a network request would, or fail it), and a method only
where it changes what the call does; everything else reaches ``inner`` unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from bot.services.store import Document, Store


class StoreWrapper:
    """``inner``'s calls, each read, create, replace and delete seen by :meth:`before`."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner

    async def before(self, call: str, key: str) -> None:
        """Called with "read", "create", "replace" or "delete" and the key, before the
        call is passed on; raising here stops the call."""

    async def read(self, key: str) -> Document | None:
        await self.before("read", key)
        return await self.inner.read(key)

    async def create(self, key: str, data: bytes) -> str:
        await self.before("create", key)
        return await self.inner.create(key, data)

    async def replace(self, key: str, data: bytes, etag: str) -> str:
        await self.before("replace", key)
        return await self.inner.replace(key, data, etag)

    async def delete(self, key: str, etag: str | None = None) -> None:
        await self.before("delete", key)
        await self.inner.delete(key, etag)

    def keys(self, prefix: str) -> AsyncIterator[str]:
        return self.inner.keys(prefix)

    async def close(self) -> None:
        await self.inner.close()
