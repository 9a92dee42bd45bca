"""HTTP routes: parse, authorize, call one use case, shape the reply."""

from fastapi import APIRouter

from fleet.api import products, sims

router = APIRouter()
router.include_router(sims.router)
router.include_router(products.router)
