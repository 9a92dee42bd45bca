import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from uuid import RFC_4122, UUID, uuid4

import pytest
from pydantic import ValidationError

from contracts import (
    CLOUDEVENTS_JSON,
    CloudEvent,
    InvalidEvent,
    InvoiceClosedV1,
    UnknownEvent,
    UsageRecordV1,
    new_event,
    parse_data,
    service_source,
)
from contracts.base import registered_payloads
from contracts.envelope import encode_events, parse_event_as
from contracts.events.billing import UsageRatedV1
from contracts.examples import EXAMPLES, example

SOURCE = service_source("billing")


def invoice_event(**kwargs) -> CloudEvent:
    return new_event(example(InvoiceClosedV1), source=SOURCE, **kwargs)


def raw_event(**overrides) -> dict:
    raw = invoice_event().to_dict()
    raw.update(overrides)
    return raw


def test_content_type_is_structured_cloudevents_json():
    assert CLOUDEVENTS_JSON == "application/cloudevents+json"


def test_new_event_takes_type_and_dataschema_from_the_payload_class():
    event = invoice_event()
    assert event.specversion == "1.0"
    assert event.type == "invoice.closed"
    assert event.dataschema == "urn:portal:events:invoice.closed:v1"
    assert event.schema_version == 1
    assert event.source == "/services/billing"
    assert event.datacontenttype == "application/json"
    UUID(event.id)
    assert event.time.tzinfo is not None


def test_new_event_subject_defaults_to_the_entity_id_and_can_be_overridden():
    payload = example(InvoiceClosedV1)
    assert invoice_event().subject == str(payload.invoice_id)
    assert invoice_event(subject="other").subject == "other"


def test_new_event_uses_given_id_and_time():
    event_id = uuid4()
    at = datetime(2026, 11, 2, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    event = invoice_event(event_id=event_id, time=at)
    assert event.id == str(event_id)
    assert event.time == at


def test_new_event_refuses_a_naive_time():
    with pytest.raises(ValueError):
        invoice_event(time=datetime(2026, 11, 2, 10, 0))


def test_envelope_round_trips_through_bytes():
    event = invoice_event(extensions={"partitionkey": "abc", "retries": 2})
    raw = event.to_bytes()
    assert isinstance(raw, bytes)
    back = CloudEvent.from_bytes(raw)
    assert back == event
    assert back.to_bytes() == raw
    assert parse_data(back) == example(InvoiceClosedV1)


def test_envelope_round_trips_through_a_dict():
    event = invoice_event()
    assert CloudEvent.from_dict(json.loads(json.dumps(event.to_dict()))) == event


def test_unknown_envelope_attributes_are_kept_as_extensions():
    raw = json.dumps(raw_event(traceparent="00-abc-def-01", comexampleext=5)).encode()
    event = CloudEvent.from_bytes(raw)
    assert event.extensions == {"traceparent": "00-abc-def-01", "comexampleext": 5}
    assert json.loads(event.to_bytes())["comexampleext"] == 5


def test_unset_subject_is_left_out_of_the_json():
    event = new_event(example(InvoiceClosedV1), source=SOURCE).model_copy(update={"subject": None})
    assert "subject" not in json.loads(event.to_bytes())


def test_event_id_is_normalized_to_canonical_uuid():
    event_id = uuid4()
    raw = json.dumps(raw_event(id=str(event_id).upper())).encode()
    assert CloudEvent.from_bytes(raw).id == str(event_id)


def test_extension_names_must_follow_cloudevents_naming():
    with pytest.raises(ValueError, match="extension attribute"):
        invoice_event(extensions={"Trace-Parent": "x"})
    with pytest.raises(ValueError, match="extension attribute"):
        invoice_event(extensions={"type": "x"})


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b'{"specversion": "1.0",',
        b"[]",
        b'"a string"',
        json.dumps({k: v for k, v in raw_event().items() if k != "id"}).encode(),
        json.dumps({k: v for k, v in raw_event().items() if k != "type"}).encode(),
        json.dumps({k: v for k, v in raw_event().items() if k != "data"}).encode(),
        json.dumps({k: v for k, v in raw_event().items() if k != "specversion"}).encode(),
        json.dumps(raw_event(specversion="0.3")).encode(),
        json.dumps(raw_event(id="not-a-uuid")).encode(),
        json.dumps(raw_event(time="2026-11-02T10:00:00")).encode(),
        json.dumps(raw_event(data="text")).encode(),
        json.dumps(raw_event(datacontenttype="text/plain")).encode(),
    ],
    ids=[
        "empty",
        "not-json",
        "truncated",
        "array",
        "string",
        "no-id",
        "no-type",
        "no-data",
        "no-specversion",
        "old-specversion",
        "id-not-uuid",
        "naive-time",
        "data-not-object",
        "data-not-json",
    ],
)
def test_malformed_bytes_raise_invalid_event(raw):
    with pytest.raises(InvalidEvent) as excinfo:
        CloudEvent.from_bytes(raw)
    assert str(excinfo.value).startswith("invalid CloudEvent")
    assert excinfo.value.errors


