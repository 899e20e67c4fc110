"""What counting forest loss by share costs: the summaries and the brief's section over N synthetic patches.

The figures count the part of each patch inside the province(s) reported (``forest_loss/queries.py``): a patch
across the province line adds its inside part, found from its province zone rows. This bench times
``queries.summarise`` (by district and month, by district and fiscal year, by reserve and fiscal year) and
``queries.brief_figures`` for a province and for the area of interest, against two baselines measured in the same
run on the same patches: a plain ``GROUP BY district_code, month`` with no zones, labels or names, and the
definition before the review (whole patches selected by their largest share: the same query without the share
join).

Run: ``.venv/bin/python bench/forest_loss_summary.py [--patches 100000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import time

from _harness import database
from sqlalchemy import text

from geo_service.db.engine import make_sessionmaker, transaction
from geo_service.forest_loss import queries


def generate(session, n: int) -> int:
    """n patches of 3,000 m2 over Phrae's districts, first alerts over two fiscal years; one in ten across the line
    into the neighbouring province (2,000 m2 inside), one in three half inside a reserve. Returns the zone rows."""
    districts = list(
        session.execute(
            text("SELECT code FROM current_admin_areas WHERE level = 'district' AND parent_code = '54' ORDER BY code")
        ).scalars()
    )
    reserve = session.execute(text("SELECT code FROM latest_protected_areas ORDER BY code LIMIT 1")).scalar_one()
    ingest = session.execute(
        text(
            "INSERT INTO forest_alert_ingests (source, encoding, file_name, file_sha256, params_key, crs) "
            "VALUES ('gfw_integrated', 'gfw_integrated', 'bench.tif', repeat('b', 64), 'bench', 'EPSG:4326') "
            "RETURNING id"
        )
    ).scalar_one()
    session.execute(
        text("""
        INSERT INTO clearing_patches (id, sources, first_date, last_date, pixels, area_m2, confidence_max,
            pixels_low, pixels_high, pixels_highest, province_code, district_code, in_aoi, cleared_by_fire,
            first_ingest_id, last_ingest_id, geom)
        SELECT g, ARRAY['gfw_integrated'], DATE '2023-10-01' + g % 730, DATE '2023-10-04' + g % 730, 30, 3000, 3,
               0, 30, 0, '54', (CAST(:d AS text[]))[1 + g % cardinality(CAST(:d AS text[]))], true, g % 5 = 0,
               :i, :i, ST_Multi(ST_MakeEnvelope(100 + (g % 300) * 0.002, 18 + (g / 300) * 0.0005,
                                                100.001 + (g % 300) * 0.002, 18.0004 + (g / 300) * 0.0005, 4326))
        FROM generate_series(1, :n) g"""),
        {"n": n, "d": districts, "i": ingest},
    )
    session.execute(
        text("""
        INSERT INTO clearing_patch_zones (patch_id, zone_type, zone_code, area_m2, share)
        SELECT p.id, 'province', '54', CASE WHEN p.id % 10 = 0 THEN 2000 ELSE 3000 END,
               CASE WHEN p.id % 10 = 0 THEN 2000 ELSE 3000 END / 3000.0 FROM clearing_patches p
        UNION ALL SELECT p.id, 'province', '55', 1000, 1000 / 3000.0 FROM clearing_patches p WHERE p.id % 10 = 0
        UNION ALL SELECT p.id, 'district', p.district_code, CASE WHEN p.id % 10 = 0 THEN 2000 ELSE 3000 END,
               CASE WHEN p.id % 10 = 0 THEN 2000 ELSE 3000 END / 3000.0 FROM clearing_patches p
        UNION ALL SELECT p.id, 'protected_area', :r, 1500, 0.5 FROM clearing_patches p WHERE p.id % 3 = 0"""),
        {"r": reserve},
    )
    session.execute(text("ANALYZE clearing_patches; ANALYZE clearing_patch_zones"))
    return session.execute(text("SELECT count(*) FROM clearing_patch_zones")).scalar_one()


BASELINE_PLAIN = """SELECT p.district_code, to_char(p.first_date, 'YYYY-MM'), count(*), sum(p.area_m2)
FROM clearing_patches p WHERE p.merged_into IS NULL AND p.in_aoi GROUP BY 1, 2"""
# the definition before the review: whole patches of the province of their largest share, by district part
BASELINE_WHOLE = """SELECT to_char(p.first_date, 'YYYY-MM'), z.zone_code, count(*), sum(z.area_m2)
FROM clearing_patches p JOIN clearing_patch_zones z ON z.patch_id = p.id AND z.zone_type = 'district'
WHERE p.merged_into IS NULL AND p.in_aoi AND p.province_code = ANY(CAST(:p AS text[])) GROUP BY 1, 2"""


def best(fn, repeat: int) -> float:
    """The best wall time of ``repeat`` runs (seconds)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patches", type=int, default=100_000, help="synthetic patches (default 100,000)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each query, best taken (default 3)")
    args = ap.parse_args()
    with database() as (_url, engine, _cluster):
        sm = make_sessionmaker(engine)
        with transaction(sm) as session:
            session.execute(text("SELECT refresh_area_of_interest()"))
            zones = generate(session, args.patches)
        print(f"{args.patches:,} patches, {zones:,} zone rows; area of interest: Phrae (54)")
        with sm() as s:
            plain = best(lambda: s.execute(text(BASELINE_PLAIN)).all(), args.repeat)
            whole = best(lambda: s.execute(text(BASELINE_WHOLE), {"p": ["54"]}).all(), args.repeat)
            print(f"baseline plain GROUP BY district, month:        {plain:6.2f} s")
            print(f"baseline whole patches by largest share:         {whole:6.2f} s")
            cases = {
                "summary district x month, province 54": queries.SummaryQuery(provinces=["54"]),
                "summary district x fiscal year, province 54": queries.SummaryQuery(
                    period="fiscal_year", provinces=["54"]
                ),
                "summary reserve x fiscal year, province 54": queries.SummaryQuery(
                    by="reserve", period="fiscal_year", provinces=["54"]
                ),
                "summary district x month, area of interest": queries.SummaryQuery(),
            }
            for label, q in cases.items():
                t = best(lambda q=q: queries.summarise(s, q), args.repeat)
                print(f"{label:48s} {t:6.2f} s  ({t / plain:4.1f}x plain, {t / whole:4.1f}x whole)")
            total = queries.summarise(s, queries.SummaryQuery(provinces=["54"]))["total"]
            print(f"  counted: {total['patches']:,} patches, {total['area_ha']:,.2f} ha (by share)")
            from datetime import date

            t = best(lambda: queries.brief_figures(s, date(2023, 10, 1), date(2024, 9, 30), "54"), args.repeat)
            print(f"{'brief section FY 2567, province 54':48s} {t:6.2f} s  ({t / plain:4.1f}x plain)")


if __name__ == "__main__":
    main()
