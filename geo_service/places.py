"""Where is a point? Province, district, subdistrict and the protected areas in force, for one point or millions.

The Gazetteer holds the current boundaries in memory as prepared Shapely 2 geometries and attributes
coordinate arrays without a Python loop over points: a bounding-box mask in numpy, then
``shapely.intersects_xy`` on the candidates, polygon by polygon (about 0.2 s per million points for
Phrae's 8 districts). Subdistricts are only tested against the points of their own district.

A point on a shared boundary belongs to one area only: the one with the lowest code, so counts by
district always add up. Protected areas are matched by the version in force on each point's date.
It is rebuilt when the layers change (``layers_version``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date

import numpy as np
import shapely
from sqlalchemy.orm import Session

from geo_service.layers import aoi as aoi_store
from geo_service.layers import queries

LEVELS = ("province", "district", "subdistrict")
NONE = np.array([None], dtype=object)  # appended to a lookup of codes: "in no area"
NO_DATE_FROM = np.datetime64("0001-01-01", "D")
NO_DATE_TO = np.datetime64("9999-12-31", "D")


@dataclass
class Areas:
    """Areas of one level in memory: codes, prepared geometries, bounds and parent codes."""

    codes: np.ndarray  # object array of codes
    geoms: np.ndarray  # prepared shapely geometries
    bounds: np.ndarray  # (n, 4)
    parents: np.ndarray  # object array (parent codes) or empty


@dataclass
class ProtectedAreas:
    """Protected-area versions in memory, with their validity periods."""

    codes: np.ndarray
    kinds: np.ndarray
    geoms: np.ndarray
    bounds: np.ndarray
    valid_from: np.ndarray  # datetime64[D]
    valid_to: np.ndarray  # datetime64[D] (exclusive)


@dataclass
class Attribution:
    """Per point (arrays of the input length); None where a point is in no area.

    Protected areas are kept as (point index, code) pairs: most points are in none, and a list per
    point would cost more than the whole spatial test.
    """

    province: np.ndarray
    district: np.ndarray
    subdistrict: np.ndarray
    reserve: np.ndarray  # code of the National Reserved Forest containing the point, if any
    in_reserve: np.ndarray  # bool
    in_aoi: np.ndarray  # bool: inside the deployment's area of interest (``layers.aoi``)
    pa_points: np.ndarray  # int indices of points ...
    pa_codes: np.ndarray  # ... and the code of a protected area in force containing each

    def protected_areas(self, i: int) -> list[str]:
        """Codes of the protected areas containing point ``i``."""
        return sorted(set(self.pa_codes[self.pa_points == i]))

    def protected_area_lists(self) -> list[list[str]]:
        """Per point, the codes of the protected areas containing it."""
        out: list[list[str]] = [[] for _ in range(len(self.district))]
        for i, code in zip(self.pa_points.tolist(), self.pa_codes.tolist()):
            if code not in out[i]:
                out[i].append(code)
        return out

    def row(self, i: int) -> dict:
        """Point ``i``'s attribution as stored columns."""
        return {
            "province_code": self.province[i],
            "district_code": self.district[i],
            "subdistrict_code": self.subdistrict[i],
            "protected_area_codes": self.protected_areas(i),
            "reserve_code": self.reserve[i],
            "in_reserve": bool(self.in_reserve[i]),
        }


def layers_version(session: Session) -> tuple:
    """Changes whenever a boundary layer is loaded or changed, or the area of interest is rebuilt."""
    return (*queries.boundaries_version(session), aoi_store.changed_at(session))


def _areas(rows) -> Areas:
    geoms = np.array([shapely.from_wkb(r.wkb) for r in rows], dtype=object)
    shapely.prepare(geoms)
    return Areas(
        codes=np.array([r.code for r in rows], dtype=object),
        geoms=geoms,
        bounds=shapely.bounds(geoms).reshape(-1, 4),
        parents=np.array([r.parent_code for r in rows], dtype=object),
    )


