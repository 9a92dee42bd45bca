"""HTTP routes: parse, authorize, call one use case, shape the reply."""

from fastapi import APIRouter

from delegation.api import assignments, checks, third_party

router = APIRouter()
router.include_router(checks.router)
router.include_router(assignments.router)
router.include_router(third_party.router)
