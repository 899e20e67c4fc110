"""Province scope: what the per-province row-level security and the incident scope cost on listing.

    .venv/bin/python bench/bench_scope.py [CASES] [INCIDENTS]     # default 50,000 cases, 200,000 incidents

A throwaway PostGIS is started (bench/_harness.py). Cases and incidents are written straight into their
tables, spread over 10 province codes (the case policy needs no boundary). Timed, in the same run, each the
best of 5: the case list (count + first page of 50, newest first) as a provincial investigator (one province),
as a national administrator (``*``: the case policy as it was before 0019, plus one comparison) and without
row-level security at all (the superuser: the baseline); the incident list (count + first page) with the
province scope and without it.
"""

from __future__ import annotations

import argparse
import time

from _harness import database
from sqlalchemy import text

from geo_service.auth import Principal, Role
from geo_service.cases import access
from geo_service.cases import store as cases_store
from geo_service.db.engine import make_sessionmaker
from geo_service.incidents import store as incidents_store
from geo_service.incidents.schemas import IncidentFilter

PROVINCES = [str(c) for c in range(50, 60)]


def best(fn, runs: int = 5) -> float:
    """The best of ``runs`` timings of ``fn()`` in seconds."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(n_cases: int, n_incidents: int) -> None:
    with database() as (_url, engine, _cluster):
        sm = make_sessionmaker(engine)
        with sm() as s:
            t = time.perf_counter()
            s.execute(
                text("""
                INSERT INTO cases (reference, title, category, confidentiality, received_on, fiscal_year_be,
                                   province_code, created_by)
                SELECT 'B-' || g, 'case ' || g, 'other', CASE WHEN g % 5 = 0 THEN 'confidential' ELSE 'internal' END
                       ::case_confidentiality, DATE '2024-01-01' + (g % 700), 2567,
                       (CAST(:codes AS text[]))[1 + g % 10], 'bench'
                FROM generate_series(1, :n) g"""),
                {"n": n_cases, "codes": PROVINCES},
            )
            s.execute(
                text("""
                INSERT INTO incidents (kind, observed_at, geom, location_text, location_format, location_datum,
                                       province_code, created_by)
                SELECT 'wildfire', now() - (g || ' minutes')::interval,
                       ST_SetSRID(ST_MakePoint(99.4 + random(), 17.7 + random()), 4326), 'bench', 'decimal',
                       'WGS84', (CAST(:codes AS text[]))[1 + g % 10], 'bench'
                FROM generate_series(1, :n) g"""),
                {"n": n_incidents, "codes": PROVINCES},
            )
            s.execute(text("ANALYZE cases; ANALYZE incidents"))
            s.commit()
            print(f"wrote {n_cases:,} cases and {n_incidents:,} incidents in {time.perf_counter() - t:.1f} s")

        provincial = Principal("inv54", frozenset({Role.investigator}), provinces=frozenset({"54"}))
        national = Principal("admin", frozenset({Role.administrator}))

        def case_list(principal: Principal | None):
            def run():
                with sm() as s, s.begin():
                    if principal is not None:
                        access.act_as(s, principal)
                    return cases_store.find_cases(s, limit=50)

            return run

        seen = {name: case_list(p)()[0] for name, p in (("provincial", provincial), ("national", national))}
        t_prov, t_nat, t_none = (best(case_list(p)) for p in (provincial, national, None))
        print(
            f"case list (count + page of 50): provincial {t_prov * 1000:.1f} ms ({seen['provincial']:,} visible), "
            f"national {t_nat * 1000:.1f} ms ({seen['national']:,}), no row-level security {t_none * 1000:.1f} ms; "
            f"provincial/baseline {t_prov / t_none:.2f}x, national/baseline {t_nat / t_none:.2f}x"
        )

        def incident_list(viewer: Principal | None):
            def run():
                with sm() as s:
                    return incidents_store.incident_rows(s, IncidentFilter(viewer=viewer), 50, 0)

            return run

        total_scoped = incident_list(provincial)()[0]
        t_scoped, t_all = best(incident_list(provincial)), best(incident_list(None))
        print(
            f"incident list (count + page of 50): province scope {t_scoped * 1000:.1f} ms ({total_scoped:,} of "
            f"{n_incidents:,}), no scope {t_all * 1000:.1f} ms; ratio {t_scoped / t_all:.2f}x"
        )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("cases", type=int, nargs="?", default=50_000, help="cases written (default %(default)s)")
    ap.add_argument("incidents", type=int, nargs="?", default=200_000, help="incidents written (default %(default)s)")
    args = ap.parse_args()
    main(args.cases, args.incidents)
