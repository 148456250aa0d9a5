"""Shared fixtures for the CRM adapter tests: a virtual clock, TLS for the fake authority,
RSA keys for the Salesforce JWT bearer flow, and the fake servers themselves."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.crm.fakes.entra import FakeEntra

ServerFactory = Callable[..., Awaitable[TestServer]]


@dataclass
class HeldSearch:
    """A search endpoint holding each request until a second one is in flight (at most
    2 s), then answering ``body``: ``most`` is how many were ever in flight at once."""

    body: Any
    most: int = 0
    _in_flight: int = 0
    _both: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self, path: str) -> web.Application:
        app = web.Application()
        app.router.add_get(path, self._answer)
        return app

    async def _answer(self, request: web.Request) -> web.Response:
        self._in_flight += 1
        self.most = max(self.most, self._in_flight)
        if self._in_flight == 2:
            self._both.set()
        with contextlib.suppress(TimeoutError):  # bounded: asked one by one
            await asyncio.wait_for(self._both.wait(), 2)
        self._in_flight -= 1
        return web.json_response(self.body)


@dataclass
class VirtualTime:
    """An injectable clock + sleep: sleeping advances time instantly and is recorded."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def http_options(self) -> dict[str, Any]:
        """``ResilientHttp`` options running on this clock (no jitter, a fixed wall clock)."""
        return {
            "clock": self.clock,
            "sleep": self.sleep,
            "rand": lambda: 0.5,
            "wall_clock": lambda: 1_700_000_000.0,
        }


@pytest.fixture
def vtime() -> VirtualTime:
    return VirtualTime()


@dataclass(frozen=True)
class Tls:
    server: ssl.SSLContext
    client: ssl.SSLContext
    ca_file: str


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A throw-away self-signed certificate for 127.0.0.1 (MSAL insists on https)."""
    return make_tls(tmp_path_factory.mktemp("tls"))


def make_tls(folder: Path) -> Tls:
    """A self-signed certificate for 127.0.0.1 written to ``folder``, as TLS contexts."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file = folder / "cert.pem"
    key_file = folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return Tls(server=server, client=client, ca_file=str(cert_file))


@dataclass(frozen=True)
class RsaKeys:
    private_pem: str
    public_pem: str


@pytest.fixture(scope="session")
def rsa_keys() -> RsaKeys:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return RsaKeys(
        private_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        public_pem=key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
    )


@pytest.fixture
async def session(tls: Tls) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls.client)) as s:
        yield s


@pytest.fixture
async def entra(aiohttp_server: ServerFactory, tls: Tls) -> FakeEntra:
    fake = FakeEntra()
    server = await aiohttp_server(fake.app(), ssl=tls.server)
    fake.base_url = str(server.make_url("")).rstrip("/")
    return fake


class MemoryCacheHooks:
    """TokenCacheHooks keeping blobs in a dict (the app encrypts them into its store)."""

    def __init__(self) -> None:
        self.blobs: dict[str, str] = {}
        self.saves = 0

    async def load(self, key: str) -> str | None:
        return self.blobs.get(key)

    async def save(self, key: str, blob: str) -> None:
        self.saves += 1
        self.blobs[key] = blob


@pytest.fixture
def cache_hooks() -> MemoryCacheHooks:
    return MemoryCacheHooks()


def json_app(routes: dict[str, Any]) -> web.Application:
    """A tiny app answering fixed handlers, for http.py tests."""
    app = web.Application()
    for path, handler in routes.items():

        async def route(request: web.Request, handler: Any = handler) -> web.StreamResponse:
            response: web.StreamResponse = await handler(request)
            return response

        app.router.add_route("*", path, route)
    return app
