"""RFC 9457 problem+json for every error a service returns."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from servicekit.faults import is_database_unavailable

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://portal.example/problems/"

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone",
    415: "Unsupported media type",
    422: "Validation failed",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
}


class Problem(Exception):
    """Raise from a use case or route; rendered as problem+json."""

    status = 400
    slug = "bad-request"

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        slug: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        if slug is not None:
            self.slug = slug
        self.title = title or _TITLES.get(self.status, "Error")
        self.headers = headers or {}
        self.extra = extra

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": TYPE_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class BadRequest(Problem):
    status, slug = 400, "bad-request"


class ValidationFailed(Problem):
    status, slug = 422, "validation-failed"


class Unauthorized(Problem):
    status, slug = 401, "unauthorized"

    def __init__(self, detail: str = "A valid bearer token is required", **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kw)


class Forbidden(Problem):
    status, slug = 403, "forbidden"


class NotFound(Problem):
    status, slug = 404, "not-found"


class Conflict(Problem):
    status, slug = 409, "conflict"


class Gone(Problem):
    status, slug = 410, "gone"


class TooManyRequests(Problem):
    status, slug = 429, "too-many-requests"


class ServiceUnavailable(Problem):
    """Something this answer depends on (the database, a peer service) cannot answer now.
    Always sent with ``Retry-After`` (1 s unless the raiser knows better), so a client
    waits and asks again instead of treating it as final."""

    status, slug = 503, "service-unavailable"

    def __init__(self, detail: str, **kw: Any) -> None:
        headers = dict(kw.pop("headers", None) or {})
        headers.setdefault("Retry-After", "1")
        super().__init__(detail, headers=headers, **kw)


def problem_response(problem: Problem, request: Request | None = None) -> JSONResponse:
    return JSONResponse(
        problem.body(request.url.path if request else None),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        errors.append({"field": ".".join(loc) or "body", "message": err.get("msg", "invalid")})
    return errors


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(exc)
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return problem_response(
                BadRequest("The request body is not valid JSON", slug="malformed-json"), request
            )
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem_response(ValidationFailed(detail, errors=errors), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "")
        return problem_response(
            Problem(
                str(detail),
                status=exc.status_code,
                slug=f"http-{exc.status_code}",
                headers=dict(exc.headers or {}),
            ),
            request,
        )

    async def _failure(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(
            problem_for_failure(exc, f"{request.method} {request.url.path}"), request
        )

    # The kinds of exception a database outage arrives as (see servicekit.faults), and
    # everything else nobody caught.
    for kind in (DBAPIError, PoolTimeout, OSError, Exception):
        app.add_exception_handler(kind, _failure)


def problem_for_failure(exc: Exception, where: str) -> Problem:
    """What an exception no use case turned into a ``Problem`` means to the client."""
    if is_database_unavailable(exc):
        # The service's own database is unreachable or restarting: nothing was changed
        # (the transaction did not commit), and the client may simply try again.
        log.warning("database unavailable on %s", where)
        return ServiceUnavailable(
            "The service's database is unavailable; nothing was changed, try again shortly",
            headers={"Retry-After": "5"},
        )
    log.error("unhandled error on %s", where, exc_info=exc)
    return Problem("An unexpected error occurred", status=500, slug="internal-error")
