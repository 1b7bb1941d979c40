"""Prometheus metrics (README, Metrics): one registry per app, built on prometheus-client.

Requests are counted from the request log's finished entries (`observe`), so every
front-end and every way a request can end is counted once, where its log entry is
completed. Label values are bounded: a model the catalog does not know, and an
upstream error name outside Cursor's known table, count as `other`; a client id that
MODEL_MAP or an Anthropic tier maps counts under the Cursor model it became.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Container, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.gc_collector import GCCollector
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from .catalog import BUILTIN_IDS
from .logs import LogEntry
from .pool import TokenPool
from .upstream.error_codes import ERROR_STATUS
from .upstream.errors import UpstreamError

OTHER = "other"

# Seconds. An answer usually starts within a second or two; a long one runs minutes.
FIRST_CONTENT_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)
DURATION_BUCKETS = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)

# The pool's words for a token's state, and the ones the metric uses.
TOKEN_STATES = {"ok": "healthy", "cooling": "cooling", "bad": "bad"}


class TokenStates(Collector):
    """`cursor_api_tokens{state}`, read from the pool at scrape time."""

    def __init__(self, pool: TokenPool) -> None:
        self.pool = pool

    def collect(self) -> Iterable[Metric]:
        counts = dict.fromkeys(TOKEN_STATES.values(), 0)
        for status, number in self.pool.status_counts().items():
            counts[TOKEN_STATES[status]] += number
        family = GaugeMetricFamily(
            "cursor_api_tokens", "Pool tokens by state (healthy, cooling, bad).", labels=["state"]
        )
        for state, number in counts.items():
            family.add_metric([state], number)
        yield family


class Metrics:
    """The app's metrics and the registry `/metrics` renders."""

    def __init__(self, dialect: str, pool: TokenPool) -> None:
        self.dialect = dialect
        # Replaced by the live catalog once the upstream session is up (app.py).
        self.known_models: Container[str] = BUILTIN_IDS
        self.registry = registry = CollectorRegistry()
        by_request = ("frontend", "dialect")
        self.requests = Counter(
            "cursor_api_requests",
            "Chat requests finished, by front-end, upstream dialect, model and HTTP status "
            "(499: the client hung up first).",
            ("frontend", "dialect", "model", "status"),
            registry=registry,
        )
        self.first_content = Histogram(
            "cursor_api_time_to_first_content_seconds",
            "Seconds from a request's arrival to the first answer text sent.",
            by_request,
            buckets=FIRST_CONTENT_BUCKETS,
            registry=registry,
        )
        self.duration = Histogram(
            "cursor_api_request_duration_seconds",
            "Seconds from a request's arrival to its end, whatever the outcome.",
            by_request,
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.upstream_errors = Counter(
            "cursor_api_upstream_errors",
            "Errors the Cursor upstream answered, by Cursor's error name (or Connect code).",
            ("error",),
            registry=registry,
        )
        self.failovers = Counter(
            "cursor_api_failovers",
            "Times a request moved on to the next pool token after one failed.",
            registry=registry,
        )
        self.open_streams = Gauge(
            "cursor_api_open_streams",
            "Streamed answers being sent right now.",
            ("frontend",),
            registry=registry,
        )
        self.parked_tool_runs = Gauge(
            "cursor_api_parked_tool_runs",
            "Agent turns parked while a client runs the tool calls they asked for.",
            registry=registry,
        )
        self.streamed_bytes = Counter(
            "cursor_api_streamed_bytes",
            "Bytes of streamed answers written to clients.",
            ("frontend",),
            registry=registry,
        )
        self.tasks = Gauge(
            "cursor_api_tasks",
            "asyncio tasks alive in the service (a count that grows at rest is a leak).",
            registry=registry,
        )
        # Read at scrape time, which runs in the event loop (routes/metrics.py).
        self.tasks.set_function(lambda: float(len(asyncio.all_tasks())))
        # The labelled children by label values: `labels()` validates and locks on
        # every call, a few microseconds each, five times per request. Label values are
        # bounded (see the module docstring), so these stay small.
        self._by_request: dict[
            tuple[str, str, str], tuple[Counter, Histogram, Histogram, Counter]
        ] = {}
        self._open: dict[str, Gauge] = {}
        registry.register(TokenStates(pool))
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)

    def observe(self, entry: LogEntry) -> None:
        """Count one finished request (a RequestLog `on_finish` callback)."""
        frontend = entry.frontend or OTHER
        # The Cursor model served, so mapped client ids count under what they became.
        served = entry.upstream_model or entry.model
        model = served if served in self.known_models else OTHER
        status = str(entry.http_status) if entry.http_status is not None else OTHER
        key = (frontend, model, status)
        children = self._by_request.get(key)
        if children is None:
            children = self._by_request[key] = (
                self.requests.labels(frontend, self.dialect, model, status),
                self.first_content.labels(frontend, self.dialect),
                self.duration.labels(frontend, self.dialect),
                self.streamed_bytes.labels(frontend),
            )
        requests, first_content, duration, streamed_bytes = children
        requests.inc()
        if entry.first is not None:
            first_content.observe(entry.first)
        if entry.total is not None:
            duration.observe(entry.total)
        if entry.stream and entry.sent:
            streamed_bytes.inc(entry.sent)

    def streams_open(self, frontend: str) -> Gauge:
        """`cursor_api_open_streams` of one front-end (its `track_inprogress()`)."""
        child = self._open.get(frontend)
        if child is None:
            child = self._open[frontend] = self.open_streams.labels(frontend)
        return child

    def upstream_error(self, exc: UpstreamError) -> None:
        self.upstream_errors.labels(error_label(exc)).inc()

    def count_parked(self, count: Callable[[], int]) -> None:
        """Read `cursor_api_parked_tool_runs` from the parked-run store at scrape time."""
        self.parked_tool_runs.set_function(lambda: float(count()))


def error_label(exc: UpstreamError) -> str:
    """Cursor's ERROR_ name when it is a known one, else the Connect code, else `other`."""
    if exc.error_name is not None and exc.error_name in ERROR_STATUS:
        return exc.error_name
    code = exc.connect_code
    return code.value if code is not None else OTHER
