"""Local SMTP sink + SMS-gateway sink for development and tests.

One asyncio program, started by ``deploy/local/infra.sh up``:

    uv run --no-project --isolated --with aiosmtpd==1.4.6 python deploy/local/sinks.py

* SMTP on 127.0.0.1:1025 (``SINK_SMTP_PORT``): accepts every message (AUTH PLAIN/LOGIN
  with any credentials is accepted too, no STARTTLS) and keeps it.
* HTTP on 127.0.0.1:8025 (``SINK_HTTP_PORT``):

  ``GET /``                     small HTML list of mails and SMS (for humans)
  ``GET /api/mails[?to=addr]``  JSON list, oldest first / newest last
  ``GET /api/mails/{id}``       one mail as JSON (with ``raw``)
  ``GET /api/mails/{id}/raw``   the raw RFC 5322 message (message/rfc822)
  ``DELETE /api/mails``         forget all mails
  ``POST /api/sms``             the SMS gateway: JSON ``{"to", "text"}`` -> 202 ``{"id"}``
  ``GET /api/sms[?to=number]``  JSON list, oldest first
  ``DELETE /api/sms``           forget all SMS
  ``POST /api/sms/fail-next``   JSON ``{"count": N, "status": 503}``: the next N
                                ``POST /api/sms`` fail with that status (fault injection)
  ``POST /api/mails/refuse``    JSON ``{"seconds": 60, "code": 421}``: every mail is refused
                                with that code for that long (fault injection)
  ``GET /healthz``              ``{"status": "ok"}``

Every mail / SMS is one JSON file under ``var/sinks/mail/`` / ``var/sinks/sms/``
(``SINK_DATA_DIR``), written atomically, so they survive a restart of the sink.

The HTTP side is a deliberately minimal HTTP/1.1 server (one request per
connection, ``Connection: close``, ``Content-Length`` bodies only) so that the only
third-party dependency is aiosmtpd.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.policy
import html
import itertools
import json
import logging
import os
import signal
import sys
import time
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

LOG = logging.getLogger("sinks")
REPO = Path(__file__).resolve().parents[2]

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_MAIL_BYTES = 50 * 1024 * 1024
READ_TIMEOUT_S = 30.0

REASONS = {
    200: "OK",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Store:
    """Records of one kind (mail or sms), one JSON file each, plus an in-memory index."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.items: list[dict[str, Any]] = []
        for path in self.dir.glob("*.json"):
            try:
                self.items.append(json.loads(path.read_text("utf-8")))
            except (OSError, ValueError) as exc:  # a torn file must not stop the sink
                LOG.warning("skipping unreadable %s: %s", path, exc)
        self.items.sort(key=lambda r: (r.get("received_at", ""), r.get("seq", 0)))
        start = max((int(r.get("seq", 0)) for r in self.items), default=0) + 1
        self._seq = itertools.count(start)

    def add(self, record: dict[str, Any]) -> dict[str, Any]:
        record["id"] = uuid.uuid4().hex
        record["seq"] = next(self._seq)  # keeps order stable within one millisecond
        record["received_at"] = now_iso()
        tmp = self.dir / f".{record['id']}.tmp"
        tmp.write_text(json.dumps(record), "utf-8")
        os.replace(tmp, self.dir / f"{record['id']}.json")
        self.items.append(record)
        return record

    def get(self, item_id: str) -> dict[str, Any] | None:
        return next((r for r in self.items if r["id"] == item_id), None)

    def clear(self) -> int:
        n = len(self.items)
        self.items.clear()
        for path in self.dir.glob("*.json"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        return n


# ---------------------------------------------------------------------------------- mail


def _decoded_part(msg: EmailMessage, subtype: str) -> str | None:
    part = msg.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_type() != f"text/{subtype}":
        return None
    try:
        text = str(part.get_content())
    except (LookupError, ValueError):
        payload = part.get_payload(decode=True) or b""
        text = payload.decode("utf-8", errors="replace")  # type: ignore[union-attr]
    # SMTP transports lines with CRLF; tests compare with "\n" (raw keeps CRLF).
    return text.replace("\r\n", "\n")


def parse_mail(raw: bytes) -> dict[str, Any]:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    attachments = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        filename = part.get_filename()
        if filename is None and part.get_content_disposition() != "attachment":
            continue
        payload = part.get_payload(decode=True) or b""
        attachments.append(
            {
                "filename": filename,
                "content_type": part.get_content_type(),
                "size": len(payload),
            }
        )
    return {
        "subject": str(msg.get("Subject", "")),
        "header_from": str(msg.get("From", "")),
        "header_to": str(msg.get("To", "")),
        "message_id": str(msg.get("Message-ID", "")),
        "text": _decoded_part(msg, "plain"),
        "html": _decoded_part(msg, "html"),
        "attachments": attachments,
    }


def mail_summary(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if k != "raw"}


class Refusal:
    """Fault injection for the SMTP side: refuse every mail for a while, as a mail server
    that is down or overloaded would (``421``), to test what the senders do meanwhile."""

    def __init__(self) -> None:
        self.until = 0.0
        self.code = 421

    def active(self) -> bool:
        return time.monotonic() < self.until

    def set(self, body: Any) -> tuple[int, Any]:
        body = body if isinstance(body, dict) else {}
        try:
            seconds = float(body.get("seconds", 60))
            code = int(body.get("code", 421))
        except (TypeError, ValueError):
            return 400, {"error": "seconds and code must be numbers"}
        if seconds < 0 or not 400 <= code <= 599:
            return 400, {"error": "seconds >= 0 and 400 <= code <= 599 required"}
        self.until, self.code = time.monotonic() + seconds, code
        LOG.info("smtp: refusing every mail with %d for %.0fs", code, seconds)
        return 200, self.state()

    def state(self) -> dict[str, Any]:
        return {
            "refusing": self.active(),
            "code": self.code,
            "seconds_left": max(0.0, self.until - time.monotonic()),
        }


class MailHandler:
    def __init__(self, store: Store, refusal: Refusal | None = None) -> None:
        self.store = store
        self.refusal = refusal or Refusal()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refusal.active():
            return f"{self.refusal.code} Service not available (refusal injected by the sink)"
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", errors="surrogateescape")
        try:
            parsed = parse_mail(raw)
        except Exception as exc:  # keep the mail even if we cannot parse it
            LOG.exception("could not parse a mail")
            parsed = {
                "subject": "",
                "text": None,
                "html": None,
                "attachments": [],
                "parse_error": repr(exc),
            }
        record = {
            "from": envelope.mail_from,
            "to": list(envelope.rcpt_tos),
            **parsed,
            "size": len(raw),
            # surrogateescape keeps non-UTF-8 bytes; json escapes the lone surrogates
            # and .encode("utf-8", "surrogateescape") gives the exact bytes back.
            "raw": raw.decode("utf-8", errors="surrogateescape"),
        }
        rec = self.store.add(record)
        LOG.info(
            "mail %s from=%s to=%s subject=%r", rec["id"], rec["from"], rec["to"], rec["subject"]
        )
        return "250 Message accepted for delivery"


def accept_any_login(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    # Services may be configured with SMTP credentials; the sink accepts any.
    return AuthResult(success=True)


# ----------------------------------------------------------------------------------- sms


class SmsGateway:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.fail_count = 0
        self.fail_status = 503

    def post(self, body: Any) -> tuple[int, Any]:
        if self.fail_count > 0:
            self.fail_count -= 1
            LOG.info("sms: injected failure %d (%d more)", self.fail_status, self.fail_count)
            return self.fail_status, {"error": "injected failure", "status": self.fail_status}
        if not isinstance(body, dict):
            return 400, {"error": "expected a JSON object"}
        to, text = body.get("to"), body.get("text")
        if not isinstance(to, str) or not to.strip() or not isinstance(text, str):
            return 400, {"error": "'to' (non-empty string) and 'text' (string) are required"}
        extra = {k: v for k, v in body.items() if k not in ("to", "text")}
        rec = self.store.add({"to": to, "text": text, **({"extra": extra} if extra else {})})
        LOG.info("sms %s to=%s text=%r", rec["id"], to, text[:60])
        return 202, {"id": rec["id"]}

    def fail_next(self, body: Any) -> tuple[int, Any]:
        body = body if isinstance(body, dict) else {}
        try:
            count = int(body.get("count", 1))
            status = int(body.get("status", 503))
        except (TypeError, ValueError):
            return 400, {"error": "count and status must be integers"}
        if count < 0 or not 100 <= status <= 599:
            return 400, {"error": "count >= 0 and 100 <= status <= 599 required"}
        self.fail_count, self.fail_status = count, status
        return 200, {"fail_next": count, "status": status}


# ---------------------------------------------------------------------------------- http


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_query(query: str) -> dict[str, str]:
    # Not urllib.parse.parse_qs: that turns '+' into a space, and '+32...' phone
    # numbers are a common thing to filter on. '%2B' works as well.
    out: dict[str, str] = {}
    for pair in query.split("&"):
        if pair:
            key, _, value = pair.partition("=")
            out[unquote(key)] = unquote(value)
    return out


async def read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes]:
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
    except asyncio.LimitOverrunError as exc:
        raise HttpError(413, "headers too large") from exc
    except TimeoutError as exc:
        raise HttpError(408, "timeout") from exc
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, _version = lines[0].split(" ", 2)
    except ValueError as exc:
        raise HttpError(400, "bad request line") from exc
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = b""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise HttpError(411, "chunked bodies are not supported; send Content-Length")
    length = int(headers.get("content-length", "0") or 0)
    if length > MAX_BODY_BYTES:
        raise HttpError(413, "body too large")
    if length:
        try:
            body = await asyncio.wait_for(reader.readexactly(length), READ_TIMEOUT_S)
        except TimeoutError as exc:
            raise HttpError(408, "timeout") from exc
    return method.upper(), target, headers, body


def json_body(body: bytes) -> Any:
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except ValueError as exc:
        raise HttpError(400, "invalid JSON body") from exc


def matches_to(rec: dict[str, Any], to: str | None) -> bool:
    if to is None:
        return True
    wanted = to.strip().lower()
    value = rec.get("to")
    values = value if isinstance(value, list) else [value]
    return any(isinstance(v, str) and v.strip().lower() == wanted for v in values)


class App:
    def __init__(self, mails: Store, sms: SmsGateway, refusal: Refusal | None = None) -> None:
        self.mails = mails
        self.sms = sms
        self.refusal = refusal or Refusal()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        status, ctype, payload = 500, "application/json", b""
        method = path = "?"
        try:
            method, target, _headers, body = await read_request(reader)
            split = urlsplit(target)
            path, query = split.path.rstrip("/") or "/", parse_query(split.query)
            status, ctype, payload = self.route(method, path, query, body)
        except HttpError as exc:
            status, payload = exc.status, json.dumps({"error": str(exc)}).encode()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        except Exception as exc:
            LOG.exception("error handling %s %s", method, path)
            status, payload = 500, json.dumps({"error": repr(exc)}).encode()
        head = (
            f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\n"
            f"Content-Type: {ctype}\r\n"
            f"Content-Length: {len(payload)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode("latin-1")
        try:
            writer.write(head + (b"" if method == "HEAD" else payload))
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def route(
        self, method: str, path: str, query: dict[str, str], body: bytes
    ) -> tuple[int, str, bytes]:
        def js(status: int, obj: Any) -> tuple[int, str, bytes]:
            return status, "application/json", json.dumps(obj).encode()

        to = query.get("to")
        if path == "/" and method in ("GET", "HEAD"):
            return 200, "text/html; charset=utf-8", self.index_html().encode()
        if path == "/healthz" and method in ("GET", "HEAD"):
            return js(200, {"status": "ok"})
        if path == "/api/mails":
            if method == "GET":
                items = [mail_summary(r) for r in self.mails.items if matches_to(r, to)]
                return js(200, items)
            if method == "DELETE":
                return js(200, {"deleted": self.mails.clear()})
            raise HttpError(405, "method not allowed")
        if path == "/api/mails/refuse":
            if method == "POST":
                return js(*self.refusal.set(json_body(body)))
            if method == "GET":
                return js(200, self.refusal.state())
            raise HttpError(405, "method not allowed")
        if path.startswith("/api/mails/") and method in ("GET", "HEAD"):
            parts = path.split("/")  # ['', 'api', 'mails', id, ('raw')]
            rec = self.mails.get(parts[3])
            if rec is None or len(parts) > 5 or (len(parts) == 5 and parts[4] != "raw"):
                raise HttpError(404, "no such mail")
            if len(parts) == 5:
                raw = str(rec["raw"]).encode("utf-8", errors="surrogateescape")
                return 200, "message/rfc822", raw
            return js(200, rec)
        if path == "/api/sms":
            if method == "POST":
                return js(*self.sms.post(json_body(body)))
            if method == "GET":
                return js(200, [r for r in self.sms.store.items if matches_to(r, to)])
            if method == "DELETE":
                return js(200, {"deleted": self.sms.store.clear()})
            raise HttpError(405, "method not allowed")
        if path == "/api/sms/fail-next":
            if method == "POST":
                return js(*self.sms.fail_next(json_body(body)))
            if method == "GET":
                return js(200, {"fail_next": self.sms.fail_count, "status": self.sms.fail_status})
            raise HttpError(405, "method not allowed")
        raise HttpError(404, "not found")

    def index_html(self) -> str:
        e = html.escape
        mail_rows = "".join(
            f"<tr><td>{e(r['received_at'])}</td><td>{e(str(r.get('from')))}</td>"
            f"<td>{e(', '.join(r.get('to', [])))}</td><td>{e(r.get('subject') or '')}</td>"
            f"<td>{e(', '.join(str(a.get('filename')) for a in r.get('attachments', [])))}</td>"
            f"<td><a href='/api/mails/{e(r['id'])}/raw'>raw</a> "
            f"<a href='/api/mails/{e(r['id'])}'>json</a></td></tr>"
            for r in reversed(self.mails.items)
        )
        sms_rows = "".join(
            f"<tr><td>{e(r['received_at'])}</td><td>{e(str(r.get('to')))}</td>"
            f"<td>{e(str(r.get('text')))}</td></tr>"
            for r in reversed(self.sms.store.items)
        )
        fail = (
            f"<p><b>Fault injection:</b> next {self.sms.fail_count} SMS fail with "
            f"{self.sms.fail_status}</p>"
            if self.sms.fail_count
            else ""
        )
        return f"""<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>Local mail &amp; SMS sink</title>
<style>body{{font-family:sans-serif;margin:1.5em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}}</style>
</head><body>
<h1>Local mail &amp; SMS sink</h1>
<p>Newest first. JSON: <a href="/api/mails">/api/mails</a>, <a href="/api/sms">/api/sms</a>.</p>
{fail}
<h2>Mails ({len(self.mails.items)})</h2>
<table><tr><th>received</th><th>from</th><th>to</th><th>subject</th><th>attachments</th>
<th></th></tr>{mail_rows}</table>
<h2>SMS ({len(self.sms.store.items)})</h2>
<table><tr><th>received</th><th>to</th><th>text</th></tr>{sms_rows}</table>
</body></html>
"""


# ---------------------------------------------------------------------------------- main


def write_pidfile(path: str) -> None:
    Path(path).write_text(f"{os.getpid()}\n")


def remove_pidfile(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        if Path(path).read_text().strip() == str(os.getpid()):
            Path(path).unlink()


async def main(args: argparse.Namespace) -> None:
    data = args.data_dir
    mails, sms = Store(Path(data, "mail")), SmsGateway(Store(Path(data, "sms")))
    refusal = Refusal()
    loop = asyncio.get_running_loop()

    def smtp_factory() -> SMTP:
        return SMTP(
            MailHandler(mails, refusal),
            hostname="localhost",  # avoids socket.getfqdn(), slow without DNS
            data_size_limit=MAX_MAIL_BYTES,
            enable_SMTPUTF8=True,
            authenticator=accept_any_login,
            auth_require_tls=False,
        )

    smtp_server = await loop.create_server(smtp_factory, args.host, args.smtp_port)
    http_server = await asyncio.start_server(
        App(mails, sms, refusal).handle, args.host, args.http_port, limit=MAX_HEADER_BYTES
    )
    LOG.info(
        "SMTP on %s:%d, HTTP on http://%s:%d/, data in %s (%d mails, %d sms)",
        args.host,
        args.smtp_port,
        args.host,
        args.http_port,
        data,
        len(mails.items),
        len(sms.store.items),
    )
    if args.pidfile:
        write_pidfile(args.pidfile)

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        LOG.info("stopping")
        smtp_server.close()
        http_server.close()
        if args.pidfile:
            remove_pidfile(args.pidfile)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default=os.environ.get("SINK_HOST", "127.0.0.1"))
    p.add_argument("--smtp-port", type=int, default=int(os.environ.get("SINK_SMTP_PORT", "1025")))
    p.add_argument("--http-port", type=int, default=int(os.environ.get("SINK_HTTP_PORT", "8025")))
    p.add_argument("--data-dir", default=os.environ.get("SINK_DATA_DIR", str(REPO / "var/sinks")))
    p.add_argument("--pidfile", default=None, help="write our pid here (removed on exit)")
    return p.parse_args(argv)


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stdout,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    asyncio.run(main(parse_args(sys.argv[1:])))
