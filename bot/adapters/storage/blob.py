"""The cloud store: one Azure Blob Storage container, one blob per document.

The blob's own ETag is the document's ETag, so the compare-and-swap in
:meth:`BlobStore.replace` is done by the service (``If-Match``), and any number of bot
instances can share the container.

A click reads one document and writes it back, and a request through the Azure SDK's
public blob methods costs more CPU than the rest of the click: the tracing decorator, a
pipeline of sixteen policies, a ``StorageStreamDownloader`` and some forty response
headers parsed into models that nobody reads; even the SDK's pipeline alone, kept to the
policies that act on a document request, cost twice what the request itself costs on
aiohttp. So a document's Get / Put / Delete Blob (REST API,
https://learn.microsoft.com/rest/api/storageservices/blob-service-rest-api) is one
request built, signed and sent here, on an aiohttp session of the store's own:

* Shared Key signing as the service defines it
  (https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key), with
  the SDK's ``sign_string`` and its collation of the ``x-ms-`` headers; a SAS connection
  string signs by the token in the URL;
* ``x-ms-version`` (the SDK's), ``x-ms-date``, a ``x-ms-client-request-id`` per request
  (kept across its retries), the SDK's ``User-Agent``;
* the storage retry rules (a 408, a 5xx other than 501/505, a connection error or a
  timeout is tried again), waiting as :data:`bot.services.retry.STORE_CALLS` says; a
  redirect is never followed (the service does not send one, and a signed request must
  not go elsewhere);
* a write retried after an attempt that got no answer to trust (the service's ``500
  OperationTimedOut`` "may or may not have succeeded", a lost connection) and then
  refused -- a create's 409, a compare-and-swap's 412, a conditional delete's 404 or 412
  -- queries the blob's state, as the service advises, before it reports a refusal: a
  put's blob carries its request id in its metadata, so the store knows its own write
  (:meth:`BlobStore._landed`), and a delete finds the blob gone;
* proxy settings and ``.netrc`` read from the environment only when a proxy is set.

Container creation and listings are rare and use the SDK's ``ContainerClient`` as it
is, which also reads the connection string. The SDK's HTTP logging and tracing policies
are not on the document path: each document request is logged at DEBUG instead.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import itertools
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import aiohttp
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob._shared.authentication import _storage_header_sort
from azure.storage.blob._shared.policies_async import AsyncStorageRetryPolicy
from azure.storage.blob.aio import ContainerClient
from multidict import CIMultiDictProxy
from yarl import URL

from bot import errors
from bot.i18n import t
from bot.services.retry import STORE_CALLS, RetryPolicy
from bot.services.store import AlreadyExists, Document, PreconditionFailed, StoreError

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

# Kept as they are in blob names, so the container stays readable in Storage Explorer.
# Everything else is percent-encoded: the service (or the SDK) turns '\' into '/', and
# '.' / '..' path segments break request signing, so those must not reach the wire raw.
_SAFE = "/:@+=,"
_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
_TIMEOUT = aiohttp.ClientTimeout(sock_connect=20, sock_read=60)
"""The SDK's defaults: 20 s to connect, 60 s between reads."""
_NOT_RETRIED_5XX = (501, 505)
_WRITTEN_BY = "x-ms-meta-crmcardrequest"
"""The metadata a put leaves on its blob: its request id (kept across retries), so that a
retry refused as its lost first attempt wrote the blob can tell (:meth:`BlobStore._landed`)."""


def _blob_name(key: str) -> str:
    """Percent-encode character by character: a key's prefix encodes to the name's prefix."""
    return quote(key, safe=_SAFE).replace(".", "%2E")


def _key(blob_name: str) -> str:
    return unquote(blob_name)


def _retried(status: int) -> bool:
    """The storage retry rules' statuses: a timeout, a 5xx other than 501 and 505."""
    return status == 408 or (status >= 500 and status not in _NOT_RETRIED_5XX)


class StoreRetry(AsyncStorageRetryPolicy):
    """The SDK's storage retry rules for the container client's own requests (creating
    the container, listing), with the waits and attempts of a :class:`RetryPolicy`.

    (The SDK's own default waits 15, 18 and 24 s: far longer than a click can.)
    """

    def __init__(self, policy: RetryPolicy = STORE_CALLS) -> None:
        super().__init__(retry_total=policy.max_attempts - 1)
        self.policy = policy

    def get_backoff_time(self, settings: dict[str, Any]) -> float:
        return self.policy.backoff(settings["count"])


