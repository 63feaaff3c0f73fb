"""The interactive API docs, /docs (Swagger UI) and /redoc (ReDoc), served whole by duban.

FastAPI's own pages load both viewers from a public CDN and start them with an inline
script: on a government intranet they stay blank. Here the viewers' files ship with duban
(services/api/docs_assets, vendored with their licences) under /docs-assets/, and each page
starts its viewer with a script file of its own, reading its settings from a JSON block. So
the pages make no request to any other host, and their policy admits scripts and styles from
this origin only (services/api/headers.py); ReDoc's generated <style> elements get through by
a nonce made for each answer.
"""

from __future__ import annotations

import html
import json
import secrets
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import swagger_ui_default_parameters
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from . import headers

ASSETS_DIR = Path(__file__).resolve().parent / "docs_assets"
ASSETS_PREFIX = "/docs-assets"
DOCS_URL = "/docs"
REDOC_URL = "/redoc"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"


def _json_block(data: dict[str, Any]) -> str:
    """Settings for a page's start-up script, as JSON that cannot end its <script> block."""
    text = json.dumps(data, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _page(title: str, head: str, body: str, config: dict[str, Any], scripts: list[str]) -> str:
    tags = "\n".join(f'<script src="{html.escape(src)}"></script>' for src in scripts)
    return f"""<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
{head}
</head>
<body>
{body}
<script id="duban-docs" type="application/json">{_json_block(config)}</script>
{tags}
</body>
</html>
"""


def swagger_ui(app: FastAPI, root: str) -> str:
    assets = f"{root}{ASSETS_PREFIX}"
    config = {
        "openapi_url": f"{root}{app.openapi_url}",
        "oauth2_redirect_url": f"{root}{OAUTH2_REDIRECT_URL}",
        "parameters": {**swagger_ui_default_parameters, **(app.swagger_ui_parameters or {})},
    }
    head = (
        f'<link rel="icon" type="image/png" href="{assets}/swagger-ui/favicon-32x32.png">\n'
        f'<link rel="stylesheet" href="{assets}/swagger-ui/swagger-ui.css">'
    )
    return _page(
        f"{app.title} – Swagger UI",
        head,
        '<div id="swagger-ui"></div>',
        config,
        [f"{assets}/swagger-ui/swagger-ui-bundle.js", f"{assets}/swagger-init.js"],
    )


def redoc(app: FastAPI, root: str, nonce: str) -> str:
    assets = f"{root}{ASSETS_PREFIX}"
    config = {"openapi_url": f"{root}{app.openapi_url}", "nonce": nonce, "options": {}}
    head = f'<link rel="icon" type="image/png" href="{assets}/swagger-ui/favicon-32x32.png">'
    return _page(
        f"{app.title} – ReDoc",
        head,
        '<div id="redoc-container"></div>',
        config,
        [f"{assets}/redoc/redoc.standalone.js", f"{assets}/redoc-init.js"],
    )


def oauth2_redirect(root: str) -> str:
    """Where an OAuth2 authorisation in Swagger UI returns to (Swagger UI's own script)."""
    src = html.escape(f"{root}{ASSETS_PREFIX}/swagger-ui/oauth2-redirect.js")
    return (
        '<!doctype html>\n<html lang="en-US">\n<body>\n'
        f'<script src="{src}"></script>\n</body>\n</html>\n'
    )


def install(app: FastAPI) -> None:
    """Mount the assets and the three pages. The app is made with docs_url=None and
    redoc_url=None, so FastAPI's CDN pages are never served."""
    app.mount(ASSETS_PREFIX, StaticFiles(directory=ASSETS_DIR), name="docs-assets")

    def root_of(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    @app.get(DOCS_URL, include_in_schema=False)
    async def docs_page(request: Request) -> HTMLResponse:
        return HTMLResponse(swagger_ui(app, root_of(request)))

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def docs_oauth2_redirect(request: Request) -> HTMLResponse:
        return HTMLResponse(oauth2_redirect(root_of(request)))

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc_page(request: Request) -> HTMLResponse:
        nonce = secrets.token_urlsafe(18)
        return HTMLResponse(
            redoc(app, root_of(request), nonce),
            headers={"content-security-policy": headers.docs_policy(style_nonce=nonce)},
        )
