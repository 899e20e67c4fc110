"""Fire events: detections of every sensor linked in space and time, with identifiers that survive updates.

Two detections belong to the same event when they are at most ``gap_days`` apart in time and at most the
linking distance of their sensors apart on the ground (DBSCAN with one point per core, i.e. single linkage,
in space-time). The linking distance follows the sensor's pixel (``SENSORS``): 1 km for VIIRS (375 m pixels),
2 km for MODIS (1 km pixels at nadir, wider off nadir); a MODIS-VIIRS pair takes the larger. PostGIS's
ST_ClusterDBSCAN is 2D only, so the neighbour pairs are found with a k-d tree (scipy) on Earth-centred
coordinates on the WGS 84 ellipsoid (EPSG:4978, by pyproj) and time, scaled by the limits, kept when the
distance is within the pair's limit, and joined into connected components - vectorised, no loop over
detections. At these ranges the straight line between two Earth-centred points equals the geodesic to
well under a millimetre (a sphere, used before, read north-south distances 0.5 % long at 18 N: pairs
997-1000 m apart were left unlinked).

Identifiers are stable: a component takes the existing event id held by most of its detections (the oldest
on a tie). An event extended by new detections, or whose NRT detections were replaced by SP ones (same
rows, see ingest), keeps its id; events merged into another are deleted; a split part gets a new id.

Membership is kept in the narrow table ``hotspot_events`` (migration 0007): detections new to any event are
COPYed in, those that changed event are updated, the others are not touched. So are the events: every event of
the widened period is computed again, but only those whose stored row would change (any column, footprint
included, or their detections) are written and returned, so that the listeners (red flags, cleared-by-fire
marks, alerts) and ``updated_at`` readers see only what changed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
from pyproj import Transformer
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service.db.engine import driver_connection
from geo_service.errors import NotFound
from geo_service.hotspots.event_summary import EVENT_SCHEMA, event_rows
from geo_service.hotspots.ingest import INGEST_LOCK
from geo_service.hotspots.rows import copy_batch, query_frame
from geo_service.settings import HotspotSettings

MEMBERSHIP_SCHEMA = pa.schema([("hotspot_id", pa.int64()), ("event_id", pa.int64())])
_GEOCENTRIC = Transformer.from_crs(4326, 4978, always_xy=True)  # WGS 84 lon/lat -> Earth-centred x, y, z (m)


@dataclass
class EventParams:
    """How close in space and time two detections are to belong to one event."""

    distance_m: float = 1000.0  # linking distance of VIIRS detections (375 m pixels)
    gap_days: float = 2.0
    modis_distance_m: float = 2000.0  # linking distance of MODIS detections (1 km pixels)

    @classmethod
    def from_settings(cls, settings: HotspotSettings) -> EventParams:
        """The clustering configured by ``GEO_SERVICE_EVENT_*`` (``settings.hotspots``)."""
        return cls(settings.event_distance_m, settings.event_gap_days, settings.event_modis_distance_m)

    def link_m(self, instrument: np.ndarray) -> np.ndarray:
        """The linking distance of each detection, by its instrument (MODIS, else VIIRS)."""
        return np.where(np.asarray(instrument, dtype=object) == "MODIS", self.modis_distance_m, self.distance_m)


def geocentric(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Earth-centred coordinates (EPSG:4978, metres) of positions on the WGS 84 ellipsoid, one row each."""
    x, y, z = _GEOCENTRIC.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float), np.zeros(len(lon)))
    return np.column_stack([x, y, z])


