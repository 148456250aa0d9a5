"""The one shape of every model that crosses the JSON boundary of crmcard's APIs.

Outside (HTTP bodies, Teams card data, stored documents read by the console) names are
camelCase; inside, Python's snake_case. Every such model derives from ``ApiModel`` and
adds only what is its own (``extra="forbid"``, ``frozen=True``): pydantic merges a
subclass's ``model_config`` with its base's.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    """camelCase on the wire, either name accepted on input."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)
