"""Which CRMs each tenant has connected."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
from pydantic import Field

from bot.adapters.crm.agent_tokens import AgentTokens
from bot.adapters.crm.factory import build_client
from bot.adapters.crm.http import ResilientHttp
from bot.adapters.crm.mapped import with_mappings
from bot.adapters.storage.token_caches import StoreTokenCaches
from bot.domain.api_model import ApiModel
from bot.domain.crm_config import CrmConfig
from bot.domain.records import CrmRecord, NewRecord, RecordRef
from bot.i18n import t
from bot.services.crm import (
    CrmAuthError,
    CrmClient,
    CrmError,
    CrmThrottled,
    CrmUnavailable,
    InvalidRecord,
    NotSupported,
    RecordNotFound,
    SearchCriteria,
)
from bot.services.crm_configs import CrmConfigs, StoredCrmConfig
from bot.services.crm_url_policy import guarded_socket_factory
from bot.services.health import LiveConnection
from bot.services.secret_box import SecretBoxError
from bot.services.tenant_cache import PerTenant

log = logging.getLogger(__name__)


class SameForEveryTenant:
    """Every tenant sees the same clients: the embedded demo, or a single-tenant install."""

    def __init__(self, clients: Sequence[CrmClient]) -> None:
        self._clients = list(clients)

    async def clients(self, tenant_id: str) -> list[CrmClient]:
        return self._clients


class BrokenCrm:
    """A configured CRM whose client could not be built: every call says why, so the
    card shows one problem line for it instead of failing."""

    def __init__(self, settings_id: str, display_name: str, error: CrmError) -> None:
        self._settings_id = settings_id
        self._display_name = display_name
        self.error = error

    @property
    def settings_id(self) -> str:
        return self._settings_id

    @property
    def display_name(self) -> str:
        return self._display_name

    async def search(self, criteria: SearchCriteria) -> list[CrmRecord]:
        raise self.error

    async def get(self, ref: RecordRef) -> CrmRecord:
        raise self.error

    async def related(self, ref: RecordRef) -> list[CrmRecord]:
        raise self.error

    async def create(
        self, record_type: str, record: NewRecord, related_to: RecordRef | None = None
    ) -> CrmRecord:
        raise self.error

    async def update(self, ref: RecordRef, fields: dict[str, str]) -> CrmRecord:
        raise self.error

    async def create_timeline_activity(self, *args: Any, **options: Any) -> CrmRecord:
        raise self.error


ClientBuilder = Callable[..., CrmClient]

PROBE = SearchCriteria(emails=["connection-test@crmcard.invalid"])
"""The connection test's harmless search: an address no real contact can have."""


class ConnectionTest(ApiModel):
    """The outcome of "test connection", typed for the admin API and the CLI."""

    settings_id: str
    ok: bool
    outcome: str = Field(
        description="ok | auth_failed | unavailable | throttled | timeout | not_supported "
        "| invalid | error"
    )
    message: str
    elapsed_ms: float


def _outcome(error: BaseException) -> str:
    for kind, name in (
        (CrmAuthError, "auth_failed"),
        (CrmThrottled, "throttled"),
        (CrmUnavailable, "unavailable"),
        (NotSupported, "not_supported"),
        (InvalidRecord, "invalid"),
    ):
        if isinstance(error, kind):
            return name
    return "error"


def _connect_failure(error: BaseException) -> aiohttp.ClientConnectorError | None:
    """The failed connection (unknown host, refused, bad certificate) behind ``error``."""
    cause = error.__cause__
    while cause is not None:
        if isinstance(cause, aiohttp.ClientConnectorError):
            return cause
        cause = cause.__cause__
    return None


def _test_failure(config: CrmConfig, error: CrmError) -> str:
    """What a failed connection test tells the admin: a wrong address said as such."""
    unreachable = _connect_failure(error)
    if unreachable is not None:
        return t(
            "{crm} cannot be reached: check its address ({reason})",
            crm=config.display_name,
            reason=str(unreachable),
        )
    if isinstance(error, RecordNotFound):
        return t(
            '{crm} answered its search with "not found": check its address, it '
            "should be the CRM's own URL",
            crm=config.display_name,
        )
    return str(error)


def _http_of(client: CrmClient) -> object:
    """The :class:`ResilientHttp` a client calls its CRM through (under its mappings)."""
    return getattr(getattr(client, "inner", client), "http", None)


