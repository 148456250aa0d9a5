"""Access-token providers for CRM adapters: cached, renewed before they expire.

Every provider implements :class:`TokenProvider`; :class:`ResilientHttp` asks it for a
token per attempt and calls :meth:`TokenProvider.invalidate` after a 401.

:class:`RenewingTokenProvider` holds the caching policy. A request gets the cached token
at once while it is valid; once it is within ``refresh_margin`` of its expiry a single
background task renews it, so requests never wait for a renewal unless the token has
actually expired (or none was fetched yet), in which case they share one fetch.

Providers:

* :class:`MsalClientCredentials` -- Entra ID client credentials through MSAL (Dynamics);
  the agent's own token exchanged On-Behalf-Of is :mod:`bot.adapters.crm.on_behalf_of`'s.
* :class:`SalesforceJwtBearer` -- Salesforce OAuth 2.0 JWT bearer flow (RS256 assertion).
* :class:`SalesforceClientCredentials` -- Salesforce OAuth 2.0 client credentials flow.
* :class:`StaticSecret` -- API keys, basic auth, long-lived bearer tokens.

MSAL is synchronous: it runs in ``asyncio.to_thread``. Its ``SerializableTokenCache`` is
loaded from and saved to :class:`TokenCacheHooks` (the app stores it encrypted, per
tenant) so a restart or a second instance does not log in again.

Nothing here logs or ``repr``\\ s a secret.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import jwt

from bot.adapters.crm.credentials import AccessToken
from bot.adapters.crm.http import HttpResponse, ResilientHttp
from bot.i18n import t
from bot.services.crm import CrmAuthError, CrmError, CrmUnavailable

log = logging.getLogger(__name__)

Clock = Callable[[], float]


class TokenCacheHooks(Protocol):
    """Where MSAL token caches live between runs (encrypted per tenant by the app)."""

    async def load(self, key: str) -> str | None: ...

    async def save(self, key: str, blob: str) -> None: ...


class RenewingTokenProvider(ABC):
    """Caches one token; renews it in the background within ``refresh_margin`` of expiry."""

    def __init__(self, *, refresh_margin: float = 240.0, clock: Clock = time.monotonic) -> None:
        self.refresh_margin = refresh_margin
        self.clock = clock
        self._current: AccessToken | None = None
        self._refresh: asyncio.Task[AccessToken] | None = None
        self.fetches = 0

    @abstractmethod
    async def _fetch(self) -> AccessToken:
        """Get a brand-new token from the identity provider."""

    async def token(self) -> AccessToken:
        current = self._current
        now = self.clock()
        if current is not None and now < current.expires_at:
            if now >= current.expires_at - self.refresh_margin:
                self._start_refresh()
            return current
        task = self._start_refresh()
        return await asyncio.shield(task)

    async def invalidate(self, value: str) -> None:
        if self._current is not None and self._current.value == value:
            self._current = None

    def refreshing(self) -> asyncio.Task[AccessToken] | None:
        """The renewal under way, if any (tests await it)."""
        return self._refresh

    def _start_refresh(self) -> asyncio.Task[AccessToken]:
        if self._refresh is None or self._refresh.done():
            task = asyncio.get_running_loop().create_task(self._run_refresh())
            task.add_done_callback(_consume_exception)
            self._refresh = task
        return self._refresh

    async def _run_refresh(self) -> AccessToken:
        self.fetches += 1
        try:
            fresh = await self._fetch()
        except Exception as exc:
            log.warning("%s: token renewal failed: %s", type(self).__name__, type(exc).__name__)
            raise
        self._current = fresh
        return fresh

    async def aclose(self) -> None:
        task = self._refresh
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _consume_exception(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()


class StaticSecret:
    """A secret that never expires: API key, basic credentials, long-lived bearer token."""

    def __init__(self, value: str, *, scheme: str = "Bearer", header: str = "Authorization"):
        self._token = AccessToken(value=value, scheme=scheme, header=header)

    @classmethod
    def basic(cls, username: str, password: str) -> StaticSecret:
        raw = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        return cls(raw, scheme="Basic")

    @classmethod
    def api_key(cls, key: str, *, header: str = "X-Api-Key") -> StaticSecret:
        return cls(key, scheme="", header=header)

    async def token(self) -> AccessToken:
        return self._token

    async def invalidate(self, value: str) -> None:
        """A refused static secret cannot be renewed; the next 401 surfaces as CrmAuthError."""


# --- MSAL (Entra ID) ---------------------------------------------------------------------


@dataclass(frozen=True)
class MsalSettings:
    """What MSAL needs for a confidential client. ``client_secret`` is the only secret."""

    client_id: str
    client_secret: str = field(repr=False)
    authority: str
    """``https://login.microsoftonline.com/<tenant>`` or a local fake authority."""
    scopes: tuple[str, ...]
    instance_discovery: bool = True
    """False for authorities Microsoft does not know (tests, sovereign setups)."""
    validate_authority: bool = True
    verify: bool | str = True
    """TLS verification for MSAL's own HTTP client: a CA bundle path in tests."""
    timeout: float = 10.0


