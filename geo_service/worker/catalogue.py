"""The worker's jobs, declared in one place: FIRMS NRT pulls (one job per configured source), fire-event
reclustering, partitions created ahead, interrupted batch jobs resumed, and the forest-loss pull slot.

Each job is a function of a ``JobContext`` (``worker.registry``) that calls the domains' own services in the
runner's units of work: the FIRMS pull is ``hotspots.fetch.fetch_area`` + ``hotspots.service.ingest_path``,
exactly what ``geo-service hotspots fetch`` does (same batches, events, audit entries).

Functions another domain provides are passed in, never imported by name: the forest-loss pull
(``ForestLossPull``) comes in as ``build_registry(forest_loss_pull=...)`` (``wiring.worker_registry``), and a
job such as the alert sender is added with ``registry.register_job`` in the same place.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import shapely
from sqlalchemy.orm import Session

from geo_service import scratch
from geo_service.batch import jobs as batch_jobs
from geo_service.batch import store as batch_store
from geo_service.bbox import parse_bbox
from geo_service.coords import widen_box
from geo_service.errors import InvalidInput
from geo_service.hotspots import partitions
from geo_service.hotspots.event_summary import HALF_PIXEL_M
from geo_service.hotspots.events import EventParams
from geo_service.hotspots.fetch import SOURCES, FirmsClient, day_windows, fetch_area
from geo_service.hotspots.near import UTM_MIN_SCALE
from geo_service.hotspots.service import ingest_path
from geo_service.hotspots.service import recluster_events as recluster
from geo_service.layers import aoi
from geo_service.settings import Settings
from geo_service.thai import BANGKOK
from geo_service.worker import store
from geo_service.worker.registry import JobContext, JobFunc, Registry
from geo_service.worker.windows import days_to_pull, is_closed, runs_of_days

# (the worker's transaction, the configured folder or URL of the published tiles, first and last UTC day)
#   -> rows stored (or None). Runs once per range of consecutive days to pull; must be idempotent (an open day
#   is pulled again at each run until it closes).
ForestLossPull = Callable[[Session, str, date, date], "int | None"]

FIRMS_SOURCE = "firms-api:{source}"  # the batch source label, as `hotspots fetch` writes it


def firms_job_name(source: str) -> str:
    """The job that pulls one FIRMS source: ``firms_viirs_snpp_nrt`` for ``VIIRS_SNPP_NRT``."""
    return f"firms_{source.lower()}"


def firms_bbox(session: Session, settings: Settings) -> tuple[float, float, float, float]:
    """The box pulled from FIRMS: ``GEO_SERVICE_WORKER_FIRMS_BBOX``, or the area of interest's bounding box widened
    by the farthest reach of "cleared by fire" (``FIRE_DISTANCE_M`` + half a MODIS pixel, as UTM measures it: a
    neighbour's detection that far marks a patch at the area's edge) and then outward to 0.01 degree."""
    if settings.worker.firms_bbox:
        box = parse_bbox(settings.worker.firms_bbox)
        if box is None:
            raise InvalidInput("GEO_SERVICE_WORKER_FIRMS_BBOX is empty.", code="invalid_bbox")
        return box
    wkb = aoi.geometry_wkb(session)
    if wkb is None:
        raise InvalidInput(
            "No area of interest is loaded: load the province boundaries or set GEO_SERVICE_WORKER_FIRMS_BBOX.",
            code="no_area_of_interest",
        )
    reach = (settings.forest_loss.fire_distance_m + max(HALF_PIXEL_M.values())) / UTM_MIN_SCALE
    w, s, e, n = widen_box(shapely.from_wkb(wkb).bounds, reach)
    return (math.floor(w * 100) / 100, math.floor(s * 100) / 100, math.ceil(e * 100) / 100, math.ceil(n * 100) / 100)


def _plan(ctx: JobContext) -> list[tuple[date, date]]:
    """The ranges of consecutive UTC days this run pulls (the catch-up rule of ``worker.windows``)."""
    w = ctx.settings.worker
    today = ctx.now.date()
    with ctx.unit_of_work() as session:
        first = store.first_window(session, ctx.name)
        recorded = store.windows(session, ctx.name, today - timedelta(days=w.catchup_max_days), today)
    days = days_to_pull(ctx.now, recorded, first, initial_days=w.firms_initial_days, max_days=w.catchup_max_days)
    ctx.detail["days"] = [d.isoformat() for d in days]
    return runs_of_days(days)


def _statuses(ctx: JobContext, days: list[date]) -> list[tuple[date, str]]:
    settle = timedelta(hours=ctx.settings.worker.firms_settle_hours)
    return [(d, "done" if is_closed(d, ctx.now, settle) else "open") for d in days]


def firms_job(source: str) -> JobFunc:
    """The job pulling FIRMS ``source`` for the configured box: the days of the catch-up rule, each file
    ingested in its own transaction with its days recorded (a failure leaves the rest for the next run)."""
    if source not in SOURCES:
        raise InvalidInput(
            f"GEO_SERVICE_WORKER_FIRMS_SOURCES: {source!r} is not a FIRMS source ({', '.join(SOURCES)}).",
            code="invalid_source",
        )

    def pull(ctx: JobContext) -> int:
        hs = ctx.settings.hotspots
        client = FirmsClient(
            hs.firms_map_key or "",
            base_url=hs.firms_url,
            max_attempts=hs.firms_max_attempts,
            backoff_s=hs.firms_backoff_s,
            min_free_transactions=hs.firms_min_free_transactions,
        )
        with ctx.unit_of_work() as session:
            bbox = firms_bbox(session, ctx.settings)
        rows, batches = 0, []
        for first, last in _plan(ctx):
            with scratch.temp_dir("worker_firms_") as tmp:
                files = fetch_area(client, source, bbox, first, last, Path(tmp))
                for path, (day, n) in zip(files, day_windows(first, last), strict=True):
                    days = [day + timedelta(days=k) for k in range(n)]
                    with ctx.unit_of_work() as session:
                        report = ingest_path(
                            session,
                            path,
                            settings=hs,
                            country_bbox=ctx.settings.service.country_bbox,
                            source=FIRMS_SOURCE.format(source=source),
                            loaded_by="worker",
                        )
                        store.record_windows(
                            session, ctx.name, _statuses(ctx, days), report.batch_id, report.rows_total
                        )
                    rows += report.rows_new + report.rows_updated
                    batches.append(report.batch_id)
        ctx.detail.update(batches=batches, requests=client.requests_made, bbox=list(bbox))
        return rows

    pull.__doc__ = f"Pull FIRMS {source} for the area of interest (catch-up of missed days) and ingest it."
    return pull


def recluster_events(ctx: JobContext) -> int:
    """Recluster the recent detections into fire events (ids kept where events continue)."""
    since = ctx.now - timedelta(days=ctx.settings.worker.events_days)
    with ctx.unit_of_work() as session:
        result = recluster(session, since, None, EventParams.from_settings(ctx.settings.hotspots))
    ctx.detail.update(
        detections=result["detections"],
        created=result["created"],
        updated=result["updated"],
        unchanged=result["unchanged"],
        removed=result["removed"],
    )
    return len(result["events"])


def ensure_partitions(ctx: JobContext) -> int:
    """Create the detections' yearly partitions of this year and the years ahead (those missing)."""
    with ctx.unit_of_work() as session:
        created = partitions.ensure_ahead(
            session, ctx.settings.partitions.ahead_years, today=ctx.now.astimezone(BANGKOK).date()
        )
    ctx.detail["created"] = created
    return len(created)


