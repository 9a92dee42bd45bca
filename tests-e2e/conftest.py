"""Fixtures of the end-to-end tests: the running system (``e2e_stack``), a client of its
six services and the mail/SMS sinks."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The tests' helpers: this folder and deploy/local (the process launcher, the client).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e_stack import OPERATOR_EMAIL, OPERATOR_PASSWORD, SINK_URL, running_stack
from portal_client import Portal, Sinks
from stack import SERVICES, Stack

# E2E_STACK_URL=http://127.0.0.1:8080: use a system that already runs behind one origin
# (the gateway of docker-compose.yml, `make compose-test`) instead of starting the six
# processes; its identity must know the operator below (IDENTITY_OPERATOR_EMAIL/PASSWORD).
STACK_URL = os.environ.get("E2E_STACK_URL", "").rstrip("/")


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    if STACK_URL:
        pytest.skip(f"kills and starts service processes: not with E2E_STACK_URL={STACK_URL}")
    with running_stack() as stack:
        yield stack


@pytest.fixture(scope="session")
def portal(request: pytest.FixtureRequest) -> Portal:
    if STACK_URL:
        return Portal({s: STACK_URL for s in SERVICES}, (OPERATOR_EMAIL, OPERATOR_PASSWORD))
    stack: Stack = request.getfixturevalue("stack")
    return Portal({s: stack.url(s) for s in SERVICES}, (OPERATOR_EMAIL, OPERATOR_PASSWORD))


@pytest.fixture(scope="session")
def sinks() -> Sinks:
    return Sinks(SINK_URL)
