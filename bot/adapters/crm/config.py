"""CRM configurations (what an admin connects) and the factory that turns one into a client.

A :class:`CrmConfig` holds only non-secret settings and serialises without its secret;
the secret (client secret, private key PEM, API key or password) travels separately as a
``SecretStr`` -- either set on ``CrmConfig.secret`` after loading it from the encrypted
store, or passed to :func:`build_client`.

:func:`build_client` builds Salesforce and Dynamics clients and the demo CRM; other kinds
raise ``NotSupported`` until their adapters are registered in :data:`BUILDERS`.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from bot.adapters.crm.http import ResilientHttp, RetryPolicy
from bot.adapters.crm.rest import TIMELINE_PLACEHOLDERS, UPDATE_PLACEHOLDERS, RestCall
from bot.adapters.crm.tokens import (
    MsalClientCredentials,
    MsalSettings,
    SalesforceClientCredentials,
    SalesforceJwtBearer,
    TokenCacheHooks,
    TokenProvider,
    salesforce_token_error,
)
from bot.domain.tickets import TicketingSettings
from bot.services.crm import CrmAuthError, CrmClient, NotSupported

if TYPE_CHECKING:
    from bot.services.agent_tokens import AgentTokens


class Access(enum.StrEnum):
    """Whose access a CRM is called with."""

    APPLICATION = "application"
    """crmcard's own (client credentials, API key...): every agent sees the same records."""
    DELEGATED = "delegated"
    """The acting agent's, through their Teams SSO token exchanged On-Behalf-Of: each agent
    sees only what the CRM lets them see. Only where the CRM knows Entra identities."""


class CrmKind(enum.StrEnum):
    DEMO = "demo"
    SALESFORCE = "salesforce"
    DYNAMICS = "dynamics"
    ZENDESK = "zendesk"
    SERVICENOW = "servicenow"
    KUSTOMER = "kustomer"
    FRESHDESK = "freshdesk"
    ORACLE = "oracle"
    REST = "rest"


class FieldMapping(BaseModel):
    """A dynamic data mapping: show the CRM field ``crm_field`` as ``card_field``.

    ``crm_field`` is a field name, or ``Object.Field`` to apply to one record type only
    (Salesforce API names, Dataverse logical names).
    """

    model_config = ConfigDict(frozen=True)

    crm_field: str = Field(min_length=1, max_length=200)
    card_field: str = Field(min_length=1, max_length=100)


