"""Teams tab SSO: validating the token ``authentication.getAuthToken()`` hands the tab.

The token is an Entra ID v2.0 access token for crmcard's SSO app:

- signed with a key from the tenant-independent Entra OpenID metadata
  (``https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration``); the
  keys are fetched in a worker thread (never on the event loop), one fetch at a time,
  cached for a day and refreshed at most every 5 minutes when an unknown ``kid`` shows up;
- issued by ``{authority}/{tid}/v2.0`` for the tenant (``tid``) it names, or, in the
  public cloud, by ``https://sts.windows.net/{tid}/``: the v1 access token Entra issues
  for an app registered without ``requestedAccessTokenVersion: 2`` (its default; the
  user's name is then in ``upn`` instead of ``preferred_username``);
- for the audience ``api://<host>/<client id>`` (:func:`application_id_uri`) or the client
  id itself;
- not expired (a minute of clock skew allowed), RS256 only;
- delegated (it has a ``scp`` claim: an app-only token does not speak for an agent).

The tenant is the token's ``tid`` and the agent its ``oid``. Every refusal is
:class:`InvalidSsoToken`; "the keys cannot be fetched" stays
:class:`~bot.adapters.teams.openid.OpenIdMetadataUnavailable` (a server-side failure).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import jwt
from jwt.algorithms import RSAAlgorithm

from bot.adapters.teams.openid import OpenIdMetadataUnavailable, _fetch_signing_keys
from bot.errors import Unauthorized

log = logging.getLogger(__name__)

LEEWAY_SECONDS = 60
REFRESH_EVERY_SECONDS = 24 * 3600.0
REFRESH_ON_UNKNOWN_KEY_AFTER_SECONDS = 300.0
MAX_TOKEN_LENGTH = 16_384
_TENANT_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.\-]{0,99}$")
V1_ISSUER_HOSTS = {"https://login.microsoftonline.com": "https://sts.windows.net"}
"""Where the v1 access tokens of an authority come from (public cloud)."""


class InvalidSsoToken(Unauthorized):
    """The token does not prove which agent of which tenant is asking."""


@dataclass(frozen=True)
class SsoIdentity:
    tenant_id: str
    object_id: str
    name: str | None = None
    username: str | None = None
    token: str = field(default="", repr=False)
    """The validated token itself: the user assertion for On-Behalf-Of."""
    roles: tuple[str, ...] = ()
    """App roles the tenant assigned the user (the token's ``roles`` claim)."""
    expires_at: float = 0.0
    """The token's ``exp`` (seconds since the epoch)."""
    directory_roles: tuple[str, ...] = ()
    """Entra directory role template ids the user holds (the token's ``wids`` claim)."""


def application_id_uri(client_id: str, public_url: str) -> str:
    """The SSO app's Application ID URI, ``api://<host>/<client id>``: the one source of the
    app package's ``webApplicationInfo.resource``, the audience the tab, the bot's sign-in
    and the admin API accept, and the scope the admin console asks for.

    Teams requires the resource's domain to be the tab's domain; it is the host name
    alone (lower-cased, no port), as the SSO app is registered (``infra/README.md``).
    """
    return f"api://{urlsplit(public_url.strip()).hostname or ''}/{client_id}"


def sso_audiences(client_id: str, public_url: str) -> tuple[str, ...]:
    """The Application ID URI (:func:`application_id_uri`) and the client id itself."""
    return (application_id_uri(client_id, public_url), client_id)


class SigningKeys:
    """The JWKS behind one OpenID metadata URL, fetched off the event loop and cached."""

    def __init__(self, metadata_url: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.metadata_url = metadata_url
        self.clock = clock
        self.keys: list[dict[str, Any]] = []
        self.fetched_at: float | None = None
        self.fetches = 0
        self._fetching: asyncio.Task[None] | None = None

    async def get(self, kid: str) -> Any:
        now = self.clock()
        if self.fetched_at is None or now - self.fetched_at > REFRESH_EVERY_SECONDS:
            await self._refresh()
        key = self._find(kid)
        stale = self.fetched_at is None or (
            self.clock() - self.fetched_at > REFRESH_ON_UNKNOWN_KEY_AFTER_SECONDS
        )
        if key is None and stale:
            await self._refresh()
            key = self._find(kid)
        if key is None:
            raise InvalidSsoToken(f"the token's signing key {kid!r} is not published")
        return key

    async def _refresh(self) -> None:
        loop = asyncio.get_running_loop()
        task = self._fetching
        if task is None or task.done() or task.get_loop() is not loop:
            task = self._fetching = loop.create_task(self._fetch())
        await asyncio.shield(task)

    async def _fetch(self) -> None:
        self.fetches += 1
        try:
            keys = await asyncio.to_thread(_fetch_signing_keys, self.metadata_url)
        except Exception as error:
            if not self.keys:
                raise OpenIdMetadataUnavailable(
                    f"cannot fetch the SSO signing keys from {self.metadata_url}: {error}"
                ) from error
            log.warning("cannot refresh the SSO signing keys (%s); keeping the cached ones", error)
            # try again in a minute, not on every request
            self.fetched_at = self.clock() - REFRESH_EVERY_SECONDS + 60
            return
        self.keys = keys
        self.fetched_at = self.clock()

    def _find(self, kid: str) -> Any:
        for key in self.keys:
            if key.get("kid") == kid:
                try:
                    return RSAAlgorithm.from_jwk(json.dumps(key))
                except Exception:
                    log.warning("ignoring the malformed SSO signing key %r", kid)
                    return None
        return None


class SsoValidator:
    """Checks Teams SSO tokens for one SSO app; see the module docstring."""

    def __init__(
        self,
        *,
        metadata_url: str,
        authority: str,
        audiences: Iterable[str],
        leeway: float = LEEWAY_SECONDS,
    ) -> None:
        self.authority = authority.rstrip("/")
        self.audiences = [audience for audience in audiences if audience]
        self.leeway = leeway
        self.keys = SigningKeys(metadata_url)

    def _issuers(self, tenant: str) -> list[str]:
        """The issuers a token of ``tenant`` may name: v2.0, and v1 where Entra has one."""
        issuers = [f"{self.authority}/{tenant}/v2.0"]
        v1_host = V1_ISSUER_HOSTS.get(self.authority)
        if v1_host:
            issuers.append(f"{v1_host}/{tenant}/")
        return issuers

    async def validate(self, token: str) -> SsoIdentity:
        if not self.audiences:
            raise InvalidSsoToken("no SSO app is configured (CRMCARD_SSO_CLIENT_ID)")
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidSsoToken("the token is too long")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as error:
            raise InvalidSsoToken(f"not a token: {error}") from None
        if header.get("alg") != "RS256":
            raise InvalidSsoToken(f"tokens must be signed RS256, not {header.get('alg')!r}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidSsoToken("the token names no signing key")
        tenant = unverified.get("tid")
        if not isinstance(tenant, str) or not _TENANT_ID.match(tenant):
            raise InvalidSsoToken("the token names no valid tenant (tid)")
        key = await self.keys.get(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=self.audiences,
                issuer=self._issuers(tenant),
                leeway=self.leeway,
                options={"require": ["exp", "iat", "iss", "aud", "tid", "oid"]},
            )
        except jwt.PyJWTError as error:
            raise InvalidSsoToken(f"invalid token: {error}") from None
        object_id = claims.get("oid")
        if not isinstance(object_id, str) or not object_id or len(object_id) > 100:
            raise InvalidSsoToken("the token names no agent (oid)")
        if not claims.get("scp"):
            raise InvalidSsoToken("an app-only token does not speak for an agent (no scp)")
        return SsoIdentity(
            tenant_id=tenant,
            object_id=object_id,
            name=_text(claims.get("name")),
            username=_text(claims.get("preferred_username")) or _text(claims.get("upn")),
            token=token,
            roles=_texts(claims.get("roles")),
            expires_at=float(claims["exp"]),
            directory_roles=_texts(claims.get("wids")),
        )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _texts(value: object) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()
