"""Red-flag rules: every rule over synthetic contracts, parcels and a season of detections, against a naive loop.

Builds a throwaway PostGIS with the bundled Phrae layers, generates (in SQL) contracts (boxes and 20 m-wide lines,
all work types, fiscal year 2567), land-document parcels and one fire season of detections (plus a tenth as many
in the two seasons before, for the recurrence rule) attributed to the reserves they fall in, then times ``rules.run_rules`` (one set-based statement per rule) and, in the same run, a
naive per-contract loop (one query per contract, Python/Shapely for the figures) for the fire-in-contract and the
double-payment rules, and checks both find the same contracts. Last, a 1-day FIRMS file is ingested and the
hotspot rules re-run after it twice (each rolled back): scoped to what the file changed (what the ingest's listener
does, ``rules.Scope``) and in full; the figure is full / scoped, and both must leave the same flags. Then, with the
flags table padded to ``--flags`` rows (filler flags of no rule, each with its province, as a season's flags would
be), the same scoped re-run against the way it was done before (the baseline, in the same process): each rule's own
lookup (one read of the batch each) and every flag's province refreshed afterwards, against one lookup for the four
rules and the provinces of the flags the run wrote only; both must leave the same flags.

Default: a tenth of the issue's size (1,000 contracts, 10,000 parcels, 100,000 detections; about a minute on
2 busy cores). ``--full``: 10,000 contracts, 100,000 parcels, 1,000,000 detections.

    .venv/bin/python bench/red_flags.py [--full | --scale 0.05] [--naive-limit N] [--flags 20000] [--batch N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's geo_service, whichever the virtualenv points at

import _harness  # noqa: E402
import numpy as np  # noqa: E402
import shapely  # noqa: E402
from pyproj import Transformer  # noqa: E402
from sqlalchemy import text  # noqa: E402

from geo_service.db.engine import make_sessionmaker, transaction  # noqa: E402
from geo_service.hotspots.events import update_events  # noqa: E402
from geo_service.hotspots.service import ingest_path  # noqa: E402
from geo_service.redflags import rules, store  # noqa: E402
from geo_service.redflags.store import area_sql  # noqa: E402
from geo_service.settings import RedFlagSettings, Settings  # noqa: E402

BBOX = (99.75, 17.75, 100.45, 18.65)  # most of Phrae


def generate(session, contracts: int, parcels: int, detections: int) -> dict[str, float]:
    """Fill the tables in SQL (seeded): returns seconds per step."""
    t: dict[str, float] = {}
    x0, y0, x1, y1 = BBOX
    p = {"x0": x0, "y0": y0, "dx": x1 - x0, "dy": y1 - y0}
    session.execute(text("SELECT setseed(0.15)"))
    t0 = time.perf_counter()
    session.execute(
        text(f"""
        INSERT INTO redflag_contracts (contract_number, project_name, agency, contractor, work_type, budget_thb,
          paid_thb, fiscal_year_be, start_date, end_date, quantities, width_m, geom, area_geom, area_m2,
          created_by, updated_by)
        SELECT 'B-' || g, 'bench ' || g, 'Agency ' || (g % 7), 'Contractor ' || (g % 300),
          (ARRAY['firebreak','fire_control','patrol','reforestation','check_dam','forest_road'])[1 + g % 6],
          100000, CASE WHEN g % 10 = 0 THEN 0 ELSE 90000 END, 2567, DATE '2023-10-01', DATE '2024-05-31', '{{}}',
          CASE WHEN g % 4 = 0 THEN 20 END, q.geom, {area_sql("q.geom", "(CASE WHEN g % 4 = 0 THEN 20 END)")}, 0,
          'bench', 'bench'
        FROM generate_series(1, :n) g
        CROSS JOIN LATERAL (SELECT :x0 + random() * :dx + 0 * g AS x, :y0 + random() * :dy AS y,
                                   0.002 + random() * 0.004 AS h) c
        CROSS JOIN LATERAL (SELECT CASE WHEN g % 4 = 0
            THEN ST_SetSRID(ST_MakeLine(ST_MakePoint(c.x - c.h, c.y), ST_MakePoint(c.x + c.h, c.y)), 4326)
            ELSE ST_MakeEnvelope(c.x - c.h, c.y - c.h, c.x + c.h, c.y + c.h, 4326) END AS geom) q"""),
        {**p, "n": contracts},
    )  # the derived area as the store computes it (lines buffered by half their width)
    session.execute(text("UPDATE redflag_contracts SET area_m2 = ST_Area(area_geom::geography)"))
    t["contracts"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    session.execute(
        text("""
        INSERT INTO redflag_parcels (doc_type, doc_number, issue_date, geom, area_m2, created_by, updated_by)
        SELECT (ARRAY['chanote','nor_sor_3_gor','nor_sor_3','sor_kor_1'])[1 + g % 4], 'P-' || g,
          DATE '1960-01-01' + (random() * 23000)::int, ST_Multi(e), ST_Area(e::geography), 'bench', 'bench'
        FROM generate_series(1, :n) g
        CROSS JOIN LATERAL (SELECT :x0 + random() * :dx + 0 * g AS x, :y0 + random() * :dy AS y,
                                   0.0004 + random() * 0.001 AS h) c
        CROSS JOIN LATERAL (SELECT ST_MakeEnvelope(c.x - c.h, c.y - c.h, c.x + c.h, c.y + c.h, 4326) AS e) q"""),
        {**p, "n": parcels},
    )
    t["parcels"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    session.execute(
        text("""
        INSERT INTO hotspots (satellite, instrument, processing, acq_utc, acq_date_local, lat_e4, lon_e4, latitude,
          longitude, confidence, confidence_raw, batch_id, geom)
        SELECT 'N', 'VIIRS', 'NRT', ts, (ts AT TIME ZONE 'Asia/Bangkok')::date, round(y * 1e4), round(x * 1e4), y, x,
               2, 'n', 0, ST_SetSRID(ST_MakePoint(x, y), 4326)
        FROM (SELECT :x0 + random() * :dx AS x, :y0 + random() * :dy AS y,
                     TIMESTAMPTZ '2024-01-01 06:00+00' + (g % 150) * INTERVAL '1 day' + g * INTERVAL '1 ms'
                       - CASE WHEN g % 10 = 0 THEN (1 + g % 20 / 10) * INTERVAL '1 year' ELSE INTERVAL '0' END AS ts
              FROM generate_series(1, :n) g) d
        ON CONFLICT DO NOTHING"""),
        {**p, "n": detections},
    )
    t["detections"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    session.execute(
        text("""
        UPDATE hotspots h SET reserve_code = pa.code, protected_area_codes = ARRAY[pa.code]
        FROM protected_areas_on(DATE '2024-03-01') pa
        WHERE pa.kind = 'national_reserved_forest' AND ST_Intersects(pa.geom, h.geom)""")
    )
    t["attribution"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    update_events(session)  # the fire events, as the ingests would have left them
    t["events"] = time.perf_counter() - t0
    session.execute(text("ANALYZE redflag_contracts; ANALYZE redflag_parcels; ANALYZE hotspots; ANALYZE fire_events"))
    return t


def naive_fire(session, limit: int | None) -> tuple[set[int], float, int, int]:
    """The fire-in-contract rule as a loop: per contract, one query for the detections in its area and period, one
    for those on its protected side, one for its fire events; burned area with Shapely in Python; one upsert of its
    flag. The same work as the set-based statement (rolled back afterwards)."""
    t0 = time.perf_counter()
    contracts = session.execute(
        text("""SELECT id, ST_AsBinary(area_geom), start_date, end_date, area_m2, named_reserve_code
                FROM redflag_contracts WHERE work_type IN ('firebreak', 'fire_control', 'patrol') ORDER BY id""")
    ).all()
    everyone = len(contracts)
    if limit:
        contracts = contracts[:limit]
    to_utm = Transformer.from_crs(4326, 32647, always_xy=True)
    flagged = set()
    for cid, wkb, start, end, area_m2, named in contracts:
        w = bytes(wkb)
        pts = session.execute(
            text("""SELECT id, ST_X(geom), ST_Y(geom) FROM hotspots
                    WHERE ST_Intersects(geom, ST_GeomFromWKB(:w, 4326)) AND acq_date_local BETWEEN :s AND :e"""),
            {"w": w, "s": start, "e": end},
        ).all()
        if not pts:
            continue
        side = session.execute(
            text("""SELECT count(*) FROM hotspots
                    WHERE geom && ST_Expand(ST_GeomFromWKB(:w, 4326), 0.01)
                      AND ST_DWithin(geom::geography, ST_GeomFromWKB(:w, 4326)::geography, 1000)
                      AND NOT ST_Intersects(geom, ST_GeomFromWKB(:w, 4326)) AND acq_date_local BETWEEN :s AND :e
                      AND (CAST(:r AS text) IS NULL AND cardinality(protected_area_codes) > 0
                           OR CAST(:r AS text) = ANY(protected_area_codes))"""),
            {"w": w, "s": start, "e": end, "r": named},
        ).scalar_one()
        events = session.scalars(
            text("""SELECT id FROM fire_events WHERE ST_Intersects(footprint, ST_GeomFromWKB(:w, 4326))
                    AND first_seen::date <= :e AND last_seen::date >= :s"""),
            {"w": w, "s": start, "e": end},
        ).all()
        area = shapely.transform(shapely.from_wkb(w), lambda c: np.column_stack(to_utm.transform(c[:, 0], c[:, 1])))
        xs, ys = to_utm.transform([p[1] for p in pts], [p[2] for p in pts])
        squares = shapely.box(np.subtract(xs, 187.5), np.subtract(ys, 187.5), np.add(xs, 187.5), np.add(ys, 187.5))
        burned = shapely.union_all(squares).intersection(area).area
        figures = {
            "detections": len(pts),
            "burned_m2": round(burned, 1),
            "side": side,
            "events": list(events),
            "share": burned / area_m2 if area_m2 else 0.0,
        }
        session.execute(
            text("""INSERT INTO red_flags (flag_key, rule, severity, subject_type, subject_id, reason_th, reason_en,
                      figures, contract_ids, geom)
                    VALUES (:k, 'naive', 'medium', 'contract', :id, '-', '-', CAST(:f AS jsonb), ARRAY[:cid],
                      ST_GeomFromWKB(:w, 4326))
                    ON CONFLICT (flag_key) DO UPDATE SET figures = EXCLUDED.figures"""),
            {"k": f"naive:{cid}", "id": str(cid), "f": json.dumps(figures), "cid": cid, "w": w},
        )
        flagged.add(cid)
    return flagged, time.perf_counter() - t0, len(contracts), everyone


def naive_double(session, limit: int | None) -> tuple[set[tuple[int, int]], float, int, int]:
    """One query per paid contract for the paid contracts of the same work and year it overlaps (shares in SQL)."""
    t0 = time.perf_counter()
    ids = session.scalars(text("SELECT id FROM redflag_contracts WHERE paid_thb > 0 ORDER BY id")).all()
    everyone = len(ids)
    if limit:
        ids = ids[:limit]
    pairs = set()
    for cid in ids:
        rows = session.execute(
            text("""SELECT b.id, ST_Area(ST_Intersection(a.area_geom, b.area_geom)::geography)
                           / nullif(least(a.area_m2, b.area_m2), 0)
                    FROM redflag_contracts a JOIN redflag_contracts b ON b.id > a.id AND b.work_type = a.work_type
                      AND b.fiscal_year_be = a.fiscal_year_be AND b.paid_thb > 0
                      AND ST_Intersects(a.area_geom, b.area_geom)
                    WHERE a.id = :id"""),
            {"id": cid},
        ).all()
        pairs |= {(cid, b) for b, share in rows if share is not None and share >= 0.2}
    return pairs, time.perf_counter() - t0, len(ids), everyone


FIRMS_HEADER = (
    "latitude,longitude,bright_ti4,scan,track,acq_date,acq_time,satellite,instrument,confidence,version,"
    "bright_ti5,frp,daynight\n"
)


def one_day_file(path: Path, rows: int, day: str = "2024-03-15", seed: int = 16) -> Path:
    """A FIRMS VIIRS file of one day: ``rows`` detections over the benchmark's area (as many as a day of the
    generated season holds)."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = BBOX
    lon, lat = rng.uniform(x0, x1, rows), rng.uniform(y0, y1, rows)
    lines = [
        f"{la:.5f},{lo:.5f},340.0,0.39,0.36,{day},{4 + k % 4:02d}{k % 60:02d},N,VIIRS,n,2.0NRT,295.0,3.5,D\n"
        for k, (lo, la) in enumerate(zip(lon, lat, strict=True))
    ]
    path.write_text(FIRMS_HEADER + "".join(lines))
    return path