def _assign(
    areas: Areas, x: np.ndarray, y: np.ndarray, out: np.ndarray, subset: np.ndarray | None = None, offset: int = 0
) -> None:
    """out[i] = index (+offset) of the first area, in code order, containing point i, for points of ``subset``."""
    idx = np.arange(len(x)) if subset is None else subset
    xs, ys = x[idx], y[idx]
    free = np.ones(len(idx), dtype=bool)
    for k in range(len(areas.codes)):
        minx, miny, maxx, maxy = areas.bounds[k]
        cand = np.flatnonzero(free & (xs >= minx) & (xs <= maxx) & (ys >= miny) & (ys <= maxy))
        if len(cand) == 0:
            continue
        hit = cand[shapely.intersects_xy(areas.geoms[k], xs[cand], ys[cand])]
        out[idx[hit]] = k + offset
        free[hit] = False


def _codes(areas: Areas, index: np.ndarray) -> np.ndarray:
    """Area codes for integer indices (-1: none)."""
    lookup = np.append(areas.codes, NONE)
    return lookup[np.where(index < 0, len(areas.codes), index)]


class Gazetteer:
    """Current boundaries in memory, for attributing points."""

    def __init__(
        self,
        provinces: Areas,
        districts: Areas,
        subdistricts: Areas,
        protected: ProtectedAreas,
        version: tuple = (),
        aoi=None,
    ):
        self.provinces, self.districts, self.subdistricts, self.protected = (
            provinces,
            districts,
            subdistricts,
            protected,
        )
        self.version = version
        self.aoi = aoi  # prepared geometry of the area of interest (None: not defined, nothing is inside)
        # Districts the area covers whole (checked once, exactly): their points need no test of their own.
        self.district_in_aoi = np.zeros(len(districts.codes) + 1, dtype=bool)  # last: "no district"
        if aoi is not None:
            shapely.prepare(aoi)
            self.district_in_aoi[:-1] = shapely.covers(aoi, districts.geoms) if len(districts.codes) else []

    def in_aoi(self, x: np.ndarray, y: np.ndarray, district: np.ndarray | None = None) -> np.ndarray:
        """Inside the area of interest: the stored geometry ``in_area_of_interest()`` tests in SQL, boundary
        included (GEOS in both). ``district``: the points' district indices (-1: none), when known; a point in
        a district the area covers whole is inside without a test of its own (half the cost on Phrae)."""
        out = np.zeros(len(x), dtype=bool)
        if self.aoi is None or not len(x):
            return out
        if district is not None:
            out = self.district_in_aoi[district].copy()  # -1 picks the last entry: False
        minx, miny, maxx, maxy = self.aoi.bounds
        cand = np.flatnonzero(~out & (x >= minx) & (x <= maxx) & (y >= miny) & (y <= maxy))
        if len(cand):
            out[cand] = shapely.intersects_xy(self.aoi, x[cand], y[cand])
        return out

    @classmethod
    def load(cls, session: Session) -> Gazetteer:
        """The current boundaries and the area of interest, as this session sees them."""
        version = layers_version(session)
        levels = {level: _areas(queries.current_area_shapes(session, level)) for level in LEVELS}
        rows = queries.protected_area_shapes(session)
        geoms = np.array([shapely.from_wkb(r.wkb) for r in rows], dtype=object)
        shapely.prepare(geoms)
        protected = ProtectedAreas(
            codes=np.array([r.code for r in rows], dtype=object),
            kinds=np.array([r.kind for r in rows], dtype=object),
            geoms=geoms,
            bounds=shapely.bounds(geoms).reshape(-1, 4),
            valid_from=np.array([r.valid_from or date.min for r in rows], dtype="datetime64[D]"),
            valid_to=np.array([r.valid_to or date(9999, 12, 31) for r in rows], dtype="datetime64[D]"),
        )
        wkb = aoi_store.geometry_wkb(session)
        area = shapely.from_wkb(wkb) if wkb is not None else None
        return cls(levels["province"], levels["district"], levels["subdistrict"], protected, version, area)

    def attribute(self, lon, lat, when=None) -> Attribution:
        """Attribute points (lon/lat arrays, EPSG:4326). ``when``: a date or an array of dates (default today)."""
        x = np.asarray(lon, dtype="float64")
        y = np.asarray(lat, dtype="float64")
        n = len(x)
        if when is None:
            when = np.datetime64(date.today(), "D")
        days = np.broadcast_to(np.asarray(when, dtype="datetime64[D]"), (n,))

        district = np.full(n, -1, dtype=np.int32)
        _assign(self.districts, x, y, district)
        # Each subdistrict is only tested against the points of its own district; points in no
        # district (another province's subdistricts may be loaded) against all of them.
        subdistrict = np.full(n, -1, dtype=np.int32)
        sub = self.subdistricts
        for d, parent in enumerate(self.districts.codes):
            ks = np.flatnonzero(sub.parents == parent)
            subset = np.flatnonzero(district == d)
            if len(ks) and len(subset):
                part = Areas(sub.codes[ks], sub.geoms[ks], sub.bounds[ks], sub.parents[ks])
                local = np.full(n, -1, dtype=np.int32)
                _assign(part, x, y, local, subset)
                found = subset[local[subset] >= 0]
                subdistrict[found] = ks[local[found]]
        rest = np.flatnonzero(subdistrict < 0)
        if len(rest) and len(sub.codes):
            _assign(sub, x, y, subdistrict, rest)
        # The province is the district's parent; only points in no district are tested against provinces.
        province = np.full(n, None, dtype=object)
        parent_of = np.append(self.districts.parents, NONE)
        province[:] = parent_of[np.where(district < 0, len(self.districts.codes), district)]
        lone = np.flatnonzero(district < 0)
        if len(lone) and len(self.provinces.codes):
            p_idx = np.full(n, -1, dtype=np.int32)
            _assign(self.provinces, x, y, p_idx, lone)
            province[lone] = _codes(self.provinces, p_idx[lone])

        pa = self.protected
        pa_points, pa_index = [], []
        reserve = np.full(n, -1, dtype=np.int32)
        for k in range(len(pa.codes)):
            minx, miny, maxx, maxy = pa.bounds[k]
            cand = np.flatnonzero(
                (x >= minx)
                & (x <= maxx)
                & (y >= miny)
                & (y <= maxy)
                & (days >= pa.valid_from[k])
                & (days < pa.valid_to[k])
            )
            if len(cand) == 0:
                continue
            hit = cand[shapely.intersects_xy(pa.geoms[k], x[cand], y[cand])]
            pa_points.append(hit)
            pa_index.append(np.full(len(hit), k, dtype=np.int32))
            if pa.kinds[k] == "national_reserved_forest":
                free = hit[reserve[hit] < 0]
                reserve[free] = k
        pts = np.concatenate(pa_points) if pa_points else np.empty(0, dtype=np.int64)
        idx = np.concatenate(pa_index) if pa_index else np.empty(0, dtype=np.int32)
        return Attribution(
            province=province,
            district=_codes(self.districts, district),
            subdistrict=_codes(self.subdistricts, subdistrict),
            reserve=np.append(pa.codes, NONE)[np.where(reserve < 0, len(pa.codes), reserve)],
            in_reserve=reserve >= 0,
            in_aoi=self.in_aoi(x, y, district),
            pa_points=pts,
            pa_codes=pa.codes[idx] if len(idx) else np.empty(0, dtype=object),
        )


_cache: dict[str, Gazetteer] = {}
_lock = threading.Lock()


def gazetteer_in_transaction(session: Session) -> Gazetteer:
    """The boundaries as this transaction sees them (a layer load not committed yet), loaded once per
    transaction however many re-attribution hooks ask; never put in the process-wide cache."""
    version = layers_version(session)
    current = session.info.get("gazetteer")
    if current is None or current.version != version:
        current = Gazetteer.load(session)
        session.info["gazetteer"] = current
    return current


def gazetteer(session: Session) -> Gazetteer:
    """The process-wide Gazetteer, rebuilt when the layers have changed since it was loaded."""
    version = layers_version(session)
    with _lock:
        current = _cache.get("g")
        if current is None or current.version != version:
            current = Gazetteer.load(session)
            _cache["g"] = current
        return current
