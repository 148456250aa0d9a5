"""A tenant's own settings: what its admins choose for the whole tenant.

Today that is the default region of phone numbers written without a country code (a
German contact center reads "030 1234567" as +49 30 1234567). Services read it through
``bot.services.tenant_settings``; admins set it with ``PUT /api/admin/tenant`` or
``crmcard tenants settings TENANT --default-region DE``.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field, field_validator

from bot.domain.api_model import ApiModel
from bot.domain.identifiers import checked_region


class TenantSettings(ApiModel):
    model_config = ConfigDict(extra="forbid")

    default_region: str = Field(
        min_length=2,
        max_length=3,
        description="ISO 3166-1 alpha-2 region (DE, FR, GB, US, ...) of phone numbers "
        "written without a country code",
    )

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        return checked_region(value)
