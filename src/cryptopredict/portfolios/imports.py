"""CSV import of transactions (a dry run, or all or nothing) and the CSV exports of the
transactions and of the realized P&L with its matched lots. The format is ``csvio``'s.

An import checks every line before writing any: each must be a valid transaction (the API's
own rules), name a known coin, and keep every coin's quantity from going below zero at any
moment, counted with what is already recorded. Lines that repeat a recorded transaction or an
earlier line are left out and listed. One problem anywhere refuses the whole file (422, every
problem with its line number); otherwise all lines are written in one database transaction.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal, localcontext
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from cryptopredict.coins import service as coins_service
from cryptopredict.core.errors import NotFoundError, ValidationFailedError
from cryptopredict.portfolios import csvio, service, valuation
from cryptopredict.portfolios.csvio import CsvProblem
from cryptopredict.portfolios.lots import MONEY
from cryptopredict.portfolios.models import Portfolio, PortfolioTransaction
from cryptopredict.portfolios.repository import TransactionRepository
from cryptopredict.portfolios.schemas import (
    CoinRef,
    ImportDuplicate,
    ImportedTransaction,
    ImportHoldingChange,
    ImportResult,
    TransactionCreate,
    decimal_text,
    money_text,
)

#: Problems listed in a refusal; the message gives the total.
MAX_LISTED = 200

_Key = tuple[int, str, Decimal, Decimal | None, Decimal, dt.datetime]


def _key(coin_id: int, data: TransactionCreate | PortfolioTransaction) -> _Key:
    return (coin_id, str(data.kind), data.quantity, data.price, data.fee, data.executed_at)


def _refuse(problems: list[CsvProblem]) -> ValidationFailedError:
    problems.sort(key=lambda p: p.line)
    return ValidationFailedError(
        f"The CSV was not imported: {len(problems)} problem(s), first on line {problems[0].line}",
        details=[p.detail() for p in problems[:MAX_LISTED]],
    )


def _parsed(
    session: Session, rows: list[csvio.CsvRow]
) -> tuple[list[tuple[int, int, TransactionCreate]], list[CsvProblem]]:
    """(line, coin id, transaction) per valid line, and every line's problems."""
    problems: list[CsvProblem] = []
    valid: list[tuple[int, TransactionCreate]] = []
    for row in rows:
        try:
            valid.append((row.line, TransactionCreate.model_validate(row.fields)))
        except ValidationError as exc:
            for error in exc.errors():
                field = str(error["loc"][0]) if error["loc"] else None
                problems.append(CsvProblem(row.line, field, error["msg"]))
    coin_ids: dict[str, int | None] = {}
    out: list[tuple[int, int, TransactionCreate]] = []
    for line, data in valid:
        if data.coin not in coin_ids:
            try:
                coin = coins_service.get_by_identifier(session=session, identifier=data.coin)
                coin_ids[data.coin] = coin.id
            except NotFoundError:
                coin_ids[data.coin] = None
        coin_id = coin_ids[data.coin]
        if coin_id is None:
            problems.append(CsvProblem(line, "coin", f"Unknown coin {data.coin!r}"))
        else:
            out.append((line, coin_id, data))
    return out, problems


