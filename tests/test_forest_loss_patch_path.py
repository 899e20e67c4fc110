"""The ingest's per-patch path as columns (forest_loss/ingest.py ``insert_new_patches``, store.py ``PatchBatch``,
fire.py ``fire_evidence_texts``) and the hotspot listener's narrowed re-mark (fire.py ``patches_changed``):

* the evidence JSON written from a template is the document ``json.dumps`` makes of ``fire_evidence``;
* a batch written as columns stores what the same patches written as row dicts store (every column);
* after hotspot ingests that add detections, replace NRT rows by SP ones a few metres away and re-cluster (and
  remove) fire events, the marks the listener leaves (re-marking only the patches whose candidate detections or
  events changed) are those of re-marking every patch, and it re-marked fewer than its cells reached."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import text

from geo_service.db.engine import transaction
from geo_service.forest_loss import store
from geo_service.forest_loss.fire import (
    fire_evidence,
    fire_evidence_texts,
    patches_changed,
    patches_reached,
)
from geo_service.forest_loss.ingest import NewPatches, insert_new_patches
from geo_service.hotspots import store as hotspots_store
from geo_service.hotspots.service import ingest_path
from geo_service.settings import ForestLossSettings
from tests.samples import MODIS_HEADER, VIIRS_HEADER

TO_WGS = Transformer.from_crs(32647, 4326, always_xy=True)
COUNTRY = (97.3, 5.5, 105.7, 20.6)
X0, Y0 = 620_000.0, 2_010_000.0  # UTM 47N, in Phrae
SETTINGS = ForestLossSettings()


@pytest.fixture
def sm(db_url, sessionmaker_for):
    return sessionmaker_for(db_url)


def _squares(rng, n: int, spread_m: float):
    """``n`` squares of 30-90 m (EPSG:4326) within ``spread_m`` of (X0, Y0), alert days over Feb-Apr 2024."""
    x = X0 + rng.uniform(0, spread_m, n)
    y = Y0 + rng.uniform(0, spread_m, n)
    side = rng.choice([30.0, 60.0, 90.0], n)
    boxes = shapely.box(x, y, x + side, y + side)
    wgs = shapely.transform(boxes, lambda xy: np.column_stack(TO_WGS.transform(xy[:, 0], xy[:, 1])))
    first = np.datetime64("2024-02-01") + rng.integers(0, 80, n).astype("timedelta64[D]")
    last = first + rng.integers(0, 15, n).astype("timedelta64[D]")
    return wgs, first, last


def _detections(rng, n: int, spread_m: float, days: tuple[str, int]):
    """``n`` detections (lat, lon, day) within ``spread_m`` of (X0, Y0) plus a margin, on days from ``days``."""
    lon, lat = TO_WGS.transform(
        X0 - 1_000 + rng.uniform(0, spread_m + 2_000, n), Y0 - 1_000 + rng.uniform(0, spread_m + 2_000, n)
    )
    day = np.datetime64(days[0]) + rng.integers(0, days[1], n).astype("timedelta64[D]")
    return np.round(lat, 5), np.round(lon, 5), day


def _viirs(lat, lon, day, hhmm, version="2.0NRT"):
    return f"{lat:.5f},{lon:.5f},330.5,0.4,0.4,{day},{hhmm},N,VIIRS,n,{version},290.1,5.2,N"


def _modis(lat, lon, day, hhmm, version="6.1NRT"):
    return f"{lat:.5f},{lon:.5f},325.4,1.1,1.0,{day},{hhmm},Terra,MODIS,85,{version},298.1,35.2,D"


def _ingest(sm, path, header, lines):
    path.write_text(header + "\n".join(lines) + "\n")
    with transaction(sm) as session:
        return ingest_path(session, path, country_bbox=COUNTRY)


def _stored_marks(sm, ids):
    with transaction(sm) as session:
        return {r[0]: (r[4], r[5]) for r in store.patch_fire_inputs(session, ids)}


def _full_marks(sm, ids):
    """Every patch marked afresh (what re-marking every patch would store)."""
    with transaction(sm) as session:
        inputs = [r[:4] for r in store.patch_fire_inputs(session, ids)]
        evidence = fire_evidence(session, inputs, SETTINGS)
    return {i: (i in evidence, json.loads(json.dumps(evidence[i])) if i in evidence else None) for i, *_ in inputs}


def test_evidence_texts_are_the_json_of_the_evidence_and_columns_store_what_rows_store(sm, tmp_path):
    """Patches near a day of fires: the template's JSON parses to ``fire_evidence``'s document (burned ones with
    hotspots only, events only, both; unburned None), and a batch inserted as columns by the ingest's path
    stores every column (figures, zones, mark, evidence) as the same patches inserted as row dicts."""
    rng = np.random.default_rng(5)
    lat, lon, day = _detections(rng, 60, 3_000, ("2024-03-01", 30))
    lines = [_viirs(a, o, d, f"{k % 24:02d}{k % 60:02d}") for k, (a, o, d) in enumerate(zip(lat, lon, day))]
    lines += [_modis(lat[0] + 0.01, lon[0], "2024-03-05", "0330")]
    _ingest(sm, tmp_path / "day.csv", VIIRS_HEADER, lines[:-1])
    _ingest(sm, tmp_path / "modis.csv", MODIS_HEADER, lines[-1:])
    geoms, first, last = _squares(rng, 400, 5_000)
    counts = rng.integers(0, 5, (400, 3))
    with transaction(sm) as session:
        ingest = store.create_ingest(
            session, source="gfw_integrated", encoding="gfw_integrated", file_name="t", file_sha256="0" * 64,
            params_key="patch-path", params={}, crs="EPSG:32647", window=None, created_by="test",
        )  # fmt: skip
        new = NewPatches(geoms, first, last, counts, "gfw_integrated")
        ids, burned = insert_new_patches(session, new, ingest, SETTINGS)
        batch = store.PatchBatch(
            ids=np.asarray(ids), geoms=geoms, first=first, last=last,
            pixels=np.column_stack([counts.sum(axis=1), counts]), confidence_max=np.full(400, 3),
            sources="gfw_integrated",
        )  # fmt: skip
        texts = fire_evidence_texts(session, batch, SETTINGS)
        evidence = fire_evidence(
            session,
            [
                (i, shapely.to_wkb(g), f.astype(object), la.astype(object))
                for i, g, f, la in zip(ids, geoms, first, last)
            ],
            SETTINGS,
        )
        row_ids = store.new_patch_ids(session, 400)
        rows = [
            {
                "id": r, "wkb": shapely.to_wkb(g), "first_date": f.astype(object), "last_date": la.astype(object),
                "pixels": int(c.sum()), "pixels_low": int(c[0]), "pixels_high": int(c[1]),
                "pixels_highest": int(c[2]), "confidence_max": (4 if c[2] else 3 if c[1] else 2),
                "sources": ["gfw_integrated"], "fire_evidence": evidence.get(i),
            }
            for r, i, g, f, la, c in zip(row_ids, ids, geoms, first, last, counts)
        ]  # fmt: skip
        store.insert_patches(session, rows, ingest)
    assert sum(t is not None for t in texts) == len(evidence) == burned
    assert 20 < burned < 400
    for i, t in zip(ids, texts, strict=True):
        assert (json.loads(t) if t is not None else None) == (
            json.loads(json.dumps(evidence[i])) if i in evidence else None
        )
    kinds = {(bool(e["hotspots"]), bool(e["events"])) for e in evidence.values()}
    assert (True, True) in kinds and len(kinds) >= 2
    with transaction(sm) as session:
        a, b = store.patches_of(session, ids), store.patches_of(session, row_ids)
        za, zb = store.patch_zones(session, ids), store.patch_zones(session, row_ids)
        geo_a, geo_b = (
            session.execute(
                text("SELECT ST_AsEWKB(geom) FROM clearing_patches WHERE id = ANY(:ids) ORDER BY id"), {"ids": i}
            )
            .scalars()
            .all()
            for i in (ids, row_ids)
        )
    assert list(ids) == sorted(ids) and list(row_ids) == sorted(row_ids)  # rows in the same order
    skip = {"id"}
    assert [{k: v for k, v in dict(r).items() if k not in skip} for r in a] == [
        {k: v for k, v in dict(r).items() if k not in skip} for r in b
    ]
    assert [tuple(z)[1:] for z in za] == [tuple(z)[1:] for z in zb] and len(za) >= 400
    assert [bytes(g) for g in geo_a] == [bytes(g) for g in geo_b] and len(geo_a) == 400


def test_the_listener_re_marks_only_what_changed_and_leaves_the_marks_of_a_full_re_mark(sm, tmp_path):
    """2,000 patches over 8 km; three hotspot ingests: NRT detections (VIIRS and MODIS) spread over the area and
    two months, then SP rows replacing some of them a few metres away (same key) plus new detections that join
    fire events (re-clustered, some removed), then a day far from most patches. After each, every stored mark
    equals the mark re-marking every patch gives, some marks changed, and the listener re-marked fewer patches
    than its cells reached."""
    rng = np.random.default_rng(11)
    geoms, first, last = _squares(rng, 2_000, 8_000)
    with transaction(sm) as session:
        ingest = store.create_ingest(
            session, source="gfw_integrated", encoding="gfw_integrated", file_name="t", file_sha256="0" * 64,
            params_key="listener-narrow", params={}, crs="EPSG:32647", window=None, created_by="test",
        )  # fmt: skip
        ids, _ = insert_new_patches(
            session, NewPatches(geoms, first, last, np.ones((2_000, 3), int), "gfw_integrated"), ingest, SETTINGS
        )
    assert not any(m[0] for m in _stored_marks(sm, ids).values())  # no detection yet: none burned

    def check(report):
        with transaction(sm) as session:
            reached = patches_reached(session, report, SETTINGS)
            detections = hotspots_store.batch_detections(
                session,
                report.batch_id,
                datetime.fromisoformat(report.first_acq),
                datetime.fromisoformat(report.last_acq),
            )
            narrowed = patches_changed(
                session, store.patch_fire_inputs(session, reached), detections, report.event_ids, SETTINGS
            )
        stored, full = _stored_marks(sm, ids), _full_marks(sm, ids)
        assert stored == full
        return stored, len(reached), len(narrowed)

    # 1. NRT detections over two months, VIIRS and MODIS
    lat, lon, day = _detections(rng, 25, 8_000, ("2024-02-10", 60))
    viirs = [_viirs(a, o, d, f"06{k % 60:02d}") for k, (a, o, d) in enumerate(zip(lat[:20], lon[:20], day[:20]))]
    # two fires 1,800 m apart on a day of their own: two events, which a detection between them joins below
    (a_lon, b_lon, c_lon), (a_lat, b_lat, c_lat) = TO_WGS.transform(
        [X0 + 1_000, X0 + 2_800, X0 + 1_900], [Y0 + 2_000, Y0 + 2_000, Y0 + 2_000]
    )
    viirs += [_viirs(a_lat, a_lon, "2024-04-25", "2200"), _viirs(b_lat, b_lon, "2024-04-25", "2201")]
    modis = [_modis(a, o, d, f"03{k % 60:02d}") for k, (a, o, d) in enumerate(zip(lat[20:], lon[20:], day[20:]))]
    _ingest(sm, tmp_path / "v1.csv", VIIRS_HEADER, viirs)
    marks1, _, _ = check(_ingest(sm, tmp_path / "m1.csv", MODIS_HEADER, modis))
    assert 100 < sum(m[0] for m in marks1.values()) < 2_000
    # 2. SP replacing 40 NRT rows: the same key (positions rounded to 1e-4 degree), published a few metres off;
    # plus 30 new detections, some of them bridging fires into one event
    k = np.arange(15)
    lat_sp = np.round(np.round(lat[k], 4) + rng.uniform(-0.35, 0.35, 15) * 1e-4, 5)
    lon_sp = np.round(np.round(lon[k], 4) + rng.uniform(-0.35, 0.35, 15) * 1e-4, 5)
    sp = [_viirs(a, o, d, f"06{j:02d}", version="2.0") for j, (a, o, d) in enumerate(zip(lat_sp, lon_sp, day[k]))]
    lat2, lon2, day2 = _detections(rng, 10, 8_000, ("2024-03-01", 20))
    more = [_viirs(a, o, d, f"13{j:02d}") for j, (a, o, d) in enumerate(zip(lat2, lon2, day2))]
    more.append(_viirs(c_lat, c_lon, "2024-04-25", "2202"))
    with transaction(sm) as session:
        events_before = {int(e) for e in session.execute(text("SELECT id FROM fire_events")).scalars()}
    report = _ingest(sm, tmp_path / "v2.csv", VIIRS_HEADER, sp + more)
    assert report.rows_updated == 15 and report.rows_new == 11
    marks2, reached2, narrowed2 = check(report)
    assert sum(marks1[i] != marks2[i] for i in ids) > 10
    with transaction(sm) as session:
        events_after = {int(e) for e in session.execute(text("SELECT id FROM fire_events")).scalars()}
    assert events_before - events_after  # the re-clustering removed events that patches had named
    assert any(set(m[1]["events"]) & (events_before - events_after) for m in marks1.values() if m[1])
    assert 0 < narrowed2 < reached2
    # 3. a day with fires at one corner only: few patches re-marked, most reached ones left alone
    lat3, lon3, day3 = _detections(rng, 5, 300, ("2024-04-20", 1))
    report = _ingest(
        sm,
        tmp_path / "v3.csv",
        VIIRS_HEADER,
        [_viirs(a, o, d, f"07{j:02d}") for j, (a, o, d) in enumerate(zip(lat3, lon3, day3))],
    )
    _, reached3, narrowed3 = check(report)
    assert narrowed3 < reached3