class MsalApp:
    """A ConfidentialClientApplication and its persisted SerializableTokenCache."""

    def __init__(
        self, settings: MsalSettings, hooks: TokenCacheHooks | None, cache_key: str
    ) -> None:
        self.settings = settings
        self.hooks = hooks
        self.cache_key = cache_key
        self._app: Any = None
        self._cache: Any = None
        self._lock = asyncio.Lock()

    async def app(self) -> Any:
        async with self._lock:
            if self._app is None:
                import msal

                cache = msal.SerializableTokenCache()
                if self.hooks is not None:
                    blob = await self.hooks.load(self.cache_key)
                    if blob:
                        try:
                            cache.deserialize(blob)
                        except ValueError:
                            log.warning("ignoring an unreadable MSAL token cache")
                s = self.settings
                self._cache = cache
                self._app = await asyncio.to_thread(
                    msal_call,
                    msal.ConfidentialClientApplication,
                    s.client_id,
                    client_credential=s.client_secret,
                    authority=s.authority,
                    validate_authority=s.validate_authority,
                    instance_discovery=s.instance_discovery,
                    token_cache=cache,
                    http_client=_pinned_http_client(s) if s.verify is not True else None,
                    verify=s.verify,
                    timeout=s.timeout,
                )
            return self._app

    async def reload(self) -> None:
        """Take in what other instances saved to the shared cache since it was loaded."""
        if self.hooks is None or self._cache is None:
            return
        blob = await self.hooks.load(self.cache_key)
        if blob:
            try:
                self._cache.deserialize(blob)
            except ValueError:
                log.warning("ignoring an unreadable MSAL token cache")

    async def evict(self, value: str) -> None:
        """Drop an access token the resource refused, so MSAL cannot hand it out again."""
        cache = self._cache
        if cache is None:
            return

        def remove() -> None:
            for item in list(cache.search(cache.CredentialType.ACCESS_TOKEN)):
                if item.get("secret") == value:
                    cache.remove_at(item)

        await asyncio.to_thread(remove)
        await self.persist()

    async def persist(self) -> None:
        if self.hooks is not None and self._cache is not None and self._cache.has_state_changed:
            blob = self._cache.serialize()
            self._cache.has_state_changed = False
            await self.hooks.save(self.cache_key, blob)


def _pinned_http_client(settings: MsalSettings) -> Any:
    """A requests session that really uses ``settings.verify``.

    requests lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` override a session's
    ``verify``, so a CA bundle (or False) is passed on every call instead.
    """
    import functools

    import requests

    client = requests.Session()
    client.request = functools.partial(  # type: ignore[method-assign]
        client.request, verify=settings.verify, timeout=settings.timeout
    )
    return client


APP_NOT_IN_TENANT_CODES = frozenset({700016, 7000112, 7000229})
"""Entra's ``error_codes`` saying the app is not usable in the tenant asked: not found
there (700016: never consented, or its enterprise app was deleted), disabled there
(7000112), no service principal there (7000229). The codes are Entra's published
contract: https://learn.microsoft.com/entra/identity-platform/reference-error-codes"""


class EntraAppNotInTenant(CrmAuthError):
    """Entra refused a sign-in because the app is not (or no longer) in that tenant."""


def msal_result(result: Mapping[str, Any] | None, clock: Clock, what: str) -> AccessToken:
    if not result or "access_token" not in result:
        error = (result or {}).get("error", "no_answer")
        log.warning("MSAL %s failed: %s", what, error)
        if error in ("temporarily_unavailable", "no_answer") or str(error).startswith("5"):
            raise CrmUnavailable(t("Microsoft sign-in unavailable ({what})", what=what))
        refused = t(
            "Microsoft sign-in refused the {what} request ({error})", what=what, error=error
        )
        codes = (result or {}).get("error_codes") or []
        if isinstance(codes, list) and APP_NOT_IN_TENANT_CODES.intersection(codes):
            description = str((result or {}).get("error_description", "")).splitlines()[:1]
            raise EntraAppNotInTenant(f"{refused}: {description[0]}" if description else refused)
        raise CrmAuthError(refused)
    expires_in = float(result.get("expires_in", 3600))
    return AccessToken(value=str(result["access_token"]), expires_at=clock() + expires_in)


