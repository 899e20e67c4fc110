"""Alembic environment: runs migrations against the URL given by geo_service (or sqlalchemy.url)."""

from __future__ import annotations

from alembic import context
from geoalchemy2 import alembic_helpers
from sqlalchemy import create_engine, pool

from geo_service.db.migrate import include_object
from geo_service.db.models import Base

config = context.config
target_metadata = Base.metadata


def _url():
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        from geo_service.db.engine import database_url
        from geo_service.settings import get_settings

        url = database_url(get_settings())
    return url


def _configure(**kw) -> None:
    context.configure(
        target_metadata=target_metadata,
        include_object=include_object,
        process_revision_directives=alembic_helpers.writer,
        render_item=alembic_helpers.render_item,
        compare_type=True,
        **kw,
    )


def run_migrations_offline() -> None:
    _configure(url=str(_url()), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        _configure(connection=conn)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
