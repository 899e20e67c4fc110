"""Committee briefs: the figures of a period, stored with the data version they were made from.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "briefs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("period_from", sa.Date, nullable=False),
        sa.Column("period_to", sa.Date, nullable=False),
        sa.Column("fiscal_year_be", sa.Integer, nullable=False),
        sa.Column("quarter", sa.SmallInteger),
        sa.Column("data_version", sa.String(64), nullable=False),
        sa.Column("figures", pg.JSONB, nullable=False),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("quarter IS NULL OR quarter BETWEEN 1 AND 4", name="quarter_range"),
    )
    op.execute("GRANT SELECT, INSERT ON briefs TO geo_service_app")


def downgrade() -> None:
    op.drop_table("briefs")
