"""Forest-loss alert ingest (issue 14): an alert raster in a published encoding -> clearing patches, stored.

One call, in the caller's transaction (the edge opens and commits it; an error leaves nothing):

1. refuse before reading a pixel: an unknown encoding or parameters, files over the size cap (checked on the
   file sizes before opening), a file without CRS or georeferencing, layers that are not on one grid;
2. the same file with the same parameters again is a no-op (``params_key``), answered with the first ingest;
3. read only the area of interest (its bounds, in the raster's CRS) window by window (forest_loss/windows.py),
   decode (forest_loss/decode.py), make patches with the exact cross-window merge, trace them as polygons;
4. a new patch near a stored one (``link_distance_m``) whose dates meet it within the date window extends it:
   the stored patch keeps its id; two stored patches joined by a new one are merged into the older (lower id),
   the other gets ``merged_into``;
5. the store measures each patch in UTM, zone by zone, and shares it among the provinces, districts,
   subdistricts and protected areas in force on its first alert date (forest_loss/store.py);
6. "cleared by fire": the hotspots domain is asked for detections and fire events near each patch in the days
   around it (forest_loss/fire.py, asking hotspots/near.py: a detection's pixel within the distance, in UTM).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Transformer
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sqlalchemy.orm import Session

from geo_service.errors import InvalidInput, PayloadTooLarge
from geo_service.forest_loss import store
from geo_service.forest_loss.decode import EPOCH, day_to_date
from geo_service.forest_loss.fire import fire_evidence_texts
from geo_service.forest_loss.sources import CONFIDENCE_NAMES, Encoding, get_encoding, open_layers
from geo_service.forest_loss.windows import TileRejected, run
from geo_service.gc_pause import no_cyclic_gc
from geo_service.hashing import sha256_file
from geo_service.layers import aoi
from geo_service.settings import ForestLossSettings
from geo_service.thai import M2_PER_HECTARE, M2_PER_RAI

M_PER_DEGREE = 111_320.0  # metres per degree of latitude (and of longitude at the equator): link distance in degrees


PatchListener = Callable[[Session, list[int]], object]
_PATCH_LISTENERS: list[PatchListener] = []


def on_patches_found(listener: PatchListener) -> PatchListener:
    """Register a listener called in the ingest's transaction with the ids of the patches it created or extended
    (alerts, red flags: registered by wiring.py; idempotent)."""
    if listener not in _PATCH_LISTENERS:
        _PATCH_LISTENERS.append(listener)
    return listener


class FileTooLarge(PayloadTooLarge):
    """An alert file over the size cap (413), refused before it is opened."""

    code = "file_too_large"
    message = "The alert file is larger than the accepted size."


class BadParameters(InvalidInput):
    """Parameters that do not fit the encoding (422)."""

    code = "invalid_alert_parameters"
    message = "The alert parameters are not valid for this encoding."


@dataclass
class IngestReport:
    """What an ingest did (or, replayed, what the first ingest of the same file and parameters did)."""

    ingest_id: int
    replayed: bool
    source: str
    encoding: str
    file_name: str
    file_sha256: str
    params: dict[str, Any]
    crs: str
    window: dict[str, Any] | None
    alert_pixels: int
    patches: int = 0
    patches_new: int = 0
    patches_extended: int = 0
    patches_unchanged: int = 0
    patches_merged: int = 0
    alert_from: date | None = None
    alert_to: date | None = None
    area_ha: float = 0.0
    area_rai: float = 0.0
    cleared_by_fire: int = 0
    patch_ids: list[int] = field(default_factory=list)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain values (JSON-able dates as ISO text)."""
        d = asdict(self)
        for k in ("alert_from", "alert_to"):
            d[k] = d[k].isoformat() if d[k] else None
        return d


