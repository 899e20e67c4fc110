"""Benchmark: fan-out of one detection day to the subscriptions, one set-based query against a per-subscription loop.

    .venv/bin/python bench/alerts_fanout.py                                # 100,000 detections, 10,000 subscriptions
    .venv/bin/python bench/alerts_fanout.py --detections 20000 --subscriptions 2000 --loop-sample 500

A throwaway PostGIS with the bundled Phrae layers (harness). One FIRMS ingest of ``--detections`` detections of
today inside Phrae's box (VIIRS and MODIS, day and night, every confidence), then ``--subscriptions`` subscriptions:
districts, subdistricts and protected areas round robin, every fifth a drawn square of about 3 km, with mixed
filters (minimum confidence, sensor, day/night).

Measured in the same run on the same batch:
- **set-based**: the matcher's own statement (``alerts.store.HOTSPOT_CANDIDATES``, the join that feeds the outbox
  insert), grouped by subscription: one query for every subscription;
- **loop**: one query per subscription with the same filters (what a per-subscription implementation does), timed
  on ``--loop-sample`` subscriptions and extrapolated to all of them (the whole loop would take minutes);
- the per-subscription counts of the sample must agree with the set-based ones (checked);
- with ``--write-outbox``, the full outbox write of the set-based path for in-app alerts (``alerts.store.
  match_hotspots``, rolled back): one row per match, millions at the default sizes.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEADER = (
    "latitude,longitude,bright_ti4,scan,track,acq_date,acq_time,satellite,instrument,confidence,version,"
    "bright_ti5,frp,daynight\n"
)
PHRAE = (99.75, 17.75, 100.55, 18.85)

LOOP_SQL = """
SELECT count(*) FROM alert_hotspots h
WHERE h.batch_id = :batch_id
  AND h.acq_utc BETWEEN CAST(:first AS timestamptz) AND CAST(:last AS timestamptz)
  AND h.acq_utc >= CAST(:since AS timestamptz)
  AND h.confidence >= :min_confidence
  AND (CAST(:sensors AS text[]) IS NULL OR h.instrument = ANY(CAST(:sensors AS text[])))
  AND (CAST(:daynight AS text) IS NULL OR h.daynight = :daynight)
  AND CASE :subject_type
        WHEN 'district' THEN h.district_code = :code
        WHEN 'subdistrict' THEN h.subdistrict_code = :code
        WHEN 'protected_area' THEN :code = ANY(h.protected_area_codes)
        ELSE ST_Intersects(h.geom, (SELECT geom FROM alert_subscriptions WHERE id = :sid))
      END
"""


def write_file(path: Path, n: int, seed: int) -> None:
    """``n`` detections of today inside Phrae's box, VIIRS and MODIS, day and night, every confidence."""
    rng = random.Random(seed)
    now = datetime.now(UTC) - timedelta(minutes=30)
    lines = []
    for i in range(n):
        lon, lat = rng.uniform(PHRAE[0], PHRAE[2]), rng.uniform(PHRAE[1], PHRAE[3])
        at = now - timedelta(minutes=rng.randint(0, 600), seconds=i % 60)
        conf = rng.choice("lnh")
        lines.append(
            f"{lat:.5f},{lon:.5f},330.0,0.39,0.36,{at:%Y-%m-%d},{at:%H%M},N20,VIIRS,{conf},2.0NRT,290.0,"
            f"{rng.uniform(0.5, 30):.2f},{'D' if i % 2 else 'N'}\n"
        )
    path.write_text(HEADER + "".join(lines))


def seed_subscriptions(engine, n: int, seed: int) -> list[dict]:
    """``n`` subscriptions (SQL: this is a benchmark) with mixed subjects and filters; returns them."""
    from sqlalchemy import text

    rng = random.Random(seed)
    with engine.begin() as conn:
        subjects = conn.execute(
            text("SELECT subject_type, code FROM alert_subject_areas WHERE subject_type <> 'province' ORDER BY 1, 2")
        ).all()
        conn.execute(
            text("INSERT INTO users (username, display_name, password_hash, roles, provinces) "
                 "VALUES ('fan', 'Fan', 'x', '{field_officer}', '{54}')")
        )  # fmt: skip
        rows = []
        for i in range(n):
            polygon = i % 5 == 0
            kind, code = ("polygon", None) if polygon else subjects[i % len(subjects)]
            lon, lat = rng.uniform(PHRAE[0], PHRAE[2]), rng.uniform(PHRAE[1], PHRAE[3])
            rows.append(
                {
                    "t": kind,
                    "c": code,
                    "poly": f"POLYGON(({lon} {lat},{lon + 0.03} {lat},{lon + 0.03} {lat + 0.03},{lon} {lat + 0.03},{lon} {lat}))"
                    if polygon
                    else None,
                    "mc": rng.choice((1, 2, 3)),
                    "sensors": rng.choice((None, ["VIIRS"], ["MODIS"])),
                    "dn": rng.choice((None, "D", "N")),
                }
            )
        conn.execute(
            text("""
            INSERT INTO alert_subscriptions (created_by, username, subject_type, subject_code, geom, kinds,
                                             min_confidence, sensors, daynight, channels)
            VALUES ('bench', 'fan', :t, :c,
                    CASE WHEN CAST(:poly AS text) IS NULL THEN NULL ELSE ST_Multi(ST_GeomFromText(:poly, 4326)) END,
                    '{hotspot}', :mc, :sensors, :dn, '{in_app}')"""),
            rows,
        )
        conn.execute(text("ANALYZE alert_subscriptions"))
        return [
            dict(r)
            for r in conn.execute(
                text(
                    "SELECT id, subject_type, subject_code, min_confidence, sensors, daynight FROM alert_subscriptions"
                )
            ).mappings()
        ]


