"""audit.recorded names people by id only and carries no secret."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from contracts.events.audit import AuditAction, AuditActorV1, AuditRecordedV1


def _payload(**over: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "audit_id": uuid.uuid4(),
        "customer_id": uuid.uuid4(),
        "source": "billing",
        "actor": {"kind": "user", "id": str(uuid.uuid4())},
        "action": "data.exported",
        "target": {"invoice_id": str(uuid.uuid4())},
        "details": {"format": "csv", "rows": 12},
        "occurred_at": datetime(2026, 11, 30, tzinfo=UTC),
    }
    values.update(over)
    return values


def test_a_well_formed_record_round_trips() -> None:
    p = AuditRecordedV1.model_validate(_payload())
    assert p.action is AuditAction.DATA_EXPORTED and p.key() == str(p.customer_id)
    assert AuditRecordedV1.model_validate_json(p.model_dump_json()) == p


@pytest.mark.parametrize("key", ["email", "contact_email", "first_name", "mobile", "token"])
def test_details_that_may_carry_personal_data_or_secrets_are_refused(key: str) -> None:
    with pytest.raises(ValidationError, match="personal data or a secret"):
        AuditRecordedV1.model_validate(_payload(details={key: "x"}))


def test_an_actor_is_an_id_never_an_email_address() -> None:
    with pytest.raises(ValidationError):
        AuditActorV1(kind="user", id="ann@acme.example")


@pytest.mark.parametrize(
    "over",
    [
        {"action": "password.changed"},  # closed vocabulary
        {"target": {"user": "ann"}},  # targets are ids
        {"details": {"note": "x" * 3000}},  # small
        {"source": "notifier"},  # only the services that record
    ],
)
def test_records_outside_the_contract_are_refused(over: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        AuditRecordedV1.model_validate(_payload(**over))
