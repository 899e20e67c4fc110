"""Clearing patches measured in memory (forest_loss/measure.py) give the answers of the SQL reference
(tests/attribution_oracle.py measure_and_attribute_sql), column by column, on awkward generated patches: squares and triangles on every
zone's boundary (districts, subdistricts, the neighbouring province, reserves with a hole, overlapping protected
areas, the area of interest), patches on the days a reserve's boundary changed, multipolygons (corner-touching,
disjoint across a boundary), a patch with a hole, big patches holding a small zone, and a patch across the
UTM 47/48 line; plus hand-checked answers of the vectorised pieces."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import text

from geo_service.db.engine import transaction
from geo_service.forest_loss import measure, store
from geo_service.layers import queries
from tests.attribution_oracle import measure_and_attribute, measure_and_attribute_sql
from tests.provinces import load_nan

# the day before, the day of and after NRF-PR-003's boundary change; before Doi Pha Klong park existed; today
DAYS = [date(2016, 2, 29), date(2016, 3, 1), date(2023, 3, 1), date(2014, 8, 19), date(2014, 8, 20), date(1970, 1, 1)]
PX = 0.0001  # about 10 m


@pytest.fixture
def sm(db_url, sessionmaker_for):
    return sessionmaker_for(db_url)


def _squares(x, y, half):
    return shapely.box(x - half, y - half, x + half, y + half)


def awkward_patches(session, seed: int = 7) -> list[shapely.Geometry]:
    """Patches (EPSG:4326) that put every shortcut of the in-memory path to the test."""
    rng = np.random.default_rng(seed)
    shapes = [*(r.wkb for level in ("province", "district", "subdistrict") for r in
                queries.current_area_shapes(session, level)), *(r.wkb for r in queries.protected_area_shapes(session))]  # fmt: skip
    zones = shapely.from_wkb([bytes(w) for w in shapes])
    out: list[shapely.Geometry] = []
    for z in zones:
        ring = shapely.get_coordinates(shapely.boundary(z))
        pick = ring[rng.choice(len(ring), size=min(len(ring), 12), replace=False)]
        # squares of 3 px centred on boundary vertices, and off them by a fraction of a pixel
        out += list(_squares(pick[:, 0], pick[:, 1], 1.5 * PX))
        jitter = pick + rng.uniform(-2, 2, pick.shape) * PX
        out += list(_squares(jitter[:, 0], jitter[:, 1], rng.choice([0.5, 1.5, 5, 25], len(jitter)) * PX))
        # triangles standing on a boundary edge (touching the zone on the other side along a whole edge)
        a, b = ring[:-1][:6], ring[1:][:6]
        mid = (a + b) / 2 + rng.uniform(-1, 1, a.shape) * 3 * PX
        out += [
            shapely.Polygon([p, q, m]) for p, q, m in zip(a, b, mid, strict=True) if shapely.Polygon([p, q, m]).area
        ]
    # random squares over Phrae and beyond (outside every zone too)
    x, y = rng.uniform(99.6, 101.2, 300), rng.uniform(17.4, 19.2, 300)
    out += list(_squares(x, y, 1.5 * PX))
    # multipolygons: two pixels touching at a corner; two blocks 1 km apart (one part may be inside, one outside)
    for cx, cy in zip(x[:40], y[:40], strict=True):
        out.append(
            shapely.MultiPolygon(
                [shapely.box(cx, cy, cx + PX, cy + PX), shapely.box(cx + PX, cy + PX, cx + 2 * PX, cy + 2 * PX)]
            )
        )
        out.append(
            shapely.MultiPolygon(
                [shapely.box(cx, cy, cx + PX, cy + PX), shapely.box(cx + 0.01, cy, cx + 0.01 + PX, cy + PX)]
            )
        )
    b = shapely.get_coordinates(shapely.boundary(zones[1]))[::40][:20]
    for bx, by in b:
        out.append(
            shapely.MultiPolygon(
                [
                    shapely.box(bx - 0.003, by, bx - 0.003 + PX, by + PX),
                    shapely.box(bx + 0.003, by, bx + 0.003 + PX, by + PX),
                ]
            )
        )
        # a ring of pixels (a hole) around a boundary vertex
        out.append(
            shapely.box(bx - 3 * PX, by - 3 * PX, bx + 3 * PX, by + 3 * PX).difference(
                shapely.box(bx - PX, by - PX, bx + PX, by + PX)
            )
        )
    # big patches (2-6 km) that may hold a whole small zone or part of one
    out += list(_squares(x[:10], y[:10], 0.03))
    # across the UTM 47/48 line (102 E), near and far from the loaded zones
    out += [shapely.box(101.99875, 17.9985, 102.00125, 17.9995), shapely.box(101.9999, 18.5, 102.0004, 18.5003)]
    return out


def _rows(ids, geoms):
    return [
        {
            "id": i,
            "wkb": shapely.to_wkb(g),
            "first_date": DAYS[k % len(DAYS)],
            "last_date": DAYS[k % len(DAYS)],
            "pixels": 9,
            "pixels_low": 3,
            "pixels_high": 3,
            "pixels_highest": 3,
            "confidence_max": 4,
            "sources": ["gfw_integrated"],
        }
        for k, (i, g) in enumerate(zip(ids, geoms, strict=True))
    ]


def _snapshot(session, ids):
    cols = ("province_code", "district_code", "subdistrict_code", "reserve_code", "protected_area_codes", "in_aoi")
    patches = [(r["area_m2"], *(r[c] for c in cols)) for r in store.patches_of(session, ids)]
    zones: dict[int, list] = {}
    for z in store.patch_zones(session, ids):
        zones.setdefault(ids.index(z["patch_id"]), []).append(
            (z["zone_type"], z["zone_code"], z["area_m2"], z["share"])
        )
    return patches, [zones.get(k, []) for k in range(len(ids))]


def _same(ref, got):
    """Every column equal: codes, flags and sets of zones exactly, areas to 1e-6 m2, shares to 1e-9."""
    (p_ref, z_ref), (p_got, z_got) = ref, got
    assert len(p_ref) == len(p_got)
    for k, (a, b) in enumerate(zip(p_ref, p_got, strict=True)):
        assert a[1:] == b[1:], f"patch {k}: {a[1:]} != {b[1:]}"
        assert a[0] == pytest.approx(b[0], abs=1e-6), f"patch {k}: area {a[0]} != {b[0]}"
        assert [z[:2] for z in z_ref[k]] == [z[:2] for z in z_got[k]], f"patch {k}: zones differ"
        for x, y in zip(z_ref[k], z_got[k], strict=True):
            assert x[2] == pytest.approx(y[2], abs=1e-6) and x[3] == pytest.approx(y[3], abs=1e-9), (
                f"patch {k}: {x} {y}"
            )


@pytest.mark.slow
def test_in_memory_answers_are_the_sql_reference_on_awkward_patches(sm, monkeypatch):
    monkeypatch.setattr(store, "INSERT_CHUNK", 700)  # several COPY chunks, measured one after the other
    load_nan(sm)  # a neighbouring province (boxes overlapping Phrae's outline): zones of two provinces
    with transaction(sm) as session:
        geoms = awkward_patches(session)
        n = len(geoms)
        assert n > 3_000  # 3,430 with the bundled layers and Nan
        ingest = store.create_ingest(
            session, source="gfw_integrated", encoding="gfw_integrated", file_name="t", file_sha256="0" * 64,
            params_key="measure-test", params={}, crs="EPSG:4326", window=None, created_by="test",
        )  # fmt: skip
        ref_ids, new_ids, again_ids, ext_ids = (store.new_patch_ids(session, n) for _ in range(4))
        store.insert_patches(session, _rows(ref_ids, geoms), ingest, measured=False)
        store.insert_patches(session, _rows(again_ids, geoms), ingest, measured=False)
        measure_and_attribute_sql(session, ref_ids)  # the reference
        store.insert_patches(session, _rows(new_ids, geoms), ingest)  # measured in memory as inserted
        measure_and_attribute(session, again_ids)  # stored patches measured in memory
        # extended patches: stored as a square elsewhere, then given these outlines and measured with them
        store.insert_patches(session, _rows(ext_ids, [shapely.box(100.14, 18.14, 100.1403, 18.1403)] * n), ingest)
        store.update_patches(session, _rows(ext_ids, geoms), ingest)
    with transaction(sm) as session:
        ref = _snapshot(session, ref_ids)
        _same(ref, _snapshot(session, new_ids))
        _same(ref, _snapshot(session, again_ids))
        _same(ref, _snapshot(session, ext_ids))
    patches, zones = ref
    # the cases did occur: shared patches, both provinces, a versioned reserve on both sides of its change,
    # patches outside everything, partial shares, several protected areas on one patch
    shares = [z[3] for zs in zones for z in zs]
    assert sum(0 < s < 1 for s in shares) > 100 and sum(s == 1 for s in shares) > 100
    provinces = {z[1] for zs in zones for z in zs if z[0] == "province"}
    assert "55" in provinces and len(provinces) >= 2
    assert any(len(p[5] or []) >= 2 for p in patches)
    assert sum(p[1] is None for p in patches) > 10 and any(p[6] for p in patches) and not all(p[6] for p in patches)
    nrf3 = [(k, z) for k, zs in enumerate(zones) for z in zs if z[1] == "NRF-PR-003"]
    assert {DAYS[k % len(DAYS)] for k, _ in nrf3} >= {date(2016, 2, 29), date(2016, 3, 1)}


def _scramble(session, ids, kinds):
    """Wrong attribution for these kinds (as if the boundaries had moved): codes made up, in_aoi flipped, zone rows
    of these kinds deleted and a made-up row added."""
    sets = {"province": "province_code = 'XX'", "district": "district_code = 'XXXX'",
            "subdistrict": "subdistrict_code = NULL", "protected_area": "reserve_code = 'NRF-X', protected_area_codes = '{NRF-X}'",
            "aoi": "in_aoi = NOT in_aoi"}  # fmt: skip
    session.execute(
        text(f"UPDATE clearing_patches SET {', '.join(sets[k] for k in kinds)} WHERE id = ANY(:ids)"), {"ids": ids}
    )
    types = [k for k in kinds if k != "aoi"]
    session.execute(
        text("DELETE FROM clearing_patch_zones WHERE patch_id = ANY(:ids) AND zone_type = ANY(:t)"),
        {"ids": ids, "t": types},
    )
    for t in types:
        session.execute(
            text("INSERT INTO clearing_patch_zones SELECT unnest(CAST(:ids AS bigint[])), :t, 'made-up', 1, 0.5"),
            {"ids": ids[::7], "t": t},
        )


def _area_bits(session, ids):
    return session.execute(
        text("SELECT id, float8send(area_m2) FROM clearing_patches WHERE id = ANY(:ids) ORDER BY id"), {"ids": ids}
    ).all()


@pytest.mark.slow
def test_re_attribution_keeps_the_areas_and_gives_the_measured_answers(sm):
    """store.reattribute (a boundary change): on the awkward patches, with every kind's attribution scrambled, the
    zones of one kind at a time give back exactly that kind's codes and rows (the others stay scrambled), and all
    of them together the answers of the measured insert; the stored areas stay bit-identical, and a second run
    writes no patch."""
    load_nan(sm)
    with transaction(sm) as session:
        geoms = awkward_patches(session)
        ingest = store.create_ingest(
            session, source="gfw_integrated", encoding="gfw_integrated", file_name="t", file_sha256="0" * 64,
            params_key="reattribute-test", params={}, crs="EPSG:4326", window=None, created_by="test",
        )  # fmt: skip
        ref_ids, ids = store.new_patch_ids(session, len(geoms)), store.new_patch_ids(session, len(geoms))
        store.insert_patches(session, _rows(ref_ids, geoms), ingest)
        store.insert_patches(session, _rows(ids, geoms), ingest)
    kinds = ("province", "district", "subdistrict", "protected_area", "aoi")
    with transaction(sm) as session:
        ref = _snapshot(session, ref_ids)
        areas = _area_bits(session, ids)
        _scramble(session, ids, kinds)
        cols = {"province": [1], "district": [2], "subdistrict": [3], "protected_area": [4, 5], "aoi": [6]}
        done: set[str] = set()
        for kind in ("subdistrict", "protected_area", "aoi", "district", "province"):
            assert store.reattribute(session, ids, [kind]) > 0
            done.add(kind)
            patches, zones = _snapshot(session, ids)
            for k, (a, b) in enumerate(zip(ref[0], patches, strict=True)):
                for d in done:
                    assert [a[c] for c in cols[d]] == [b[c] for c in cols[d]], (k, d)
            left = {z[0] for zs in zones for z in zs if z[1] == "made-up"}
            assert left == {k for k in kinds if k not in done and k != "aoi"}
        assert _area_bits(session, ids) == areas
        _same(ref, _snapshot(session, ids))
        assert ref == _snapshot(session, ids)  # to the bit: shares against the same stored areas
        assert store.reattribute(session, ids) == 0  # nothing differs: no patch written
        assert store.reattribute(session, ids, ["roads"]) == 0 and store.reattribute(session, [], kinds) == 0


def test_measuring_stored_patches_again_replaces_their_rows(sm):
    """measure_and_attribute on patches already measured: the same rows, not twice (and nothing for no ids)."""
    with transaction(sm) as session:
        ingest = store.create_ingest(
            session, source="gfw_integrated", encoding="gfw_integrated", file_name="t", file_sha256="0" * 64,
            params_key="measure-again", params={}, crs="EPSG:4326", window=None, created_by="test",
        )  # fmt: skip
        ids = store.new_patch_ids(session, 2)
        # Phrae town (Mueang district) and far out at sea: in three zones, in none
        geoms = [shapely.box(100.14, 18.14, 100.1403, 18.1403), shapely.box(95.0, 10.0, 95.0003, 10.0003)]
        store.insert_patches(session, _rows(ids, geoms), ingest)
        first = _snapshot(session, ids)
        measure_and_attribute(session, ids)
        measure_and_attribute(session, [])
        again = _snapshot(session, ids)
    assert first == again
    (inside, outside), (z_in, z_out) = first
    assert {"district", "province", "subdistrict"} <= {z[0] for z in z_in} and z_out == []
    assert all(z[3] == 1.0 and z[2] == inside[0] for z in z_in)  # covered whole: the patch's own area, share 1
    assert outside[1:] == (None, None, None, None, None, False)


def test_utm_areas_zone_by_zone_hand_checked():
    """A 0.0025 deg patch across 102 E: the west half measured in UTM 47N, the east half in 48N (as the SQL
    cuts it); a patch inside one zone is its projected area; empty and missing geometries measure 0."""
    west, east = shapely.box(101.99875, 18.0, 102.0, 18.001), shapely.box(102.0, 18.0, 102.00125, 18.001)

    def utm(g, epsg):
        return shapely.transform(g, lambda xy: np.column_stack(Transformer.from_crs(4326, epsg, always_xy=True).transform(xy[:, 0], xy[:, 1]))).area  # fmt: skip

    across = shapely.box(101.99875, 18.0, 102.00125, 18.001)
    got = measure.utm_areas(np.array([across, west, shapely.Polygon(), None], dtype=object))
    assert got[0] == pytest.approx(utm(west, 32647) + utm(east, 32648), rel=1e-12)
    # west ends on 102 E: by the SQL's rule it meets zone 48 too (an empty part there), measured as its cut part
    assert got[1] == pytest.approx(utm(west, 32647), rel=1e-12)
    inside = shapely.box(101.5, 18.0, 101.501, 18.001)
    assert measure.utm_areas(np.array([inside]))[0] == utm(inside, 32647)  # one zone: to the bit
    assert list(got[2:]) == [0.0, 0.0]
    # about 132 m x 111 m: each half is about 132/2 * 111 m2
    assert got[0] == pytest.approx(2 * 0.00125 * 105_900 * 0.001 * 110_700, rel=0.02)


def test_shoelace_is_geos_area_to_the_bit():
    rng = np.random.default_rng(3)
    polys = shapely.buffer(shapely.points(rng.uniform(0, 1000, (500, 2))), rng.uniform(1, 50, 500), quad_segs=3)
    coords, of = shapely.get_coordinates(polys, return_index=True)
    counts = np.bincount(of)
    got = measure.shoelace(coords[:, 0], coords[:, 1], np.r_[0, np.cumsum(counts)[:-1]], counts)
    assert np.array_equal(got, shapely.area(polys))


def test_no_boundaries_loaded_areas_only():
    """Before any layer is loaded: the patch is measured, it is in no zone, not in the (undefined) area."""
    from geo_service.places import Areas, Gazetteer, ProtectedAreas

    def none() -> Areas:
        return Areas(np.empty(0, dtype=object), np.empty(0, dtype=object), np.empty((0, 4)), np.empty(0, dtype=object))

    no_day = np.empty(0, dtype="datetime64[D]")
    empty = np.empty(0, dtype=object)
    gaz = Gazetteer(none(), none(), none(), ProtectedAreas(empty, empty, empty, np.empty((0, 4)), no_day, no_day))
    zones = measure.zones_of(gaz)
    patch = shapely.box(100.14, 18.14, 100.1403, 18.1403)
    m = measure.measure(np.array([patch]), np.array(["2024-01-01"], dtype="datetime64[D]"), zones)
    a = measure.attribute(m, zones, {})
    assert m.area[0] == measure.utm_areas(np.array([patch]))[0] > 1000 and not m.in_aoi[0] and len(m.row_patch) == 0
    assert (a.province[0], a.district[0], a.subdistrict[0], a.reserve[0], a.protected_counts[0]) == (None,) * 4 + (0,)
