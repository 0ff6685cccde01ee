"""Routes for portfolios."""

from fastapi import APIRouter

router = APIRouter(prefix="/portfolios", tags=["portfolios"])
