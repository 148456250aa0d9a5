"""What keeps a Blob round trip cheap, pinned: each test fails if the saving is lost.

* one ``BlobClient`` per key, reused (building one costs as much as the request's
  pipeline);
* no per-request look-up of proxy settings in the environment unless a proxy is set;
* the Blob and Queue SDKs are not even imported when the local store runs.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from typing import Any

import pytest
from azure.storage.blob.aio import ContainerClient

from bot.adapters.storage.blob import BlobStore

pytestmark = pytest.mark.azurite


async def test_one_blob_client_per_key(
    azurite_connection_string: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []
    original = ContainerClient.get_blob_client

    def counting(self: ContainerClient, blob: str, *args: Any, **kwargs: Any) -> Any:
        built.append(blob)
        return original(self, blob, *args, **kwargs)

    monkeypatch.setattr(ContainerClient, "get_blob_client", counting)
    store = BlobStore(azurite_connection_string, f"test-{uuid.uuid4().hex}")
    try:
        etag = await store.create("tenants/t/doc", b"1")
        for _ in range(3):
            document = await store.read("tenants/t/doc")
            assert document is not None
            etag = await store.replace("tenants/t/doc", b"2", etag)
    finally:
        await store.close()
    assert built == ["tenants/t/doc"]


def test_environment_proxies_are_read_only_when_one_is_set(
    monkeypatch: pytest.MonkeyPatch, azurite_connection_string: str
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("all_proxy", raising=False)
    direct = BlobStore(azurite_connection_string, "any")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    proxied = BlobStore(azurite_connection_string, "any")
    assert direct._service._pipeline._transport._use_env_settings is False
    assert proxied._service._pipeline._transport._use_env_settings is True


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
