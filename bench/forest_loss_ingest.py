"""Forest-loss alert ingest (issue 14), two measures, each with its baseline in the same run:

1. decode + window + patch a 10 m GFW integrated alert GeoTIFF covering Phrae (default 8,100 x 8,000 = 64.8M
   pixels, UTM 47N, 2 % alerts in clearing fronts, simulated by forest_loss/simulate.py and written once as a tiled,
   deflated GeoTIFF), window by window as the ingest reads it, against the naive baseline: read the whole window,
   decode it and trace ``rasterio.features.shapes`` over it. Each run is a fresh subprocess, so its peak RSS
   (``ru_maxrss``) is its own.
2. attribution and statistics of N patches (default 100,000 squares of 3 x 3 pixels over Phrae, random order):
   area in UTM zone by zone, shares in every province, district, subdistrict and protected area in force,
   largest-share codes, in_aoi, on a throwaway PostGIS with the bundled layers, each step timed with its commit:
   new patches inserted as the ingest inserts them (forest_loss/store.py ``insert_patches``: measured in memory by
   forest_loss/measure.py, COPYed with their figures and zone rows) against the same insert bare; the figures alone
   in memory; the same patches extended (``update_patches``, the ingest's path for extensions); the baseline, the SQL reference
   (tests/attribution_oracle.py ``measure_and_attribute_sql``) on the first ``--old-patches`` of the same patches, every column compared; the
   "cleared by fire" mark and its search (hotspots/near.py ``fire_near_areas``) against the same rule in plain
   PostGIS (tests/fire_oracle.py) on the first ``--fire-reference`` patches, answers compared; and the hotspots' rates in the same run: the
   Gazetteer on the patches' centres (points) and a FIRMS ingest end to end of ``--firms-rows`` rows
   (bench/firms_ingest.py's generated season). Then the target of issue 14, in ``--rounds`` alternating rounds: the
   whole per-patch path the ingest runs (forest_loss/ingest.py ``insert_new_patches``: ids, the "cleared by fire"
   evidence against that season, measured, attributed, written with its zone rows, committed), the same without
   the fire mark and the rows bare, against a FIRMS ingest of another season in the same round (rolled back; the
   dead rows vacuumed, untimed), each round with its load average.
3. the re-attribution of those stored patches after a boundary change (``store.reattribute``: areas kept, the
   changed layer type's zones only, only differences written) against the former listener
   (tests/attribution_oracle.py ``measure_and_attribute``: everything measured and rewritten); ``--no-reattribution``
   skips it.

    .venv/bin/python bench/forest_loss_ingest.py                        # both, default sizes
    .venv/bin/python bench/forest_loss_ingest.py --pixels 2e7 --patches 20000
    .venv/bin/python bench/forest_loss_ingest.py --no-raster --old-patches 100000   # the SQL on every patch
    .venv/bin/python bench/forest_loss_ingest.py --no-db                # the raster part only
    .venv/bin/python bench/forest_loss_ingest.py --reattribution-only   # a boundary change's re-attribution
    .venv/bin/python bench/forest_loss_ingest.py --no-raster --old-patches 2000 --no-reattribution --rounds 3
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # this checkout's geo_service, also in the measuring subprocesses
PHRAE_ORIGIN = (585_000.0, 2_092_000.0)  # UTM 47N: north-west of Phrae province


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_raster(path: Path, height: int, width: int, seed: int) -> float:
    """The simulated alert raster written as a tiled, deflated int32 GeoTIFF; returns seconds."""
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    from geo_service.forest_loss.simulate import SimulatedGfwSource

    t = from_origin(*PHRAE_ORIGIN, 10.0, 10.0)
    src = SimulatedGfwSource(height=height, width=width, seed=seed, transform=t)
    started = time.perf_counter()
    profile = dict(
        driver="GTiff", height=height, width=width, count=1, dtype="int32", crs="EPSG:32647", transform=t,
        compress="deflate", tiled=True, blockxsize=512, blockysize=512,
    )  # fmt: skip
    step = 2048
    with rasterio.open(path, "w", **profile) as ds:
        for r in range(0, height, step):
            for c in range(0, width, step):
                h, w = min(step, height - r), min(step, width - c)
                ds.write(src.read(r, c, h, w), 1, window=Window(c, r, w, h))
    return time.perf_counter() - started


def part_kernel(path: str, window: int, vectorise: bool) -> dict:
    """The ingest's path: windowed reads, decode, patches, exact merge (and polygons when ``vectorise``)."""
    from geo_service.forest_loss.windows import GeoTiffSource, run

    rss0 = _rss_mb()
    started, cpu = time.perf_counter(), time.process_time()
    result = run([GeoTiffSource.open(path)], window=window, window_days=30, vectorise=vectorise)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "cpu_s": time.process_time() - cpu,
        "patches": result.patches.n,
        "alert_pixels": int(result.patches.pixels.sum()),
        "pixels": result.pixels,
        "peak_rss_mb": _rss_mb(),
        "rss_before_mb": rss0,
    }


