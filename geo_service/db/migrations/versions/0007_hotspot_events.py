"""Fire-event membership of hotspots in a narrow table of its own instead of a column of ``hotspots``.

Clustering a season assigns an event to every detection. As a column of the wide ``hotspots`` rows, that
was an UPDATE writing a new version of each whole row and of its entries in every index: 8.2 s for 1M
detections on the 2-core machine. Inserting the same assignments into this two-column table took 1.6 s
(bench/firms_ingest.py; the figures are in README, *Satellite hotspots / Speed*).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hotspot_events",
        # references kept by the service, no foreign keys (an RI check per row on every clustering)
        sa.Column("hotspot_id", sa.BigInteger, primary_key=True),
        sa.Column("event_id", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_hotspot_events_event_id", "hotspot_events", ["event_id"])
    op.execute(
        "INSERT INTO hotspot_events (hotspot_id, event_id) SELECT id, event_id FROM hotspots WHERE event_id IS NOT NULL"
    )
    op.drop_index("ix_hotspots_event_id", "hotspots")
    op.drop_column("hotspots", "event_id")


def downgrade() -> None:
    op.add_column("hotspots", sa.Column("event_id", sa.BigInteger))
    op.execute("UPDATE hotspots h SET event_id = he.event_id FROM hotspot_events he WHERE he.hotspot_id = h.id")
    op.create_index("ix_hotspots_event_id", "hotspots", ["event_id"], postgresql_where=sa.text("event_id IS NOT NULL"))
    op.drop_index("ix_hotspot_events_event_id", "hotspot_events")
    op.drop_table("hotspot_events")
