"""What a client builder is given besides the CRM configuration, and its HTTP caller.

The configuration itself (:class:`bot.domain.crm_config.CrmConfig`) is data the use
cases keep; a builder (:mod:`bot.adapters.crm.vendor_builders`) turns one into a client
with this :class:`BuildContext`: the HTTP session, the secret, the MSAL cache hooks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from pydantic import SecretStr

from bot.adapters.crm.credentials import TokenProvider
from bot.adapters.crm.http import ResilientHttp
from bot.adapters.crm.tokens import TokenCacheHooks
from bot.domain.crm_config import CrmConfig
from bot.services.crm import CrmClient


class AgentTokenSource(Protocol):
    """Delegated access's tokens (``bot.adapters.crm.agent_tokens.AgentTokens``): a
    protocol, so the configuration does not import what imports the settings."""

    def acting_agent_token(
        self, crm_name: str, tenant_id: str, scopes: tuple[str, ...]
    ) -> TokenProvider: ...


@dataclass(frozen=True)
class BuildContext:
    """What a client builder gets besides the configuration."""

    session: aiohttp.ClientSession
    secret: SecretStr | None
    token_cache_hooks: TokenCacheHooks | None
    tls_verify: bool | str = True
    """For MSAL's own HTTP client: True, or a CA bundle path (tests)."""
    clock: Callable[[], float] = time.monotonic
    agent_tokens: AgentTokenSource | None = None
    """On-Behalf-Of tokens of the acting agent, for delegated access."""


Builder = Callable[[CrmConfig, BuildContext], CrmClient]


def http_for(config: CrmConfig, ctx: BuildContext, **kwargs: object) -> ResilientHttp:
    """The resilient caller an adapter should use for this configuration."""
    return ResilientHttp(
        ctx.session,
        name=config.display_name,
        max_concurrency=config.max_concurrency,
        attempt_timeout=config.request_timeout,
        clock=ctx.clock,
        **kwargs,  # type: ignore[arg-type]
    )
