"""Routes for prices."""

from fastapi import APIRouter

router = APIRouter(prefix="/prices", tags=["prices"])
