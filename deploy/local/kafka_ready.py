"""Is a Kafka broker ready? Exit 0 if a Metadata request answers with >= 1 broker.

Standard library only (runs with plain python3 on a fresh machine, no uv, no JVM
start-up), used by infra.sh to wait for readiness and by `infra.sh status`.
A log line or an open port is not enough: the port opens before the broker has
caught up with the KRaft metadata log and been unfenced; until then Metadata
lists no brokers.

    python3 kafka_ready.py [HOST:PORT] [--wait SECONDS]
"""

from __future__ import annotations

import socket
import struct
import sys
import time

METADATA, VERSION = 3, 4  # Metadata v4: old enough for every broker aiokafka talks to


def _string(s: str) -> bytes:
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def metadata_brokers(host: str, port: int, timeout: float = 3.0) -> int:
    """Number of brokers in a Metadata(all topics) response; raises on any problem."""
    header = struct.pack(">hhi", METADATA, VERSION, 1) + _string("infra-ready-probe")
    body = struct.pack(">i", -1) + b"\x00"  # topics = null (all), allow_auto_create = false
    request = header + body
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(request)) + request)
        size = struct.unpack(">i", _recv(sock, 4))[0]
        resp = _recv(sock, size)
    # correlation_id int32, throttle_time_ms int32, brokers array (int32 count), ...
    correlation, _throttle, n_brokers = struct.unpack(">iii", resp[:12])
    if correlation != 1:
        raise RuntimeError("unexpected correlation id")
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
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--wait":
            wait = float(args.pop(0))
        else:
            address = a.split(",")[0]
    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + wait
    last: object = None
    while True:
        try:
            if metadata_brokers(host or "127.0.0.1", int(port)) > 0:
                return 0
            last = "metadata lists no brokers yet"
        except (OSError, RuntimeError, struct.error) as exc:
            last = exc
        if time.monotonic() >= deadline:
            if wait:
                print(f"kafka at {address} not ready: {last}", file=sys.stderr)
            return 1
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
