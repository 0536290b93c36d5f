"""Reading the dashboard as a person sees it, and saving a picture of it."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

FINAL = {"succeeded", "failed", "cancelled"}


def job_row(page: Any, job_id: str) -> Any:
    return page.locator(f'tr.job-row[data-job-id="{job_id}"]')


def watch_job_row(
    page: Any,
    job_id: str,
    timeout: float = 240,
    while_running: Callable[[], object] | None = None,
) -> list[tuple[str, float]]:
    """Every distinct (status, progress) the job's row shows, until it shows a final
    status; read from the page every 50 ms. ``while_running()`` is called once, the
    first time the row shows the job part-way."""
    row = job_row(page, job_id)
    row.wait_for(timeout=timeout * 1000)
    seen: list[tuple[str, float]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = row.evaluate("r => [r.dataset.status, Number(r.dataset.progress)]")
        shown = (str(state[0]), float(state[1]))
        if not seen or seen[-1] != shown:
            seen.append(shown)
            if while_running is not None and shown[0] == "running" and 0 < shown[1] < 1:
                while_running()
                while_running = None
        if shown[0] in FINAL:
            return seen
        time.sleep(0.05)
    raise TimeoutError(f"job {job_id} not final on the page: {seen}")


def heatmap_cells(page: Any) -> list[tuple[int, int, float | None]]:
    """(row, column, value) of each heatmap cell, value None where it shows no eval split."""
    cells = page.locator(".heatmap rect.cell").evaluate_all(
        "cells => cells.map(c => [c.dataset.row, c.dataset.col, c.dataset.value])"
    )
    return [(int(r), int(c), None if v == "" else float(v)) for r, c, v in cells]


def save_screenshot(page: Any, folder: Path, name: str) -> Path:
    """A full-page PNG in ``folder`` (the test's tmp dir), copied to
    ``RELEARN_SCREENSHOT_DIR`` when that is set, for a person to look at."""
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    wanted = os.environ.get("RELEARN_SCREENSHOT_DIR")
    if wanted:
        Path(wanted).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(wanted) / path.name)
    print(f"screenshot: {path}")
    return path
