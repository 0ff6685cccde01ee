"""Portfolios choose a cost-basis method and count changes to their ledger.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 11:00:00.000000

`cost_basis_method` (fifo, lifo, hifo, average) picks which lots a sale consumes; every
portfolio starts at FIFO. `ledger_version` grows with every transaction written, edited or
deleted and every change of method, so a replay computed for one version is reused until the
ledger changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


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


def downgrade() -> None:
    with op.batch_alter_table("portfolios", schema=None) as batch_op:
        batch_op.drop_column("ledger_version")
        batch_op.drop_column("cost_basis_method")
