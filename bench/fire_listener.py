"""What the "cleared by fire" listener (forest_loss/fire.py ``after_hotspots_ingested``) adds to a FIRMS ingest.

One throwaway PostGIS with the bundled layers; a FIRMS file of one day (``--rows`` detections on one date, placed
as bench/firms_ingest.py places a season's: 60 % around Phrae, 40 % over northern Thailand) ingested end to end
as the API, the CLI and the worker do (``hotspots.service.ingest_path``: detections, fire events, listeners), in a
transaction rolled back after each run so that every run starts from the same state:

1. baseline: with no clearing patch stored (the listener finds none);
2. the same file with ``--patches`` patches stored (default 100,000 squares of 3 x 3 pixels over Phrae, first
   alerts spread over the year: bench/forest_loss_ingest.py's patches), marked once as their ingest would.

In each run the listener is then called once more on the same report (same candidates, same search, nothing left
to write): its own time, how many patches its cells reached, and how many of those it re-marked (those whose
candidate detections or events the batch changed: forest_loss/fire.py ``patches_changed``). The machine's load average is printed with the figures.

    .venv/bin/python bench/fire_listener.py
    .venv/bin/python bench/fire_listener.py --rows 300000 --patches 100000    # a season's worth in one file
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
DAY = "2024-03-26"  # the season's peak (bench/firms_ingest.py): patches first alerting Jan-May meet its windows


def one_day_file(path: Path, rows: int, seed: int) -> None:
    """``rows`` FIRMS detections dated ``DAY``: bench/firms_ingest.py's season, every row moved to one date (the
    times of day and the positions kept; rows that would repeat a stored key are dropped)."""
    import firms_ingest  # type: ignore[import-not-found]
    import pandas as pd

    season = path.with_suffix(".season.csv")
    firms_ingest.generate(season, rows, seed)
    frame = pd.read_csv(season, dtype={"acq_time": str, "confidence": str})
    season.unlink()
    frame["acq_date"] = DAY
    frame = frame.drop_duplicates(["acq_time", "latitude", "longitude", "satellite"])
    frame.to_csv(path, index=False)


def run(sm, csv: Path, settings) -> dict:
    """One ingest of ``csv`` through ``ingest_path`` (listeners included), then the listener alone on its report;
    rolled back."""
    from datetime import datetime

    from geo_service.forest_loss import store
    from geo_service.forest_loss.fire import after_hotspots_ingested, patches_changed, patches_reached
    from geo_service.hotspots import store as hotspots_store
    from geo_service.hotspots.service import ingest_path
    from geo_service.settings import THAILAND_BBOX, ForestLossSettings

    session = sm()
    try:
        t = time.perf_counter()
        report = ingest_path(session, csv, settings=settings, country_bbox=THAILAND_BBOX, loaded_by="bench")
        total = time.perf_counter() - t
        t = time.perf_counter()
        burned = after_hotspots_ingested(session, report)
        listener = time.perf_counter() - t
        reached_ids = patches_reached(session, report, ForestLossSettings())
        detections = hotspots_store.batch_detections(
            session, report.batch_id, datetime.fromisoformat(report.first_acq), datetime.fromisoformat(report.last_acq)
        )
        remarked = patches_changed(
            session, store.patch_fire_inputs(session, reached_ids), detections, report.event_ids, ForestLossSettings()
        )
        return {
            "rows": report.rows_new + report.rows_updated,
            "events": len(report.event_ids),
            "total_s": total,
            "listener_s": listener,
            "burned": burned,
            "reached": len(reached_ids),
            "remarked": len(remarked),
        }
    finally:
        session.rollback()
        session.close()


def main() -> None:
    """Measure and print."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--rows",
        type=int,
        default=20_000,
        help="detections in the one-day file (default 20,000: a heavy fire-season day over the region)",
    )
    ap.add_argument("--patches", type=int, default=100_000, help="clearing patches stored for the second run")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    import _harness  # type: ignore[import-not-found]
    from forest_loss_ingest import phrae_patches  # type: ignore[import-not-found]

    from geo_service.db.engine import make_sessionmaker, transaction
    from geo_service.forest_loss import store
    from geo_service.forest_loss.fire import mark_fire
    from geo_service.settings import ForestLossSettings, HotspotSettings

    settings = HotspotSettings()
    with tempfile.TemporaryDirectory(prefix="fire_listener_bench_") as tmp, _harness.database() as (_, engine, _c):
        csv = Path(tmp) / "firms_day.csv"
        one_day_file(csv, a.rows, 2567 + a.seed)
        sm = make_sessionmaker(engine)
        base = run(sm, csv, settings)
        with transaction(sm) as session:
            ids, rows = phrae_patches(session, a.patches, a.seed)
            ingest_id = store.create_ingest(
                session, source="gfw_integrated", encoding="gfw_integrated", file_name="bench", file_sha256="0" * 64,
                params_key="bench", params={}, crs="EPSG:32647", window=None, created_by="bench",
            )  # fmt: skip
            store.insert_patches(session, rows, ingest_id)
            mark_fire(session, ids, ForestLossSettings())
        full = run(sm, csv, settings)
    load = os.getloadavg()
    print(f"FIRMS ingest of one day ({base['rows']:,} detections, {base['events']:,} fire events re-clustered), end to")
    print(f"end through ingest_path, each run rolled back; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}:")
    for name, r in (("0 patches stored (baseline)", base), (f"{a.patches:,} patches stored", full)):
        reached = f", {r['reached']:,} patches in its cells' reach, {r['remarked']:,} re-marked"
        print(
            f"  {name}: ingest {r['total_s']:.2f} s; the listener alone {r['listener_s']:.2f} s"
            f"{reached}, {r['burned']:,} burned"
        )
    print(
        f"  ratio: ingest with patches / baseline {full['total_s'] / base['total_s']:.2f}; the listener is "
        f"{full['listener_s'] / full['total_s']:.0%} of the ingest with patches"
    )


if __name__ == "__main__":
    main()
