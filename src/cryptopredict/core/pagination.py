"""The one way to paginate: bounded `limit`/`offset` in, items plus total out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

from cryptopredict.core.validation import PlainInteger

MAX_LIMIT = 500
MAX_OFFSET = 1_000_000


@dataclass(frozen=True, slots=True)
class PageParams:
    """Validated pagination window."""

    limit: int = 50
    offset: int = 0


def page_params(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="Items per page"), PlainInteger
    ] = 50,
    offset: Annotated[
        int, Query(ge=0, le=MAX_OFFSET, description="Items to skip"), PlainInteger
    ] = 0,
) -> PageParams:
    """FastAPI dependency reading and bounding `limit` and `offset`."""
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(page_params)]


ItemT = TypeVar("ItemT")


class Page(BaseModel, Generic[ItemT]):
    """A page of results with the total count across all pages."""

    items: list[ItemT]
    total: int
    limit: int
    offset: int
