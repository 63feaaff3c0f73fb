"""The supervision office's web dashboard at /ui, served by the API itself: the pages
(pages.py), their static files, and the two answers that are pages rather than problem
documents."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from . import accountability, commitments, desks, findings_list, mobile
from .pages import LoginRequired, PageNotFound, render, router

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def install(app: FastAPI) -> None:
    """Mount the pages, their vendored static files and the dashboard's two answers that
    are pages rather than problem documents: the login redirect and the 404 page."""
    app.include_router(router)
    app.include_router(findings_list.router)
    app.include_router(desks.router)
    app.include_router(commitments.router)
    app.include_router(accountability.router)
    mobile.install(app)  # the phone app at /m
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse("/ui/login?" + urlencode({"next": exc.next_url}), 303)

    @app.exception_handler(PageNotFound)
    async def _not_found(request: Request, exc: PageNotFound) -> Response:
        return render(request, "ui/not_found.html", {}, status=404)
