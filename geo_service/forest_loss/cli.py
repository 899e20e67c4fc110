"""`geo-service forest-loss ...`: ingest forest-loss alert rasters and change pairs, list the ingests."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from geo_service import cli_support
from geo_service.auth import Principal, Role
from geo_service.bbox import parse_bbox
from geo_service.db.engine import transaction
from geo_service.errors import GeoServiceError, InvalidInput
from geo_service.forest_loss import queries, tasks
from geo_service.forest_loss.ingest import IngestReport, ingest_files, list_ingests
from geo_service.forest_loss.sources import ENCODINGS
from geo_service.layers import aoi

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
    title = f"Forest-loss ingest {report.ingest_id}: {escape(report.file_name or '')}"  # names are data: no markup
    if report.replayed:
        title += " (already ingested with these parameters: nothing changed)"
    table = Table(title=title)
    for col in ("encoding", "alert px", "patches", "new", "extended", "merged", "ha", "rai", "dates", "burned", "s"):
        table.add_column(col, justify="right")
    dates = f"{report.alert_from} .. {report.alert_to}" if report.alert_from else "-"
    table.add_row(
        escape(report.encoding),
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
                escape(r["source"]),
                escape(r["encoding"]),
                escape(r["file_name"] or ""),
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


# --- patches, summaries and the field loop: the same service functions as the routes -------------------------
def _principal() -> Principal:
    """Who the commands act as: the operator of the server, national (every province), audited by account name."""
    return Principal(cli_support.cli_actor(), frozenset({Role.administrator}))


def _session_factory():
    settings = cli_support.get_settings()
    url, _ = cli_support.prepare_database(settings)
    return cli_support.cli_sessionmaker(url)


@forest_loss_app.command("patches")
def patches_command(
    date_from: Annotated[str | None, typer.Option("--from", help="Alerting on or after this day (YYYY-MM-DD)")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Alerting on or before this day (YYYY-MM-DD)")] = None,
    district: Annotated[str | None, typer.Option(help="Patches with a part in this district (code)")] = None,
    reserve: Annotated[str | None, typer.Option(help="Patches with a part in this reserve (code)")] = None,
    source: Annotated[list[str] | None, typer.Option(help="Alert source (repeat for several)")] = None,
    min_confidence: Annotated[int | None, typer.Option(help="2 low, 3 high, 4 highest")] = None,
    cleared_by_fire: Annotated[bool | None, typer.Option("--cleared-by-fire/--not-cleared-by-fire")] = None,
    bbox: Annotated[str | None, typer.Option(help="west,south,east,north (WGS 84)")] = None,
    area: Annotated[str, typer.Option(help="aoi (default) | outside | all")] = "aoi",
    limit: Annotated[int, typer.Option(min=1, max=5000)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
) -> None:
    """Current clearing patches (newest first alert first), filtered as the API's list."""
    with cli_support.command_errors():
        flt = queries.PatchFilter(
            bbox=parse_bbox(bbox) if bbox else None,
            date_from=_day(date_from) if date_from else None,
            date_to=_day(date_to) if date_to else None,
            district=district,
            reserve=reserve,
            sources=source or None,
            min_confidence=min_confidence,
            cleared_by_fire=cleared_by_fire,
            area=area,
        )
        with transaction(_session_factory()) as session:
            page = queries.patch_page(session, flt, _principal(), limit, offset)
        table = Table(title=f"แปลงแผ้วถางป่า / Clearing patches: {page['numberReturned']} of {page['numberMatched']}")
        for col in (
            "id",
            "alerts (BE)",
            "อำเภอ / district",
            "reserve",
            "ha",
            "rai",
            "conf",
            "sources",
            "fire",
            "check",
        ):
            table.add_column(col, justify="right" if col in ("id", "ha", "rai", "conf") else "left")
        for f in page["features"]:
            p = f["properties"]
            district_name = escape(f"{p['district_th'] or '-'} / {p['district_en'] or '-'}")
            table.add_row(
                str(p["id"]),
                f"{p['first_date_be']} - {p['last_date_be']}",
                district_name,
                escape(p["reserve_code"] or "-"),
                f"{p['area_ha']:,.2f}",
                f"{p['area_rai']:,.2f}",
                str(p["confidence_max"]),
                escape(", ".join(p["sources"])),
                "yes" if p["cleared_by_fire"] else "",
                escape(p["verification"] or ""),
            )
        cli_support.out.print(table)


