"""OpenTelemetry: one tracer provider per process, W3C context through HTTP and Kafka.

Every request and event has a trace context (so logs, ``X-Trace-Id`` and the events'
``traceparent`` carry trace ids). Spans are recorded and exported over OTLP/HTTP when
``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, sampled as ``OTEL_TRACES_SAMPLER`` says
(OpenTelemetry's default: the parent's decision, else always). Without an exporter a
service records no trace of its own (recording spans nobody exports cost about 4 % of a
hot read's CPU, docs/benchmarks.md) but still records within a trace a caller sampled,
so the caller's decision travels on.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, Sampler

_configured = False


def configure_tracing(service: str, otlp_endpoint: str | None) -> None:
    global _configured
    if _configured:
        return
    provider = TracerProvider(
        resource=Resource.create({"service.name": service}),
        sampler=sampler_for(otlp_endpoint, os.environ.get("OTEL_TRACES_SAMPLER")),
    )
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = otlp_endpoint.rstrip("/")
        if not endpoint.endswith("/v1/traces"):
            endpoint += "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    _configured = True


def sampler_for(otlp_endpoint: str | None, configured: str | None) -> Sampler | None:
    """None (OpenTelemetry's sampler from the environment) when spans are exported or a
    sampler is configured; else record only within traces a caller sampled."""
    if otlp_endpoint or configured:
        return None
    return ParentBased(root=ALWAYS_OFF)


def tracer(name: str = "servicekit") -> trace.Tracer:
    return trace.get_tracer(name)


def current_trace_headers() -> dict[str, str]:
    """``traceparent`` (and ``tracestate``) of the current span, to store with an event."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def context_from_kafka_headers(headers: Iterable[tuple[str, bytes]] | None) -> Context:
    carrier = {k: v.decode("latin-1") for k, v in (headers or []) if v is not None}
    return propagate.extract(carrier)


def context_from_mapping(carrier: Mapping[str, str]) -> Context:
    return propagate.extract(dict(carrier))
