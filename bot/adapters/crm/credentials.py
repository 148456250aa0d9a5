"""What an HTTP client needs from a credential: a token to put on requests, renewed on 401.

Its own module so the resilient caller (``http``) and the token providers (``tokens``,
which call the token endpoints through that caller) depend on it, not on each other.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class AccessToken:
    """A credential to put on requests. ``expires_at`` is on the provider's clock."""

    value: str = field(repr=False)
    expires_at: float = math.inf
    scheme: str = "Bearer"
    """``Bearer``, ``Basic``... or empty for a bare API key."""
    header: str = "Authorization"
    extra: Mapping[str, str] = field(default_factory=dict)
    """Non-secret facts from the token answer (Salesforce ``instance_url``...)."""

    def headers(self) -> dict[str, str]:
        return {self.header: f"{self.scheme} {self.value}" if self.scheme else self.value}


class TokenProvider(Protocol):
    async def token(self) -> AccessToken:
        """A valid token, from cache when possible."""
        ...

    async def invalidate(self, value: str) -> None:
        """The CRM refused this token (401): forget it so the next call fetches anew."""
        ...
