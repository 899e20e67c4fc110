"""Benchmark: detection-to-alert latency, from the commit of a FIRMS ingest to the message accepted by SMTP.

    .venv/bin/python bench/alerts_latency.py                       # 10,000 rows, 1,000 subscriptions
    .venv/bin/python bench/alerts_latency.py --rows 2000 --subscriptions 200 --in-area 0.05

A throwaway PostGIS with the bundled Phrae layers (harness), 1,000 accounts each with one immediate e-mail
subscription (round robin over Phrae's districts, subdistricts and protected areas; minimum confidence "nominal"),
and a real SMTP server on loopback (aiosmtpd, STARTTLS required, a self-signed certificate made with openssl).
A 10,000-row VIIRS file of today (``--in-area`` of the rows inside Phrae, the rest elsewhere in Thailand) is
ingested in one transaction, as the API does, and the alerts are matched inside it. Right after the commit the
sender runs once (as the worker's job would on its next tick); each message's latency is the time from the
commit to the SMTP server's acceptance of its DATA.

Prints: the ingest with and without the 1,000 subscriptions (the matching's cost inside the ingest's transaction,
the baseline measured in the same run), the messages sent, the latency p50 / p95 / max, messages per second, and a
bare SMTP send on one connection (the channel's own cost, baseline). The worker's polling interval adds to the
latency in production (the job runs every N seconds).
"""

from __future__ import annotations

import argparse
import os
import random
import smtplib
import ssl
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEADER = (
    "latitude,longitude,bright_ti4,scan,track,acq_date,acq_time,satellite,instrument,confidence,version,"
    "bright_ti5,frp,daynight\n"
)
PHRAE = (99.75, 17.75, 100.55, 18.85)  # lon/lat box around the province
THAILAND = (97.6, 6.0, 105.5, 20.3)


def write_file(path: Path, rows: int, in_area: float, seed: int) -> None:
    """A VIIRS NRT file of today: ``in_area`` of the rows in Phrae's box, the rest anywhere in Thailand."""
    rng = random.Random(seed)
    now = datetime.now(UTC) - timedelta(minutes=30)
    lines = []
    for i in range(rows):
        box = PHRAE if rng.random() < in_area else THAILAND
        lon, lat = rng.uniform(box[0], box[2]), rng.uniform(box[1], box[3])
        at = now - timedelta(minutes=rng.randint(0, 600))
        conf = rng.choice("lnh")
        lines.append(
            f"{lat:.5f},{lon:.5f},330.0,0.39,0.36,{at:%Y-%m-%d},{at:%H%M},N20,VIIRS,{conf},2.0NRT,290.0,"
            f"{rng.uniform(0.5, 30):.2f},{'D' if i % 2 else 'N'}\n"
        )
    path.write_text(HEADER + "".join(lines))


SMTP_SERVER = """
import asyncio, ssl, sys, time
from aiosmtpd.controller import Controller

cert, key, port, log = sys.argv[1:5]
context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)
out = open(log, "a", buffering=1)

class Handler:
    async def handle_DATA(self, server, session, envelope):
        out.write(f"{time.time()}\\n")
        return "250 OK"

controller = Controller(Handler(), hostname="127.0.0.1", port=int(port), tls_context=context, require_starttls=True)
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
"""