def cluster(
    lon: np.ndarray, lat: np.ndarray, t_days: np.ndarray, params: EventParams, link_m: np.ndarray | None = None
) -> np.ndarray:
    """Component label of each detection (single-linkage in space-time).

    Parameters
    ----------
    lon, lat : array
        Degrees (EPSG:4326).
    t_days : array
        Time in days (any origin).
    params : EventParams
        Distance in metres and time gap in days that link two detections.
    link_m : array, optional
        Linking distance of each detection (``EventParams.link_m`` of its instrument); default
        ``params.distance_m`` for all. A pair is linked within the larger of its two distances.

    Returns
    -------
    numpy.ndarray
        Integer labels 0..k-1.
    """
    n = len(lon)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    link = np.full(n, float(params.distance_m)) if link_m is None else np.asarray(link_m, dtype=float)
    reach = float(link.max())
    # Earth-centred coordinates on the ellipsoid: the straight-line (chord) distance equals the geodesic
    # to a millimetre at these ranges, with no projection zone or reference latitude to choose.
    xyz = geocentric(lon, lat)
    pts = np.column_stack([xyz / reach, np.asarray(t_days, dtype=float) / params.gap_days])
    pairs = cKDTree(pts).query_pairs(r=1.0, p=np.inf, output_type="ndarray")
    if len(pairs):
        i, j = pairs[:, 0], pairs[:, 1]
        diff = xyz[i] - xyz[j]
        limit = np.maximum(link[i], link[j])
        near = np.einsum("ij,ij->i", diff, diff) <= limit * limit  # squared: no square root per pair
        i, j = i[near], j[near]
    else:
        i = j = np.empty(0, dtype=np.int64)
    graph = coo_matrix((np.ones(len(i), dtype=np.int8), (i, j)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels


def _stable_ids(labels: np.ndarray, old: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Map component labels to existing event ids where possible; -1 where a new id is needed.

    Returns the id per component and the old ids no component kept.
    """
    k = labels.max() + 1 if len(labels) else 0
    out = np.full(k, -1, dtype=np.int64)
    has = old >= 0
    votes = (
        pd.DataFrame({"c": labels[has], "e": old[has]})
        .value_counts()
        .rename("n")
        .reset_index()
        .sort_values(["n", "e"], ascending=[False, True])
    )
    taken: set[int] = set()
    for c, e in zip(votes["c"].to_numpy(), votes["e"].to_numpy()):  # one row per (component, old id) pair
        if out[c] < 0 and e not in taken:
            out[c] = e
            taken.add(int(e))
    dropped = sorted(set(int(e) for e in np.unique(old[has])) - taken)
    return out, dropped


def update_events(
    session: Session, since=None, until=None, params: EventParams | None = None, *, write_all: bool = False
) -> dict:
    """Recluster the detections around a period and store the events (in the caller's transaction).

    Parameters
    ----------
    session : Session
    since, until : datetime, optional
        The period that changed (e.g. an ingest's first and last acquisition); default everything.
        It is widened by the time gap and by the events it touches until no event crosses its edge.
    params : EventParams, optional
    write_all : bool
        Rewrite every event of the widened period, changed or not (what was done before; benchmarks' baseline).

    Returns
    -------
    dict
        ``events``: the ids of the events created or changed (sorted): those whose stored row differs in any
        column (times, counts, FRP, sensors, district, reserve, area, footprint: an SP detection replacing an NRT
        one can change the FRP of an event whose membership did not change) or whose detections changed; only
        their rows are written (``updated_at`` moves), the others are left untouched. ``created``, ``updated``
        (of ``events``), ``unchanged`` (events of the period left as they were), ``removed`` and ``removed_ids``
        (events merged into another, deleted; not in ``events``: their rows are gone, and each of their
        detections is now in an event of ``events``, which covers their span and place), ``detections`` (read).
    """
    params = params or EventParams()
    # one clustering at a time, and none while an ingest is writing detections
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": INGEST_LOCK})
    bounds = session.execute(text("SELECT min(acq_utc), max(acq_utc) FROM hotspots")).one()
    if bounds[0] is None:
        return _nothing()
    lo, hi = since or bounds[0], until or bounds[1]
    gap = f"{params.gap_days * 86400} seconds"
    for _ in range(20):  # widen to whole events: each round is one indexed query
        row = session.execute(
            text("""
            SELECT least(CAST(:lo AS timestamptz), min(first_seen)), greatest(CAST(:hi AS timestamptz), max(last_seen))
            FROM fire_events
            WHERE last_seen >= CAST(:lo AS timestamptz) - CAST(:gap AS interval)
              AND first_seen <= CAST(:hi AS timestamptz) + CAST(:gap AS interval)"""),
            {"lo": lo, "hi": hi, "gap": gap},
        ).one()
        new_lo, new_hi = row[0] or lo, row[1] or hi
        if (new_lo, new_hi) == (lo, hi):
            break
        lo, hi = new_lo, new_hi
    conn = driver_connection(session)
    frame = query_frame(
        conn,
        """
        SELECT h.id, h.longitude, h.latitude, extract(epoch FROM h.acq_utc)::bigint, coalesce(he.event_id, -1),
               h.frp, h.satellite, h.instrument, h.district_code, h.reserve_code
        FROM hotspots h LEFT JOIN hotspot_events he ON he.hotspot_id = h.id
        WHERE h.acq_utc BETWEEN %s::timestamptz - %s::interval AND %s::timestamptz + %s::interval""",
        (lo, gap, hi, gap),
        ["id", "lon", "lat", "epoch", "event", "frp", "satellite", "instrument", "district_code", "reserve_code"],
        text_columns=("satellite", "instrument", "district_code", "reserve_code"),
    )
    if frame.empty:
        return _nothing()
    # in id order, whatever plan read them: the same detections give the same figures and footprint, bit for bit
    frame = frame.sort_values("id", ignore_index=True)
    labels = cluster(
        frame["lon"].to_numpy(),
        frame["lat"].to_numpy(),
        frame["epoch"].to_numpy() / 86400.0,
        params,
        params.link_m(frame["instrument"].to_numpy(dtype=object)),
    )
    ids, dropped = _stable_ids(labels, frame["event"].to_numpy(np.int64))
    need = np.flatnonzero(ids < 0)
    if len(need):
        fresh = (
            session.execute(
                text("SELECT nextval(pg_get_serial_sequence('fire_events', 'id')) FROM generate_series(1, :n)"),
                {"n": len(need)},
            )
            .scalars()
            .all()
        )
        ids[need] = fresh
    new_event = ids[labels]
    old_event = frame["event"].to_numpy(np.int64)
    hotspot = frame["id"].to_numpy(np.int64)
    first_time, moved = old_event < 0, (old_event >= 0) & (old_event != new_event)
    _copy_membership(conn, "hotspot_events", hotspot[first_time], new_event[first_time])
    if moved.any():
        session.execute(text("CREATE TEMP TABLE event_assign (hotspot_id bigint, event_id bigint) ON COMMIT DROP"))
        _copy_membership(conn, "event_assign", hotspot[moved], new_event[moved])
        session.execute(
            text("""
            UPDATE hotspot_events he SET event_id = a.event_id FROM event_assign a
            WHERE he.hotspot_id = a.hotspot_id""")
        )
        session.execute(text("DROP TABLE event_assign"))
    # an event whose detections changed is written even if its figures came out the same (never seen: the
    # footprint is the hull of its pixels), so that the events returned hold every detection of a removed one
    stored = set(int(x) for x in ids) - set(int(x) for x in ids[need])  # events that have a row already
    members_changed = sorted(
        (set(int(x) for x in new_event[first_time | moved]) | set(int(x) for x in old_event[moved])) & stored
    )
    session.execute(text("CREATE TEMP TABLE event_rows (LIKE fire_events INCLUDING DEFAULTS) ON COMMIT DROP"))
    copy_batch(conn, "event_rows", event_rows(frame.assign(e=labels), ids))
    columns = ", ".join(EVENT_SCHEMA.names)
    differs, where = _differs("f", "r"), f"WHERE e.id = ANY(CAST(:forced AS bigint[])) OR {_differs('e', 'EXCLUDED')}"
    if write_all:  # every component of the window rewritten: the behaviour before (benchmarks' baseline)
        differs, where = "true", ""
    # Only the rows that would change are offered to the upsert: ON CONFLICT's WHERE alone would still lock (and
    # so write the xmax of) every row it leaves as it is; it stays as the statement's own guarantee.
    changed = (
        session.execute(
            text(f"""
        INSERT INTO fire_events AS e ({columns}, updated_at)
        SELECT {", ".join("r." + c for c in EVENT_SCHEMA.names)}, now()
        FROM event_rows r LEFT JOIN fire_events f ON f.id = r.id
        WHERE f.id IS NULL OR r.id = ANY(CAST(:forced AS bigint[])) OR {differs}
        ON CONFLICT (id) DO UPDATE SET {_FIGURES_FROM_EXCLUDED}, updated_at = now()
        {where}
        RETURNING e.id"""),
            {"forced": members_changed},
        )
        .scalars()
        .all()
    )
    session.execute(text("DROP TABLE event_rows"))
    if dropped:
        session.execute(text("DELETE FROM fire_events WHERE id = ANY(:ids)"), {"ids": dropped})
    events = sorted(int(x) for x in changed)
    return {
        "events": events,
        "created": len(need),
        "updated": len(events) - len(need),
        "unchanged": len(ids) - len(events),
        "removed": len(dropped),
        "removed_ids": dropped,
        "detections": len(frame),
    }


_FIGURES = [c for c in EVENT_SCHEMA.names if c != "id"]  # what an event row holds besides its id and updated_at
_FIGURES_FROM_EXCLUDED = ", ".join(f"{c} = EXCLUDED.{c}" for c in _FIGURES)


def _differs(stored: str, computed: str) -> str:
    """SQL true when a stored ``fire_events`` row differs from the computed one in any column but ``id`` and
    ``updated_at`` (IS DISTINCT FROM: nulls compare; the footprint's ``=`` is exact, vertex by vertex)."""
    return " OR ".join(f"{stored}.{c} IS DISTINCT FROM {computed}.{c}" for c in _FIGURES)


def _nothing() -> dict:
    return {"events": [], "created": 0, "updated": 0, "unchanged": 0, "removed": 0, "removed_ids": [], "detections": 0}


def _copy_membership(conn, table: str, hotspot_ids: np.ndarray, event_ids: np.ndarray) -> None:
    """COPY (hotspot, event) pairs into ``table`` in the binary format."""
    if len(hotspot_ids):
        copy_batch(
            conn,
            table,
            pa.RecordBatch.from_arrays([pa.array(hotspot_ids), pa.array(event_ids)], schema=MEMBERSHIP_SCHEMA),
        )


def recurrence_by_area(
    session: Session, *, kind: str | None = None, season_months: tuple[int, int] = (1, 5)
) -> list[dict]:
    """In how many fire seasons each protected area had hotspots.

    A fire season is named by its year (CE and BE) and covers months ``season_months`` (inclusive, local
    dates; January-May by default, the northern season).
    """
    rows = (
        session.execute(
            text("""
        SELECT pa.code, min(p.name_en) AS name_en, min(p.name_th) AS name_th, min(p.kind::text) AS kind,
               count(DISTINCT pa.season) AS seasons, array_agg(DISTINCT pa.season ORDER BY pa.season) AS years,
               count(*) AS detections
        FROM (SELECT unnest(protected_area_codes) AS code, extract(year FROM acq_date_local)::int AS season
              FROM hotspots
              WHERE extract(month FROM acq_date_local) BETWEEN :m1 AND :m2) pa
        JOIN latest_protected_areas p ON p.code = pa.code
        WHERE CAST(:kind AS text) IS NULL OR p.kind::text = CAST(:kind AS text)
        GROUP BY pa.code ORDER BY seasons DESC, detections DESC, pa.code
    """),
            {"m1": season_months[0], "m2": season_months[1], "kind": kind},
        )
        .mappings()
        .all()
    )
    return [{**dict(r), "years": list(r["years"]), "years_be": [y + 543 for y in r["years"]]} for r in rows]


def recurrence_grid(
    session: Session, code: str, *, cell_m: float = 500.0, season_months: tuple[int, int] = (1, 5)
) -> dict:
    """Cells of a ``cell_m`` grid (UTM of the area) inside a protected area, with the seasons each burned in.

    Returns a GeoJSON FeatureCollection (cells as polygons, EPSG:4326).
    """
    srid = session.execute(
        text("SELECT utm_srid(geom) FROM latest_protected_areas WHERE code = :c"), {"c": code}
    ).scalar()
    if srid is None:
        raise NotFound(f"No protected area has the code {code}.", code="protected_area_not_found")
    doc = session.execute(
        text("""
        SELECT json_build_object('type', 'FeatureCollection', 'protected_area', CAST(:code AS text),
          'cell_m', CAST(:cell AS float8), 'numberReturned', count(*),
          'features', coalesce(json_agg(json_build_object(
            'type', 'Feature',
            -- RFC 7946: exterior rings counter-clockwise (ST_MakeEnvelope draws them clockwise)
            'geometry', ST_AsGeoJSON(ST_ForcePolygonCCW(ST_Transform(ST_MakeEnvelope(
                cx * :cell, cy * :cell, (cx + 1) * :cell, (cy + 1) * :cell, :srid), 4326)), 7)::json,
            'properties', json_build_object('seasons', seasons, 'years', years, 'detections', detections))
            ORDER BY seasons DESC, cx, cy), '[]'::json))
        FROM (
          SELECT floor(ST_X(u) / :cell)::bigint AS cx, floor(ST_Y(u) / :cell)::bigint AS cy,
                 count(DISTINCT season) AS seasons, array_agg(DISTINCT season ORDER BY season) AS years,
                 count(*) AS detections
          FROM (SELECT ST_Transform(geom, :srid) AS u, extract(year FROM acq_date_local)::int AS season
                FROM hotspots WHERE CAST(:code AS text) = ANY(protected_area_codes)
                  AND extract(month FROM acq_date_local) BETWEEN :m1 AND :m2) h
          GROUP BY 1, 2
        ) cells
    """),
        {"code": code, "cell": cell_m, "srid": srid, "m1": season_months[0], "m2": season_months[1]},
    ).scalar_one()
    return doc