def import_csv(*, session: Session, portfolio: Portfolio, text: str, dry_run: bool) -> ImportResult:
    """Check a transaction CSV and, unless ``dry_run``, record it (see the module doc)."""
    rows, problems = csvio.read(text)
    if problems:
        raise _refuse(problems)
    parsed, problems = _parsed(session, rows)
    if problems:
        raise _refuse(problems)
    if not dry_run:
        service.lock_portfolio(session, portfolio)
    stored = TransactionRepository(session).timeline(portfolio.id)
    recorded = {_key(tx.coin_id, tx): tx.id for tx in stored}
    seen: dict[_Key, int] = {}
    duplicates: list[ImportDuplicate] = []
    new: list[tuple[int, int, TransactionCreate]] = []
    for line, coin_id, data in parsed:
        key = _key(coin_id, data)
        if key in recorded:
            duplicates.append(
                ImportDuplicate(line=line, transaction_id=recorded[key], same_as_line=None)
            )
        elif key in seen:
            duplicates.append(
                ImportDuplicate(line=line, transaction_id=None, same_as_line=seen[key])
            )
        else:
            seen[key] = line
            new.append((line, coin_id, data))
    movements = [service.Movement.of(tx) for tx in stored]
    lines: dict[int, int] = {}
    for line, coin_id, data in new:
        movement = service.Movement(None, coin_id, data.kind, data.quantity, data.executed_at)
        lines[id(movement)] = line
        movements.append(movement)
    shortfall = service.first_shortfall(movements)
    if shortfall is not None:
        moved = shortfall.movement
        found = lines.get(id(moved))
        where = f"line {found}" if found is not None else f"transaction {moved.transaction_id}"
        raise _refuse(
            [
                CsvProblem(
                    found or 0,
                    "quantity",
                    f"{where} would remove {decimal_text(moved.quantity)} but only "
                    f"{decimal_text(shortfall.available)} is held at "
                    f"{csvio.instant_text(moved.executed_at)}",
                )
            ]
        )
    coins = coins_service.get_many_by_ids(
        session=session, ids={c for _, c, _ in new} | {tx.coin_id for tx in stored}
    )
    if not dry_run and new:
        service.mark_changed(portfolio, *(data.executed_at for _, _, data in new))
        for _, coin_id, data in new:
            service.record(session, portfolio, coin_id, data)
        session.commit()
    before: dict[int, Decimal] = defaultdict(Decimal)
    after: dict[int, Decimal] = defaultdict(Decimal)
    with localcontext(MONEY):
        for tx in stored:
            change = tx.quantity if tx.kind.adds_holdings else -tx.quantity
            before[tx.coin_id] += change
            after[tx.coin_id] += change
        for _, coin_id, data in new:
            after[coin_id] += data.quantity if data.kind.adds_holdings else -data.quantity
    return ImportResult(
        dry_run=dry_run,
        lines=len(rows),
        created=len(new),
        transactions=[
            ImportedTransaction(
                line=line,
                coin=CoinRef.model_validate(coins[coin_id]),
                kind=data.kind,
                quantity=data.quantity,
                price=data.price,
                fee=data.fee,
                executed_at=data.executed_at,
                note=data.note,
            )
            for line, coin_id, data in new
        ],
        duplicates=duplicates,
        holdings=[
            ImportHoldingChange(
                coin=CoinRef.model_validate(coins[c]), before=before[c], after=after[c]
            )
            for c in sorted(after, key=lambda c: coins[c].coingecko_id)
            if before[c] != after[c]
        ],
    )


def transactions_csv(*, session: Session, portfolio: Portfolio) -> str:
    """Every transaction in the import format, in the order they happened."""
    timeline = TransactionRepository(session).timeline(portfolio.id)
    coins = coins_service.get_many_by_ids(session=session, ids={tx.coin_id for tx in timeline})
    rows: list[list[Any]] = [
        [
            csvio.instant_text(tx.executed_at),
            coins[tx.coin_id].coingecko_id,
            tx.kind.value,
            decimal_text(tx.quantity),
            None if tx.price is None else decimal_text(tx.price),
            decimal_text(tx.fee),
            tx.note,
        ]
        for tx in timeline
    ]
    return csvio.write(csvio.COLUMNS, rows, free_text={6})


PNL_COLUMNS = (
    "disposal_transaction_id",
    "executed_at",
    "coin",
    "kind",
    "quantity",
    "price",
    "fee",
    "proceeds",
    "cost",
    "realized_pnl",
    "lot_transaction_id",
    "lot_acquired_at",
    "lot_quantity",
    "lot_cost",
    "cost_basis_method",
)


def pnl_csv(*, session: Session, portfolio: Portfolio) -> str:
    """The realized P&L report: one line per lot each sell or transfer out consumed (the
    disposal's own figures repeated on each of its lines), USD, rounded to 18 places; an
    unknown cost is an empty cell."""
    ledger = valuation.ledger(session=session, portfolio=portfolio)
    coins = coins_service.get_many_by_ids(
        session=session, ids={d.coin_id for d in ledger.disposals}
    )

    def money(value: Decimal | None) -> str | None:
        return None if value is None else money_text(value)

    rows: list[list[Any]] = []
    for d in ledger.disposals:
        for use in d.lots:
            rows.append(
                [
                    d.transaction_id,
                    csvio.instant_text(d.executed_at),
                    coins[d.coin_id].coingecko_id,
                    d.kind.value,
                    decimal_text(d.quantity),
                    None if d.price is None else decimal_text(d.price),
                    decimal_text(d.fee),
                    money(d.proceeds),
                    money(d.cost),
                    money(d.realized),
                    use.transaction_id,
                    csvio.instant_text(use.acquired_at),
                    money(use.quantity),
                    money(use.cost),
                    ledger.method.value,
                ]
            )
    return csvio.write(PNL_COLUMNS, rows, free_text=set())
