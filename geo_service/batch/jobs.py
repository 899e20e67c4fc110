"""Run a batch job: submit its parts not done yet to Dask (or run them here), write each part as it finishes.

Each part's results and its done mark are written in one unit of work (``unit_of_work``: the command's
transaction factory, the edge owns the transactions). A job killed at any moment has written whole parts
only; run again, it opens the same job record (``store.open_job``) and submits the remaining parts.

``client=None`` runs the parts one after another in this process: the single-process path, the baseline of
``bench/batch_national.py`` and the reference of the tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from geo_service.batch import events as batch_events
from geo_service.batch import store
from geo_service.batch.partitions import list_parts
from geo_service.batch.summaries import attribute_part
from geo_service.hotspots.events import EventParams
from geo_service.places import Gazetteer, layers_version

UnitOfWork = Callable[[], AbstractContextManager[Session]]
Progress = Callable[[str, int], None]  # part done, rows


def _results(client, fn: Callable, tasks: list[tuple[str, tuple]], shared: tuple = ()) -> Iterator[tuple[str, Any]]:
    """(name, result) of ``fn(*args, *shared)`` per task, as they finish (Dask) or one by one (no client).

    ``shared`` objects (the boundaries) are sent to every worker once, not with each task.
    """
    if client is None:
        for name, args in tasks:
            yield name, fn(*args, *shared)
        return
    from distributed import as_completed

    scattered = [client.scatter(obj, broadcast=True) for obj in shared]
    futures = {client.submit(fn, *args, *scattered, pure=False): name for name, args in tasks}
    for future in as_completed(futures):
        name = futures.pop(future)
        result = future.result()
        future.release()
        yield name, result


def _write_parts(
    unit_of_work: UnitOfWork,
    job: store.Job,
    results: Iterable[tuple[str, Any]],
    write: Callable[[Session, str, Any], None],
    rows_of: Callable[[Any], tuple[int, int, float, float]],
    progress: Progress | None,
    part_delay_s: float,
) -> None:
    for name, result in results:
        if part_delay_s:
            time.sleep(part_delay_s)  # test-only hook (GEO_SERVICE_BATCH_PART_DELAY_S): time to kill the job
        rows, refused, seconds, cpu_seconds = rows_of(result)
        with unit_of_work() as session:
            if store.claim_part(session, job.id, name):  # never twice: a part done meanwhile is skipped
                write(session, name, result)
                store.mark_part_done(
                    session, job.id, name, rows=rows, refused=refused, seconds=seconds, cpu_seconds=cpu_seconds
                )
        if progress:
            progress(name, rows)


def run_attribution(
    unit_of_work: UnitOfWork,
    folder: Path | str,
    *,
    client=None,
    created_by: str | None = None,
    progress: Progress | None = None,
    started: Callable[[store.Job], None] | None = None,
    part_delay_s: float = 0.0,
    gazetteer: Gazetteer | None = None,
    boundaries: str | None = None,
) -> store.Job:
    """Attribute and summarise every GeoParquet partition of ``folder``; resume the job if it was started.

    The boundaries are the current ones (their version is part of the job's key: a boundary change makes a
    new job), or ``gazetteer`` named ``boundaries`` (a simulation's, in the benchmark). Returns the job, done.
    """
    parts = list_parts(folder)
    with unit_of_work() as session:
        gaz = gazetteer or Gazetteer.load(session)
        params = {"layers": boundaries or str(layers_version(session))}
        job = store.open_job(
            session,
            "attribute",
            str(Path(folder).resolve()),
            params,
            [(p.name, p.size) for p in parts],
            created_by=created_by,
        )
    if started:
        started(job)
    todo = set(job.todo)
    tasks = [(p.name, (p.path,)) for p in parts if p.name in todo]

    def write(session: Session, name: str, result) -> None:
        store.write_summaries(session, job.id, name, result.frame)

    _write_parts(
        unit_of_work,
        job,
        _results(client, attribute_part, tasks, (gaz,)),
        write,
        lambda r: (r.rows, r.refused, r.seconds, r.cpu_seconds),
        progress,
        part_delay_s,
    )
    with unit_of_work() as session:
        store.finish_job(session, job.id)
        return store.get_job(session, job.id)


def scan(folder: Path | str, blocking: batch_events.Blocking, client=None) -> list[batch_events.PartMeta]:
    """The first pass of a clustering: each file's time range and blocks (one task per file)."""
    parts = list_parts(folder)
    tasks = [(p.name, (p.path, i, blocking)) for i, p in enumerate(parts)]
    metas = dict(_results(client, batch_events.scan_part, tasks))
    return [metas[p.name] for p in parts]


def run_events(
    unit_of_work: UnitOfWork,
    folder: Path | str,
    *,
    params: EventParams | None = None,
    blocking: batch_events.Blocking | None = None,
    client=None,
    created_by: str | None = None,
    progress: Progress | None = None,
    started: Callable[[store.Job], None] | None = None,
    part_delay_s: float = 0.0,
) -> store.Job:
    """Cluster the detections of ``folder`` into fire events block by block; resume the job if it was started.

    The parts of the job are the space-time blocks that hold detections. When every block is done, the
    blocks' components are merged (``events.merge_links``) and the events written
    (``batch_event_members``) in one last transaction.
    """
    params = params or EventParams()
    blocking = blocking or batch_events.Blocking()
    metas = scan(folder, blocking, client)
    counts: dict[str, int] = {}
    for m in metas:
        for key, n in m.blocks.items():
            counts[key] = counts.get(key, 0) + n
    blocks = sorted(counts)
    number = {key: i for i, key in enumerate(blocks)}
    with unit_of_work() as session:
        job = store.open_job(
            session,
            "events",
            str(Path(folder).resolve()),
            batch_events.params_doc(params, blocking),
            [(b, counts[b]) for b in blocks],
            created_by=created_by,
        )
    if started:
        started(job)
    todo = set(job.todo)
    tasks = [(b, (b, metas, blocking, params)) for b in blocks if b in todo]

    def write(session: Session, name: str, result) -> None:
        component = (np.int64(number[name]) << 32) + result.component  # unique across blocks
        store.write_event_links(session, job.id, name, result.detection, component)

    _write_parts(
        unit_of_work,
        job,
        _results(client, batch_events.block_links, tasks),
        write,
        lambda r: (len(r.detection), 0, r.seconds, r.cpu_seconds),
        progress,
        part_delay_s,
    )
    with unit_of_work() as session:
        job = store.get_job(session, job.id)
        if job.status != "done":
            links = store.event_links(session, job.id)
            dets, events = batch_events.merge_links(
                links["detection"].to_numpy(np.int64), links["component"].to_numpy(np.int64)
            )
            store.write_event_members(session, job.id, dets, events)
            store.finish_job(session, job.id)
        return store.get_job(session, job.id)


def resume(unit_of_work: UnitOfWork, job: store.Job, *, client=None, created_by: str | None = None) -> store.Job:
    """Resume a recorded job with its recorded input and parameters (what ``batch resume`` does): only the
    parts not done are computed and written. Returns the job as it ends."""
    if job.kind == "attribute":
        return run_attribution(unit_of_work, job.source, client=client, created_by=created_by)
    ev, bl = job.params.get("event", {}), job.params.get("blocking", {})
    return run_events(
        unit_of_work,
        job.source,
        params=EventParams(**ev),
        blocking=batch_events.Blocking(**bl),
        client=client,
        created_by=created_by,
    )
