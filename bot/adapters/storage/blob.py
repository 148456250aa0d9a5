"""The cloud store: one Azure Blob Storage container, one blob per document.

The blob's own ETag is the document's ETag, so the compare-and-swap in
:meth:`BlobStore.replace` is done by the service (``If-Match``), and any number of bot
instances can share the container.

A click reads one document and writes it back, and a request through the Azure SDK's
public blob methods costs more CPU than the rest of the click: the tracing decorator, a
pipeline of sixteen policies, a ``StorageStreamDownloader`` and some forty response
headers parsed into models that nobody reads. So a document's Get / Put / Delete Blob
(REST API, https://learn.microsoft.com/rest/api/storageservices/blob-service-rest-api)
is one request built here and sent through the SDK's own pipeline, kept to the policies
that do something for these requests (:func:`document_pipeline`): the SDK's account-key
signing, ``x-ms-date``, retries, proxy and user agent, over the same aiohttp session.
Container creation and listings are rare and use the SDK's ``ContainerClient`` as it is.
Proxy settings and ``.netrc`` are read from the environment only when a proxy is set.

Retries (a 408, a 5xx other than 501/505, a connection error or timeout) are the SDK's
storage retry rules, waiting as :data:`bot.services.retry.STORE_CALLS` says.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import Any
from urllib.parse import quote, unquote

from azure.core import settings as azure_settings
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    map_error,
)
from azure.core.pipeline import AsyncPipeline
from azure.core.pipeline.policies import DistributedTracingPolicy, HttpLoggingPolicy
from azure.core.rest import AsyncHttpResponse, HttpRequest
from azure.storage.blob._shared.authentication import (
    SharedKeyCredentialPolicy,
    _storage_header_sort,
)
from azure.storage.blob._shared.base_client_async import AsyncTransportWrapper
from azure.storage.blob._shared.policies_async import AsyncStorageRetryPolicy
from azure.storage.blob.aio import ContainerClient

from bot.services.retry import STORE_CALLS, RetryPolicy
from bot.services.store import AlreadyExists, Document, PreconditionFailed

# Kept as they are in blob names, so the container stays readable in Storage Explorer.
# Everything else is percent-encoded: the service (or the SDK) turns '\' into '/', and
# '.' / '..' path segments break request signing, so those must not reach the wire raw.
_SAFE = "/:@+=,"
_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
_HTTP_LOGGER = "azure.core.pipeline.policies.http_logging_policy"
_ERRORS: dict[int, type[HttpResponseError]] = {
    401: ClientAuthenticationError,
    404: ResourceNotFoundError,
    409: ResourceExistsError,
}


def _blob_name(key: str) -> str:
    """Percent-encode character by character: a key's prefix encodes to the name's prefix."""
    return quote(key, safe=_SAFE).replace(".", "%2E")


def _key(blob_name: str) -> str:
    return unquote(blob_name)


class StoreRetry(AsyncStorageRetryPolicy):
    """The SDK's storage retry rules, with the waits and attempts of a :class:`RetryPolicy`.

    (The SDK's own default waits 15, 18 and 24 s: far longer than a click can.)
    """

    def __init__(self, policy: RetryPolicy = STORE_CALLS) -> None:
        super().__init__(retry_total=policy.max_attempts - 1)
        self.policy = policy

    def get_backoff_time(self, settings: dict[str, Any]) -> float:
        return self.policy.backoff(settings["count"])


@functools.cache
def _signing_order(names: tuple[str, ...]) -> tuple[str, ...]:
    """The SDK's order of these ``x-ms-`` headers (the service's collation) for signing."""
    return tuple(name for name, _ in _storage_header_sort([(name, "") for name in names]))


class SharedKeySigning(SharedKeyCredentialPolicy):
    """The SDK's Shared Key signing, with the order of the ``x-ms-`` headers remembered.

    The SDK sorts them by the service's collation, comparing character by character in
    Python, on every request; a document request always has the same few names.
    """

    @staticmethod
    def _get_canonicalized_headers(request: Any) -> str:
        values = {
            name.lower(): value
            for name, value in request.http_request.headers.items()
            if name.startswith("x-ms-")
        }
        return "".join(
            f"{name}:{values[name]}\n"
            for name in _signing_order(tuple(values))
            if values[name] is not None
        )


def document_pipeline(container: ContainerClient) -> AsyncPipeline[Any, Any]:
    """The container's pipeline without the policies that do nothing for a document request.

    Left out: the queue-message and content-validation policies and the request/response
    hooks (no such options are ever passed), the storage network-trace logger (only logs
    with ``logging_enable``), the content decoder (documents are bytes), the storage hosts
    policy (it only matters when retrying on a secondary endpoint, which is never asked),
    the redirect policy and the header clean-up after a redirect (the service does not
    redirect: a 3xx is an error here, so no signed request follows one), and, decided
    when the store opens, distributed tracing when no tracer is configured and the HTTP
    logging policy while its logger is below INFO (as production keeps it). Account-key
    signing is the SDK's, with the header order remembered (:class:`SharedKeySigning`).
    """
    config = container._config
    signing = container._credential_policy
    if type(signing) is SharedKeyCredentialPolicy:
        signing = SharedKeySigning(signing.account_name, signing.account_key)  # type: ignore[no-untyped-call]
    policies: list[Any] = [
        config.proxy_policy,
        config.user_agent_policy,
        config.retry_policy,
        config.headers_policy,
        signing,
    ]
    if azure_settings.settings.tracing_enabled():
        policies.append(DistributedTracingPolicy())
    if logging.getLogger(_HTTP_LOGGER).isEnabledFor(logging.INFO):
        policies.append(HttpLoggingPolicy())
    # The container client's aiohttp session and connection pool; it closes them.
    shared = AsyncTransportWrapper(container._pipeline._transport)  # type: ignore[no-untyped-call]
    return AsyncPipeline(transport=shared, policies=policies)


class BlobStore:
    def __init__(self, connection_string: str, container: str) -> None:
        proxied = any(os.environ.get(v) or os.environ.get(v.lower()) for v in _PROXY_VARIABLES)
        self._container = ContainerClient.from_connection_string(
            connection_string, container, use_env_settings=proxied, retry_policy=StoreRetry()
        )
        self._pipeline = document_pipeline(self._container)
        self._version = self._container.api_version
        base, _, query = self._container.url.partition("?")
        self._base = base + "/"
        self._query = "?" + query if query else ""
        self._container_ready = False
        self._container_lock = asyncio.Lock()
        # x-ms-client-request-id: UUID-shaped, unique per request, without the SDK's uuid1()
        # (a clock read and a lock) per request.
        self._request_ids = (f"{uuid.uuid4()!s:.24}{n:012x}" for n in itertools.count())

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

    def blob_url(self, key: str) -> str:
        """The blob's URL, as the SDK's ``BlobClient`` makes it."""
        return self._base + quote(_blob_name(key), safe="~/") + self._query

    async def _send(
        self, method: str, key: str, headers: dict[str, str], body: bytes | None = None
    ) -> AsyncHttpResponse:
        await self._ready()
        headers["x-ms-version"] = self._version
        request = HttpRequest(method, self.blob_url(key), headers=headers, content=body)
        sent = await self._pipeline.run(
            request, stream=True, client_request_id=next(self._request_ids)
        )
        answer: AsyncHttpResponse = sent.http_response
        await answer.read()
        return answer

    @staticmethod
    def _failed(answer: AsyncHttpResponse) -> HttpResponseError:
        map_error(answer.status_code, answer, _ERRORS)
        return HttpResponseError(response=answer)

    async def read(self, key: str) -> Document | None:
        answer = await self._send("GET", key, {})
        if answer.status_code == 404:
            return None
        if answer.status_code != 200:
            raise self._failed(answer)
        return Document(data=answer.content, etag=answer.headers["ETag"])

    async def _put(self, key: str, data: bytes, condition: dict[str, str]) -> AsyncHttpResponse:
        headers = {"x-ms-blob-type": "BlockBlob", "Content-Type": "application/octet-stream"}
        return await self._send("PUT", key, headers | condition, data)

    async def create(self, key: str, data: bytes) -> str:
        answer = await self._put(key, data, {"If-None-Match": "*"})
        if answer.status_code in (409, 412):  # the service answers either
            raise AlreadyExists(key)
        if answer.status_code != 201:
            raise self._failed(answer)
        return str(answer.headers["ETag"])

    async def replace(self, key: str, data: bytes, etag: str) -> str:
        answer = await self._put(key, data, {"If-Match": etag})
        if answer.status_code in (404, 412):
            raise PreconditionFailed(key)
        if answer.status_code != 201:
            raise self._failed(answer)
        return str(answer.headers["ETag"])

    async def delete(self, key: str, etag: str | None = None) -> None:
        answer = await self._send("DELETE", key, {} if etag is None else {"If-Match": etag})
        if answer.status_code == 202 or (answer.status_code == 404 and etag is None):
            return
        if etag is not None and answer.status_code in (404, 412):
            raise PreconditionFailed(key)
        raise self._failed(answer)

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
        await self._container.close()