def smtp_server(folder: Path):
    """aiosmtpd on loopback with STARTTLS required, in a process of its own (as a real server is: it must not
    share the sender's interpreter); returns (process, port, log of acceptance times, cert)."""
    from geo_service.db.local_pg import free_port

    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    port, log = free_port(), folder / "accepted.log"
    proc = subprocess.Popen(
        [sys.executable, "-c", SMTP_SERVER, str(cert), str(key), str(port), str(log)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc, port, log, cert


def seed_subscriptions(engine, n: int) -> None:
    """``n`` accounts with an e-mail address and one immediate subscription each (SQL: this is a benchmark)."""
    from sqlalchemy import text

    with engine.begin() as conn:
        subjects = conn.execute(
            text("SELECT subject_type, code FROM alert_subject_areas WHERE subject_type <> 'province' ORDER BY 1, 2")
        ).all()
        conn.execute(
            text("""
            INSERT INTO users (username, display_name, password_hash, roles, provinces)
            SELECT 'u' || lpad(i::text, 5, '0'), 'User ' || i, 'x', '{field_officer}', '{54}'
            FROM generate_series(1, :n) i"""),
            {"n": n},
        )
        conn.execute(
            text("""
            INSERT INTO alert_contacts (username, email)
            SELECT 'u' || lpad(i::text, 5, '0'), 'u' || i || '@bench.test' FROM generate_series(1, :n) i"""),
            {"n": n},
        )
        conn.execute(
            text("""
            INSERT INTO alert_subscriptions (created_by, username, subject_type, subject_code, kinds, min_confidence,
                                             channels)
            SELECT 'bench', 'u' || lpad(i::text, 5, '0'), (CAST(:types AS text[]))[1 + (i % :k)],
                   (CAST(:codes AS text[]))[1 + (i % :k)], '{hotspot}', 2, '{in_app,email}'
            FROM generate_series(1, :n) i"""),
            {"n": n, "k": len(subjects), "types": [s[0] for s in subjects], "codes": [s[1] for s in subjects]},
        )


def ingest(engine, path: Path) -> tuple[float, float, int]:
    """Ingest in one transaction; returns (seconds, commit time, rows new)."""
    from geo_service.db.engine import make_sessionmaker, transaction
    from geo_service.hotspots.service import ingest_path

    t0 = time.perf_counter()
    with transaction(make_sessionmaker(engine)) as session:
        report = ingest_path(session, path, loaded_by="bench")
    return time.perf_counter() - t0, time.time(), report.rows_new


def bare_smtp(port: int, cert: Path, n: int = 50) -> float:
    """Seconds per message of smtplib alone on one STARTTLS connection (the channel's floor)."""
    context = ssl.create_default_context(cafile=str(cert))
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        smtp.starttls(context=context)
        t0 = time.perf_counter()
        for i in range(n):
            mail = EmailMessage()
            mail["From"], mail["To"], mail["Subject"] = "a@bench.test", "b@bench.test", f"bare {i}"
            mail.set_content("x" * 600)
            smtp.send_message(mail)
        return (time.perf_counter() - t0) / n


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def main() -> None:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000, help="rows in the FIRMS file")
    ap.add_argument("--subscriptions", type=int, default=1_000, help="accounts, one immediate e-mail subscription each")
    ap.add_argument("--in-area", type=float, default=0.01, help="share of the rows inside Phrae (default 0.01)")
    ap.add_argument("--seed", type=int, default=16)
    args = ap.parse_args()

    import _harness

    from geo_service.alerts.sender import send_pending
    from geo_service.db.engine import make_sessionmaker
    from geo_service.settings import Settings

    folder = Path(tempfile.mkdtemp(prefix="alerts_bench_"))
    smtp, port, accepted_log, cert = smtp_server(folder)
    try:
        with _harness.database() as (url, engine, _cluster):
            base_file, file = folder / "base.csv", folder / "today.csv"
            write_file(base_file, args.rows, args.in_area, args.seed + 1)
            write_file(file, args.rows, args.in_area, args.seed)
            base_s, _, _ = ingest(engine, base_file)  # no subscription yet: the ingest alone
            seed_subscriptions(engine, args.subscriptions)
            ingest_s, committed, rows_new = ingest(engine, file)
            os.environ.setdefault("GEO_SERVICE_JWT_SECRET", "bench-jwt-secret-" + "y" * 32)
            settings = Settings(
                database_url=url.render_as_string(hide_password=False),
                environment="test",
                data_dir=folder,
                alerts_smtp_host="127.0.0.1",
                alerts_smtp_port=port,
                alerts_smtp_ca_file=cert,
                alerts_batch_size=5000,
            )
            t0 = time.perf_counter()
            sent = send_pending(make_sessionmaker(engine), settings)
            send_s = time.perf_counter() - t0
            latencies = [float(line) - committed for line in accepted_log.read_text().split()]
            floor = bare_smtp(port, cert)
    finally:
        smtp.communicate("", timeout=30)
    print(
        f"file: {args.rows:,} rows ({rows_new:,} new), {args.in_area:.0%} in Phrae; {args.subscriptions:,} subscriptions"
    )
    print(f"ingest without subscriptions (baseline): {base_s:6.2f} s")
    print(f"ingest with matching in its transaction: {ingest_s:6.2f} s  ({ingest_s / base_s:.2f}x)")
    if not latencies:
        print("no message matched (raise --in-area)")
        return
    print(f"messages accepted by SMTP: {sent:,} in {send_s:.2f} s ({sent / send_s:,.0f}/s)")
    print(
        f"commit -> accepted latency: p50 {pct(latencies, 50):.2f} s, p95 {pct(latencies, 95):.2f} s, "
        f"max {max(latencies):.2f} s  (target p95 < 30 s: {'met' if pct(latencies, 95) < 30 else 'NOT met'})"
    )
    per = send_s / sent
    print(
        f"sender per message: {per * 1000:.1f} ms; bare smtplib send (baseline): {floor * 1000:.1f} ms ({per / floor:.1f}x)"
    )


if __name__ == "__main__":
    main()
