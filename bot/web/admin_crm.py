"""The admin API for CRM connections (``/api/admin/crms``), per tenant by ``X-Admin-Key``.

* ``GET  /api/admin/crms`` -- the tenant's configurations (secrets never shown)
* ``POST /api/admin/crms`` -- create one (body: the configuration, with ``secret``)
* ``GET | PUT | PATCH | DELETE /api/admin/crms/{settingsId}`` (PUT creates or wholly
  replaces; PATCH changes the fields given)
* ``POST /api/admin/crms/{settingsId}/test`` -- a harmless search; typed outcome
* ``POST /api/admin/crms/{settingsId}/rotate-secret`` -- body ``{"secret": "..."}``
* ``POST /api/admin/crms/{settingsId}/disable`` (and ``/enable``)
* ``POST /api/admin/crms/{settingsId}/preview`` -- body ``{"phone"}`` or ``{"email"}``: the
  records an (enabled) connection finds, with their CRM fields and mapped card fields

Bodies are :class:`~bot.domain.crm_config.CrmConfig` in camelCase (``settingsId``,
``displayName``, ``baseUrl``, ``auth``, ``fieldMappings``, ``enabled`` ...; only these
names); answers are :class:`~bot.services.crm_configs.PublicCrmConfig`: the settings plus
``hasSecret``, ``version``, ``createdAt``, ``updatedAt`` and ``updatedBy``, never the secret.

Validation errors answer 422 with every refused field in the problem's ``errors``. Every change
is in the tenant's audit stream (``GET /api/admin/audit``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ConfigDict, Field, SecretStr

from bot.adapters.crm.directory import StoreDirectory
from bot.adapters.inbound import json_model, json_object
from bot.domain import identifiers
from bot.domain.api_model import ApiModel
from bot.domain.errors import InvalidIdentifier
from bot.errors import FieldError, InvalidInput, NotFound
from bot.i18n import t
from bot.services import health, tenant_settings
from bot.services.audit import Actor
from bot.services.crm import SearchCriteria
from bot.services.crm_configs import CrmConfigs, PublicCrmConfig, parse_config
from bot.web.admin_auth import admin_of
from bot.web.answers import model_response
from bot.web.interactions import CONTEXT

CRM_CONFIGS = web.AppKey("crm_configs", CrmConfigs)
CRM_DIRECTORY = web.AppKey("crm_directory", StoreDirectory)


_body = json_object


class CrmConfigList(ApiModel):
    """``GET /api/admin/crms``: the tenant's configurations, oldest first."""

    model_config = ConfigDict(extra="forbid")

    crms: list[PublicCrmConfig]


class SecretRotation(ApiModel):
    """``POST .../rotate-secret``: the configuration's new secret."""

    model_config = ConfigDict(extra="forbid")

    secret: SecretStr = Field(min_length=1)


class PreviewRecord(ApiModel):
    """One record a preview found: its CRM fields and the card fields mapped from them."""

    model_config = ConfigDict(extra="forbid")

    key: str
    title: str
    fields: dict[str, Any]
    card_fields: dict[str, Any]


class PreviewAnswer(ApiModel):
    model_config = ConfigDict(extra="forbid")

    records: list[PreviewRecord]


def _handler(
    run: Any,
) -> Any:
    async def handle(request: web.Request) -> web.StreamResponse:
        admin = await admin_of(request)
        response: web.StreamResponse = await run(request, admin.tenant_id, admin.actor)
        return response

    return handle


def _configs(request: web.Request) -> CrmConfigs:
    return request.app[CRM_CONFIGS]


async def _list(request: web.Request, tenant_id: str, actor: Actor) -> web.Response:
    found = await _configs(request).list(tenant_id)
    return model_response(CrmConfigList(crms=[stored.public() for stored in found]))


async def _create(request: web.Request, tenant_id: str, actor: Actor) -> web.Response:
    config = parse_config(tenant_id, await _body(request))
    stored = await _configs(request).create(config, actor)
    return model_response(stored.public(), status=201)


async def _get(request: web.Request, tenant_id: str, actor: Actor) -> web.Response:
    stored = await _configs(request).require(tenant_id, request.match_info["settings_id"])
    return model_response(stored.public())


async def _patch(request: web.Request, tenant_id: str, actor: Actor) -> web.Response:
    stored = await _configs(request).update(
        tenant_id,
        request.match_info["settings_id"],
        await _body(request),
        actor,
    )
    return model_response(stored.public())