def _flag_rows(session) -> dict:
    rows = session.execute(
        text("""SELECT flag_key, current, status, severity, figures, evidence, contract_ids, parcel_ids, reason_en,
                       province_code, ST_AsEWKT(geom) FROM red_flags""")
    ).all()
    return {r[0]: tuple(r[1:]) for r in rows}


def after_ingest(factory, engine, detections: int, root: Path, repeat: int = 3) -> None:
    """A 1-day FIRMS file ingested (the rules not run by its listener), then, each in a transaction rolled back,
    the after-ingest re-run scoped to what the file changed (``rules.Scope``, what the listener does) and the full
    re-run of the same rules; both leave the same flags."""
    rows = max(10, detections * 9 // 10 // 150)  # a day of the generated season (150 days)
    path = one_day_file(root / "firms_1day.csv", rows)
    quiet = make_sessionmaker(engine, Settings(run_after_ingest=False))
    t0 = time.perf_counter()
    with transaction(quiet) as session:
        report = ingest_path(session, path, loaded_by="bench")
    ingest_s = time.perf_counter() - t0
    scope = rules.Scope(report.batch_id, report.first_acq, report.last_acq, tuple(report.event_ids))
    settings = RedFlagSettings()
    times: dict[str, list[float]] = {"scoped": [], "full": []}
    per_rule: dict[str, dict[str, list[float]]] = {"scoped": {}, "full": {}}
    out = {}
    for _ in range(repeat):  # alternating, each rolled back: the median of each, the machine being busy
        for label, kw in (("scoped", {"scope": scope}), ("full", {})):
            with factory() as session:
                t0 = time.perf_counter()
                runs = rules.run_rules(session, settings, rules=rules.AFTER["hotspots"], **kw)
                times[label].append(time.perf_counter() - t0)
                for r in runs:
                    per_rule[label].setdefault(r.rule, []).append(r.seconds)
                out[label] = (runs, _flag_rows(session))
                session.rollback()
    (scoped_runs, scoped_flags), (full_runs, full_flags) = out["scoped"], out["full"]
    scoped_s, full_s = statistics.median(times["scoped"]), statistics.median(times["full"])
    print(
        f"after-ingest re-run, 1-day FIRMS file ({report.rows_new:,} detections, {len(report.event_ids):,} fire "
        f"events re-clustered; ingest {ingest_s:.2f} s), median of {repeat}:"
    )
    for s_run, f_run in zip(scoped_runs, full_runs, strict=True):
        s_sec = statistics.median(per_rule["scoped"][s_run.rule])
        f_sec = statistics.median(per_rule["full"][f_run.rule])
        print(
            f"  {s_run.rule:<24} scoped {s_sec:7.3f} s over {s_run.subjects or 0:>6,} subjects"
            f"   full {f_sec:7.3f} s over every subject ({f_run.found:,} flags)"
        )
    print(
        f"  hotspot rules, scoped {scoped_s:.2f} s vs full {full_s:.2f} s: full / scoped = "
        f"{full_s / max(scoped_s, 1e-9):.1f}x; same flags: {scoped_flags == full_flags}"
    )


def pad_flags(session, target: int) -> int:
    """Filler flags (rule ``bench_filler``: no rule run finds or drops them) until the table holds ``target`` rows: a
    third about a contract, a third about a parcel, a third reserve cells (a shape only), each with its province (the
    full refresh then reads them all and writes none, as it would a season's flags). Returns the rows added."""
    have = session.execute(text("SELECT count(*) FROM red_flags")).scalar_one()
    n = max(0, target - have)
    if n:
        x0, y0, x1, y1 = BBOX
        session.execute(
            text("""
            INSERT INTO red_flags (flag_key, rule, severity, subject_type, subject_id, contract_ids, parcel_ids,
                                   reason_th, reason_en, geom)
            SELECT 'bench_filler:' || g, 'bench_filler', 'medium',
                   (ARRAY['contract', 'parcel', 'reserve_cell'])[1 + g % 3], g::text,
                   CASE WHEN g % 3 = 0 THEN ARRAY[b.c0 + g % b.nc] ELSE '{}' END,
                   CASE WHEN g % 3 = 1 THEN ARRAY[b.p0 + g % b.np] ELSE '{}' END, '-', '-',
                   ST_MakeEnvelope(x, y, x + 0.0045, y + 0.0045, 4326)
            FROM generate_series(1, :n) g
            CROSS JOIN (SELECT (SELECT min(id) FROM redflag_contracts) AS c0, (SELECT count(*) FROM redflag_contracts)
                          AS nc, (SELECT min(id) FROM redflag_parcels) AS p0,
                               (SELECT count(*) FROM redflag_parcels) AS np) b
            CROSS JOIN LATERAL (SELECT :x0 + random() * :dx + 0 * g AS x, :y0 + random() * :dy AS y) q"""),
            {"n": n, "x0": x0, "y0": y0, "dx": x1 - x0, "dy": y1 - y0},
        )
        store.refresh_flag_provinces(session)  # every flag's province, once
        session.execute(text("ANALYZE red_flags"))
    return n


def run_before(session, settings: RedFlagSettings, scope: rules.Scope) -> list[rules.RuleRun]:
    """The after-ingest scoped re-run as it was before (the baseline): each rule's own lookup (a read of the batch's
    detections each: ``rules.scope_subjects``), its statement, then every flag's province refreshed."""
    session.execute(text("SET LOCAL jit = off"))
    runs = []
    for r in rules.AFTER["hotspots"]:
        subjects = rules.scope_subjects(session, r, settings, scope)
        runs.append(
            rules.run_rule(session, r, settings, "system", subjects) if subjects else rules.RuleRun(r, 0, 0, 0, 0, 0.0)
        )
    store.refresh_flag_provinces(session)
    return runs


def before_after(factory, engine, flags: int, batch: int | None, detections: int, root: Path, repeat: int = 3) -> None:
    """The scoped re-run after a FIRMS-sized 1-day batch with ``flags`` flags in the table: before (``run_before``)
    against now (``rules.run_rules(scope=...)``), alternating, each rolled back; then its two parts alone."""
    with transaction(factory) as session:
        added = pad_flags(session, flags)
        total = session.execute(text("SELECT count(*) FROM red_flags")).scalar_one()
    rows = batch or max(10, detections * 9 // 10 // 150)
    path = one_day_file(root / "firms_batch.csv", rows, day="2024-03-16", seed=17)
    quiet = make_sessionmaker(engine, Settings(run_after_ingest=False))
    with transaction(quiet) as session:
        report = ingest_path(session, path, loaded_by="bench")
    scope = rules.Scope(report.batch_id, report.first_acq, report.last_acq, tuple(report.event_ids))
    settings = RedFlagSettings()
    times: dict[str, list[float]] = {"before": [], "now": []}
    parts: dict[str, list[float]] = {
        k: [] for k in ("lookups", "lookup", "lookups_det", "lookup_det", "refresh_all", "refresh_written")
    }
    detections_only = rules.Scope(report.batch_id, report.first_acq, report.last_acq)
    out = {}
    written: list[int] = []
    for _ in range(repeat):
        for label in ("before", "now"):
            with factory() as session:
                t0 = time.perf_counter()
                if label == "before":
                    runs = run_before(session, settings, scope)
                else:
                    runs = rules.run_rules(session, settings, rules=rules.AFTER["hotspots"], scope=scope)
                    written = sorted({i for r in runs for i in r.written_ids})
                times[label].append(time.perf_counter() - t0)
                out[label] = _flag_rows(session)
                if label == "before":
                    session.rollback()
                    continue
                # the parts alone, after the run in its transaction (nothing left to write: reads only)
                t0 = time.perf_counter()
                for r in rules.AFTER["hotspots"]:
                    rules.scope_subjects(session, r, settings, scope)
                parts["lookups"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                rules.scopes_of(session, rules.AFTER["hotspots"], settings, scope)
                parts["lookup"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()  # the detections alone (no re-clustered events): what the shared read saves
                for r in rules.AFTER["hotspots"]:
                    rules.scope_subjects(session, r, settings, detections_only)
                parts["lookups_det"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                rules.scopes_of(session, rules.AFTER["hotspots"], settings, detections_only)
                parts["lookup_det"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                store.refresh_flag_provinces(session)
                parts["refresh_all"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                store.refresh_flag_provinces(session, flag_ids=written)
                parts["refresh_written"].append(time.perf_counter() - t0)
                session.rollback()
    med = {k: statistics.median(v) for k, v in (times | parts).items()}
    print(
        f"scoped re-run after a 1-day batch ({report.rows_new:,} detections, {len(report.event_ids):,} fire events) "
        f"with {total:,} flags in the table ({added:,} filler), median of {repeat}:"
    )
    print(
        f"  before (a lookup per rule, every flag's province) {med['before']:.3f} s; now (one lookup, the "
        f"{len(written):,} written flags' provinces) {med['now']:.3f} s: before / now = "
        f"{med['before'] / max(med['now'], 1e-9):.1f}x; same flags: {out['before'] == out['now']}"
    )
    print(
        f"  province refresh: every flag {med['refresh_all']:.3f} s vs the written ones {med['refresh_written']:.4f} s"
        f" ({med['refresh_all'] / max(med['refresh_written'], 1e-9):.0f}x)"
    )
    print(
        f"  scope lookups, one per rule vs one shared: {med['lookups']:.3f} s vs {med['lookup']:.3f} s "
        f"({med['lookups'] / max(med['lookup'], 1e-9):.1f}x); the batch's detections alone (no events) "
        f"{med['lookups_det']:.3f} s vs {med['lookup_det']:.3f} s ({med['lookups_det'] / max(med['lookup_det'], 1e-9):.1f}x)"
    )


def main(contracts: int, parcels: int, detections: int, naive_limit: int | None, flags: int, batch: int | None) -> None:
    with _harness.database() as (_url, engine, _cluster):
        factory = make_sessionmaker(engine)
        with transaction(factory) as session:
            t = generate(session, contracts, parcels, detections)
        n_det = engine.connect().execute(text("SELECT count(*) FROM hotspots")).scalar()
        print(
            f"data: {contracts:,} contracts ({t['contracts']:.1f} s), {parcels:,} parcels ({t['parcels']:.1f} s), "
            f"{n_det:,} detections ({t['detections']:.1f} s, attribution {t['attribution']:.1f} s, "
            f"fire events {t['events']:.1f} s)"
        )
        settings = RedFlagSettings()
        with transaction(factory) as session:
            t0 = time.perf_counter()
            runs = rules.run_rules(session, settings)
            total = time.perf_counter() - t0
        for r in runs:
            print(f"  {r.rule:<24} {r.seconds:8.2f} s  {r.found:>8,} flags")
        print(f"all rules, first run: {total:.2f} s")
        with transaction(factory) as session:
            t0 = time.perf_counter()
            again = rules.run_rules(session, settings)
            rerun = time.perf_counter() - t0
        changed = sum(r.new + r.changed + r.gone for r in again)
        print(f"all rules, re-run (idempotent, {changed} changes): {rerun:.2f} s")
        by_rule = {r.rule: r for r in runs}
        with transaction(factory) as session:
            fire_keys = {
                int(k.rsplit(":", 1)[1])
                for k in session.scalars(text("SELECT flag_key FROM red_flags WHERE rule = 'fire_in_fire_contract'"))
            }
            double_keys = {
                tuple(int(x) for x in k.split(":")[2:4])
                for k in session.scalars(text("SELECT flag_key FROM red_flags WHERE rule = 'double_payment'"))
            }
            pairs, naive_d, m, m_all = naive_double(session, naive_limit)
        with factory() as session:  # the naive loop's upserts are rolled back
            flagged, naive_s, n, n_all = naive_fire(session, naive_limit)
            session.rollback()
        # with --naive-limit the loop saw a prefix of the contracts: its flags must be among the set-based ones
        same_fire = flagged == fire_keys if n == n_all else flagged <= fire_keys
        same_double = pairs == double_keys if m == m_all else pairs <= double_keys
        for label, rule, secs, seen, everyone, same in (
            ("fire in contract", "fire_in_fire_contract", naive_s, n, n_all, same_fire),
            ("double payment", "double_payment", naive_d, m, m_all, same_double),
        ):
            whole = secs * everyone / max(seen, 1)
            note = f" (extrapolated to {everyone:,}: {whole:.1f} s)" if seen < everyone else ""
            set_s = by_rule[rule].seconds
            print(
                f"{label}: set-based {set_s:.2f} s vs naive per-contract loop {secs:.2f} s over {seen:,} contracts"
                f"{note}; naive / set-based = {whole / max(set_s, 1e-9):.1f}x; same flags: {same}"
            )
        with tempfile.TemporaryDirectory(prefix="bench_red_flags_") as folder:
            after_ingest(factory, engine, detections, Path(folder))
            before_after(factory, engine, flags, batch, detections, Path(folder))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--full", action="store_true", help="the issue's size: 10,000 / 100,000 / 1,000,000")
    ap.add_argument("--scale", type=float, default=None, help="a fraction of the full size (default 0.1)")
    ap.add_argument("--naive-limit", type=int, default=None, help="run the naive loop on this many contracts only")
    ap.add_argument(
        "--flags", type=int, default=20_000, help="flags in the table for the before/after re-run (default 20,000)"
    )
    ap.add_argument(
        "--batch", type=int, default=None, help="detections in that 1-day batch (default: a day of the season)"
    )
    a = ap.parse_args()
    scale = 1.0 if a.full else (a.scale if a.scale is not None else 0.1)
    main(int(10_000 * scale), int(100_000 * scale), int(1_000_000 * scale), a.naive_limit, a.flags, a.batch)
