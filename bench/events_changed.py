"""Fire-event re-clustering after a 1-day FIRMS file: the events written and returned, now only those that changed,
against every event of the widened period (before), in the same run.

Builds a throwaway PostGIS with the bundled layers and bench/red_flags.py's synthetic data (contracts, parcels and a
season of detections over Phrae, clustered into fire events), then ingests a 1-day FIRMS file without its events
(``ingest_path(events=False)``, committed). Then, alternately and each in a transaction rolled back, the
re-clustering of that day (``events.update_events``; the period is widened to whole events, which on this data
chains through most of the season) and the red-flag listener on the events it returns
(``redflags.service.after_events_reclustered``: the hotspot rules scoped to those events):

1. before: every event of the widened period written (``updated_at = now()``) and returned (``write_all=True``);
2. now: only the events whose stored row changes are written and returned.

Printed: the events returned, the ``fire_events`` rows written (pg_stat_xact_user_tables), the seconds of each step
(median of ``--repeat``), whether both leave the same events and the same flags, and the machine's load average.

    .venv/bin/python bench/events_changed.py                 # 100,000 detections (about a minute)
    .venv/bin/python bench/events_changed.py --scale 1        # 1,000,000 detections, 10,000 contracts
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's geo_service, whichever the virtualenv points at
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _writes(session) -> int:
    from sqlalchemy import text

    return int(
        session.execute(
            text(
                "SELECT n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_xact_user_tables "
                "WHERE relid = 'fire_events'::regclass"
            )
        ).scalar_one()
    )


def _event_rows(session) -> set:
    from sqlalchemy import text

    return set(
        session.execute(
            text("""SELECT id, first_seen, last_seen, detections, max_frp, sensors::text, district_code, reserve_code,
                           area_m2, md5(ST_AsEWKB(footprint)) FROM fire_events""")
        ).all()
    )


def _flag_rows(session) -> dict:
    from sqlalchemy import text

    rows = session.execute(
        text("""SELECT flag_key, current, status, severity, figures, evidence, contract_ids, parcel_ids, reason_en,
                       province_code, ST_AsEWKT(geom) FROM red_flags""")
    ).all()
    return {r[0]: tuple(r[1:]) for r in rows}


def main(scale: float, rows: int | None, repeat: int) -> None:
    """Build the data, ingest the day, compare the two ways (see the module's docstring)."""
    import _harness  # type: ignore[import-not-found]
    import red_flags  # type: ignore[import-not-found]
    from sqlalchemy import text

    from geo_service.db.engine import make_sessionmaker, transaction
    from geo_service.hotspots.events import update_events
    from geo_service.hotspots.service import ingest_path
    from geo_service.redflags import rules
    from geo_service.redflags.service import after_events_reclustered
    from geo_service.settings import RedFlagSettings, Settings

    detections = int(1_000_000 * scale)
    with _harness.database() as (_url, engine, _cluster), tempfile.TemporaryDirectory() as folder:
        quiet = make_sessionmaker(engine, Settings(run_after_ingest=False))
        factory = make_sessionmaker(engine)  # the red-flag listener re-runs the hotspot rules
        with transaction(quiet) as session:
            t = red_flags.generate(session, int(10_000 * scale), int(100_000 * scale), detections)
            n_events = session.execute(text("SELECT count(*) FROM fire_events")).scalar_one()
        print(f"season: {detections:,} detections, {n_events:,} fire events (clustered in {t['events']:.1f} s)")
        day_rows = rows or max(10, detections * 9 // 10 // 150)  # a day of the generated season (150 days)
        path = red_flags.one_day_file(Path(folder) / "firms_1day.csv", day_rows)
        with transaction(quiet) as session:
            report = ingest_path(session, path, loaded_by="bench", events=False)
        with transaction(factory) as session:  # the rules once: the listener's re-runs compare with stored flags
            rules.run_rules(session, RedFlagSettings())
            seq = session.execute(text("SELECT pg_get_serial_sequence('fire_events', 'id')")).scalar_one()
            next_id = session.execute(text("SELECT nextval(:s)"), {"s": seq}).scalar_one()
        times: dict[str, dict[str, list[float]]] = {"before": {}, "now": {}}
        out: dict[str, tuple] = {}
        for _ in range(repeat):
            for label, write_all in (("before", True), ("now", False)):
                with factory() as session:
                    # a sequence is not rolled back: each run numbers its new events from the same id
                    session.execute(text("SELECT setval(:s, :v, false)"), {"s": seq, "v": next_id})
                    start = _writes(session)
                    t0 = time.perf_counter()
                    result = update_events(session, report.first_acq, report.last_acq, write_all=write_all)
                    t1 = time.perf_counter()
                    after_events_reclustered(session, result["events"])
                    t2 = time.perf_counter()
                    written = _writes(session) - start
                    times[label].setdefault("events", []).append(t1 - t0)
                    times[label].setdefault("listener", []).append(t2 - t1)
                    out[label] = (result, written, _event_rows(session), _flag_rows(session))
                    session.rollback()
        load = os.getloadavg()[0]
        print(
            f"1-day FIRMS file: {report.rows_new:,} detections; re-clustered "
            f"{out['now'][0]['detections']:,} detections of the widened period; median of {repeat}, load {load:.1f}"
        )
        for label in ("before", "now"):
            result, written = out[label][0], out[label][1]
            ev, ls = statistics.median(times[label]["events"]), statistics.median(times[label]["listener"])
            print(
                f"  {label:<6} {len(result['events']):>7,} events returned, {written:>7,} fire_events rows written;"
                f" update_events {ev:6.2f} s, red-flag listener {ls:6.2f} s, together {ev + ls:6.2f} s"
            )
        now = out["now"][0]
        print(
            f"  now: {now['created']:,} created, {now['updated']:,} changed, {now['unchanged']:,} unchanged, "
            f"{now['removed']:,} merged away"
        )
        med = {k: {s: statistics.median(v) for s, v in d.items()} for k, d in times.items()}
        before_s, now_s = sum(med["before"].values()), sum(med["now"].values())
        print(
            f"  before / now: update_events {med['before']['events'] / max(med['now']['events'], 1e-9):.2f}x, "
            f"listener {med['before']['listener'] / max(med['now']['listener'], 1e-9):.1f}x, "
            f"together {before_s / max(now_s, 1e-9):.2f}x; same events: {out['before'][2] == out['now'][2]}, "
            f"same flags: {out['before'][3] == out['now'][3]}"
        )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=0.1, help="a fraction of 1,000,000 detections (default 0.1)")
    ap.add_argument("--rows", type=int, default=None, help="detections in the 1-day file (default: a day's worth)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each way, alternating (default 3)")
    a = ap.parse_args()
    main(a.scale, a.rows, a.repeat)
