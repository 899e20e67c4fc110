"""A spatial index on the detections, for vector tiles and bbox queries at national scale.

A tile (exports/tiles.py) selects the detections inside its envelope: without an index on ``geom`` that is a
scan of every detection (the BRIN index on ``geom`` went in 0006: detections arrive in time order, so it never
narrowed anything). bench/tiles.py measures the tiles with and without it.

Revision ID: 0019_hotspot_geom_gist
Revises: 0018_links_beyond_sight
Create Date: 2026-12-02
"""

from alembic import op

revision = "0019_hotspot_geom_gist"
down_revision = "0018_links_beyond_sight"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("idx_hotspots_geom", "hotspots", ["geom"], postgresql_using="gist")


def downgrade() -> None:
    op.drop_index("idx_hotspots_geom", "hotspots")
