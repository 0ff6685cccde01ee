"""Initial schema: users, tokens, coins, prices, predictions, portfolios.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 10:28:55.091647
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Exact decimals: NUMERIC on PostgreSQL, text on SQLite (see core.database.ExactDecimal).
EXACT_DECIMAL = sa.Numeric(38, 18).with_variant(sa.String(64), "sqlite")

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cryptocurrencies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("coingecko_id", sa.String(length=100), nullable=False),
        sa.Column("symbol", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("market_cap_rank", sa.Integer(), nullable=True),
        sa.Column("image_url", sa.String(length=500), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column("metadata_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cryptocurrencies")),
        sa.UniqueConstraint("coingecko_id", name=op.f("uq_cryptocurrencies_coingecko_id")),
    )
    with op.batch_alter_table("cryptocurrencies", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cryptocurrencies_market_cap_rank", ["market_cap_rank"], unique=False
        )
        batch_op.create_index("ix_cryptocurrencies_symbol", ["symbol"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("hashed_password", sa.String(length=255), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=True),
        sa.Column(
            "role",
            sa.Enum("user", "admin", name="role", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "portfolios",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_portfolios_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolios")),
        sa.UniqueConstraint("user_id", "name", name=op.f("uq_portfolios_user_id_name")),
    )
    with op.batch_alter_table("portfolios", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portfolios_user_id"), ["user_id"], unique=False)

    op.create_table(
        "predictions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("coin_id", sa.Integer(), nullable=False),
        sa.Column("model_name", sa.String(length=64), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("interval", sa.String(length=3), nullable=False),
        sa.Column("horizon", sa.Integer(), nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("target_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("predicted_value", sa.Double(), nullable=False),
        sa.Column("lower_bound", sa.Double(), nullable=True),
        sa.Column("upper_bound", sa.Double(), nullable=True),
        sa.Column("interval_level", sa.Double(), nullable=True),
        sa.Column("actual_value", sa.Double(), nullable=True),
        sa.Column("error", sa.Double(), nullable=True),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["coin_id"],
            ["cryptocurrencies.id"],
            name=op.f("fk_predictions_coin_id_cryptocurrencies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_predictions")),
    )
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.create_index("ix_predictions_coin_target", ["coin_id", "target_at"], unique=False)
        batch_op.create_index("ix_predictions_model_made", ["model_name", "made_at"], unique=False)
        batch_op.create_index(
            "ix_predictions_unscored", ["actual_value", "target_at"], unique=False
        )

    op.create_table(
        "price_data",
        sa.Column("coin_id", sa.Integer(), nullable=False),
        sa.Column("interval", sa.String(length=3), nullable=False),
        sa.Column("price_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("open", sa.Double(), nullable=True),
        sa.Column("high", sa.Double(), nullable=True),
        sa.Column("low", sa.Double(), nullable=True),
        sa.Column("close", sa.Double(), nullable=True),
        sa.Column("price", sa.Double(), nullable=False),
        sa.Column("volume", sa.Double(), nullable=True),
        sa.Column("market_cap", sa.Double(), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.CheckConstraint(
            "interval IN ('5m', '1h', '1d')", name=op.f("ck_price_data_interval_known")
        ),
        sa.CheckConstraint("price > 0", name=op.f("ck_price_data_price_positive")),
        sa.ForeignKeyConstraint(
            ["coin_id"],
            ["cryptocurrencies.id"],
            name=op.f("fk_price_data_coin_id_cryptocurrencies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("coin_id", "interval", "price_at", name=op.f("pk_price_data")),
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("family_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replaced_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_refresh_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_refresh_tokens")),
    )
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.create_index("ix_refresh_tokens_family_id", ["family_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_refresh_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "portfolio_transactions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("portfolio_id", sa.Integer(), nullable=False),
        sa.Column("coin_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "buy",
                "sell",
                "transfer_in",
                "transfer_out",
                name="transactionkind",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("quantity", EXACT_DECIMAL, nullable=False),
        sa.Column("price", EXACT_DECIMAL, nullable=True),
        sa.Column("fee", EXACT_DECIMAL, nullable=False),
        sa.Column("executed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["coin_id"],
            ["cryptocurrencies.id"],
            name=op.f("fk_portfolio_transactions_coin_id_cryptocurrencies"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["portfolio_id"],
            ["portfolios.id"],
            name=op.f("fk_portfolio_transactions_portfolio_id_portfolios"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio_transactions")),
    )
    with op.batch_alter_table("portfolio_transactions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_portfolio_transactions_coin_id"), ["coin_id"], unique=False
        )
        batch_op.create_index(
            "ix_portfolio_transactions_portfolio_time",
            ["portfolio_id", "executed_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("portfolio_transactions", schema=None) as batch_op:
        batch_op.drop_index("ix_portfolio_transactions_portfolio_time")
        batch_op.drop_index(batch_op.f("ix_portfolio_transactions_coin_id"))

    op.drop_table("portfolio_transactions")
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refresh_tokens_user_id"))
        batch_op.drop_index("ix_refresh_tokens_family_id")

    op.drop_table("refresh_tokens")
    op.drop_table("price_data")
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.drop_index("ix_predictions_unscored")
        batch_op.drop_index("ix_predictions_model_made")
        batch_op.drop_index("ix_predictions_coin_target")

    op.drop_table("predictions")
    with op.batch_alter_table("portfolios", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portfolios_user_id"))

    op.drop_table("portfolios")
    op.drop_table("users")
    with op.batch_alter_table("cryptocurrencies", schema=None) as batch_op:
        batch_op.drop_index("ix_cryptocurrencies_symbol")
        batch_op.drop_index("ix_cryptocurrencies_market_cap_rank")

    op.drop_table("cryptocurrencies")
