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
import enum
from decimal import ROUND_HALF_EVEN, Context, Decimal
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
from cryptopredict.portfolios.models import CostBasisMethod, TransactionKind

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


_QUANTUM = Decimal(1).scaleb(-MAX_DECIMAL_PLACES)


def money_rounded(value: Decimal) -> Decimal:
    """A computed amount rounded once, half to even, to 18 decimal places (what a quotient
    such as an average cost needs), whatever its size."""
    return value.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN, context=_WIDE)


def money_text(value: Decimal) -> str:
    """A computed amount as the API returns it: ``money_rounded``, in plain notation."""
    return decimal_text(money_rounded(value))


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
#: A computed amount (a sum, a product, an average): rounded to 18 places in the response.
MoneyStr = Annotated[Decimal, PlainSerializer(money_text, return_type=str)]
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


_METHOD_DESCRIPTION = (
    "Which lots a sale or transfer out consumes: `fifo` (oldest first), `lifo` (newest "
    "first), `hifo` (highest unit cost first) or `average` (average cost); changing it "
    "recomputes every figure"
)


class PortfolioCreate(RequestModel):
    """A new portfolio; names are unique per user."""

    name: Name
    description: Description | None = None
    cost_basis_method: ByValue[CostBasisMethod] = Field(
        default=CostBasisMethod.FIFO, description=_METHOD_DESCRIPTION
    )


class PortfolioUpdate(RequestModel):
    """Rename a portfolio or change (or clear, with null) its description."""

    name: Name | SkipJsonSchema[None] = None
    description: Description | None = None
    cost_basis_method: ByValue[CostBasisMethod] | SkipJsonSchema[None] = Field(
        default=None, description=_METHOD_DESCRIPTION
    )

    @field_validator("name", "cost_basis_method")
    @classmethod
    def _not_nullable(cls, value: Any, info: ValidationInfo) -> Any:
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
    cost_basis_method: CostBasisMethod
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
    """One coin held, valued at a price, under the portfolio's cost-basis method.

    Cost figures come from the lots still open: `cost_basis` is null while any held unit came
    in by a transfer without a stated cost (its cost is unknown, never taken as zero); then
    `known_cost_basis` is the cost of the rest and `missing_basis_quantity` says how much has
    none, and `unrealized_pnl` covers only the units with a known cost. A coin with no price at
    the valuation instant has a null `price` and `value` and is left out of every total.
    """

    coin: CoinRef
    quantity: DecimalStr
    cost_basis: MoneyStr | None
    average_cost: MoneyStr | None
    known_cost_basis: MoneyStr
    missing_basis_quantity: DecimalStr
    price: MoneyStr | None = Field(description="USD per coin used to value the holding")
    price_at: dt.datetime | None = Field(description="When that price was recorded")
    price_age_seconds: int | None = Field(description="Valuation instant minus `price_at`")
    value: MoneyStr | None = Field(description="Quantity times price, USD")
    unrealized_pnl: MoneyStr | None = Field(
        description="Value of the units with a known cost, less that cost"
    )
    unrealized_pnl_percent: float | None = Field(
        description="`unrealized_pnl` as a percentage of `known_cost_basis`"
    )
    realized_pnl: MoneyStr = Field(
        description="Gains and losses realized on this coin with a known cost, fees included"
    )
    fees: MoneyStr
    allocation_percent: float | None = Field(description="Share of the priced total value")
    transactions: int = Field(description="How many transactions of this coin were replayed")


class PortfolioWarning(BaseModel):
    """Something that makes a figure incomplete, said rather than hidden.

    `code` is `unpriced` (no price at the valuation instant: the coin is left out of the
    totals), `stale_price` (the newest price is over two days older than the instant) or
    `missing_basis` (held units or a disposal whose cost is unknown).
    """

    code: str
    coin: str
    message: str


