"""Committee briefs marked public (issue 17, the transparency page): ``public`` with who published it and when.

Only a brief marked public is listed on ``/open`` and served by the public PDF route; marking it is an
administrator's decision, recorded in the audit trail.

Revision ID: 0029_public_briefs
Revises: 0028_citizen_reports
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0029_public_briefs"
down_revision = "0028_citizen_reports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("briefs", sa.Column("public", sa.Boolean, nullable=False, server_default=sa.text("false")))
    op.add_column("briefs", sa.Column("published_at", sa.DateTime(timezone=True)))
    op.add_column("briefs", sa.Column("published_by", sa.String(120)))


def downgrade() -> None:
    op.drop_column("briefs", "published_by")
    op.drop_column("briefs", "published_at")
    op.drop_column("briefs", "public")
