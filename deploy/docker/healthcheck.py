"""Container health probe (slim images have no curl): GET a path of this service.

    python /app/healthcheck.py [/healthz | /readyz]

Exit 0 on a 2xx answer, 1 otherwise. The port is ``<SERVICE>_PORT`` when set, else the
service's default port; ``PORTAL_SERVICE`` names the service (set by the image).
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

DEFAULT_PORTS = {
    "identity": 8001,
    "delegation": 8002,
    "billing": 8003,
    "fleet": 8004,
    "einvoice": 8005,
    "notifier": 8006,
}


def main(argv: list[str]) -> int:
    service = os.environ.get("PORTAL_SERVICE", "")
    if service not in DEFAULT_PORTS:
        print(f"healthcheck: unknown PORTAL_SERVICE {service!r}", file=sys.stderr)
        return 1
    port = os.environ.get(f"{service.upper()}_PORT") or str(DEFAULT_PORTS[service])
    path = argv[1] if len(argv) > 1 else "/healthz"
    url = f"http://127.0.0.1:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=4) as reply:
            return 0 if 200 <= reply.status < 300 else 1
    except urllib.error.HTTPError as exc:  # 503 from /readyz names what is missing
        body = exc.read(500).decode("utf-8", "replace")
        print(f"healthcheck: {url} -> {exc.code} {body}", file=sys.stderr)
    except OSError as exc:
        print(f"healthcheck: {url} -> {exc}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