def main() -> None:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--detections", type=int, default=100_000)
    ap.add_argument("--subscriptions", type=int, default=10_000)
    ap.add_argument("--loop-sample", type=int, default=300, help="subscriptions timed one query each")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument(
        "--write-outbox", action="store_true", help="also time the outbox insert of every match (in-app rows)"
    )
    args = ap.parse_args()

    import _harness
    from sqlalchemy import text

    from geo_service.alerts import store
    from geo_service.db.engine import make_sessionmaker, transaction
    from geo_service.hotspots.service import ingest_path

    folder = Path(tempfile.mkdtemp(prefix="alerts_fanout_"))
    with _harness.database() as (_url, engine, _cluster):
        file = folder / "day.csv"
        write_file(file, args.detections, args.seed)
        t0 = time.perf_counter()
        with transaction(make_sessionmaker(engine)) as session:
            report = ingest_path(session, file, loaded_by="bench", events=False)
        ingest_s = time.perf_counter() - t0
        subs = seed_subscriptions(engine, args.subscriptions, args.seed)
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        since = datetime.now(UTC) - timedelta(days=2)
        params = {"batch_id": report.batch_id, "first": report.first_acq, "last": report.last_acq, "since": since}

        with engine.connect() as conn:
            t0 = time.perf_counter()
            grouped = dict(conn.execute(text(store.HOTSPOT_CANDIDATES + "SELECT sid, count(*) FROM m GROUP BY sid"), params).all())  # fmt: skip
            set_s = time.perf_counter() - t0
            sample = random.Random(args.seed).sample(subs, min(args.loop_sample, len(subs)))
            t0 = time.perf_counter()
            loop_counts = {}
            for s in sample:
                loop_counts[s["id"]] = conn.execute(
                    text(LOOP_SQL),
                    {
                        **params,
                        "min_confidence": s["min_confidence"],
                        "sensors": s["sensors"],
                        "daynight": s["daynight"],
                        "subject_type": s["subject_type"],
                        "code": s["subject_code"],
                        "sid": s["id"],
                    },
                ).scalar_one()
            loop_sample_s = time.perf_counter() - t0
        mismatched = [sid for sid, n in loop_counts.items() if grouped.get(sid, 0) != n]
        loop_s = loop_sample_s / len(sample) * len(subs)
        pairs = sum(grouped.values())
        print(f"{report.rows_new:,} detections ingested in {ingest_s:.1f} s; {len(subs):,} subscriptions "
              f"({sum(1 for s in subs if s['subject_type'] == 'polygon'):,} drawn polygons)")  # fmt: skip
        print(f"matches (subscription x detection): {pairs:,}; subscriptions with a match: {len(grouped):,}")
        print(f"set-based, one query:              {set_s:8.2f} s")
        print(
            f"per-subscription loop (baseline):  {loop_s:8.2f} s  extrapolated from {len(sample)} queries "
            f"({loop_sample_s / len(sample) * 1000:.1f} ms each)  -> set-based is {loop_s / set_s:.0f}x faster"
        )
        print(f"sample counts agree with the set-based query: {'yes' if not mismatched else f'NO ({len(mismatched)})'}")
        if args.write_outbox:
            session_factory = make_sessionmaker(engine)
            with session_factory() as session:
                t0 = time.perf_counter()
                with session.begin():
                    written = store.match_hotspots(
                        session, report.batch_id, report.first_acq, report.last_acq, since, datetime.now(UTC)
                    )
                    session.rollback()
                write_s = time.perf_counter() - t0
            print(
                f"outbox write (in-app rows, set-based insert, rolled back): {written:,} rows in {write_s:.2f} s "
                f"({written / write_s:,.0f} rows/s)"
            )


if __name__ == "__main__":
    main()