def check_params(encoding: Encoding, params: dict[str, Any] | None) -> dict[str, Any]:
    """The encoding's parameters, checked and completed with their defaults; BadParameters otherwise."""
    given = {k: v for k, v in (params or {}).items() if v is not None}
    unknown = sorted(set(given) - set(encoding.params))
    if unknown:
        allowed = ", ".join(encoding.params) or "none"
        raise BadParameters(
            f"{', '.join(unknown)} do(es) not apply to {encoding.name} (its parameters: {allowed}).",
            details=[{"problem": "unknown_parameter", "names": unknown}],
        )
    out: dict[str, Any] = {}
    try:
        if encoding.name == "glad_l_umd":
            if "year" not in given:
                raise BadParameters("GLAD-L (UMD) rasters are per year: give --year (e.g. 2024).")
            out["year"] = int(given["year"])
            if not 2015 <= out["year"] <= 2100:
                raise BadParameters("The GLAD-L year must be between 2015 and 2100.")
        elif encoding.name == "dist_alert":
            out["min_loss_50"] = bool(given.get("min_loss_50", False))
        elif encoding.name == "hansen_gfc":
            out["forest_threshold"] = int(given.get("forest_threshold", 30))
            if not 0 <= out["forest_threshold"] <= 100:
                raise BadParameters("The forest threshold is a tree cover in 2000 between 0 and 100 %.")
        elif encoding.name == "change_pair":
            index = str(given.get("index", "")).lower()
            if index not in ("ndvi", "nbr"):
                raise BadParameters("A change pair's index is ndvi or nbr.")
            threshold = float(given.get("threshold", "nan"))
            if not 0 < threshold <= 2:
                raise BadParameters("A change pair's threshold is a drop of the index above 0 and at most 2.")
            if "after_date" not in given:
                raise BadParameters("A change pair needs the date of the after scene (--after-date).")
            after = _as_date(given["after_date"])
            out.update(index=index, threshold=threshold, after_date=after.isoformat())
            if "before_date" in given:
                before = _as_date(given["before_date"])
                if before >= after:
                    raise BadParameters("The before scene must be older than the after scene.")
                out["before_date"] = before.isoformat()
            out["after_day"] = (after - EPOCH).days
    except (TypeError, ValueError):
        raise BadParameters("A parameter has the wrong type (year: a number, threshold: a decimal).") from None
    return out


def _as_date(v: Any) -> date:
    return v if isinstance(v, date) else date.fromisoformat(str(v))


def _decoder_params(encoding: Encoding, params: dict[str, Any]) -> dict[str, Any]:
    if encoding.name == "change_pair":
        return {"threshold": params["threshold"], "after_day": params["after_day"]}
    return dict(params)


def _window_bounds(session: Session, crs: str, bounds: tuple[float, float, float, float] | None, margin_m: float):
    """The area to read in the raster's CRS: the given WGS 84 bounds, or the area of interest's, widened by
    ``margin_m``; None (the whole raster, within the pixel cap) when neither exists."""
    if bounds is None:
        wkb = aoi.geometry_wkb(session)
        if wkb is None:
            return None, None
        bounds = tuple(float(v) for v in shapely.from_wkb(wkb).bounds)  # type: ignore[assignment]
    assert bounds is not None
    w, s, e, n = bounds
    if margin_m:
        dy = margin_m / M_PER_DEGREE
        dx = dy / max(0.1, float(np.cos(np.radians(max(abs(s), abs(n))))))
        w, s, e, n = w - dx, s - dy, e + dx, n + dy
    target = CRS.from_user_input(crs)
    if target.is_geographic and target.to_epsg() == 4326:
        return (w, s, e, n), (w, s, e, n)
    t = Transformer.from_crs("EPSG:4326", target, always_xy=True)
    return t.transform_bounds(w, s, e, n, densify_pts=21), (w, s, e, n)