def test_invalid_event_message_does_not_echo_field_values():
    secret = "an.peeters@example.be"
    raw = json.dumps(raw_event(id=secret)).encode()
    with pytest.raises(InvalidEvent) as excinfo:
        CloudEvent.from_bytes(raw)
    assert secret not in str(excinfo.value)


def test_unknown_fields_in_data_are_ignored():
    data = dict(
        invoice_event().data,
        discount_code="WINTER",
        totals={**invoice_event().data["totals"], "rounding": "0.00"},
    )
    event = CloudEvent.from_dict(raw_event(data=data))
    payload = parse_data(event)
    assert payload == example(InvoiceClosedV1)
    assert not hasattr(payload, "discount_code")


def test_parse_data_returns_the_registered_class():
    payload = parse_data(invoice_event())
    assert isinstance(payload, InvoiceClosedV1)


def test_parse_data_with_expected_class_rejects_another_type():
    with pytest.raises(UnknownEvent, match="expected UsageRecordV1"):
        parse_data(invoice_event(), UsageRecordV1)


def test_unknown_type_raises_unknown_event():
    event = CloudEvent.from_dict(
        raw_event(type="invoice.reopened", dataschema="urn:portal:events:invoice.reopened:v1")
    )
    with pytest.raises(UnknownEvent) as excinfo:
        parse_data(event)
    assert (excinfo.value.event_type, excinfo.value.version) == ("invoice.reopened", 1)


def test_unknown_version_raises_unknown_event():
    event = CloudEvent.from_dict(raw_event(dataschema="urn:portal:events:invoice.closed:v99"))
    with pytest.raises(UnknownEvent):
        parse_data(event)


def test_unknown_event_is_an_invalid_event():
    assert issubclass(UnknownEvent, InvalidEvent)


@pytest.mark.parametrize(
    "dataschema",
    [
        "https://example.com/schema.json",
        "urn:portal:events:invoice.closed:1",
        "urn:portal:events:user.created:v1",
    ],
)
def test_dataschema_not_naming_this_type_and_version_is_invalid(dataschema):
    event = CloudEvent.from_dict(raw_event(dataschema=dataschema))
    with pytest.raises(InvalidEvent):
        parse_data(event)


def test_data_failing_validation_raises_invalid_event():
    data = dict(invoice_event().data, period="2026-13")
    with pytest.raises(InvalidEvent, match="period"):
        parse_data(CloudEvent.from_dict(raw_event(data=data)))


def test_time_is_serialized_as_rfc3339_with_offset():
    at = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    assert json.loads(invoice_event(time=at).to_bytes())["time"] == "2026-11-02T09:30:00Z"


