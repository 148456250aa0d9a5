"""The CRM configurations each tenant's admin connects, kept in the store.

A configuration is stored as a :class:`StoredCrmConfig`: the non-secret settings
(:class:`~bot.domain.crm_config.CrmConfig`, which never serialises its secret), the
secret sealed with the deployment's :class:`~bot.services.secret_box.SecretBox` (bound to
the document's key, so it cannot be replayed under another tenant or settings ID), and a
version that every change advances (clients are cached per version).

Every change is one entry of the tenant's audit stream (:mod:`bot.services.audit`, kind
``crm.<action>``): who, when, through which door, the configuration before and after,
the secret only as "set" or not.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr, ValidationError

from bot import errors
from bot.domain.api_model import Model
from bot.domain.crm_config import CrmConfig
from bot.errors import Conflict, CrmcardError, InvalidInput, field_errors
from bot.i18n import t
from bot.services import audit, keys
from bot.services.audit import Actor
from bot.services.crm_url_policy import UrlPolicy, resolution_problems, url_problems
from bot.services.secret_box import SecretBox
from bot.services.store import AlreadyExists, NotFound, Store, create_model, read_model, update

log = logging.getLogger(__name__)

REDACTED = "***"
_FIXED = ("settingsId", "tenantId")


class ConfigError(CrmcardError):
    """A configuration request that cannot be done."""


class ConfigInvalid(InvalidInput, ConfigError):
    """Validation failed; ``field_errors`` lists the fields."""


class ConfigNotFound(errors.NotFound, ConfigError):
    """The tenant has no CRM configuration with that id."""


class ConfigExists(Conflict, ConfigError):
    """A CRM configuration with that id exists already."""


def _endpoints(config: CrmConfig) -> tuple[object, ...]:
    """Where a configuration sends its secret: the base URL and the auth's type and URLs."""
    auth = config.auth
    return (
        config.base_url,
        None if auth is None else auth.type,
        *(getattr(auth, name, None) for name in ("login_url", "token_url", "authority_host")),
    )


class PublicCrmConfig(CrmConfig):
    """A configuration as the admin API shows it: its settings, never the secret (only
    whether one is set), its version and its last change."""

    has_secret: bool
    version: int
    created_at: datetime
    updated_at: datetime
    updated_by: str


class StoredCrmConfig(Model):
    config: CrmConfig
    sealed_secret: str | None = None
    version: int = 1
    created_at: datetime
    updated_at: datetime
    updated_by: str

    @property
    def has_secret(self) -> bool:
        return self.sealed_secret is not None

    def public(self) -> PublicCrmConfig:
        """What the admin API shows: settings, never the secret (only whether one is set)."""
        settings = {name: getattr(self.config, name) for name in CrmConfig.model_fields}
        return PublicCrmConfig(
            **{**settings, "secret": None},
            has_secret=self.has_secret,
            version=self.version,
            created_at=self.created_at,
            updated_at=self.updated_at,
            updated_by=self.updated_by,
        )


def _audited(stored: StoredCrmConfig | None) -> dict[str, Any] | None:
    """A configuration as the audit shows it: settings, version, whether a secret is set."""
    if stored is None:
        return None
    return {
        **stored.config.model_dump(mode="json", by_alias=True),
        "secret": REDACTED if stored.has_secret else None,
        "version": stored.version,
    }


def parse_config(tenant_id: str, payload: Any) -> CrmConfig:
    """A CrmConfig from admin input in the API's camelCase names; the tenant comes from
    authentication, never the body."""
    if not isinstance(payload, dict):
        raise ConfigInvalid(t("the configuration must be a JSON object"))
    if "tenantId" in payload and payload["tenantId"] != tenant_id:
        raise ConfigInvalid(
            t("invalid CRM configuration"),
            [{"loc": ["tenantId"], "msg": t("the tenant is the admin's"), "type": "forbidden"}],
        )
    try:
        return CrmConfig.model_validate({**payload, "tenantId": tenant_id}, by_name=False)
    except ValidationError as error:
        raise ConfigInvalid(t("invalid CRM configuration"), field_errors(error)) from error


def _api_names(config: CrmConfig) -> dict[str, Any]:
    """A configuration's settings as the admin API names them (what a patch is merged on)."""
    return config.model_dump(mode="json", by_alias=True)


def utc_now() -> datetime:
    return datetime.now(UTC)


async def stored_configs(store: Store, tenant_id: str) -> list[StoredCrmConfig]:
    """The tenant's configurations, oldest first (the card's CRM order); no secret opened."""
    found = []
    async for key in store.keys(keys.crm_configs_prefix(tenant_id)):
        stored = await read_model(store, key, StoredCrmConfig)
        if stored is not None and stored.config.tenant_id == tenant_id:
            found.append(stored)
    return sorted(found, key=lambda s: (s.created_at, s.config.settings_id))


