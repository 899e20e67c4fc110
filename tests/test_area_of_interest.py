"""The deployment's area of interest (AOI) on a FIRMS file that, like a real bounding-box download, also holds
detections in the neighbouring provinces (Nan, Lampang, Uttaradit, Phayao): they are stored and marked
outside, and every output counts the AOI only unless asked, and says which area it covers."""

from __future__ import annotations

from pathlib import Path

import folium.plugins as plugins
import numpy as np
import pytest
from sqlalchemy import text

from geo_service.db.engine import transaction
from geo_service.db.startup import apply_area_of_interest
from geo_service.hotspots.attribution import reattribute_hotspots
from geo_service.hotspots.ingest import ingest_file
from geo_service.hotspots.summaries import SummaryQuery, summarise
from geo_service.layers import aoi
from geo_service.maps import escaping, hotspot_layers, overview
from geo_service.maps.period import fiscal_period
from geo_service.places import Gazetteer

FIXTURE = Path(__file__).parent / "data" / "firms" / "viirs_phrae_and_neighbours.csv"
INSIDE = 4  # Rong Kwang x3, Den Chai x1 (FY 2567, March 2024)
OUTSIDE = 7  # Nan x2, Lampang x2, Uttaradit, Phayao, and one 1 km beyond Phrae's line towards Nan
NEAR_LINE = (18.49714, 100.54714)
NEIGHBOURS = [(18.78, 100.78), (18.6, 100.75), (18.29, 99.49), (18.05, 99.55), (17.62, 100.1), (19.17, 99.9)]


def _ingest(sm, path=FIXTURE):
    with transaction(sm) as s:
        return ingest_file(s, path, Gazetteer.load(s))


@pytest.fixture
def loaded(db_url, sessionmaker_for):
    sm = sessionmaker_for(db_url)
    _ingest(sm)
    return sm


def _flags(sm) -> dict[tuple[float, float], bool]:
    with sm() as s:
        return {
            (round(lat, 5), round(lon, 5)): inside
            for lat, lon, inside in s.execute(text("SELECT latitude, longitude, in_aoi FROM hotspots"))
        }


@pytest.mark.slow
def test_outside_detections_are_stored_marked_and_reingest_changes_nothing(loaded):
    sm = loaded
    flags = _flags(sm)
    assert len(flags) == INSIDE + OUTSIDE  # a neighbour's detections are kept
    assert sum(flags.values()) == INSIDE
    assert not any(flags[p] for p in NEIGHBOURS) and not flags[NEAR_LINE]
    with sm() as s:
        area = aoi.describe(s)
        provinces = dict(
            s.execute(text("SELECT coalesce(province_code, 'none'), count(*) FROM hotspots GROUP BY 1")).all()
        )
    assert [p["code"] for p in area["provinces"]] == ["54"] and area["buffer_m"] == 0
    assert area["label_en"] == "Area of interest: Phrae (54)" and "แพร่" in area["label_th"]
    assert provinces == {"54": INSIDE, "none": OUTSIDE}
    again = _ingest(sm)
    assert (again.rows_new, again.rows_updated, again.rows_unchanged) == (0, 0, INSIDE + OUTSIDE)
    assert _flags(sm) == flags
    with transaction(sm) as s:  # a boundary re-attribution (Gazetteer) finds nothing to change
        assert reattribute_hotspots(s) == 0


@pytest.mark.slow
def test_python_and_sql_definitions_agree(loaded):
    """The Gazetteer's flag (ingest, re-attribution) and in_area_of_interest() (SQL) on the stored geometry,
    on a grid across Phrae's line, with and without a buffer."""
    sm = loaded
    lon, lat = np.meshgrid(np.linspace(99.2, 100.9, 60), np.linspace(17.5, 19.3, 60))
    lon, lat = lon.ravel(), lat.ravel()
    for buffer_m in (0, 2000):
        with transaction(sm) as s:
            apply_area_of_interest(s, ["TH54"], buffer_m)
        with sm() as s:
            py = Gazetteer.load(s).attribute(lon, lat).in_aoi
            sql = np.array(
                s.execute(
                    text(
                        "SELECT in_area_of_interest(ST_SetSRID(ST_MakePoint(x, y), 4326)) "
                        "FROM unnest(CAST(:x AS float8[]), CAST(:y AS float8[])) WITH ORDINALITY AS t(x, y, i) ORDER BY i"
                    ),
                    {"x": lon.tolist(), "y": lat.tolist()},
                )
                .scalars()
                .all()
            )
            stored = s.execute(
                text("SELECT count(*) FILTER (WHERE in_aoi <> in_area_of_interest(geom)) FROM hotspots")
            ).scalar()
        assert 300 < py.sum() < len(lon) and (py == sql).all() and stored == 0


