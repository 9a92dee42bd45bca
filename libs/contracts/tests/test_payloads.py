import json
from datetime import datetime
from decimal import Decimal
from uuid import uuid4

import pytest
from pydantic import ValidationError

from contracts import (
    EventPayload,
    InvoiceClosedV1,
    NotificationRequestedV1,
    UsageRatedV1,
    UsageRatedV2,
    UsageRecordV1,
    UserCreatedV1,
    new_event,
    parse_data,
    registered_payloads,
)
from contracts.events import CataloguePublishedV1, InvoiceTotalsV1, RecipientV1
from contracts.examples import EXAMPLES, example, missing_examples
from contracts.topics import CATALOGUE


def test_every_registered_payload_has_an_example():
    assert missing_examples() == []


def test_registered_payload_names_end_in_their_version():
    for (event_type, version), cls in registered_payloads().items():
        assert cls.__name__.endswith(f"V{version}"), cls
        assert cls.event_type == event_type


@pytest.mark.parametrize("payload", list(EXAMPLES.values()), ids=lambda p: type(p).__name__)
def test_every_example_round_trips_through_an_event(payload):
    event = new_event(payload, source="/services/test")
    assert parse_data(type(event).from_bytes(event.to_bytes())) == payload


def test_money_serializes_as_a_decimal_string():
    invoice = example(InvoiceClosedV1)
    totals = invoice.model_dump(mode="json")["totals"]
    assert totals == {"total_excl_vat": "100.00", "vat": "21.00", "total_incl_vat": "121.00"}
    assert json.loads(invoice.model_dump_json())["totals"]["vat"] == "21.00"
    rated = example(UsageRatedV1).model_copy(update={"amount": Decimal("1E+1")})
    assert rated.model_dump(mode="json")["amount"] == "10"


def test_money_keeps_decimal_in_python():
    assert isinstance(example(InvoiceClosedV1).totals.vat, Decimal)


@pytest.mark.parametrize("bad", [12.34, "12,34", "NaN", "Infinity", "abc", True])
def test_money_refuses_floats_and_non_decimals(bad):
    with pytest.raises(ValidationError):
        InvoiceTotalsV1(total_excl_vat=bad, vat="0", total_incl_vat="12.34")


def test_money_accepts_decimal_strings_and_ints():
    totals = InvoiceTotalsV1(total_excl_vat="100", vat="21.00", total_incl_vat=121)
    assert totals.total_incl_vat == Decimal("121")


def test_invoice_totals_must_add_up():
    with pytest.raises(ValidationError, match="total_incl_vat"):
        InvoiceTotalsV1(total_excl_vat="100.00", vat="21.00", total_incl_vat="120.00")


@pytest.mark.parametrize("period", ["2026-00", "2026-13", "26-10", "2026/10", "2026-1"])
def test_period_must_be_year_and_month(period):
    data = example(InvoiceClosedV1).model_dump(mode="json") | {"period": period}
    with pytest.raises(ValidationError):
        InvoiceClosedV1.model_validate(data)


def test_times_must_be_timezone_aware():
    data = example(InvoiceClosedV1).model_dump(mode="json") | {"issued_at": "2026-11-02T09:30"}
    with pytest.raises(ValidationError):
        InvoiceClosedV1.model_validate(data)
    with pytest.raises(ValidationError):
        example(InvoiceClosedV1).model_validate(
            example(InvoiceClosedV1).model_dump() | {"issued_at": datetime(2026, 11, 2)}
        )


def test_unknown_fields_are_ignored_also_in_nested_models():
    data = example(UserCreatedV1).model_dump(mode="json")
    data["new_field"] = 1
    data["contract"]["grade"] = "B"
    assert UserCreatedV1.model_validate(data) == example(UserCreatedV1)


