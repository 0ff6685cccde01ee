"""Forecast ledger: issued forecasts with their scores, live records per version, and model
events (status history and monitoring).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 22:30:00.000000

The `predictions` table of 0001 was never written by any code path (nothing issued forecasts
before this revision), so it is replaced rather than altered; the downgrade restores its
empty 0001 shape.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)
# Enums are stored as plain strings (native_enum=False), as in 0001 and 0003.
ROLE = sa.Enum("served", "shadow", name="predictionrole", native_enum=False, length=16)
EVENT = sa.Enum(
    "promoted", "archived", "demoted", name="modeleventkind", native_enum=False, length=16
)


def _coin_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["coin_id"],
        ["cryptocurrencies.id"],
        name=op.f(f"fk_{table}_coin_id_cryptocurrencies"),
        ondelete="CASCADE",
    )


def _version_fk(table: str, ondelete: str | None = "CASCADE") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["model_version_id"],
        ["model_versions.id"],
        name=op.f(f"fk_{table}_model_version_id_model_versions"),
        ondelete=ondelete,
    )


def upgrade() -> None:
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.drop_index("ix_predictions_unscored")
        batch_op.drop_index("ix_predictions_model_made")
        batch_op.drop_index("ix_predictions_coin_target")
    op.drop_table("predictions")

    op.create_table(
        "predictions",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("coin_id", sa.Integer(), nullable=False),
        sa.Column("interval", sa.String(length=3), nullable=False),
        sa.Column("horizon", sa.Integer(), nullable=False),
        sa.Column("model_version_id", BIG_ID, nullable=False),
        sa.Column("model_kind", sa.String(length=32), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("role", ROLE, nullable=False),
        sa.Column("origin_at", WHEN, nullable=False),
        sa.Column("target_at", WHEN, nullable=False),
        sa.Column("issued_at", WHEN, nullable=False),
        sa.Column("origin_price", sa.Double(), nullable=False),
        sa.Column("point", sa.Double(), nullable=False),
        sa.Column("lower_80", sa.Double(), nullable=True),
        sa.Column("upper_80", sa.Double(), nullable=True),
        sa.Column("lower_95", sa.Double(), nullable=True),
        sa.Column("upper_95", sa.Double(), nullable=True),
        sa.Column("interval_method", sa.String(length=32), nullable=False),
        sa.Column("actual", sa.Double(), nullable=True),
        sa.Column("error", sa.Double(), nullable=True),
        sa.Column("abs_log_error", sa.Double(), nullable=True),
        sa.Column("inside_80", sa.Boolean(), nullable=True),
        sa.Column("inside_95", sa.Boolean(), nullable=True),
        sa.Column("winkler_80", sa.Double(), nullable=True),
        sa.Column("winkler_95", sa.Double(), nullable=True),
        sa.Column("scored_at", WHEN, nullable=True),
        _coin_fk("predictions"),
        _version_fk("predictions", ondelete=None),  # the ledger outlives no version silently
        sa.PrimaryKeyConstraint("id", name=op.f("pk_predictions")),
        sa.UniqueConstraint(
            "coin_id",
            "interval",
            "horizon",
            "model_version_id",
            "origin_at",
            name="uq_predictions_coin_interval_horizon_version_origin",
        ),
    )
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_predictions_coin_origin", ["coin_id", "interval", "horizon", "origin_at"]
        )
        batch_op.create_index("ix_predictions_unscored", ["scored_at", "target_at"])
        batch_op.create_index("ix_predictions_version", ["model_version_id", "origin_at"])

    op.create_table(
        "forecast_live_scores",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("model_version_id", BIG_ID, nullable=False),
        sa.Column("coin_id", sa.Integer(), nullable=False),
        sa.Column("interval", sa.String(length=3), nullable=False),
        sa.Column("horizon", sa.Integer(), nullable=False),
        sa.Column("model_kind", sa.String(length=32), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        _coin_fk("forecast_live_scores"),
        _version_fk("forecast_live_scores"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forecast_live_scores")),
        sa.UniqueConstraint("model_version_id", name="uq_forecast_live_scores_model_version_id"),
    )
    with op.batch_alter_table("forecast_live_scores", schema=None) as batch_op:
        batch_op.create_index("ix_forecast_live_scores_coin", ["coin_id", "interval", "horizon"])

    op.create_table(
        "model_events",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("model_version_id", BIG_ID, nullable=False),
        sa.Column("occurred_at", WHEN, nullable=False),
        sa.Column("kind", EVENT, nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        _version_fk("model_events"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_events")),
    )
    with op.batch_alter_table("model_events", schema=None) as batch_op:
        batch_op.create_index("ix_model_events_version", ["model_version_id", "occurred_at"])
        batch_op.create_index("ix_model_events_source", ["source", "occurred_at"])


def downgrade() -> None:
    with op.batch_alter_table("model_events", schema=None) as batch_op:
        batch_op.drop_index("ix_model_events_source")
        batch_op.drop_index("ix_model_events_version")
    op.drop_table("model_events")
    with op.batch_alter_table("forecast_live_scores", schema=None) as batch_op:
        batch_op.drop_index("ix_forecast_live_scores_coin")
    op.drop_table("forecast_live_scores")
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.drop_index("ix_predictions_version")
        batch_op.drop_index("ix_predictions_unscored")
        batch_op.drop_index("ix_predictions_coin_origin")
    op.drop_table("predictions")
    op.execute("UPDATE model_versions SET status = 'archived' WHERE status = 'demoted'")

    op.create_table(
        "predictions",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("coin_id", sa.Integer(), nullable=False),
        sa.Column("model_name", sa.String(length=64), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("interval", sa.String(length=3), nullable=False),
        sa.Column("horizon", sa.Integer(), nullable=False),
        sa.Column("made_at", WHEN, nullable=False),
        sa.Column("target_at", WHEN, nullable=False),
        sa.Column("predicted_value", sa.Double(), nullable=False),
        sa.Column("lower_bound", sa.Double(), nullable=True),
        sa.Column("upper_bound", sa.Double(), nullable=True),
        sa.Column("interval_level", sa.Double(), nullable=True),
        sa.Column("actual_value", sa.Double(), nullable=True),
        sa.Column("error", sa.Double(), nullable=True),
        sa.Column("scored_at", WHEN, nullable=True),
        _coin_fk("predictions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_predictions")),
    )
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.create_index("ix_predictions_coin_target", ["coin_id", "target_at"])
        batch_op.create_index("ix_predictions_model_made", ["model_name", "made_at"])
        batch_op.create_index("ix_predictions_unscored", ["actual_value", "target_at"])
