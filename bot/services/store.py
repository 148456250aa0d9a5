"""The storage port: a document store with ETag compare-and-swap.

Two implementations (embedded SQLite and Azure Blob Storage) pass one contract suite.
Every read-modify-write goes through :func:`update`, which retries on a lost race, so
concurrent writers never lose an update.

Documents of models that say they may be shared (frozen, changed only by copies, and
``shared_when_parsed``: an :class:`~bot.domain.interactions.Interaction`) are parsed
once: the model read or written last under an ETag is kept, and a read of the same bytes
under that ETag gets it back instead of validating them again (a click reads its
interaction twice, once to check who acts and once in :func:`update`, and the next click
reads what this one wrote; a new interaction's event reads the interaction it created).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from pydantic import BaseModel

from bot import errors
from bot.i18n import t
from bot.services.recently_used import RecentlyUsed

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


class StoreError(errors.ServerError):
    """The store could not do what was asked."""


class _DocumentError(StoreError):
    """A refusal about one document: the reader is told what happened, never its key
    (kept in ``key``, for logs)."""

    shown: str

    def __init__(self, key: str) -> None:
        super().__init__(self.shown)
        self.key = key


class AlreadyExists(errors.Conflict, _DocumentError):
    """``create`` found the key taken."""

    shown = t("That already exists; nothing was changed.")


class PreconditionFailed(errors.Conflict, _DocumentError):
    """The document changed (or vanished) since the ETag was read."""

    shown = t("That changed meanwhile; nothing was changed. Try again.")


class NotFound(errors.NotFound, _DocumentError):
    """No document under that key."""

    shown = t("That no longer exists; nothing was changed.")


class TooMuchContention(errors.Unavailable, StoreError):
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


class ReadOnce:
    """One turn's view of a store: what the turn just read is served once more from memory.

    A use case that reads a document to decide, then updates it, would otherwise read it
    twice. The cached copy is handed out once and dropped on any write, so a retry after
    a lost race always re-reads; ETag compare-and-swap still guards every write.

    :meth:`prefetch` starts a read the turn will need later, so it runs while the turn
    waits for something else (a card is read while its interaction is written).
    """

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self._seen: dict[str, Document | None] = {}
        self._pending: dict[str, asyncio.Task[Document | None]] = {}

    def prefetch(self, key: str) -> None:
        if key not in self._seen and key not in self._pending:
            task = asyncio.ensure_future(self._inner.read(key))
            task.add_done_callback(_retrieved)
            self._pending[key] = task

    def _forget(self, key: str) -> None:
        self._seen.pop(key, None)
        pending = self._pending.pop(key, None)
        if pending is not None:
            pending.cancel()

    async def read(self, key: str) -> Document | None:
        if key in self._seen:
            return self._seen.pop(key)
        pending = self._pending.pop(key, None)
        document = await (pending if pending is not None else self._inner.read(key))
        self._seen[key] = document
        return document

    async def create(self, key: str, data: bytes) -> str:
        self._forget(key)
        return await self._inner.create(key, data)

    async def replace(self, key: str, data: bytes, etag: str) -> str:
        self._forget(key)
        return await self._inner.replace(key, data, etag)

    async def delete(self, key: str, etag: str | None = None) -> None:
        self._forget(key)
        await self._inner.delete(key, etag)

    def keys(self, prefix: str) -> AsyncIterator[str]:
        return self._inner.keys(prefix)

    async def close(self) -> None:
        """The turn ends; the store it borrowed stays open."""


def _retrieved(task: asyncio.Task[Document | None]) -> None:
    """A prefetch nobody read: its failure must not be reported as never retrieved."""
    if not task.cancelled():
        task.exception()


_KEPT = 256  # parsed documents kept (each with its bytes, to compare)
_parsed: RecentlyUsed[tuple[type[BaseModel], str], tuple[bytes, BaseModel]] = RecentlyUsed(_KEPT)


def _keep(model: type[BaseModel], etag: str, data: bytes, value: BaseModel) -> None:
    _parsed.keep((model, etag), (data, value))


def _shared(model: type[BaseModel]) -> bool:
    return bool(model.model_config.get("frozen") and getattr(model, "shared_when_parsed", False))


def parsed(model: type[M], document: Document) -> M:
    """``document`` as ``model``; for a shared model, validated once per ETag and bytes."""
    if not _shared(model):
        return model.model_validate_json(document.data)
    kept = _parsed.get((model, document.etag))
    if kept is not None and kept[0] == document.data:
        return kept[1]  # type: ignore[return-value]  # kept under this model
    value = model.model_validate_json(document.data)
    _keep(model, document.etag, document.data, value)
    return value


async def read_model(store: Store, key: str, model: type[M]) -> M | None:
    document = await store.read(key)
    return None if document is None else parsed(model, document)


async def create_model(store: Store, key: str, value: BaseModel) -> Document:
    """Create the document; as written (a compare-and-swap may start from it)."""
    data = value.model_dump_json().encode()
    etag = await store.create(key, data)
    if _shared(type(value)):
        _keep(type(value), etag, data, value)  # what the next read will find
    return Document(data, etag)


async def put(store: Store, key: str, data: bytes) -> None:
    """Last-writer-wins write, for documents where any complete version is valid."""
    while True:
        try:
            await store.create(key, data)
            return
        except AlreadyExists:
            document = await store.read(key)
            if document is None:
                continue
            try:
                await store.replace(key, data, document.etag)
                return
            except PreconditionFailed:
                continue


async def put_model(store: Store, key: str, value: BaseModel) -> None:
    """Last-writer-wins write, for documents owned by a single writer."""
    await put(store, key, value.model_dump_json().encode())


async def update(
    store: Store,
    key: str,
    model: type[M],
    change: Callable[[M], M] | Callable[[M], Awaitable[M]],
    *,
    attempts: int = 50,
    read: Document | None = None,
) -> M:
    """Read, apply ``change``, write back under the ETag; re-read and retry on a race.

    ``change`` must be a function of the document alone: it may run several times.
    Returning the argument itself skips the write. ``read`` is the document as the caller
    has just read it, used instead of a first read of its own (a race still re-reads).
    """
    for _ in range(attempts):
        document, read = read or await store.read(key), None
        if document is None:
            raise NotFound(key)
        current = parsed(model, document)
        changed = change(current)
        if isinstance(changed, Awaitable):
            changed = await changed
        if changed is current:
            return current
        data = changed.model_dump_json().encode()
        try:
            etag = await store.replace(key, data, document.etag)
        except PreconditionFailed:
            continue
        if _shared(model):
            _keep(model, etag, data, changed)  # what the next read will find
        return changed
    log.warning("gave up updating %s after %d conflicting writes", key, attempts)
    raise TooMuchContention(t("Too many changes at once; nothing was changed. Try again."))
