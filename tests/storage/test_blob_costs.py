"""What keeps a Blob round trip cheap, pinned: each test fails if the saving is lost.

* a document's read, create, replace and delete are one HTTP request each, built, signed
  and sent by the store on aiohttp: no ``BlobClient``, no ``StorageStreamDownloader``, no
  request through the SDK's pipeline or transport, no ``uuid1()`` request id;
* the signature is the one the SDK's Shared Key policy computes, with the header order
  remembered; a SAS connection string signs by its token in the URL;
* the URLs are the ones the SDK's ``BlobClient`` makes, so documents stay where the
  SDK's methods put them;
* retries follow the storage retry rules with :data:`bot.services.retry.STORE_CALLS`'s
  waits, and a redirect is not followed;
* no per-request look-up of proxy settings in the environment unless a proxy is set;
* the Blob and Queue SDKs are not even imported when the local store runs.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from azure.core.pipeline import PipelineContext, PipelineRequest
from azure.core.pipeline.transport import AioHttpTransport
from azure.core.rest import HttpRequest
from azure.storage.blob._shared import authentication
from azure.storage.blob._shared.authentication import SharedKeyCredentialPolicy
from azure.storage.blob.aio import ContainerClient

from bot import errors
from bot.adapters.storage.blob import (
    BlobStore,
    SharedKey,
    StoreRetry,
    StoreUnavailable,
    _blob_name,
)
from bot.services.retry import STORE_CALLS, RetryPolicy
from bot.services.store import PreconditionFailed, StoreError
from tests.azurite import connection_string

pytestmark = pytest.mark.azurite


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str, str]]]:
    """Every request the store's aiohttp session sends: (method, path, client request id);
    any request through the SDK's transport fails the test."""
    requests: list[tuple[str, str, str]] = []
    original = aiohttp.ClientSession._request

    async def counting(self: aiohttp.ClientSession, method: str, url: Any, **kwargs: Any) -> Any:
        path = str(url).split("?")[0].split("/", 4)[-1]
        requests.append((method, path, kwargs["headers"]["x-ms-client-request-id"]))
        return await original(self, method, url, **kwargs)

    async def refused(self: AioHttpTransport, request: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"the SDK's transport sent {request.method} {request.url}")

    monkeypatch.setattr(aiohttp.ClientSession, "_request", counting)
    monkeypatch.setattr(AioHttpTransport, "send", refused)
    yield requests


@pytest.fixture
async def blob_store(azurite_connection_string: str) -> AsyncIterator[BlobStore]:
    store = BlobStore(azurite_connection_string, f"test-{uuid.uuid4().hex}")
    await store.create("warm", b"")  # the container exists
    try:
        yield store
    finally:
        await store.close()


