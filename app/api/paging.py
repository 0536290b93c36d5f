"""``limit`` and ``cursor`` query parameters, the same on every list endpoint."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from app.services.pages import DEFAULT_LIMIT, MAX_LIMIT, PageRequest


def page_request(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="At most this many items per page.")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(max_length=100, description="The next_cursor of the previous page."),
    ] = None,
) -> PageRequest:
    return PageRequest(limit=limit, cursor=cursor)


PageDep = Annotated[PageRequest, Depends(page_request)]
