from fastapi import APIRouter

from billing.api import insights, routes

router = APIRouter()
router.include_router(routes.router)
router.include_router(insights.router)

__all__ = ["router"]
