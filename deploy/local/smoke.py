"""Check the local infrastructure for real: ``deploy/local/infra.sh smoke`` runs

    uv run --no-project --isolated --with aiokafka==0.14.0 python deploy/local/smoke.py

* Kafka: a fresh 3-partition topic (explicitly created; auto-create is off),
  ``AIOKafkaProducer(enable_idempotence=True)``, a consumer group with
  ``enable_auto_commit=False`` + ``commit()``, committed offsets read back.
  Plus the persistent topic ``infra-smoke`` / group ``infra-smoke``: every run adds
  one message and consumes from the group's committed offset, so after a restart
  of the broker it shows that messages and committed offsets were kept.
* Redis: PING, SET/GET, INCR of a run counter (kept across restarts: AOF).
* PostgreSQL: password login as portal over 127.0.0.1 to every service database.
* SMTP sink: a mail with an attachment via smtplib, then found in /api/mails.
* SMS sink: POST /api/sms, GET /api/sms?to=, fault injection with fail-next.

It never deletes what others stored in the sinks. Exit status 0 = all good.
"""

from __future__ import annotations

import asyncio
import json
import os
import smtplib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from email.message import EmailMessage
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
# As the broker's admin over SASL/SCRAM (ADR 24). This script runs outside the workspace
# (aiokafka only), so it reads the variables servicekit.kafka.admin_security() reads.
_ADMIN_USER = os.environ.get("KAFKA_ADMIN_USERNAME") or "admin"
KAFKA_OPTIONS: dict[str, Any] = (
    {"security_protocol": "PLAINTEXT"}
    if os.environ.get("KAFKA_SECURITY_PROTOCOL") == "PLAINTEXT"
    else {
        "security_protocol": os.environ.get("KAFKA_SECURITY_PROTOCOL") or "SASL_PLAINTEXT",
        "sasl_mechanism": os.environ.get("KAFKA_SASL_MECHANISM") or "SCRAM-SHA-512",
        "sasl_plain_username": _ADMIN_USER,
        "sasl_plain_password": os.environ.get("KAFKA_ADMIN_PASSWORD")
        or f"{_ADMIN_USER}-local-only",
    }
)
REDIS_PORT = int(os.environ.get("REDIS_PORT", "6379"))
PG_PORT = os.environ.get("PG_PORT", "5432")
SMTP_PORT = int(os.environ.get("SINK_SMTP_PORT", "1025"))
HTTP = f"http://127.0.0.1:{os.environ.get('SINK_HTTP_PORT', '8025')}"
DATABASES = ["identity", "delegation", "billing", "fleet", "einvoice", "notifier"]
RUN = uuid.uuid4().hex[:8]
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # local sink


def ok(msg: str) -> None:
    print(f"  ok  {msg}", flush=True)


