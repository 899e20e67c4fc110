"""`geo-service batch ...`: backfills and national recomputation on Dask, resumable by running them again."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from geo_service import cli_support
from geo_service.batch import jobs, store
from geo_service.batch.cluster import dask_client
from geo_service.batch.events import Blocking
from geo_service.batch.summaries import LEVELS, PERIOD_KINDS
from geo_service.db.engine import transaction
from geo_service.errors import InvalidInput
from geo_service.hotspots.events import EventParams

batch_app = typer.Typer(
    help="Batch work on Dask: attribution, summaries and fire events of a national archive (GeoParquet).",
    no_args_is_help=True,
)

Scheduler = Annotated[
    str | None, typer.Option("--scheduler", help="Dask scheduler address (default GEO_SERVICE_DASK_SCHEDULER)")
]
Workers = Annotated[int | None, typer.Option("--workers", help="Workers of the local cluster (default: CPU cores)")]
Threads = Annotated[
    bool, typer.Option("--threads", help="Local workers as threads of this process instead of processes")
]


def _run(kind: str, folder: Path, scheduler: str | None, workers: int | None, threads: bool, **kw) -> store.Job:
    """Run (or resume) one job with a progress bar; each part is written in its own transaction."""
    settings = cli_support.get_settings()
    with cli_support.database(settings) as db:
        unit_of_work: Callable = partial(transaction, db.sessions)
        runner = jobs.run_attribution if kind == "attribute" else jobs.run_events
        with (
            dask_client(
                settings.batch, scheduler=scheduler, workers=workers, processes=False if threads else None
            ) as client,
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rows]:,} rows"),
                TimeElapsedColumn(),
                console=cli_support.console,
            ) as bar,
        ):
            n_workers = len(client.scheduler_info().get("workers", {}))
            cli_support.console.print(f"Dask: {n_workers} worker(s) at {client.scheduler_info().get('address')}")
            task = bar.add_task(f"batch {kind}", total=None, rows=0)

            def started(job: store.Job) -> None:
                bar.update(task, description=f"job {job.id} ({kind})", total=len(job.parts), completed=len(job.done))
                if job.done:
                    cli_support.console.print(f"Resuming job {job.id}: {len(job.done)} of {len(job.parts)} parts done")

            def progress(name: str, rows: int) -> None:
                bar.update(task, advance=1, rows=bar.tasks[task].fields["rows"] + rows)

            job = runner(
                unit_of_work,
                folder,
                client=client,
                created_by=cli_support.cli_actor(),
                progress=progress,
                started=started,
                part_delay_s=settings.batch.batch_part_delay_s,
                **kw,
            )
        cli_support.console.print(f"Job {job.id} {job.status}: {len(job.done)} of {len(job.parts)} parts")
        return job


@batch_app.command("attribute")
def attribute(
    folder: Annotated[Path, typer.Argument(help="Folder of GeoParquet files of FIRMS detections")],
    scheduler: Scheduler = None,
    workers: Workers = None,
    threads: Threads = False,
) -> None:
    """Attribute every detection to province, district, subdistrict and protected areas and write the summaries
    by area x day, month and fiscal year (batch_summaries). Run it again to resume a killed job."""
    _run("attribute", folder, scheduler, workers, threads)


@batch_app.command("events")
def events(
    folder: Annotated[Path, typer.Argument(help="Folder of GeoParquet files of FIRMS detections")],
    block_deg: Annotated[float, typer.Option(help="Block size in degrees", min=0.01, max=90)] = 1.0,
    block_days: Annotated[float, typer.Option(help="Block length in days", min=0.5, max=3660)] = 30.0,
    scheduler: Scheduler = None,
    workers: Workers = None,
    threads: Threads = False,
) -> None:
    """Cluster the detections into fire events in space-time blocks with halos (the same events as the
    service's clustering, GEO_SERVICE_EVENT_*). Run it again to resume a killed job."""
    params = EventParams.from_settings(cli_support.get_settings().hotspots)
    _run("events", folder, scheduler, workers, threads, params=params, blocking=Blocking(block_deg, block_days))


@batch_app.command("resume")
def resume(
    job_id: Annotated[int, typer.Argument(help="Job number (batch status)")],
    scheduler: Scheduler = None,
    workers: Workers = None,
    threads: Threads = False,
) -> None:
    """Resume a job with its recorded input and parameters (the same as running its command again)."""
    settings = cli_support.get_settings()
    with cli_support.database(settings) as db, transaction(db.sessions) as session:
        job = store.get_job(session, job_id)
    if job.kind == "attribute":
        _run("attribute", Path(job.source), scheduler, workers, threads)
    else:
        ev, bl = job.params.get("event", {}), job.params.get("blocking", {})
        _run("events", Path(job.source), scheduler, workers, threads, params=EventParams(**ev), blocking=Blocking(**bl))


@batch_app.command("status")
def status(job_id: Annotated[int | None, typer.Argument(help="One job: list its parts")] = None) -> None:
    """Batch jobs and their progress (parts done of total, rows); with a job number, its parts."""
    cli_support.fit_width()
    with cli_support.database() as db, transaction(db.sessions) as session:
        rows = store.list_jobs(session, job_id)
        parts = store.job_parts(session, job_id) if job_id is not None else []
    table = Table(title="Batch jobs")
    for col in ("job", "kind", "status", "parts done", "rows", "refused", "work s", "started", "source"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["kind"],
            r["status"],
            f"{r['parts_done']} / {r['parts_total']}",
            f"{r['rows']:,}",
            f"{r['rows_refused']:,}",
            f"{r['seconds']:.1f}",
            f"{r['created_at']:%Y-%m-%d %H:%M}",
            r["source"],
        )
    cli_support.out.print(table)
    if parts:
        pt = Table(title=f"Parts of job {job_id}")
        for col in ("part", "rows", "refused", "seconds", "done"):
            pt.add_column(col)
        for p in parts:
            done = f"{p['done_at']:%Y-%m-%d %H:%M:%S}" if p["done_at"] else "-"
            pt.add_row(p["part"], f"{p['rows']:,}", f"{p['rows_refused']:,}", f"{p['seconds'] or 0:.2f}", done)
        cli_support.out.print(pt)


@batch_app.command("summary")
def summary(
    job_id: Annotated[int, typer.Argument(help="Job number of a `batch attribute` job")],
    level: Annotated[str, typer.Option(help="province | district | subdistrict")] = "district",
    period: Annotated[str, typer.Option(help="day | month | fiscal_year")] = "fiscal_year",
    area: Annotated[str, typer.Option(help="aoi | outside | all")] = "all",
) -> None:
    """A finished attribution job's figures: detections and FRP by area x period."""
    cli_support.fit_width()
    with cli_support.database() as db, transaction(db.sessions) as session:
        if level not in LEVELS or period not in PERIOD_KINDS or area not in ("aoi", "outside", "all"):
            raise InvalidInput(
                f"level takes {', '.join(LEVELS)}; period {', '.join(PERIOD_KINDS)}; area aoi, outside or all.",
                code="invalid_batch_summary",
            )
        store.list_jobs(session, job_id)  # NotFound for an unknown job
        rows = store.job_summaries(session, job_id, level, period, area)
    table = Table(title=f"Job {job_id}: detections by {level} and {period}")
    for col in (level, "period", "detections", "FRP sum MW", "FRP max MW", "first", "last"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["code"] or "(none)",
            r["period"],
            f"{r['detections']:,}",
            f"{r['frp_sum_mw']:,.2f}",
            f"{r['frp_max_mw'] or 0:,.2f}",
            str(r["first_date"]),
            str(r["last_date"]),
        )
    cli_support.out.print(table)
