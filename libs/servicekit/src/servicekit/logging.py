"""JSON logs with trace ids and without secrets or personal data.

Every record gets ``service``, ``trace_id`` and ``span_id``. A filter masks values of
keys that look secret (password, token, secret, authorization, iban, email) in ``extra``
fields and strips e-mail addresses and bearer tokens from messages, so a careless log
line does not leak them.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

SENSITIVE_KEYS = re.compile(
    r"pass(word)?|secret|token|authorization|cookie|iban|e?mail|mobile|phone", re.I
)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
BEARER = re.compile(r"(?i)bearer\s+[\w.~+/=-]+")
JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")
# One-time links put their secret in the query string (e.g. /v1/users/confirm?token=...),
# which access logs would otherwise record.
SECRET_QUERY = re.compile(r"(?i)([?&](?:token|code|password|secret|key|signature)=)[^&\s\"']+")

_STANDARD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()) | {
    "message",
    "asctime",
    "service",
    "trace_id",
    "span_id",
}


def scrub(text: str) -> str:
    text = BEARER.sub("Bearer [redacted]", text)
    text = JWT.sub("[redacted-jwt]", text)
    text = SECRET_QUERY.sub(r"\1[redacted]", text)
    return EMAIL.sub("[redacted-email]", text)


class RedactingFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        ctx = trace.get_current_span().get_span_context()
        record.trace_id = format(ctx.trace_id, "032x") if ctx.is_valid else None
        record.span_id = format(ctx.span_id, "016x") if ctx.is_valid else None
        if record.args:
            try:
                record.msg = record.getMessage()
            except Exception:  # a malformed log call must not break the caller
                record.msg = str(record.msg)
            record.args = None
        if isinstance(record.msg, str):
            record.msg = scrub(record.msg)
        for key, value in list(record.__dict__.items()):
            if key in _STANDARD_ATTRS:
                continue
            if SENSITIVE_KEYS.search(key):
                record.__dict__[key] = "[redacted]"
            elif isinstance(value, str):
                record.__dict__[key] = scrub(value)
        return True


def configure_logging(service: str, level: str = "INFO", *, access_log: bool = False) -> None:
    """JSON lines on stdout, redacted. uvicorn's access line per request only with
    ``access_log`` (``<SERVICE>_ACCESS_LOG``; ADR 27): called again by the lifespan, after
    uvicorn set up its loggers, this must not turn them back on."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "asctime": "time", "name": "logger"},
        )
    )
    handler.addFilter(RedactingFilter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's lines go through our formatter. Access lines carry paths with ids only;
    # uvicorn writes them only while its access logger has a handler somewhere.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = access_log or name != "uvicorn.access"
    for noisy in ("aiokafka", "kafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def log_extra(**fields: Any) -> dict[str, Any]:
    return {"extra": fields}