class StoreDirectory:
    """The CRMs each tenant's admin configured (see :mod:`bot.services.crm_configs`),
    plus ``always`` (the demo CRM when it is on) unless a configuration takes its ID.

    Clients are built once per (tenant, settings ID, configuration version) and share one
    aiohttp session; the tenant's configuration list is re-read at most every
    ``list_ttl`` seconds, and at once after a change made through ``configs``.
    """

    def __init__(
        self,
        configs: CrmConfigs,
        *,
        always: Sequence[CrmClient] = (),
        list_ttl: float = 2.0,
        build: ClientBuilder = build_client,
        tls_verify: bool | str = True,
        clock: Callable[[], float] = time.monotonic,
        connection_limit: int = 512,
        agent_tokens: AgentTokens | None = None,
    ) -> None:
        self.configs = configs
        self.agent_tokens = agent_tokens
        self.connection_limit = connection_limit
        self.always = list(always)
        self.build = build
        self.tls_verify = tls_verify
        self._session: aiohttp.ClientSession | None = None
        self._built: dict[tuple[str, str], tuple[int, CrmClient]] = {}
        self._lists: PerTenant[list[CrmClient]] = PerTenant(list_ttl, clock)
        configs.listeners.append(self.forget)

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # per-CRM limits (CrmConfig.max_concurrency) bound each CRM; this bounds them all
            # every socket's address is checked again: no DNS rebinding onto private hosts
            connector = aiohttp.TCPConnector(
                limit=self.connection_limit,
                socket_factory=guarded_socket_factory(self.configs.url_policy),
            )
            # every tenant's calls share the session: a cookie one tenant's CRM set (a
            # ServiceNow JSESSIONID) must never go with another's call to that host
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._session

    def circuits(self) -> list[dict[str, str]]:
        """The circuit state of every CRM client built here (for ``/readyz``)."""
        found = []
        for (tenant_id, settings_id), (_, client) in sorted(self._built.items()):
            breaker = getattr(_http_of(client), "breaker", None)
            state = breaker.state.value if breaker is not None else "none"
            found.append({"tenantId": tenant_id, "settingsId": settings_id, "circuit": state})
        return found

    def live(self, tenant_id: str) -> dict[str, LiveConnection]:
        """Circuit and recent calls of each of the tenant's clients built here, by settings
        ID (for the admin's overview; a connection not called here yet is absent)."""
        found = {}
        for (tenant, settings_id), (version, client) in self._built.items():
            http = _http_of(client)
            if tenant != tenant_id or not isinstance(http, ResilientHttp):
                continue
            found[settings_id] = LiveConnection(
                version=version,
                circuit=http.breaker.state.value,
                recent=http.recent.tally(http.wall_clock()),
                counts=http.recent.counts(),
            )
        return found

    def tenants(self) -> set[str]:
        """The tenants with a client built here (whose calls this instance counted)."""
        return {tenant for tenant, _ in self._built}

    def forget(self, tenant_id: str) -> None:
        """Drop the tenant's cached list (its clients stay cached per version)."""
        self._lists.forget(tenant_id)

    def _client(self, stored: StoredCrmConfig) -> CrmClient:
        config: CrmConfig = stored.config
        cache_key = (config.tenant_id, config.settings_id)
        cached = self._built.get(cache_key)
        if cached is not None and cached[0] == stored.version:
            return cached[1]
        client: CrmClient
        try:
            secret = self.configs.secret_of(stored)
            inner = self.build(
                config,
                session=self.session,
                secret=secret,
                token_cache_hooks=StoreTokenCaches(
                    self.configs.store, self.configs.box, config.tenant_id
                ),
                tls_verify=self.tls_verify,
                agent_tokens=self.agent_tokens,
            )
            client = with_mappings(inner, config.field_mappings)
        except CrmError as error:
            client = BrokenCrm(config.settings_id, config.display_name, error)
        except SecretBoxError:
            log.error("the secret of CRM %s/%s cannot be opened", *cache_key)
            client = BrokenCrm(
                config.settings_id,
                config.display_name,
                CrmError(
                    t("{crm}: stored credentials unreadable; rotate them", crm=config.display_name)
                ),
            )
        self._built[cache_key] = (stored.version, client)
        return client

    async def clients(self, tenant_id: str) -> list[CrmClient]:
        return await self._lists.get(tenant_id, lambda: self._listed(tenant_id))

    async def _listed(self, tenant_id: str) -> list[CrmClient]:
        stored = [s for s in await self.configs.list(tenant_id) if s.config.enabled]
        configured = [self._client(s) for s in stored]
        taken = {c.settings_id for c in configured}
        clients = [c for c in self.always if c.settings_id not in taken] + configured
        live = {(tenant_id, s.config.settings_id) for s in stored}
        for key in [k for k in self._built if k[0] == tenant_id and k not in live]:
            del self._built[key]  # disabled or deleted: never used again
        return clients

    async def test(self, stored: StoredCrmConfig, timeout: float = 15.0) -> ConnectionTest:
        """Sign in and run :data:`PROBE` against the configuration (even a disabled one),
        with a fresh client: nothing is cached, nothing is written to the CRM."""
        config = stored.config.model_copy(update={"enabled": True})
        started = time.perf_counter()

        def result(ok: bool, outcome: str, message: str) -> ConnectionTest:
            return ConnectionTest(
                settings_id=config.settings_id,
                ok=ok,
                outcome=outcome,
                message=message,
                elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
            )

        try:
            client = self.build(
                config,
                session=self.session,
                secret=self.configs.secret_of(stored),
                token_cache_hooks=StoreTokenCaches(
                    self.configs.store, self.configs.box, config.tenant_id
                ),
                tls_verify=self.tls_verify,
                agent_tokens=self.agent_tokens,
            )
            from bot.adapters.crm.rest import RestCrm  # the kind's adapter, built above

            inner = getattr(client, "inner", client)  # under its data mappings
            if isinstance(inner, RestCrm) and not inner.searchable(PROBE):
                return result(
                    False,
                    "not_supported",
                    f"{config.display_name} has no email search template, so the test "
                    "cannot send its probe search: add one to the REST endpoints",
                )
            found = await asyncio.wait_for(client.search(PROBE), timeout)
        except TimeoutError:
            return result(False, "timeout", f"{config.display_name} did not answer in {timeout} s")
        except SecretBoxError:
            return result(False, "auth_failed", "stored credentials unreadable; rotate them")
        except CrmError as error:
            return result(False, _outcome(error), _test_failure(config, error))
        except Exception as error:  # a test must answer, whatever the adapter did
            log.exception("connection test of %s failed", config.settings_id)
            return result(False, "error", f"{config.display_name}: {type(error).__name__}")
        return result(True, "ok", f"{config.display_name} answered a search ({len(found)} records)")

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
