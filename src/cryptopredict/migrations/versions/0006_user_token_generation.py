"""Users carry a token generation, signed into access tokens, so revocation ends them at once.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 18:30:00.000000

Existing users start at generation 0, which is also what an access token signed before this
revision (no `gen` claim) counts as. Those tokens used to be refused when older than the last
password change; users who ever changed their password start at 1 instead, so no such token
comes back to life for the rest of its 15 minutes (their newer tokens need one refresh).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("token_generation", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
    op.execute("UPDATE users SET token_generation = 1 WHERE password_changed_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("token_generation")
