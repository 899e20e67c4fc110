"""Audit-trail verification: the set-based query of ``audit.verify`` against hashing in Python (baseline).

    .venv/bin/python bench/bench_audit.py [ENTRIES]      # default 100,000 entries

A throwaway PostGIS is started (bench/_harness.py); the entries are written through the real trigger
(export-like entries, as partners paging through the OGC API leave them). The baseline, in the same run,
fetches every entry with its canonical text in batches and recomputes the chain in Python, as ``verify``
did before.
"""

from __future__ import annotations

import argparse
import hashlib
import time

from _harness import database
from sqlalchemy import text

from geo_service import audit
from geo_service.db.engine import make_sessionmaker


def python_verify(session, batch: int = 5000) -> int:
    """The baseline: stream the entries, hash in Python; returns the number of problems."""
    prev_hash, prev_id, problems, last_id = audit.GENESIS, 0, 0, 0
    while True:
        rows = session.execute(
            text(
                "SELECT a.id, a.prev_hash, a.hash, audit_payload(a) AS payload FROM audit_log a "
                "WHERE a.id > :after ORDER BY a.id LIMIT :n"
            ),
            {"after": last_id, "n": batch},
        ).all()
        if not rows:
            return problems
        for r in rows:
            problems += (r.id != prev_id + 1) + (r.prev_hash != prev_hash)
            problems += hashlib.sha256(f"{r.prev_hash}|{r.payload}".encode()).hexdigest() != r.hash
            prev_hash, prev_id = r.hash, r.id
        last_id = rows[-1].id


def main(n: int = 100_000) -> None:
    with database() as (_url, engine, _cluster):
        sm = make_sessionmaker(engine)
        with sm() as s:
            t = time.perf_counter()
            s.execute(
                text("""
                INSERT INTO audit_log (actor, action, entity_type, entity_id, after)
                SELECT 'apikey:DDPM', 'export', 'collection', 'hotspots',
                       jsonb_build_object('page', g, 'filters', jsonb_build_object('bbox', '99.8,17.6,100.6,18.9'))
                FROM generate_series(1, :n) g"""),
                {"n": n},
            )
            s.commit()
            print(f"wrote {n:,} entries through the trigger in {time.perf_counter() - t:.1f} s")
        with sm() as s:
            t = time.perf_counter()
            result = audit.verify(s)
            fast = time.perf_counter() - t
            t = time.perf_counter()
            baseline_problems = python_verify(s)
            slow = time.perf_counter() - t
        print(
            f"audit.verify (set-based SQL): {result.entries:,} entries in {fast:.2f} s, {len(result.problems)} problems"
        )
        print(
            f"baseline (fetch + hash in Python): {slow:.2f} s, {baseline_problems} problems; ratio {slow / fast:.1f}x"
        )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument(
        "entries",
        type=int,
        nargs="?",
        default=100_000,
        help="audit entries written, then verified (default %(default)s)",
    )
    main(ap.parse_args().entries)
