"""The API's document and its reference page.

* ``GET /api/openapi.json``: the OpenAPI 3.1 document (:mod:`bot.web.openapi`, from the
  table in :mod:`bot.web.operations`), built once per process.
* ``GET /api/docs``: the reference page, Swagger UI from the ``swagger-ui-dist`` npm
  package, copied with its start script into ``console/dist/api-docs`` by the console
  build (``npm run build:console``); ``GET /api/docs/{name}`` serves those files. Nothing
  is loaded from another host at run time.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

OPENAPI_PATH = "/api/openapi.json"
DOCS_PATH = "/api/docs"
DOCS_DIST = Path(__file__).resolve().parents[2] / "console" / "dist" / "api-docs"
DOCS_FILES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "api-docs.js": "text/javascript",
}


@cache
def document() -> dict[str, Any]:
    """crmcard's document (the models do not change while the process runs)."""
    # The answer models of the table, and what makes the document of them, are imported
    # on the first request for the document: no other route needs them, and building
    # them was a tenth of the server's start-up.
    from bot.web.openapi import build_document
    from bot.web.operations import OPERATIONS, TAGS

    return build_document(OPERATIONS, TAGS)


@cache
def _document_bytes() -> bytes:
    return orjson.dumps(document())


async def get_openapi(request: web.Request) -> web.Response:
    return web.Response(body=_document_bytes(), content_type="application/json")


async def get_docs(request: web.Request) -> web.StreamResponse:
    page = DOCS_DIST / "index.html"
    if not page.is_file():
        raise web.HTTPNotFound(text="the API reference is not built: run scripts/setup.sh")
    return web.FileResponse(
        page, headers={"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache"}
    )


async def get_docs_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = DOCS_DIST / name
    if name not in DOCS_FILES or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Content-Type": f"{DOCS_FILES[name]}; charset=utf-8"})


def setup_api_docs(app: web.Application) -> None:
    app.router.add_get(OPENAPI_PATH, get_openapi)
    app.router.add_get(DOCS_PATH, get_docs)
    app.router.add_get(DOCS_PATH + "/{name}", get_docs_file)
