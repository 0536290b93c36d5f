"""CLI fixtures: the real API (``create_app``) served by uvicorn on a free loopback port,
on embedded settings under a temporary RELEARN_HOME, and a runner for ``relearn``.

No worker runs: pushed chunks stay ``queued``, which is what the client commands are
tested against (the worker and ``relearn serve`` have end-to-end tests of their own).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from tests.cli.runner import SERVED_APPS, Relearn, embedded_settings
from tests.services import free_port


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a real relearn API running in a background thread."""
    from app.api.main import create_app
    from app.db.migrate import upgrade_to_head

    settings = embedded_settings(tmp_path_factory.mktemp("relearn-home"))
    upgrade_to_head(settings.database_url)
    port = free_port()
    app = create_app(settings)
    SERVED_APPS[f"http://127.0.0.1:{port}"] = app
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="relearn-test-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test API did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


@pytest.fixture
def relearn(api_url: str) -> Relearn:
    return Relearn(api_url)
