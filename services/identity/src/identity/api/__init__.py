"""Identity's HTTP routes."""

from fastapi import APIRouter

from identity.api import audit, registrations, terminations, tokens, users

router = APIRouter()
router.include_router(registrations.router)
router.include_router(tokens.router)
router.include_router(users.router)
router.include_router(terminations.router)
router.include_router(audit.router)

__all__ = ["router"]
