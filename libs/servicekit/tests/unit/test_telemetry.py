"""Which spans a service records: without an exporter none of its own, yet every request
keeps a trace id and a caller's sampled trace is still recorded and passed on."""

from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from servicekit.telemetry import sampler_for

SAMPLED_PARENT = "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"
UNSAMPLED_PARENT = "00-" + "ab" * 16 + "-" + "cd" * 8 + "-00"


def _tracer(otlp: str | None, configured: str | None) -> tuple[trace.Tracer, InMemorySpanExporter]:
    provider = TracerProvider(sampler=sampler_for(otlp, configured))
    recorded = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(recorded))
    return provider.get_tracer("test"), recorded


def test_without_an_exporter_a_request_has_a_trace_id_but_records_nothing() -> None:
    tracer, recorded = _tracer(None, None)
    with tracer.start_as_current_span("GET /v1/x") as span:
        context = span.get_span_context()
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
    assert context.is_valid and not span.is_recording()
    assert carrier["traceparent"].split("-")[1] == format(context.trace_id, "032x")
    assert recorded.get_finished_spans() == ()


def test_without_an_exporter_a_callers_sampled_trace_is_recorded_and_stays_sampled() -> None:
    tracer, recorded = _tracer(None, None)
    parent = propagate.extract({"traceparent": SAMPLED_PARENT})
    with tracer.start_as_current_span("billing.invoice.closed process", context=parent):
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
    assert carrier["traceparent"].endswith("-01")
    assert [s.name for s in recorded.get_finished_spans()] == ["billing.invoice.closed process"]

    with tracer.start_as_current_span(
        "unsampled", context=propagate.extract({"traceparent": UNSAMPLED_PARENT})
    ):
        pass
    assert len(recorded.get_finished_spans()) == 1


def test_with_an_exporter_or_a_configured_sampler_opentelemetrys_default_applies() -> None:
    assert sampler_for("http://collector:4318", None) is None
    assert sampler_for(None, "parentbased_traceidratio") is None
    tracer, recorded = _tracer("http://collector:4318", None)
    with tracer.start_as_current_span("GET /v1/x"):
        pass
    assert len(recorded.get_finished_spans()) == 1
