"""Sync run records: what each CoinGecko sync fetched, wrote and cost.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Enums are stored as plain strings (native_enum=False), as in 0001: no database types to drop.
SYNC_KIND = sa.Enum(
    "discover", "prices", "history", "backfill", name="synckind", native_enum=False, length=16
)
SYNC_STATUS = sa.Enum(
    "running", "succeeded", "failed", "partial", name="syncstatus", native_enum=False, length=16
)


def upgrade() -> None:
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", SYNC_KIND, nullable=False),
        sa.Column("coin", sa.String(length=100), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", SYNC_STATUS, nullable=False),
        sa.Column("calls_made", sa.Integer(), nullable=False),
        sa.Column("rows_written", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_runs")),
    )
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.create_index("ix_sync_runs_started_at", ["started_at"], unique=False)
        batch_op.create_index("ix_sync_runs_kind_started_at", ["kind", "started_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_runs_kind_started_at")
        batch_op.drop_index("ix_sync_runs_started_at")

    op.drop_table("sync_runs")