def part_baseline(path: str) -> dict:
    """Naive: the whole window read into memory, decoded, and traced by rasterio.features.shapes (8-connected shapes
    of equal values: no date window, no statistics)."""
    import numpy as np
    import rasterio
    from rasterio.features import shapes

    from geo_service.forest_loss.decode import decode_gfw_integrated

    rss0 = _rss_mb()
    started, cpu = time.perf_counter(), time.process_time()
    with rasterio.open(path) as ds:
        values = ds.read(1)
    alerts = decode_gfw_integrated(values)
    mask = alerts.mask
    n = sum(1 for _ in shapes(alerts.confidence.astype(np.uint8), mask=mask, connectivity=8))
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "cpu_s": time.process_time() - cpu,
        "shapes": n,
        "alert_pixels": int(mask.sum()),
        "pixels": int(values.size),
        "peak_rss_mb": _rss_mb(),
        "rss_before_mb": rss0,
    }


def _subprocess(args: list[str]) -> dict:
    r = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise SystemExit(r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def _snapshot(session, ids: list[int]) -> tuple[list[dict], dict[int, list[tuple]]]:
    from geo_service.forest_loss import store

    rows = [dict(r) for r in store.patches_of(session, ids)]
    zones: dict[int, list[tuple]] = {}
    for z in store.patch_zones(session, ids):
        zones.setdefault(int(z["patch_id"]), []).append((z["zone_type"], z["zone_code"], z["area_m2"], z["share"]))
    return rows, zones


def compare(old: tuple, new: tuple) -> dict:
    """Differences between two snapshots of the same patches (in the same order): the largest area and share
    differences and the number of patches whose codes, flags or set of zones differ."""
    (rows_a, zones_a), (rows_b, zones_b) = old, new
    cols = ("province_code", "district_code", "subdistrict_code", "reserve_code", "protected_area_codes", "in_aoi")
    d_area = d_share = 0.0
    differ = 0
    for ra, rb in zip(rows_a, rows_b, strict=True):
        d_area = max(d_area, abs(ra["area_m2"] - rb["area_m2"]))
        za, zb = zones_a.get(ra["id"], []), zones_b.get(rb["id"], [])
        same = [ra[c] for c in cols] == [rb[c] for c in cols] and [z[:2] for z in za] == [z[:2] for z in zb]
        differ += not same
        for x, y in zip(za, zb):
            d_area, d_share = max(d_area, abs(x[2] - y[2])), max(d_share, abs(x[3] - y[3]))
    return {"max_area_diff_m2": d_area, "max_share_diff": d_share, "patches_differing": differ}


def reattribution(sm, ids: list[int]) -> dict:
    """A boundary change's re-attribution of the stored patches ``ids``, each step with its commit, against the
    boundaries as the transaction sees them (as the listener runs): the former listener, which measured every
    patch again and rewrote every patch and zone row (``measure_and_attribute``, now tests/attribution_oracle.py:
    the stored rows read back and rewritten by ``store.update_patches``), against ``store.reattribute``
    (areas kept, the zones of the changed layer type only, only what differs written), after a load that changed
    nothing for any patch and after one that changed every patch (the attribution scrambled first, untimed)."""
    from sqlalchemy import text

    from geo_service.db.engine import transaction
    from geo_service.forest_loss import store
    from geo_service.forest_loss.ingest import ZONES_OF_LAYER
    from tests.attribution_oracle import measure_and_attribute

    def area_bits():
        with sm() as s:  # bench only: a fixed query, the ids bound
            return s.execute(
                text("SELECT md5(string_agg(float8send(area_m2)::text, ',' ORDER BY id)) FROM clearing_patches "
                     "WHERE id = ANY(:ids)"), {"ids": ids}
            ).scalar()  # fmt: skip

    def timed(fn) -> float:
        t = time.perf_counter()
        with transaction(sm) as session:
            fn(session)
        return time.perf_counter() - t

    out: dict = {}
    with transaction(sm) as session:
        before = _snapshot(session, ids)
    bits = area_bits()
    out["old_s"] = timed(lambda s: measure_and_attribute(s, ids))
    for name, kinds in [("all", store.ZONE_KINDS), *ZONES_OF_LAYER.items()]:
        written: list[int] = []
        out[f"same_{name}_s"] = timed(lambda s, k=kinds, w=written: w.append(store.reattribute(s, ids, k)))
        out[f"same_{name}_written"] = written[0]
    with transaction(sm) as session:  # every patch's attribution wrong, as if every boundary had moved
        session.execute(
            text("UPDATE clearing_patches SET province_code = 'XX', subdistrict_code = NULL, in_aoi = NOT in_aoi "
                 "WHERE id = ANY(:ids)"), {"ids": ids}
        )  # fmt: skip
        session.execute(
            text("DELETE FROM clearing_patch_zones WHERE patch_id = ANY(:ids) AND zone_type = 'subdistrict'"),
            {"ids": ids},
        )
    written = []
    out["changed_all_s"] = timed(lambda s: written.append(store.reattribute(s, ids)))
    out["changed_all_written"] = written[0]
    with transaction(sm) as session:
        out["compare"] = compare(before, _snapshot(session, ids))
    out["areas_same"] = area_bits() == bits
    return out


def phrae_squares(n: int, seed: int):
    """``n`` squares of 3 x 3 pixels of 10 m over Phrae's bounding box (UTM 47N, on the 10 m grid), one alert day
    each spread over 2024: (x, y of their north-west corners, polygons in EPSG:4326, days)."""
    import numpy as np
    import shapely
    from pyproj import Transformer

    rng = np.random.default_rng(seed)
    x = PHRAE_ORIGIN[0] + rng.integers(0, 8_000, n) * 10.0
    y = PHRAE_ORIGIN[1] - rng.integers(0, 15_000, n) * 10.0
    boxes = shapely.box(x, y - 30, x + 30, y)
    to_wgs = Transformer.from_crs(32647, 4326, always_xy=True)
    wgs = shapely.transform(boxes, lambda xy: np.column_stack(to_wgs.transform(xy[:, 0], xy[:, 1])))
    days = np.datetime64("2024-01-01") + rng.integers(0, 365, n).astype("timedelta64[D]")
    return x, y, wgs, days


def rows_of(ids, geoms, dates) -> list[dict]:
    """Rows of ``store.insert_patches`` for these ids, polygons (EPSG:4326) and alert days."""
    import shapely

    return [
        {
            "id": i,
            "wkb": shapely.to_wkb(g),
            "first_date": d.astype(object),
            "last_date": d.astype(object),
            "pixels": 9,
            "pixels_low": 3,
            "pixels_high": 3,
            "pixels_highest": 3,
            "confidence_max": 4,
            "sources": ["gfw_integrated"],
        }
        for i, g, d in zip(ids, geoms, dates, strict=True)
    ]


def batch_of(ids, geoms, dates):
    """A ``store.PatchBatch`` of these ids, polygons (EPSG:4326) and alert days, as the ingest builds it (columns,
    no row dicts): the rows of :func:`rows_of`."""
    import numpy as np

    from geo_service.forest_loss import store

    n = len(ids)
    return store.PatchBatch(
        ids=np.asarray(ids, dtype=np.int64), geoms=geoms, first=dates, last=dates,
        pixels=np.tile([9, 3, 3, 3], (n, 1)), confidence_max=np.full(n, 4), sources="gfw_integrated",
    )  # fmt: skip


def new_patches_of(geoms, dates):
    """The ingest's ``NewPatches`` of these polygons and alert days (3 pixels of each class): what
    ``forest_loss.ingest.insert_new_patches`` takes."""
    import numpy as np

    from geo_service.forest_loss.ingest import NewPatches

    return NewPatches(geoms, dates, dates, np.tile([3, 3, 3], (len(geoms), 1)), "gfw_integrated")


def phrae_patches(session, n: int, seed: int) -> tuple[list[int], list[dict]]:
    """Fresh ids and ``insert_patches`` rows of ``n`` squares over Phrae (:func:`phrae_squares`)."""
    from geo_service.forest_loss import store

    _, _, wgs, days = phrae_squares(n, seed)
    ids = store.new_patch_ids(session, n)
    return ids, rows_of(ids, wgs, days)


def bench_db(
    n: int,
    seed: int,
    n_old: int,
    firms_rows: int,
    n_fire: int,
    reattribution_only: bool = False,
    rounds: int = 2,
    with_reattribution: bool = True,
) -> dict:
    """Attribution and statistics of ``n`` patches on a throwaway PostGIS with the bundled layers: the in-memory
    path and (on the first ``n_old`` of the same patches, stored again) the SQL reference, compared column by
    column; then the hotspots' rates in the same database: the Gazetteer on the patches' centres and a FIRMS ingest
    end to end (``firms_rows`` rows generated as bench/firms_ingest.py does)."""
    import _harness  # type: ignore[import-not-found]
    import numpy as np
    from pyproj import Transformer

    from geo_service.db.engine import make_sessionmaker, transaction
    from geo_service.forest_loss import measure, store
    from geo_service.forest_loss.fire import mark_fire
    from geo_service.forest_loss.ingest import insert_new_patches
    from geo_service.hotspots.near import fire_near_areas
    from geo_service.places import gazetteer
    from geo_service.settings import ForestLossSettings
    from tests.attribution_oracle import measure_and_attribute_sql
    from tests.fire_oracle import fire_near_areas_sql

    x, y, wgs, days = phrae_squares(n, seed)
    to_wgs = Transformer.from_crs(32647, 4326, always_xy=True)
    out: dict = {"patches": n, "old_patches": n_old}
    with _harness.database() as (url, engine, _cluster):
        sm = make_sessionmaker(engine)

        with transaction(sm) as session:
            ingest_id = store.create_ingest(
                session, source="gfw_integrated", encoding="gfw_integrated", file_name="bench", file_sha256="0" * 64,
                params_key="bench", params={}, crs="EPSG:32647", window=None, created_by="bench",
            )  # fmt: skip
            ids, bare_ids = store.new_patch_ids(session, n), store.new_patch_ids(session, n)
            bare_rows = rows_of(bare_ids, wgs, days)  # the extension below takes rows as the ingest's _extend makes
        with transaction(sm) as session:
            t0 = time.perf_counter()
            gaz = gazetteer(session)  # the process-wide boundaries, loaded once (as the hotspots ingest does)
            zones = measure.zones_of(gaz)  # ... and their boundaries cut into chunks, once per Gazetteer
            out["gazetteer_load_s"] = time.perf_counter() - t0
        # the figures alone, in memory (no database): what the patches cost where the points cost the Gazetteer
        t0 = time.perf_counter()
        measure.attribute(
            measure.measure(wgs, days, zones), zones, {c: i for i, c in enumerate(sorted(set(zones.code)))}
        )
        out["compute_s"] = time.perf_counter() - t0
        # each step timed with its commit (the results written): the same patches stored bare (the SQL reference
        # measures them after), then measured as the ingest stores them
        t0 = time.perf_counter()
        with transaction(sm) as session:
            store.insert_patch_batch(session, batch_of(bare_ids, wgs, days), ingest_id, measured=False)
        out["insert_bare_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        with transaction(sm) as session:
            store.insert_patch_batch(session, batch_of(ids, wgs, days), ingest_id)
        out["insert_measured_s"] = time.perf_counter() - t0
        if with_reattribution:
            out["reattribution"] = reattribution(sm, ids)
        if reattribution_only:
            return out
        if n_old:
            t1 = time.perf_counter()
            with transaction(sm) as session:
                measure_and_attribute_sql(session, bare_ids[:n_old])
            out["attribute_sql_s"] = time.perf_counter() - t1
            with transaction(sm) as session:
                out["compare"] = compare(_snapshot(session, bare_ids[:n_old]), _snapshot(session, ids[:n_old]))
        # the bare patches extended (same outlines), as the ingest stores extensions: measured in memory, one UPDATE
        t1 = time.perf_counter()
        with transaction(sm) as session:
            store.update_patches(session, bare_rows, ingest_id)
        out["remeasure_s"] = time.perf_counter() - t1
        with transaction(sm) as session:
            out["compare_remeasured"] = compare(_snapshot(session, bare_ids), _snapshot(session, ids))
        with transaction(sm) as session:
            lo, hi = min(ids), max(ids)  # integers from the sequence: the measured set
            out["zones"] = int(
                session.execute(_harness_count(f"clearing_patch_zones WHERE patch_id BETWEEN {lo} AND {hi}")).scalar()
            )
            out["in_aoi"] = int(
                session.execute(_harness_count(f"clearing_patches WHERE in_aoi AND id BETWEEN {lo} AND {hi}")).scalar()
            )
        # the hotspots' rates, same run and database: the Gazetteer on n points (the patches' centres) ...
        from geo_service.places import Gazetteer

        with transaction(sm) as session:
            gaz = Gazetteer.load(session)
        cx, cy = to_wgs.transform(x + 15, y - 15)
        t3 = time.perf_counter()
        gaz.attribute(np.asarray(cx), np.asarray(cy), days)
        out["gazetteer_points_s"] = time.perf_counter() - t3
        # ... and a FIRMS ingest end to end (parse, validate, attribute, COPY, upsert, commit)
        if firms_rows:
            out["firms_rows"], out["firms_s"] = firms_ingest_rate(sm, gaz, firms_rows)
            from geo_service.hotspots.events import update_events

            t3 = time.perf_counter()
            with transaction(sm) as session:
                update_events(session)  # the fire events of the season, as after a FIRMS ingest
            out["events_s"] = time.perf_counter() - t3
        # the whole per-patch path the ingest runs (forest_loss/ingest.py insert_new_patches: ids, the "cleared by
        # fire" evidence against the season stored above, measured, attributed, written with it, committed) against
        # the FIRMS ingest's rows/s, alternating in rounds: a FIRMS ingest of another season (rolled back, so every
        # round reads the same detections), the whole path, the same without the fire mark, the rows bare
        settings = ForestLossSettings()
        out["rounds"] = []
        for k in range(rounds):
            r: dict = {"load": os.getloadavg()[0]}
            if firms_rows:
                r["firms_rows"], r["firms_s"] = firms_ingest_rate(sm, gaz, firms_rows, seed=3000 + k, commit=False)
                # untimed: the rolled-back rows' dead versions out of the detections' indexes, or the fire search
                # of the next steps reads through them (round 2 of the first run took 4x round 1's fire mark)
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.exec_driver_sql("VACUUM ANALYZE hotspots")
            t2 = time.perf_counter()
            with transaction(sm) as session:
                _, r["burned"] = insert_new_patches(session, new_patches_of(wgs, days), ingest_id, settings)
            r["whole_s"] = time.perf_counter() - t2
            t2 = time.perf_counter()
            with transaction(sm) as session:
                store.insert_patch_batch(session, batch_of(store.new_patch_ids(session, n), wgs, days), ingest_id)
            r["no_fire_s"] = time.perf_counter() - t2
            t2 = time.perf_counter()
            with transaction(sm) as session:
                store.insert_patch_batch(
                    session, batch_of(store.new_patch_ids(session, n), wgs, days), ingest_id, measured=False
                )
            r["bare_s"] = time.perf_counter() - t2
            out["rounds"].append(r)
        # ... and the listener's path: stored patches marked again (read, search, the marks that change written)
        with transaction(sm) as session:
            t2 = time.perf_counter()
            mark_fire(session, ids, ForestLossSettings())
            out["fire_s"] = time.perf_counter() - t2
            # the baseline, same run: the rule in plain PostGIS (tests/fire_oracle.py, one lateral subquery per
            # patch) on the first n_fire of the patches, answers compared
            fl = ForestLossSettings()
            kw = {
                "distance_m": fl.fire_distance_m,
                "days_before": fl.fire_days_before,
                "days_after": fl.fire_days_after,
            }
            inputs = [r[:4] for r in store.patch_fire_inputs(session, ids)]
            t2 = time.perf_counter()
            new = fire_near_areas(session, inputs, **kw)
            out["fire_query_s"] = time.perf_counter() - t2
            out["fire_burned"] = len(new)
            if n_fire:
                some = inputs[:n_fire]
                t2 = time.perf_counter()
                ref = fire_near_areas_sql(session, some, **kw)
                out["fire_reference_s"] = time.perf_counter() - t2
                out["fire_reference_n"] = len(some)
                out["fire_differing"] = _fire_differing(fire_near_areas(session, some, **kw), ref)
    _ = url
    return out


def _fire_differing(new: list[dict], ref: list[dict]) -> int:
    """Patches whose answers differ (counts, days, event ids; distances beyond 1 mm), or found by one side only."""
    a, b = {r["area_id"]: r for r in new}, {r["area_id"]: r for r in ref}
    exact = ("hotspots", "hotspot_first_day", "hotspot_last_day", "events")

    def same(x: dict, y: dict) -> bool:
        near = all(
            (x[k] is None) == (y[k] is None) and (x[k] is None or abs(x[k] - y[k]) < 1e-3)
            for k in ("hotspot_nearest_m", "event_nearest_m")
        )
        return near and all(x[k] == y[k] for k in exact)

    return len(set(a) ^ set(b)) + sum(not same(a[k], b[k]) for k in set(a) & set(b))


def firms_ingest_rate(sm, gaz, rows: int, seed: int = 2567, commit: bool = True) -> tuple[int, float]:
    """Rows and seconds of a FIRMS ingest of ``rows`` generated detections (bench/firms_ingest.py's data, its
    ``seed``), parse to commit; ``commit=False``: rolled back instead (timed to the end of the ingest)."""
    import firms_ingest  # type: ignore[import-not-found]

    from geo_service.hotspots.ingest import ingest_file
    from geo_service.settings import THAILAND_BBOX

    with tempfile.TemporaryDirectory(prefix="forest_loss_bench_firms_") as tmp:
        csv = Path(tmp) / "firms.csv"
        firms_ingest.generate(csv, rows, seed)
        session = sm()
        try:
            t = time.perf_counter()
            report = ingest_file(session, csv, gaz, country_bbox=THAILAND_BBOX, bulk_min_bytes=firms_ingest.ROW_PATH)
            if commit:
                session.commit()
            seconds = time.perf_counter() - t
        finally:
            session.rollback()
            session.close()
        return report.rows_total, seconds


def firms_rows_label(d: dict) -> str:
    """How the FIRMS rounds were timed, for the printed figures."""
    rows = d["rounds"][0].get("firms_rows") if d.get("rounds") else None
    return f"{rows:,} rows of another season each round, rolled back" if rows else "skipped"


def _harness_count(what: str):
    from sqlalchemy import text

    return text(f"SELECT count(*) FROM {what}")  # bench only: a fixed table name, no user input


def raster_part(a: argparse.Namespace) -> None:
    """Part 1: the alert raster written, patched, traced, against the rasterio.features.shapes baseline."""
    side = math.sqrt(a.pixels)
    height = round(side * 1.0125)
    width = round(a.pixels / height)
    with tempfile.TemporaryDirectory(prefix="forest_loss_bench_") as tmp:
        path = Path(tmp) / "phrae_10m_gfw_integrated.tif"
        wrote = write_raster(path, height, width, a.seed)
        print(
            f"alert raster {height:,} x {width:,} = {height * width / 1e6:.1f}M px of 10 m ({height * width / 100:,.0f} "
            f"ha), GeoTIFF {path.stat().st_size / 1e6:.1f} MB, written in {wrote:.1f} s"
        )
        k = _subprocess(["--_part", "kernel", "--_path", str(path), "--window", str(a.window)])
        v = _subprocess(["--_part", "vector", "--_path", str(path), "--window", str(a.window)])
        print(
            f"ingest path, windows of {a.window}: decode + window + patch {k['seconds']:.2f} s (CPU {k['cpu_s']:.2f} s) "
            f"({k['pixels'] / k['seconds'] / 1e6:.1f} Mpx/s), {k['patches']:,} patches, {k['alert_pixels']:,} alert px,"
            f" peak RSS {k['peak_rss_mb']:.0f} MB ({k['rss_before_mb']:.0f} MB before)"
        )
        print(
            f"  ... with polygons (what the ingest stores): {v['seconds']:.2f} s (CPU {v['cpu_s']:.2f} s), peak RSS {v['peak_rss_mb']:.0f} MB"
        )
        if not a.no_baseline:
            b = _subprocess(["--_part", "baseline", "--_path", str(path)])
            print(
                f"baseline, whole window read + rasterio.features.shapes: {b['seconds']:.2f} s (CPU {b['cpu_s']:.2f} s), "
                f"{b['shapes']:,} shapes,"
                f" peak RSS {b['peak_rss_mb']:.0f} MB ({b['rss_before_mb']:.0f} MB before)"
            )
            print(
                f"  ratio: patches {b['seconds'] / k['seconds']:.1f}x faster, polygons "
                f"{b['seconds'] / v['seconds']:.1f}x; peak RSS {k['peak_rss_mb'] / b['peak_rss_mb']:.2f} of the baseline"
            )


def main() -> None:
    """Run the measures and print the figures with their baselines."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--pixels", type=float, default=6.48e7, help="pixels of the alert raster (default 64.8M: Phrae)")
    ap.add_argument("--window", type=int, default=2048, help="window size of the ingest (pixels)")
    ap.add_argument("--patches", type=int, default=100_000, help="patches to attribute in the database part")
    ap.add_argument(
        "--old-patches", type=int, default=20_000, help="patches measured by the SQL reference too (0: skip it)"
    )
    ap.add_argument(
        "--fire-reference", type=int, default=20_000, help="patches the cleared-by-fire SQL reference runs on (0: skip)"
    )
    ap.add_argument("--firms-rows", type=int, default=300_000, help="rows of the FIRMS ingest timed (0: skip)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--rounds", type=int, default=2, help="alternating rounds of the whole per-patch path against FIRMS (default 2)"
    )
    ap.add_argument("--no-db", action="store_true", help="skip the database part")
    ap.add_argument("--no-raster", action="store_true", help="skip the raster part")
    ap.add_argument("--no-baseline", action="store_true", help="skip the rasterio.features.shapes baseline")
    ap.add_argument("--no-reattribution", action="store_true", help="skip the re-attribution of a boundary change")
    ap.add_argument(
        "--reattribution-only",
        action="store_true",
        help="the database part up to the re-attribution of a boundary change only (implies --no-raster)",
    )
    ap.add_argument("--_part", choices=["kernel", "vector", "baseline"], help=argparse.SUPPRESS)
    ap.add_argument("--_path", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a._part:
        out = (
            part_baseline(a._path)
            if a._part == "baseline"
            else part_kernel(a._path, a.window, vectorise=a._part == "vector")
        )
        print(json.dumps(out))
        return
    if not a.no_raster and not a.reattribution_only:
        raster_part(a)
    if not a.no_db:
        sys.path.insert(0, str(HERE))
        n_old = min(a.old_patches, a.patches)
        d = bench_db(
            a.patches,
            a.seed,
            0 if a.reattribution_only else n_old,
            a.firms_rows,
            min(a.fire_reference, a.patches),
            a.reattribution_only,
            a.rounds,
            not a.no_reattribution,
        )
        n = d["patches"]
        r = d.get("reattribution")
        if r:
            print(
                f"re-attribution of {n:,} stored patches after a boundary change, each step with its commit; machine "
                f"load average {os.getloadavg()[0]:.2f}:"
            )
            print(
                f"  baseline, the former listener (measure_and_attribute: areas measured again, every zone, every patch "
                f"and zone row rewritten): {r['old_s']:.2f} s = {n / r['old_s']:,.0f} patches/s"
            )
            for name in ("all", "province", "district", "subdistrict", "protected_area"):
                t = r[f"same_{name}_s"]
                print(
                    f"  store.reattribute, zones of {name if name != 'all' else 'every type'}, nothing changed: {t:.2f} s "
                    f"({r['old_s'] / t:.1f}x faster), {r[f'same_{name}_written']:,} patches written"
                )
            print(
                f"  store.reattribute, every zone, every patch changed: {r['changed_all_s']:.2f} s "
                f"({r['old_s'] / r['changed_all_s']:.1f}x faster), {r['changed_all_written']:,} patches written; "
                f"answers as inserted: {r['compare']['patches_differing']} patches differ (largest share difference "
                f"{r['compare']['max_share_diff']:.1e}); areas bit-identical: {r['areas_same']}"
            )
        if a.reattribution_only:
            return
        rate = n / d["insert_measured_s"]
        own = d["insert_measured_s"] - d["insert_bare_s"]
        print(
            f"attribution of {n:,} patches (area in UTM, zone shares, codes, in_aoi), each step with its commit; "
            f"machine load average {os.getloadavg()[0]:.2f}:"
        )
        print(
            f"  new patches as the ingest stores them (insert_patch_batch: measured in memory, COPYed with their zone "
            f"rows): {d['insert_measured_s']:.2f} s = {rate:,.0f} patches/s; the same insert bare (no figures) "
            f"{d['insert_bare_s']:.2f} s, so the attribution itself costs {own:.2f} s = {n / max(own, 1e-9):,.0f} "
            f"patches/s ({d['zones']:,} zone rows, {d['in_aoi']:,} in the AOI; boundaries loaded once before: "
            f"{d['gazetteer_load_s']:.2f} s)"
        )
        print(
            f"  the figures alone, in memory (forest_loss/measure.py, no database): {d['compute_s']:.2f} s = "
            f"{n / d['compute_s']:,.0f} patches/s"
        )
        print(
            f"  stored patches extended (update_patches: measured in memory, COPYed, one UPDATE, zone rows replaced): "
            f"{d['remeasure_s']:.2f} s = {n / d['remeasure_s']:,.0f} patches/s"
        )
        if d["old_patches"]:
            old_rate = d["old_patches"] / d["attribute_sql_s"]
            old_total = 1 / (d["insert_bare_s"] / n + 1 / old_rate)  # the bare insert, then the SQL
            c = d["compare"]
            print(
                f"  baseline, the SQL reference (measure_and_attribute_sql) on {d['old_patches']:,} bare ones: "
                f"{d['attribute_sql_s']:.2f} s = {old_rate:,.0f} patches/s: the attribution's own cost "
                f"{n / max(own, 1e-9) / old_rate:.1f}x faster in memory; insert + attribution {old_total:,.0f} "
                f"patches/s, {rate / old_total:.1f}x faster in memory"
            )
            print(
                f"  same answers as the SQL: {c['patches_differing']} of {d['old_patches']:,} patches differ in codes, "
                f"flags or zones; largest area difference {c['max_area_diff_m2']:.2e} m2, largest share difference "
                f"{c['max_share_diff']:.2e} (extended: {d['compare_remeasured']['patches_differing']} of {n:,} differ from the inserted)"
            )
        gaz_rate = n / d["gazetteer_points_s"]
        print(
            f"  hotspots, same run: the Gazetteer on the {n:,} centres {d['gazetteer_points_s']:.3f} s = "
            f"{gaz_rate:,.0f} points/s (patches in memory / points = {n / d['compute_s'] / gaz_rate:.2f})"
            + (
                f"; FIRMS ingest end to end {d['firms_rows']:,} rows in {d['firms_s']:.2f} s = "
                f"{d['firms_rows'] / d['firms_s']:,.0f} rows/s (per second, patches inserted with their figures / "
                f"FIRMS rows = {rate / (d['firms_rows'] / d['firms_s']):.2f}; the attribution's own cost / FIRMS rows"
                f" = {n / max(own, 1e-9) / (d['firms_rows'] / d['firms_s']):.2f})"
                if "firms_s" in d
                else ""
            )
        )
        fire_rate = n / d["fire_query_s"]
        if "events_s" in d:
            print(
                f"  the hotspots' own space-time step, the season's fire events (update_events): {d['events_s']:.2f} s "
                f"= {d['firms_rows'] / d['events_s']:,.0f} detections/s"
            )
        print(
            f"the whole per-patch path the ingest runs (forest_loss/ingest.py insert_new_patches: ids, cleared-by-fire "
            f"evidence against the season above, measured, attributed, written with its zone rows, committed) against "
            f"the FIRMS ingest end to end ({firms_rows_label(d)}), alternating, each round at its load average:"
        )
        for k, r in enumerate(d["rounds"]):
            whole, no_fire, bare = r["whole_s"], r["no_fire_s"], r["bare_s"]
            firms = r["firms_rows"] / r["firms_s"] if "firms_s" in r else float("nan")
            own = max(whole - bare, 1e-9)
            print(
                f"  round {k + 1} (load {r['load']:.1f}): FIRMS {firms:,.0f} rows/s; whole path {whole:.2f} s = "
                f"{n / whole:,.0f} patches/s ({n / whole / firms:.2f}x FIRMS; {r['burned']:,} burned); the same "
                f"without the fire mark {no_fire:.2f} s, the rows bare {bare:.2f} s: what the path adds to the bare "
                f"rows (measure, attribute, stats, fire mark, their columns and zone rows) {own:.2f} s = "
                f"{n / own:,.0f} patches/s ({n / own / firms:.2f}x FIRMS), of it the attribution "
                f"{n / max(no_fire - bare, 1e-9):,.0f} patches/s ({n / max(no_fire - bare, 1e-9) / firms:.2f}x) "
                f"and the fire mark {n / max(whole - no_fire, 1e-9):,.0f} patches/s "
                f"({n / max(whole - no_fire, 1e-9) / firms:.2f}x); the rows bare {n / bare:,.0f} patches/s "
                f"({n / bare / firms:.2f}x)"
            )
        print(
            f"  the listener's path (stored patches marked again: read, search, the changed marks written): "
            f"{d['fire_s']:.2f} s = {n / d['fire_s']:,.0f} patches/s; the search alone (hotspots/near.py) "
            f"{d['fire_query_s']:.2f} s = {fire_rate:,.0f} patches/s ({d['fire_burned']:,} burned)"
        )
        if "fire_reference_s" in d:
            ref_rate = d["fire_reference_n"] / d["fire_reference_s"]
            print(
                f"  baseline, the same rule in plain PostGIS (tests/fire_oracle.py) on {d['fire_reference_n']:,} of "
                f"them: {d['fire_reference_s']:.2f} s = {ref_rate:,.0f} patches/s: the search {fire_rate / ref_rate:.1f}x "
                f"faster; patches whose answers differ: {d['fire_differing']}"
            )


if __name__ == "__main__":
    main()
