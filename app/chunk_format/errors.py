"""The errors of reading and checking a chunk: each names the field it is about."""

from __future__ import annotations


class ChunkFormatError(ValueError):
    """The chunk is unreadable or invalid; ``field`` is ``file`` or ``file.<key>``."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class DecodedSizeExceeded(ChunkFormatError):
    """The arrays would take more bytes decoded than allowed (an HTTP 413, not a 422)."""


def reason_of(exc: Exception) -> str:
    """A parser's error as a short reason (its message, or its type when it has none)."""
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
