"""Configuration from the environment (or a ``.env`` file).

Bot Framework settings keep their standard names (``MicrosoftAppId`` ...), so the same
values work for the Azure Bot registration, App Service and local runs; crmcard's own
settings are prefixed ``CRMCARD_``.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.domain.identifiers import checked_region
from bot.services.crm_url_policy import UrlPolicy, host_problem, literal_blocked
from bot.services.retry import WRITEBACK

DEMO_API_KEYS = {"demo-tenant": "demo-key"}
DEMO_ADMIN_KEYS = {"demo-tenant": "demo-admin-key"}
"""The keys the README publishes for the demo: accepted in demo mode only."""


class AppType(StrEnum):
    single_tenant = "SingleTenant"
    user_assigned_msi = "UserAssignedMSI"
    multi_tenant = "MultiTenant"


class StoreKind(StrEnum):
    local = "local"
    blob = "blob"


class TicketStoreKind(StrEnum):
    sqlite = "sqlite"
    postgres = "postgres"


def _login_url_problem(url: str, *, allow_local: bool) -> str | None:
    """What is wrong with ``url`` as the bot identity's Entra authority host, or None."""
    parts = urlsplit(url)
    try:
        _ = parts.port  # a port that is no number, or out of range, raises
    except ValueError:
        return "has an invalid port"
    host = (parts.hostname or "").lower()
    if parts.scheme != "https":
        return "must be an https URL (MSAL takes no other authority)"
    if not host:
        return "names no host"
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        return "must be an authority URL: no user name, password, query or fragment"
    if (not_a_host := host_problem(host)) is not None:
        return not_a_host
    if allow_local:
        return None
    reason: str | None = literal_blocked(host)
    if reason is None and (host == "localhost" or host.endswith(".localhost")):
        reason = "is a loopback name"
    if reason is None:
        return None
    return (
        f"names {host}, which {reason}: a local Entra (tests, benchmarks) needs the "
        "operator's allowance, CRMCARD_BOT_LOGIN_ALLOW_LOCAL=true"
    )


