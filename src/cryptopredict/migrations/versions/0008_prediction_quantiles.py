"""Ledger rows keep the quantile fan and P(price higher) of their interval method.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 08:40:00.000000

Rows issued before interval methods were chosen have neither (NULL): their bounds came from
the conformal calibrator alone.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quantiles", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("p_up", sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.drop_column("p_up")
        batch_op.drop_column("quantiles")