@pytest.mark.slow
def test_buffer_takes_in_a_fire_just_across_the_line(loaded):
    sm = loaded
    with transaction(sm) as s:
        assert apply_area_of_interest(s, ["TH54"], 2000) == 1  # the P-code TH54 is read as the loaded code 54
        assert apply_area_of_interest(s, ["54"], 2000) == 0  # the same area again: nothing to do
    flags = _flags(sm)
    assert flags[NEAR_LINE] and sum(flags.values()) == INSIDE + 1
    with sm() as s:
        area = aoi.describe(s)
        rows = summarise(s, SummaryQuery(group_by=["district"], period="all"))["rows"]
        classes = summarise(s, SummaryQuery(group_by=["land_class"], period="all"))["rows"]
    assert area["buffer_m"] == 2000 and "2,000 m" in area["label_en"]
    # the buffer's detection is in no district of Phrae: labelled, and after the districts
    assert rows[-1]["district"] is None and rows[-1]["detections"] == 1
    assert rows[-1]["district_name_en"] == "Outside the districts of the loaded provinces"
    assert all(r["district"] for r in rows[:-1]) and sum(r["detections"] for r in rows) == INSIDE + 1
    # no protected-area layer covers it: unknown, not "outside protected land"
    assert {r["land_class"]: r["detections"] for r in classes}.get("unknown") == 1
    with transaction(sm) as s:
        assert apply_area_of_interest(s, [], 0) == 1  # back to every loaded province, no buffer
    assert sum(_flags(sm).values()) == INSIDE


def test_summaries_count_the_area_and_group_by_province(loaded):
    sm = loaded
    with sm() as s:
        default = summarise(s, SummaryQuery(group_by=["district"], period="all"))
        by_province = summarise(s, SummaryQuery(group_by=["province"], period="all", area="all"))
        outside = summarise(s, SummaryQuery(group_by=["district"], period="all", area="outside"))
        phrae = summarise(s, SummaryQuery(group_by=[], period="all", area="all", province="54"))
        classes = summarise(s, SummaryQuery(group_by=["land_class"], period="all", area="all"))
    assert sum(r["detections"] for r in default["rows"]) == INSIDE
    assert all(r["district"] and r["district_name_en"] for r in default["rows"])  # no unnamed row
    assert default["area"]["label_en"] == "Area of interest: Phrae (54)"
    assert [(r["province"], r["province_name_en"], r["detections"]) for r in by_province["rows"]] == [
        ("54", "Phrae", INSIDE),
        (None, "Outside the loaded provinces", OUTSIDE),
    ]
    assert by_province["area"]["scope"] == "all"
    assert [(r["district"], r["detections"]) for r in outside["rows"]] == [(None, OUTSIDE)]
    assert outside["area"]["label_en"].startswith("Outside the area of interest (neighbouring provinces)")
    assert [r["detections"] for r in phrae["rows"]] == [INSIDE]
    got = {r["land_class"]: r["detections"] for r in classes["rows"]}
    assert got["unknown"] == OUTSIDE and "outside_protected_land" in got
    assert sum(got.values()) == INSIDE + OUTSIDE and got.get("outside_protected_land", 0) <= INSIDE


