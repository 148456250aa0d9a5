"""A Blob write whose answer was lost but which was done: its retry is not taken for a
refusal.

Blob Storage may answer a request it did carry out with an error: ``500
OperationTimedOut``, "The operation could not be completed within the permitted time.
The operation may or may not have succeeded on the server side. Please query the server
state before retrying the operation."
(https://learn.microsoft.com/rest/api/storageservices/common-rest-api-error-codes), and a
connection may drop before the answer arrives. The store retries such a request; the
retry of a create then finds the blob it wrote itself (409), that of a compare-and-swap
its own new ETag (412), that of a conditional delete no blob (404). Each would have been
a refusal -- "another writer was first" -- and the caller would have redone or given up a
write that was done. The store queries the blob's state as the service advises: the
metadata each put leaves names its request id.

The tests put a proxy between the store and Azurite that carries the chosen request to
Azurite and then answers it ``500 OperationTimedOut`` (``landed``), or answers so without
carrying it (a failure that did nothing, for the refusals that must stay refusals).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from bot.adapters.storage.blob import BlobStore
from bot.services.store import AlreadyExists, PreconditionFailed
from tests.azurite import Azurite, connection_string

pytestmark = pytest.mark.azurite

TIMED_OUT = "The operation could not be completed within the permitted time."


@dataclass
class LosingProxy:
    """Azurite behind a proxy that loses the answer of the next request of ``method``."""

    upstream: str
    method: str = ""
    landed: bool = True
    seen: list[str] = field(default_factory=list)

    def lose_next(self, method: str, *, landed: bool = True) -> None:
        self.method, self.landed = method, landed

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(request.method)
        losing = request.method == self.method
        body = await request.read()
        if losing:
            self.method = ""
            if not self.landed:
                return self._timed_out()
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        async with (
            aiohttp.ClientSession(auto_decompress=False) as session,
            session.request(
                request.method,
                URL(self.upstream + request.raw_path, encoded=True),  # as signed
                headers=headers,
                data=body or None,
                allow_redirects=False,
                skip_auto_headers=("Content-Type",),  # signed: only the store's own
            ) as answer,
        ):
            answered = await answer.read()
            if losing:
                return self._timed_out()
            kept = {
                k: v
                for k, v in answer.headers.items()
                if k.lower() not in ("content-length", "transfer-encoding", "connection")
            }
            return web.Response(status=answer.status, headers=kept, body=answered)

    @staticmethod
    def _timed_out() -> web.Response:
        return web.Response(
            status=500, text=TIMED_OUT, headers={"x-ms-error-code": "OperationTimedOut"}
        )


async def _no_wait(seconds: float) -> None:
    """The retries' waits, skipped."""


@pytest.fixture
async def proxied(azurite_blob: Azurite) -> AsyncIterator[tuple[BlobStore, LosingProxy]]:
    proxy = LosingProxy(f"http://{azurite_blob.host}:{azurite_blob.port}")
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    async with TestServer(app, host="127.0.0.1") as server:
        store = BlobStore(
            connection_string("blob", "127.0.0.1", server.port),
            f"lost-{uuid.uuid4().hex}",
            sleep=_no_wait,
        )
        await store.create("warm", b"")  # the container exists
        try:
            yield store, proxy
        finally:
            await store.close()


@pytest.mark.parametrize("call", ["create", "replace"])
async def test_a_put_done_whose_answer_was_lost_is_done(
    proxied: tuple[BlobStore, LosingProxy], call: str
) -> None:
    """Before: the create's retry raised AlreadyExists, the replace's PreconditionFailed."""
    store, proxy = proxied
    etag = await store.create("tenants/t/doc", b"1") if call == "replace" else ""
    proxy.lose_next("PUT")
    if call == "replace":
        new_etag = await store.replace("tenants/t/doc", b"2", etag)
    else:
        new_etag = await store.create("tenants/t/doc", b"2")
    document = await store.read("tenants/t/doc")
    assert document is not None and (document.data, document.etag) == (b"2", new_etag)
    assert proxy.seen[-4:] == ["PUT", "PUT", "HEAD", "GET"]  # lost, refused, state queried


async def test_a_conditional_delete_done_whose_answer_was_lost_is_done(
    proxied: tuple[BlobStore, LosingProxy],
) -> None:
    store, proxy = proxied
    etag = await store.create("tenants/t/doc", b"1")
    proxy.lose_next("DELETE")
    await store.delete("tenants/t/doc", etag)  # before: PreconditionFailed
    assert await store.read("tenants/t/doc") is None


REFUSALS: dict[str, tuple[Callable[[BlobStore, str], Awaitable[object]], type[Exception]]] = {
    "create": (lambda store, etag: store.create("tenants/t/doc", b"mine"), AlreadyExists),
    "replace": (
        lambda store, etag: store.replace("tenants/t/doc", b"mine", etag),
        PreconditionFailed,
    ),
    "delete": (lambda store, etag: store.delete("tenants/t/doc", etag), PreconditionFailed),
}


@pytest.mark.parametrize("call", list(REFUSALS))
async def test_a_write_refused_after_a_failure_that_did_nothing_stays_refused(
    proxied: tuple[BlobStore, LosingProxy], call: str
) -> None:
    """Another writer changed the blob; the first attempt failed without reaching it."""
    store, proxy = proxied
    etag = await store.create("tenants/t/doc", b"1")
    await store.replace("tenants/t/doc", b"theirs", etag)
    write, refusal = REFUSALS[call]
    proxy.lose_next("DELETE" if call == "delete" else "PUT", landed=False)
    with pytest.raises(refusal):
        await write(store, etag)
    document = await store.read("tenants/t/doc")
    assert document is not None and document.data == b"theirs"
