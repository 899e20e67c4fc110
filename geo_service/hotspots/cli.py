"""`geo-service hotspots ...` and `geo-service rasters ...`: FIRMS ingest and pull, events, summaries, rasters."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from geo_service import cli_support, scratch
from geo_service.bbox import parse_bbox
from geo_service.db.engine import transaction
from geo_service.errors import GeoServiceError, InvalidInput
from geo_service.hotspots.events import EventParams
from geo_service.hotspots.fetch import FirmsClient, fetch_area
from geo_service.hotspots.partitioning.cli import partitions_app
from geo_service.hotspots.raster_products import threshold_for
from geo_service.hotspots.service import batches, ingest_path, rasters, recluster_events, register_raster_file
from geo_service.hotspots.summaries import SummaryQuery, summarise

hotspots_app = typer.Typer(
    help="Satellite fire hotspots (NASA FIRMS): ingest, pull, events, summaries.", no_args_is_help=True
)
rasters_app = typer.Typer(help="Hotspot rasters: register GeoTIFFs, zonal statistics.", no_args_is_help=True)
hotspots_app.add_typer(partitions_app, name="partitions")


def _parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _ingest_with_progress(sm, path: Path, **kw):
    """Ingest one file in its own transaction, with a progress bar."""
    settings = cli_support.get_settings()
    size = path.stat().st_size
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
        console=cli_support.console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"Ingesting {path.name} ({size / 1e6:.1f} MB)", total=None)
        with transaction(sm) as session:
            return ingest_path(
                session,
                path,
                settings=settings.hotspots,
                country_bbox=settings.service.country_bbox,
                progress=lambda n: progress.advance(task, n),
                **kw,
            )


def _print_ingest(report) -> None:
    table = Table(title=f"FIRMS batch {report.batch_id}: {report.file_name}")
    for col in ("rows", "new", "updated", "unchanged", "refused", "outside country", "seconds", "events"):
        table.add_column(col, justify="right")
    table.add_row(
        *(
            f"{v:,}" if isinstance(v, int) else str(v)
            for v in (
                report.rows_total,
                report.rows_new,
                report.rows_updated,
                report.rows_unchanged,
                report.rows_refused,
                report.rows_outside,
                report.duration_s,
                len(report.event_ids),
            )
        )
    )
    cli_support.out.print(table)
    for p in report.problems[:20]:
        cli_support.console.print(f"[yellow]refused[/] line {p['line']}, {p['column']}: {p['reason']}")


@hotspots_app.command("ingest")
def ingest(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="FIRMS CSV files")],
    processing: Annotated[str | None, typer.Option(help="NRT or SP (default: from the version column)")] = None,
    skip_invalid: Annotated[bool, typer.Option(help="Store the valid rows of a file with invalid ones")] = False,
    events: Annotated[bool, typer.Option(help="Update fire events after each file")] = True,
) -> None:
    """Ingest FIRMS CSV files (each one transaction: all or nothing, recorded as a batch)."""
    try:
        url, _ = cli_support.prepare_database(cli_support.get_settings())
        sm = cli_support.cli_sessionmaker(url)
        for f in files:
            report = _ingest_with_progress(
                sm, f, processing=processing, skip_invalid=skip_invalid, events=events, loaded_by="cli"
            )
            _print_ingest(report)
    except GeoServiceError as exc:
        cli_support.fail(exc)


@hotspots_app.command("fetch")
def fetch(
    source: Annotated[str, typer.Option(help="MODIS_NRT, VIIRS_SNPP_NRT, VIIRS_NOAA20_NRT, VIIRS_NOAA21_NRT, *_SP")],
    bbox: Annotated[str, typer.Option(help="west,south,east,north, e.g. 99.8,17.6,100.6,18.9")],
    start: Annotated[str, typer.Option(help="First UTC day (YYYY-MM-DD)")],
    end: Annotated[str | None, typer.Option(help="Last UTC day (default: start)")] = None,
    keep: Annotated[Path | None, typer.Option(help="Keep the downloaded CSV files in this folder")] = None,
) -> None:
    """Pull detections from the FIRMS area API (MAP_KEY from GEO_SERVICE_FIRMS_MAP_KEY) and ingest them."""

    hs = cli_support.get_settings().hotspots
    try:
        box = parse_bbox(bbox)
        if box is None:
            raise InvalidInput("--bbox is empty: give west,south,east,north.", code="invalid_bbox")
        first = _parse_day(start)
        last = _parse_day(end) if end else first
        client = FirmsClient(
            hs.firms_map_key or "",
            base_url=hs.firms_url,
            max_attempts=hs.firms_max_attempts,
            backoff_s=hs.firms_backoff_s,
            min_free_transactions=hs.firms_min_free_transactions,
        )
        url, _ = cli_support.prepare_database(cli_support.get_settings())
        sm = cli_support.cli_sessionmaker(url)
        with scratch.temp_dir("firms_") as tmp:
            folder = keep or Path(tmp)
            with cli_support.console.status(f"Downloading {source} {first} .. {last} ..."):
                files = fetch_area(client, source, box, first, last, folder)
            cli_support.console.print(f"{len(files)} file(s) from FIRMS ({client.requests_made} requests)")
            for f in files:
                report = _ingest_with_progress(sm, f, source=f"firms-api:{source}", loaded_by="cli")
                _print_ingest(report)
    except GeoServiceError as exc:
        cli_support.fail(exc)


@hotspots_app.command("events")
def events(
    since: Annotated[str | None, typer.Option(help="First UTC day to recluster (default: all)")] = None,
    until: Annotated[str | None, typer.Option(help="Last UTC day")] = None,
) -> None:
    """Recluster detections into fire events (ids are kept where events continue)."""
    hs = cli_support.get_settings().hotspots
    try:
        url, _ = cli_support.prepare_database(cli_support.get_settings())
        with (
            cli_support.console.status("Clustering detections into events ..."),
            transaction(cli_support.cli_sessionmaker(url)) as s,
        ):
            lo = datetime.fromisoformat(since + "T00:00:00+00:00") if since else None
            hi = datetime.fromisoformat(until + "T23:59:59+00:00") if until else None
            result = recluster_events(s, lo, hi, EventParams.from_settings(hs))
    except (GeoServiceError, ValueError) as exc:  # ValueError: a day that is not YYYY-MM-DD
        cli_support.fail(exc)
    cli_support.out.print(
        f"{result['detections']:,} detections, {len(result['events']):,} events written "
        f"({result['created']} new, {result['updated']} changed; {result['unchanged']:,} unchanged, "
        f"{result['removed']} merged away)"
    )


@hotspots_app.command("summary")
def summary(
    group_by: Annotated[
        list[str] | None, typer.Option(help="province | district | protected_area | land_class")
    ] = None,
    period: Annotated[str, typer.Option(help="day | month | fire_season | fiscal_year | all")] = "fiscal_year",
    sensor: Annotated[list[str] | None, typer.Option(help="MODIS | VIIRS | a satellite")] = None,
    min_confidence: Annotated[str | None, typer.Option(help="low | nominal | high")] = None,
    since: Annotated[str | None, typer.Option("--from", help="First local day")] = None,
    until: Annotated[str | None, typer.Option("--to", help="Last local day")] = None,
    previous_year: Annotated[bool, typer.Option("--previous-year", help="Compare with a year earlier")] = False,
    province: Annotated[str | None, typer.Option(help="One province code (54 or TH54)")] = None,
    area: Annotated[str, typer.Option(help="aoi (the area of interest) | outside (beyond it) | all")] = "aoi",
) -> None:
    """Detections, FRP and burned area by province x district x protected area x period (the area of interest
    unless --area says otherwise)."""
    try:
        url, _ = cli_support.prepare_database(cli_support.get_settings())
        q = SummaryQuery(
            group_by=group_by or ["district"],
            period=period,
            sensors=sensor or [],
            min_confidence=min_confidence,
            date_from=_parse_day(since) if since else None,
            date_to=_parse_day(until) if until else None,
            compare="previous_year" if previous_year else None,
            province=province,
            area=area,
        )
        with cli_support.cli_sessionmaker(url)() as s:
            result = summarise(s, q)
    except GeoServiceError as exc:
        cli_support.fail(exc)
    table = Table(
        title=f"Hotspots by {' x '.join(q.group_by) or 'period'} and {period} (NASA FIRMS)",
        caption=f"{result['area']['label_en']} / {result['area']['label_th']}",
    )
    cols = [*q.group_by, "period_label", "detections", "frp_sum_mw", "burned_area_ha", "burned_area_rai"]
    if q.compare:
        cols[cols.index("detections") + 1 : cols.index("detections") + 1] = [
            "previous_year_detections",
            "change_detections_pct",
        ]
    for c in cols:
        table.add_column(c)
    for r in result["rows"]:  # a row of "none" shows its label (e.g. "Outside the loaded provinces")
        table.add_row(
            *(
                str(r.get(c) or r.get(f"{c}_name_en") or "")
                if c in q.group_by
                else ""
                if r.get(c) is None
                else str(r.get(c))
                for c in cols
            )
        )
    cli_support.out.print(table)


@hotspots_app.command("batches")
def list_batches(limit: Annotated[int, typer.Option(help="How many")] = 20) -> None:
    """The latest ingest batches."""
    url, _ = cli_support.prepare_database(cli_support.get_settings())
    with cli_support.cli_sessionmaker(url)() as s:
        rows = batches(s, limit)
    table = Table(title="FIRMS ingest batches")
    for c in ("id", "source", "rows_total", "rows_new", "rows_updated", "rows_refused", "duration_s", "loaded_at"):
        table.add_column(c)
    for r in rows:
        table.add_row(
            *(
                str(r[c])
                for c in (
                    "id",
                    "source",
                    "rows_total",
                    "rows_new",
                    "rows_updated",
                    "rows_refused",
                    "duration_s",
                    "loaded_at",
                )
            )
        )
    cli_support.out.print(table)


@rasters_app.command("register")
def register(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="GeoTIFF")],
    product: Annotated[str, typer.Option(help="fire_mask | burned_doy | frp | dnbr | generic")],
    on: Annotated[str, typer.Option("--date", help="Date the raster describes (YYYY-MM-DD)")],
    threshold: Annotated[
        float | None, typer.Option(help="Flag pixels by value (generic; overrides dnbr 0.1, frp 0)")
    ] = None,
    threshold_op: Annotated[str | None, typer.Option(help="> | >= | < | <= (default >= for dnbr, > for frp)")] = None,
    threshold_label: Annotated[
        str | None, typer.Option(help="What a flagged pixel means (required for generic with a threshold)")
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            help="Name of the raster (default: the file name); a changed file "
            "of the same name, product and date is a new version"
        ),
    ] = None,
) -> None:
    """Check, store as COG and register a raster, with zonal statistics per district and protected area."""
    settings = cli_support.get_settings()
    try:
        threshold_for(product, threshold, threshold_op, threshold_label)  # refused before the database starts
        url, _ = cli_support.prepare_database(settings)
        with (
            cli_support.console.status(f"Registering {file.name} ..."),
            transaction(cli_support.cli_sessionmaker(url)) as session,
        ):
            r = register_raster_file(
                session,
                file,
                product,
                _parse_day(on),
                data_dir=settings.db.data_dir,
                settings=settings.hotspots,
                uploaded_by="cli",
                name=name,
                threshold=threshold,
                threshold_op=threshold_op,
                threshold_label=threshold_label,
            )
    except GeoServiceError as exc:
        cli_support.fail(exc)
    meaning = r.meaning
    rule = meaning.get("threshold")
    what = (
        "burned area"
        if meaning.get("burned_area")
        else (f"flagged: value {rule['op']} {rule['value']:g} = {rule['label']}" if rule else "statistics only")
    )
    table = Table(
        title=f"Raster {r.raster_id} v{r.version} ({r.status}): {r.name} ({r.product}, {r.acq_date}, {r.crs}; {what})"
    )
    for c in ("zone", "code", "valid pixels", "mean", "min", "max", "flagged pixels", "burned ha", "burned rai"):
        table.add_column(c)
    for s in r.stats:
        table.add_row(
            s["zone_type"],
            s["zone_code"],
            f"{s['pixels']:.1f}",
            _fmt(s["mean"]),
            _fmt(s["min"]),
            _fmt(s["max"]),
            _fmt(s["flagged_pixels"]),
            _fmt(s["burned_ha"]),
            _fmt(s["burned_rai"]),
        )
    cli_support.out.print(table)


def _fmt(v) -> str:
    return "—" if v is None else f"{v:,.3g}" if abs(v) < 10 else f"{v:,.1f}"


@rasters_app.command("list")
def list_rasters() -> None:
    """Registered rasters."""
    url, _ = cli_support.prepare_database(cli_support.get_settings())
    with cli_support.cli_sessionmaker(url)() as s:
        rows = rasters(s)
    table = Table(title="Hotspot rasters")
    cols = ("id", "product", "acq_date", "name", "version", "superseded_by", "burned_area", "crs", "width", "height")
    for c in cols:
        table.add_column(c)
    for r in rows:
        table.add_row(*("—" if r[c] is None else str(r[c]) for c in cols))
    cli_support.out.print(table)
