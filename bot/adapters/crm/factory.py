"""The factory that turns a :class:`~bot.domain.crm_config.CrmConfig` into a CRM client.

:func:`build_client` builds Salesforce and Dynamics clients and the demo CRM here, and the
other vendors through :data:`bot.adapters.crm.vendor_builders.VENDOR_BUILDERS`. Its own
module, so the vendor builders and this factory both import the configuration models
without importing each other. A vendor's adapter is imported by its first client, as the
vendor builders do.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import aiohttp
from pydantic import SecretStr

from bot.adapters.crm.config import AgentTokenSource, BuildContext, Builder, http_for
from bot.adapters.crm.credentials import TokenProvider
from bot.adapters.crm.demo import DemoCrm
from bot.adapters.crm.http import ResilientHttp
from bot.adapters.crm.restkit import VendorCrm
from bot.adapters.crm.tokens import (
    MsalClientCredentials,
    MsalSettings,
    SalesforceClientCredentials,
    SalesforceJwtBearer,
    TokenCacheHooks,
    salesforce_token_error,
)
from bot.adapters.crm.vendor_builders import VENDOR_BUILDERS
from bot.domain.crm_config import (
    Access,
    CrmConfig,
    CrmKind,
    EntraClientCredentialsAuth,
    SalesforceClientCredentialsAuth,
    SalesforceJwtAuth,
)
from bot.i18n import t
from bot.services.crm import CrmAuthError, CrmClient, NotSupported


def _secret(config: CrmConfig, ctx: BuildContext) -> str:
    secret = ctx.secret or config.secret
    if secret is None or not secret.get_secret_value():
        raise CrmAuthError(t("{crm} has no credentials configured", crm=config.display_name))
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
            raise CrmAuthError(
                t("{crm}: client credentials need the My Domain URL", crm=config.display_name)
            )
        provider = SalesforceClientCredentials(
            login,
            my_domain_url=config.base_url,
            client_id=auth.client_id,
            client_secret=_secret(config, ctx),
            clock=ctx.clock,
        )
    else:
        raise CrmAuthError(
            t("{crm}: Salesforce needs JWT bearer or client creds", crm=config.display_name)
        )
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
        raise CrmAuthError(t("{crm}: the Dataverse org URL is missing", crm=config.display_name))
    auth = config.auth
    resource_url = auth.resource_url if isinstance(auth, EntraClientCredentialsAuth) else None
    resource = (resource_url or config.base_url).rstrip("/")
    provider: TokenProvider
    if config.access is Access.DELEGATED:
        if ctx.agent_tokens is None:
            raise CrmAuthError(
                t("{crm}: delegated access needs the SSO app", crm=config.display_name)
            )
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
        raise CrmAuthError(
            t("{crm}: Dynamics needs an Entra app registration", crm=config.display_name)
        )
    return DynamicsClient(
        settings_id=config.settings_id,
        display_name=config.display_name,
        http=http_for(config, ctx, auth=provider),
        org_url=config.base_url,
        field_mappings=config.mappings,
    )


def _build_demo(config: CrmConfig, ctx: BuildContext) -> CrmClient:
    return DemoCrm(
        settings_id=config.settings_id,
        extra_fields=[m.crm_field.rpartition(".")[2] for m in config.field_mappings],
    )


def _build_vendor(config: CrmConfig, ctx: BuildContext) -> CrmClient:
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
    agent_tokens: AgentTokenSource | None = None,
) -> CrmClient:
    """A CrmClient for ``config``. Raises NotSupported for disabled or unknown kinds and
    CrmAuthError when the credentials the kind needs are missing."""
    if not config.enabled:
        raise NotSupported(t("{crm} is disabled", crm=config.display_name))
    builder = BUILDERS.get(config.kind)
    if builder is None:
        raise NotSupported(t("{kind} CRMs are not supported yet", kind=config.kind.value))
    ctx = BuildContext(
        session=session,
        secret=secret,
        token_cache_hooks=token_cache_hooks,
        tls_verify=tls_verify,
        clock=clock,
        agent_tokens=agent_tokens,
    )
    return builder(config, ctx)
