"""``geo-service alerts``: send the due alerts once, show the outbox, match clearing patches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table

from geo_service import cli_support
from geo_service.alerts import service, store
from geo_service.alerts.sender import send_pending
from geo_service.db.engine import transaction

alerts_app = typer.Typer(help="Alerts to people: the outbox and its channels.", no_args_is_help=True)


@alerts_app.command("send")
def send() -> None:
    """Send every due alert once (what the worker runs on its schedule); prints the messages accepted."""
    with cli_support.database() as db:
        accepted = send_pending(db.sessions, db.settings)
        with transaction(db.sessions) as session:
            counts = store.status_counts(session)
    cli_support.console.print(f"{accepted} message(s) accepted by their channels; outbox: {counts}")


@alerts_app.command("status")
def status(limit: Annotated[int, typer.Option(help="Failed alerts listed")] = 20) -> None:
    """Outbox rows per status and the latest alerts given up after every retry."""
    with cli_support.database() as db, transaction(db.sessions) as session:
        counts = store.status_counts(session)
        failed = store.failures(session, limit)
    cli_support.console.print(f"outbox: {counts}")
    table = Table("id", "user", "channel", "address", "kind", "attempts", "error")
    for f in failed:
        table.add_row(
            str(f["id"]),
            f["username"],
            f["channel"],
            f["address"] or "",
            f["kind"],
            str(f["attempts"]),
            f["last_error"] or "",
        )
    cli_support.console.print(table)


@alerts_app.command("match-clearing")
def match_clearing(hours: Annotated[float, typer.Option(help="Patches changed in the last hours")] = 72) -> None:
    """Match the clearing patches changed recently against the subscriptions (idempotent: nothing twice)."""
    with cli_support.database() as db, transaction(db.sessions) as session:
        rows = service.clearing_patches_found(session, None, datetime.now(UTC) - timedelta(hours=hours))
    cli_support.console.print(f"{rows} outbox row(s) written")
