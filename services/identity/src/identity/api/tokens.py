"""Tokens (OAuth2 style), logout and the public keys."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from identity.api.common import client_ip
from identity.deps import DepsDep
from identity.schemas import (
    ClientCredentialsGrant,
    Jwks,
    KeyRotated,
    LogoutIn,
    PasswordGrant,
    RefreshGrant,
    TokenOut,
)
from identity.service import tokens, users
from identity.tokens import TokenPair
from servicekit.app import SessionDep
from servicekit.auth import CurrentPrincipal, OperatorPrincipal
from servicekit.problems import BadRequest, Problem, ValidationFailed, problem_response

router = APIRouter(tags=["auth"])

GRANTS: dict[str, type[BaseModel]] = {
    "password": PasswordGrant,
    "refresh_token": RefreshGrant,
    "client_credentials": ClientCredentialsGrant,
}
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

_TOKEN_BODY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["grant_type"],
    "properties": {
        "grant_type": {"type": "string", "enum": list(GRANTS)},
        "username": {"type": "string", "description": "grant_type=password: login e-mail"},
        "password": {"type": "string", "format": "password"},
        "refresh_token": {"type": "string"},
        "client_id": {"type": "string", "description": "grant_type=client_credentials"},
        "client_secret": {"type": "string", "format": "password"},
    },
}


async def _token_form(request: Request) -> dict[str, Any]:
    """The token request as a dict, from a form (OAuth2's encoding) or JSON."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        try:
            data = json.loads(await request.body())
        except ValueError as exc:
            raise BadRequest("The request body is not valid JSON", slug="malformed-json") from exc
        if not isinstance(data, dict):
            raise ValidationFailed(
                "The body must be an object", errors=[{"field": "body", "message": "not an object"}]
            )
    elif media_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()
        data = {k: v for k, v in form.items() if isinstance(v, str)}
    else:
        raise Problem(
            "Send the token request as application/x-www-form-urlencoded or application/json",
            status=415,
            slug="unsupported-media-type",
        )
    # RFC 6749 2.3.1: clients may authenticate with HTTP Basic instead of body fields.
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic" and encoded and "client_id" not in data:
        try:
            raw_id, _, raw_secret = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise BadRequest("Malformed Basic credentials", slug="invalid-request") from exc
        data["client_id"], data["client_secret"] = unquote(raw_id), unquote(raw_secret)
    return data


def _parse_grant(data: dict[str, Any]) -> BaseModel:
    grant_type = data.get("grant_type")
    model = GRANTS.get(grant_type) if isinstance(grant_type, str) else None
    if model is None:
        raise BadRequest(
            "grant_type must be password, refresh_token or client_credentials",
            slug="unsupported-grant-type",
            error="unsupported_grant_type",
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise ValidationFailed(detail, errors=errors, error="invalid_request") from exc


@router.post(
    "/v1/auth/token",
    response_model=TokenOut,
    response_model_exclude_none=True,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {"schema": _TOKEN_BODY_SCHEMA},
                "application/json": {"schema": _TOKEN_BODY_SCHEMA},
            },
        }
    },
)
async def token(request: Request, session: SessionDep, deps: DepsDep) -> Response:
    """OAuth2 token endpoint: password, refresh_token (rotating) or client_credentials."""
    grant = _parse_grant(await _token_form(request))
    ip = client_ip(request)
    result: TokenPair | Problem
    if isinstance(grant, PasswordGrant):
        result = await tokens.password_grant(
            session, deps, grant.username, grant.password.get_secret_value(), ip
        )
    elif isinstance(grant, RefreshGrant):
        result = await tokens.refresh_grant(session, deps, grant.refresh_token, ip)
    else:
        assert isinstance(grant, ClientCredentialsGrant)
        result = await tokens.client_credentials_grant(
            session, deps, grant.client_id, grant.client_secret.get_secret_value(), ip
        )
    if isinstance(result, Problem):
        # Returned, not raised: the audit entry / revocation above must commit.
        response = problem_response(result, request)
        response.headers.update(NO_STORE)
        return response
    body = TokenOut(
        access_token=result.access_token,
        refresh_token=result.refresh_token,
        expires_in=result.expires_in,
    )
    return JSONResponse(body.model_dump(exclude_none=True), headers=NO_STORE)


@router.post("/v1/auth/logout", status_code=204)
async def logout(
    body: LogoutIn, principal: CurrentPrincipal, session: SessionDep, deps: DepsDep
) -> Response:
    """Revoke the refresh-token family of ``refresh_token`` (the caller's own)."""
    await tokens.logout(session, deps, principal, body.refresh_token)
    return Response(status_code=204)


@router.get("/.well-known/jwks.json", response_model=Jwks)
async def jwks(response: Response, session: SessionDep, deps: DepsDep) -> Jwks:
    """Public keys that verify access tokens: the active key and recently retired ones."""
    response.headers["Cache-Control"] = "public, max-age=60"
    return Jwks.model_validate(await deps.keyring.jwks(session))


@router.post("/v1/operator/signing-keys/rotate", response_model=KeyRotated)
async def rotate_key(operator: OperatorPrincipal, session: SessionDep, deps: DepsDep) -> KeyRotated:
    """Start signing with a new key; the old one stays published for the grace period."""
    return KeyRotated(kid=await users.rotate_signing_key(session, deps, operator))
