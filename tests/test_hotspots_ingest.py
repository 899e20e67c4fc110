"""FIRMS CSV ingest: formats, normalisation, the detection key (re-ingest, SP replacing NRT), attribution to the
real Phrae districts, refusals with nothing stored, and re-attribution when layers change."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from sqlalchemy import text

from geo_service.db.engine import transaction
from geo_service.hotspots.ingest import FileRejected, ingest_file
from geo_service.layers.manifest import DEFAULT_LAYERS_DIR
from geo_service.places import Gazetteer
from tests.samples import VIIRS_HEADER

DATA = Path(__file__).parent / "data" / "firms"
THAILAND = (97.3, 5.5, 105.7, 20.6)


def _ingest(sm, path, **kw):
    with transaction(sm) as s:
        return ingest_file(s, path, Gazetteer.load(s), country_bbox=THAILAND, **kw)


def _rows(sm, sql, **params):
    with sm() as s:
        return s.execute(text(sql), params).all()


@pytest.fixture
def sm(db_url, sessionmaker_for):
    return sessionmaker_for(db_url)


def test_modis_nrt_normalised_and_attributed(sm):
    r = _ingest(sm, DATA / "modis_nrt.csv")
    assert (r.rows_total, r.rows_new, r.rows_updated, r.rows_unchanged, r.rows_refused) == (4, 4, 0, 0, 0)
    assert len(r.file_sha256) == 64 and r.batch_id
    rows = _rows(
        sm,
        "SELECT satellite, instrument, processing, confidence, confidence_raw, daynight, "
        "to_char(acq_utc AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS utc, acq_date_local, "
        "district_code FROM hotspots ORDER BY acq_utc",
    )
    assert [(x.satellite, x.instrument, x.processing) for x in rows] == [
        ("Terra", "MODIS", "NRT"),
        ("Aqua", "MODIS", "NRT"),
        ("Aqua", "MODIS", "NRT"),
        ("Terra", "MODIS", "NRT"),
    ]
    # MODIS percent -> low/nominal/high (1/2/3), the original kept
    assert [(x.confidence, x.confidence_raw) for x in rows] == [(3, "85"), (2, "62"), (1, "25"), (3, "100")]
    # leading-zero times; 18:05 UTC is already 01:05 the next day in Bangkok, 00:05 UTC is 07:05 the same day
    assert [x.utc for x in rows] == ["2024-03-14 03:45", "2024-03-14 06:40", "2024-03-14 18:05", "2024-03-15 00:05"]
    assert [str(x.acq_date_local) for x in rows] == ["2024-03-14", "2024-03-14", "2024-03-15", "2024-03-15"]
    assert all(x.district_code and x.district_code.startswith("54") for x in rows)
    batch = _rows(sm, "SELECT source, rows_new, file_sha256, duration_s FROM hotspot_batches")[0]
    assert batch.source == "file:modis_nrt.csv" and batch.rows_new == 4 and batch.file_sha256 == r.file_sha256


def test_reingest_is_unchanged_and_sp_replaces_nrt(sm):
    _ingest(sm, DATA / "viirs_snpp_nrt.csv")
    again = _ingest(sm, DATA / "viirs_snpp_nrt.csv")
    assert (again.rows_new, again.rows_updated, again.rows_unchanged) == (0, 0, 5)
    sp = _ingest(sm, DATA / "viirs_snpp_sp.csv")
    # the first SP row differs in values, the others only in version: all three NRT rows become SP
    assert (sp.rows_new, sp.rows_updated, sp.rows_unchanged) == (0, 3, 0)
    rows = _rows(sm, "SELECT satellite, processing, version, frp, confidence FROM hotspots ORDER BY acq_utc, lat_e4")
    assert len(rows) == 5
    assert sorted((x.satellite, x.processing) for x in rows) == [
        ("NOAA-20", "NRT"),
        ("NOAA-21", "NRT"),
        ("S-NPP", "SP"),
        ("S-NPP", "SP"),
        ("S-NPP", "SP"),
    ]
    assert {x.frp for x in rows if x.processing == "SP"} == {4.2, 12.8, 1.05}
    # a late NRT file never overwrites standard processing
    late = _ingest(sm, DATA / "viirs_snpp_nrt.csv")
    assert (late.rows_new, late.rows_updated) == (0, 0)
    assert _rows(sm, "SELECT count(*) FROM hotspots WHERE processing = 'SP'")[0][0] == 3
    assert _rows(sm, "SELECT count(*) FROM hotspot_batches")[0][0] == 4


def test_modis_sp_with_type_column_replaces_nrt(sm):
    _ingest(sm, DATA / "modis_nrt.csv")
    r = _ingest(sm, DATA / "modis_sp.csv")
    assert (r.rows_new, r.rows_updated, r.rows_unchanged) == (0, 2, 0)
    rows = _rows(
        sm,
        "SELECT processing, version, fire_type, confidence_raw FROM hotspots WHERE processing = 'SP' ORDER BY acq_utc",
    )
    assert [(x.version, x.fire_type, x.confidence_raw) for x in rows] == [("6.1", 0, "88"), ("6.1", 0, "62")]


def test_one_file_with_nrt_and_sp_of_the_same_pass_keeps_sp(sm, tmp_path):
    f = tmp_path / "mixed.csv"
    f.write_text(
        VIIRS_HEADER
        + "18.20045,100.30150,340.5,0.39,0.36,2024-03-14,0612,N,VIIRS,n,2,295.4,4.2,D\n"
        + "18.20045,100.30150,340.1,0.39,0.36,2024-03-14,612,N,VIIRS,n,2.0NRT,295.3,4.1,D\n"
    )
    r = _ingest(sm, f)
    assert (r.rows_total, r.rows_new) == (2, 1)
    assert _rows(sm, "SELECT processing, frp FROM hotspots")[0] == ("SP", 4.2)


def test_upper_case_and_alternative_spellings(sm, tmp_path):
    f = tmp_path / "upper.csv"
    f.write_text(
        "LATITUDE,LONGITUDE,BRIGHT_TI4,SCAN,TRACK,ACQ_DATE,ACQ_TIME,SATELLITE,INSTRUMENT,CONFIDENCE,"
        "VERSION,BRIGHT_TI5,FRP,DAYNIGHT\n"
        "18.1,100.1,330,0.4,0.4,2024-04-01,0606,NOAA-20,VIIRS,low,2.0NRT,290,2.0,D\n"
        "18.1,100.2,330,0.4,0.4,2024-04-01,6,N20,VIIRS,high,2.0NRT,290,2.0,N\n"
        "18.1,100.3,330,0.4,0.4,2024-04-01,0606,NOAA-21,VIIRS,nominal,2.0NRT,290,2.0,D\n"
    )
    r = _ingest(sm, f)
    assert r.rows_new == 3
    rows = _rows(
        sm,
        "SELECT satellite, confidence, to_char(acq_utc AT TIME ZONE 'UTC', 'HH24:MI') t "
        "FROM hotspots ORDER BY longitude",
    )
    assert [tuple(x) for x in rows] == [("NOAA-20", 1, "06:06"), ("NOAA-20", 3, "00:06"), ("NOAA-21", 2, "06:06")]


def _points_in_each_district():
    districts = gpd.read_file(DEFAULT_LAYERS_DIR / "phrae/phrae_amphoe_hdx_codab.geojson").set_index("amp_code")
    inside = {code: geom.representative_point() for code, geom in districts.geometry.items()}
    shared = districts.geometry["5401"].boundary.intersection(districts.geometry["5404"].boundary)
    boundary = shapely.get_coordinates(shared)[::7][:5]
    return inside, boundary


def test_exact_counts_per_real_phrae_district_including_boundary_points(sm, tmp_path):
    inside, boundary = _points_in_each_district()
    lines = []
    expected = {}
    for k, (code, p) in enumerate(sorted(inside.items())):
        n = k + 1  # district k gets k+1 detections (different passes of the same fire)
        expected[code] = n
        for j in range(n):
            lines.append(
                f"{p.y:.6f},{p.x:.6f},330,0.4,0.4,2024-03-0{1 + j % 9},{(j * 7) % 24:02d}15,N,VIIRS,n,2.0NRT,290,3.0,D"
            )
    for j, (x, y) in enumerate(boundary):
        lines.append(f"{y:.4f},{x:.4f},330,0.4,0.4,2024-03-20,0{j}30,1,VIIRS,h,2.0NRT,290,3.0,D")
    # outside Phrae (Nan province) but in Thailand, and in Laos (outside the country box: not stored)
    lines.append("18.78,100.78,330,0.4,0.4,2024-03-21,0630,1,VIIRS,h,2.0NRT,290,3.0,D")
    lines.append("19.9,102.1,330,0.4,0.4,2024-03-21,0630,1,VIIRS,h,2.0NRT,290,3.0,D")
    lines.append("19.9,106.1,330,0.4,0.4,2024-03-21,0630,1,VIIRS,h,2.0NRT,290,3.0,D")
    f = tmp_path / "districts.csv"
    f.write_text(VIIRS_HEADER + "\n".join(lines) + "\n")
    r = _ingest(sm, f)
    assert r.rows_outside == 1 and r.rows_new == len(lines) - 1
    # the rounded boundary points: recompute which district the 1e-4 degree position falls in
    counts = dict(_rows(sm, "SELECT coalesce(district_code, '-'), count(*) FROM hotspots GROUP BY 1"))
    expected_boundary = dict(
        _rows(
            sm,
            """
        SELECT code, count(*) FROM (
          SELECT coalesce(min(a.code), '-') AS code FROM hotspots h
          LEFT JOIN admin_areas a ON a.level = 'district' AND ST_Intersects(a.geom, h.geom)
          WHERE h.acq_date_local = '2024-03-20' GROUP BY h.id) s GROUP BY code""",
        )
    )
    assert sum(expected_boundary.values()) == 5
    assert set(expected_boundary) <= {"5401", "5404"}
    for code, n in expected_boundary.items():
        expected[code] += n
    expected["-"] = 2
    assert counts == expected


def test_boundary_vertex_is_counted_once_in_the_lower_code(sm, tmp_path):
    _, boundary = _points_in_each_district()
    # positions exactly on the shared vertices, as stored (1e-4 degree) and as read: 5 points, 5 rows
    f = tmp_path / "edge.csv"
    f.write_text(
        VIIRS_HEADER
        + "".join(
            f"{float(y)!r},{float(x)!r},330,0.4,0.4,2024-03-20,0{j}30,1,VIIRS,h,2.0NRT,290,3.0,D\n"
            for j, (x, y) in enumerate(boundary)
        )
    )
    _ingest(sm, f)
    assert _rows(sm, "SELECT district_code, count(*) FROM hotspots GROUP BY 1") == [("5401", 5)]


def test_refused_file_stores_nothing_and_reports_line_and_column(sm, tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text(
        VIIRS_HEADER
        + "18.1,100.1,330,0.4,0.4,2024-03-01,0606,N,VIIRS,n,2.0NRT,290,2.0,D\n"
        + "18.1,100.1,330,0.4,0.4,2024-13-01,0606,N,VIIRS,n,2.0NRT,290,2.0,D\n"
        + "18.1,100.1,330,0.4,0.4,2024-03-01,2460,N,VIIRS,n,2.0NRT,290,2.0,D\n"
        + "18.1,100.1,330,0.4,0.4,2024-03-01,0606,X9,VIIRS,n,2.0NRT,290,2.0,D\n"
        + "18.1,100.1,330,0.4,0.4,2024-03-01,0606,N,VIIRS,maybe,2.0NRT,290,2.0,D\n"
        + "95.1,100.1,330,0.4,0.4,2024-03-01,0606,N,VIIRS,n,2.0NRT,290,2.0,D\n"
    )
    with pytest.raises(FileRejected) as err:
        _ingest(sm, f)
    assert [(d["line"], d["column"]) for d in err.value.details] == [
        (7, "latitude"),
        (3, "acq_date"),
        (4, "acq_time"),
        (5, "satellite"),
        (6, "confidence"),
    ]
    assert _rows(sm, "SELECT (SELECT count(*) FROM hotspots), (SELECT count(*) FROM hotspot_batches)")[0] == (0, 0)


@pytest.mark.parametrize("bad", ["2024-13-01", "not-a-number"])
def test_a_refusal_leaves_nothing_even_when_the_caller_commits(sm, tmp_path, bad):
    """Valid blocks were already streamed when a later block turns out bad: the ingest undoes them itself."""
    good = [f"18.{i:04d},100.1,330,0.4,0.4,2024-03-01,0606,N,VIIRS,n,2.0NRT,290,2.0,D" for i in range(2000)]
    wrong = (
        f"18.1,100.1,{bad},0.4,0.4,2024-03-01,0606,N,VIIRS,n,2.0NRT,290,2.0,D"
        if bad == "not-a-number"
        else f"18.1,100.1,330,0.4,0.4,{bad},0606,N,VIIRS,n,2.0NRT,290,2.0,D"
    )
    f = tmp_path / "late_bad.csv"
    f.write_text(VIIRS_HEADER + "\n".join(good + [wrong]) + "\n")
    with transaction(sm) as s:
        with pytest.raises(FileRejected) as err:
            ingest_file(s, f, Gazetteer.load(s), country_bbox=THAILAND, block_size=4096)
        s.execute(text("SELECT 1"))  # the transaction is still usable, and is committed
    assert err.value.details[0]["line"] == 2002
    assert _rows(sm, "SELECT (SELECT count(*) FROM hotspots), (SELECT count(*) FROM hotspot_batches)")[0] == (0, 0)


def test_text_in_a_number_column_and_missing_columns(sm, tmp_path):
    f = tmp_path / "text.csv"
    f.write_text(
        VIIRS_HEADER
        + "18.1,100.1,330,0.4,0.4,2024-03-01,0606,N,VIIRS,n,2.0NRT,290,2.0,D\n"
        + "18.1,east,330,0.4,0.4,2024-03-01,0606,N,VIIRS,n,2.0NRT,290,2.0,D\n"
    )
    with pytest.raises(FileRejected) as err:
        _ingest(sm, f)
    assert err.value.details == [{"line": 3, "column": "longitude", "reason": "not a number"}]
    g = tmp_path / "cols.csv"
    g.write_text("latitude,longitude,acq_date\n18.1,100.1,2024-03-01\n")
    with pytest.raises(FileRejected) as err:
        _ingest(sm, g)
    assert {d["column"] for d in err.value.details} == {"acq_time", "satellite", "confidence"}
    assert _rows(sm, "SELECT count(*) FROM hotspots")[0][0] == 0


def test_skip_invalid_stores_the_valid_rows_and_counts_the_refused(sm, tmp_path):
    f = tmp_path / "some_bad.csv"
    f.write_text(
        VIIRS_HEADER
        + "18.1,100.1,330,0.4,0.4,2024-03-01,0606,N,VIIRS,n,2.0NRT,290,2.0,D\n"
        + "18.1,100.1,330,0.4,0.4,2024-03-01,0606,N,VIIRS,n,2.0NRT,290,-2.0,D\n"
    )
    r = _ingest(sm, f, skip_invalid=True)
    assert (r.rows_new, r.rows_refused) == (1, 1)
    assert r.problems == [{"line": 3, "column": "frp", "reason": "negative fire radiative power"}]
    assert _rows(sm, "SELECT rows_refused, report->'problems'->0->>'column' FROM hotspot_batches")[0] == (1, "frp")


def test_chunked_reading_gives_the_same_result(sm, tmp_path):
    lines = [
        f"18.{i % 50:02d}00,100.{i % 97:02d}00,330,0.4,0.4,2024-03-{1 + i % 28:02d},{i % 24:02d}{i % 60:02d},"
        f"N,VIIRS,n,2.0NRT,290,{i % 13}.5,D"
        for i in range(3000)
    ]
    f = tmp_path / "many.csv"
    f.write_text(VIIRS_HEADER + "\n".join(lines) + "\n")
    r = _ingest(sm, f, block_size=4096)  # dozens of blocks
    distinct = len({tuple(x.split(",")[i] for i in (0, 1, 5, 6)) for x in lines})
    assert r.rows_total == 3000 and r.rows_new == distinct
    assert _rows(sm, "SELECT count(*) FROM hotspots")[0][0] == distinct


def test_a_file_of_new_and_stored_detections_over_many_blocks(sm, tmp_path):
    """New detections stream straight in, stored ones go through the merge, block by block."""

    def line(i, frp, version="2.0NRT"):
        return (
            f"18.{i:04d},100.{i:04d},330,0.4,0.4,2024-03-{1 + i % 20:02d},{i % 24:02d}{i % 60:02d},"
            f"N,VIIRS,n,{version},290,{frp},D"
        )

    first = tmp_path / "first.csv"
    first.write_text(VIIRS_HEADER + "\n".join(line(i, "1.5") for i in range(0, 400)) + "\n")
    assert _ingest(sm, first, block_size=4096).rows_new == 400
    # rows 300-399 again: 300-349 unchanged, 350-399 with standard-processing values; 400-699 are new
    second = tmp_path / "second.csv"
    second.write_text(
        VIIRS_HEADER
        + "\n".join(
            [line(i, "1.5") for i in range(300, 350)]
            + [line(i, "9.5", "2") for i in range(350, 400)]
            + [line(i, "2.5") for i in range(400, 700)]
        )
        + "\n"
    )
    r = _ingest(sm, second, block_size=4096)
    assert (r.rows_total, r.rows_new, r.rows_updated, r.rows_unchanged) == (400, 300, 50, 50)
    counts = _rows(sm, "SELECT processing, frp, count(*) FROM hotspots GROUP BY 1, 2 ORDER BY 1, 2")
    assert [tuple(x) for x in counts] == [("NRT", 1.5, 350), ("NRT", 2.5, 300), ("SP", 9.5, 50)]
    assert _rows(sm, "SELECT count(DISTINCT (acq_utc, lat_e4, lon_e4, satellite)) FROM hotspots")[0][0] == 700


def test_two_ingests_in_one_transaction_fall_back_to_the_merge(sm, monkeypatch):
    """Rows written earlier in the caller's transaction are invisible to the stored-key lookup: the stream
    meets them in the unique index, is rolled back, and the file goes through the merge instead."""
    from geo_service.hotspots import ingest as module

    calls = []
    real = module.ingest_chunks

    def spy(*args, **kw):
        calls.append(kw.get("direct", True))
        return real(*args, **kw)

    monkeypatch.setattr(module, "ingest_chunks", spy)
    with transaction(sm) as s:
        gaz = Gazetteer.load(s)
        nrt = ingest_file(s, DATA / "viirs_snpp_nrt.csv", gaz, country_bbox=THAILAND)
        sp = ingest_file(s, DATA / "viirs_snpp_sp.csv", gaz, country_bbox=THAILAND)
    assert (nrt.rows_new, sp.rows_new, sp.rows_updated, sp.rows_unchanged) == (5, 0, 3, 0)
    assert _rows(sm, "SELECT count(*) FILTER (WHERE processing = 'SP'), count(*) FROM hotspots")[0] == (3, 5)
    batches = _rows(sm, "SELECT id, rows_new, rows_updated FROM hotspot_batches ORDER BY id")
    assert [(b.rows_new, b.rows_updated) for b in batches] == [(5, 0), (0, 3)]  # the rolled-back try left none
    assert batches[1].id == sp.batch_id
    assert calls == [True, True, False]  # the second file streamed, collided, then went through the merge


def test_seen_keys_finds_every_repeat_across_blocks():
    import numpy as np

    from geo_service.hotspots.ingest import _SeenKeys

    rng = np.random.default_rng(7)
    seen, reference, found = _SeenKeys(), set(), []
    for size in [1, 50, 3000, 10, 700, 4096, 5, 2000] * 3:
        block = rng.integers(0, 20_000, size).astype(np.uint64)  # many repeats, within and across blocks
        expected = []
        for v in block.tolist():
            expected.append(v in reference)
            reference.add(v)
        found.append((seen.repeats(block).tolist(), expected))
    assert all(got == want for got, want in found)


def test_missing_values_and_protected_area_lists_are_stored_as_such(sm, tmp_path):
    """The binary COPY keeps NULLs (empty FRP, version, brightness) and the sorted list of protected areas."""
    with sm() as s:
        where = s.execute(
            text("""
            SELECT ST_X(p) x, ST_Y(p) y, ARRAY[a.code, b.code] codes
            FROM protected_areas a JOIN protected_areas b ON a.code < b.code AND ST_Intersects(a.geom, b.geom)
              AND coalesce(a.valid_from, '1900-01-01') <= '2024-03-01' AND coalesce(a.valid_to, '2999-01-01') > '2024-03-01'
              AND coalesce(b.valid_from, '1900-01-01') <= '2024-03-01' AND coalesce(b.valid_to, '2999-01-01') > '2024-03-01'
            CROSS JOIN LATERAL ST_PointOnSurface(ST_Intersection(a.geom, b.geom)) p
            WHERE NOT ST_IsEmpty(ST_Intersection(a.geom, b.geom)) AND ST_Area(ST_Intersection(a.geom, b.geom)) > 1e-6
            ORDER BY a.code, b.code LIMIT 1""")
        ).one()
    f = tmp_path / "nulls.csv"
    f.write_text(
        VIIRS_HEADER
        + f"{where.y:.6f},{where.x:.6f},330,0.4,0.4,2024-03-01,0606,N,VIIRS,n,2.0NRT,290,2.0,D\n"
        + "18.1,100.1,,0.4,0.4,2024-03-01,0606,N,VIIRS,n,,,,D\n"
    )
    assert _ingest(sm, f).rows_new == 2
    rows = _rows(
        sm,
        "SELECT protected_area_codes, brightness, bright_2, frp, version, processing FROM hotspots "
        "ORDER BY brightness NULLS LAST",
    )
    assert rows[0].protected_area_codes == sorted(where.codes) and len(where.codes) == 2
    assert tuple(rows[1])[1:] == (None, None, None, None, "SP")  # no version: standard processing


@pytest.mark.slow
def test_layer_change_reattributes_hotspots(sm, tmp_path):
    import geo_service.hotspots  # noqa: F401  registers the hook
    from geo_service.layers.reader import read_layer
    from geo_service.layers.store import LayerMeta, store_layer

    inside, _ = _points_in_each_district()
    p = inside["5406"]
    f = tmp_path / "one.csv"
    f.write_text(VIIRS_HEADER + f"{p.y:.6f},{p.x:.6f},330,0.4,0.4,2024-03-01,0606,N,VIIRS,n,2.0NRT,290,2.0,D\n")
    _ingest(sm, f)
    with transaction(sm) as s:
        from geo_service.hotspots.events import update_events

        update_events(s)
    assert _rows(sm, "SELECT district_code, protected_area_codes FROM hotspots")[0][0] == "5406"
    # a new protected area covering the point: the stored hotspot follows, in the same transaction
    square = shapely.box(p.x - 0.01, p.y - 0.01, p.x + 0.01, p.y + 0.01)
    gj = tmp_path / "pa.geojson"
    gpd.GeoDataFrame(
        {"code": ["CF-TEST"], "name_th": ["ป่าชุมชนทดสอบ"], "name_en": ["Test CF"], "kind": ["community_forest"]},
        geometry=[square],
        crs=4326,
    ).to_file(gj)
    with transaction(sm) as s:
        data = read_layer(gj, "protected_area")
        store_layer(s, data, LayerMeta(name="test-cf", version="1", source="t", licence="t", attribution="t"))
    assert _rows(sm, "SELECT protected_area_codes FROM hotspots")[0][0] == ["CF-TEST"]
    # a new district version moving the point to 5407: hotspot and event follow
    from geo_service.layers.manifest import DEFAULT_LAYERS_DIR as LAYERS

    districts = gpd.read_file(LAYERS / "phrae/phrae_amphoe_hdx_codab.geojson")
    moved = districts.copy()
    moved.loc[moved.amp_code == "5406", "geometry"] = moved.loc[moved.amp_code == "5406", "geometry"].difference(square)
    moved.loc[moved.amp_code == "5407", "geometry"] = moved.loc[moved.amp_code == "5407", "geometry"].union(square)
    gj2 = tmp_path / "districts_v2.geojson"
    moved.to_file(gj2)
    with transaction(sm) as s:
        data = read_layer(
            gj2,
            "district",
            fields={"code": "amp_code", "name_th": "ADM2_TH", "name_en": "ADM2_EN", "parent_code": "ADM1_PCODE"},
            repair=True,
        )
        store_layer(
            s, data, LayerMeta(name="phrae-districts", version="2099-01", source="t", licence="t", attribution="t")
        )
    assert _rows(sm, "SELECT district_code FROM hotspots")[0][0] == "5407"
    assert _rows(sm, "SELECT district_code FROM fire_events")[0][0] == "5407"


def test_concurrent_ingests_of_overlapping_files_are_serialised(sm, tmp_path):
    """Two uploads at once (NRT, and SP of the same passes plus new ones): the advisory lock makes the second
    wait, its stored-key look-up then sees the first one's rows, and nothing fails or doubles."""
    import threading

    def line(i, version):
        return f"18.{i:04d},100.{i:04d},330,0.4,0.4,2024-03-05,0606,N,VIIRS,n,{version},290,3.5,D"

    nrt, sp = tmp_path / "nrt.csv", tmp_path / "sp.csv"
    nrt.write_text(VIIRS_HEADER + "\n".join(line(i, "2.0NRT") for i in range(300)) + "\n")
    sp.write_text(VIIRS_HEADER + "\n".join(line(i, "2") for i in range(400)) + "\n")
    reports, errors = [], []

    def run(path):
        try:
            reports.append(_ingest(sm, path, block_size=4096))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in (nrt, sp)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and len(reports) == 2
    counts = _rows(sm, "SELECT processing, count(*) FROM hotspots GROUP BY 1")
    assert dict((p, n) for p, n in counts) == {"SP": 400}  # whichever came first, SP is kept, nothing doubled
    assert sum(r.rows_new for r in reports) == 400