class CrmConfigs:
    """Create, list, change, disable and delete a tenant's CRM configurations."""

    def __init__(
        self,
        store: Store,
        box: SecretBox,
        *,
        clock: Callable[[], datetime] = utc_now,
        url_policy: UrlPolicy | None = None,
    ) -> None:
        self.store = store
        self.box = box
        self.url_policy = url_policy or UrlPolicy()
        """Where configurations may point (bot.services.crm_url_policy); strict by default."""
        self.clock = clock
        self.listeners: list[Callable[[str], None]] = []
        """Called with the tenant id after every change (cache invalidation)."""

    # -- secrets ------------------------------------------------------------------------

    @staticmethod
    def _secret_place(tenant_id: str, settings_id: str) -> str:
        return keys.crm_config(tenant_id, settings_id) + "#secret"

    def _seal(self, config: CrmConfig, secret: SecretStr | None) -> str | None:
        if secret is None or not secret.get_secret_value():
            return None
        place = self._secret_place(config.tenant_id, config.settings_id)
        return self.box.seal(secret.get_secret_value().encode(), place).decode("ascii")

    def secret_of(self, stored: StoredCrmConfig) -> SecretStr | None:
        """The configuration's secret in clear, for building its client only."""
        if stored.sealed_secret is None:
            return None
        place = self._secret_place(stored.config.tenant_id, stored.config.settings_id)
        return SecretStr(self.box.open(stored.sealed_secret.encode("ascii"), place).decode())

    # -- reading ------------------------------------------------------------------------

    async def get(self, tenant_id: str, settings_id: str) -> StoredCrmConfig | None:
        return await read_model(
            self.store, keys.crm_config(tenant_id, settings_id), StoredCrmConfig
        )

    async def require(self, tenant_id: str, settings_id: str) -> StoredCrmConfig:
        stored = await self.get(tenant_id, settings_id)
        if stored is None:
            raise ConfigNotFound(t("no CRM configuration {id}", id=repr(settings_id)))
        return stored

    async def list(self, tenant_id: str) -> list[StoredCrmConfig]:
        """The tenant's configurations, oldest first (the card's CRM order)."""
        return await stored_configs(self.store, tenant_id)

    # -- changing -----------------------------------------------------------------------

    async def _audit(
        self,
        action: str,
        actor: Actor,
        before: StoredCrmConfig | None,
        after: StoredCrmConfig | None,
    ) -> None:
        subject = after or before
        assert subject is not None, "a change has a configuration before or after it"
        config = subject.config
        await audit.record(
            self.store,
            config.tenant_id,
            actor,
            f"crm.{action}",
            at=self.clock(),
            target=config.settings_id,
            before=_audited(before),
            after=_audited(after),
        )
        log.info(
            "CRM configuration %s/%s: %s by %s",
            config.tenant_id,
            config.settings_id,
            action,
            actor.id,
        )
        for listener in self.listeners:
            listener(config.tenant_id)

    async def check_urls(self, config: CrmConfig) -> None:
        """Refuse a configuration pointing where crmcard must not send requests or secrets."""
        problems = url_problems(config, self.url_policy)
        if not problems:
            problems = await resolution_problems(config, self.url_policy)
        if problems:
            raise ConfigInvalid(t("unsafe CRM URL"), problems)

    async def create(self, config: CrmConfig, actor: Actor) -> StoredCrmConfig:
        await self.check_urls(config)
        now = self.clock()
        stored = StoredCrmConfig(
            config=config.model_copy(update={"secret": None}),
            sealed_secret=self._seal(config, config.secret),
            created_at=now,
            updated_at=now,
            updated_by=actor.id,
        )
        try:
            await create_model(
                self.store, keys.crm_config(config.tenant_id, config.settings_id), stored
            )
        except AlreadyExists as error:
            raise ConfigExists(
                t("CRM configuration {settings} exists", settings=repr(config.settings_id))
            ) from error
        await self._audit("create", actor, None, stored)
        return stored

    async def _change(
        self,
        tenant_id: str,
        settings_id: str,
        action: str,
        actor: Actor,
        apply: Callable[[StoredCrmConfig], StoredCrmConfig],
    ) -> StoredCrmConfig:
        before: list[StoredCrmConfig] = []

        def change(current: StoredCrmConfig) -> StoredCrmConfig:
            before.append(current)
            changed = apply(current)
            if changed.config == current.config and changed.sealed_secret == current.sealed_secret:
                return current
            return changed.model_copy(
                update={
                    "version": current.version + 1,
                    "updated_at": self.clock(),
                    "updated_by": actor.id,
                }
            )

        try:
            after = await update(
                self.store, keys.crm_config(tenant_id, settings_id), StoredCrmConfig, change
            )
        except NotFound as error:
            raise ConfigNotFound(t("no CRM configuration {id}", id=repr(settings_id))) from error
        old = before[-1]
        if after is old:
            return after  # nothing changed: nothing to audit
        await self._audit(action, actor, old, after)
        return after

    async def update(
        self, tenant_id: str, settings_id: str, patch: dict[str, Any], actor: Actor
    ) -> StoredCrmConfig:
        """Change some settings (not the ID or tenant); a changed URL or auth endpoint
        needs the secret again (``secret`` in the patch), so a stored secret never follows
        a configuration to a new host."""
        fixed = [name for name in _FIXED if name in patch]
        if fixed:
            raise ConfigInvalid(
                t("these fields cannot be changed here"),
                [
                    {
                        "loc": [name],
                        "msg": t("cannot change"),
                        "type": "forbidden",
                    }
                    for name in fixed
                ],
            )
        secret = patch.pop("secret", None) if isinstance(patch, dict) else None
        if secret is not None and (not isinstance(secret, str) or not secret):
            raise ConfigInvalid(
                t("invalid CRM configuration"),
                [
                    {
                        "loc": ["secret"],
                        "msg": t("a non-empty string is required"),
                        "type": "missing",
                    }
                ],
            )
        current = await self.require(tenant_id, settings_id)
        # validate before touching the store: a bad patch answers with every field error
        wanted = parse_config(tenant_id, {**_api_names(current.config), **patch})
        moved = _endpoints(wanted) != _endpoints(current.config)
        if moved and secret is None and current.has_secret:
            raise ConfigInvalid(
                t("changing where the CRM is reached needs its secret again"),
                [
                    {
                        "loc": ["secret"],
                        "msg": t("required when baseUrl or an auth endpoint changes"),
                        "type": "missing",
                    }
                ],
            )
        await self.check_urls(wanted)
        sealed = None if secret is None else self._seal(wanted, SecretStr(secret))

        def apply(stored: StoredCrmConfig) -> StoredCrmConfig:
            fresh = {**_api_names(stored.config), **patch}
            changed = {"config": parse_config(tenant_id, fresh)}
            return stored.model_copy(
                update=changed if sealed is None else {**changed, "sealed_secret": sealed}
            )

        return await self._change(tenant_id, settings_id, "update", actor, apply)

    async def put(
        self, tenant_id: str, settings_id: str, payload: dict[str, Any], actor: Actor
    ) -> tuple[StoredCrmConfig, bool]:
        """Create or wholly replace a configuration (``PUT``); whether it was created.

        Fields left out take their defaults, as on create; the secret stays unless given,
        and must be given again when the replacement moves the CRM's endpoints."""
        body = {**payload, "settingsId": payload.get("settingsId", settings_id)}
        if body["settingsId"] != settings_id:
            raise ConfigInvalid(
                t("invalid CRM configuration"),
                [
                    {
                        "loc": ["settingsId"],
                        "msg": t("must be the id in the path"),
                        "type": "value_error",
                    }
                ],
            )
        wanted = parse_config(tenant_id, body)
        if await self.get(tenant_id, settings_id) is None:
            return await self.create(wanted, actor), True
        patch = _api_names(wanted)
        del patch["settingsId"], patch["tenantId"]
        if wanted.secret is not None:
            patch["secret"] = wanted.secret.get_secret_value()
        return await self.update(tenant_id, settings_id, patch, actor), False

    async def rotate_secret(
        self, tenant_id: str, settings_id: str, secret: SecretStr, actor: Actor
    ) -> StoredCrmConfig:
        if not secret.get_secret_value():
            raise ConfigInvalid(
                t("the new secret is empty"),
                [{"loc": ["secret"], "msg": t("must not be empty"), "type": "missing"}],
            )

        def apply(stored: StoredCrmConfig) -> StoredCrmConfig:
            return stored.model_copy(update={"sealed_secret": self._seal(stored.config, secret)})

        return await self._change(tenant_id, settings_id, "rotateSecret", actor, apply)

    async def set_enabled(
        self, tenant_id: str, settings_id: str, enabled: bool, actor: Actor
    ) -> StoredCrmConfig:
        def apply(stored: StoredCrmConfig) -> StoredCrmConfig:
            config = stored.config.model_copy(update={"enabled": enabled})
            return stored.model_copy(update={"config": config})

        action = "enable" if enabled else "disable"
        return await self._change(tenant_id, settings_id, action, actor, apply)

    async def disable(self, tenant_id: str, settings_id: str, actor: Actor) -> StoredCrmConfig:
        return await self.set_enabled(tenant_id, settings_id, False, actor)

    async def delete(self, tenant_id: str, settings_id: str, actor: Actor) -> None:
        key = keys.crm_config(tenant_id, settings_id)
        document = await self.store.read(key)
        if document is None:
            raise ConfigNotFound(t("no CRM configuration {id}", id=repr(settings_id)))
        stored = StoredCrmConfig.model_validate_json(document.data)
        await self.store.delete(key, document.etag)
        await self._audit("delete", actor, stored, None)