async def _put(request: web.Request, tenant_id: str, actor: Actor) -> web.Response:
    stored, created = await _configs(request).put(
        tenant_id, request.match_info["settings_id"], await _body(request), actor
    )
    return model_response(stored.public(), status=201 if created else 200)


async def _delete(request: web.Request, tenant_id: str, actor: Actor) -> web.Response:
    await _configs(request).delete(tenant_id, request.match_info["settings_id"], actor)
    return web.Response(status=204)


async def _test(request: web.Request, tenant_id: str, actor: Actor) -> web.Response:
    stored = await _configs(request).require(tenant_id, request.match_info["settings_id"])
    outcome = await request.app[CRM_DIRECTORY].test(stored)
    ctx = request.app[CONTEXT]
    tested = health.LastTest(**outcome.model_dump(exclude={"settings_id"}), at=ctx.clock())
    await health.record_test(ctx.store, tenant_id, outcome.settings_id, tested)
    return model_response(outcome)


class PreviewRequest(ApiModel):
    """A sample caller to preview the mappings on: a phone number or an e-mail address."""

    model_config = ConfigDict(extra="forbid")

    phone: str | None = Field(None, max_length=64)
    email: str | None = Field(None, max_length=320)


PREVIEW_RECORDS = 5


async def _preview(request: web.Request, tenant_id: str, actor: Actor) -> web.Response:
    settings_id = request.match_info["settings_id"]
    await _configs(request).require(tenant_id, settings_id)
    asked = await json_model(request, PreviewRequest, t("invalid preview"))
    ctx = request.app[CONTEXT]
    region = await tenant_settings.region_of(ctx, tenant_id)
    try:
        criteria = SearchCriteria(
            phones=[identifiers.phone(asked.phone, region).value] if asked.phone else [],
            emails=[identifiers.email(asked.email).value] if asked.email else [],
            region=region,
        )
    except InvalidIdentifier as error:
        where = "phone" if asked.phone else "email"
        raise InvalidInput(
            t("invalid preview"), [FieldError(loc=[where], msg=str(error), type="value_error")]
        ) from None
    if not criteria.phones and not criteria.emails:
        raise InvalidInput(
            t("a phone number or an e-mail address is needed"),
            [FieldError(loc=["phone"], msg=t("give a phone or an e-mail"), type="missing")],
        )
    clients = await request.app[CRM_DIRECTORY].clients(tenant_id)
    client = next((c for c in clients if c.settings_id == settings_id), None)
    if client is None:
        raise NotFound(t("{id} is disabled: enable it to preview its records", id=settings_id))
    found = await client.search(criteria)
    return model_response(
        PreviewAnswer(
            records=[
                PreviewRecord(
                    key=record.ref.key,
                    title=record.title,
                    fields=record.fields,
                    card_fields=record.card_fields,
                )
                for record in found[:PREVIEW_RECORDS]
            ]
        )
    )


async def _rotate(request: web.Request, tenant_id: str, actor: Actor) -> web.Response:
    asked = await json_model(request, SecretRotation, t("a new secret is needed"))
    stored = await _configs(request).rotate_secret(
        tenant_id, request.match_info["settings_id"], asked.secret, actor
    )
    return model_response(stored.public())


def _enabled(enabled: bool) -> Any:
    async def run(request: web.Request, tenant_id: str, actor: Actor) -> web.Response:
        stored = await _configs(request).set_enabled(
            tenant_id, request.match_info["settings_id"], enabled, actor
        )
        return model_response(stored.public())

    return run


def setup_admin_crm(app: web.Application, configs: CrmConfigs, directory: StoreDirectory) -> None:
    app[CRM_CONFIGS] = configs
    app[CRM_DIRECTORY] = directory
    one = "/api/admin/crms/{settings_id}"
    app.router.add_get("/api/admin/crms", _handler(_list))
    app.router.add_post("/api/admin/crms", _handler(_create))
    app.router.add_get(one, _handler(_get))
    app.router.add_put(one, _handler(_put))
    app.router.add_patch(one, _handler(_patch))
    app.router.add_delete(one, _handler(_delete))
    app.router.add_post(f"{one}/test", _handler(_test))
    app.router.add_post(f"{one}/preview", _handler(_preview))
    app.router.add_post(f"{one}/rotate-secret", _handler(_rotate))
    app.router.add_post(f"{one}/disable", _handler(_enabled(False)))
    app.router.add_post(f"{one}/enable", _handler(_enabled(True)))
