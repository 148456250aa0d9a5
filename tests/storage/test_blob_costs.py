"""What keeps a Blob round trip cheap, pinned: each test fails if the saving is lost.

* a document's read, create, replace and delete are one HTTP request each, built by the
  store (no ``BlobClient``, no ``StorageStreamDownloader``, no generated operation
  parsing forty response headers, no ``uuid1()`` request id), sent through the SDK's
  pipeline;
* that pipeline holds only the policies that act on such a request: no HTTP logging
  while its logger is below INFO, no distributed tracing without a tracer; and still
  the SDK's signing, date, request id and retry policies;
* the URLs are the ones the SDK's ``BlobClient`` makes, so documents stay where the
  SDK's methods put them;
* retries follow the storage retry rules with :data:`bot.services.retry.STORE_CALLS`'s waits;
* no per-request look-up of proxy settings in the environment unless a proxy is set;
* the Blob and Queue SDKs are not even imported when the local store runs.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from azure.core import settings as azure_settings
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline import PipelineContext, PipelineRequest
from azure.core.pipeline.policies import (
    DistributedTracingPolicy,
    HttpLoggingPolicy,
    ProxyPolicy,
    UserAgentPolicy,
)
from azure.core.pipeline.transport import AioHttpTransport
from azure.core.rest import HttpRequest
from azure.storage.blob._shared import authentication
from azure.storage.blob._shared.authentication import SharedKeyCredentialPolicy
from azure.storage.blob._shared.policies import StorageHeadersPolicy
from azure.storage.blob.aio import ContainerClient

from bot.adapters.storage.blob import BlobStore, SharedKeySigning, StoreRetry, _blob_name
from bot.services.retry import STORE_CALLS
from bot.services.store import PreconditionFailed
from tests.azurite import connection_string

pytestmark = pytest.mark.azurite


def policy_types(store: BlobStore) -> list[type]:
    """The classes of the document pipeline's policies (SansIO ones unwrapped)."""
    found = []
    for policy in store._pipeline._impl_policies:
        inner = getattr(policy, "_policy", policy)
        found.append(type(inner))
    return found


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str, str]]]:
    """Every HTTP request any Azure SDK transport sends: (method, path, client request id)."""
    requests: list[tuple[str, str, str]] = []
    original = AioHttpTransport.send

    async def counting(self: AioHttpTransport, request: Any, **kwargs: Any) -> Any:
        path = request.url.split("?")[0].split("/", 4)[-1]
        requests.append((request.method, path, request.headers["x-ms-client-request-id"]))
        return await original(self, request, **kwargs)

    monkeypatch.setattr(AioHttpTransport, "send", counting)
    yield requests


@pytest.fixture
async def blob_store(azurite_connection_string: str) -> AsyncIterator[BlobStore]:
    store = BlobStore(azurite_connection_string, f"test-{uuid.uuid4().hex}")
    await store.create("warm", b"")  # the container exists
    try:
        yield store
    finally:
        await store.close()


