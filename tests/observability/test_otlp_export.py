"""``crmcard serve`` with ``OTEL_EXPORTER_OTLP_ENDPOINT`` sends traces and metrics there.

A local OTLP/HTTP collector (the protocol's protobuf bodies on ``/v1/traces`` and
``/v1/metrics``, as the OpenTelemetry specification's OTLP/HTTP section defines them)
receives what a real server exports: the spans of the requests it served and the
request-duration metric, flushed when the server stops.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.activities import interaction_event
from tests.e2e.conftest import _clean_env, _free_port, _http_ok
from tests.writeback.test_kill_mid_delivery import wait_for


class Collector:
    def __init__(self) -> None:
        self.spans: list[str] = []
        self.metrics: list[str] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/traces", self.traces)
        app.router.add_post("/v1/metrics", self.metric)
        return app

    async def traces(self, request: web.Request) -> web.Response:
        body = ExportTraceServiceRequest.FromString(await request.read())
        for resource in body.resource_spans:
            for scope in resource.scope_spans:
                self.spans.extend(span.name for span in scope.spans)
        return web.Response(content_type="application/x-protobuf")

    async def metric(self, request: web.Request) -> web.Response:
        body = ExportMetricsServiceRequest.FromString(await request.read())
        for resource in body.resource_metrics:
            for scope in resource.scope_metrics:
                self.metrics.extend(metric.name for metric in scope.metrics)
        return web.Response(content_type="application/x-protobuf")


async def test_served_requests_reach_the_otlp_collector(
    aiohttp_server: Callable[..., Any], tmp_path: Path
) -> None:
    collector = Collector()
    server = await aiohttp_server(collector.app())
    port = _free_port()
    log = tmp_path / "serve.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"],
        cwd=tmp_path,
        env=_clean_env(
            CRMCARD_PORT=str(port),
            CRMCARD_DATA_DIR=str(tmp_path / "data"),
            OTEL_EXPORTER_OTLP_ENDPOINT=str(server.make_url("")).rstrip("/"),
            OTEL_SERVICE_NAME="crmcard-test",
        ),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: _http_ok(f"http://127.0.0.1:{port}/healthz"), process, log)
        async with aiohttp.ClientSession() as session:
            payload = interaction_event("call-1", "assigned")
            async with session.post(
                f"http://127.0.0.1:{port}/api/interactions",
                json=payload,
                headers={"X-Api-Key": "demo-key"},
            ) as response:
                assert response.status == 202
    finally:
        process.send_signal(signal.SIGTERM)  # a graceful stop flushes the exporters
        # Waited for off the loop: the collector on this loop must answer the flush.
        await asyncio.wait_for(asyncio.to_thread(process.wait), 60)
    assert "GET /healthz" in collector.spans, log.read_text()[-2000:]
    assert "POST /api/interactions" in collector.spans
    assert "crmcard.http.server.duration" in collector.metrics
