"""Prometheus metrics: requests and latencies by route and status, commands by type,
projection lag, the webhook dispatcher's lag and backlog, store errors, group-commit
batches.

One registry per app (tests run several apps in one process). With several
uvicorn workers each worker answers for itself; scrape each, or run one worker
per container behind the load balancer, as docker-compose can.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from infrastructure.store.application import ReclaimApplication
from infrastructure.webhooks.dispatcher import lag as dispatcher_lag

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class _Live(Collector):
    """Figures read when scraped: projection lag and group-commit totals."""

    def __init__(self, source: Callable[[], ReclaimApplication | None]) -> None:
        self.source = source

    def collect(self) -> Iterator[Any]:
        reclaim = self.source()
        if reclaim is None:
            return
        lag = GaugeMetricFamily(
            "reclaim_projection_lag_events",
            "Events in the log not yet applied by each projection",
            labels=["projection"],
        )
        for name, behind in reclaim.projection_lag().items():
            lag.add_metric([name], behind)
        yield lag
        yield GaugeMetricFamily(
            "reclaim_webhook_dispatcher_lag_events",
            "Events in the feed the webhook dispatcher has not yet made deliveries of",
            value=dispatcher_lag(reclaim.database, reclaim.webhooks),
        )
        yield GaugeMetricFamily(
            "reclaim_webhook_deliveries_pending",
            "Webhook deliveries waiting to be sent or tried again",
            value=reclaim.webhooks.pending(),
        )
        forwarder = reclaim.forwarder
        yield GaugeMetricFamily(
            "reclaim_node_is_writer",
            "1 while this process is the store's writer, 0 while it follows",
            value=0 if forwarder is not None else 1,
        )
        if forwarder is not None:
            yield CounterMetricFamily(
                "reclaim_forwarded_saves",
                "Saves this follower forwarded to the store's writer",
                value=forwarder.forwarded,
            )
        committer = reclaim.committer
        if committer is not None:
            yield CounterMetricFamily(
                "reclaim_group_commit_batches",
                "Transactions written by group commit",
                value=committer.batches,
            )
            yield CounterMetricFamily(
                "reclaim_group_commit_commands",
                "Commands saved by group commit",
                value=committer.commands,
            )


class Metrics:
    def __init__(self, source: Callable[[], ReclaimApplication | None]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "reclaim_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "reclaim_http_request_duration_seconds",
            "HTTP request latency by route",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.commands = Counter(
            "reclaim_commands",
            "Case commands by action and outcome",
            ["action", "outcome"],
            registry=self.registry,
        )
        self.store_errors = Counter(
            "reclaim_store_errors",
            "Requests answered 503 because the store failed",
            registry=self.registry,
        )
        self.registry.register(_Live(source))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
