"""The worker's catch-up: one run after N days offline against N daily runs over the same days (the baseline,
measured in the same run on the same database).

Both pull FIRMS from a fake FIRMS server on loopback (``--per-day`` detections a day spread over the box, a day
and a night pass) through the worker's own FIRMS job (``worker.catalogue.firms_job``: fetch_area + the ingest
+ fire events + the window record), with the runner's lock and run records. Two sources are used so that both
phases store new detections:

* **catch-up**: the job's first run on day 0, then one run N days later: the missed days are pulled once, in
  requests of up to 10 days (FIRMS's limit), one ingest transaction per file;
* **daily** (baseline): a run every day at noon for N days: each pulls yesterday (closing it) and today.

Printed: wall seconds, FIRMS requests (quota transactions), ingest batches, detections stored, and the ratios.

    .venv/bin/python bench/worker_catchup.py              # 20 days, 200 detections a day
    .venv/bin/python bench/worker_catchup.py --days 10 --per-day 100
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

KEY = "bench" + "0" * 27
HEADER = (
    "latitude,longitude,bright_ti4,scan,track,acq_date,acq_time,satellite,instrument,confidence,version,"
    "bright_ti5,frp,daynight\n"
)
BOX = (99.9, 17.9, 100.5, 18.6)  # around Phrae's districts


def fake_firms(per_day: int) -> tuple[ThreadingHTTPServer, list[str]]:
    """A FIRMS stand-in: the quota route and CSV answers with ``per_day`` detections a day (positions differ by
    source and day)."""
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, body: bytes, ctype: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            requests.append(self.path)
            url = urlparse(self.path)
            if url.path.startswith("/mapserver/"):
                doc = {"transaction_limit": 100000, "current_transactions": 0}
                return self._send(json.dumps(doc).encode(), "application/json")
            _, _, _, _key, source, area, days, start = url.path.strip("/").split("/")
            w, s, e, n = (float(v) for v in area.split(","))
            salt = sum(map(ord, source))
            lines = []
            for k in range(int(days)):
                day = date.fromisoformat(start) + timedelta(days=k)
                for i in range(per_day // 2):
                    u = ((i * 7919 + day.toordinal() * 104729 + salt * 31) % 10007) / 10007
                    v = ((i * 6151 + day.toordinal() * 7907 + salt * 17) % 10009) / 10009
                    lat, lon = s + v * (n - s), w + u * (e - w)
                    lines.append(f"{lat:.5f},{lon:.5f},330,0.4,0.4,{day},0612,N,VIIRS,n,2.0NRT,290,3.1,D")
                    lines.append(f"{lat:.5f},{lon:.5f},310,0.4,0.4,{day},1836,N,VIIRS,l,2.0NRT,288,1.2,N")
            return self._send((HEADER + "\n".join(lines) + "\n").encode(), "text/csv")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, requests


def main() -> None:
    """Parse the options, run both phases on one throwaway database, print the figures."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=20, help="days offline (1-59, default 20)")
    ap.add_argument("--per-day", type=int, default=200, help="detections a day from the fake FIRMS (default 200)")
    args = ap.parse_args()
    if not 1 <= args.days <= 59:
        ap.error("--days takes 1 to 59")

    import tempfile

    from _harness import database
    from sqlalchemy import text

    from geo_service.db.engine import make_sessionmaker
    from geo_service.settings import Settings
    from geo_service.worker.catalogue import firms_job, firms_job_name
    from geo_service.worker.registry import Registry
    from geo_service.worker.runner import Runner

    server, requests = fake_firms(args.per_day)
    url_firms = f"http://127.0.0.1:{server.server_address[1]}"
    day0 = date(2024, 2, 1)
    with database() as (url, engine, _cluster):
        settings = Settings(
            database_url=url.render_as_string(hide_password=False),
            environment="test",
            data_dir=Path(tempfile.mkdtemp()),
            firms_map_key=KEY,
            firms_url=url_firms,
            firms_bbox=",".join(map(str, BOX)),
            firms_initial_days=1,
            catchup_max_days=args.days + 1,
        )
        reg = Registry()
        sources = {"catch-up": "VIIRS_NOAA20_NRT", "daily": "VIIRS_SNPP_NRT"}
        for source in sources.values():
            reg.register_job(firms_job_name(source), firms_job(source), 900)
        runner = Runner(make_sessionmaker(engine), settings, reg, worker="bench")
        runner.declare()
        noon = datetime.fromisoformat(f"{day0}T12:00:00+00:00")
        figures = {}
        for phase, source in sources.items():
            job = firms_job_name(source)
            runner.run(job, now=noon)  # day 0: the job's first pull (not measured)
            before = len(requests)
            t = time.perf_counter()
            if phase == "catch-up":
                runs = [runner.run(job, now=noon + timedelta(days=args.days))]
            else:
                runs = [runner.run(job, now=noon + timedelta(days=k)) for k in range(1, args.days + 1)]
            seconds = time.perf_counter() - t
            assert all(r.status == "ok" for r in runs), [r.error for r in runs]
            with engine.connect() as c:
                batches = c.execute(
                    text("SELECT count(*) FROM hotspot_batches WHERE source = :s"), {"s": f"firms-api:{source}"}
                ).scalar()
                windows = c.execute(
                    text(
                        "SELECT count(*) FILTER (WHERE status = 'done'), count(*) FROM worker_windows WHERE job_name = :j"
                    ),
                    {"j": job},
                ).one()
            figures[phase] = {
                "seconds": seconds,
                "requests": len(requests) - before,
                "area": sum(1 for r in requests[before:] if r.startswith("/api/area/")),
                "rows": sum(r.rows or 0 for r in runs),
                "batches": batches - 1,
                "windows": windows,
            }
        server.shutdown()
    c, d = figures["catch-up"], figures["daily"]
    print(f"{args.days} days offline, {args.per_day} detections a day (fake FIRMS on loopback), same database:")
    print(
        f"{'':<22}{'wall s':>9}{'FIRMS requests':>16}{'area requests':>15}{'batches':>9}{'new rows':>10}{'windows done/all':>18}"
    )
    for name, f in (("catch-up (1 run)", c), (f"daily ({args.days} runs)", d)):
        print(
            f"{name:<22}{f['seconds']:>9.2f}{f['requests']:>16}{f['area']:>15}{f['batches']:>9}{f['rows']:>10,}"
            f"{f['windows'][0]:>10}/{f['windows'][1]}"
        )
    print(
        f"catch-up / daily: wall {c['seconds'] / d['seconds']:.2f}x, FIRMS requests {c['requests'] / d['requests']:.2f}x; "
        f"per day pulled: {c['seconds'] / args.days * 1e3:.0f} ms vs {d['seconds'] / args.days * 1e3:.0f} ms"
    )


if __name__ == "__main__":
    main()
