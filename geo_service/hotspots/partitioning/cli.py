"""`geo-service hotspots partitions ...`: yearly partitions of the detections: ensure ahead, list, detach for
archive, attach back (README, *Satellite hotspots / Partitioned detections*)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from geo_service import cli_support
from geo_service.db.engine import transaction
from geo_service.hotspots import partitions
from geo_service.hotspots.partition_archive import attach_from_archive, detach_before

partitions_app = typer.Typer(
    help="Yearly partitions of the detections: create ahead, list, detach for archive, attach back.",
    no_args_is_help=True,
)


def _sessions():
    url, _ = cli_support.prepare_database(cli_support.get_settings())
    return cli_support.cli_sessionmaker(url)


@partitions_app.command("ensure")
def ensure(
    ahead: Annotated[int, typer.Option(min=0, max=10, help="Years after this one (Asia/Bangkok) to create")] = 1,
) -> None:
    """Create the partitions of this year and the next AHEAD years (those missing)."""
    with cli_support.command_errors():
        with transaction(_sessions()) as session:
            created = partitions.ensure_ahead(session, ahead)
        cli_support.out.print(f"created: {', '.join(created)}" if created else "nothing to create")


@partitions_app.command("list")
def list_() -> None:
    """Every partition with its local-year bounds, exact row count and size on disk."""
    with cli_support.command_errors():
        with transaction(_sessions()) as session:
            parts = partitions.list_partitions(session)
        table = Table(title="Partitions of hotspots / พาร์ทิชันจุดความร้อน")
        for col in ("partition", "from (UTC)", "to (UTC)", "rows", "MB"):
            table.add_column(col, justify="right" if col in ("rows", "MB") else "left")
        for p in parts:
            table.add_row(
                p.name,
                p.lower.isoformat() if p.lower else "DEFAULT",
                p.upper.isoformat() if p.upper else "",
                f"{p.rows:,}",
                f"{p.bytes / 1e6:,.1f}",
            )
        cli_support.out.print(table)


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


@partitions_app.command("detach")
def detach(
    before: Annotated[str, typer.Option(help="Detach the years that end on or before this local day (YYYY-MM-DD)")],
    archive: Annotated[
        Path | None, typer.Option(help="GeoParquet file (or folder: one file per year) written first")
    ] = None,
    keep_table: Annotated[bool, typer.Option(help="Keep the detached table even with an archive")] = False,
    force: Annotated[bool, typer.Option(help="Detach even a year with detections linked to a case")] = False,
    dry_run: Annotated[bool, typer.Option(help="Only show what would be detached")] = False,
) -> None:
    """Detach whole years for archive: optionally written to GeoParquet first, then dropped (or kept); audited.

    Without --archive the detached table is kept as a plain table of the same name."""
    day = _day(before)
    with cli_support.command_errors():
        with transaction(_sessions()) as session:
            done = detach_before(
                session,
                day,
                actor=cli_support.cli_actor(),
                archive=archive,
                keep_table=keep_table,
                force=force,
                dry_run=dry_run,
            )
        if not done:
            cli_support.out.print(f"no year ends on or before {day}")
        for item in done:
            what = "would detach" if dry_run else ("detached and dropped" if item.dropped else "detached (kept)")
            where = f" -> {item.archive} (sha256 {item.archive_sha256})" if item.archive else ""
            cli_support.out.print(f"{item.name}: {item.rows:,} rows {what}{where}")


@partitions_app.command("attach")
def attach(
    archive: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A GeoParquet archive of one year")],
) -> None:
    """Attach a year back from its archive (the same ids; refused if the year has detections again)."""
    with cli_support.command_errors():
        with transaction(_sessions()) as session:
            item = attach_from_archive(session, archive, actor=cli_support.cli_actor())
        cli_support.out.print(f"{item.name}: {item.rows:,} rows attached from {archive}")
