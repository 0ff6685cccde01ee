"""Portfolio analytics: a cost-basis method per portfolio, a ledger version, and the daily
value history a task keeps.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 11:00:00.000000

`cost_basis_method` (fifo, lifo, hifo, average) picks which lots a sale consumes; every
portfolio starts at FIFO. `ledger_version` grows with every transaction written, edited or
deleted and every change of method, so a replay computed for one version is reused until the
ledger changes. `history_from` is the first day whose stored history is out of date (NULL:
none), `history_through` the last day stored; `snapshot_day` and `snapshot_epoch` tell which
lots a history update kept are still good, `history_mark` counts price syncs' stale marks; `portfolio_history` holds one row per portfolio and
UTC day.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Computed amounts: NUMERIC without a bound on PostgreSQL, text on SQLite (core.database's
# WideDecimal).
MONEY = sa.Numeric().with_variant(sa.String(100), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("portfolios", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "cost_basis_method", sa.String(length=16), nullable=False, server_default="fifo"
            )
        )
        batch_op.add_column(
            sa.Column("ledger_version", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("history_from", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("history_through", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("snapshot_day", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("snapshot_epoch", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("history_mark", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_table(
        "portfolio_history",
        sa.Column(
            "portfolio_id",
            sa.Integer(),
            sa.ForeignKey("portfolios.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("value", MONEY, nullable=False),
        sa.Column("net_invested", MONEY, nullable=False),
        sa.Column("inflow", MONEY, nullable=False),
        sa.Column("outflow", MONEY, nullable=False),
        sa.Column("unpriced", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("portfolio_history")
    with op.batch_alter_table("portfolios", schema=None) as batch_op:
        batch_op.drop_column("history_mark")
        batch_op.drop_column("snapshot_epoch")
        batch_op.drop_column("snapshot_day")
        batch_op.drop_column("history_through")
        batch_op.drop_column("history_from")
        batch_op.drop_column("ledger_version")
        batch_op.drop_column("cost_basis_method")
