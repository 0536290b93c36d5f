"""Best-effort removal of objects whose database rows were never committed.

An orphan left behind (storage down during the cleanup) is harmless: no row points at it.
"""

from __future__ import annotations

import logging

from app.storage import ObjectStore

log = logging.getLogger(__name__)


def delete_object_quietly(store: ObjectStore, key: str) -> None:
    try:
        store.delete(key)
    except Exception:
        log.exception("could not delete orphaned object %s", key)


def delete_prefix_quietly(store: ObjectStore, prefix: str) -> None:
    try:
        store.delete_prefix(prefix)
    except Exception:
        log.exception("could not delete orphaned objects under %s", prefix)