class _Auth(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SalesforceJwtAuth(_Auth):
    """OAuth 2.0 JWT bearer; the secret is the connected app's RSA private key (PEM)."""

    type: Literal["salesforce_jwt"] = "salesforce_jwt"
    login_url: str = "https://login.salesforce.com"
    client_id: str
    username: str
    audience: str | None = None
    """The assertion's ``aud``: https://login.salesforce.com, https://test.salesforce.com
    (sandboxes) or an Experience Cloud site; None: ``login_url``."""


class SalesforceClientCredentialsAuth(_Auth):
    """OAuth 2.0 client credentials against the My Domain URL; the secret is the
    consumer secret."""

    type: Literal["salesforce_client_credentials"] = "salesforce_client_credentials"
    client_id: str


class EntraClientCredentialsAuth(_Auth):
    """Entra ID app registration (MSAL); the secret is the client secret."""

    type: Literal["entra_client_credentials"] = "entra_client_credentials"
    directory_tenant_id: str = Field(description="Entra tenant (GUID or domain) of the CRM")
    client_id: str
    authority_host: str = "https://login.microsoftonline.com"
    resource_url: str | None = Field(
        default=None, description="Dataverse org URL for the scope; default: base_url"
    )
    instance_discovery: bool = True


class ApiKeyAuth(_Auth):
    """An API token sent in a header; the secret is the token."""

    type: Literal["api_key"] = "api_key"
    header: str = "Authorization"
    scheme: str = "Bearer"
    username: str | None = Field(default=None, description="e.g. Zendesk's email/token user")


class BasicAuth(_Auth):
    """Username + password (ServiceNow basic); the secret is the password."""

    type: Literal["basic"] = "basic"
    username: str


class OAuthClientCredentialsAuth(_Auth):
    """Generic OAuth 2.0 client credentials; the secret is the client secret."""

    type: Literal["oauth_client_credentials"] = "oauth_client_credentials"
    token_url: str
    client_id: str
    scope: str | None = None


AuthParams = Annotated[
    SalesforceJwtAuth
    | SalesforceClientCredentialsAuth
    | EntraClientCredentialsAuth
    | ApiKeyAuth
    | BasicAuth
    | OAuthClientCredentialsAuth,
    Field(discriminator="type"),
]


class RestEndpoints(BaseModel):
    """How the generic REST connector talks to a CRM it has no adapter for.

    Templates are paths on ``base_url`` holding ``{value}`` (search) or ``{id}`` (get);
    paths like ``$.data.items`` pick values out of the JSON answers. The auth scheme comes
    from ``CrmConfig.auth`` (none, basic, or an API key sent as a bearer or header token).
    ``update`` and ``timeline`` are the calls write-backs and Update/Timeline workflows
    use (method, path template, JSON body template; see :mod:`bot.adapters.crm.rest`);
    without them those writes are refused as not supported.
    """

    model_config = ConfigDict(extra="forbid")

    record_type: str = "contact"
    phone_search: str | None = None
    email_search: str | None = None
    name_search: str | None = None
    results_path: str = "$"
    next_path: str | None = None
    get_path: str | None = None
    record_path: str = "$"
    create_path: str | None = None
    mapping: dict[str, str] = Field(default_factory=lambda: {"id": "$.id", "title": "$.name"})
    ui_url_template: str | None = None
    update: RestCall | None = None
    timeline: RestCall | None = None

    @field_validator("update")
    @classmethod
    def _update_body(cls, call: RestCall | None) -> RestCall | None:
        return call.check_body(UPDATE_PLACEHOLDERS, "update") if call else None

    @field_validator("timeline")
    @classmethod
    def _timeline_body(cls, call: RestCall | None) -> RestCall | None:
        return call.check_body(TIMELINE_PLACEHOLDERS, "timeline") if call else None


class CrmConfig(BaseModel):
    """One connected CRM of one tenant."""

    model_config = ConfigDict(extra="forbid")

    settings_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    tenant_id: str = Field(min_length=1)
    kind: CrmKind
    display_name: str = Field(min_length=1, max_length=100)
    base_url: str | None = None
    auth: AuthParams | None = None
    secret: SecretStr | None = Field(default=None, exclude=True, repr=False)
    field_mappings: list[FieldMapping] = Field(default_factory=list)
    rest: RestEndpoints | None = Field(default=None, description="the generic REST kind's API")
    task_external_id_field: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z][A-Za-z0-9_]{0,79}$",
        description="Salesforce: a Task field marked External ID + Unique (e.g. "
        "Crmcard_Key__c); with it, a retried write-back never makes a second Task",
    )
    ticketing: TicketingSettings | None = Field(
        default=None,
        description="Salesforce and Zendesk: import agents and solved tickets (PRODUCT 6)",
    )
    access: Access = Field(
        default=Access.APPLICATION,
        description="application: crmcard's own credentials; delegated: each agent's own "
        "access (Dynamics 365 only), On-Behalf-Of their Teams sign-in",
    )
    enabled: bool = True
    max_concurrency: int = Field(default=8, ge=1, le=100)
    request_timeout: float = Field(default=10.0, gt=0, le=120)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("https://", "http://")):
            raise ValueError("base_url must be an http(s) URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _delegated_where_entra_knows_the_agent(self) -> CrmConfig:
        if self.access is Access.DELEGATED and self.kind is not CrmKind.DYNAMICS:
            raise ValueError("delegated access needs a CRM that knows Entra identities (dynamics)")
        return self

    @property
    def mappings(self) -> dict[str, str]:
        return {m.crm_field: m.card_field for m in self.field_mappings}


@dataclass(frozen=True)
class BuildContext:
    """What a client builder gets besides the configuration."""

    session: aiohttp.ClientSession
    secret: SecretStr | None
    token_cache_hooks: TokenCacheHooks | None
    tls_verify: bool | str = True
    """For MSAL's own HTTP client: True, or a CA bundle path (tests)."""
    clock: Callable[[], float] = time.monotonic
    agent_tokens: AgentTokens | None = None
    """On-Behalf-Of tokens of the acting agent, for delegated access."""


Builder = Callable[[CrmConfig, BuildContext], CrmClient]


def http_for(config: CrmConfig, ctx: BuildContext, **kwargs: object) -> ResilientHttp:
    """The resilient caller an adapter should use for this configuration."""
    return ResilientHttp(
        ctx.session,
        name=config.display_name,
        max_concurrency=config.max_concurrency,
        policy=RetryPolicy(attempt_timeout=config.request_timeout),
        clock=ctx.clock,
        **kwargs,  # type: ignore[arg-type]
    )


def _secret(config: CrmConfig, ctx: BuildContext) -> str:
    secret = ctx.secret or config.secret
    if secret is None or not secret.get_secret_value():
        raise CrmAuthError(f"{config.display_name} has no credentials configured")
    return secret.get_secret_value()


def _build_salesforce(config: CrmConfig, ctx: BuildContext) -> CrmClient:
    from bot.adapters.crm.salesforce import SalesforceClient

    auth = config.auth
    login = ResilientHttp(
        ctx.session,
        name=f"{config.display_name} sign-in",
        error_mapper=salesforce_token_error,
        clock=ctx.clock,
    )
    provider: SalesforceJwtBearer | SalesforceClientCredentials
    if isinstance(auth, SalesforceJwtAuth):
        provider = SalesforceJwtBearer(
            login,
            login_url=auth.login_url,
            client_id=auth.client_id,
            username=auth.username,
            audience=auth.audience,
            private_key_pem=_secret(config, ctx),
            clock=ctx.clock,
        )
    elif isinstance(auth, SalesforceClientCredentialsAuth):
        if not config.base_url:
            raise CrmAuthError(f"{config.display_name}: client credentials need the My Domain URL")
        provider = SalesforceClientCredentials(
            login,
            my_domain_url=config.base_url,
            client_id=auth.client_id,
            client_secret=_secret(config, ctx),
            clock=ctx.clock,
        )
    else:
        raise CrmAuthError(f"{config.display_name}: Salesforce needs JWT bearer or client creds")
    return SalesforceClient(
        settings_id=config.settings_id,
        display_name=config.display_name,
        http=http_for(config, ctx, auth=provider),
        instance_url=config.base_url,
        field_mappings=config.mappings,
        task_external_id_field=config.task_external_id_field,
    )


def _build_dynamics(config: CrmConfig, ctx: BuildContext) -> CrmClient:
    from bot.adapters.crm.dynamics import DynamicsClient

    if not config.base_url:
        raise CrmAuthError(f"{config.display_name}: the Dataverse org URL is missing")
    auth = config.auth
    resource_url = auth.resource_url if isinstance(auth, EntraClientCredentialsAuth) else None
    resource = (resource_url or config.base_url).rstrip("/")
    provider: TokenProvider
    if config.access is Access.DELEGATED:
        if ctx.agent_tokens is None:
            raise CrmAuthError(f"{config.display_name}: delegated access needs the SSO app")
        provider = ctx.agent_tokens.acting_agent_token(
            config.display_name, config.tenant_id, (f"{resource}/user_impersonation",)
        )
    elif isinstance(auth, EntraClientCredentialsAuth):
        provider = MsalClientCredentials(
            MsalSettings(
                client_id=auth.client_id,
                client_secret=_secret(config, ctx),
                authority=f"{auth.authority_host.rstrip('/')}/{auth.directory_tenant_id}",
                scopes=(f"{resource}/.default",),
                instance_discovery=auth.instance_discovery,
                verify=ctx.tls_verify,
            ),
            cache_hooks=ctx.token_cache_hooks,
            cache_key=f"{config.tenant_id}/{config.settings_id}/msal",
            clock=ctx.clock,
        )
    else:
        raise CrmAuthError(f"{config.display_name}: Dynamics needs an Entra app registration")
    return DynamicsClient(
        settings_id=config.settings_id,
        display_name=config.display_name,
        http=http_for(config, ctx, auth=provider),
        org_url=config.base_url,
        field_mappings=config.mappings,
    )


def _build_demo(config: CrmConfig, ctx: BuildContext) -> CrmClient:
    from bot.adapters.crm.demo import DemoCrm

    return DemoCrm(
        settings_id=config.settings_id,
        extra_fields=[m.crm_field.rpartition(".")[2] for m in config.field_mappings],
    )


def _build_vendor(config: CrmConfig, ctx: BuildContext) -> CrmClient:
    # Imported here: the vendor builders import this module's models.
    from bot.adapters.crm.restkit import VendorCrm
    from bot.adapters.crm.vendor_builders import VENDOR_BUILDERS

    client = VENDOR_BUILDERS[config.kind](config, ctx)
    if config.field_mappings and isinstance(client, VendorCrm):
        client.extra_fields = tuple(m.crm_field.rpartition(".")[2] for m in config.field_mappings)
    return client


BUILDERS: dict[CrmKind, Builder] = {
    CrmKind.DEMO: _build_demo,
    CrmKind.SALESFORCE: _build_salesforce,
    CrmKind.DYNAMICS: _build_dynamics,
    CrmKind.ZENDESK: _build_vendor,
    CrmKind.SERVICENOW: _build_vendor,
    CrmKind.KUSTOMER: _build_vendor,
    CrmKind.FRESHDESK: _build_vendor,
    CrmKind.ORACLE: _build_vendor,
    CrmKind.REST: _build_vendor,
}
"""Client builders per kind; adapters for the other kinds register here."""


def build_client(
    config: CrmConfig,
    *,
    session: aiohttp.ClientSession,
    token_cache_hooks: TokenCacheHooks | None = None,
    secret: SecretStr | None = None,
    tls_verify: bool | str = True,
    clock: Callable[[], float] = time.monotonic,
    agent_tokens: AgentTokens | None = None,
) -> CrmClient:
    """A CrmClient for ``config``. Raises NotSupported for disabled or unknown kinds and
    CrmAuthError when the credentials the kind needs are missing."""
    if not config.enabled:
        raise NotSupported(f"{config.display_name} is disabled")
    builder = BUILDERS.get(config.kind)
    if builder is None:
        raise NotSupported(f"{config.kind.value} CRMs are not supported yet")
    ctx = BuildContext(
        session=session,
        secret=secret,
        token_cache_hooks=token_cache_hooks,
        tls_verify=tls_verify,
        clock=clock,
        agent_tokens=agent_tokens,
    )
    return builder(config, ctx)
