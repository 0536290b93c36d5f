"""The worker refuses to start on an un-migrated database, naming the command to run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_worker_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    # given: an empty SQLite database (never migrated)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELEARN_")}
    env |= {
        "RELEARN_HOME": str(tmp_path),
        "RELEARN_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}",
    }
    # when: a worker starts
    result = subprocess.run(
        [str(Path(sys.executable).parent / "relearn"), "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    # then: it exits with an error that says how to fix it
    assert result.returncode != 0
    assert "relearn db upgrade" in result.stdout + result.stderr
