"""CLI fixtures: the real API (``create_app``) served by uvicorn on a free loopback port,
on embedded settings under a temporary RELEARN_HOME, and a runner for ``relearn``.

No worker runs: pushed chunks stay ``queued``, which is what the client commands are
tested against (the worker and ``relearn serve`` have end-to-end tests of their own).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cli.runner import SERVED_APPS, Relearn, embedded_settings
from tests.serving import served


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a real relearn API running in a background thread."""
    from app.api.main import create_app
    from app.db.migrate import upgrade_to_head

    settings = embedded_settings(tmp_path_factory.mktemp("relearn-home"))
    upgrade_to_head(settings.database_url)
    app = create_app(settings)
    with served(app) as url:
        SERVED_APPS[url] = app
        yield url


@pytest.fixture
def relearn(api_url: str) -> Relearn:
    return Relearn(api_url)
