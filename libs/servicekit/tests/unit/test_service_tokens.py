"""Service credentials are not master keys: a service token passes only the routes that
admit its scope, and only at the peers named in its audience."""

import uuid
from types import SimpleNamespace
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from httpx import ASGITransport, AsyncClient

from contracts.scopes import SERVICE_SCOPES, ServiceScope, audiences_of
from servicekit.auth import (
    CurrentPrincipal,
    Principal,
    TokenVerifier,
    principal_or_service,
)
from servicekit.problems import Unauthorized, install_problem_handlers
from servicekit.testing import AUDIENCE, ISSUER, TokenFactory


def _billing_like_app(tokens: TokenFactory) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.kit = SimpleNamespace(
        verifier=TokenVerifier(
            tokens.key_source, issuer=ISSUER, audience=AUDIENCE, service="billing"
        )
    )
    PdfReader = Annotated[Principal, Depends(principal_or_service(ServiceScope.INVOICE_PDF_READ))]

    @app.get("/v1/billing-accounts/{account_id}/invoices")
    async def user_route(account_id: str, principal: CurrentPrincipal) -> dict[str, str]:
        return {"subject": principal.subject}

    @app.get("/v1/invoices/{invoice_id}/pdf")
    async def internal_read(invoice_id: str, principal: PdfReader) -> dict[str, str]:
        return {"subject": principal.subject}

    return app


async def _get(app: FastAPI, path: str, headers: dict[str, str]) -> tuple[int, dict]:  # type: ignore[type-arg]
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
        resp = await client.get(path, headers=headers)
    return resp.status_code, resp.json()


async def test_a_user_route_refuses_a_service_token_with_403_problem() -> None:
    tokens = TokenFactory()
    status, body = await _get(
        _billing_like_app(tokens),
        f"/v1/billing-accounts/{uuid.uuid4()}/invoices",
        tokens.headers("notifier", kind="service"),
    )
    assert status == 403
    assert body["type"].endswith("service-token-refused")


async def test_the_notifier_token_fetches_the_invoice_pdf_it_needs() -> None:
    tokens = TokenFactory()
    status, body = await _get(
        _billing_like_app(tokens),
        f"/v1/invoices/{uuid.uuid4()}/pdf",
        tokens.headers("notifier", kind="service"),
    )
    assert status == 200 and body == {"subject": "notifier"}


async def test_a_service_token_without_the_scope_is_refused_by_an_internal_read() -> None:
    tokens = TokenFactory()
    # einvoice may read billing-account facts at billing, not invoice PDFs.
    status, body = await _get(
        _billing_like_app(tokens),
        f"/v1/invoices/{uuid.uuid4()}/pdf",
        tokens.headers("einvoice", kind="service"),
    )
    assert status == 403 and body["type"].endswith("insufficient-scope")


async def test_people_still_pass_the_internal_reads_to_their_own_rights() -> None:
    tokens = TokenFactory()
    status, _ = await _get(
        _billing_like_app(tokens),
        f"/v1/invoices/{uuid.uuid4()}/pdf",
        tokens.headers(uuid.uuid4(), customer_id=uuid.uuid4()),
    )
    assert status == 200


async def test_a_service_token_is_refused_by_a_peer_outside_its_audience() -> None:
    tokens = TokenFactory()
    identity = TokenVerifier(
        tokens.key_source, issuer=ISSUER, audience=AUDIENCE, service="identity"
    )
    with pytest.raises(Unauthorized):
        await identity.verify(tokens.token("notifier", kind="service"))
    # ...nor by a verifier that takes no service tokens at all.
    plain = TokenVerifier(tokens.key_source, issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(Unauthorized):
        await plain.verify(tokens.token("billing", kind="service"))


async def test_a_service_token_with_the_portal_wide_audience_is_refused() -> None:
    tokens = TokenFactory()
    verifier = TokenVerifier(tokens.key_source, issuer=ISSUER, audience=AUDIENCE, service="billing")
    # A person's audience on a service token (the old master key) is not this service's.
    with pytest.raises(Unauthorized):
        await verifier.verify(tokens.token("notifier", kind="service", aud=AUDIENCE))


def test_each_scope_names_a_peer_and_no_service_is_its_own_audience() -> None:
    peers = {"identity", "delegation", "billing", "fleet", "einvoice", "notifier"}
    assert set(SERVICE_SCOPES) == peers
    for client, scopes in SERVICE_SCOPES.items():
        audiences = audiences_of(scopes)
        assert set(audiences) <= peers and client not in audiences