async def test_each_document_call_is_one_request_and_builds_no_blob_client(
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


def test_document_pipeline_is_lean(azurite_connection_string: str) -> None:
    store = BlobStore(azurite_connection_string, "any")
    # what signs, dates and retries the request is the SDK's, as for its own methods
    assert policy_types(store) == [
        ProxyPolicy,
        UserAgentPolicy,
        StoreRetry,
        StorageHeadersPolicy,
        SharedKeySigning,
    ]
    full = [type(getattr(p, "_policy", p)) for p in store._container._pipeline._impl_policies]
    assert len(full) == 16 and {HttpLoggingPolicy, DistributedTracingPolicy} <= set(full)
    # documents and listings share one transport: one aiohttp session, one connection pool
    assert store._pipeline._transport._transport is store._container._pipeline._transport


def test_http_logging_and_tracing_policies_come_back_when_wanted(
    azurite_connection_string: str,
) -> None:
    logger = logging.getLogger("azure.core.pipeline.policies.http_logging_policy")
    level = logger.level
    logger.setLevel(logging.INFO)
    azure_settings.settings.tracing_enabled.set_value(True)
    try:
        types = policy_types(BlobStore(azurite_connection_string, "any"))
    finally:
        azure_settings.settings.tracing_enabled.unset_value()
        logger.setLevel(level)
    assert HttpLoggingPolicy in types and DistributedTracingPolicy in types


def test_signing_is_the_sdks_with_the_header_order_remembered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sdk = SharedKeyCredentialPolicy("devstoreaccount1", "a2V5")
    ours = SharedKeySigning("devstoreaccount1", "a2V5")

    def signed(policy: SharedKeyCredentialPolicy, verb: str, extra: dict[str, str]) -> str:
        headers = {
            "x-ms-version": "2026-02-06",
            "X-MS-Date": "Tue, 01 Dec 2026 14:00:00 GMT",
            "x-ms-client-request-id": "0f0e-1",
            "x-ms-meta-Zeta": "z",
            "x-ms-meta-alpha": "a",
            **extra,
        }
        url = "http://127.0.0.1:1/devstoreaccount1/c/tenants/t%252Edoc?comp=x"
        request = HttpRequest(verb, url, headers=headers, content=b"{}" if verb == "PUT" else None)
        pipeline_request = PipelineRequest(request, PipelineContext(AioHttpTransport()))
        policy.on_request(pipeline_request)
        return str(request.headers["Authorization"])

    cases = [
        ("GET", {}),
        ("PUT", {"x-ms-blob-type": "BlockBlob", "If-Match": '"0x1"'}),
        ("DELETE", {"If-Match": '"0x2"'}),
    ]
    for verb, extra in cases:
        assert signed(ours, verb, extra) == signed(sdk, verb, extra)
    signed(ours, "GET", {})  # the order of these names is known by now

    def no_sorting(lhs: str, rhs: str) -> int:
        raise AssertionError("the x-ms- headers were sorted again")

    monkeypatch.setattr(authentication, "compare", no_sorting)
    for verb, extra in cases:
        signed(ours, verb, extra)


@pytest.mark.parametrize("key", ["tenants/t/doc", "a b/ü?#%", "x/../y", "back\\slash", "~tilde."])
async def test_blob_urls_are_the_sdks(azurite_connection_string: str, key: str) -> None:
    store = BlobStore(azurite_connection_string, "any")
    try:
        sdk = store._container.get_blob_client(_blob_name(key)).url
        assert store.blob_url(key) == sdk
    finally:
        await store.close()


def test_a_sas_connection_string_signs_by_its_token_in_the_url() -> None:
    sas = "BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=sv=1&sig=a%2B"
    store = BlobStore(sas, "c")
    assert store.blob_url("t/a.b") == store._container.get_blob_client(_blob_name("t/a.b")).url
    assert store.blob_url("t/a.b").endswith("/c/t/a%252Eb?sv=1&sig=a%2B")
    assert SharedKeySigning not in policy_types(store)


def test_retry_waits_are_the_store_calls_policy() -> None:
    retry = StoreRetry()
    assert retry.total_retries == STORE_CALLS.max_attempts - 1
    for count in (1, 2, 3):
        wait = retry.get_backoff_time({"count": count})
        step = min(STORE_CALLS.max_delay, STORE_CALLS.base_delay * 2 ** (count - 1))
        assert step / 2 <= wait <= step


async def test_a_503_is_retried_a_lasting_one_raises_and_no_redirect_is_followed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits: list[int] = []
    monkeypatch.setattr(StoreRetry, "get_backoff_time", lambda self, s: waits.append(s["count"]))
    answers = iter([503, 200, 503, 503, 503, 503, 307])
    requests: list[str] = []

    async def blob(request: web.Request) -> web.Response:
        requests.append(request.method)
        status = next(answers)
        if status == 200:
            return web.Response(body=b"doc", headers={"ETag": '"0x1"'})
        return web.Response(status=status, text="busy", headers={"Location": "http://elsewhere/"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", blob)
    async with TestServer(app, host="127.0.0.1") as server:
        store = BlobStore(connection_string("blob", "127.0.0.1", server.port), "c")
        store._container_ready = True  # this fake plays documents only
        try:
            document = await store.read("k")
            assert document is not None and document.data == b"doc"
            assert document.etag == '"0x1"'
            with pytest.raises(HttpResponseError) as raised:
                await store.read("k")
            with pytest.raises(HttpResponseError) as redirected:  # not followed
                await store.read("k")
        finally:
            await store.close()
    assert raised.value.status_code == 503 and redirected.value.status_code == 307
    assert requests == ["GET"] * (2 + STORE_CALLS.max_attempts + 1)
    assert waits == [1, 1, 2, 3]


def test_environment_proxies_are_read_only_when_one_is_set(
    monkeypatch: pytest.MonkeyPatch, azurite_connection_string: str
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("all_proxy", raising=False)
    direct = BlobStore(azurite_connection_string, "any")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    proxied = BlobStore(azurite_connection_string, "any")
    assert direct._container._pipeline._transport._use_env_settings is False
    assert proxied._container._pipeline._transport._use_env_settings is True


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
