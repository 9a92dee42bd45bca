"""A user's current profile, asked of delegation (the one truth about rights).

Identity records the profile given at invitation (it travels on ``user.created``), but
what a person holds now is delegation's: appointed access owner later, demoted later.
``/v1/me`` shows delegation's answer; an unreachable delegation is a 503 (fail closed),
never the stale copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote
from uuid import UUID

from servicekit.http import ServiceClient
from servicekit.problems import ServiceUnavailable

# The strongest profile wins when a person holds several in their customer.
RANK = ("access_owner", "access_manager", "portal_user", "service_user")


@dataclass(frozen=True)
class CurrentProfile:
    profile: str | None
    subprofiles: list[str]


class Profiles(Protocol):
    async def current(self, customer_id: UUID, user_id: UUID) -> CurrentProfile: ...

    async def access_owners(self, customer_id: UUID) -> list[UUID]: ...

    async def close(self) -> None: ...


def strongest(assignments: list[dict[str, Any]]) -> CurrentProfile:
    """The profile of a user's own (not third-party) active assignments in a customer."""
    held = [
        a
        for a in assignments
        if a.get("status") == "active" and not a.get("third_party") and a.get("profile") in RANK
    ]
    if not held:
        return CurrentProfile(None, [])
    best = min(held, key=lambda a: RANK.index(a["profile"]))
    subprofiles = sorted(
        {s for a in held if a["profile"] == best["profile"] for s in a.get("subprofiles", [])}
    )
    return CurrentProfile(best["profile"], subprofiles)


class DelegationProfiles:
    """``GET /v1/customers/{id}/assignments?user_id=`` at delegation, with identity's
    service token (scope ``delegation:assignments.read``)."""

    def __init__(self, delegation: ServiceClient) -> None:
        self.delegation = delegation

    async def current(self, customer_id: UUID, user_id: UUID) -> CurrentProfile:
        page = await self.delegation.get_json(
            f"/v1/customers/{customer_id}/assignments?user_id={user_id}&limit=100"
        )
        if page is None:  # delegation has not heard of the customer yet
            return CurrentProfile(None, [])
        try:
            return strongest(list(page["items"]))
        except (KeyError, TypeError) as exc:
            raise ServiceUnavailable("The delegation service gave an unreadable answer") from exc

    async def access_owners(self, customer_id: UUID) -> list[UUID]:
        """The customer's own access owners now (not through a group, not third party)."""
        owners: list[UUID] = []
        cursor: str | None = None
        while True:
            path = f"/v1/customers/{customer_id}/assignments?limit=100"
            page = await self.delegation.get_json(
                path + (f"&cursor={quote(cursor)}" if cursor else "")
            )
            if page is None:
                return owners
            try:
                owners += [
                    UUID(str(a["user_id"]))
                    for a in page["items"]
                    if a.get("profile") == "access_owner"
                    and a.get("status") == "active"
                    and not a.get("third_party")
                ]
                cursor = page.get("next_cursor")
            except (KeyError, TypeError, ValueError) as exc:
                raise ServiceUnavailable(
                    "The delegation service gave an unreadable answer"
                ) from exc
            if not cursor:
                return sorted(set(owners))

    async def close(self) -> None:
        await self.delegation.close()
