"""Model registry: one row per trained model version, its provenance and its artifact hash.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Enums are stored as plain strings (native_enum=False), as in 0001: no database types to drop.
MODEL_STATUS = sa.Enum(
    "candidate", "production", "archived", name="modelstatus", native_enum=False, length=16
)
ONE_PRODUCTION = sa.text("status = 'production'")


def upgrade() -> None:
    op.create_table(
        "model_versions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("coin_id", sa.Integer(), nullable=False),
        sa.Column("interval", sa.String(length=3), nullable=False),
        sa.Column("horizon", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("train_start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("train_end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data_quality", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("calibration", sa.JSON(), nullable=False),
        sa.Column("artifact_path", sa.String(length=500), nullable=False),
        sa.Column("artifact_sha256", sa.String(length=64), nullable=False),
        sa.Column("status", MODEL_STATUS, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("promoted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["coin_id"],
            ["cryptocurrencies.id"],
            name=op.f("fk_model_versions_coin_id_cryptocurrencies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_versions")),
        sa.UniqueConstraint(
            "coin_id",
            "interval",
            "horizon",
            "kind",
            "version",
            name="uq_model_versions_coin_interval_horizon_kind_version",
        ),
    )
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.create_index(
            "uq_model_versions_one_production",
            ["coin_id", "interval", "horizon"],
            unique=True,
            postgresql_where=ONE_PRODUCTION,
            sqlite_where=ONE_PRODUCTION,
        )


def downgrade() -> None:
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_index("uq_model_versions_one_production")

    op.drop_table("model_versions")
