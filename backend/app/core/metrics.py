"""Prometheus metrics: request latencies (middleware) and job counts (read from PostGIS at scrape time)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from app.models.job import JobQueue, JobState
from app.repositories.jobs import count_jobs_by_state_and_queue

logger = logging.getLogger(__name__)


class JobCountCollector(Collector):
    """``minelabel_jobs{state,queue}``: jobs by state and queue, counted in the database on each scrape."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._session_factory = session_factory

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("minelabel_jobs", "Jobs by state and queue", labels=["state", "queue"])
        try:
            with self._session_factory() as session:
                counts = count_jobs_by_state_and_queue(session)
        except Exception:
            logger.warning("could not count jobs for /metrics", exc_info=True)
            return
        for state in JobState:
            for queue in JobQueue:
                family.add_metric([state.value, queue.value], counts.get((state, queue), 0))
        yield family


class Metrics:
    """One registry per app instance, so that several apps in one process (tests) do not collide."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.registry = CollectorRegistry()
        self.request_seconds = Histogram(
            "minelabel_http_request_duration_seconds",
            "HTTP request latency by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.registry.register(JobCountCollector(session_factory))
