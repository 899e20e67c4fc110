"""The province rule of case evidence (cases/evidence_scope.py): what it costs a provincial reader.

    .venv/bin/python bench/bench_evidence_scope.py                  # 50 cases x 200 links, 100,000 detections
    .venv/bin/python bench/bench_evidence_scope.py --links 1000     # heavier cases

A throwaway PostGIS with the bundled layers (bench/_harness.py). Detections are written straight into their table,
half attributed to Phrae (54) and half to another province (55), every case linking both; incidents likewise. Phrae cases each link ``links``
pieces of evidence: detections and incidents of both provinces, Phrae's districts and reserves. Timed, in the same
run, each the best of 5, as a Phrae investigator (the rule runs: one or two statements per kind of evidence) and as
the national administrator (the baseline: the rule answers without a statement, everything shown):
- the case pages (GET /api/v1/cases: all the cases, links and places);
- one case's evidence features (evidence.geojson's reader).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's geo_service, whatever the cwd

from sqlalchemy import text

from bench._harness import database
from geo_service.auth import Principal, Role
from geo_service.cases import access, service
from geo_service.cases.evidence_geojson import evidence_features
from geo_service.db.engine import make_sessionmaker


def best(fn, runs: int = 5) -> float:
    """The best of ``runs`` timings of ``fn()`` in seconds."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(n_cases: int, n_links: int, n_hotspots: int) -> None:
    with database() as (_url, engine, _cluster):
        sm = make_sessionmaker(engine)
        with sm() as s:
            t = time.perf_counter()
            s.execute(
                text("""
                INSERT INTO hotspots (satellite, instrument, processing, acq_utc, acq_date_local, lat_e4, lon_e4,
                  latitude, longitude, confidence, confidence_raw, province_code, batch_id, geom)
                SELECT 'N', 'VIIRS', 'NRT', TIMESTAMPTZ '2024-03-01' + g * interval '1 second', DATE '2024-03-01',
                  g, g, 18.2, 100.2, 2, 'n', CASE WHEN (g / :c) % 2 = 0 THEN '54' ELSE '55' END, 0,
                  ST_SetSRID(ST_MakePoint(100.2, 18.2), 4326)
                FROM generate_series(1, :n) g"""),
                {"n": n_hotspots, "c": n_cases},
            )
            s.execute(
                text("""
                INSERT INTO incidents (kind, observed_at, geom, location_text, location_format, location_datum,
                                       province_code, created_by)
                SELECT 'wildfire', now() - (g || ' minutes')::interval, ST_SetSRID(ST_MakePoint(100.2, 18.2), 4326),
                       'bench', 'decimal', 'WGS84', CASE WHEN (g / :c) % 2 = 0 THEN '54' ELSE '55' END, 'bench'
                FROM generate_series(1, :n) g"""),
                {"n": n_cases * n_links // 4, "c": n_cases},
            )
            s.execute(
                text("""
                INSERT INTO cases (reference, title, category, confidentiality, received_on, fiscal_year_be,
                                   province_code, created_by)
                SELECT 'B-' || g, 'case ' || g, 'other', 'internal', DATE '2024-03-10', 2567, '54', 'bench'
                FROM generate_series(1, :n) g"""),
                {"n": n_cases},
            )
            # per case: half detections, a quarter incidents (both provinces), a quarter Phrae's districts/reserves
            s.execute(
                text("""
                WITH places AS (
                  SELECT 'district'::link_target AS t, code, row_number() OVER (ORDER BY code) AS n
                  FROM current_admin_areas WHERE level = 'district'
                  UNION ALL
                  SELECT 'protected_area', code, 100 + row_number() OVER (ORDER BY code) FROM latest_protected_areas)
                INSERT INTO case_links (case_id, target_type, target_id, reason, created_by)
                SELECT c.id, x.t, x.i, 'bench', 'bench'
                FROM cases c CROSS JOIN LATERAL (
                  (SELECT 'hotspot'::link_target AS t, h.id::text AS i
                   FROM hotspots h WHERE h.id % :n_cases = c.id % :n_cases ORDER BY h.id LIMIT :half)
                  UNION ALL
                  (SELECT 'incident', i.id::text FROM incidents i WHERE i.id % :n_cases = c.id % :n_cases
                   ORDER BY i.id LIMIT :quarter)
                  UNION ALL
                  (SELECT t, code FROM places ORDER BY n LIMIT :quarter)) x
                ON CONFLICT DO NOTHING"""),
                {"n_cases": n_cases, "half": n_links // 2, "quarter": n_links // 4},
            )
            s.execute(text("ANALYZE hotspots; ANALYZE incidents; ANALYZE cases; ANALYZE case_links"))
            s.commit()
            links = s.execute(text("SELECT count(*) FROM case_links")).scalar_one()
            case_ids = list(s.execute(text("SELECT id FROM cases ORDER BY id")).scalars())
            print(
                f"wrote {n_hotspots:,} detections, {n_cases:,} cases, {links:,} links in {time.perf_counter() - t:.1f} s"
            )

        provincial = Principal("inv54", frozenset({Role.investigator}), provinces=frozenset({"54"}))
        national = Principal("admin", frozenset({Role.administrator}))

        def pages(principal: Principal):
            def run():
                with sm() as s, s.begin():
                    access.act_as(s, principal)
                    return service.case_pages(s, case_ids, principal)

            return run

        def features(principal: Principal):
            def run():
                with sm() as s, s.begin():
                    access.act_as(s, principal)
                    return evidence_features(s, case_ids[0], principal)

            return run

        shown = sum(len(p["links"]) for p in pages(provincial)())
        hidden = sum(p["evidence_hidden"] for p in pages(provincial)())
        t_prov, t_nat = best(pages(provincial)), best(pages(national))
        print(
            f"case pages ({len(case_ids)} cases): Phrae investigator {t_prov * 1000:.1f} ms ({shown:,} links shown, "
            f"{hidden:,} hidden), national {t_nat * 1000:.1f} ms (all shown); ratio {t_prov / t_nat:.2f}x"
        )
        one = features(provincial)()
        f_prov, f_nat = best(features(provincial)), best(features(national))
        print(
            f"one case's evidence features: Phrae investigator {f_prov * 1000:.1f} ms ({len(one.features)} drawn, "
            f"{one.hidden} hidden), national {f_nat * 1000:.1f} ms; ratio {f_prov / f_nat:.2f}x"
        )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=50, help="Phrae cases (default %(default)s)")
    ap.add_argument("--links", type=int, default=200, help="links per case (default %(default)s)")
    ap.add_argument("--hotspots", type=int, default=100_000, help="detections written (default %(default)s)")
    args = ap.parse_args()
    main(args.cases, args.links, args.hotspots)
