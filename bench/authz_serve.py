"""Start the benchmark stack, set up its people, write vegeta targets, and keep running
until interrupted (Ctrl-C or SIGTERM, which stop the services too): for profiling and
ad-hoc runs.

    uv run python bench/authz_serve.py [--db sqlite|postgres] [--port-base 19501]
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from authz_load import _batch, _target  # noqa: E402
from authz_stack import (  # noqa: E402
    add_invoices,
    check_body,
    invoices_path,
    portal_of,
    running_stack,
    set_up_people,
)


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--port-base", type=int, default=19501)
    parser.add_argument("--out", default="var/bench-targets")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # SIGTERM (kill, or a script stopping it) stops the stack's services too, as Ctrl-C does:
    # without this the process would end without leaving the stack's context.
    signal.signal(signal.SIGTERM, _interrupted)
    with running_stack(args.db, args.port_base) as stack:
        portal = portal_of(stack)
        people = set_up_people(portal)
        print(f"the invoice list shows {add_invoices(portal, people)} invoices", flush=True)
        token = people.owner_token
        deleg, billing = stack.url("delegation"), stack.url("billing")
        (out / "check.json").write_text(
            _target("POST", f"{deleg}/v1/check", token, check_body(people)) + "\n"
        )
        (out / "batch.json").write_text(
            _target("POST", f"{deleg}/v1/check/batch", token, _batch(people, 100)) + "\n"
        )
        (out / "invoices.json").write_text(
            _target("GET", f"{billing}{invoices_path(people)}", token) + "\n"
        )
        (out / "people.json").write_text(json.dumps(people.__dict__))
        print("ready", flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
