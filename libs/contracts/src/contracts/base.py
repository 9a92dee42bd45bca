"""Base class of every event payload and the registry of payload versions."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

DATASCHEMA_PREFIX = "urn:portal:events:"
_EVENT_TYPE_RE = re.compile(r"^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$")
_DATASCHEMA_RE = re.compile(r"^urn:portal:events:(?P<type>[a-z0-9.-]+):v(?P<version>[1-9]\d*)$")

_REGISTRY: dict[tuple[str, int], type[EventPayload]] = {}


def dataschema_uri(event_type: str, version: int) -> str:
    """The CloudEvents ``dataschema`` of a payload: ``urn:portal:events:<type>:v<version>``."""
    return f"{DATASCHEMA_PREFIX}{event_type}:v{version}"


@functools.lru_cache(maxsize=1024)  # a few dozen distinct URNs, read on every event
def parse_dataschema(uri: str) -> tuple[str, int]:
    """``(event_type, version)`` named by a ``dataschema`` URN; ValueError if not one of ours."""
    match = _DATASCHEMA_RE.match(uri)
    if match is None:
        raise ValueError(
            f"dataschema {uri!r} is not of the form {DATASCHEMA_PREFIX}<type>:v<version>"
        )
    return match["type"], int(match["version"])


class EventPayload(BaseModel):
    """The ``data`` of an event. One subclass per event type and schema version.

    Subclasses set ``event_type`` (the topic name) and ``version``; defining such a class
    registers it. Payloads ignore fields they do not know (a newer producer may add
    fields) and are immutable.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_type: ClassVar[str]
    version: ClassVar[int]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        # Runs once pydantic has finished building the class (unlike __init_subclass__,
        # which runs before the fields exist). Intermediate bases without their own
        # event_type/version are not registered.
        super().__pydantic_init_subclass__(**kwargs)
        if "event_type" not in cls.__dict__ and "version" not in cls.__dict__:
            return
        event_type = getattr(cls, "event_type", None)
        version = getattr(cls, "version", None)
        if not isinstance(event_type, str) or not _EVENT_TYPE_RE.match(event_type):
            raise TypeError(f"{cls.__qualname__}.event_type must be a topic name like 'a.b'")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise TypeError(f"{cls.__qualname__}.version must be an int >= 1")
        existing = _REGISTRY.get((event_type, version))
        if existing is not None and (existing.__module__, existing.__qualname__) != (
            cls.__module__,
            cls.__qualname__,
        ):
            raise TypeError(
                f"{cls.__qualname__} and {existing.__module__}.{existing.__qualname__} "
                f"both claim {event_type} v{version}"
            )
        _REGISTRY[(event_type, version)] = cls

    @classmethod
    def dataschema(cls) -> str:
        """The URN naming this payload's schema version (the envelope's ``dataschema``)."""
        return dataschema_uri(cls.event_type, cls.version)

    def key(self) -> str:
        """The Kafka message key: the customer id, so one customer's events stay in order."""
        customer_id = getattr(self, "customer_id", None)
        if customer_id is None:
            raise NotImplementedError(f"{type(self).__qualname__} must define key()")
        return str(customer_id)

    def subject(self) -> str | None:
        """The envelope's default ``subject``: the id of the entity the event is about."""
        return None


def lookup_payload(event_type: str, version: int) -> type[EventPayload]:
    """The payload class registered for ``(event_type, version)``; KeyError if none."""
    _load_events()
    try:
        return _REGISTRY[(event_type, version)]
    except KeyError:
        raise KeyError(f"no payload model for {event_type!r} v{version}") from None


def registered_payloads() -> Mapping[tuple[str, int], type[EventPayload]]:
    """Every registered payload class by ``(event_type, version)`` (read-only view)."""
    _load_events()
    return MappingProxyType(_REGISTRY)


def _load_events() -> None:
    # The registry fills as event modules are imported; make sure all of them are.
    import contracts.events  # noqa: F401
