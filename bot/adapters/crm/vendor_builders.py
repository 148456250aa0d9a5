"""Client builders for the Zendesk, ServiceNow, Kustomer, Freshdesk, Oracle and REST kinds.

They turn a :class:`~bot.domain.crm_config.CrmConfig` into an adapter, in the shape
:data:`bot.adapters.crm.factory.BUILDERS` expects, which dispatches these kinds here.

Auth per kind (the secret is ``CrmConfig.secret`` or the one given to ``build_client``):

* Zendesk -- ``api_key`` with ``username`` = agent email (API token, basic
  ``{email}/token``); ``api_key`` without username (OAuth access token);
  ``oauth_client_credentials`` (client secret; Zendesk's own ``/oauth/tokens``).
* ServiceNow -- ``basic`` (password); ``oauth_client_credentials`` (client secret;
  the instance's ``/oauth_token.do``).
* Kustomer -- ``api_key`` (the API key; ``base_url`` is the API host, default US).
* Freshdesk -- ``api_key`` (the API key; ``base_url`` is the helpdesk URL).
* Oracle B2C -- ``basic`` (password); ``oauth_client_credentials`` (client secret,
  ``token_url`` of the identity domain); ``api_key`` (a bearer token).
* Generic REST -- ``CrmConfig.rest`` says where to search, get and create; auth none,
  ``basic`` (password), or ``api_key`` (sent as ``Authorization: Bearer`` when the header
  is ``Authorization``, else in the named header).

Each builder imports its vendor's adapter: a server imports those of the kinds its
tenants configured, when their first client is built (a few ms each), not all of them
at start.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.adapters.crm.config import BuildContext, Builder
from bot.adapters.crm.restkit import MAX_RESULTS, no_credentials
from bot.domain.crm_config import (
    ApiKeyAuth,
    BasicAuth,
    CrmConfig,
    CrmKind,
    OAuthClientCredentialsAuth,
)
from bot.i18n import t
from bot.services.crm import CrmAuthError, CrmClient


def _secret(config: CrmConfig, ctx: BuildContext) -> str:
    secret = ctx.secret or config.secret
    if secret is None or not secret.get_secret_value():
        raise no_credentials(config.display_name)
    return secret.get_secret_value()


def _base_url(config: CrmConfig) -> str:
    if not config.base_url:
        raise CrmAuthError(t("{crm}: the CRM's URL is missing", crm=config.display_name))
    return config.base_url


def _http_options(config: CrmConfig, ctx: BuildContext) -> dict[str, Any]:
    return {
        "max_concurrency": config.max_concurrency,
        "attempt_timeout": config.request_timeout,
        "clock": ctx.clock,
    }


def _client(
    adapter: Callable[..., CrmClient], settings: Any, config: CrmConfig, ctx: BuildContext
) -> CrmClient:
    """The adapter for ``settings``, named and tuned by ``config``."""
    return adapter(
        ctx.session,
        settings,
        settings_id=config.settings_id,
        display_name=config.display_name,
        **_http_options(config, ctx),
    )


def _wrong_auth(config: CrmConfig, expected: str) -> CrmAuthError:
    return CrmAuthError(
        t(
            "{crm}: {kind} needs {expected}",
            crm=config.display_name,
            kind=config.kind.value,
            expected=expected,
        )
    )


def build_zendesk(config: CrmConfig, ctx: BuildContext) -> CrmClient:
    from bot.adapters.crm.zendesk import ZendeskCrm, ZendeskSettings

    auth = config.auth
    secret = _secret(config, ctx)
    if isinstance(auth, ApiKeyAuth) and auth.username:
        settings = ZendeskSettings(_base_url(config), email=auth.username, api_token=secret)
    elif isinstance(auth, ApiKeyAuth):
        settings = ZendeskSettings(_base_url(config), oauth_token=secret)
    elif isinstance(auth, OAuthClientCredentialsAuth):
        settings = ZendeskSettings(
            _base_url(config),
            client_id=auth.client_id,
            client_secret=secret,
            scope=auth.scope or "read write",
        )
    else:
        raise _wrong_auth(config, "an API token or OAuth client credentials")
    return _client(ZendeskCrm, settings, config, ctx)


def build_servicenow(config: CrmConfig, ctx: BuildContext) -> CrmClient:
    from bot.adapters.crm.servicenow import ServiceNowCrm, ServiceNowSettings

    auth = config.auth
    secret = _secret(config, ctx)
    if isinstance(auth, BasicAuth):
        settings = ServiceNowSettings(_base_url(config), username=auth.username, password=secret)
    elif isinstance(auth, OAuthClientCredentialsAuth):
        settings = ServiceNowSettings(
            _base_url(config), client_id=auth.client_id, client_secret=secret
        )
    else:
        raise _wrong_auth(config, "basic credentials or OAuth client credentials")
    return _client(ServiceNowCrm, settings, config, ctx)


def build_kustomer(config: CrmConfig, ctx: BuildContext) -> CrmClient:
    from bot.adapters.crm.kustomer import DEFAULT_API_URL, KustomerCrm, KustomerSettings

    if not isinstance(config.auth, ApiKeyAuth | None):
        raise _wrong_auth(config, "an API key")
    settings = KustomerSettings(
        api_key=_secret(config, ctx), api_url=config.base_url or DEFAULT_API_URL
    )
    return _client(KustomerCrm, settings, config, ctx)


def build_freshdesk(config: CrmConfig, ctx: BuildContext) -> CrmClient:
    from bot.adapters.crm.freshdesk import FreshdeskCrm, FreshdeskSettings

    if not isinstance(config.auth, ApiKeyAuth | None):
        raise _wrong_auth(config, "an API key")
    settings = FreshdeskSettings(_base_url(config), api_key=_secret(config, ctx))
    return _client(FreshdeskCrm, settings, config, ctx)


def build_oracle(config: CrmConfig, ctx: BuildContext) -> CrmClient:
    from bot.adapters.crm.oracle import OracleCrm, OracleSettings

    auth = config.auth
    secret = _secret(config, ctx)
    if isinstance(auth, BasicAuth):
        settings = OracleSettings(_base_url(config), username=auth.username, password=secret)
    elif isinstance(auth, OAuthClientCredentialsAuth):
        settings = OracleSettings(
            _base_url(config),
            token_url=auth.token_url,
            client_id=auth.client_id,
            client_secret=secret,
            scope=auth.scope,
        )
    elif isinstance(auth, ApiKeyAuth):
        settings = OracleSettings(_base_url(config), oauth_token=secret)
    else:
        raise _wrong_auth(config, "basic credentials, OAuth client credentials or a token")
    return _client(OracleCrm, settings, config, ctx)


def build_rest(config: CrmConfig, ctx: BuildContext) -> CrmClient:
    from bot.adapters.crm.rest import RestCrm, RestSettings

    if config.rest is None:
        raise CrmAuthError(
            t("{crm}: the REST endpoints are not configured", crm=config.display_name)
        )
    auth = config.auth
    credentials: dict[str, Any] = {}
    if isinstance(auth, BasicAuth):
        credentials = {"auth": "basic", "username": auth.username, "secret": _secret(config, ctx)}
    elif isinstance(auth, ApiKeyAuth):
        scheme = "bearer" if auth.header.lower() == "authorization" else "api_key"
        credentials = {
            "auth": scheme,
            "api_key_header": auth.header,
            "secret": _secret(config, ctx),
        }
    elif auth is not None:
        raise _wrong_auth(config, "no auth, basic credentials or an API key")
    settings = RestSettings(
        _base_url(config), **credentials, endpoints=config.rest, max_results=MAX_RESULTS
    )
    return _client(RestCrm, settings, config, ctx)


VENDOR_BUILDERS: dict[CrmKind, Builder] = {
    CrmKind.ZENDESK: build_zendesk,
    CrmKind.SERVICENOW: build_servicenow,
    CrmKind.KUSTOMER: build_kustomer,
    CrmKind.FRESHDESK: build_freshdesk,
    CrmKind.ORACLE: build_oracle,
    CrmKind.REST: build_rest,
}


__all__ = [
    "VENDOR_BUILDERS",
    "build_freshdesk",
    "build_kustomer",
    "build_oracle",
    "build_rest",
    "build_servicenow",
    "build_zendesk",
]
