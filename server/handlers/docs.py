"""/api-docs: Swagger UI from local assets, and the OpenAPI document it renders."""

from __future__ import annotations

from aiohttp import web

from server.openapi.assets import ASSETS, PAGE, asset
from server.openapi.document import DOCUMENT

routes = web.RouteTableDef()

CACHE = {"Cache-Control": "public, max-age=3600"}
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
"""Swagger UI's own files, its fetches of the document and of "Try it out", its inline styles and SVG icons."""


@routes.get("/api-docs")
async def swagger_ui(request: web.Request) -> web.Response:
    return web.Response(text=PAGE, content_type="text/html", headers={"Content-Security-Policy": PAGE_CSP})


@routes.get("/api-docs/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=request.app[DOCUMENT], content_type="application/json")


@routes.get("/api-docs/assets/{asset}")
async def swagger_asset(request: web.Request) -> web.Response:
    name = request.match_info["asset"]  # one of ASSETS: the path's schema is checked before this runs
    return web.Response(body=asset(name), content_type=ASSETS[name], headers=CACHE)
