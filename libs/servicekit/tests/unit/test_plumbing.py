import json
import logging
import uuid

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import BaseModel, ConfigDict

from servicekit.auth import TokenVerifier
from servicekit.logging import RedactingFilter
from servicekit.pagination import (
    decode_cursor,
    encode_cursor,
)
from servicekit.problems import BadRequest, NotFound, Problem, install_problem_handlers
from servicekit.settings import ServiceSettings
from servicekit.testing import AUDIENCE, ISSUER, TokenFactory


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    class Body(BaseModel):
        model_config = ConfigDict(extra="forbid")
        name: str

    @app.post("/things")
    async def create(body: Body) -> dict[str, str]:
        return {"name": body.name}

    @app.get("/missing")
    async def missing() -> None:
        raise NotFound("No such thing")

    @app.get("/db-down")
    async def db_down() -> None:
        from sqlalchemy.exc import OperationalError

        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret detail")

    return app


async def test_problem_is_rendered_as_rfc9457_problem_json() -> None:
    async with AsyncClient(transport=ASGITransport(app=_app()), base_url="http://t") as c:
        resp = await c.get("/missing")
    assert resp.status_code == 404
    assert resp.headers["content-type"] == "application/problem+json"
    body = resp.json()
    assert body["status"] == 404 and body["detail"] == "No such thing"
    assert body["type"].endswith("/not-found") and body["title"] == "Not found"


async def test_malformed_json_is_a_400_problem() -> None:
    async with AsyncClient(transport=ASGITransport(app=_app()), base_url="http://t") as c:
        resp = await c.post(
            "/things", content=b"{not json", headers={"content-type": "application/json"}
        )
    assert resp.status_code == 400
    assert resp.json()["type"].endswith("/malformed-json")


async def test_unknown_field_is_a_422_problem_naming_the_field() -> None:
    async with AsyncClient(transport=ASGITransport(app=_app()), base_url="http://t") as c:
        resp = await c.post("/things", json={"name": "x", "colour": "red"})
    assert resp.status_code == 422
    assert {"field": "colour", "message": "Extra inputs are not permitted"} in resp.json()["errors"]


async def test_unexpected_error_hides_its_detail() -> None:
    app = _app()
    async with AsyncClient(
        transport=ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t"
    ) as c:
        resp = await c.get("/boom")
    assert resp.status_code == 500
    assert "secret" not in resp.text


async def test_database_outage_is_a_503_problem_inviting_a_retry() -> None:
    async with AsyncClient(
        transport=ASGITransport(app=_app(), raise_app_exceptions=False), base_url="http://t"
    ) as c:
        resp = await c.get("/db-down")
    assert resp.status_code == 503 and resp.headers["retry-after"] == "5"
    assert "connection refused" not in resp.text


def test_problem_carries_extra_members() -> None:
    body = BadRequest("bad", errors=[{"field": "a", "message": "b"}]).body("/x")
    assert body["errors"][0]["field"] == "a" and body["instance"] == "/x"
    assert Problem("x", status=409).body()["title"] == "Conflict"


def test_cursor_round_trips_and_rejects_garbage() -> None:
    cursor = encode_cursor({"id": "abc", "n": 3})
    assert decode_cursor(cursor) == {"id": "abc", "n": 3}
    with pytest.raises(BadRequest):
        decode_cursor("%%%not-base64")


def test_log_records_are_scrubbed_of_emails_tokens_and_secret_fields() -> None:
    record = logging.LogRecord(
        "x", logging.INFO, "f", 1, "login for %s with Bearer abc.def.ghi", ("jan@example.be",), None
    )
    record.password = "hunter2"
    record.customer_id = "c-1"
    RedactingFilter("svc").filter(record)
    assert "jan@example.be" not in record.msg and "abc.def.ghi" not in record.msg
    assert record.password == "[redacted]"
    assert record.customer_id == "c-1"


def test_access_log_lines_lose_one_time_tokens_from_query_strings() -> None:
    from servicekit.logging import scrub

    line = '127.0.0.1:1 - "GET /v1/users/confirm?token=s3cr3t-Value_1&x=2 HTTP/1.1" 200'
    assert "s3cr3t" not in scrub(line)
    assert "?token=[redacted]&x=2" in scrub(line)


def test_production_refuses_placeholder_secrets() -> None:
    with pytest.raises(ValueError, match="client_secret"):
        ServiceSettings(service_name="x", environment="production", client_secret="dev-secret")
    ok = ServiceSettings(
        service_name="x",
        environment="production",
        client_secret="s3cr3t-v4lue",
        kafka_sasl_password="k4fka-s3cret",
    )
    assert ok.consumer_group == "x" and ok.database_url.startswith("sqlite+aiosqlite:///")


async def test_verifier_accepts_a_valid_token_and_names_the_principal() -> None:
    tokens = TokenFactory()
    verifier = TokenVerifier(tokens.key_source, issuer=ISSUER, audience=AUDIENCE)
    cid = uuid.uuid4()
    principal = await verifier.verify(tokens.token(uuid.uuid4(), customer_id=cid))
    assert principal.kind == "user" and principal.customer_id == cid


@pytest.mark.parametrize(
    "mutate",
    [
        lambda f: f.token("u", ttl_s=-120),  # expired beyond the clock-skew leeway
        lambda f: f.token("u", aud="someone-else"),  # wrong audience
        lambda f: f.token("u", iss="evil"),  # wrong issuer
        lambda f: f.token("u", kind="superuser"),  # unknown kind
        lambda f: TokenFactory().token("u"),  # signed by a key identity never published
        lambda f: "not-a-jwt",
    ],
)
async def test_verifier_rejects_bad_tokens(mutate) -> None:  # type: ignore[no-untyped-def]
    from servicekit.problems import Unauthorized

    tokens = TokenFactory()
    verifier = TokenVerifier(
        tokens.key_source, issuer=ISSUER, audience=AUDIENCE, min_refresh_interval_s=0
    )
    with pytest.raises(Unauthorized):
        await verifier.verify(mutate(tokens))


async def test_verifier_refreshes_keys_when_a_new_key_id_appears() -> None:
    old, new = TokenFactory(), TokenFactory()
    served = {"keys": list(old.jwks["keys"])}

    async def source() -> dict:  # type: ignore[type-arg]
        return json.loads(json.dumps(served))

    verifier = TokenVerifier(source, issuer=ISSUER, audience=AUDIENCE, min_refresh_interval_s=0)
    await verifier.verify(old.token("u"))
    served["keys"].append(new.jwks["keys"][0])  # identity rotated its key
    assert (await verifier.verify(new.token("u"))).subject == "u"


def test_replicated_topics_require_two_in_sync_replicas_for_a_write() -> None:
    from servicekit.topics import durability_configs

    assert durability_configs(3) == {"min.insync.replicas": "2"}
    assert durability_configs(1) == {}


def test_access_lines_stay_off_after_the_lifespan_configures_logging() -> None:
    """uvicorn writes an access line per request only if its access logger has a handler
    somewhere (``hasHandlers``, checked per connection, after the lifespan ran). Off by
    default (ADR 27); on with ``<SERVICE>_ACCESS_LOG=true``, through our formatter."""
    from servicekit.logging import configure_logging

    access, root = logging.getLogger("uvicorn.access"), logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("svc", "INFO")
        assert not access.hasHandlers()
        configure_logging("svc", "INFO", access_log=True)
        assert access.hasHandlers() and access.propagate
        configure_logging("svc", "INFO", access_log=False)
        assert not access.hasHandlers()
        assert logging.getLogger("uvicorn.error").hasHandlers()  # errors still logged
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
