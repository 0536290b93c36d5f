"""The embedded broker's polling interval: how long a job can wait before a worker sees
it (kombu's filesystem transport cannot wake a worker up)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import Settings
from app.queue import make_celery


def transport_polling_interval(settings: Settings) -> float:
    with make_celery(settings).connection_for_read() as connection:
        return float(connection.transport.polling_interval)


def test_the_embedded_broker_polls_at_the_configured_interval(tmp_path: Path) -> None:
    # by default, 20 times a second (kombu's own default is once a second)
    assert transport_polling_interval(Settings(home=tmp_path)) == 0.05
    # and as configured
    assert transport_polling_interval(Settings(home=tmp_path, broker_polling_seconds=0.2)) == 0.2


@pytest.mark.parametrize("seconds", [0, -1, 11])
def test_a_polling_interval_out_of_range_is_refused(tmp_path: Path, seconds: float) -> None:
    with pytest.raises(ValidationError, match="broker_polling_seconds"):
        Settings(home=tmp_path, broker_polling_seconds=seconds)
