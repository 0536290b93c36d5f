"""Figures read from the database when Prometheus scrapes: nothing is counted in memory,
so any API process answers the same whichever process or machine ran the jobs.

Each figure is a function ``(session) -> metrics``; ``FIGURES`` lists them: the jobs, and
the live workers (from the ``workers`` table's ``last_seen`` heartbeat).

Durations are histograms over every job row still in the database: their counts only
grow, except when a model is deleted with its jobs (Prometheus reads that as a reset).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import utcnow
from app.services import jobs, workers
from app.services.jobs import Distribution

log = logging.getLogger(__name__)

# Seconds. A job trains from seconds (a small MLP) to hours (a ResNet on a big chunk).
JOB_SECONDS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0)
QUEUE_WAIT_SECONDS = (0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0)

DatabaseFigure = Callable[[Session], Iterable[Metric]]


def job_figures(session: Session) -> Iterator[Metric]:
    """Jobs by status, the oldest queued job's wait, and the job, fit and queue-wait
    durations of the jobs that ran."""
    counts = GaugeMetricFamily("relearn_jobs", "Jobs by status.", labels=["status"])
    for status, n in jobs.count_by_status(session=session).items():
        counts.add_metric([status], n)
    yield counts

    oldest = jobs.oldest_queued_at(session=session)
    yield GaugeMetricFamily(
        "relearn_oldest_queued_job_age_seconds",
        "How long the longest-waiting queued job has waited (0 with none queued).",
        value=0.0 if oldest is None else (utcnow() - oldest).total_seconds(),
    )

    run = HistogramMetricFamily(
        "relearn_job_duration_seconds",
        "Jobs from a worker's start to their end (started_at to finished_at), by final status.",
        labels=["status"],
    )
    for status, distribution in jobs.run_seconds_by_status(
        session=session, bounds=JOB_SECONDS
    ).items():
        run.add_metric([status], *histogram(distribution))
    yield run

    fit = HistogramMetricFamily(
        "relearn_job_fit_duration_seconds",
        "The updater's training of each succeeded job (metrics.timings.fit_s).",
    )
    fit.add_metric([], *histogram(jobs.fit_seconds(session=session, bounds=JOB_SECONDS)))
    yield fit

    wait = HistogramMetricFamily(
        "relearn_job_queue_wait_seconds",
        "Jobs from submission to a worker's start (created_at to started_at).",
    )
    wait.add_metric(
        [], *histogram(jobs.queue_wait_seconds(session=session, bounds=QUEUE_WAIT_SECONDS))
    )
    yield wait


def worker_figures(session: Session) -> Iterator[Metric]:
    """Workers whose heartbeat is recent (``app/services/workers.py``), as ``/healthz``."""
    yield GaugeMetricFamily(
        "relearn_workers_alive",
        "Workers whose heartbeat (workers.last_seen) is under 30 s old.",
        value=float(workers.liveness(session=session).alive),
    )


FIGURES: tuple[DatabaseFigure, ...] = (job_figures, worker_figures)


def histogram(distribution: Distribution) -> tuple[Sequence[tuple[str, float]], float]:
    """Prometheus buckets (cumulative, ending with ``+Inf``) and the sum."""
    buckets = [
        (floatToGoString(bound), float(n))
        for bound, n in zip(distribution.bounds, distribution.at_or_below, strict=True)
    ]
    return [*buckets, ("+Inf", float(distribution.count))], distribution.total


class DatabaseCollector(Collector):
    """Runs every figure in one session at each scrape. An unreachable database gives
    ``relearn_database_up 0`` and no figures, not a failed scrape (the HTTP counters are
    still worth having)."""

    def __init__(
        self, sessions: sessionmaker[Session], figures: Sequence[DatabaseFigure] = FIGURES
    ) -> None:
        self.sessions = sessions
        self.figures = tuple(figures)

    def describe(self) -> Iterable[Metric]:
        return []  # registering must not query the database

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("relearn_database_up", "1 if the database answered this scrape.")
        try:
            with self.sessions() as session:
                metrics = [metric for figure in self.figures for metric in figure(session)]
        except SQLAlchemyError:
            log.warning("metrics: the database did not answer", exc_info=True)
            up.add_metric([], 0.0)
            return [up]
        up.add_metric([], 1.0)
        return [up, *metrics]
