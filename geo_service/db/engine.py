"""Engine and session factory for the configured database (external URL or the embedded cluster)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker

from geo_service.db.local_pg import LocalPostgres
from geo_service.db.read_routing import ReadRouter
from geo_service.settings import SESSION_KEY, Settings


def database_url(settings: Settings) -> URL | str:
    """The URL to connect to: GEO_SERVICE_DATABASE_URL, or the embedded cluster's database."""
    if settings.db.database_url:
        return settings.db.database_url
    cluster = LocalPostgres(
        settings.db.data_dir, port=settings.db.db_port, host=settings.db.db_host, os_user=settings.db.db_os_user
    )
    return cluster.url(settings.db.db_name)


def make_engine(url: URL | str, pool_size: int = 10) -> Engine:
    """An engine on ``url`` with a pool, pre-ping and the session time zone UTC."""
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={"application_name": "geo_service", "options": "-c timezone=UTC"},
    )


def make_read_router(settings: Settings, primary: Engine) -> ReadRouter:
    """The read router of an application: the replica of GEO_SERVICE_REPLICA_URL (if any) next to ``primary``.

    The replica's pool is as large as the primary's; a connection attempt gives up after
    ``replica_connect_timeout_s`` so an unreachable replica costs a request little before it reads the primary.
    """
    r = settings.replica
    replica = None
    if r.replica_url:
        replica = create_engine(
            r.replica_url,
            pool_size=settings.db.pool_size,
            max_overflow=settings.db.pool_size,
            pool_pre_ping=True,
            connect_args={
                "application_name": "geo_service_reads",
                "options": "-c timezone=UTC",
                "connect_timeout": r.replica_connect_timeout_s,
                # a replica that vanished from the network (no refusal) fails a ping in this time, not TCP's minutes
                "tcp_user_timeout": 1000 * r.replica_connect_timeout_s,
            },
        )
    return ReadRouter(
        primary,
        replica,
        max_lag_s=r.replica_max_lag_s,
        check_s=r.replica_check_s,
        retry_s=r.replica_retry_s,
        settings=settings,
    )


def make_sessionmaker(engine: Engine, settings: Settings | None = None) -> sessionmaker[Session]:
    """Sessions on ``engine`` whose objects stay readable after commit, each carrying ``settings`` (the edge's;
    read back with ``settings.settings_of``: listeners and services use the thresholds the edge was built with)."""
    info = {SESSION_KEY: settings} if settings is not None else {}
    return sessionmaker(engine, expire_on_commit=False, info=info)


@contextmanager
def transaction(factory: sessionmaker[Session], *, dry_run: bool = False) -> Iterator[Session]:
    """A session whose work is committed together at the end, or rolled back entirely on any error.

    ``dry_run``: the work is always rolled back (a check that reports what it would have changed).
    """
    with factory() as session:
        tx = session.begin()
        try:
            yield session
        except BaseException:
            tx.rollback()
            raise
        if dry_run:
            tx.rollback()
        else:
            tx.commit()


def driver_connection(session: Session):
    """The psycopg connection under the session's current transaction (for COPY)."""
    return session.connection().connection.driver_connection
