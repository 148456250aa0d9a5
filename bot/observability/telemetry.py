"""Traces and metrics through OpenTelemetry, exported only where the operator says.

Instruments are created from the OpenTelemetry API at import and cost next to nothing
until :func:`configure` installs providers:

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
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import SpanKind, Status, StatusCode

_meter = metrics.get_meter("crmcard")
tracer = trace.get_tracer("crmcard")

_http = _meter.create_histogram(
    "crmcard.http.server.duration", unit="s", description="HTTP requests served"
)
_crm = _meter.create_histogram(
    "crmcard.crm.call.duration", unit="s", description="Calls to CRMs, by vendor and outcome"
)
_lookups = _meter.create_counter(
    "crmcard.lookups", description="Caller lookups, by outcome (identified or not)"
)
_outbox: dict[str, float] = {"depth": 0.0, "oldest_age": 0.0}


def _observe(name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def callback(options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(_outbox[name])]

    return callback


_meter.create_observable_gauge(
    "crmcard.outbox.depth", [_observe("depth")], description="Write-backs waiting"
)
_meter.create_observable_gauge(
    "crmcard.outbox.oldest_age",
    [_observe("oldest_age")],
    unit="s",
    description="Age of the oldest write-back waiting",
)


_NOT_TRACED: contextlib.nullcontext[trace.Span] = contextlib.nullcontext(trace.INVALID_SPAN)


def _span(name: str, kind: SpanKind) -> contextlib.AbstractContextManager[trace.Span]:
    """A current span, or, until a tracer provider is installed, a span that records
    nothing without making one (the API's no-op span still sets and resets the current
    context: 2% of a card's CPU with six CRM calls)."""
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return _NOT_TRACED
    return tracer.start_as_current_span(name, kind=kind, record_exception=False)


@contextlib.contextmanager
def http_request(method: str, route: str) -> Iterator[dict[str, Any]]:
    """A server span around one request; the caller puts ``status`` into the dict."""
    outcome: dict[str, Any] = {"status": 500}
    started = time.perf_counter()
    with _span(f"{method} {route}", SpanKind.SERVER) as span:
        try:
            yield outcome
        finally:
            status = int(outcome["status"])
            span.set_attribute("http.request.method", method)
            span.set_attribute("http.route", route)
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR))
            _http.record(
                time.perf_counter() - started,
                {"http.request.method": method, "http.route": route, "status": status},
            )


@contextlib.contextmanager
def crm_call(vendor: str, method: str) -> Iterator[dict[str, str]]:
    """A client span around one logical CRM call; ``outcome`` is "ok" unless set."""
    outcome = {"outcome": "ok"}
    started = time.perf_counter()
    with _span(f"{vendor} {method}", SpanKind.CLIENT) as span:
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
                span.set_status(Status(StatusCode.ERROR, outcome["outcome"]))
            _crm.record(
                time.perf_counter() - started,
                {"crm.vendor": vendor, "http.request.method": method, **outcome},
            )


def lookup_done(identified: bool) -> None:
    _lookups.add(1, {"identified": identified})


def outbox_seen(depth: int, oldest_age: float) -> None:
    _outbox["depth"] = float(depth)
    _outbox["oldest_age"] = max(0.0, oldest_age)


_OTLP = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
)


def configure(environ: dict[str, str] | None = None) -> Callable[[], None]:
    """Install exporters as the environment asks; returns what flushes them at shutdown."""
    env = os.environ if environ is None else environ
    connection = env.get("APPLICATIONINSIGHTS_CONNECTION_STRING")
    if connection:
        from azure.monitor.opentelemetry import configure_azure_monitor

        configure_azure_monitor(connection_string=connection, logger_name="crmcard")
        return _flush_global
    if not any(env.get(name) for name in _OTLP):
        return lambda: None
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
    return _flush_global


def _flush_global() -> None:
    for provider in (trace.get_tracer_provider(), metrics.get_meter_provider()):
        shutdown = getattr(provider, "shutdown", None)
        if shutdown is not None:
            shutdown()
