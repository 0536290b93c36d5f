"""One page of a list: ``limit`` and an opaque ``cursor`` in, ``next_cursor`` out.

Keyset pagination (the cursor names the last row of the previous page), so pages stay
right while rows are added, and no page costs more than its own rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from app.errors import InvalidInput

T = TypeVar("T")

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


@dataclass(frozen=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None

    def seq_cursor(self) -> int:
        """The cursor of a list ordered by a number (``seq``, version number); 422 if the
        cursor is not one."""
        if self.cursor is None or not self.cursor.isdigit() or len(self.cursor) > 10:
            raise InvalidInput("cursor: not a cursor this list gave out", field="cursor")
        return int(self.cursor)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None

    @classmethod
    def of(cls, rows: Sequence[T], limit: int, cursor_of: Callable[[T], str]) -> Page[T]:
        """``rows`` holds up to ``limit + 1`` rows: one more than the page means another
        page follows, starting after the page's last row."""
        items = list(rows[:limit])
        more = len(rows) > limit
        return cls(items, cursor_of(items[-1]) if more and items else None)