# encode_events: the bytes of new_event(...).to_bytes(), without the models.


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 11, 2, 9, 30, 1, 123456, tzinfo=UTC),
        datetime(2026, 11, 2, 9, 30, tzinfo=UTC),  # no fraction: "...:00Z"
        datetime(2026, 11, 2, 10, 30, 0, 5, tzinfo=timezone(timedelta(hours=1))),
    ],
)
def test_encode_events_gives_new_events_bytes_for_every_payload_example(at):
    payloads = [EXAMPLES[cls] for cls in registered_payloads().values() if cls in EXAMPLES]
    assert len(payloads) > 10
    encoded = encode_events(payloads, source=SOURCE, time=at)
    assert len({event_id for event_id, _ in encoded}) == len(payloads)
    for payload, (event_id, value) in zip(payloads, encoded, strict=True):
        expected = new_event(payload, source=SOURCE, event_id=event_id, time=at)
        assert UUID(event_id).version == 4
        assert value == expected.to_bytes()
        assert CloudEvent.from_bytes(value) == expected
        assert parse_data(CloudEvent.from_bytes(value)) == payload


def test_encode_events_of_unvalidated_payloads_and_awkward_strings():
    at = datetime.now(UTC)
    rated = UsageRatedV1.model_construct(
        record_id='r\u00e9c\u00f6rd "1"\\\x01\U0001f4de',
        customer_id=uuid4(),
        billing_account_id=uuid4(),
        sim_id=None,
        line="+32470000001",
        kind="voice",
        started_at=datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=UTC),
        quantity=61,
        amount=Decimal("0.20"),
        period="2026-11",
    )
    [(event_id, value)] = encode_events([rated], source=SOURCE, time=at)
    expected = new_event(rated, source=SOURCE, event_id=event_id, time=at)
    assert value == expected.to_bytes()
    assert CloudEvent.from_bytes(value).subject == rated.record_id
    # Without a time, now (UTC), the same for every event of the call.
    before = datetime.now(UTC)
    times = {CloudEvent.from_bytes(v).time for _, v in encode_events([rated, rated], source=SOURCE)}
    assert len(times) == 1 and before <= times.pop() <= datetime.now(UTC)
    assert encode_events([], source=SOURCE) == []


def test_encode_events_refuses_what_new_event_refuses():
    rated = UsageRatedV1.model_construct(**example(UsageRatedV1).model_dump())
    with pytest.raises(ValidationError):
        encode_events([rated], source="")
    with pytest.raises(ValidationError):
        encode_events([rated], source=SOURCE, time=datetime(2026, 11, 2, 9, 30))  # naive
    empty_subject = UsageRatedV1.model_construct(**{**rated.model_dump(), "record_id": ""})
    with pytest.raises(ValidationError):
        encode_events([rated, empty_subject], source=SOURCE)


def test_encode_events_ids_are_distinct_canonical_uuid4s():
    rated = example(UsageRatedV1)
    ids = [event_id for event_id, _ in encode_events([rated] * 2000, source=SOURCE)]
    assert len(set(ids)) == 2000
    for event_id in ids:
        parsed = UUID(event_id)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, RFC_4122, event_id)


@pytest.mark.parametrize("cls", sorted(EXAMPLES, key=lambda c: c.__qualname__))
def test_parse_event_as_reads_every_example_as_from_bytes_and_parse_data_do(cls):
    raw = new_event(example(cls), source=SOURCE, extensions={"traceparent2": "x"}).to_bytes()
    read = parse_event_as(raw, cls)
    assert read is not None
    event, payload = read
    generic = CloudEvent.from_bytes(raw)
    assert isinstance(event, CloudEvent) and payload is event.data
    assert payload == parse_data(generic)
    assert event.model_dump(exclude={"data"}) == generic.model_dump(exclude={"data"})
    assert event.extensions == generic.extensions == {"traceparent2": "x"}


def test_parse_event_as_declines_another_type_another_version_and_invalid_events():
    event = new_event(example(UsageRecordV1), source=SOURCE)
    raw = event.to_bytes()
    assert parse_event_as(raw, UsageRatedV1) is None  # another type
    v2 = raw.replace(b":usage.records:v1", b":usage.records:v2")
    assert v2 != raw and parse_event_as(v2, UsageRecordV1) is None  # another version
    missing = event.to_dict()
    del missing["data"]["line"]
    assert parse_event_as(json.dumps(missing).encode(), UsageRecordV1) is None
    with pytest.raises(InvalidEvent):  # the generic path says why
        parse_data(CloudEvent.from_dict(missing))
    assert parse_event_as(b"{not json", UsageRecordV1) is None
