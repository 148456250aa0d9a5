"""Platform keys: the ``X-Api-Key`` a tenant's contact-center platform sends, issued by the
tenant's own admins (no operator, no redeploy).

A key is shown once, when it is created, and stored only as its SHA-256 digest (a key is
32 random bytes, so a fast digest is as good as a slow one). Each key has a name, its
creator, created and last-used times and an optional expiry; several can be active at
once, so a platform can rotate with overlap. The key finds its tenant through one store
document named by the digest (``keys.platform_key_digest``); revoking deletes that
document, so every instance sharing the store refuses the key on its next request.
Creation and revocation are in the tenant's audit stream.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import uuid
from datetime import datetime, timedelta

from pydantic import ConfigDict, Field

from bot.domain.api_model import ApiModel, Model
from bot.errors import InvalidInput, NotFound
from bot.i18n import t
from bot.services import audit, keys
from bot.services.audit import Actor
from bot.services.store import NotFound as Missing
from bot.services.store import Store, create_model, read_model, update

KEY_PREFIX = "crmcard_"
LAST_USED_EVERY = timedelta(minutes=1)
"""Last-used times are written at most this often per key and instance (not per request)."""


class PlatformKey(ApiModel):
    """A tenant's key as stored: its digest, never the key (:meth:`public` not even that)."""

    id: str
    digest: str
    name: str
    created_by: str
    created_at: datetime
    last_used_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    def public(self) -> dict[str, object]:
        """What the admin API and the audit show."""
        return self.model_dump(mode="json", by_alias=True, exclude={"digest"})


class KeyDigest(Model):
    """The document a presented key is found by: its tenant, its id, when it expires."""

    tenant_id: str
    key_id: str
    expires_at: datetime | None = None


class NewKey(ApiModel):
    """What an admin sends to create a key."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="what the key is for")
    expires_at: datetime | None = Field(
        None, description="when the key stops working (ISO 8601 with offset); none: never"
    )


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def same_key(presented: str, configured: str) -> bool:
    """Constant-time comparison of two keys through their digests (any text, any length)."""
    return hmac.compare_digest(digest(presented), digest(configured))


def bootstrap_tenant(configured: dict[str, str], presented: str) -> str | None:
    """The tenant of an operator-configured key (``CRMCARD_API_KEYS`` ...), or None."""
    found = None
    for tenant_id, key in configured.items():
        if presented and key and same_key(presented, key) and found is None:
            found = tenant_id
    return found


async def create(
    store: Store, tenant_id: str, asked: NewKey, actor: Actor, now: datetime
) -> tuple[PlatformKey, str]:
    """A new active key of the tenant and the key itself (shown this once, kept nowhere)."""
    if asked.expires_at is not None and (
        asked.expires_at.tzinfo is None or asked.expires_at <= now
    ):
        raise InvalidInput(
            t("invalid key"),
            [
                {
                    "loc": ["expiresAt"],
                    "msg": t("must be a future time with a UTC offset"),
                    "type": "value_error",
                }
            ],
        )
    key_id = uuid.uuid4().hex[:16]
    key = f"{KEY_PREFIX}{secrets.token_urlsafe(32)}"
    record = PlatformKey(
        id=key_id,
        digest=digest(key),
        name=asked.name,
        created_by=actor.id,
        created_at=now,
        expires_at=asked.expires_at,
    )
    await create_model(store, keys.platform_key(tenant_id, key_id), record)
    index = KeyDigest(tenant_id=tenant_id, key_id=key_id, expires_at=asked.expires_at)
    await create_model(store, keys.platform_key_digest(record.digest), index)
    await audit.record(
        store,
        tenant_id,
        actor,
        "key.create",
        at=now,
        target=key_id,
        after=record.public(),
    )
    return record, key


async def list_keys(store: Store, tenant_id: str) -> list[PlatformKey]:
    """The tenant's keys, revoked ones included, oldest first."""
    found = []
    async for key in store.keys(keys.platform_keys_prefix(tenant_id)):
        record = await read_model(store, key, PlatformKey)
        if record is not None:
            found.append(record)
    return sorted(found, key=lambda k: (k.created_at, k.id))


async def get(store: Store, tenant_id: str, key_id: str) -> PlatformKey:
    record = await read_model(store, keys.platform_key(tenant_id, key_id), PlatformKey)
    if record is None:
        raise NotFound(t("no key {id}", id=repr(key_id)))
    return record


async def revoke(
    store: Store, tenant_id: str, key_id: str, actor: Actor, now: datetime
) -> PlatformKey:
    """Refuse the key from now on, on every instance; idempotent."""
    before = await get(store, tenant_id, key_id)
    with contextlib.suppress(Missing):
        await store.delete(keys.platform_key_digest(before.digest))

    def revoked(record: PlatformKey) -> PlatformKey:
        if record.revoked_at is not None:
            return record
        return record.model_copy(update={"revoked_at": now, "revoked_by": actor.id})

    after = await update(store, keys.platform_key(tenant_id, key_id), PlatformKey, revoked)
    if before.revoked_at is None:
        await audit.record_change(
            store,
            tenant_id,
            actor,
            "key.revoke",
            at=now,
            target=key_id,
            before=before.public(),
            after=after.public(),
        )
    return after


class KeyAuthenticator:
    """Finds the tenant of a presented key; remembers when it last wrote each last-used."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._last_written: dict[str, datetime] = {}

    async def tenant_of(self, presented: str, now: datetime) -> str | None:
        if not presented.startswith(KEY_PREFIX):
            return None
        index = await read_model(self.store, keys.platform_key_digest(digest(presented)), KeyDigest)
        if index is None or (index.expires_at is not None and now >= index.expires_at):
            return None
        await self._used(index, now)
        return index.tenant_id

    async def _used(self, index: KeyDigest, now: datetime) -> None:
        last = self._last_written.get(index.key_id)
        if last is not None and now - last < LAST_USED_EVERY:
            return
        self._last_written[index.key_id] = now

        def used(record: PlatformKey) -> PlatformKey:
            if record.last_used_at is not None and now - record.last_used_at < LAST_USED_EVERY:
                return record
            return record.model_copy(update={"last_used_at": now})

        with contextlib.suppress(Missing):  # revoked and removed meanwhile
            await update(
                self.store, keys.platform_key(index.tenant_id, index.key_id), PlatformKey, used
            )
