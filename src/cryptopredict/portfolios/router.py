"""Routes for the caller's portfolios, their transactions and holdings."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response, status

from cryptopredict.auth.dependencies import CurrentUser
from cryptopredict.core.database import utcnow
from cryptopredict.core.dependencies import SessionDep, SettingsDep
from cryptopredict.core.errors import ValidationFailedError, error_responses
from cryptopredict.core.openapi import links
from cryptopredict.core.pagination import Page, PageDep
from cryptopredict.core.validation import CalendarDay, PlainBoolean
from cryptopredict.portfolios import forecast_band, imports, reports, service, valuation
from cryptopredict.portfolios.dependencies import PortfolioDep, TransactionDep
from cryptopredict.portfolios.models import TransactionKind
from cryptopredict.portfolios.schemas import (
    DisposalRead,
    ExecutedAt,
    HoldingRead,
    ImportResult,
    PerformanceRange,
    PortfolioCreate,
    PortfolioForecast,
    PortfolioHistory,
    PortfolioPerformance,
    PortfolioRead,
    PortfolioSummary,
    PortfolioUpdate,
    TransactionCreate,
    TransactionRead,
    TransactionUpdate,
)

router = APIRouter(
    prefix="/portfolios", tags=["portfolios"], responses=error_responses(401, 404, 422)
)

_PORTFOLIO_LINKS = links(
    status.HTTP_201_CREATED,
    {
        "GetPortfolio": "get_portfolio",
        "UpdatePortfolio": "update_portfolio",
        "DeletePortfolio": "delete_portfolio",
        "ListHoldings": "list_holdings",
        "GetPortfolioSummary": "get_portfolio_summary",
        "ListDisposals": "list_disposals",
        "GetPortfolioHistory": "get_portfolio_history",
        "GetPortfolioPerformance": "get_portfolio_performance",
        "GetPortfolioForecast": "get_portfolio_forecast",
        "ImportTransactions": "import_transactions",
        "ExportTransactions": "export_transactions",
        "ExportPnl": "export_pnl",
        "ListTransactions": "list_transactions",
        "CreateTransaction": "create_transaction",
    },
    {"portfolio_id": "$response.body#/id"},
)
_TRANSACTION_LINKS = links(
    status.HTTP_201_CREATED,
    {
        "GetTransaction": "get_transaction",
        "UpdateTransaction": "update_transaction",
        "DeleteTransaction": "delete_transaction",
    },
    {"portfolio_id": "$response.body#/portfolio_id", "transaction_id": "$response.body#/id"},
)


@router.get("")
def list_portfolios(user: CurrentUser, session: SessionDep, page: PageDep) -> Page[PortfolioRead]:
    """The caller's portfolios, by name."""
    items, total = service.list_portfolios(session=session, user=user, page=page)
    return Page[PortfolioRead](
        items=[PortfolioRead.model_validate(p) for p in items],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post(
    "", status_code=status.HTTP_201_CREATED, responses=_PORTFOLIO_LINKS | error_responses(409)
)
def create_portfolio(
    data: PortfolioCreate, user: CurrentUser, session: SessionDep
) -> PortfolioRead:
    """Create a portfolio; names are unique per user."""
    return PortfolioRead.model_validate(service.create(session=session, user=user, data=data))


@router.get("/{portfolio_id}")
def get_portfolio(portfolio: PortfolioDep) -> PortfolioRead:
    """One of the caller's portfolios."""
    return PortfolioRead.model_validate(portfolio)


@router.patch("/{portfolio_id}", responses=error_responses(409))
def update_portfolio(
    data: PortfolioUpdate, portfolio: PortfolioDep, session: SessionDep
) -> PortfolioRead:
    """Rename a portfolio, change its description or its cost-basis method."""
    return PortfolioRead.model_validate(
        service.update(session=session, portfolio=portfolio, data=data)
    )


@router.delete("/{portfolio_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_portfolio(portfolio: PortfolioDep, session: SessionDep) -> None:
    """Delete a portfolio together with all its transactions."""
    service.delete(session=session, portfolio=portfolio)


ValuationInstant = Annotated[
    ExecutedAt | None,
    Query(
        description="Value the portfolio as it stood at this instant (ISO 8601 with a "
        "timezone): transactions up to it, each coin's newest price at or before it. "
        "Now when left out."
    ),
]


@router.get("/{portfolio_id}/holdings")
def list_holdings(
    portfolio: PortfolioDep,
    session: SessionDep,
    include_closed: Annotated[
        bool, Query(description="Also list coins whose quantity is back to zero"), PlainBoolean
    ] = False,
    at: ValuationInstant = None,
) -> list[HoldingRead]:
    """Each coin held, valued at its price, with cost basis and P&L under the portfolio's
    cost-basis method."""
    _, holdings, _, _ = valuation.valued(
        session=session, portfolio=portfolio, at=at, include_closed=include_closed
    )
    return holdings


@router.get("/{portfolio_id}/summary")
def get_portfolio_summary(
    portfolio: PortfolioDep, session: SessionDep, at: ValuationInstant = None
) -> PortfolioSummary:
    """Value, cost basis, unrealized and realized P&L and net invested, in USD, with the
    valued holdings and what makes any figure incomplete."""
    return valuation.summary(session=session, portfolio=portfolio, at=at)


@router.get("/{portfolio_id}/disposals")
def list_disposals(
    portfolio: PortfolioDep,
    session: SessionDep,
    page: PageDep,
    coin: Annotated[
        str | None, Query(min_length=1, max_length=100, description="CoinGecko id or symbol")
    ] = None,
) -> Page[DisposalRead]:
    """Sells and transfers out in the order they happened, each with its realized P&L and the
    lots it consumed (which acquisitions, how much, at what cost)."""
    items, total = valuation.disposals(session=session, portfolio=portfolio, page=page, coin=coin)
    return Page[DisposalRead](items=items, total=total, limit=page.limit, offset=page.offset)


MAX_BENCHMARKS = 10
Day = Annotated[CalendarDay | None, Query(description="A UTC calendar day, YYYY-MM-DD")]


@router.get("/{portfolio_id}/history")
def get_portfolio_history(
    portfolio: PortfolioDep, session: SessionDep, start: Day = None, end: Day = None
) -> PortfolioHistory:
    """Daily value, net invested and cumulative gain (USD) from `start` to `end` (the whole
    history when left out), as stored by the history task, and today valued live."""
    return reports.history(session=session, portfolio=portfolio, now=utcnow(), start=start, end=end)


@router.get("/{portfolio_id}/performance")
def get_portfolio_performance(
    portfolio: PortfolioDep,
    session: SessionDep,
    range_: Annotated[
        PerformanceRange, Query(alias="range", description="The window, ending now")
    ] = PerformanceRange.ALL,
    start: Annotated[
        CalendarDay | None, Query(description="range=custom: the first day (YYYY-MM-DD)")
    ] = None,
    end: Annotated[
        CalendarDay | None,
        Query(description="range=custom: the last day (YYYY-MM-DD; today if left out)"),
    ] = None,
    benchmarks: Annotated[
        str,
        Query(
            max_length=500,
            description="Comma-separated coins (CoinGecko id or symbol) to compare with, "
            "e.g. `bitcoin,ethereum`",
        ),
    ] = "",
) -> PortfolioPerformance:
    """Time- and money-weighted return, absolute gain, net invested, max drawdown and
    volatility over a window, next to benchmark coins held over the same window."""
    coins = list(dict.fromkeys(c.strip().lower() for c in benchmarks.split(",") if c.strip()))
    if len(coins) > MAX_BENCHMARKS:
        raise ValidationFailedError(
            f"At most {MAX_BENCHMARKS} benchmarks",
            details=[{"loc": ["query", "benchmarks"], "msg": "too many", "type": "too_long"}],
        )
    return reports.performance(
        session=session,
        portfolio=portfolio,
        now=utcnow(),
        range_=range_,
        start=start,
        end=end,
        benchmarks=coins,
    )


@router.get("/{portfolio_id}/forecast")
def get_portfolio_forecast(
    portfolio: PortfolioDep, session: SessionDep, settings: SettingsDep
) -> PortfolioForecast:
    """A band for the portfolio's value at each served horizon (1, 7 and 30 days): the coins'
    served forecasts joined by their correlation over the last year, simulated; the method
    is named and described in the answer."""
    return forecast_band.forecast_band(
        session=session, settings=settings, portfolio=portfolio, now=utcnow()
    )


_CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    status.HTTP_200_OK: {
        "description": "CSV, UTF-8 (see the import's format)",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


def _csv(text: str, filename: str) -> Response:
    return Response(
        content=text.encode(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.post("/{portfolio_id}/import", responses=error_responses(413))
def import_transactions(
    portfolio: PortfolioDep,
    session: SessionDep,
    data: Annotated[
        bytes,
        Body(
            media_type="text/csv",
            description="Transactions as CSV, UTF-8, with a header line: executed_at, coin, "
            "kind, quantity, and optionally price, fee, note (see the README)",
        ),
    ],
    dry_run: Annotated[
        bool,
        Query(description="Check and show what would be recorded, without writing"),
        PlainBoolean,
    ] = False,
) -> ImportResult:
    """Record transactions from a CSV, all or nothing: any invalid line refuses the whole
    file (422 lists every problem with its line number); lines that repeat a recorded
    transaction or an earlier line are left out and listed."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationFailedError(
            "The CSV must be UTF-8 text",
            details=[{"line": 0, "field": None, "msg": f"byte {exc.start} is not UTF-8"}],
        ) from exc
    return imports.import_csv(session=session, portfolio=portfolio, text=text, dry_run=dry_run)


@router.get(
    "/{portfolio_id}/export/transactions.csv",
    response_class=Response,
    responses=_CSV_RESPONSE,
)
def export_transactions(portfolio: PortfolioDep, session: SessionDep) -> Response:
    """Every transaction as CSV in the import's format (it imports back unchanged)."""
    text = imports.transactions_csv(session=session, portfolio=portfolio)
    return _csv(text, f"portfolio-{portfolio.id}-transactions.csv")


@router.get("/{portfolio_id}/export/pnl.csv", response_class=Response, responses=_CSV_RESPONSE)
def export_pnl(portfolio: PortfolioDep, session: SessionDep) -> Response:
    """The realized P&L report as CSV: each sell and transfer out with every lot it consumed
    under the portfolio's cost-basis method."""
    text = imports.pnl_csv(session=session, portfolio=portfolio)
    return _csv(text, f"portfolio-{portfolio.id}-pnl.csv")


@router.get("/{portfolio_id}/transactions")
def list_transactions(
    portfolio: PortfolioDep,
    session: SessionDep,
    page: PageDep,
    coin: Annotated[
        str | None, Query(min_length=1, max_length=100, description="CoinGecko id or symbol")
    ] = None,
    kind: TransactionKind | None = None,
) -> Page[TransactionRead]:
    """The portfolio's transactions in the order they happened, filterable by coin and kind."""
    items, total = service.list_transactions(
        session=session, portfolio=portfolio, page=page, coin=coin, kind=kind
    )
    return Page[TransactionRead](items=items, total=total, limit=page.limit, offset=page.offset)


@router.post(
    "/{portfolio_id}/transactions",
    status_code=status.HTTP_201_CREATED,
    responses=_TRANSACTION_LINKS,
)
def create_transaction(
    data: TransactionCreate, portfolio: PortfolioDep, session: SessionDep
) -> TransactionRead:
    """Record a buy, sell or transfer; removals beyond what was held then are refused."""
    return service.create_transaction(session=session, portfolio=portfolio, data=data)


@router.get("/{portfolio_id}/transactions/{transaction_id}")
def get_transaction(transaction: TransactionDep, session: SessionDep) -> TransactionRead:
    """One transaction of the caller's portfolio."""
    return service.read_transaction(session=session, transaction=transaction)


@router.patch("/{portfolio_id}/transactions/{transaction_id}")
def update_transaction(
    data: TransactionUpdate,
    portfolio: PortfolioDep,
    transaction: TransactionDep,
    session: SessionDep,
) -> TransactionRead:
    """Change a transaction, unless that would leave a later removal short."""
    return service.update_transaction(
        session=session, portfolio=portfolio, transaction=transaction, data=data
    )


@router.delete(
    "/{portfolio_id}/transactions/{transaction_id}", status_code=status.HTTP_204_NO_CONTENT
)
def delete_transaction(
    portfolio: PortfolioDep, transaction: TransactionDep, session: SessionDep
) -> None:
    """Delete a transaction, unless a later removal depends on it."""
    service.delete_transaction(session=session, portfolio=portfolio, transaction=transaction)