@pytest.mark.slow
def test_summary_and_hotspot_routes(client, admin_headers):
    r = client.post(
        "/api/v1/admin/hotspots/firms", headers=admin_headers, files={"file": (FIXTURE.name, FIXTURE.read_bytes())}
    )
    assert r.status_code == 201 and r.json()["rows_new"] == INSIDE + OUTSIDE
    s = client.get("/api/v1/hotspots/summary", params={"group_by": "province", "period": "all", "area": "all"}).json()
    assert [(r["province"], r["detections"]) for r in s["rows"]] == [("54", INSIDE), (None, OUTSIDE)]
    s = client.get("/api/v1/hotspots/summary", params={"province": "TH54", "period": "all"}).json()
    assert sum(r["detections"] for r in s["rows"]) == INSIDE and s["filters"]["province"] == "54"
    g = client.get("/api/v1/hotspots").json()
    assert g["numberReturned"] == INSIDE and g["area"]["scope"] == "aoi"
    assert all(f["properties"]["in_aoi"] for f in g["features"])
    g = client.get("/api/v1/hotspots", params={"area": "outside"}).json()
    assert g["numberReturned"] == OUTSIDE and not any(f["properties"]["in_aoi"] for f in g["features"])
    bad = client.get("/api/v1/hotspots/summary", params={"area": "province"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_area"
    assert client.get("/api/v1/hotspots/summary", params={"group_by": "province"}).status_code == 200
    e = client.get("/api/v1/exports/hotspots").json()
    assert e["metadata"]["area"]["provinces"][0]["code"] == "54" and e["numberMatched"] == INSIDE + OUTSIDE
    assert sorted(f["properties"]["in_aoi"] for f in e["features"]) == [False] * OUTSIDE + [True] * INSIDE


@pytest.mark.slow
def test_brief_counts_the_area_and_labels_the_rest(client, login, admin_headers):
    committee = login("committee", "committee_member")
    assert (
        client.post(
            "/api/v1/admin/hotspots/firms", headers=admin_headers, files={"file": (FIXTURE.name, FIXTURE.read_bytes())}
        ).status_code
        == 201
    )
    made = client.post("/api/v1/briefs", headers=committee, json={"fiscal_year_be": 2567}).json()
    f = made["figures"]
    assert f["hotspots"]["total"] == INSIDE and sum(f["hotspots"]["weekly"]) == INSIDE
    assert {d["code"]: d["n"] for d in f["hotspots"]["by_district"]} == {"5402": 3, "5405": 1}  # no '' row
    assert f["hotspots"]["outside_aoi"] == OUTSIDE and f["area"]["label_en"] == "Area of interest: Phrae (54)"
    page = client.get(f"/api/v1/briefs/{made['id']}", headers=committee).text
    assert "outside the province" not in page
    assert "Area of interest: Phrae (54)" in page
    line = page[page.index('id="outside-aoi"') :]
    line = line[: line.index("</table>")]
    assert "Outside the area of interest (neighbouring provinces)" in line and "not in the total" in line
    assert f">{OUTSIDE}<" in line


@pytest.mark.slow
def test_overview_map_leaves_outside_detections_off(loaded):
    sm = loaded
    period = fiscal_period(2567)
    with sm() as s:
        plain = overview.overview(s, period, principal=None, cases=None)
        asked = overview.overview(s, period, principal=None, cases=None, outside_aoi=True)
        html = overview.render(plain)
        html_asked = overview.render(asked)
    for lat, lon in NEIGHBOURS:
        assert f"{lat}, {lon}" not in html  # not in the heat map, the clusters or anywhere else
    assert "Area of interest: Phrae (54)" in html
    layers = [
        c
        for c in asked._children.values()
        if isinstance(c, plugins.FastMarkerCluster) and escaping.text(hotspot_layers.OUTSIDE_LAYER_NAME) in c.layer_name
    ]
    assert len(layers) == 1 and layers[0].show is False and f"({OUTSIDE})" in layers[0].layer_name
    assert all(f"{lat}, {lon}" in html_asked for lat, lon in NEIGHBOURS)


@pytest.mark.slow
def test_cli_summary_names_the_area_and_the_row_outside(loaded, db_url, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from geo_service.cli import app
    from geo_service.settings import get_settings
    from tests.conftest import _url_text

    monkeypatch.setenv("GEO_SERVICE_DATABASE_URL", _url_text(db_url))
    monkeypatch.setenv("GEO_SERVICE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("GEO_SERVICE_AOI_BUFFER_M", "2000")  # applied when the CLI opens the database
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            app,
            ["hotspots", "summary", "--group-by", "province", "--period", "all", "--area", "all"],
            env={"COLUMNS": "200"},
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "Area of interest changed: 1 detections re-marked" in result.output
    assert "Inside and outside the area of interest (Phrae (54) and 2,000 m around)" in result.output
    assert "Outside the loaded provinces" in result.output
    assert sum(_flags(loaded).values()) == INSIDE + 1


def test_a_loaded_neighbour_province_joins_the_default_area_but_not_a_configured_one(loaded, tmp_path):
    """A province layer loaded later rebuilds the area (layers.store) before the re-attribution hook marks
    the detections (Gazetteer): with the default (every loaded province) Nan's detections join it;
    configured to Phrae (set-based re-marking in PostGIS) they keep Nan's code and leave it."""
    import json

    from geo_service.layers.load import load_file
    from geo_service.layers.store import LayerMeta

    sm = loaded
    nan = tmp_path / "nan.geojson"  # a box around the two Nan detections, standing in for Nan's outline
    nan.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"ADM1_PCODE": "TH55", "ADM1_TH": "น่าน", "ADM1_EN": "Nan"},
                        "geometry": {
                            "type": "Polygon",
                            "coordinates": [
                                [[100.7, 18.55], [100.85, 18.55], [100.85, 18.85], [100.7, 18.85], [100.7, 18.55]]
                            ],
                        },
                    }
                ],
            }
        )
    )
    fields = {"code": "ADM1_PCODE", "name_th": "ADM1_TH", "name_en": "ADM1_EN"}
    with transaction(sm) as session:
        load_file(
            session,
            nan,
            "province",
            LayerMeta(name="nan-test", version="1", source="test", licence="CC0", attribution="test"),
            fields=fields,
        )

    def state():
        with sm() as s:
            return dict(
                s.execute(
                    text("SELECT coalesce(province_code, 'none') || '/' || in_aoi, count(*) FROM hotspots GROUP BY 1")
                ).all()
            ), aoi.describe(s)

    rows, area = state()
    assert rows == {"54/true": INSIDE, "55/true": 2, "none/false": OUTSIDE - 2}
    assert [p["code"] for p in area["provinces"]] == ["54", "55"] and "Nan (55)" in area["label_en"]
    with transaction(sm) as s:
        assert apply_area_of_interest(s, ["TH54"], 0) == 2
    rows, area = state()
    assert rows == {"54/true": INSIDE, "55/false": 2, "none/false": OUTSIDE - 2}
    assert [p["code"] for p in area["provinces"]] == ["54"] and area["configured"] == ["54"]