def resume_batch_jobs(ctx: JobContext) -> int:
    """Resume the Dask batch jobs that stopped part-way (no part done for GEO_SERVICE_WORKER_BATCH_RESUME_IDLE_S):
    the parts not done are computed (on GEO_SERVICE_DASK_SCHEDULER when set, else in the worker) and written."""
    with ctx.unit_of_work() as session:
        ids = batch_store.interrupted_jobs(session, ctx.settings.worker.batch_resume_idle_s)
        before = {r["id"]: r["rows"] for r in batch_store.list_jobs(session) if r["id"] in ids}
    resumed, rows = [], 0
    for job_id in ids:
        with ctx.unit_of_work() as session:
            job = batch_store.get_job(session, job_id)
        if not Path(job.source).is_dir():
            ctx.detail.setdefault("missing_input", []).append(job_id)
            continue
        if ctx.settings.batch.dask_scheduler:
            from geo_service.batch.cluster import dask_client  # distributed is only loaded when a cluster is used

            with dask_client(ctx.settings.batch) as client:
                batch_jobs.resume(ctx.unit_of_work, job, client=client, created_by="worker")
        else:
            batch_jobs.resume(ctx.unit_of_work, job, created_by="worker")
        with ctx.unit_of_work() as session:
            rows += int(batch_store.list_jobs(session, job_id)[0]["rows"]) - int(before.get(job_id, 0))
        resumed.append(job_id)
    ctx.detail["resumed"] = resumed
    return rows