class StoreUnavailable(errors.Unavailable, StoreError):
    """Blob Storage kept failing (5xx, timeouts, no connection) through every retry."""


@functools.cache
def _signing_order(names: tuple[str, ...]) -> tuple[str, ...]:
    """The service's order of these ``x-ms-`` headers (the SDK's collation) for signing."""
    return tuple(name for name, _ in _storage_header_sort([(name, "") for name in names]))


@dataclass(frozen=True)
class SharedKey:
    """Shared Key authorization of one account: ``Authorization: SharedKey name:signature``."""

    account_name: str
    account_key: bytes
    """The key, base64-decoded."""

    def authorization(self, method: str, path: str, headers: dict[str, str]) -> str:
        """The header for a request without a query string (a document's Get / Put / Delete).

        ``path`` is the URL's path as sent (percent-encoded); ``headers`` holds every
        header of the request but ``Host``, with ``Content-Length`` when there is a body.
        """
        x_ms = {name.lower(): value for name, value in headers.items() if name[:5] == "x-ms-"}
        canonical_headers = "".join(
            f"{name}:{x_ms[name]}\n" for name in _signing_order(tuple(x_ms))
        )
        length = headers.get("Content-Length", "")
        string_to_sign = (
            f"{method}\n\n\n{'' if length == '0' else length}\n\n"
            f"{headers.get('Content-Type', '')}\n\n\n"
            f"{headers.get('If-Match', '')}\n{headers.get('If-None-Match', '')}\n\n\n"
            f"{canonical_headers}/{self.account_name}{path}"
        )
        digest = hmac.new(self.account_key, string_to_sign.encode(), hashlib.sha256).digest()
        return f"SharedKey {self.account_name}:{base64.b64encode(digest).decode()}"


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    request_id: str = ""
    doubtful: bool = False
    """An earlier attempt of the request failed with no answer to trust (a timeout, a lost
    connection, a 5xx): a write may have been done by it, and this answer is to that."""


