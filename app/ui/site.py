"""Serve the dashboard's files under ``/ui``.

The files are static and open (no key needed to load them); the page sends the API key
a user gives it with each ``/v1`` request it makes. ``/ui`` redirects to ``/ui/`` so that
the page's relative asset paths resolve under the mount.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
PREFIX = "/ui"


def install_ui(app: FastAPI) -> None:
    @app.get(PREFIX, include_in_schema=False)
    def ui_root() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=307)

    app.mount(PREFIX, StaticFiles(directory=STATIC, html=True), name="ui")
