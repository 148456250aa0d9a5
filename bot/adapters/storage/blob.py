"""The cloud store: one Azure Blob Storage container, one blob per document.

The blob's own ETag is the document's ETag, so the compare-and-swap in
:meth:`BlobStore.replace` is done by the service (``If-Match``), and any number of bot
instances can share the container.

Each request through the Azure SDK costs more CPU than the work of a click, so the
store keeps what can be kept: one ``BlobClient`` per recently used key (building one
costs as much as a request's pipeline), and no per-request look-up of proxy settings
and ``.netrc`` in the environment unless a proxy is configured.
"""

from __future__ import annotations

import asyncio
import os
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import suppress
from urllib.parse import quote, unquote

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob.aio import BlobClient, BlobServiceClient, ContainerClient

from bot.services.store import AlreadyExists, Document, PreconditionFailed

# Kept as they are in blob names, so the container stays readable in Storage Explorer.
# Everything else is percent-encoded: the service (or the SDK) turns '\' into '/', and
# '.' / '..' path segments break request signing, so those must not reach the wire raw.
_SAFE = "/:@+=,"
_CLIENTS = 4096  # BlobClients kept, most recently used first
_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


def _blob_name(key: str) -> str:
    """Percent-encode character by character: a key's prefix encodes to the name's prefix."""
    return quote(key, safe=_SAFE).replace(".", "%2E")


def _key(blob_name: str) -> str:
    return unquote(blob_name)


def _precondition_failed(error: HttpResponseError) -> bool:
    return isinstance(error, ResourceModifiedError | ResourceNotFoundError) or (
        error.status_code == 412
    )


class BlobStore:
    def __init__(self, connection_string: str, container: str) -> None:
        proxied = any(os.environ.get(v) or os.environ.get(v.lower()) for v in _PROXY_VARIABLES)
        self._service = BlobServiceClient.from_connection_string(
            connection_string, use_env_settings=proxied
        )
        self._container = self._service.get_container_client(container)
        self._container_ready = False
        self._container_lock = asyncio.Lock()
        self._clients: OrderedDict[str, BlobClient] = OrderedDict()

    async def _ready(self) -> ContainerClient:
        """The container, created on first use so a fresh account needs no setup step."""
        if not self._container_ready:
            async with self._container_lock:
                if not self._container_ready:
                    # Another instance, or an earlier run, may have made it already.
                    with suppress(ResourceExistsError):
                        await self._container.create_container()
                    self._container_ready = True
        return self._container

    async def _blob(self, key: str) -> BlobClient:
        client = self._clients.get(key)
        if client is None:
            client = (await self._ready()).get_blob_client(_blob_name(key))
            self._clients[key] = client
            if len(self._clients) > _CLIENTS:
                self._clients.popitem(last=False)
        else:
            self._clients.move_to_end(key)
        return client

    async def read(self, key: str) -> Document | None:
        blob = await self._blob(key)
        try:
            download = await blob.download_blob()
            data = await download.readall()
        except ResourceNotFoundError:
            return None
        etag = download.properties.etag
        assert etag is not None
        return Document(data=data, etag=etag)

    async def create(self, key: str, data: bytes) -> str:
        blob = await self._blob(key)
        try:
            result = await blob.upload_blob(data, overwrite=False)
        except ResourceExistsError as exc:
            raise AlreadyExists(key) from exc
        return str(result["etag"])

    async def replace(self, key: str, data: bytes, etag: str) -> str:
        blob = await self._blob(key)
        try:
            result = await blob.upload_blob(
                data, overwrite=True, etag=etag, match_condition=MatchConditions.IfNotModified
            )
        except HttpResponseError as exc:
            if _precondition_failed(exc):
                raise PreconditionFailed(key) from exc
            raise
        return str(result["etag"])

    async def delete(self, key: str, etag: str | None = None) -> None:
        blob = await self._blob(key)
        try:
            if etag is None:
                await blob.delete_blob()
            else:
                await blob.delete_blob(etag=etag, match_condition=MatchConditions.IfNotModified)
        except ResourceNotFoundError as exc:
            if etag is not None:
                raise PreconditionFailed(key) from exc
        except HttpResponseError as exc:
            if etag is not None and _precondition_failed(exc):
                raise PreconditionFailed(key) from exc
            raise

    async def keys(self, prefix: str) -> AsyncIterator[str]:
        container = await self._ready()
        names = [
            blob.name
            async for blob in container.list_blobs(name_starts_with=_blob_name(prefix) or None)
        ]
        # The service sorts by encoded name; sort by key, as the SQLite store does.
        for key in sorted(map(_key, names)):
            yield key

    async def close(self) -> None:
        await self._service.close()