@forest_loss_app.command("summary")
def summary_command(
    by: Annotated[str, typer.Option(help="district | reserve")] = "district",
    period: Annotated[str, typer.Option(help="month | fiscal-year (Thai, October-September)")] = "month",
    date_from: Annotated[str | None, typer.Option("--from", help="First alert on or after (YYYY-MM-DD)")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="First alert on or before (YYYY-MM-DD)")] = None,
    province: Annotated[
        str | None, typer.Option(help="Province code (54 or TH54); default: the area of interest's provinces")
    ] = None,
    source: Annotated[list[str] | None, typer.Option(help="Alert source (repeat for several)")] = None,
    min_confidence: Annotated[int | None, typer.Option(help="2 low, 3 high, 4 highest")] = None,
) -> None:
    """Clearing per district or reserve, by month or fiscal year, in ha and rai (the API's summary)."""
    with cli_support.command_errors():
        q = queries.SummaryQuery(
            by=by,
            period=period.replace("-", "_"),
            date_from=_day(date_from) if date_from else None,
            date_to=_day(date_to) if date_to else None,
            sources=source or None,
            min_confidence=min_confidence,
        )
        with transaction(_session_factory()) as session:
            if province is not None:
                q.provinces = [aoi.check_province_codes(session, [province])[0]]
            answer = queries.summarise(session, q)
        zone = "อำเภอ / district" if q.by == "district" else "ป่าสงวน / reserve"
        table = Table(title="การสูญเสียป่า / Forest loss", caption=queries.DEFINITION_EN)
        for col in ("ช่วง / period", zone, "แปลง / patches", "ha", "ไร่ / rai", "ถูกเผา / by fire"):
            table.add_column(col, justify="left" if col in ("ช่วง / period", zone) else "right")
        for r in answer["rows"]:
            table.add_row(
                f"{r['period_th']} / {r['period_en']}",
                escape(f"{r['name_th']} / {r['name_en']}"),
                str(r["patches"]),
                f"{r['area_ha']:,.2f}",
                f"{r['area_rai']:,.2f}",
                str(r["cleared_by_fire"]),
            )
        t = answer["total"]
        table.add_row(
            "รวม / total",
            "",
            str(t["patches"]),
            f"{t['area_ha']:,.2f}",
            f"{t['area_rai']:,.2f}",
            str(t["cleared_by_fire"]),
        )
        cli_support.out.print(table)


def _print_task(task: dict) -> None:
    cli_support.out.print(
        f"task {task['id']} ({task['status']}{', ' + task['outcome'] if task.get('outcome') else ''}): "
        f"patch {task['patch_id']}\n  {task['title_th']}\n  {task['title_en']}",
        markup=False,  # titles hold place and reserve names: data, never markup
        highlight=False,
    )


@forest_loss_app.command("send-task")
def send_task_command(
    patch_id: Annotated[int, typer.Argument(min=1, help="The patch to verify in the field")],
    assigned_to: Annotated[str | None, typer.Option(help="User name of the officer")] = None,
    note: Annotated[str | None, typer.Option(help="What to look at")] = None,
) -> None:
    """Send a patch to the field ("verify clearing at ..."): one open task per patch."""
    with cli_support.command_errors(), transaction(_session_factory()) as session:
        task = tasks.create_task(session, patch_id, _principal(), assigned_to=assigned_to, note=note)
    _print_task(task)


@forest_loss_app.command("tasks")
def tasks_command(
    near: Annotated[str, typer.Option(help="longitude,latitude (WGS 84), e.g. 100.15,18.15")],
    radius_m: Annotated[float, typer.Option(min=1, max=tasks.MAX_NEAR_RADIUS_M)] = 10_000,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
) -> None:
    """Open field tasks near a position, nearest first."""
    with cli_support.command_errors():
        lon, lat = tasks.parse_near(near)
        with transaction(_session_factory()) as session:
            found = tasks.open_tasks_near(session, lon, lat, radius_m, _principal(), limit=limit)
        table = Table(title=f"งานภาคสนาม / Open field tasks within {radius_m:,.0f} m of {lon},{lat}")
        for col in ("task", "patch", "m", "ตรวจสอบ / verify"):
            table.add_column(col, justify="right" if col != "ตรวจสอบ / verify" else "left")
        for t in found:
            table.add_row(
                str(t["id"]), str(t["patch_id"]), f"{t['distance_m']:,.0f}", escape(f"{t['title_th']}\n{t['title_en']}")
            )
        cli_support.out.print(table)


@forest_loss_app.command("outcome")
def outcome_command(
    task_id: Annotated[int, typer.Argument(min=1)],
    outcome: Annotated[str, typer.Argument(help=" | ".join(tasks.OUTCOMES))],
    note: Annotated[str | None, typer.Option()] = None,
    incident_id: Annotated[int | None, typer.Option(help="The incident the visit logged (links back)")] = None,
) -> None:
    """Record what a field visit found: verified, false_alarm or already_known."""
    with cli_support.command_errors(), transaction(_session_factory()) as session:
        task = tasks.record_outcome(session, task_id, _principal(), outcome=outcome, note=note, incident_id=incident_id)
    _print_task(task)


@forest_loss_app.command("verification")
def verification_command() -> None:
    """Per alert source: how its patches fared in the field (which alert system is trustworthy here)."""
    with cli_support.command_errors(), transaction(_session_factory()) as session:
        shares = tasks.verification_shares(session, _principal())
    table = Table(title="การตรวจสอบภาคสนาม / Field verification per source", caption=shares["definition"])
    for col in ("source", "patches", "checked", "verified", "false alarm", "known", "verified %", "false alarm %"):
        table.add_column(col, justify="left" if col == "source" else "right")

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v * 100:.1f}"

    for s in shares["sources"]:
        table.add_row(
            escape(s["source"]),
            str(s["patches"]),
            str(s["checked"]),
            str(s["verified"]),
            str(s["false_alarm"]),
            str(s["already_known"]),
            pct(s["verified_share"]),
            pct(s["false_alarm_share"]),
        )
    cli_support.out.print(table)
