"""Against PostgreSQL, Kafka and the SMTP / SMS sinks: notification.requested events go
in through Kafka, mails and SMS come out at the sinks, outcomes go back out on Kafka."""

import asyncio
import json
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from notifier_factories import (
    confirm_url,
    confirmation_request,
    invoice_mail_request,
    invoice_sms_request,
    sim_change_request,
    unique_email,
    unique_mobile,
    user_created,
)

from contracts.envelope import CloudEvent
from contracts.events.notification import RecipientV1

from .conftest import PDF, Stack

pytestmark = pytest.mark.integration


async def the_notification(stack: Stack, request_id: uuid.UUID, status: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        items = await stack.notifications(request_id=str(request_id))
        return items[0] if items and items[0]["status"] == status else None

    result: dict[str, Any] = await stack.wait_for(check, f"notification {status}")
    return result


async def next_event(consumer: AIOKafkaConsumer, notification_id: str) -> CloudEvent:
    deadline = asyncio.get_running_loop().time() + 15
    while asyncio.get_running_loop().time() < deadline:
        batches = await consumer.getmany(timeout_ms=500)
        for records in batches.values():
            for record in records:
                event = CloudEvent.from_bytes(record.value)
                if event.data.get("notification_id") == notification_id:
                    return event
    raise AssertionError("event not published")


async def test_requested_twice_gives_exactly_one_mail(stack: Stack, published: Any) -> None:
    sent_events = await published("notification.sent")
    address = unique_email()
    payload = confirmation_request(
        to=RecipientV1(email=address),
        locale="nl",
        params={"confirm_url": confirm_url(), "first_name": "Anne", "company_name": "Acme & Zonen"},
    )
    event = await stack.publish(payload)
    await stack.publish(payload, event)  # the very same event, delivered twice
    await stack.publish(payload)  # the same request under another event id

    n = await the_notification(stack, payload.request_id, "sent")
    mails = await stack.wait_for(lambda: stack.mails_to(address), "the mail")
    await asyncio.sleep(1.0)  # room for a duplicate to show up, if there were one
    mails = await stack.mails_to(address)
    assert len(mails) == 1
    [mail] = mails
    assert mail["message_id"] == f"<{n['notification_id']}@portal.local>"
    assert mail["subject"] == "Bevestig je MyPortal-account"
    assert payload.params["confirm_url"] in mail["text"]
    assert "Acme &amp; Zonen" in mail["html"]
    assert len(await stack.notifications(request_id=str(payload.request_id))) == 1
    assert n["attempts"] == 1 and n["source_event_id"] == event.id

    out = await next_event(sent_events, n["notification_id"])
    assert out.data["request_id"] == str(payload.request_id)
    raw = json.dumps(out.data)
    token = payload.params["confirm_url"].rsplit("=", 1)[1]
    assert address not in raw and token not in raw  # no address, no one-time link


async def test_sms_reaches_the_gateway(stack: Stack) -> None:
    mobile = unique_mobile()
    payload = invoice_sms_request(mobile)
    await stack.publish(payload)
    [sms] = await stack.wait_for(lambda: stack.sms_to(mobile), "the sms")
    assert "F2026-9" in sms["text"] and "€60.50" in sms["text"]
    n = await the_notification(stack, payload.request_id, "sent")
    assert n["channel"] == "sms" and n["to"] == mobile[:4] + "***" + mobile[-2:]
    # By number, whether or not the client encoded the "+".
    assert [i["notification_id"] for i in await stack.notifications(recipient=mobile)] == [
        n["notification_id"]
    ]
    raw = await stack.client.get(
        f"/v1/operator/notifications?recipient={mobile}", headers=stack.operator()
    )
    assert [i["notification_id"] for i in raw.json()["items"]] == [n["notification_id"]]


async def test_invoice_mail_has_the_pdf_attached(stack: Stack) -> None:
    address, invoice_id = unique_email(), uuid.uuid4()
    stack.billing.invoices.add(str(invoice_id))
    payload = invoice_mail_request(
        invoice_id,
        locale="fr",
        to=RecipientV1(email=address),
        params={
            "invoice_number": "F2026-000123",
            "period": "2026-10",
            "total_incl_vat": "121.00",
            "due_date": "2026-11-30",
        },
    )
    await stack.publish(payload)
    [mail] = await stack.wait_for(lambda: stack.mails_to(address), "the invoice mail")
    assert mail["attachments"] == [
        {
            "filename": "invoice-F2026-000123.pdf",
            "content_type": "application/pdf",
            "size": len(PDF),
        }
    ]
    assert "121,00 €" in mail["text"].replace("\u202f", " ")
    fetches = [r for r in stack.billing.requests if str(invoice_id) in r.url.path]
    assert fetches and fetches[0].headers["authorization"] == "Bearer test-service-token"


async def test_missing_pdf_is_retried_then_sent(stack: Stack) -> None:
    address, invoice_id = unique_email(), uuid.uuid4()
    payload = invoice_mail_request(
        invoice_id,
        locale="nl",
        to=RecipientV1(email=address),
        params={
            "invoice_number": "F7",
            "period": "2026-10",
            "total_incl_vat": "1.00",
            "due_date": "2026-11-30",
        },
    )
    await stack.publish(payload)

    async def retried() -> bool:
        items = await stack.notifications(request_id=str(payload.request_id))
        return bool(items) and items[0]["attempts"] >= 1 and items[0]["status"] == "pending"

    await stack.wait_for(retried, "a failed PDF fetch")
    stack.billing.invoices.add(str(invoice_id))  # billing has rendered it now
    n = await the_notification(stack, payload.request_id, "sent")
    assert n["attempts"] >= 2 and "billing answered 404" in n["last_error"]
    assert len(await stack.mails_to(address)) == 1


async def test_failing_sms_gateway_is_retried_and_sends_once(stack: Stack) -> None:
    mobile = unique_mobile()
    resp = await stack.sink.post("/api/sms/fail-next", json={"count": 2, "status": 503})
    assert resp.status_code == 200
    payload = invoice_sms_request(mobile)
    await stack.publish(payload)
    n = await the_notification(stack, payload.request_id, "sent")
    # A 503 is the gateway's outage, not the message's failure: the two failed tries are
    # given back, so the message shows the one attempt that went through.
    assert n["attempts"] == 1
    assert n["last_error"] == "sms gateway answered 503"
    await asyncio.sleep(0.5)
    assert len(await stack.sms_to(mobile)) == 1


async def test_permanent_failures_are_visible_and_published(stack: Stack, published: Any) -> None:
    failed_events = await published("notification.failed")
    unknown = confirmation_request(template="no_such_template")
    await stack.publish(unknown)
    n = await the_notification(stack, unknown.request_id, "failed")
    assert n["attempts"] == 0 and "unknown template" in n["last_error"]
    failed = [
        item
        for item in await stack.notifications(status="failed")
        if item["notification_id"] == n["notification_id"]
    ]
    assert failed, "the failure is in the operator's failed list"
    out = await next_event(failed_events, n["notification_id"])
    assert out.data["template"] == "no_such_template" and out.data["attempts"] == 0

    # A request without its link is refused rather than mailed without it.
    address = unique_email()
    linkless = confirmation_request(to=RecipientV1(email=address), params={"first_name": "Anne"})
    await stack.publish(linkless)
    m = await the_notification(stack, linkless.request_id, "failed")
    assert "missing parameter(s): confirm_url" in m["last_error"]
    assert await stack.mails_to(address) == []


async def test_user_only_request_waits_for_user_created(stack: Stack) -> None:
    user_id, customer_id, address = uuid.uuid4(), uuid.uuid4(), unique_email()
    payload = sim_change_request(user_id, customer_id=customer_id)
    await stack.publish(payload)
    await the_notification(stack, payload.request_id, "waiting_for_recipient")
    await stack.publish(
        user_created(
            user_id, customer_id, email=address, first_name="Jean", locale="fr", mobile=None
        )
    )
    n = await the_notification(stack, payload.request_id, "sent")
    assert n["locale"] == "fr" and n["recipient_user_id"] == str(user_id)
    [mail] = await stack.mails_to(address)
    assert mail["subject"] == "Modification de votre abonnement +32470123456"
    assert (await stack.notifications(recipient=str(user_id)))[0]["notification_id"] == n[
        "notification_id"
    ]


async def test_resend_creates_a_linked_notification(stack: Stack) -> None:
    address = unique_email()
    payload = confirmation_request(to=RecipientV1(email=address), locale="nl")
    await stack.publish(payload)
    original = await the_notification(stack, payload.request_id, "sent")
    resp = await stack.client.post(
        f"/v1/operator/notifications/{original['notification_id']}/resend",
        headers=stack.operator(),
    )
    assert resp.status_code == 202, resp.text
    resent = resp.json()
    assert resent["resend_of"] == original["notification_id"]

    async def two_mails() -> list[dict[str, Any]] | None:
        mails = await stack.mails_to(address)
        return mails if len(mails) == 2 else None

    mails = await stack.wait_for(two_mails, "the resent mail")
    assert {m["message_id"] for m in mails} == {
        f"<{original['notification_id']}@portal.local>",
        f"<{resent['notification_id']}@portal.local>",
    }
    history = await stack.notifications(request_id=str(payload.request_id))
    assert [h["notification_id"] for h in history] == [
        resent["notification_id"],
        original["notification_id"],
    ]


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("GET", "/v1/operator/notifications", None, 401),
        ("GET", "/v1/operator/notifications", "user", 403),
        ("GET", "/v1/operator/notifications?status=lost", "operator", 422),
        ("GET", "/v1/operator/notifications?limit=0", "operator", 422),
        ("GET", "/v1/operator/notifications?limit=501", "operator", 422),
        ("GET", "/v1/operator/notifications?cursor=not-a-cursor", "operator", 400),
        ("GET", "/v1/operator/notifications?request_id=nope", "operator", 422),
        ("POST", "/v1/operator/notifications/not-a-uuid/resend", "operator", 422),
        ("POST", f"/v1/operator/notifications/{uuid.uuid4()}/resend", "operator", 404),
        ("POST", f"/v1/operator/notifications/{uuid.uuid4()}/resend", "user", 403),
        ("POST", f"/v1/operator/notifications/{uuid.uuid4()}/resend", None, 401),
    ],
)
async def test_bad_requests_are_problems(
    stack: Stack, method: str, path: str, headers: str | None, status: int
) -> None:
    hdrs = {}
    if headers == "operator":
        hdrs = stack.operator()
    elif headers == "user":
        hdrs = stack.tokens.headers(uuid.uuid4(), kind="user", customer_id=uuid.uuid4())
    resp = await stack.client.request(method, path, headers=hdrs)
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    body = resp.json()
    assert body["status"] == status and body["title"] and "type" in body
