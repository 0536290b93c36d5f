"""The RFC 9457 problem details body every 4xx/5xx answer carries (for the OpenAPI docs;
``app/api/problems.py`` builds it)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ProblemFieldError(BaseModel):
    field: str = Field(description="Dotted path of the input, e.g. updater.params.alpha.")
    reason: str


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = Field(None, description="The request path.")
    field: str | None = Field(None, description="The first offending input, if any.")
    errors: list[ProblemFieldError] = Field(default_factory=list)


PROBLEM_MEDIA_TYPE = "application/problem+json"


def problem_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """``responses=`` for a route: these statuses answer with a problem+json body."""
    return {status: {"model": Problem, "content": {PROBLEM_MEDIA_TYPE: {}}} for status in statuses}