async def check_kafka() -> None:
    topic = f"infra-smoke-{RUN}"
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP, **KAFKA_OPTIONS)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
        existing = await admin.list_topics()
        if "infra-smoke" not in existing:
            await admin.create_topics([NewTopic("infra-smoke", 1, 1)])
        ok(f"kafka: created topic {topic} (3 partitions)")

        producer = AIOKafkaProducer(
            bootstrap_servers=BOOTSTRAP, **KAFKA_OPTIONS, enable_idempotence=True
        )
        await producer.start()
        try:
            for i in range(30):
                await producer.send_and_wait(topic, f"v{i}".encode(), key=f"k{i % 7}".encode())
            await producer.send_and_wait("infra-smoke", f"run {RUN} {time.time()}".encode())
        finally:
            await producer.stop()
        ok("kafka: idempotent producer (enable_idempotence=True, acks=all) sent 30 + 1 messages")

        group = f"infra-smoke-{RUN}"
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=BOOTSTRAP,
            **KAFKA_OPTIONS,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            seen: list[bytes] = []
            while len(seen) < 30:
                batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 30)
                seen.extend(m.value for msgs in batch.values() for m in msgs)  # type: ignore[misc]
            await consumer.commit()
            parts = sorted(consumer.assignment(), key=lambda tp: tp.partition)
            committed = {tp.partition: await consumer.committed(tp) for tp in parts}
        finally:
            await consumer.stop()
        assert sorted(seen) == sorted(f"v{i}".encode() for i in range(30)), seen
        assert sum(c or 0 for c in committed.values()) == 30, committed
        ok(f"kafka: consumer group {group} read 30, manual commit, committed={committed}")

        # A second consumer of the same group starts at the committed offsets.
        again = AIOKafkaConsumer(
            topic,
            bootstrap_servers=BOOTSTRAP,
            **KAFKA_OPTIONS,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await again.start()
        try:
            batch = await again.getmany(timeout_ms=3000)
            assert not any(batch.values()), batch
        finally:
            await again.stop()
        ok("kafka: a new member of the group resumes at the committed offsets")

        # Persistent topic/group: shows what survived previous runs and restarts.
        tp = TopicPartition("infra-smoke", 0)
        persist = AIOKafkaConsumer(
            bootstrap_servers=BOOTSTRAP,
            **KAFKA_OPTIONS,
            group_id="infra-smoke",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await persist.start()
        try:
            persist.assign([tp])
            before = await persist.committed(tp)
            end = (await persist.end_offsets([tp]))[tp]
            got = []
            while True:
                batch = await persist.getmany(tp, timeout_ms=2000)
                got.extend(batch.get(tp, []))
                if await persist.position(tp) >= end:
                    break
            await persist.commit()
        finally:
            await persist.stop()
        ok(
            f"kafka: topic infra-smoke holds {end} messages from all smoke runs; group "
            f"infra-smoke had committed {before}, read {len(got)} new"
        )

        await admin.delete_topics([topic])
    finally:
        await admin.close()


def redis_cmd(sock: socket.socket, *args: str) -> bytes:
    out = f"*{len(args)}\r\n".encode()
    for a in args:
        b = a.encode()
        out += f"${len(b)}\r\n".encode() + b + b"\r\n"
    sock.sendall(out)
    return sock.recv(65536)


def check_redis() -> None:
    with socket.create_connection(("127.0.0.1", REDIS_PORT), timeout=5) as s:
        assert redis_cmd(s, "PING") == b"+PONG\r\n"
        assert redis_cmd(s, "SET", "infra:smoke:last", RUN) == b"+OK\r\n"
        assert redis_cmd(s, "GET", "infra:smoke:last") == f"$8\r\n{RUN}\r\n".encode()
        runs = redis_cmd(s, "INCR", "infra:smoke:runs").decode().strip(":\r\n")
        aof = redis_cmd(s, "CONFIG", "GET", "appendonly").decode().split()
    ok(
        f"redis: PING/SET/GET on 127.0.0.1:{REDIS_PORT}; smoke runs counted so far: {runs}; "
        f"appendonly={aof[-1]}"
    )


def check_postgres() -> None:
    env = {**os.environ, "PGPASSWORD": "portal", "PGCONNECT_TIMEOUT": "5"}
    for db in DATABASES:
        out = subprocess.run(
            [
                "psql",
                "-X",
                "-A",
                "-t",
                "-h",
                "127.0.0.1",
                "-p",
                PG_PORT,
                "-U",
                "portal",
                "-d",
                db,
                "-c",
                "SELECT current_user || ' ' || current_database() || ' ' || "
                "(SELECT pg_get_userbyid(datdba) FROM pg_database "
                "WHERE datname = current_database())",
            ],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        assert out == f"portal {db} portal", out
    ok(f"postgres: portal/portal over 127.0.0.1:{PG_PORT} to {', '.join(DATABASES)} (owner portal)")


def http(method: str, path: str, body: object | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        HTTP + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with NO_PROXY.open(req, timeout=10) as r:
            raw = r.read()
            return r.status, json.loads(raw) if "json" in r.headers["Content-Type"] else raw
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def check_mail() -> None:
    to = f"smoke-{RUN}@example.test"
    msg = EmailMessage()
    msg["From"] = "Portal <noreply@portal.test>"
    msg["To"] = to
    msg["Subject"] = f"Facture réf. {RUN} à payer €"
    msg.set_content("Beste klant,\nuw factuur is bijgevoegd (21% btw, één bijlage)\n")
    pdf = b"%PDF-1.4\n" + os.urandom(2000) + b"\n%%EOF\n"
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="invoice-1.pdf")
    with smtplib.SMTP("127.0.0.1", SMTP_PORT, timeout=10) as smtp:
        smtp.login("any", "thing")  # the sink accepts any credentials
        smtp.send_message(msg)
    status, mails = http("GET", f"/api/mails?to={to}")
    assert status == 200 and isinstance(mails, list) and len(mails) == 1, (status, mails)
    m = mails[0]
    assert m["to"] == [to] and m["from"] == "noreply@portal.test", m
    assert m["subject"] == f"Facture réf. {RUN} à payer €", m["subject"]
    assert "21% btw" in m["text"], m["text"]
    assert m["attachments"] == [
        {"filename": "invoice-1.pdf", "content_type": "application/pdf", "size": len(pdf)}
    ], m["attachments"]
    status, raw = http("GET", f"/api/mails/{m['id']}/raw")
    assert status == 200 and isinstance(raw, bytes) and b"invoice-1.pdf" in raw
    status, all_mails = http("GET", "/api/mails")
    assert isinstance(all_mails, list) and all_mails[-1]["id"] == m["id"]  # newest last
    ok(
        f"smtp: mail with a PDF attachment to {to} seen on {HTTP}/api/mails "
        f"({len(all_mails)} mails stored)"
    )


def check_sms() -> None:
    to = f"+3247{int(RUN, 16) % 10**7:07d}"
    status, body = http("POST", "/api/sms", {"to": to, "text": f"code {RUN}"})
    assert status == 202 and isinstance(body, dict) and body["id"], (status, body)
    status, listed = http("GET", f"/api/sms?to={to}")  # '+' is kept literally
    assert status == 200 and [s["id"] for s in listed] == [body["id"]], listed
    status, _ = http("POST", "/api/sms/fail-next", {"count": 2, "status": 503})
    assert status == 200
    assert http("POST", "/api/sms", {"to": to, "text": "x"})[0] == 503
    assert http("POST", "/api/sms", {"to": to, "text": "x"})[0] == 503
    assert http("POST", "/api/sms", {"to": to, "text": "after"})[0] == 202
    assert http("POST", "/api/sms", {"text": "no recipient"})[0] == 400
    status, listed = http("GET", f"/api/sms?to={to.replace('+', '%2B')}")
    assert [s["text"] for s in listed] == [f"code {RUN}", "after"], listed
    ok(f"sms: POST /api/sms -> 202, ?to= filter, fail-next 2x503 then 202 ({to})")


def main() -> int:
    print(f"smoke run {RUN}")
    t0 = time.monotonic()
    asyncio.run(check_kafka())
    check_redis()
    check_postgres()
    check_mail()
    check_sms()
    print(f"all checks passed in {time.monotonic() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
