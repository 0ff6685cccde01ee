"""The portfolio domain's plain types: what the tables store and the calculations read,
without the database."""

from __future__ import annotations

import enum


class TransactionKind(enum.StrEnum):
    """What moved: bought or sold at a price, or transferred in or out without trading."""

    BUY = "buy"
    SELL = "sell"
    TRANSFER_IN = "transfer_in"
    TRANSFER_OUT = "transfer_out"

    @property
    def adds_holdings(self) -> bool:
        """Whether this kind increases the quantity held."""
        return self in (TransactionKind.BUY, TransactionKind.TRANSFER_IN)


class CostBasisMethod(enum.StrEnum):
    """Which lots a disposal consumes: the oldest, the newest, the dearest, or every open lot
    pro rata (average cost)."""

    FIFO = "fifo"
    LIFO = "lifo"
    HIFO = "hifo"
    AVERAGE = "average"
