import email
import email.policy
import uuid

import aiosmtplib
import httpx
import pytest

from notifier.delivery import (
    BillingPdfSource,
    HttpSmsGateway,
    build_email,
    classify_smtp_error,
    message_id,
)
from notifier.domain import DeliveryError
from notifier.templates import RenderedEmail

PDF = b"%PDF-1.4 fake invoice"


@pytest.mark.parametrize(
    ("exc", "is_transient"),
    [
        (aiosmtplib.SMTPConnectError("refused"), True),
        (aiosmtplib.SMTPConnectTimeoutError("timeout"), True),
        (aiosmtplib.SMTPReadTimeoutError("timeout"), True),
        (aiosmtplib.SMTPServerDisconnected("bye"), True),
        (ConnectionRefusedError(111, "refused"), True),
        (aiosmtplib.SMTPResponseException(421, "service not available"), True),
        (aiosmtplib.SMTPDataError(451, "local error"), True),
        (aiosmtplib.SMTPDataError(554, "rejected as spam"), False),
        (aiosmtplib.SMTPAuthenticationError(535, "bad credentials"), True),
        (aiosmtplib.SMTPSenderRefused(553, "sender refused", "no-reply@portal.local"), True),
        (
            aiosmtplib.SMTPRecipientsRefused(
                [aiosmtplib.SMTPRecipientRefused(550, "no such user", "a@b.example")]
            ),
            False,
        ),
        (
            aiosmtplib.SMTPRecipientsRefused(
                [aiosmtplib.SMTPRecipientRefused(452, "mailbox full", "a@b.example")]
            ),
            True,
        ),
    ],
)
def test_smtp_error_classification(exc: BaseException, is_transient: bool) -> None:
    error = classify_smtp_error(exc)
    assert error.transient is is_transient
    assert "a@b.example" not in error.reason


def test_email_has_deterministic_message_id_both_parts_and_attachment() -> None:
    nid = uuid.uuid4()
    msg = build_email(
        notification_id=nid,
        mail_from="MyPortal <no-reply@portal.local>",
        to="anne@acme.example",
        rendered=RenderedEmail("Subject é", "text body\n", "<p>html body</p>"),
        locale="fr",
        domain="portal.local",
        attachments=[("invoice-F1.pdf", PDF)],
    )
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert parsed["Message-ID"] == message_id(nid, "portal.local") == f"<{nid}@portal.local>"
    assert parsed["Subject"] == "Subject é"
    assert parsed.get_body(("plain",)).get_content() == "text body\n"
    assert "<p>html body</p>" in parsed.get_body(("html",)).get_content()
    [att] = list(parsed.iter_attachments())
    assert att.get_filename() == "invoice-F1.pdf"
    assert att.get_content_type() == "application/pdf"
    assert att.get_content() == PDF


async def gateway_answering(status: int, seen: list[httpx.Request]) -> HttpSmsGateway:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json={"id": "gw-1"})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return HttpSmsGateway("http://sms.test/api/sms", client)


async def test_sms_sends_idempotency_key_and_returns_gateway_id() -> None:
    seen: list[httpx.Request] = []
    gateway = await gateway_answering(202, seen)
    assert await gateway.send(to="+32470000001", text="hi", idempotency_key="k-1") == "gw-1"
    assert seen[0].headers["Idempotency-Key"] == "k-1"
    assert seen[0].read() == b'{"to":"+32470000001","text":"hi"}'


@pytest.mark.parametrize(("status", "is_transient"), [(503, True), (429, True), (400, False)])
async def test_sms_failures(status: int, is_transient: bool) -> None:
    gateway = await gateway_answering(status, [])
    with pytest.raises(DeliveryError) as info:
        await gateway.send(to="+32470000001", text="hi", idempotency_key="k")
    assert info.value.transient is is_transient


async def test_sms_timeout_is_transient() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    with pytest.raises(DeliveryError) as info:
        await HttpSmsGateway("http://sms.test", client).send(
            to="+3247", text="x", idempotency_key="k"
        )
    assert info.value.transient


def billing(handler: object, invalidated: list[bool]) -> BillingPdfSource:
    client = httpx.AsyncClient(
        base_url="http://billing.test",
        transport=httpx.MockTransport(handler),  # type: ignore[arg-type]
    )

    async def token() -> str:
        return "svc-token"

    return BillingPdfSource(client, token, lambda: invalidated.append(True))


async def test_pdf_is_fetched_with_the_service_token() -> None:
    invoice = uuid.uuid4()

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == f"/v1/invoices/{invoice}/pdf"
        assert request.headers["Authorization"] == "Bearer svc-token"
        return httpx.Response(200, content=PDF, headers={"Content-Type": "application/pdf"})

    assert await billing(handler, []).invoice_pdf(invoice) == PDF


@pytest.mark.parametrize(
    ("status", "is_transient"), [(500, True), (503, True), (404, True), (401, True), (400, False)]
)
async def test_pdf_failures(status: int, is_transient: bool) -> None:
    invalidated: list[bool] = []
    source = billing(lambda request: httpx.Response(status), invalidated)
    with pytest.raises(DeliveryError) as info:
        await source.invoice_pdf(uuid.uuid4())
    assert info.value.transient is is_transient
    assert invalidated == ([True] if status == 401 else [])


async def test_billing_unreachable_is_transient() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(DeliveryError) as info:
        await billing(handler, []).invoice_pdf(uuid.uuid4())
    assert info.value.transient
