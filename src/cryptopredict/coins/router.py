"""Routes for coins."""

from fastapi import APIRouter

router = APIRouter(prefix="/coins", tags=["coins"])
