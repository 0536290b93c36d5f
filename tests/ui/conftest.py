"""The dashboard's fixtures: Debian's Chromium driven by Playwright, and a running relearn.

Playwright is told to use ``/usr/bin/chromium`` (``RELEARN_CHROMIUM`` to point elsewhere);
it never downloads a browser of its own. ``make test`` installs Chromium
(``scripts/ensure-browser.sh``). Without it the tests skip, and under ``CI=true`` fail.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.service import Service, embedded_serve
from tests.services import require_service

CHROMIUM = Path(os.environ.get("RELEARN_CHROMIUM", "/usr/bin/chromium"))


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    require_service("Playwright", importlib.util.find_spec("playwright") is not None, "pip package")
    require_service("Chromium", CHROMIUM.is_file(), f"{CHROMIUM}; scripts/ensure-browser.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page_errors() -> list[str]:
    """Uncaught errors of the page's scripts (a test asserts there were none)."""
    return []


@pytest.fixture
def page(browser: Any, page_errors: list[str]) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    opened = context.new_page()
    opened.on("pageerror", lambda error: page_errors.append(str(error)))
    opened.set_default_timeout(30_000)
    try:
        yield opened
    finally:
        context.close()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    """``relearn serve`` as a newcomer runs it: the API and one worker, embedded defaults."""
    with embedded_serve(tmp_path) as service:
        yield service
