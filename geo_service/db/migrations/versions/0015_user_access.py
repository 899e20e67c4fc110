"""Revocable sign-in: a per-user token version, and when an account last changed.

Every access token carries the user's ``token_version``; each request compares it (and the account's
active flag and roles) with this row. Signing out, deactivating an account or changing its roles adds
one, so every token issued before stops working at once instead of at its expiry.

Revision ID: 0015_user_access
Revises: 0013_audit_gapless
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_user_access"
down_revision = "0013_audit_gapless"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("token_version", sa.Integer, nullable=False, server_default=sa.text("1")))
    op.add_column(
        "users", sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
    )


def downgrade() -> None:
    op.drop_column("users", "updated_at")
    op.drop_column("users", "token_version")