class PortfolioSummary(BaseModel):
    """A portfolio valued at one instant, in USD.

    Totals cover priced coins only (`warnings` names the others). `net_invested` is money put
    in less money taken out: buys at their cost with fees, sells at their proceeds net of
    fees, transfers in at their stated cost, transfers out at the cost of the lots they
    removed; so `unrealized_pnl + realized_pnl == value - net_invested` when every coin is
    priced and every cost known.
    """

    portfolio_id: int
    at: dt.datetime = Field(description="The valuation instant: transactions and prices up to it")
    currency: str = "usd"
    cost_basis_method: CostBasisMethod
    value: MoneyStr
    cost_basis: MoneyStr = Field(description="Known cost of the priced holdings")
    unrealized_pnl: MoneyStr
    realized_pnl: MoneyStr
    total_pnl: MoneyStr = Field(description="`unrealized_pnl + realized_pnl`")
    net_invested: MoneyStr
    fees: MoneyStr
    holdings: list[HoldingRead]
    warnings: list[PortfolioWarning]


class LotUseRead(BaseModel):
    """The part of one acquisition a disposal consumed."""

    transaction_id: int = Field(description="The buy or transfer in that opened the lot")
    acquired_at: dt.datetime
    quantity: MoneyStr
    cost: MoneyStr | None = Field(description="Null where the acquisition has no stated cost")
    unit_cost: MoneyStr | None


class DisposalRead(BaseModel):
    """A sell or transfer out with the lots it consumed under the portfolio's method."""

    transaction_id: int
    coin: CoinRef
    kind: TransactionKind
    executed_at: dt.datetime
    quantity: DecimalStr
    price: DecimalStr | None
    fee: DecimalStr
    proceeds: MoneyStr | None = Field(description="Quantity times price less the fee (sells)")
    cost: MoneyStr | None = Field(description="The consumed lots' cost; null if one has none")
    realized_pnl: MoneyStr | None = Field(
        description="Proceeds less cost for a sell; minus the fee for a transfer out"
    )
    missing_basis: bool
    lots: list[LotUseRead]


class HistoryPoint(BaseModel):
    """A portfolio at the end of one UTC day (or now, for today), in USD."""

    day: dt.date
    value: MoneyStr = Field(description="Priced holdings at the day's end")
    net_invested: MoneyStr
    cumulative_gain: MoneyStr = Field(description="`value - net_invested`")
    inflow: MoneyStr = Field(description="Money and coins' value brought in during the day")
    outflow: MoneyStr = Field(description="Proceeds and coins' value taken out during the day")
    unpriced: int = Field(description="Coins held with no price by the day's end")


class PortfolioHistory(BaseModel):
    """Daily value, net invested and cumulative gain, stored by a background task (days end at
    midnight UTC and use each coin's newest price by then), and today valued live."""

    portfolio_id: int
    currency: str = "usd"
    cost_basis_method: CostBasisMethod
    days: list[HistoryPoint]
    today: HistoryPoint | None = Field(
        description="Now, at the newest prices; null if out of range"
    )
    stored_through: dt.date | None = Field(description="The last day the task has stored")
    pending_from: dt.date | None = Field(
        description="Stored days from here on are being rebuilt after a change (within about a "
        "minute); until then they show the old figures"
    )


class PerformanceRange(enum.StrEnum):
    """A window ending now: the last 1, 7, 30 or 90 days (today included), the year to date,
    the last 365 days, everything since the first transaction, or `start`/`end` dates."""

    D1 = "1D"
    D7 = "7D"
    D30 = "30D"
    D90 = "90D"
    YTD = "YTD"
    Y1 = "1Y"
    ALL = "ALL"
    CUSTOM = "custom"


class BenchmarkPerformance(BaseModel):
    """A coin bought at the window's start and held: the same figures as the portfolio's."""

    coin: CoinRef
    start_price: MoneyStr | None
    end_price: MoneyStr | None
    total_return: float | None = Field(description="End price over start price, less one")
    max_drawdown: float | None
    volatility: float | None
    growth: list[float | None] = Field(
        description="What 1 held from the start is worth at the end of each of `series_days`"
    )


