"""Run the Alembic migrations programmatically (the CLI, the app's prestart step and the tests use this)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")


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