def _alias(name: str) -> AliasChoices:
    return AliasChoices(name, name.upper())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", populate_by_name=True, env_prefix="CRMCARD_"
    )

    app_id: str = Field("", validation_alias=_alias("MicrosoftAppId"))
    app_password: SecretStr = Field(SecretStr(""), validation_alias=_alias("MicrosoftAppPassword"))
    app_type: AppType = Field(AppType.single_tenant, validation_alias=_alias("MicrosoftAppType"))
    app_tenant_id: str = Field("", validation_alias=_alias("MicrosoftAppTenantId"))

    openid_metadata_url: str | None = Field(
        None,
        description="override of the Bot Framework OpenID metadata URL (tests, sovereign clouds)",
    )
    token_issuer: str | None = Field(None, description="override of the expected token issuer")
    bot_login_url: str | None = Field(
        None,
        description="the Entra authority host a SingleTenant bot identity gets its Bot "
        "Connector token from, in a national or private cloud (e.g. "
        "https://login.microsoftonline.us); MicrosoftAppTenantId is appended; unset: the "
        "public cloud's",
    )
    bot_oauth_scope: str | None = Field(
        None,
        description="the Bot Connector scope that token is for (e.g. https://api.botframework.us)"
        "; unset: the public cloud's, https://api.botframework.com",
    )
    bot_login_allow_local: bool = Field(
        False,
        description="let CRMCARD_BOT_LOGIN_URL name a loopback, private or link-local host "
        "(a local Entra for tests and benchmarks); https is required all the same",
    )

    host: str = "127.0.0.1"
    port: int = 3978
    public_url: str = Field("http://127.0.0.1:3978", description="where Teams reaches the bot")
    teams_app_id: str = Field(
        "",
        description="the Teams app package (manifest) id, which deep links into the app's "
        "tabs name; empty: the id `crmcard package` derives from MicrosoftAppId",
    )

    store: StoreKind = StoreKind.local
    data_dir: Path = Path(".crmcard")
    blob_connection_string: SecretStr = SecretStr("")
    blob_container: str = "crmcard"

    secret_key: SecretStr = Field(
        SecretStr(""),
        description="base64 of 32 random bytes sealing CRM secrets and token caches at rest; "
        "the embedded default generates one into the data dir",
    )

    demo: bool | None = Field(
        None,
        description="demo mode: the published demo keys, the demo CRM and the demo chat "
        "commands; unset: on exactly when no MicrosoftAppId is configured",
    )
    demo_crm: bool | None = Field(
        None, description="connect the built-in demo CRM for every tenant (unset: demo mode)"
    )
    demo_commands: bool | None = Field(
        None,
        description="accept 'call +1 555 0100' style chat commands that fake interactions "
        "(unset: demo mode)",
    )
    default_tenant_id: str = Field(
        "demo-tenant", description="tenant of activities that carry none (local emulators)"
    )
    api_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="operator bootstrap: tenant id -> key the contact-center platform sends "
        "as X-Api-Key (tenants issue their own through /api/admin/keys); demo mode: "
        '{"demo-tenant": "demo-key"}',
    )
    log_format: Literal["json", "text"] | None = Field(
        None,
        description="'json' (one object per line) or 'text'; unset: json with an app id, "
        "text for the demo",
    )
    log_level: str = Field("INFO", description="level of crmcard's own log lines")
    azure_sdk_log_level: str = Field(
        "WARNING", description="level of the Azure SDK's loggers (INFO logs every request)"
    )
    default_region: str = Field(
        "US",
        description="region (DE, FR, GB, US, ...) of phone numbers written without a country "
        "code, for tenants that did not choose one (PUT /api/admin/tenant)",
    )
    merge_undo_days: int = Field(30, ge=0, description="how long a card merge can be undone")
    admin_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="operator bootstrap: tenant id -> key for the admin API (X-Admin-Key; "
        'tenant admins sign in with Entra); demo mode: {"demo-tenant": "demo-admin-key"}',
    )
    crm_deadline_seconds: float = Field(
        2.5, description="a card is sent when the slowest CRM answers or this passes"
    )
    writeback_worker: bool = Field(
        True, description="deliver write-backs from this process (off: another one does)"
    )
    writeback_poll_seconds: float = Field(
        2.0, gt=0, description="how often the write-back worker looks for due items"
    )
    writeback_lease_seconds: float = Field(
        120.0, gt=0, description="a claimed write-back is another worker's after this"
    )
    writeback_max_attempts: int = Field(
        WRITEBACK.max_attempts,
        ge=1,
        description="failed deliveries of one write-back before it is parked (the default"
        " retries across 6.5-13 hours, up to an hour apart)",
    )
    recovery_days: int = Field(
        90,
        ge=1,
        description="delivered (or abandoned parked) write-back items, the recovery copies "
        "of interaction data, are purged this many days after their last change",
    )
    crm_allow_local_urls: bool = Field(
        False,
        description="let CRM configurations use http and private, loopback and link-local "
        "addresses, on any domain (local development and test fakes only)",
    )
    crm_extra_domains: dict[str, list[str]] = Field(
        default_factory=dict,
        description='CRM kind -> further host suffixes it may reach, e.g. {"dynamics": '
        '["crm.microsoftdynamics.de"]} (vendor kinds reach only their documented domains)',
    )
    audit_retention_days: int = Field(
        365,
        ge=1,
        description="audit entries (links, merges, write-back outcomes, admin changes) are "
        "kept this many days, independent of CRMCARD_RECOVERY_DAYS",
    )
    writeback_queue_connection_string: SecretStr = Field(
        SecretStr(""),
        description="Azure Storage (Queue) connection string: write-backs are announced to "
        "every instance over a queue; empty: each instance scans the store every poll",
    )
    writeback_queue_name: str = "crmcard-writeback"
    live_watch_seconds: float = Field(
        2.0,
        gt=0,
        description="while a tab is open, how often its agent's card sources in the store "
        "are checked (ETag point reads) for changes made by other instances",
    )

    ticket_store: TicketStoreKind = Field(
        TicketStoreKind.sqlite,
        description="where imported tickets are kept and searched: sqlite (a file in the "
        "data dir, one machine) or postgres (shared by every instance)",
    )
    ticket_postgres_dsn: SecretStr = Field(
        SecretStr(""),
        description="PostgreSQL connection URI for the ticket archive, e.g. "
        "postgresql://user:password@host:5432/crmcard?sslmode=require",
    )
    ticket_postgres_entra: bool = Field(
        False,
        description="sign in to PostgreSQL as the app's managed identity (MicrosoftAppId) "
        "with Entra access tokens instead of a password in the DSN",
    )
    ticket_sync_minutes: float = Field(
        15.0,
        ge=0,
        description="how often this process syncs the ticketing CRMs and purges tickets "
        "past 90 days (0: never; run 'crmcard tickets sync' instead)",
    )

    sso_client_id: str = Field(
        "", description="client id of the Entra app behind the tab's SSO (empty: MicrosoftAppId)"
    )
    sso_client_secret: SecretStr = Field(
        SecretStr(""),
        description="its client secret, for On-Behalf-Of and consent checks "
        "(empty: MicrosoftAppPassword)",
    )
    sso_openid_metadata_url: str = Field(
        "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration",
        description="where the signing keys of Teams SSO tokens are published",
    )
    entra_authority: str = Field(
        "https://login.microsoftonline.com",
        description="Entra ID authority host: SSO token issuers, admin consent, MSAL",
    )
    tenant_gate: bool | None = Field(
        None,
        description="refuse tenants that have not granted admin consent; unset: on for a "
        "MultiTenant app with an app id, off otherwise (single tenant, local demo)",
    )
    consent_recheck_minutes: float = Field(
        60.0,
        ge=0,
        description="how often this process asks Entra whether each consented tenant still "
        "has crmcard's app, and revokes the consent of one that removed it (0: never)",
    )

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        return checked_region(value)

    @property
    def sso_app_id(self) -> str:
        return self.sso_client_id or self.app_id

    @property
    def sso_secret(self) -> str:
        return self.sso_client_secret.get_secret_value() or self.app_password.get_secret_value()

    @property
    def tenant_gate_enabled(self) -> bool:
        if self.tenant_gate is not None:
            return self.tenant_gate
        return bool(self.app_id) and self.app_type is AppType.multi_tenant

    @model_validator(mode="after")
    def _safe_defaults(self) -> Settings:
        """Demo keys only in demo mode; outside it a published demo key refuses to start."""
        if self.demo_mode:
            if "api_keys" not in self.model_fields_set:
                self.api_keys = {t: SecretStr(k) for t, k in DEMO_API_KEYS.items()}
            if "admin_keys" not in self.model_fields_set:
                self.admin_keys = {t: SecretStr(k) for t, k in DEMO_ADMIN_KEYS.items()}
            return self
        published = {*DEMO_API_KEYS.values(), *DEMO_ADMIN_KEYS.values()}
        for name in ("api_keys", "admin_keys"):
            keys: dict[str, SecretStr] = getattr(self, name)
            if any(key.get_secret_value() in published for key in keys.values()):
                raise ValueError(
                    f"CRMCARD_{name.upper()} holds a published demo key: it works only in demo "
                    "mode (no MicrosoftAppId, or CRMCARD_DEMO=true); choose a secret key"
                )
        return self

    @model_validator(mode="after")
    def _bot_login(self) -> Settings:
        """A login authority only for a SingleTenant identity, https, local only if allowed."""
        if not self.bot_login_url:
            self.bot_login_url = None
            return self
        problem = _login_url_problem(self.bot_login_url, allow_local=self.bot_login_allow_local)
        if problem is None:
            problem = self._bot_identity_problem()
        if problem is not None:
            raise ValueError(f"CRMCARD_BOT_LOGIN_URL {self.bot_login_url!r} {problem}")
        self.bot_login_url = self.bot_login_url.rstrip("/")
        return self

    def _bot_identity_problem(self) -> str | None:
        """Why the bot identity cannot sign in at a login URL, or None."""
        if not self.app_id:
            return "is where the bot identity signs in, and none is configured (MicrosoftAppId)"
        if self.app_type is AppType.user_assigned_msi:
            return (
                "is where a SingleTenant identity signs in with its client secret; a "
                "UserAssignedMSI identity's tokens come from Azure's managed identity "
                "endpoint (set only CRMCARD_BOT_OAUTH_SCOPE)"
            )
        if self.app_type is not AppType.single_tenant:
            return (
                "is where a SingleTenant identity signs in with its client secret, and this "
                f"one is {self.app_type.value}"
            )
        if not self.app_tenant_id:
            return "needs the bot's tenant, and MicrosoftAppTenantId is not set"
        return None

    @property
    def bot_login_authority(self) -> str | None:
        """The bot identity's Entra authority, tenant included; None: the SDK's default."""
        if not self.bot_login_url:
            return None
        return f"{self.bot_login_url}/{self.app_tenant_id}"

    @property
    def crm_url_policy(self) -> UrlPolicy:
        return UrlPolicy(
            allow_local=self.crm_allow_local_urls, extra_domains=self.crm_extra_domains
        )

    @property
    def demo_mode(self) -> bool:
        return self.demo if self.demo is not None else not self.app_id

    @property
    def uses_demo_crm(self) -> bool:
        return self.demo_crm if self.demo_crm is not None else self.demo_mode

    @property
    def accepts_demo_commands(self) -> bool:
        return self.demo_commands if self.demo_commands is not None else self.demo_mode

    def demo_warnings(self) -> list[str]:
        """What an operator turned on that is demo-like, for a loud log at start."""
        if not self.app_id:
            return []
        warnings = []
        if self.demo:
            warnings.append("CRMCARD_DEMO is on: the published demo keys work")
        if self.uses_demo_crm:
            warnings.append("CRMCARD_DEMO_CRM is on: every tenant sees the demo CRM")
        if self.accepts_demo_commands:
            warnings.append("CRMCARD_DEMO_COMMANDS is on: chat commands fake interactions")
        return warnings

    @property
    def known_tenants(self) -> list[str]:
        """Every tenant with an API or admin key, and the default one (local emulators)."""
        return list(dict.fromkeys([*self.api_keys, *self.admin_keys, self.default_tenant_id]))

    @property
    def json_logs(self) -> bool:
        return self.log_format == "json" if self.log_format else bool(self.app_id)

    @property
    def authenticated(self) -> bool:
        """Inbound activities are JWT-checked unless no app id is configured (local demo)."""
        return bool(self.app_id)
