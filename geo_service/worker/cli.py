"""`geo-service worker ...`: the scheduled jobs' process, one-off runs, and their status."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from geo_service import cli_support, wiring
from geo_service.db.engine import make_engine, make_sessionmaker, transaction
from geo_service.settings import Settings
from geo_service.thai import BANGKOK
from geo_service.worker import runner as worker_runner
from geo_service.worker import status as worker_status

worker_app = typer.Typer(
    help="The worker: scheduled FIRMS pulls with catch-up, forest-loss pulls, fire events, partitions, "
    "interrupted batch jobs. Without a command it runs the scheduler until stopped.",
    invoke_without_command=True,
)


def _local(at) -> str:
    """A time as the office reads it: Asia/Bangkok, to the second ("-" for none)."""
    return f"{at.astimezone(BANGKOK):%Y-%m-%d %H:%M:%S}" if at else "-"


def _runner(settings: Settings, url) -> worker_runner.Runner:
    wiring.wire()
    registry = wiring.worker_registry(settings)
    # every job may run at once, each on two connections (its lock and its transaction): pool + overflow cover it
    sessions = make_sessionmaker(make_engine(url, pool_size=len(registry) + 1), settings)
    return worker_runner.Runner(sessions, settings, registry)


def _serve(only: list[str] | None = None) -> None:
    settings = cli_support.get_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with cli_support.database(settings) as db:
        worker_runner.serve(_runner(settings, db.url), only)


@worker_app.callback()
def worker(ctx: typer.Context) -> None:
    """Run the scheduler (every enabled job at its interval, each at once on start) until SIGTERM / Ctrl-C."""
    if ctx.invoked_subcommand is None:
        _serve()


@worker_app.command("run")
def run(
    once: Annotated[bool, typer.Option("--once", help="Run the jobs once each and exit (no scheduler)")] = False,
    job: Annotated[list[str] | None, typer.Option("--job", help="Only this job (repeatable; even if disabled)")] = None,
) -> None:
    """Run the scheduler (every enabled job, or each --job), or with --once each of them once; exit 1 if a run
    failed."""
    if not once:
        _serve(job or None)
        return
    settings = cli_support.get_settings()
    with cli_support.database(settings) as db:
        r = _runner(settings, db.url)
        r.declare()
        results = r.run_all(job or None)
    for res in results:
        if res.status == "skipped":
            cli_support.console.print(f"{res.name}: skipped, another worker holds the job's lock")
        elif res.status == "error":
            cli_support.console.print(f"[bold red]{escape(res.name)}: error:[/] {escape(res.error or '')}")
        else:
            cli_support.console.print(f"{res.name}: ok, {res.rows if res.rows is not None else '-'} rows")
    if any(res.status == "error" for res in results):
        raise typer.Exit(code=1)


@worker_app.command("status")
def status() -> None:
    """Each job: enabled, interval, last run (status, rows, error), last success, errors since, next run."""
    cli_support.fit_width()
    settings = cli_support.get_settings()
    with cli_support.database(settings) as db, transaction(db.sessions) as session:
        rows = worker_status.job_status(session, settings)
    table = Table(title="Worker jobs / งานตามกำหนดเวลา")
    for col in ("job", "enabled", "every", "last run", "status", "rows", "errors", "next run", "windows", "error"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["name"],
            "yes" if r["enabled"] else "no",
            f"{r['interval_s']:g} s",
            _local(r["last_started_at"]),
            r["last_status"] or "never run",
            "-" if r["last_rows"] is None else f"{r['last_rows']:,}",
            str(r["errors_since_ok"]),
            _local(r["next_run_at"]),
            f"{r['windows_done']} done, {r['windows_open']} open" if r["last_window"] else "-",
            escape((r["last_error"] or "")[:120]),
        )
    cli_support.out.print(table)
    cli_support.console.print("Times in Asia/Bangkok (เวลาประเทศไทย).")


@worker_app.command("runs")
def runs(
    name: Annotated[str, typer.Argument(help="Job name (worker status)")],
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many")] = 20,
) -> None:
    """A job's latest runs: worker, start, end, status, rows, error."""
    cli_support.fit_width()
    settings = cli_support.get_settings()
    with cli_support.database(settings) as db, transaction(db.sessions) as session:
        rows = worker_status.job_runs(session, name, limit)
    table = Table(title=f"Runs of {name}")
    for col in ("run", "worker", "started", "finished", "status", "rows", "error"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r["id"]),
            escape(r["worker"]),
            _local(r["started_at"]),
            _local(r["finished_at"]),
            r["status"],
            "-" if r["rows"] is None else f"{r['rows']:,}",
            escape((r["error"] or "")[:120]),
        )
    cli_support.out.print(table)
    cli_support.console.print("Times in Asia/Bangkok (เวลาประเทศไทย).")
