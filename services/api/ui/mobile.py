"""The phone app at /m: an installable web app (manifest, service worker) served from files
that ship with duban (services/api/mobile), so it loads on an intranet and, once loaded,
opens with no network at all. Its page is the same for everyone (the device token lives in
the phone's IndexedDB, never in the page), so the service worker may keep it."""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

ASSETS = Path(__file__).resolve().parent.parent / "mobile"
STATIC = ("app.js", "app.css", "icon-192.png", "icon-512.png")


def version() -> str:
    """A digest of the app's files: a new release gives the service worker a new cache,
    so phones pick it up on their next start and drop the old one."""
    digest = hashlib.sha256()
    for name in sorted((*STATIC, "index.html", "manifest.webmanifest", "sw.js")):
        digest.update((ASSETS / name).read_bytes())
    return "duban-m-" + digest.hexdigest()[:16]


def install(app: FastAPI) -> None:
    worker = (ASSETS / "sw.js").read_text().replace("__VERSION__", version())

    @app.get("/m", include_in_schema=False)
    async def _bare() -> Response:
        return RedirectResponse("/m/", status_code=308)

    @app.get("/m/", include_in_schema=False)
    async def _page() -> Response:
        return FileResponse(ASSETS / "index.html", media_type="text/html; charset=utf-8")

    @app.get("/m/manifest.webmanifest", include_in_schema=False)
    async def _manifest() -> Response:
        return FileResponse(ASSETS / "manifest.webmanifest", media_type="application/manifest+json")

    @app.get("/m/sw.js", include_in_schema=False)
    async def _worker() -> Response:
        # Scope /m/: the worker sees the app's own requests and nothing else of the site.
        return Response(worker, media_type="text/javascript; charset=utf-8")

    app.mount("/m/static", StaticFiles(directory=ASSETS), name="m-static")
