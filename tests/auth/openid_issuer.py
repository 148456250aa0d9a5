"""A local Bot Framework token issuer: OpenID metadata, a JWKS and RS256 tokens.

It plays the part of ``login.botframework.com``: the bot fetches
``/.well-known/openid-configuration``, follows its ``jwks_uri`` to ``/keys`` and checks
tokens minted here. Keys are generated per issuer, at test time.

The server runs on its own thread and event loop, as the real issuer is another machine:
a bot that blocks its event loop while fetching keys still gets an answer (late), so the
blocking can be observed instead of deadlocking the test.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

DEFAULT_ENDORSEMENTS = ("msteams",)


@dataclass
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey
    endorsements: tuple[str, ...] = DEFAULT_ENDORSEMENTS

    @classmethod
    def generate(cls, kid: str, endorsements: Iterable[str] = DEFAULT_ENDORSEMENTS) -> SigningKey:
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(kid, private_key, tuple(endorsements))

    def jwk(self) -> dict[str, Any]:
        public: dict[str, Any] = RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**public, "kid": self.kid, "use": "sig", "endorsements": list(self.endorsements)}


@dataclass
class LocalIssuer:
    """Serves metadata and keys; ``published`` is the JWKS, editable while running."""

    published: list[SigningKey] = field(default_factory=list)
    jwks_delay: float = 0.0
    metadata_requests: int = 0
    jwks_requests: int = 0
    #: ordered log of what happened, appended to from any thread (``list.append`` is atomic)
    events: list[str] = field(default_factory=list)
    jwks_requested: threading.Event = field(default_factory=threading.Event)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _port: int = 0

    def __post_init__(self) -> None:
        if not self.published:
            self.published.append(SigningKey.generate("signing-key-1"))

    @property
    def key(self) -> SigningKey:
        return self.published[0]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def issuer(self) -> str:
        """The ``iss`` of tokens minted here."""
        return f"{self.url}/issuer"

    @property
    def metadata_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    # --- server -----------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self._metadata)
        app.router.add_get("/keys", self._jwks)
        return app

    async def _metadata(self, request: web.Request) -> web.Response:
        self.metadata_requests += 1
        self.events.append("metadata served")
        return web.json_response(
            {
                "issuer": self.issuer,
                "jwks_uri": f"{self.url}/keys",
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            }
        )

    async def _jwks(self, request: web.Request) -> web.Response:
        self.jwks_requests += 1
        self.jwks_requested.set()
        if self.jwks_delay:
            await asyncio.sleep(self.jwks_delay)
        self.events.append("jwks served")
        return web.json_response({"keys": [key.jwk() for key in self.published]})

    def start(self) -> LocalIssuer:
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            runner = web.AppRunner(self._app(), access_log=None, shutdown_timeout=0.1)
            try:
                loop.run_until_complete(runner.setup())
                site = web.TCPSite(runner, "127.0.0.1", 0)
                loop.run_until_complete(site.start())
                self._port = runner.addresses[0][1]
            except BaseException as error:
                failure.append(error)
                ready.set()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(runner.cleanup())
                loop.close()

        self._thread = threading.Thread(target=serve, name="local-openid-issuer", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the local issuer did not start")
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)

    # --- tokens -----------------------------------------------------------------------

    def mint(
        self,
        *,
        audience: str | None,
        service_url: str | None,
        key: SigningKey | None = None,
        kid: str | None = "",
        expires_in: float = 3600,
        algorithm: str = "RS256",
        **claims: Any,
    ) -> str:
        """An RS256 token as the Bot Framework Service sends one.

        ``kid=""`` means the signing key's own id and ``kid=None`` no ``kid`` at all; a
        claim given as ``None`` is left out (``iss=None`` mints a token with no issuer).
        """
        key = key or self.key
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": audience,
            "serviceurl": service_url,
            "nbf": now - 5,
            "iat": now - 5,
            "exp": int(now + expires_in),
            "jti": uuid.uuid4().hex,
            **claims,
        }
        payload = {name: value for name, value in payload.items() if value is not None}
        headers = {} if kid is None else {"kid": kid or key.kid}
        signing_key: Any = key.private_key
        if algorithm.startswith("HS"):
            signing_key = "a shared secret the bot never agreed to"
        elif algorithm == "none":
            signing_key = None
        return jwt.encode(payload, signing_key, algorithm=algorithm, headers=headers)


def tampered(token: str, **claims: Any) -> str:
    """``token`` with its payload edited and the original signature kept."""
    header, payload, signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    decoded.update(claims)
    edited = base64.urlsafe_b64encode(json.dumps(decoded).encode()).rstrip(b"=").decode()
    return f"{header}.{edited}.{signature}"