def forest_loss_job(pull: ForestLossPull) -> JobFunc:
    """The job that hands the configured folder or URL of published forest-loss alert tiles to ``pull`` for
    the days of the catch-up rule, one transaction per range of days, the days recorded with it."""

    def run(ctx: JobContext) -> int:
        location = ctx.settings.worker.forest_loss_source
        if not location:
            raise InvalidInput(
                "Set GEO_SERVICE_WORKER_FOREST_LOSS_SOURCE to the folder or URL of the published alert tiles.",
                code="forest_loss_source_missing",
            )
        rows = 0
        for first, last in _plan(ctx):
            days = [first + timedelta(days=k) for k in range((last - first).days + 1)]
            with ctx.unit_of_work() as session:
                n = pull(session, location, first, last)
                store.record_windows(session, ctx.name, _statuses(ctx, days), None, n)
            rows += n or 0
        return rows

    run.__doc__ = "Pull the forest-loss alert tiles published since the last pull (catch-up of missed days)."
    return run


def build_registry(settings: Settings, *, forest_loss_pull: ForestLossPull | None = None) -> Registry:
    """Every job of the worker with its interval and enabled flag from ``settings.worker``.

    ``forest_loss_pull``: the forest-loss ingest's pull function; without it the forest-loss job is declared
    disabled (nothing to call)."""
    w = settings.worker
    reg = Registry()
    has_key = bool(settings.hotspots.firms_map_key)
    for source in w.firms_sources:
        reg.register_job(
            firms_job_name(source),
            firms_job(source),
            w.firms_interval_s,
            enabled=w.firms_enabled and has_key,
        )
    reg.register_job("fire_events", recluster_events, w.events_interval_s, enabled=w.events_enabled)
    reg.register_job("partitions", ensure_partitions, w.partitions_interval_s, enabled=w.partitions_enabled)
    reg.register_job("batch_resume", resume_batch_jobs, w.batch_resume_interval_s, enabled=w.batch_resume_enabled)
    reg.register_job(
        "forest_loss",
        forest_loss_job(forest_loss_pull) if forest_loss_pull else _not_wired,
        w.forest_loss_interval_s,
        description=forest_loss_job.__doc__.split("\n")[0] if forest_loss_job.__doc__ else "",
        enabled=w.forest_loss_enabled and bool(w.forest_loss_source) and forest_loss_pull is not None,
    )
    return reg


def _not_wired(ctx: JobContext) -> None:
    """Forest-loss pull: no ingest function is wired (wiring.worker_registry)."""
    raise InvalidInput("No forest-loss ingest is wired into the worker.", code="forest_loss_not_wired")
