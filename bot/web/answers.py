"""How a handler answers with a model: its JSON in the API's names (camelCase aliases).

Every answer body is a pydantic model (the OpenAPI document, ``bot.web.operations``,
names the same models); :func:`model_response` is the one way to send one.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel


def model_response(model: BaseModel, status: int = 200) -> web.Response:
    """``model`` as the JSON answer, in the names the API documents."""
    return web.json_response(model.model_dump(mode="json", by_alias=True), status=status)