def msal_call(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run an MSAL call, turning transport failures into CrmUnavailable."""
    try:
        return func(*args, **kwargs)
    except ValueError as exc:  # discovery failures, bad authority
        raise CrmAuthError(t("Microsoft sign-in is misconfigured: {exc}", exc=exc)) from None
    except Exception as exc:  # requests' ConnectionError, Timeout...
        if isinstance(exc, CrmError):
            raise
        raise CrmUnavailable(
            t("Microsoft sign-in unavailable ({name})", name=type(exc).__name__)
        ) from None


class MsalClientCredentials(RenewingTokenProvider):
    """App-only Entra ID token (client credentials), e.g. scope ``https://ORG.crm.dynamics.com/.default``.

    ``refresh_margin`` defaults below MSAL's own five-minute "treat as expired" window,
    so a background renewal really goes to Entra rather than getting MSAL's cached copy.
    """

    def __init__(
        self,
        settings: MsalSettings,
        *,
        cache_hooks: TokenCacheHooks | None = None,
        cache_key: str | None = None,
        refresh_margin: float = 240.0,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__(refresh_margin=refresh_margin, clock=clock)
        self.settings = settings
        self._msal = MsalApp(
            settings, cache_hooks, cache_key or f"msal:{settings.authority}:{settings.client_id}"
        )

    async def invalidate(self, value: str) -> None:
        await super().invalidate(value)
        await self._msal.evict(value)

    async def _fetch(self) -> AccessToken:
        app = await self._msal.app()
        result = await asyncio.to_thread(
            msal_call, app.acquire_token_for_client, list(self.settings.scopes)
        )
        token = msal_result(result, self.clock, "client credentials")
        await self._msal.persist()
        return token


# --- Salesforce OAuth 2.0 ----------------------------------------------------------------

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def salesforce_token_error(response: HttpResponse) -> CrmError | None:
    """Map the token endpoint's ``{"error", "error_description"}`` answers."""
    body = response.body if isinstance(response.body, dict) else {}
    error = body.get("error")
    if response.status >= 500:
        return None
    if error or response.status in (400, 401, 403):
        description = body.get("error_description") or "refused"
        return CrmAuthError(
            t(
                "Salesforce sign-in failed: {status} ({description})",
                status=error or response.status,
                description=description,
            )
        )
    return None


class _SalesforceOAuth(RenewingTokenProvider):
    """Salesforce answers no ``expires_in``: the session lives ``session_lifetime`` seconds
    (the org's session timeout) as far as we know; a 401 INVALID_SESSION_ID renews it early.
    """

    def __init__(
        self,
        http: ResilientHttp,
        token_url: str,
        *,
        session_lifetime: float = 3600.0,
        refresh_margin: float = 240.0,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__(refresh_margin=refresh_margin, clock=clock)
        self.http = http
        self.token_url = token_url
        self.session_lifetime = session_lifetime

    @abstractmethod
    def _form(self) -> dict[str, str]: ...

    async def _fetch(self) -> AccessToken:
        response = await self.http.post(
            self.token_url, form=self._form(), authenticate=False, idempotent=True
        )
        body = response.body if isinstance(response.body, dict) else {}
        if "access_token" not in body:
            raise CrmAuthError(t("Salesforce sign-in gave no access token"))
        lifetime = float(body.get("expires_in", self.session_lifetime))
        extra = {k: str(body[k]) for k in ("instance_url", "id", "scope") if k in body}
        return AccessToken(
            value=str(body["access_token"]),
            expires_at=self.clock() + lifetime,
            scheme=str(body.get("token_type") or "Bearer"),
            extra=extra,
        )


class SalesforceJwtBearer(_SalesforceOAuth):
    """OAuth 2.0 JWT bearer flow: an RS256 assertion signed with the connected app's key.

    ``login_url`` is ``https://login.salesforce.com`` (``test.salesforce.com`` for
    sandboxes) or the org's My Domain; it is also the assertion's audience unless
    ``audience`` says otherwise.
    """

    def __init__(
        self,
        http: ResilientHttp,
        *,
        login_url: str,
        client_id: str,
        username: str,
        private_key_pem: str,
        audience: str | None = None,
        assertion_lifetime: float = 180.0,
        session_lifetime: float = 3600.0,
        refresh_margin: float = 240.0,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
    ) -> None:
        login_url = login_url.rstrip("/")
        super().__init__(
            http,
            f"{login_url}/services/oauth2/token",
            session_lifetime=session_lifetime,
            refresh_margin=refresh_margin,
            clock=clock,
        )
        self.client_id = client_id
        self.username = username
        self.audience = audience or login_url
        self.assertion_lifetime = assertion_lifetime
        self.wall_clock = wall_clock
        self._key = private_key_pem

    def assertion(self) -> str:
        now = int(self.wall_clock())
        claims = {
            "iss": self.client_id,
            "sub": self.username,
            "aud": self.audience,
            "exp": now + int(self.assertion_lifetime),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm="RS256")

    def _form(self) -> dict[str, str]:
        return {"grant_type": JWT_BEARER_GRANT, "assertion": self.assertion()}


class SalesforceClientCredentials(_SalesforceOAuth):
    """OAuth 2.0 client credentials flow against the org's My Domain URL."""

    def __init__(
        self,
        http: ResilientHttp,
        *,
        my_domain_url: str,
        client_id: str,
        client_secret: str,
        session_lifetime: float = 3600.0,
        refresh_margin: float = 240.0,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__(
            http,
            f"{my_domain_url.rstrip('/')}/services/oauth2/token",
            session_lifetime=session_lifetime,
            refresh_margin=refresh_margin,
            clock=clock,
        )
        self.client_id = client_id
        self._secret = client_secret

    def _form(self) -> dict[str, str]:
        return {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._secret,
        }
