"""Exceptions raised when an event cannot be read."""

from __future__ import annotations

from pydantic import ValidationError


class InvalidEvent(ValueError):
    """A message is not a valid event: bad JSON, missing or malformed attribute or data.

    The message never contains field values (they may be personal data), only where and
    what is wrong, so it is safe to log and to put on a dead-letter topic. ``errors``
    holds the same as structured ``(location, message)`` pairs.
    """

    def __init__(self, message: str, errors: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.errors: list[tuple[str, str]] = errors or []

    @classmethod
    def from_validation_error(cls, what: str, exc: ValidationError) -> InvalidEvent:
        errors = [
            (".".join(str(part) for part in err["loc"]) or "<root>", err["msg"])
            for err in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        detail = "; ".join(f"{loc}: {msg}" for loc, msg in errors)
        return cls(f"invalid {what}: {detail}", errors)


class UnknownEvent(InvalidEvent):
    """No payload model is registered for the event's type and schema version (or not the
    one the consumer expects)."""

    def __init__(self, event_type: str, version: int, message: str | None = None) -> None:
        super().__init__(
            message or f"no payload model registered for event type {event_type!r} v{version}"
        )
        self.event_type = event_type
        self.version = version
