"""Request and response bodies for the coin catalogue."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated, NamedTuple

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from cryptopredict.core.pagination import Page
from cryptopredict.core.validation import (
    NOT_BLANK,
    VISIBLE_CHARACTER,
    JsonInteger,
    RequestModel,
    sent_length_at_most,
)

COINGECKO_ID_PATTERN = r"^[a-z0-9][a-z0-9-_.]*$"
COINGECKO_ID_MAX_LENGTH = 100
SYMBOL_MAX_LENGTH = 50
NAME_MAX_LENGTH = 200
IMAGE_URL_MAX_LENGTH = 500
IMAGE_URL_PATTERN = rf"^https?://{VISIBLE_CHARACTER}+$"


def _lower(value: str) -> str:
    """Symbols are stored lower-case so look-ups by ticker ignore letter case."""
    return value.lower()


CoingeckoId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=COINGECKO_ID_MAX_LENGTH,
        pattern=COINGECKO_ID_PATTERN,
        description="CoinGecko's id: a lower-case slug such as `bitcoin` or `usd-coin`",
        examples=["bitcoin"],
    ),
]
Symbol = Annotated[
    str,
    Field(
        min_length=1,
        max_length=SYMBOL_MAX_LENGTH,
        pattern=rf"^{VISIBLE_CHARACTER}+$",
        examples=["btc"],
    ),
    AfterValidator(_lower),
]
Name = Annotated[
    str,
    Field(
        min_length=1,
        max_length=NAME_MAX_LENGTH,
        examples=["Bitcoin"],
        json_schema_extra=NOT_BLANK,  # the models strip white space
    ),
    sent_length_at_most(NAME_MAX_LENGTH),  # as sent, before the model strips it
]
Rank = Annotated[
    int, Field(ge=1, le=1_000_000, description="Market-cap rank, 1 is the largest"), JsonInteger
]
ImageUrl = Annotated[str, Field(max_length=IMAGE_URL_MAX_LENGTH, pattern=IMAGE_URL_PATTERN)]


class CoinBrief(NamedTuple):
    """The few fields hot paths need about a coin, read without building ORM objects."""

    id: int
    coingecko_id: str
    symbol: str
    name: str


class CoinListing(NamedTuple):
    """What a public listing (the CoinGecko mirror's) shows about a coin besides its prices."""

    id: int
    coingecko_id: str
    symbol: str
    name: str
    market_cap_rank: int | None
    image_url: str | None


class CatalogueOrder(enum.StrEnum):
    """Orders a listing can be read in; ties and unranked coins (last either way) go by
    CoinGecko id."""

    RANK = "rank"
    RANK_DESC = "rank_desc"
    ID = "id"
    ID_DESC = "id_desc"


class CoinSort(enum.StrEnum):
    """Sort orders for the catalogue; `-` means descending, unranked coins always come last."""

    RANK = "market_cap_rank"
    RANK_DESC = "-market_cap_rank"
    NAME = "name"
    NAME_DESC = "-name"
    SYMBOL = "symbol"
    SYMBOL_DESC = "-symbol"


class CoinCreate(RequestModel):
    """A coin to add to the catalogue (admins only)."""

    model_config = ConfigDict(str_strip_whitespace=True)

    coingecko_id: CoingeckoId
    symbol: Symbol
    name: Name
    market_cap_rank: Rank | None = None
    image_url: ImageUrl | None = None
    is_active: bool = True


class CoinUpdate(RequestModel):
    """Fields an admin may change; the CoinGecko id is the identity and never changes."""

    model_config = ConfigDict(str_strip_whitespace=True)

    # Symbol, name and the flag may be left out but not cleared: None only as the default.
    symbol: Symbol | SkipJsonSchema[None] = None
    name: Name | SkipJsonSchema[None] = None
    market_cap_rank: Rank | None = None
    image_url: ImageUrl | None = None
    is_active: bool | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _required_fields_not_null(self) -> CoinUpdate:
        """Rank and image may be cleared with null; symbol, name and the flag may not."""
        for field in ("symbol", "name", "is_active"):
            if field in self.model_fields_set and getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null")
        return self


class CoinRead(BaseModel):
    """A coin as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    coingecko_id: str
    symbol: str
    name: str
    market_cap_rank: int | None
    image_url: str | None
    is_active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


CoinPage = Page[CoinRead]
