"""Query filters shared by call details and insights: line, kind and zone."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Query

from billing.domain.rating import Zone
from billing.repository.usage import UsageFilter


class UsageQuery(UsageFilter):
    def describe(self) -> list[str]:
        return [
            f"{name} {value}"
            for name, value in (("line", self.line), ("kind", self.kind), ("zone", self.zone))
            if value is not None
        ]


async def usage_filter(  # async: FastAPI runs a plain def in a thread
    line: Annotated[
        str | None, Query(min_length=1, max_length=64, description="One line (MSISDN).")
    ] = None,
    kind: Annotated[Literal["voice", "sms", "data"] | None, Query()] = None,
    zone: Annotated[Zone | None, Query()] = None,
) -> UsageQuery:
    return UsageQuery(line=line, kind=kind, zone=zone.value if zone is not None else None)


UsageFilterDep = Annotated[UsageQuery, Depends(usage_filter)]