def _params_key(source: str, encoding: str, sha: str, params: dict[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps({"source": source, "encoding": encoding, "sha256": sha, "params": params}, sort_keys=True).encode()
    ).hexdigest()


def ingest_files(
    session: Session,
    paths: Sequence[str | os.PathLike],
    *,
    encoding: str,
    settings: ForestLossSettings,
    params: dict[str, Any] | None = None,
    min_confidence: str | int | None = None,
    bounds: tuple[float, float, float, float] | None = None,
    file_name: str | None = None,
    created_by: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> IngestReport:
    """Ingest one alert raster (its layers as one multi-band file or one file each) into clearing patches.

    ``bounds`` (west, south, east, north in WGS 84) replaces the area of interest as the area read.
    ``min_confidence``: low / high / highest (or 2 / 3 / 4): alerts below it are dropped before patching.
    """
    started = time.perf_counter()
    enc = get_encoding(encoding)  # unknown encoding: refused before anything is opened
    checked = check_params(enc, params)
    conf_min = _confidence(min_confidence)
    files = [Path(p) for p in paths]
    if not files:
        raise TileRejected("No alert file was given.", details=[{"problem": "no_files"}])
    size = sum(f.stat().st_size for f in files)
    if size > settings.max_file_mb << 20:
        raise FileTooLarge(
            f"The alert file(s) hold {size / (1 << 20):,.0f} MB, more than the {settings.max_file_mb:,} MB accepted "
            "(GEO_SERVICE_FOREST_LOSS_MAX_FILE_MB). Cut the tile to the area of interest first.",
            details=[{"problem": "too_large", "bytes": size}],
        )
    source = open_layers(enc, files)  # headers only: no CRS, wrong layers, misaligned -> refused
    shas = [sha256_file(f) for f in files]
    sha = shas[0] if len(shas) == 1 else hashlib.sha256(",".join(shas).encode()).hexdigest()
    recorded = {**checked, "window_days": settings.window_days, "min_confidence": conf_min}
    if bounds is not None:
        recorded["bounds"] = [round(float(v), 7) for v in bounds]
    key = _params_key(enc.source, enc.name, sha, recorded)
    name = file_name or ", ".join(f.name for f in files)
    existing = store.find_ingest(session, key)
    if existing is not None:
        return _replayed(session, existing)
    read_bounds, wgs_bounds = _window_bounds(session, source.crs, bounds, settings.read_margin_m)
    t0 = time.perf_counter()
    result = run(
        [source],
        encoding=enc.name,
        window_days=settings.window_days,
        bounds=read_bounds,
        window=settings.window,
        vectorise=True,
        max_pixels=settings.max_pixels,
        params=_decoder_params(enc, checked),
        min_confidence=conf_min,
        progress=progress,
    )
    timings = {"read_decode_patch_s": time.perf_counter() - t0}
    g = result.grid
    window = {
        "row_off": round((g.transform.f - source.transform.f) / source.transform.e),
        "col_off": round((g.transform.c - source.transform.c) / source.transform.a),
        "height": g.height,
        "width": g.width,
        "pixels": g.height * g.width,
        "raster_pixels": source.height * source.width,
        "bounds_wgs84": list(wgs_bounds) if wgs_bounds else None,
    }
    ingest_id = store.create_ingest(
        session,
        source=enc.source,
        encoding=enc.name,
        file_name=name,
        file_sha256=sha,
        params_key=key,
        params=recorded,
        crs=CRS.from_user_input(source.crs).to_string(),
        window=window,
        created_by=created_by,
    )
    report = IngestReport(
        ingest_id=ingest_id,
        replayed=False,
        source=enc.source,
        encoding=enc.name,
        file_name=name,
        file_sha256=sha,
        params=recorded,
        crs=CRS.from_user_input(source.crs).to_string(),
        window=window,
        alert_pixels=int(result.patches.pixels.sum()),
    )
    if result.patches.n:
        t1 = time.perf_counter()
        new = _new_patches(result, enc.source)
        ids = _merge_and_write(session, new, ingest_id, settings, report)
        timings["merge_measure_write_s"] = time.perf_counter() - t1
        rows = store.patches_of(session, ids)
        report.patch_ids = [int(r["id"]) for r in rows]
        report.patches = len(rows)
        area = sum(float(r["area_m2"]) for r in rows)
        report.area_ha, report.area_rai = area / M2_PER_HECTARE, area / M2_PER_RAI
        report.alert_from = day_to_date(int(result.patches.first_day.min()))
        report.alert_to = day_to_date(int(result.patches.last_day.max()))
    store.finish_ingest(
        session,
        ingest_id,
        alert_pixels=report.alert_pixels,
        patches_new=report.patches_new,
        patches_extended=report.patches_extended,
        alert_from=report.alert_from,
        alert_to=report.alert_to,
    )
    if report.patch_ids:
        for listener in _PATCH_LISTENERS:
            listener(session, report.patch_ids)
    report.timings = {k: round(v, 3) for k, v in timings.items()}
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _confidence(value: str | int | None) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, str) and value.lower() in CONFIDENCE_NAMES:
        return CONFIDENCE_NAMES[value.lower()]
    try:
        v = int(value)
    except (TypeError, ValueError):
        v = -1
    if v not in (2, 3, 4):
        raise BadParameters("The minimum confidence is low, high or highest.")
    return v


def _replayed(session: Session, ingest_id: int) -> IngestReport:
    row = store.get_ingest(session, ingest_id)
    assert row is not None
    ids = store.ingest_patch_ids(session, ingest_id)
    area = float(row["area_m2"])
    return IngestReport(
        ingest_id=ingest_id,
        replayed=True,
        source=row["source"],
        encoding=row["encoding"],
        file_name=row["file_name"],
        file_sha256=row["file_sha256"],
        params=row["params"],
        crs=row["crs"],
        window=row["window"],
        alert_pixels=int(row["alert_pixels"]),
        patches=int(row["patches"]),
        patches_new=int(row["patches_new"]),
        patches_extended=int(row["patches_extended"]),
        alert_from=row["alert_from"],
        alert_to=row["alert_to"],
        area_ha=area / M2_PER_HECTARE,
        area_rai=area / M2_PER_RAI,
        patch_ids=ids,
    )


@dataclass
class NewPatches:
    """The ingest's patches in EPSG:4326: geometries, dates, pixel counts by class, highest class, source."""

    geoms: np.ndarray
    first: np.ndarray  # datetime64[D]
    last: np.ndarray
    counts: np.ndarray  # (n, 3) low, high, highest
    source: str

    def take(self, k: np.ndarray) -> NewPatches:
        """The patches at the positions ``k``."""
        return NewPatches(self.geoms[k], self.first[k], self.last[k], self.counts[k], self.source)


def _new_patches(result, source: str) -> NewPatches:
    polys = result.polygons
    crs = CRS.from_user_input(result.grid.crs)
    geoms = polys.geometry.values
    if not crs.is_geographic:
        # straight edges in the raster's CRS are curves in WGS 84 (sinusoidal): a vertex every pixel keeps them
        geoms = shapely.segmentize(np.asarray(geoms), abs(result.grid.transform.a))
        polys = polys.set_geometry(list(geoms), crs=polys.crs)
    wgs = polys.to_crs(4326).geometry.values
    wgs = shapely.make_valid(np.asarray(wgs))
    epoch = np.datetime64(EPOCH, "D")
    p = result.patches
    return NewPatches(
        geoms=np.asarray(wgs, dtype=object),
        first=epoch + p.first_day.astype("timedelta64[D]"),
        last=epoch + p.last_day.astype("timedelta64[D]"),
        counts=p.by_confidence.astype(np.int64),
        source=source,
    )


def _top(counts: np.ndarray) -> np.ndarray:
    return np.where(counts[:, 2] > 0, 4, np.where(counts[:, 1] > 0, 3, 2))


def _merge_and_write(
    session: Session, new: NewPatches, ingest_id: int, settings: ForestLossSettings, report: IngestReport
) -> list[int]:
    """Join the new patches to the stored ones they extend (same id), write both, return the ids touched."""
    n = len(new.geoms)
    w = int(settings.window_days)
    lo = (new.first.min() - np.timedelta64(w, "D")).astype(object)
    hi = (new.last.max() + np.timedelta64(w, "D")).astype(object)
    deg = settings.link_distance_m / M_PER_DEGREE
    bounds = tuple(float(v) for v in shapely.total_bounds(new.geoms))
    old = store.candidate_patches(session, bounds, lo, hi, deg)  # type: ignore[arg-type]
    m = len(old)
    ni = nj = np.empty(0, dtype=np.int64)
    if m:
        old_geoms = shapely.from_wkb(np.array([bytes(r["wkb"]) for r in old], dtype=object))
        tree = shapely.STRtree(old_geoms)
        ni, nj = tree.query(new.geoms, predicate="dwithin", distance=deg)
        o_first = np.array([r["first_date"] for r in old], dtype="datetime64[D]")
        o_last = np.array([r["last_date"] for r in old], dtype="datetime64[D]")
        win = np.timedelta64(w, "D")
        ok = (new.first[ni] <= o_last[nj] + win) & (new.last[ni] >= o_first[nj] - win)
        ni, nj = ni[ok], nj[ok]
    linked_new = np.zeros(n, dtype=bool)
    linked_new[ni] = True
    # patches touching nothing stored: new rows
    fresh = np.flatnonzero(~linked_new)
    ids, burned = insert_new_patches(session, new.take(fresh), ingest_id, settings)
    report.patches_new = len(ids)
    touched = list(ids)
    if ni.size:
        updates, absorbed, survivors = _extend(new, old, ni, nj, report)
        extended = store.batch_of_rows(updates)
        burned += _with_fire(session, extended, settings)
        store.update_patch_batch(session, extended, ingest_id)
        store.mark_merged(session, absorbed, survivors, ingest_id)
        touched += [u["id"] for u in updates]
        report.patches_merged = len(absorbed)
    report.cleared_by_fire = burned
    return sorted(touched)


def insert_new_patches(
    session: Session, new: NewPatches, ingest_id: int, settings: ForestLossSettings
) -> tuple[list[int], int]:
    """The ingest's per-patch path for patches that extend no stored one: ids from the sequence, the "cleared by
    fire" evidence, then measured, attributed and written with it (``store.insert_patch_batch``), as columns (no
    Python object per patch). Returns the ids and how many burned (bench/forest_loss_ingest.py times this)."""
    ids = store.new_patch_ids(session, len(new.geoms))
    counts = new.counts
    batch = store.PatchBatch(
        ids=np.asarray(ids, dtype=np.int64),
        geoms=new.geoms,
        first=new.first,
        last=new.last,
        pixels=np.column_stack([counts.sum(axis=1), counts]).reshape(-1, 4),
        confidence_max=_top(counts),
        sources=new.source,
    )
    with no_cyclic_gc():  # hundreds of thousands of geometries and arrays, no reference cycle (gc_pause.py)
        burned = _with_fire(session, batch, settings)
        store.insert_patch_batch(session, batch, ingest_id)
    return ids, burned


def _with_fire(session: Session, batch: store.PatchBatch, settings: ForestLossSettings) -> int:
    """Give a batch of patches their "cleared by fire" evidence (``fire_evidence_texts``: None when not burned), to
    be written with them; returns how many burned."""
    batch.fire_evidence = fire_evidence_texts(session, batch, settings)
    return sum(e is not None for e in batch.fire_evidence)


def _extend(new: NewPatches, old: list, ni: np.ndarray, nj: np.ndarray, report: IngestReport):
    """Components of new and stored patches linked by the rule; each keeps its oldest stored id.

    Pixel counts of the extended patch: the new patches' counts plus each stored patch's counts times the share
    of its area the new patches do not cover (a re-download of a cumulative alert layer covers the stored patch:
    its pixels are counted once; an extension beside it adds its own)."""
    n, m = len(new.geoms), len(old)
    graph = coo_matrix((np.ones(ni.size, dtype=np.int8), (ni, n + nj)), shape=(n + m, n + m)).tocsr()
    _, cc = connected_components(graph, directed=False)
    involved = np.unique(np.concatenate([ni, n + nj]))
    groups: dict[int, list[int]] = {}
    for node in involved:  # one step per linked patch (typically few), not per pixel
        groups.setdefault(int(cc[node]), []).append(int(node))
    old_geoms = shapely.from_wkb(np.array([bytes(r["wkb"]) for r in old], dtype=object))
    updates, absorbed, survivors = [], [], []
    for nodes in groups.values():
        news = [k for k in nodes if k < n]
        olds = sorted((k - n for k in nodes if k >= n), key=lambda j: int(old[j]["id"]))
        keep = int(old[olds[0]]["id"])
        new_union = shapely.union_all(new.geoms[news])
        counts = new.counts[news].sum(axis=0).astype(np.float64)
        first = min([new.first[k].astype(object) for k in news] + [old[j]["first_date"] for j in olds])
        last = max([new.last[k].astype(object) for k in news] + [old[j]["last_date"] for j in olds])
        sources = {new.source}
        grown = False
        for j in olds:
            r = old[j]
            g = old_geoms[j]
            area = shapely.area(g)
            uncovered = shapely.area(shapely.difference(g, new_union)) / area if area > 0 else 0.0
            counts += np.array([r["pixels_low"], r["pixels_high"], r["pixels_highest"]], dtype=np.float64) * uncovered
            sources.update(r["sources"])
        geom = shapely.union_all(np.concatenate([old_geoms[olds], [new_union]]))
        first_old = old[olds[0]]
        grown = (
            len(olds) > 1
            or shapely.area(geom) > shapely.area(old_geoms[olds[0]]) * (1 + 1e-9)
            or first < first_old["first_date"]
            or last > first_old["last_date"]
        )
        c = np.round(counts).astype(np.int64)
        updates.append(
            {
                "id": keep,
                "wkb": shapely.to_wkb(geom),
                "first_date": first,
                "last_date": last,
                "pixels": int(c.sum()),
                "pixels_low": int(c[0]),
                "pixels_high": int(c[1]),
                "pixels_highest": int(c[2]),
                "confidence_max": int(
                    max([int(_top(new.counts[news]).max())] + [old[j]["confidence_max"] for j in olds])
                ),
                "sources": sorted(sources),
            }
        )
        if grown:
            report.patches_extended += 1
        else:
            report.patches_unchanged += 1
        for j in olds[1:]:
            absorbed.append(int(old[j]["id"]))
            survivors.append(keep)
    return updates, absorbed, survivors


# The zones a boundary layer of each type changes: its own kind, and the area of interest for the layers it is
# built from (``layers.store`` rebuilds it after a province or district load). A layer type not listed feeds no
# attribution of a patch: its load leaves the patches alone.
ZONES_OF_LAYER: dict[str, frozenset[str]] = {
    "province": frozenset({"province", "aoi"}),
    "district": frozenset({"district", "aoi"}),
    "subdistrict": frozenset({"subdistrict"}),
    "protected_area": frozenset({"protected_area"}),
}


def reattribute_patches(session: Session, layer_type: str | None = None, *, chunk: int = 50_000) -> int:
    """Listener of a boundary change (registered in ``wiring``): attribute every live patch again against the
    boundaries as the load's transaction sees them, for the zones a layer of ``layer_type`` decides
    (:data:`ZONES_OF_LAYER`; None: every zone): zone shares, codes, ``in_aoi``. The areas are kept as stored (a
    boundary cannot change them) and only what changed is written (``store.reattribute``); a layer type that no
    attribution reads changes nothing. In chunks of ``chunk`` patches; returns how many patches were updated."""
    kinds = store.ZONE_KINDS if layer_type is None else ZONES_OF_LAYER.get(layer_type)
    if not kinds:
        return 0
    ids = store.live_patch_ids(session)
    return sum(store.reattribute(session, ids[k : k + chunk], kinds) for k in range(0, len(ids), chunk))


def list_ingests(session: Session, limit: int = 100) -> list[dict[str, Any]]:
    """The latest ingests as plain dicts."""
    return [dict(r) for r in store.list_ingests(session, limit)]


def get_ingest(session: Session, ingest_id: int) -> dict[str, Any] | None:
    """One ingest with its live patches' count and area, or None."""
    row = store.get_ingest(session, ingest_id)
    if row is None:
        return None
    d = dict(row)
    area = float(d.pop("area_m2"))
    d["area_ha"], d["area_rai"] = area / M2_PER_HECTARE, area / M2_PER_RAI
    return d
