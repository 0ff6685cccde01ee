"""Sync runs record whether a failure was temporary, instead of readers parsing error text.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 17:00:00.000000

Runs recorded before this revision keep a NULL failure kind: nothing re-reads old runs to
decide on a retry (a job reads only the run it has just made).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Stored as a plain string (native_enum=False), as every enum since 0001.
FAILURE_KIND = sa.Enum("temporary", "permanent", name="failurekind", native_enum=False, length=16)


def upgrade() -> None:
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failure_kind", FAILURE_KIND, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.drop_column("failure_kind")