def test_overview_default_period_ignores_a_neighbours_later_detections(loaded, tmp_path):
    """A month with only neighbours' detections is not a period "with data": the overview still opens on the
    area's own latest fiscal year."""
    sm = loaded
    later = tmp_path / "nan_2025.csv"  # one detection in Nan in FY 2568, stored outside the area
    later.write_text(
        FIXTURE.read_text().splitlines()[0] + "\n"
        "18.78000,100.78000,340.10,0.39,0.36,2025-03-02,0612,N,VIIRS,n,2.0NRT,295.30,10.00,D\n"
    )
    _ingest(sm, later)
    with sm() as s:
        assert s.execute(text("SELECT count(*) FROM hotspots WHERE acq_date_local >= '2025-01-01'")).scalar_one() == 1
        period, months = overview.choose(s, None, None, None)
    assert period == fiscal_period(2567)
    assert months and all(m.year == 2024 for m in months)


def test_a_neighbour_s_detections_alone_do_not_make_a_month_with_data(loaded):
    """The overview opens on the latest period "with data": detections of the neighbouring provinces, stored and
    marked outside, must not make one on their own (maps.layers.months_with_data)."""
    from geo_service.maps.layers import months_with_data

    with loaded() as s:
        months = months_with_data(s)
        assert months, "the fixture's Phrae detections make a month with data"
        # the same detections, all marked outside: no month has data (there are no incidents)
        s.execute(text("UPDATE hotspots SET in_aoi = false"))
        assert months_with_data(s) == []
        s.rollback()
