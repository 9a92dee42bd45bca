"""Is a Kafka broker ready? Exit 0 if a Metadata request answers with >= 1 broker.

Standard library only (runs with plain python3 on a fresh machine, no uv, no JVM
start-up), used by infra.sh to wait for readiness and by `infra.sh status`.
A log line or an open port is not enough: the port opens before the broker has
caught up with the KRaft metadata log and been unfenced; until then Metadata
lists no brokers.

On a SASL listener (ADR 24) it first authenticates with SCRAM-SHA-512 as
``KAFKA_ADMIN_USERNAME`` / ``KAFKA_ADMIN_PASSWORD`` (defaults: admin and its local-only
password); ``--plaintext`` (or ``KAFKA_SECURITY_PROTOCOL=PLAINTEXT``) skips that.

    python3 kafka_ready.py [HOST:PORT] [--wait SECONDS] [--plaintext]
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import socket
import struct
import sys
import time

METADATA, VERSION = 3, 4  # Metadata v4: old enough for every broker aiokafka talks to
SASL_HANDSHAKE, SASL_AUTHENTICATE = 17, 36
MECHANISM = "SCRAM-SHA-512"


def _string(s: str) -> bytes:
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def _call(sock: socket.socket, api: int, version: int, correlation: int, body: bytes) -> bytes:
    """One request (header v1) and its response body (after the correlation id)."""
    request = struct.pack(">hhi", api, version, correlation) + _string("infra-ready-probe") + body
    sock.sendall(struct.pack(">i", len(request)) + request)
    size = struct.unpack(">i", _recv(sock, 4))[0]
    resp = _recv(sock, size)
    if struct.unpack(">i", resp[:4])[0] != correlation:
        raise RuntimeError("unexpected correlation id")
    return resp[4:]


def _bytes_field(data: bytes, at: int) -> tuple[bytes, int]:
    n = struct.unpack(">i", data[at : at + 4])[0]
    return (b"", at + 4) if n < 0 else (data[at + 4 : at + 4 + n], at + 4 + n)


def _authenticate(sock: socket.socket, user: str, password: str) -> None:
    """SASL SCRAM-SHA-512 (RFC 5802) over SaslHandshake v1 + SaslAuthenticate v0."""
    resp = _call(sock, SASL_HANDSHAKE, 1, 10, _string(MECHANISM))
    if struct.unpack(">h", resp[:2])[0] != 0:
        raise RuntimeError(f"broker does not offer {MECHANISM}")

    def step(correlation: int, message: bytes) -> bytes:
        resp = _call(
            sock, SASL_AUTHENTICATE, 0, correlation, struct.pack(">i", len(message)) + message
        )
        error = struct.unpack(">h", resp[:2])[0]
        n = struct.unpack(">h", resp[2:4])[0]
        at = 4 + max(n, 0)
        if error:
            text = resp[4:at].decode(errors="replace") if n > 0 else ""
            raise RuntimeError(f"SASL authentication failed ({error}) {text}".strip())
        return _bytes_field(resp, at)[0]

    nonce = base64.b64encode(secrets.token_bytes(18)).decode()
    first_bare = f"n={user},r={nonce}"
    server_first = step(11, f"n,,{first_bare}".encode()).decode()
    fields = dict(item.split("=", 1) for item in server_first.split(","))
    if not fields["r"].startswith(nonce):
        raise RuntimeError("SCRAM: server nonce does not extend ours")
    salted = hashlib.pbkdf2_hmac(
        "sha512", password.encode(), base64.b64decode(fields["s"]), int(fields["i"])
    )
    client_key = hmac.new(salted, b"Client Key", hashlib.sha512).digest()
    stored_key = hashlib.sha512(client_key).digest()
    final_bare = f"c=biws,r={fields['r']}"
    auth_message = f"{first_bare},{server_first},{final_bare}".encode()
    signature = hmac.new(stored_key, auth_message, hashlib.sha512).digest()
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature, strict=True)))
    server_final = step(12, f"{final_bare},p={proof.decode()}".encode()).decode()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha512).digest()
    expected = base64.b64encode(hmac.new(server_key, auth_message, hashlib.sha512).digest())
    if server_final != f"v={expected.decode()}":
        raise RuntimeError("SCRAM: the broker's signature does not match")


def metadata_brokers(
    host: str, port: int, timeout: float = 3.0, credentials: tuple[str, str] | None = None
) -> int:
    """Number of brokers in a Metadata(all topics) response; raises on any problem."""
    body = struct.pack(">i", -1) + b"\x00"  # topics = null (all), allow_auto_create = false
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        if credentials is not None:
            _authenticate(sock, *credentials)
        resp = _call(sock, METADATA, VERSION, 1, body)
    # throttle_time_ms int32, brokers array (int32 count), ...
    _throttle, n_brokers = struct.unpack(">ii", resp[:8])
    return n_brokers


def _recv(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        buf += chunk
    return buf


def main(argv: list[str]) -> int:
    address, wait = "127.0.0.1:9092", 0.0
    plaintext = os.environ.get("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT") == "PLAINTEXT"
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--wait":
            wait = float(args.pop(0))
        elif a == "--plaintext":
            plaintext = True
        else:
            address = a.split(",")[0]
    user = os.environ.get("KAFKA_ADMIN_USERNAME") or "admin"
    password = os.environ.get("KAFKA_ADMIN_PASSWORD") or f"{user}-local-only"
    credentials = None if plaintext else (user, password)
    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + wait
    last: object = None
    while True:
        try:
            if metadata_brokers(host or "127.0.0.1", int(port), credentials=credentials) > 0:
                return 0
            last = "metadata lists no brokers yet"
        except (OSError, RuntimeError, struct.error, KeyError, ValueError) as exc:
            last = exc
        if time.monotonic() >= deadline:
            if wait:
                print(f"kafka at {address} not ready: {last}", file=sys.stderr)
            return 1
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
