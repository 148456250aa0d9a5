"""The storage port: a document store with ETag compare-and-swap.

Two implementations (embedded SQLite and Azure Blob Storage) pass one contract suite.
Every read-modify-write goes through :func:`update`, which retries on a lost race, so
concurrent writers never lose an update.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


class StoreError(Exception):
    """The store could not do what was asked."""


class AlreadyExists(StoreError):
    """``create`` found the key taken."""


class PreconditionFailed(StoreError):
    """The document changed (or vanished) since the ETag was read."""


class NotFound(StoreError):
    """No document under that key."""


class TooMuchContention(StoreError):
    """:func:`update` lost the race more times than it is willing to retry."""


@dataclass(frozen=True)
class Document:
    data: bytes
    etag: str


class Store(Protocol):
    async def read(self, key: str) -> Document | None: ...

    async def create(self, key: str, data: bytes) -> str:
        """Write a new document and return its ETag; :class:`AlreadyExists` if taken."""
        ...

    async def replace(self, key: str, data: bytes, etag: str) -> str:
        """Overwrite only if the ETag still matches; :class:`PreconditionFailed` if not."""
        ...

    async def delete(self, key: str, etag: str | None = None) -> None: ...

    def keys(self, prefix: str) -> AsyncIterator[str]: ...

    async def close(self) -> None: ...


async def read_model(store: Store, key: str, model: type[M]) -> M | None:
    document = await store.read(key)
    return None if document is None else model.model_validate_json(document.data)


async def create_model(store: Store, key: str, value: BaseModel) -> None:
    await store.create(key, value.model_dump_json().encode())


async def put_model(store: Store, key: str, value: BaseModel) -> None:
    """Last-writer-wins write, for documents owned by a single writer."""
    data = value.model_dump_json().encode()
    try:
        await store.create(key, data)
    except AlreadyExists:
        document = await store.read(key)
        if document is None:
            await store.create(key, data)
        else:
            await store.replace(key, data, document.etag)


async def update(
    store: Store,
    key: str,
    model: type[M],
    change: Callable[[M], M] | Callable[[M], Awaitable[M]],
    *,
    attempts: int = 50,
) -> M:
    """Read, apply ``change``, write back under the ETag; re-read and retry on a race.

    ``change`` must be a function of the document alone: it may run several times.
    Returning the argument itself skips the write.
    """
    for _ in range(attempts):
        document = await store.read(key)
        if document is None:
            raise NotFound(key)
        current = model.model_validate_json(document.data)
        changed = change(current)
        if isinstance(changed, Awaitable):
            changed = await changed
        if changed is current:
            return current
        try:
            await store.replace(key, changed.model_dump_json().encode(), document.etag)
        except PreconditionFailed:
            continue
        return changed
    raise TooMuchContention(f"gave up updating {key!r} after {attempts} conflicting writes")
