"""Request and response bodies for portfolios, their transactions and holdings.

Amounts (quantity, price, fee) are accepted as JSON numbers or strings in plain decimal notation
(`"0.5"`, not `"5e-1"`) and always returned as strings, so no float ever rounds them; send
strings when a value has more than 15 significant digits, since JSON numbers are parsed as
binary floats first. Prices and fees are in the quote currency the user records them in (fees
never change the coin quantity). `executed_at` must carry a timezone (naive timestamps are
refused rather than guessed) and is returned in UTC.
"""

from __future__ import annotations

import datetime as dt
from decimal import Context, Decimal
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    StringConstraints,
    ValidationInfo,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from cryptopredict.core.database import utcnow
from cryptopredict.core.validation import (
    NOT_BLANK,
    AwareInstant,
    ByValue,
    DecimalText,
    RequestModel,
    sent_length_at_most,
)
from cryptopredict.portfolios.models import TransactionKind

# Storage is NUMERIC(38, 18), read back exactly (ExactDecimal normalises in a 38-digit context).
MAX_WHOLE_DIGITS = 20
MAX_DECIMAL_PLACES = 18
CLOCK_SKEW = dt.timedelta(seconds=60)
EARLIEST_EXECUTED_AT = dt.datetime(2009, 1, 3, tzinfo=dt.UTC)  # the Bitcoin genesis block
NAME_MAX_LENGTH = 100
DESCRIPTION_MAX_LENGTH = 1000
NOTE_MAX_LENGTH = 500

_WIDE = Context(prec=100)
_T = TypeVar("_T")


def decimal_text(value: Decimal) -> str:
    """Plain notation without trailing zeros ("0.3", "100"), never exponents or rounding."""
    text = format(value.normalize(_WIDE), "f")
    return "0" if text in ("-0", "0") else text


def _executed_instant(value: dt.datetime) -> dt.datetime:
    """After the first block and not in the future beyond clock skew (already in UTC)."""
    if value < EARLIEST_EXECUTED_AT:
        raise ValueError(f"Timestamp must not be before {EARLIEST_EXECUTED_AT.isoformat()}")
    if value > utcnow() + CLOCK_SKEW:
        raise ValueError("Timestamp must not be in the future")
    return value


_MAX_DIGITS = MAX_WHOLE_DIGITS + MAX_DECIMAL_PLACES
Quantity = Annotated[
    Decimal,
    Strict(False),
    Field(gt=0, max_digits=_MAX_DIGITS, decimal_places=MAX_DECIMAL_PLACES),
    DecimalText,
]
Money = Annotated[
    Decimal,
    Strict(False),
    Field(ge=0, max_digits=_MAX_DIGITS, decimal_places=MAX_DECIMAL_PLACES),
    DecimalText,
]
ExecutedAt = Annotated[AwareInstant, AfterValidator(_executed_instant)]
DecimalStr = Annotated[Decimal, PlainSerializer(decimal_text, return_type=str)]
Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=NAME_MAX_LENGTH),
    Field(json_schema_extra=NOT_BLANK),
    sent_length_at_most(NAME_MAX_LENGTH, strip=True),
]
Description = Annotated[str, StringConstraints(max_length=DESCRIPTION_MAX_LENGTH)]
Note = Annotated[str, StringConstraints(max_length=NOTE_MAX_LENGTH)]
CoinIdentifier = Annotated[
    str,
    StringConstraints(to_lower=True, min_length=1, max_length=100),
    Field(
        description="CoinGecko id (`bitcoin`) or ticker symbol (`btc`)",
        json_schema_extra=NOT_BLANK,
    ),
    sent_length_at_most(100, strip=True),
]


def _not_null(value: _T | None, info: ValidationInfo) -> _T | None:
    """Optional in a PATCH means "may be left out", not "may be cleared"."""
    if value is None:
        raise PydanticCustomError("not_null", "{field} cannot be null", {"field": info.field_name})
    return value


class PortfolioCreate(RequestModel):
    """A new portfolio; names are unique per user."""

    name: Name
    description: Description | None = None


class PortfolioUpdate(RequestModel):
    """Rename a portfolio or change (or clear, with null) its description."""

    name: Name | SkipJsonSchema[None] = None
    description: Description | None = None

    @field_validator("name")
    @classmethod
    def _name_not_null(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _not_null(value, info)

    def changes(self) -> dict[str, Any]:
        """Only the fields the client sent."""
        return self.model_dump(exclude_unset=True)


class PortfolioRead(BaseModel):
    """A portfolio as its owner sees it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


def price_required(kind: TransactionKind) -> bool:
    """Trades happen at a price; transfers may have none."""
    return kind in (TransactionKind.BUY, TransactionKind.SELL)


def missing_price(kind: TransactionKind) -> PydanticCustomError:
    """The error for a trade without a price, reported against the `price` field."""
    return PydanticCustomError("missing", "price is required for a {kind}", {"kind": kind.value})


class TransactionCreate(RequestModel):
    """A buy, sell or transfer to record in a portfolio."""

    coin: CoinIdentifier
    kind: ByValue[TransactionKind]
    quantity: Quantity
    price: Money | None = Field(
        default=None, validate_default=True, description="Price per coin; required for buy and sell"
    )
    fee: Money = Field(default=Decimal(0), description="Fee in the price's currency")
    executed_at: ExecutedAt
    note: Note | None = None

    @field_validator("price")
    @classmethod
    def _trades_have_a_price(cls, price: Decimal | None, info: ValidationInfo) -> Decimal | None:
        kind = info.data.get("kind")
        if price is None and kind is not None and price_required(kind):
            raise missing_price(kind)
        return price


class TransactionUpdate(RequestModel):
    """Fields to change on a transaction; the result is checked as a whole by the service."""

    # Left out is unchanged; only price and note may be cleared with null.
    coin: CoinIdentifier | SkipJsonSchema[None] = None
    kind: ByValue[TransactionKind] | SkipJsonSchema[None] = None
    quantity: Quantity | SkipJsonSchema[None] = None
    price: Money | None = None
    fee: Money | SkipJsonSchema[None] = None
    executed_at: ExecutedAt | SkipJsonSchema[None] = None
    note: Note | None = None

    @field_validator("coin", "kind", "quantity", "fee", "executed_at")
    @classmethod
    def _required_not_null(cls, value: Any, info: ValidationInfo) -> Any:
        return _not_null(value, info)

    def changes(self) -> dict[str, Any]:
        """Only the fields the client sent."""
        return self.model_dump(exclude_unset=True)


class CoinRef(BaseModel):
    """Enough of a coin to show it next to a transaction or holding."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    coingecko_id: str
    symbol: str
    name: str


class TransactionRead(BaseModel):
    """A recorded transaction; amounts are decimal strings."""

    id: int
    portfolio_id: int
    coin: CoinRef
    kind: TransactionKind
    quantity: DecimalStr
    price: DecimalStr | None
    fee: DecimalStr
    executed_at: dt.datetime
    note: str | None
    created_at: dt.datetime


class HoldingRead(BaseModel):
    """What is held of one coin now, and what it cost (average-cost method).

    `cost_basis` and `average_cost` are null when some of the quantity came in by a transfer
    without a price, since its cost is unknown; they are rounded to 18 decimal places.
    """

    coin: CoinRef
    quantity: DecimalStr
    cost_basis: DecimalStr | None
    average_cost: DecimalStr | None
    transactions: int = Field(description="How many transactions of this coin were replayed")
