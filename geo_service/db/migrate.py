"""Run the Alembic migrations programmatically (the CLI, the app's prestart step and the tests use this)."""

from __future__ import annotations

import re
from pathlib import Path

from alembic import command
from alembic.config import Config
from geoalchemy2 import alembic_helpers

MIGRATIONS = Path(__file__).with_name("migrations")
# Partitions of the detections (migration 0021) and detached archive years: tables the service manages at run
# time (``hotspots.partitions``), not part of the models.
PARTITION_TABLE = re.compile(r"^hotspots_(y\d{4}|default)$")


def include_object(obj, name, obj_type, reflected, compare_to) -> bool:
    """What autogenerate compares: geoalchemy2's rule (no spatial extension tables), and no partitions."""
    if obj_type == "table" and name and PARTITION_TABLE.match(name):
        return False
    return bool(alembic_helpers.include_object(obj, name, obj_type, reflected, compare_to))


def alembic_config(url) -> Config:
    """The Alembic configuration of the service's migrations, for ``url``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["url"] = url
    return cfg


def upgrade(url, revision: str = "head") -> None:
    """Migrate the schema up to ``revision``."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url, revision: str = "base") -> None:
    """Migrate the schema down to ``revision``."""
    command.downgrade(alembic_config(url), revision)


def current(url) -> str | None:
    """The schema's current revision (None before the first migration)."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
