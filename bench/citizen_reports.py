"""Benchmark: a report from the public (sealing the contact details, checking and stripping the photos, the shared
rate-limit counter, duplicate search) against a staff incident creation measured in the same run.

    .venv/bin/python bench/citizen_reports.py                 # 120 requests a case, 20 with a phone photo
    .venv/bin/python bench/citizen_reports.py --requests 300 --photo-requests 40

It starts its own throwaway PostGIS (bench/_harness.py: fsync off, migrated, the bundled layers loaded), builds
the app in this process and sends sequential requests through Starlette's TestClient (no network: the figures are
the service's own work, on the same 2 cores as PostgreSQL):

* baseline ``POST /api/v1/incidents`` (administrator token): parse, attribute, insert, read back, audit
* ``POST /api/v1/citizen/reports`` without photos, with contact details (sealed box) and a typed DMS position
* the same with one phone-sized JPEG (4000 x 3000 px, EXIF with GPS): checked, hashed, stripped (re-encoded at
  1600 px), both copies stored

and, alone in Python, one sealing (PyNaCl) and one strip of that photo (Pillow). It prints median / p95 ms and
the ratio to the baseline; nothing is asserted.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from _harness import ADMIN_TOKEN, database  # bench/_harness.py: run as a script
from PIL import ExifTags, Image


def phone_jpeg(width: int, height: int) -> bytes:
    """A noisy (hard to compress, like a photo of a forest) JPEG with EXIF GPS."""
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8)
    img = Image.fromarray(pixels).resize((width, height), Image.Resampling.BILINEAR)
    exif = Image.Exif()
    exif[0x0110] = "BenchPhone"
    exif[ExifTags.IFD.GPSInfo] = {1: "N", 2: (18.0, 8.0, 42.5), 3: "E", 4: (100.0, 8.0, 30.0)}
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, exif=exif)
    return buf.getvalue()


def timed(fn, n: int) -> list[float]:
    """Milliseconds of n calls of fn."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def summary(name: str, ms: list[float], base: float | None) -> str:
    med = statistics.median(ms)
    p95 = float(np.percentile(ms, 95))
    ratio = f"{med / base:5.2f}x" if base else "  1.00x"
    return f"{name:<48} {len(ms):>5} {med:>9.1f} {p95:>9.1f} {1000 / med:>8.1f}/s {ratio}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=120, help="requests of the baseline and the no-photo case")
    parser.add_argument("--photo-requests", type=int, default=20, help="requests with a phone photo")
    parser.add_argument("--photo-size", default="4000x3000", help="the photo's pixels, WIDTHxHEIGHT")
    args = parser.parse_args()
    width, height = (int(v) for v in args.photo_size.lower().split("x"))

    from fastapi.testclient import TestClient

    from geo_service.citizen import sealing
    from geo_service.citizen.photos import strip
    from geo_service.main import create_app
    from geo_service.settings import Settings

    photo = phone_jpeg(width, height)
    print(f"photo: {width} x {height} px, {len(photo) / 1e6:.2f} MB, EXIF with GPS")
    with database() as (url, _engine, _cluster), tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(
            database_url=url.render_as_string(hide_password=False),
            environment="test",
            admin_token=ADMIN_TOKEN,
            data_dir=Path(data_dir),
            password_hash_memory_kib=1024,
            password_hash_time_cost=1,
            reports_per_address_per_hour=10_000,
            duplicate_distance_m=0,  # every report is new: the duplicate search still runs
            duplicate_hours=0,
        )
        with TestClient(create_app(settings)) as client:
            admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            rng = np.random.default_rng(1)

            def where() -> dict:
                return {"lat": 18.10 + float(rng.random()) * 0.1, "lon": 100.10 + float(rng.random()) * 0.1}

            def incident():
                body = {"kind": "illegal_logging", "location": where(), "description": "bench"}
                r = client.post("/api/v1/incidents", json=body, headers={**admin, "Idempotency-Key": str(uuid.uuid4())})
                assert r.status_code == 201, r.text

            def citizen(photos: list[bytes]):
                body = {
                    "kind": "logging",
                    "location": {"text": "18°08'42.5\"N 100°08'30\"E"},
                    "description": "bench",
                    "contact": {"name": "ผู้แจ้ง", "phone": "081-234-5678"},
                }
                files = [("photos", ("p.jpg", p, "image/jpeg")) for p in photos] or None
                r = client.post(
                    "/api/v1/citizen/reports",
                    data={"report": json.dumps(body, ensure_ascii=False)},
                    files=files,
                    headers={"Idempotency-Key": str(uuid.uuid4())},
                )
                assert r.status_code == 201, r.text

            for _ in range(5):  # warm-up: gazetteer, pools, key file
                incident()
                citizen([])
            base = timed(incident, args.requests)
            plain = timed(lambda: citizen([]), args.requests)
            with_photo = timed(lambda: citizen([photo]), args.photo_requests)
            key = sealing.public_key(None, settings.citizen.key_file(Path(data_dir)), True)
            seal_ms = timed(lambda: sealing.seal(key, {"contact": {"name": "ผู้แจ้ง", "phone": "081-234-5678"}}), 200)
            strip_ms = timed(lambda: strip(photo), max(3, args.photo_requests // 4))
    base_med = statistics.median(base)
    print(f"{'case':<48} {'n':>5} {'median ms':>9} {'p95 ms':>9} {'rate':>10} {'vs base':>7}")
    print(summary("staff incident (baseline)", base, None))
    print(summary("citizen report, sealed contact, no photo", plain, base_med))
    print(summary("citizen report + 1 phone photo (strip, 2 copies)", with_photo, base_med))
    print(summary("  sealing alone (PyNaCl sealed box)", seal_ms, base_med))
    print(summary("  stripping alone (Pillow decode/resize/encode)", strip_ms, base_med))


if __name__ == "__main__":
    main()
