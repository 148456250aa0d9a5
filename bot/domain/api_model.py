"""The bases of crmcard's models: :class:`Model` for every one, :class:`ApiModel` for
those that cross the JSON boundary of crmcard's APIs.

Every model builds its validator and serializer when it is first used, not when its
module is imported: a server imports some 160 models and builds 3 before its first
answer (``tests/web/test_startup_imports.py`` names them), and building them all at
import was some 0.1 s of its start's CPU.

Outside (HTTP bodies, Teams card data, stored documents read by the console) names are
camelCase; inside, Python's snake_case. Every such model derives from ``ApiModel`` and
adds only what is its own (``extra="forbid"``, ``frozen=True``): pydantic merges a
subclass's ``model_config`` with its base's.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class Model(BaseModel):
    """Built on first use (``defer_build``)."""

    model_config = ConfigDict(defer_build=True)


class ApiModel(Model):
    """camelCase on the wire, either name accepted on input."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)
