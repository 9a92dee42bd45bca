"""``/v1/me``'s profile is delegation's: the strongest of the user's own active
assignments, never a third party's grant or a revoked one."""

import httpx

from identity.profiles import CurrentProfile, DelegationProfiles, strongest
from servicekit.http import ServiceClient


def _a(profile: str, *, status: str = "active", third_party: bool = False, sub=()):  # type: ignore[no-untyped-def]
    return {
        "profile": profile,
        "status": status,
        "third_party": third_party,
        "subprofiles": list(sub),
    }


def test_the_strongest_active_own_assignment_is_the_profile() -> None:
    assert strongest([_a("portal_user", sub=["purchaser"]), _a("access_owner")]) == CurrentProfile(
        "access_owner", []
    )
    assert strongest([_a("access_owner", status="revoked"), _a("access_manager")]) == (
        CurrentProfile("access_manager", [])
    )
    assert strongest([_a("portal_user", third_party=True)]) == CurrentProfile(None, [])
    assert strongest([_a("portal_user", sub=["purchaser"])]) == CurrentProfile(
        "portal_user", ["purchaser"]
    )


class _Tokens:
    async def token(self) -> str:
        return "t"

    def invalidate(self) -> None:
        return None


async def test_delegation_is_asked_about_the_users_assignments_in_its_customer() -> None:
    seen: list[httpx.URL] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(200, json={"items": [_a("access_manager")], "next_cursor": None})

    client = ServiceClient(
        "delegation", "http://d", _Tokens(), transport=httpx.MockTransport(answer)
    )
    profiles = DelegationProfiles(client)
    got = await profiles.current("c1", "u1")  # type: ignore[arg-type]
    await profiles.close()
    assert got == CurrentProfile("access_manager", [])
    assert seen[0].path == "/v1/customers/c1/assignments"
    assert seen[0].params["user_id"] == "u1"
