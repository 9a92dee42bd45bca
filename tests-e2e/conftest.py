"""Fixtures of the end-to-end tests: the running system (``e2e_stack``), a client of its
six services and the mail/SMS sinks."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The tests' helpers: this folder and deploy/local (the process launcher, the client).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e_stack import OPERATOR_EMAIL, OPERATOR_PASSWORD, SINK_URL, running_stack
from portal_client import Portal, Sinks
from stack import SERVICES, Stack


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    with running_stack() as stack:
        yield stack


@pytest.fixture(scope="session")
def portal(stack: Stack) -> Portal:
    return Portal({s: stack.url(s) for s in SERVICES}, (OPERATOR_EMAIL, OPERATOR_PASSWORD))


@pytest.fixture(scope="session")
def sinks() -> Sinks:
    return Sinks(SINK_URL)
