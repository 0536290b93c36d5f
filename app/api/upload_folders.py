"""Temporary folders for uploads in progress, and sweeping those a killed API left behind.

Each upload streams into its own ``relearn-upload-*`` folder in the system's temporary
directory, removed when its request ends. A process killed mid-upload cannot remove it,
so the API sweeps stale ones at start. A folder is in use while its owner holds an
exclusive ``flock`` on its ``.lock`` file; the kernel drops the lock when the process dies,
however it dies. So a sweep removes exactly the folders whose lock it can take, even with
several API processes sharing the directory (and no trust in process ids).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import stat
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from fastapi import FastAPI

log = logging.getLogger(__name__)

PREFIX = "relearn-upload-"
LOCK_FILE = ".lock"
# A folder without a lock file is either a few microseconds old (being set up) or left by
# an older relearn: past this age it is stale.
UNLOCKED_GRACE_SECONDS = 60.0


@contextmanager
def upload_folder(root: Path | None = None) -> Iterator[Path]:
    """A fresh folder, locked as in use until the block ends, then removed."""
    folder = Path(tempfile.mkdtemp(prefix=PREFIX, dir=root))
    pending = folder / f"{LOCK_FILE}-new"
    fd = os.open(pending, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.rename(pending, folder / LOCK_FILE)  # visible to a sweep only once locked
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        os.close(fd)


def sweep_stale_upload_folders(root: Path | None = None) -> list[Path]:
    """Remove the upload folders no live process holds; the ones removed."""
    base = Path(root if root is not None else tempfile.gettempdir())
    removed = []
    for folder in base.glob(f"{PREFIX}*"):
        with contextlib.suppress(OSError):  # gone meanwhile, or not ours to look into
            if _remove_if_stale(folder):
                removed.append(folder)
    return removed


@asynccontextmanager
async def sweep_at_start(app: FastAPI) -> AsyncIterator[None]:
    """Lifespan of the upload routes: sweep once as the app starts."""
    removed = sweep_stale_upload_folders()
    if removed:
        log.warning("removed %d upload folder(s) left by a stopped API", len(removed))
    yield


def _remove_if_stale(folder: Path) -> bool:
    info = folder.lstat()  # a symlink is not followed: it is no folder of ours
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        return False
    try:
        fd = os.open(folder / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        if time.time() - info.st_mtime < UNLOCKED_GRACE_SECONDS:
            return False
        shutil.rmtree(folder, ignore_errors=True)
        return True
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # its owner is alive
        shutil.rmtree(folder, ignore_errors=True)  # holding the lock: nobody else races us
        return True
    finally:
        os.close(fd)