async def test_each_document_call_is_one_request_off_the_sdks_pipeline(
    blob_store: BlobStore, sent: list[tuple[str, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a BlobClient or a uuid1 request id was made for a document call")

    monkeypatch.setattr(ContainerClient, "get_blob_client", refused)
    monkeypatch.setattr(uuid, "uuid1", refused)
    etag = await blob_store.create("tenants/t/doc", b"1")
    document = await blob_store.read("tenants/t/doc")
    assert document is not None and document.data == b"1" and document.etag == etag
    etag = await blob_store.replace("tenants/t/doc", b"2", etag)
    with pytest.raises(PreconditionFailed):
        await blob_store.replace("tenants/t/doc", b"3", document.etag)
    assert await blob_store.read("tenants/t/missing") is None
    await blob_store.delete("tenants/t/doc", etag)
    path = blob_store.blob_url("tenants/t/doc").split("/", 4)[-1]
    request_ids = [request_id for _, _, request_id in sent]
    assert len(set(request_ids)) == len(sent) and all(uuid.UUID(i) for i in request_ids)
    assert [(method, path) for method, path, _ in sent] == [
        ("PUT", path),
        ("GET", path),
        ("PUT", path),
        ("PUT", path),
        ("GET", path.replace("doc", "missing")),
        ("DELETE", path),
    ]


async def test_each_document_request_is_logged_at_debug(
    blob_store: BlobStore, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, "bot.adapters.storage.blob"):
        await blob_store.read("tenants/t/missing")
    assert [r.getMessage().split(" in ")[0] for r in caplog.records] == [
        "blob GET tenants/t/missing 404"
    ]


def test_signing_is_the_sdks_with_the_header_order_remembered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sdk = SharedKeyCredentialPolicy("devstoreaccount1", "a2V5")
    ours = SharedKey("devstoreaccount1", b"key")
    path = "/devstoreaccount1/c/tenants/t%252Edoc"

    def headers(verb: str, extra: dict[str, str]) -> dict[str, str]:
        body = {"Content-Length": "2", "Content-Type": "application/json"}
        return {
            "x-ms-version": "2026-02-06",
            "x-ms-date": "Tue, 01 Dec 2026 14:00:00 GMT",
            "x-ms-client-request-id": "0f0e-1",
            "x-ms-meta-Zeta": "z",
            "x-ms-meta-alpha": "a",
            **(body if verb == "PUT" else {}),
            **extra,
        }

    def signed_by_sdk(verb: str, extra: dict[str, str]) -> str:
        request = HttpRequest(verb, "http://127.0.0.1:1" + path, headers=headers(verb, extra))
        sdk.on_request(PipelineRequest(request, PipelineContext(AioHttpTransport())))
        return str(request.headers["Authorization"])

    cases = [
        ("GET", {}),
        ("PUT", {"x-ms-blob-type": "BlockBlob", "If-Match": '"0x1"'}),
        ("PUT", {"x-ms-blob-type": "BlockBlob", "If-None-Match": "*"}),
        ("DELETE", {"If-Match": '"0x2"'}),
    ]
    for verb, extra in cases:
        assert ours.authorization(verb, path, headers(verb, extra)) == signed_by_sdk(verb, extra)

    def no_sorting(lhs: str, rhs: str) -> int:
        raise AssertionError("the x-ms- headers were sorted again")

    monkeypatch.setattr(authentication, "compare", no_sorting)
    for verb, extra in cases:  # the order of these names is known by now
        ours.authorization(verb, path, headers(verb, extra))


@pytest.mark.parametrize("key", ["tenants/t/doc", "a b/ü?#%", "x/../y", "back\\slash", "~tilde."])
async def test_blob_urls_are_the_sdks(azurite_connection_string: str, key: str) -> None:
    store = BlobStore(azurite_connection_string, "any")
    try:
        sdk = store._container.get_blob_client(_blob_name(key)).url
        assert store.blob_url(key) == sdk
    finally:
        await store.close()


async def test_a_sas_connection_string_signs_by_its_token_in_the_url() -> None:
    seen: list[tuple[str, str | None]] = []

    async def blob(request: web.Request) -> web.Response:
        seen.append((request.path_qs, request.headers.get("Authorization")))
        return web.Response(body=b"doc", headers={"ETag": '"0x1"'})

    app = web.Application()
    app.router.add_get("/{tail:.*}", blob)
    async with TestServer(app, host="127.0.0.1") as server:
        sas = f"BlobEndpoint=http://127.0.0.1:{server.port}/;SharedAccessSignature=sv=1&sig=a%2B"
        store = BlobStore(sas, "c")
        store._container_ready = True  # this fake plays documents only
        try:
            assert store.blob_url("t/a.b") == store._container.get_blob_client("t/a%2Eb").url
            assert await store.read("t/a.b") is not None
        finally:
            await store.close()
    assert seen == [("/c/t/a%252Eb?sv=1&sig=a%2B", None)]


def test_container_requests_retry_by_the_store_calls_policy() -> None:
    retry = StoreRetry()
    assert retry.total_retries == STORE_CALLS.max_attempts - 1
    for count in (1, 2, 3):
        wait = retry.get_backoff_time({"count": count})
        step = min(STORE_CALLS.max_delay, STORE_CALLS.base_delay * 2 ** (count - 1))
        assert step / 2 <= wait <= step


async def test_a_failing_request_is_retried_a_lasting_failure_is_unavailable() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    answers = iter([503, 200, 500, 408, 502, 503, 307, 403])
    requests: list[tuple[str, str]] = []

    async def blob(request: web.Request) -> web.StreamResponse:
        requests.append((request.method, request.headers["x-ms-client-request-id"]))
        status = next(answers)
        if status == 200:
            return web.Response(body=b"doc", headers={"ETag": '"0x1"'})
        return web.Response(status=status, text="busy", headers={"Location": "http://elsewhere/"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", blob)
    policy = RetryPolicy(max_attempts=4, base_delay=0.1, max_delay=1.0)
    async with TestServer(app, host="127.0.0.1") as server:
        store = BlobStore(
            connection_string("blob", "127.0.0.1", server.port), "c", retry=policy, sleep=sleep
        )
        store._container_ready = True  # this fake plays documents only
        try:
            document = await store.read("k")
            assert document is not None and document.data == b"doc"
            assert document.etag == '"0x1"'
            with pytest.raises(StoreUnavailable) as lasting:
                await store.read("k")
            with pytest.raises(StoreError) as redirected:  # not followed
                await store.read("k")
            with pytest.raises(StoreError) as refused:
                await store.read("k")
        finally:
            await store.close()
    assert errors.problem_for(lasting.value).status == 503
    assert "307" in str(redirected.value) and not isinstance(redirected.value, StoreUnavailable)
    assert "403" in str(refused.value) and errors.problem_for(refused.value).status == 500
    assert [method for method, _ in requests] == ["GET"] * (2 + policy.max_attempts + 2)
    # one request id for a request and its retries
    assert len({request_id for _, request_id in requests[2:6]}) == 1
    assert len(waits) == 1 + policy.max_attempts - 1
    for failures, wait in zip([1, 1, 2, 3], waits, strict=True):
        step = min(policy.max_delay, policy.base_delay * 2 ** (failures - 1))
        assert step / 2 <= wait <= step


async def test_no_connection_is_retried_then_unavailable() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    with socket.socket() as unused:  # bound, never listening: connections are refused
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
        store = BlobStore(connection_string("blob", "127.0.0.1", port), "c", sleep=sleep)
        store._container_ready = True
        try:
            with pytest.raises(StoreUnavailable):
                await store.read("k")
        finally:
            await store.close()
    assert len(waits) == STORE_CALLS.max_attempts - 1


async def test_environment_proxies_are_read_only_when_one_is_set(
    monkeypatch: pytest.MonkeyPatch, azurite_connection_string: str
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("all_proxy", raising=False)
    direct = BlobStore(azurite_connection_string, f"test-{uuid.uuid4().hex}")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    proxied = BlobStore(azurite_connection_string, "any")
    try:
        assert direct._container._pipeline._transport._use_env_settings is False
        assert proxied._container._pipeline._transport._use_env_settings is True
        monkeypatch.delenv("HTTPS_PROXY")
        assert (await direct._ready()).trust_env is False
        proxied._container_ready = True
        assert (await proxied._ready()).trust_env is True
    finally:
        await direct.close()
        await proxied.close()


def test_storage_sdks_are_imported_only_when_used(tmp_path: Any) -> None:
    program = (
        "import sys, pathlib\n"
        "from bot.settings import Settings\n"
        "from bot.web.app import create_app\n"
        f"create_app(Settings(_env_file=None, data_dir=pathlib.Path({str(tmp_path)!r})))\n"
        "print(sorted(m for m in sys.modules if m.startswith('azure.storage')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"
