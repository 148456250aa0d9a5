"""Traces and metrics through OpenTelemetry, exported only where the operator says.

:func:`configure` installs exporters as the environment asks, and only then imports the
OpenTelemetry API and creates crmcard's instruments; without exporters nothing is
recorded, and the server starts without the API (some 10 ms of its start: importing it
reads the installed packages' entry points):

- ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or its ``_TRACES_`` / ``_METRICS_`` forms, with the
  other standard ``OTEL_*`` variables): spans and metrics over OTLP/HTTP;
- ``APPLICATIONINSIGHTS_CONNECTION_STRING``: Azure Monitor, through
  ``azure-monitor-opentelemetry`` (imported only then).

What is recorded: every HTTP request served (span + ``crmcard.http.server.duration`` by
route and status); every CRM call (client span + ``crmcard.crm.call.duration`` by vendor,
method and outcome); the write-back outbox's depth and oldest item age as the worker
sees them; caller lookups by outcome, whose ratio is the identification rate.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Observation

_outbox: dict[str, float] = {"depth": 0.0, "oldest_age": 0.0}


def _observe(name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
    from opentelemetry.metrics import Observation

    def callback(options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(_outbox[name])]

    return callback


class _Instruments:
    """crmcard's tracer and instruments, from the providers :func:`configure` installed."""

    def __init__(self) -> None:
        from opentelemetry import metrics, trace
        from opentelemetry.trace import SpanKind, Status, StatusCode

        self.server, self.client = SpanKind.SERVER, SpanKind.CLIENT
        self.status, self.error = Status, StatusCode.ERROR
        self.tracer = trace.get_tracer("crmcard")
        meter = metrics.get_meter("crmcard")
        self.http = meter.create_histogram(
            "crmcard.http.server.duration", unit="s", description="HTTP requests served"
        )
        self.crm = meter.create_histogram(
            "crmcard.crm.call.duration",
            unit="s",
            description="Calls to CRMs, by vendor and outcome",
        )
        self.lookups = meter.create_counter(
            "crmcard.lookups", description="Caller lookups, by outcome (identified or not)"
        )
        meter.create_observable_gauge(
            "crmcard.outbox.depth", [_observe("depth")], description="Write-backs waiting"
        )
        meter.create_observable_gauge(
            "crmcard.outbox.oldest_age",
            [_observe("oldest_age")],
            unit="s",
            description="Age of the oldest write-back waiting",
        )


_recording: _Instruments | None = None
"""Set by :func:`configure` when it installs exporters; until then nothing is recorded."""


@contextlib.contextmanager
def http_request(method: str, route: str) -> Iterator[dict[str, Any]]:
    """A server span around one request; the caller puts ``status`` into the dict."""
    outcome: dict[str, Any] = {"status": 500}
    on = _recording
    if on is None:
        yield outcome
        return
    started = time.perf_counter()
    with on.tracer.start_as_current_span(
        f"{method} {route}", kind=on.server, record_exception=False
    ) as span:
        try:
            yield outcome
        finally:
            status = int(outcome["status"])
            span.set_attribute("http.request.method", method)
            span.set_attribute("http.route", route)
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(on.status(on.error))
            on.http.record(
                time.perf_counter() - started,
                {"http.request.method": method, "http.route": route, "status": status},
            )


@contextlib.contextmanager
def crm_call(vendor: str, method: str) -> Iterator[dict[str, str]]:
    """A client span around one logical CRM call; ``outcome`` is "ok" unless set."""
    outcome = {"outcome": "ok"}
    on = _recording
    if on is None:
        yield outcome
        return
    started = time.perf_counter()
    with on.tracer.start_as_current_span(
        f"{vendor} {method}", kind=on.client, record_exception=False
    ) as span:
        try:
            yield outcome
        except BaseException as error:
            if outcome["outcome"] == "ok":
                outcome["outcome"] = type(error).__name__
            raise
        finally:
            span.set_attribute("crm.vendor", vendor)
            span.set_attribute("crm.outcome", outcome["outcome"])
            if outcome["outcome"] != "ok":
                span.set_status(on.status(on.error, outcome["outcome"]))
            on.crm.record(
                time.perf_counter() - started,
                {"crm.vendor": vendor, "http.request.method": method, **outcome},
            )


def lookup_done(identified: bool) -> None:
    if _recording is not None:
        _recording.lookups.add(1, {"identified": identified})


def outbox_seen(depth: int, oldest_age: float) -> None:
    _outbox["depth"] = float(depth)
    _outbox["oldest_age"] = max(0.0, oldest_age)


_OTLP = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
)


def configure(environ: dict[str, str] | None = None) -> Callable[[], None]:
    """Install exporters as the environment asks, and record from then on; returns what
    flushes them at shutdown."""
    global _recording
    env = os.environ if environ is None else environ
    connection = env.get("APPLICATIONINSIGHTS_CONNECTION_STRING")
    if connection:
        from azure.monitor.opentelemetry import configure_azure_monitor

        configure_azure_monitor(connection_string=connection, logger_name="crmcard")
        _recording = _Instruments()
        return _flush_global
    if not any(env.get(name) for name in _OTLP):
        return lambda: None
    from opentelemetry import metrics, trace
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME", "crmcard")})
    spans = TracerProvider(resource=resource)
    spans.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(spans)
    meters = MeterProvider(
        resource=resource, metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())]
    )
    metrics.set_meter_provider(meters)
    _recording = _Instruments()
    return _flush_global


def _flush_global() -> None:
    from opentelemetry import metrics, trace

    for provider in (trace.get_tracer_provider(), metrics.get_meter_provider()):
        shutdown = getattr(provider, "shutdown", None)
        if shutdown is not None:
            shutdown()
