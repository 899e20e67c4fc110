"""`geo-service forest-loss ...`: ingest forest-loss alert rasters and change pairs, list the ingests."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from geo_service import cli_support
from geo_service.bbox import parse_bbox
from geo_service.db.engine import transaction
from geo_service.errors import GeoServiceError, InvalidInput
from geo_service.forest_loss.ingest import IngestReport, ingest_files, list_ingests
from geo_service.forest_loss.sources import ENCODINGS

forest_loss_app = typer.Typer(
    help="Forest-loss alerts (GFW integrated, GLAD-L, GLAD-S2, RADD, DIST-ALERT, Hansen GFC, change pairs): "
    "ingest into clearing patches, list ingests.",
    no_args_is_help=True,
)


def _run(files: list[Path], encoding: str, **kw) -> IngestReport:
    settings = cli_support.get_settings()
    url, _ = cli_support.prepare_database(settings)
    sm = cli_support.cli_sessionmaker(url)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("windows"),
        TimeElapsedColumn(),
        console=cli_support.console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"Reading {', '.join(f.name for f in files)}", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        with transaction(sm) as session:
            return ingest_files(
                session, files, encoding=encoding, settings=settings.forest_loss, progress=advance, **kw
            )


def _print(report: IngestReport) -> None:
    title = f"Forest-loss ingest {report.ingest_id}: {report.file_name}"
    if report.replayed:
        title += " (already ingested with these parameters: nothing changed)"
    table = Table(title=title)
    for col in ("encoding", "alert px", "patches", "new", "extended", "merged", "ha", "rai", "dates", "burned", "s"):
        table.add_column(col, justify="right")
    dates = f"{report.alert_from} .. {report.alert_to}" if report.alert_from else "-"
    table.add_row(
        report.encoding,
        f"{report.alert_pixels:,}",
        f"{report.patches:,}",
        f"{report.patches_new:,}",
        f"{report.patches_extended:,}",
        f"{report.patches_merged:,}",
        f"{report.area_ha:,.2f}",
        f"{report.area_rai:,.2f}",
        dates,
        f"{report.cleared_by_fire:,}",
        f"{report.seconds}",
    )
    cli_support.out.print(table)
    if report.window:
        w = report.window
        cli_support.console.print(
            f"read {w['pixels']:,} of the raster's {w['raster_pixels']:,} pixels (rows {w['row_off']}.."
            f"{w['row_off'] + w['height']}, cols {w['col_off']}..{w['col_off'] + w['width']})"
        )


@forest_loss_app.command("ingest")
def ingest(
    files: Annotated[
        list[Path],
        typer.Argument(exists=True, dir_okay=False, help="The alert GeoTIFF: one file, or one file per layer"),
    ],
    source: Annotated[str, typer.Option("--source", "--encoding", help=" | ".join(ENCODINGS))],
    min_confidence: Annotated[str | None, typer.Option(help="low | high | highest")] = None,
    year: Annotated[int | None, typer.Option(help="GLAD-L (UMD): the year of confYY / alertDateYY")] = None,
    forest_threshold: Annotated[
        int | None, typer.Option(help="Hansen GFC: forest = treecover2000 >= this % (default 30)")
    ] = None,
    min_loss_50: Annotated[
        bool, typer.Option(help="DIST-ALERT: only disturbances of at least 50 % vegetation cover loss")
    ] = False,
    bbox: Annotated[
        str | None, typer.Option(help="Read this area (west,south,east,north, WGS 84) instead of the area of interest")
    ] = None,
) -> None:
    """Ingest an alert raster into clearing patches (one transaction: all or nothing)."""
    params = {"year": year, "forest_threshold": forest_threshold, "min_loss_50": True if min_loss_50 else None}
    try:
        report = _run(
            files,
            source,
            params=params,
            min_confidence=min_confidence,
            bounds=_bounds(bbox),
            created_by=cli_support.cli_actor(),
        )
        _print(report)
    except GeoServiceError as exc:
        cli_support.fail(exc)


def _bounds(bbox: str | None):
    if bbox is None:
        return None
    box = parse_bbox(bbox)
    if box is None:
        raise InvalidInput("--bbox is empty: give west,south,east,north.", code="invalid_bbox")
    return tuple(box)


@forest_loss_app.command("change-pair")
def change_pair(
    before: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Index raster before (any CRS)")],
    after: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Index raster after (any CRS)")],
    index: Annotated[str, typer.Option(help="ndvi | nbr")],
    threshold: Annotated[float, typer.Option(help="An alert where the index dropped by at least this much")],
    after_date: Annotated[str, typer.Option(help="Date of the after scene (YYYY-MM-DD)")],
    before_date: Annotated[str | None, typer.Option(help="Date of the before scene (YYYY-MM-DD)")] = None,
    bbox: Annotated[str | None, typer.Option(help="Read this area (west,south,east,north, WGS 84)")] = None,
) -> None:
    """Clearing patches from two NDVI / NBR rasters (dNDVI / dNBR below -threshold, recorded with the result)."""
    try:
        params = {"index": index, "threshold": threshold, "after_date": _day(after_date)}
        if before_date:
            params["before_date"] = _day(before_date)
        report = _run(
            [before, after], "change_pair", params=params, bounds=_bounds(bbox), created_by=cli_support.cli_actor()
        )
        _print(report)
    except GeoServiceError as exc:
        cli_support.fail(exc)


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{value[:20]!r} is not a date (YYYY-MM-DD).", code="invalid_date") from None


@forest_loss_app.command("list")
def list_command(limit: Annotated[int, typer.Option(min=1, max=1000)] = 20) -> None:
    """The latest forest-loss ingests."""
    try:
        settings = cli_support.get_settings()
        url, _ = cli_support.prepare_database(settings)
        sm = cli_support.cli_sessionmaker(url)
        with transaction(sm) as session:
            rows = list_ingests(session, limit)
        table = Table(title="Forest-loss ingests")
        for col in ("id", "source", "encoding", "file", "alert px", "new", "extended", "from", "to", "at"):
            table.add_column(col)
        for r in rows:
            table.add_row(
                str(r["id"]),
                r["source"],
                r["encoding"],
                r["file_name"],
                f"{r['alert_pixels']:,}",
                str(r["patches_new"]),
                str(r["patches_extended"]),
                str(r["alert_from"] or "-"),
                str(r["alert_to"] or "-"),
                r["created_at"].isoformat(timespec="seconds"),
            )
        cli_support.out.print(table)
    except GeoServiceError as exc:
        cli_support.fail(exc)