def test_payloads_are_immutable():
    with pytest.raises(ValidationError):
        example(InvoiceClosedV1).number = "X"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kind", "quantity_field"),
    [("voice", "duration_s"), ("sms", "count"), ("data", "volume_bytes")],
)
def test_usage_record_requires_the_quantity_matching_its_kind(kind, quantity_field):
    base = example(UsageRecordV1).model_dump(mode="json") | {
        "kind": kind,
        "duration_s": None,
        "volume_bytes": None,
        "count": None,
    }
    with pytest.raises(ValidationError, match=quantity_field):
        UsageRecordV1.model_validate(base)
    others = {"duration_s", "count", "volume_bytes"} - {quantity_field}
    with pytest.raises(ValidationError):
        UsageRecordV1.model_validate(base | {name: 10 for name in others})
    record = UsageRecordV1.model_validate(base | {quantity_field: 42})
    assert record.quantity == 42


def test_usage_record_quantities_cannot_be_negative():
    data = example(UsageRecordV1).model_dump(mode="json") | {"duration_s": -1}
    with pytest.raises(ValidationError):
        UsageRecordV1.model_validate(data)


def test_key_is_the_customer_id():
    for cls, payload in EXAMPLES.items():
        if cls in (UsageRecordV1, CataloguePublishedV1, UsageRatedV2):
            continue
        assert payload.key() == str(payload.customer_id), cls  # type: ignore[attr-defined]


def test_key_of_usage_records_is_the_billing_account_id():
    record = example(UsageRecordV1)
    assert record.key() == str(record.billing_account_id)


def test_key_of_the_price_catalogue_is_the_catalogue_so_versions_stay_in_order():
    assert example(CataloguePublishedV1).key() == "mobile"


def test_key_matches_the_catalogue_key_field():
    """The catalogue names the key of the version producers write now; an older version
    keeps the key it was published with (usage.rated v1: the customer)."""
    for cls, payload in EXAMPLES.items():
        spec = CATALOGUE[cls.event_type]
        key = spec.key if cls is spec.payload else "customer_id"
        assert payload.key() == str(getattr(payload, key)), cls


def test_a_rated_usage_batch_is_keyed_by_its_id_and_holds_one_to_a_thousand_records():
    batch = example(UsageRatedV2)
    assert batch.key() == str(batch.batch_id)
    data = batch.model_dump(mode="json")
    with pytest.raises(ValidationError):
        UsageRatedV2.model_validate({**data, "records": []})
    with pytest.raises(ValidationError):
        UsageRatedV2.model_validate({**data, "records": data["records"][:1] * 1001})
    assert (
        len(UsageRatedV2.model_validate({**data, "records": data["records"][:1] * 1000}).records)
        == 1000
    )


def test_recipient_needs_an_address_or_a_user():
    with pytest.raises(ValidationError):
        RecipientV1()


def test_notification_request_needs_an_address_for_its_channel():
    data = example(NotificationRequestedV1).model_dump(mode="json")
    data["channel"] = "sms"
    data["attachments"] = []
    with pytest.raises(ValidationError, match=r"to\.mobile"):
        NotificationRequestedV1.model_validate(data)
    data["to"] = {"user_id": str(uuid4())}
    assert NotificationRequestedV1.model_validate(data).to.mobile is None


def test_public_events_carry_no_secret_or_address_fields():
    forbidden = {"password", "token", "link", "url", "iban", "secret"}
    address_free = {"notification.sent", "notification.failed", "einvoice.channel.changed"}
    for (event_type, _), cls in registered_payloads().items():
        if event_type == "notification.requested":
            continue
        schema = json.dumps(cls.model_json_schema()["properties"]).lower()
        names = set(cls.model_fields)
        assert not {n for n in names if any(word in n for word in forbidden)}, cls
        if event_type in address_free:
            assert "email" not in names and "mobile" not in names, cls
        assert "iban" not in schema, cls


def test_defining_a_second_class_for_the_same_version_fails():
    with pytest.raises(TypeError, match="both claim"):

        class Duplicate(EventPayload):
            event_type = "invoice.closed"
            version = 1


def test_event_type_of_a_payload_must_look_like_a_topic():
    with pytest.raises(TypeError, match="event_type"):

        class Bad(EventPayload):
            event_type = "NoDots"
            version = 1