PERFORMANCE_DEFINITIONS: dict[str, str] = {
    "twr": "Time-weighted return: daily returns linked; money brought in counts at the start "
    "of its day, money taken out at its end, so deposits and withdrawals do not move it",
    "mwr_annualized": "Money-weighted return (XIRR) per 365-day year: the rate at which the "
    "start value and money brought in grow into the end value and money taken out",
    "mwr_period": "The money-weighted return over the window itself",
    "absolute_gain": "End value less start value less net money brought in (USD)",
    "net_invested": "Money brought in less money taken out during the window (USD)",
    "max_drawdown": "The deepest fall of the time-weighted wealth index from a previous peak",
    "volatility": "Standard deviation of daily time-weighted returns, times sqrt(365)",
    "benchmarks": "Each coin bought at the window's start price and held to its end",
}


class PortfolioPerformance(BaseModel):
    """Performance over a window ending now (or at `end`), in USD; `definitions` says what
    each figure is. Ratios are fractions (0.05 is 5 %)."""

    portfolio_id: int
    range: PerformanceRange
    start: dt.date = Field(
        description="The first day counted; the start value is the day before's end"
    )
    end: dt.date = Field(description="The last day counted (today is valued live)")
    start_value: MoneyStr
    end_value: MoneyStr
    inflow: MoneyStr
    outflow: MoneyStr
    net_invested: MoneyStr
    absolute_gain: MoneyStr
    twr: float | None
    mwr_annualized: float | None
    mwr_period: float | None
    max_drawdown: float | None
    volatility: float | None
    days: int
    series_days: list[dt.date] = Field(description="The days counted, for `growth`")
    growth: list[float] = Field(
        description="The time-weighted wealth index: what 1 at the start is worth at the end "
        "of each day (today: now)"
    )
    benchmarks: list[BenchmarkPerformance]
    definitions: dict[str, str] = Field(default_factory=lambda: dict(PERFORMANCE_DEFINITIONS))
    pending_from: dt.date | None = Field(description="As in the history: figures may be outdated")


class ImportedTransaction(BaseModel):
    """A CSV line that is (or, in a dry run, would be) recorded."""

    line: int
    coin: CoinRef
    kind: TransactionKind
    quantity: DecimalStr
    price: DecimalStr | None
    fee: DecimalStr
    executed_at: dt.datetime
    note: str | None


class ImportDuplicate(BaseModel):
    """A CSV line left out because the same transaction (coin, kind, quantity, price, fee and
    instant) is already recorded, or appears on an earlier line."""

    line: int
    transaction_id: int | None = Field(description="The recorded transaction it repeats")
    same_as_line: int | None = Field(description="The earlier line it repeats")


class ImportHoldingChange(BaseModel):
    """How much of a coin the portfolio holds now, and after the import."""

    coin: CoinRef
    before: DecimalStr
    after: DecimalStr


class ImportResult(BaseModel):
    """What an import recorded, or in a dry run what it would record; nothing is written
    when any line is refused (422 lists every problem with its line number)."""

    dry_run: bool
    lines: int = Field(description="Data lines read")
    created: int = Field(description="Transactions recorded (in a dry run: that would be)")
    transactions: list[ImportedTransaction]
    duplicates: list[ImportDuplicate]
    holdings: list[ImportHoldingChange]


class ValueBand(BaseModel):
    """The portfolio's value `horizon` days ahead, as quantiles of the simulated values."""

    horizon: int = Field(description="Days ahead")
    quantiles: dict[str, MoneyStr] = Field(
        description="USD value per percent label (5, 10, 25, 50, 75, 90, 95)"
    )
    target_from: dt.datetime | None = Field(description="The earliest coin forecast's target")
    target_to: dt.datetime | None = Field(description="The latest coin forecast's target")
    forecast_coins: list[str] = Field(description="Coins drawn from their served forecast")
    flat_coins: list[str] = Field(
        description="Coins held without a forecast at this horizon: kept at today's value"
    )


class PortfolioForecast(BaseModel):
    """Where the portfolio's value may be at each served horizon: every coin's served
    forecast distribution (its returns applied to today's price), joined by the correlation
    of the coins' daily log returns over the last year (a Gaussian copula), simulated."""

    portfolio_id: int
    value_now: MoneyStr = Field(description="Priced holdings now, USD")
    method: str = Field(description="`gaussian_copula`: see the description")
    description: str
    correlation_days: int
    simulations: int
    bands: list[ValueBand]
    warnings: list[PortfolioWarning]
