"""MSAL token caches persisted in the store, sealed with the deployment's secret key.

:class:`StoreTokenCaches` implements :class:`~bot.adapters.crm.tokens.TokenCacheHooks` for
one tenant: a cache blob is sealed (AES-GCM, :class:`~bot.services.secret_box.SecretBox`)
under ``tenants/<tid>/token-caches/<sha256 of the cache name>``, the document key being
the associated data, so a restart or another instance sharing the store reuses the
tokens, and a blob copied to another tenant's key does not open.

A cache that cannot be opened (another key, tampered) is treated as empty and replaced on
the next save: losing a cache only costs a sign-in. Saves are last-writer-wins: every
complete cache is a valid one.
"""

from __future__ import annotations

import hashlib
import logging

from bot.services import keys
from bot.services.secret_box import SecretBox, SecretBoxError
from bot.services.store import Store, put

log = logging.getLogger(__name__)


class StoreTokenCaches:
    def __init__(self, store: Store, box: SecretBox, tenant_id: str) -> None:
        self.store = store
        self.box = box
        self.tenant_id = tenant_id

    def document_key(self, cache_name: str) -> str:
        digest = hashlib.sha256(cache_name.encode()).hexdigest()
        return keys.token_cache(self.tenant_id, digest)

    async def load(self, key: str) -> str | None:
        document_key = self.document_key(key)
        document = await self.store.read(document_key)
        if document is None:
            return None
        try:
            return self.box.open(document.data, document_key).decode()
        except (SecretBoxError, ValueError):
            log.warning("ignoring a token cache of tenant %s that does not open", self.tenant_id)
            return None

    async def save(self, key: str, blob: str) -> None:
        document_key = self.document_key(key)
        await put(self.store, document_key, self.box.seal(blob.encode(), document_key))
