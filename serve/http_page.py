"""The web page at ``/`` and the API docs at ``/docs`` and ``/redoc``, all served offline.

The page is plain HTML, CSS and JavaScript shipped in ``serve/static/`` (package data: no build
step, no CDN); it speaks only the JSON API. The docs pages are FastAPI's own, built with its
documented custom-assets approach (``docs_url=None`` on the app, then
``get_swagger_ui_html``/``get_redoc_html`` pointed at local files): the Swagger UI and ReDoc
bundles come from the ``fastapi-offline`` package's static folder, so ``/docs`` works on a
machine with no internet access.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
PAGE_URL = "/static"
DOCS_ASSETS_URL = "/docs-assets"


def docs_assets_dir() -> Path:
    """The folder holding ``swagger-ui-bundle.js``, ``swagger-ui.css`` and
    ``redoc.standalone.js`` (the ``fastapi-offline`` package's static files)."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


def add_page_routes(app: FastAPI) -> None:
    """``/`` (the page), ``/static/*`` (its files), ``/docs`` and ``/redoc`` on ``app``, which
    must be built with ``docs_url=None, redoc_url=None``."""
    app.mount(PAGE_URL, StaticFiles(directory=STATIC_DIR), name="page")
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=docs_assets_dir()), name="docs-assets")
    favicon = f"{PAGE_URL}/favicon.svg"

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title}: API docs",
            swagger_js_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{favicon}",
            # no "valid" badge: it would ask validator.swagger.io about the schema
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title}: API reference",
            redoc_js_url=f"{root}{DOCS_ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{favicon}",
            with_google_fonts=False,
        )
