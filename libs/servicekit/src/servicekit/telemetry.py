"""OpenTelemetry: one tracer provider per process, W3C context through HTTP and Kafka.

Spans are always created (so logs carry trace ids); they are exported over OTLP/HTTP
only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

_configured = False


def configure_tracing(service: str, otlp_endpoint: str | None) -> None:
    global _configured
    if _configured:
        return
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = otlp_endpoint.rstrip("/")
        if not endpoint.endswith("/v1/traces"):
            endpoint += "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    _configured = True


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
