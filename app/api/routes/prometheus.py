"""``GET /metrics``: Prometheus text for the service (see ``app/telemetry``)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.telemetry.exposition import MEDIA_TYPE, Telemetry

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format."}},
)
def prometheus_metrics(request: Request) -> Response:
    """Jobs by status, job/fit/queue-wait durations (from the database, at scrape time)
    and HTTP requests by route template and status (counted by the API processes)."""
    telemetry: Telemetry = request.app.state.telemetry
    return Response(telemetry.render(), media_type=MEDIA_TYPE)
