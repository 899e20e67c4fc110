"""What every command of the command line shares: its consoles, its error exit, the database it starts and the
sessions it opens. Below every CLI module (``cli``, ``hotspots.cli``, ``maps.cli``), so they import it and not
each other.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NoReturn

import typer
from rich.console import Console
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker

from geo_service import scratch, users
from geo_service.db import migrate as migrations
from geo_service.db.engine import database_url, make_engine, make_sessionmaker
from geo_service.db.local_pg import LocalPostgres, wait_for
from geo_service.db.startup import apply_configured_area_of_interest, startup_lock
from geo_service.errors import GeoServiceError
from geo_service.settings import Settings, get_settings

__all__ = [
    "Database",
    "cli_actor",
    "cli_sessionmaker",
    "cluster",
    "command_errors",
    "console",
    "database",
    "fail",
    "fit_width",
    "get_settings",
    "out",
    "prepare_database",
]

console = Console(stderr=True)  # progress and messages
out = Console()  # results (tables) go to standard output


def fit_width() -> None:
    """Make result tables as wide as COLUMNS when it is set when a command runs: a pipe or a test runner has no
    terminal to measure, and the consoles above were made before the command's environment was known."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit():
        out.width = console.width = int(columns)


def fail(exc: Exception) -> NoReturn:
    """Print a command's error (and its details) as one red line each, and exit with code 1: no traceback."""
    console.print(f"[bold red]error:[/] {exc}")
    for d in getattr(exc, "details", [])[:50]:
        console.print("  - " + ", ".join(f"{k}: {v}" for k, v in d.items()))
    raise typer.Exit(code=1)


@contextmanager
def command_errors(*also: type[Exception]) -> Iterator[None]:
    """A command's refusals (GeoServiceError, and the exception types in ``also``) end it with ``fail``."""
    refusals: tuple[type[Exception], ...] = (GeoServiceError, *also)
    try:
        yield
    except refusals as exc:
        fail(exc)


def cluster(settings: Settings) -> LocalPostgres:
    """The project-local PostgreSQL cluster of these settings."""
    s = settings.db
    return LocalPostgres(s.data_dir, port=s.db_port, host=s.db_host, os_user=s.db_os_user)


def cli_sessionmaker(url: URL | str, settings: Settings | None = None) -> sessionmaker[Session]:
    """Sessions on ``url`` for one command (a small pool), carrying the command's settings (default: the
    environment's, which is what every command reads)."""
    return make_sessionmaker(make_engine(url, pool_size=2), settings or get_settings())


def cli_actor() -> str:
    """Who a command acts as in the audit trail: the operating-system account that ran it."""
    return f"cli:{getpass.getuser()}"


def prepare_database(settings: Settings, *, migrate: bool = True) -> tuple[URL | str, bool]:
    """Start the embedded cluster (or wait for the external server), create the database, migrate.

    Returns the database URL and whether this call started the embedded server.
    """
    users.configure_hashing(settings.service.password_hash_memory_kib, settings.service.password_hash_time_cost)
    started = False
    if settings.db.embedded:
        local = cluster(settings)
        with console.status("Starting the project-local PostgreSQL + PostGIS ..."):
            created = local.init()
            started = local.start()
            local.ensure_database(settings.db.db_name)
        if created:
            console.print(f"Created a PostgreSQL cluster in {local.data_dir}")
        console.print(
            f"PostgreSQL {local.version()} on {local.host}:{local.port} ({'started' if started else 'already running'})"
        )
    url = database_url(settings)
    if not settings.db.embedded:
        with console.status("Waiting for the database ..."):
            wait_for(url)
    if migrate:
        with startup_lock(url):  # one process at a time (several API processes may start together)
            with console.status("Applying database migrations ..."):
                migrations.upgrade(url)
            console.print(f"Database schema at revision {migrations.current(url)}")
            _apply_area_of_interest(url, settings)
    removed = scratch.start_service(
        settings.db.data_dir, settings.hotspots
    )  # this command's scratch folder; crash leftovers go
    if removed:
        console.print(f"Removed {len(removed)} files left by interrupted runs")
    return url, started


def _apply_area_of_interest(url: URL | str, settings: Settings) -> None:
    """Store the configured area of interest (GEO_SERVICE_AOI_PROVINCES, GEO_SERVICE_AOI_BUFFER_M)."""
    factory = cli_sessionmaker(url, settings)
    changed = apply_configured_area_of_interest(factory, settings)
    factory.kw["bind"].dispose()
    if changed:
        console.print(f"Area of interest changed: {changed:,} detections re-marked")


@dataclass
class Database:
    """The database a command works on: its URL, whether the command started the embedded server, the
    settings, and (made on first use) a session factory."""

    url: URL | str
    started: bool
    settings: Settings
    _sessions: sessionmaker[Session] | None = field(default=None, repr=False)

    @property
    def sessions(self) -> sessionmaker[Session]:
        """The command's session factory (one small pool per command)."""
        if self._sessions is None:
            self._sessions = cli_sessionmaker(self.url, self.settings)
        return self._sessions


@contextmanager
def database(
    settings: Settings | None = None, *, migrate: bool = True, also: tuple[type[Exception], ...] = ()
) -> Iterator[Database]:
    """The shape of most commands: start (and migrate) the database, do the work in the ``with`` block, and
    end a refusal (GeoServiceError, or the types in ``also``) raised anywhere in it with ``fail``."""
    with command_errors(*also):
        settings = settings or get_settings()
        url, started = prepare_database(settings, migrate=migrate)
        yield Database(url, started, settings)
