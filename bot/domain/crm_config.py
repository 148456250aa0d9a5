"""A CRM configuration: what a tenant admin connects, as data.

A :class:`CrmConfig` holds only non-secret settings and serialises without its secret;
the secret (client secret, private key PEM, API key or password) travels separately as a
``SecretStr``, set on ``CrmConfig.secret`` after it is read from the encrypted store. The
use cases keep configurations (:mod:`bot.services.crm_configs`); the CRM adapters build a
client from one (:func:`bot.adapters.crm.factory.build_client`).
"""

from __future__ import annotations

import enum
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from bot.domain.api_model import ApiModel
from bot.domain.rest_templates import TIMELINE_PLACEHOLDERS, UPDATE_PLACEHOLDERS, RestCall
from bot.domain.tickets import TicketingSettings
from bot.i18n import t


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


class FieldMapping(ApiModel):
    """A dynamic data mapping: show the CRM field ``crmField`` as ``cardField``.

    ``crmField`` is a field name, or ``Object.Field`` to apply to one record type only
    (Salesforce API names, Dataverse logical names).
    """

    model_config = ConfigDict(frozen=True)

    crm_field: str = Field(min_length=1, max_length=200)
    card_field: str = Field(min_length=1, max_length=100)


class _Auth(ApiModel):
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
        default=None, description="Dataverse org URL for the scope; default: baseUrl"
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


class RestEndpoints(ApiModel):
    """How the generic REST connector talks to a CRM it has no adapter for.

    Templates are paths on ``baseUrl`` holding ``{value}`` (search) or ``{id}`` (get);
    paths like ``$.data.items`` pick values out of the JSON answers. The auth scheme comes
    from ``CrmConfig.auth`` (none, basic, or an API key sent as a bearer or header token).
    ``update`` and ``timeline`` are the calls write-backs and Update/Timeline workflows
    use (method, path template, JSON body template; see :mod:`bot.domain.rest_templates`);
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


class CrmConfig(ApiModel):
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
            raise ValueError(t("must be an http(s) URL"))
        return value.rstrip("/")

    @model_validator(mode="after")
    def _delegated_where_entra_knows_the_agent(self) -> CrmConfig:
        if self.access is Access.DELEGATED and self.kind is not CrmKind.DYNAMICS:
            raise ValueError(
                t("delegated access needs a CRM that knows Entra identities (dynamics)")
            )
        return self

    @property
    def mappings(self) -> dict[str, str]:
        return {m.crm_field: m.card_field for m in self.field_mappings}
