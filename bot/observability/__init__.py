"""Operating crmcard in production: structured logs, traces and metrics, readiness.

A cross-cutting concern, like :mod:`logging`: any layer may record into it, and it imports
nothing else of crmcard. :mod:`.logs` writes one JSON line per event with the tenant,
interaction and request it belongs to; :mod:`.telemetry` holds the OpenTelemetry
instruments and sends them over OTLP or to Azure Monitor when configured.
"""
