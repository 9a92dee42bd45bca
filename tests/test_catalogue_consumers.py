"""The topic catalogue says who consumes each topic; that must be what the services
actually subscribe to (their ``event_handlers``), so operators reading the catalogue or the
AsyncAPI document see the real flows."""

import importlib
from pathlib import Path

from contracts.topics import CATALOGUE

SERVICES = ["identity", "delegation", "billing", "fleet", "einvoice", "notifier"]


def _subscribed(tmp_path: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for service in SERVICES:
        main = importlib.import_module(f"{service}.main")
        settings_module = importlib.import_module(f"{service}.settings")
        settings_class = getattr(settings_module, f"{service.capitalize()}Settings")
        url = f"sqlite+aiosqlite:///{tmp_path}/{service}.db"
        app = main.create_app(settings_class(database_url=url))
        for topic in app.state.kit.handlers.topics:
            found.setdefault(topic, set()).add(service)
    return found


def test_the_catalogue_names_exactly_the_services_that_consume_each_topic(tmp_path: Path) -> None:
    subscribed = _subscribed(tmp_path)
    for name, spec in CATALOGUE.items():
        if name.startswith("dlq."):
            continue
        assert set(spec.consumers) == subscribed.get(name, set()), name