class BlobStore:
    def __init__(
        self,
        connection_string: str,
        container: str,
        *,
        retry: RetryPolicy = STORE_CALLS,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._proxied = any(
            os.environ.get(v) or os.environ.get(v.lower()) for v in _PROXY_VARIABLES
        )
        self._container = ContainerClient.from_connection_string(
            connection_string,
            container,
            use_env_settings=self._proxied,
            retry_policy=StoreRetry(retry),
        )
        credential = self._container.credential
        self._signing = (
            SharedKey(credential.account_name, base64.b64decode(credential.account_key))
            if credential is not None
            else None  # a SAS: the token in the URL authorizes
        )
        self._retry = retry
        self._sleep = sleep
        self._fixed_headers = {
            "x-ms-version": self._container.api_version,
            "User-Agent": self._container._config.user_agent_policy.user_agent,
        }
        base, _, query = self._container.url.partition("?")
        self._base = base + "/"
        self._query = "?" + query if query else ""
        self._session: aiohttp.ClientSession | None = None
        self._container_ready = False
        self._container_lock = asyncio.Lock()
        # x-ms-client-request-id: UUID-shaped, unique per request, without the SDK's uuid1()
        # (a clock read and a lock) per request.
        self._request_ids = (f"{uuid.uuid4()!s:.24}{n:012x}" for n in itertools.count())

    async def _ready(self) -> aiohttp.ClientSession:
        """The session, and the container, created on first use so a fresh account needs
        no setup step."""
        if not self._container_ready:
            async with self._container_lock:
                if not self._container_ready:
                    # Another instance, or an earlier run, may have made it already.
                    with suppress(ResourceExistsError):
                        await self._container.create_container()
                    self._container_ready = True
        if self._session is None:
            self._session = aiohttp.ClientSession(
                trust_env=self._proxied, cookie_jar=aiohttp.DummyCookieJar(), timeout=_TIMEOUT
            )
        return self._session

    def blob_url(self, key: str) -> str:
        """The blob's URL, as the SDK's ``BlobClient`` makes it."""
        return self._base + quote(_blob_name(key), safe="~/") + self._query

    async def _send(
        self,
        method: str,
        key: str,
        headers: dict[str, str],
        body: bytes = b"",
        *,
        request_id: str | None = None,
    ) -> _Answer:
        """One document request, retried by the storage retry rules (``request_id``: its
        ``x-ms-client-request-id`` when the caller needs it too)."""
        session = await self._ready()
        url = self.blob_url(key)
        target = URL(url, encoded=True)
        path = urlsplit(url).path
        headers |= self._fixed_headers
        request_id = request_id or next(self._request_ids)
        headers["x-ms-client-request-id"] = request_id
        if body:
            headers["Content-Length"] = str(len(body))
        failures = 0
        while True:
            headers["x-ms-date"] = formatdate(usegmt=True)
            if self._signing is not None:
                headers["Authorization"] = self._signing.authorization(method, path, headers)
            started = time.perf_counter()
            try:
                async with session.request(
                    method, target, headers=headers, data=body or None, allow_redirects=False
                ) as response:
                    body_read = await response.read()
                    answer = _Answer(
                        response.status, response.headers, body_read, request_id, failures > 0
                    )
            except (TimeoutError, aiohttp.ClientConnectionError) as error:
                failure = type(error).__name__
            else:
                log.debug(
                    "blob %s %s %d in %.1f ms",
                    method,
                    key,
                    answer.status,
                    1000 * (time.perf_counter() - started),
                )
                if not _retried(answer.status):
                    return answer
                failure = str(answer.status)
            failures += 1
            if self._retry.exhausted(failures):
                log.warning("blob %s %s failed %d times, last: %s", method, key, failures, failure)
                raise StoreUnavailable(t("The store is unavailable; try again later."))
            await self._sleep(self._retry.backoff(failures))

    @staticmethod
    def _failed(method: str, answer: _Answer) -> StoreError:
        """An answer the store has no meaning for (a 403, a 3xx): crmcard's own fault,
        whose details go to the log, never to the caller."""
        code = answer.headers.get("x-ms-error-code", "")
        return StoreError(f"Blob Storage answered {method} with {answer.status} {code}".rstrip())

    async def read(self, key: str) -> Document | None:
        answer = await self._send("GET", key, {})
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise self._failed("GET", answer)
        return Document(data=answer.body, etag=answer.headers["ETag"])

    async def _put(
        self, key: str, data: bytes, condition: dict[str, str], refused: tuple[int, ...]
    ) -> str | None:
        """A Put Blob under ``condition``, its request id also in the blob's metadata: the
        new ETag, or None if the service answered one of ``refused`` and the put's own
        earlier attempt did not write the blob after all (:meth:`_landed`)."""
        request_id = next(self._request_ids)
        headers = {
            "x-ms-blob-type": "BlockBlob",
            "Content-Type": "application/octet-stream",
            _WRITTEN_BY: request_id,
        }
        answer = await self._send("PUT", key, headers | condition, data, request_id=request_id)
        if answer.status in refused:
            return await self._landed(key, answer)
        if answer.status != 201:
            raise self._failed("PUT", answer)
        return answer.headers["ETag"]

    async def _landed(self, key: str, answer: _Answer) -> str | None:
        """The blob's ETag if this refused put's earlier attempt wrote it after all (its
        answer lost, the retry refused as the blob then existed or had changed): the
        blob's metadata names the put's request id. None otherwise."""
        if not answer.doubtful:
            return None
        found = await self._send("HEAD", key, {})
        if found.status == 200 and found.headers.get(_WRITTEN_BY) == answer.request_id:
            return found.headers["ETag"]
        return None

    async def create(self, key: str, data: bytes) -> str:
        # The service answers either when the blob exists.
        created = await self._put(key, data, {"If-None-Match": "*"}, refused=(409, 412))
        if created is None:
            raise AlreadyExists(key)
        return created

    async def replace(self, key: str, data: bytes, etag: str) -> str:
        replaced = await self._put(key, data, {"If-Match": etag}, refused=(404, 412))
        if replaced is None:
            raise PreconditionFailed(key)
        return replaced

    async def delete(self, key: str, etag: str | None = None) -> None:
        answer = await self._send("DELETE", key, {} if etag is None else {"If-Match": etag})
        if answer.status == 202 or (answer.status == 404 and etag is None):
            return
        if etag is not None and answer.status in (404, 412):
            # After a doubtful attempt (most likely the one that deleted it): done if gone.
            if answer.doubtful and (await self._send("HEAD", key, {})).status == 404:
                return
            raise PreconditionFailed(key)
        raise self._failed("DELETE", answer)

    async def keys(self, prefix: str) -> AsyncIterator[str]:
        await self._ready()
        names = [
            blob.name
            async for blob in self._container.list_blobs(
                name_starts_with=_blob_name(prefix) or None
            )
        ]
        # The service sorts by encoded name; sort by key, as the SQLite store does.
        for key in sorted(map(_key, names)):
            yield key

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        await self._container.close()
