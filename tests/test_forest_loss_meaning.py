"""What the forest-loss figures *mean* (issue 14 review): every figure a person reads, on awkward hand-built data.

A test of storage is not a test of meaning: these check what a figure claims, over which area and period, in which
unit. The patches (zones written by hand, as the ingest's attribution would; 1 rai = 1,600 m2, 1 ha = 10,000 m2):

| id  | where                                                         | first / last alert      | area m2 | sources      |
|-----|---------------------------------------------------------------|-------------------------|---------|--------------|
| 201 | across the Phrae / Nan line, largest share in Phrae (5402)     | 2024-02-05 / 2024-02-09 | 8,000 = 4,800 in 54 + 3,200 in 55 | gfw_integrated |
| 202 | across the line, largest share in Nan (5501), 1,600 in 5403    | 2024-02-06 / 2024-02-07 | 8,000 = 1,600 in 54 + 6,400 in 55 | gfw_integrated |
| 203 | 5401, first alert 30 Sep, last 1 Oct (fiscal year edge)        | 2024-09-30 / 2024-10-01 | 3,200   | gfw_integrated |
| 204 | 5401, seen by two systems                                      | 2024-02-10 / 2024-02-12 | 4,800   | glad_l, radd |
| 205 | 5404, FY 2568, zones of districts only (no province row)       | 2025-01-15 / 2025-01-15 | 1,600   | gfw_integrated |

Phrae's clearing in FY 2567 (Oct 2023 - Sep 2024) is therefore 4,800 + 1,600 + 3,200 + 4,800 = 14,400 m2 = 1.44 ha
= 9 rai in 4 patches; the 3,200 + 6,400 m2 in Nan are never Phrae's; March to August 2024 are empty months.
Patch 205 stands for a deployment that loaded districts only: its part is found through its district's province.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date

import numpy as np
import pytest
from sqlalchemy import text

from geo_service.db.engine import transaction
from geo_service.forest_loss.decode import DECODERS, EPOCH, HIGH, LOW
from tests.conftest import ADMIN_TOKEN, app_client, cli_env, run_cli
from tests.forest_patches import insert_ingest, insert_zoned_patches
from tests.provinces import database_with_nan

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

# id: (lon, lat, first, last, area_m2, sources, conf, province (largest share), district (largest share), zones)
PATCHES = {
    201: (100.30, 18.42, "2024-02-05", "2024-02-09", 8_000.0, ["gfw_integrated"], 3, "54", "5402",
          [("province", "54", 4_800.0), ("province", "55", 3_200.0), ("district", "5402", 4_800.0),
           ("district", "5501", 3_200.0)]),
    202: (100.31, 18.43, "2024-02-06", "2024-02-07", 8_000.0, ["gfw_integrated"], 3, "55", "5501",
          [("province", "54", 1_600.0), ("province", "55", 6_400.0), ("district", "5403", 1_600.0),
           ("district", "5501", 6_400.0)]),
    203: (100.24, 18.18, "2024-09-30", "2024-10-01", 3_200.0, ["gfw_integrated"], 2, "54", "5401",
          [("province", "54", 3_200.0), ("district", "5401", 3_200.0)]),
    204: (100.25, 18.17, "2024-02-10", "2024-02-12", 4_800.0, ["glad_l", "radd"], 3, "54", "5401",
          [("province", "54", 4_800.0), ("district", "5401", 4_800.0)]),
    205: (100.10, 18.30, "2025-01-15", "2025-01-15", 1_600.0, ["gfw_integrated"], 3, "54", "5404",
          [("district", "5404", 1_600.0)]),
}  # fmt: skip


def _insert(factory) -> None:
    """The patches above, each a square 0.001 degree wide round its point."""
    d = 0.0005
    insert_zoned_patches(
        factory,
        {
            pid: ((lon - d, lat - d, lon + d, lat + d), first, last, m2, sources, conf, prov, dist, zones)
            for pid, (lon, lat, first, last, m2, sources, conf, prov, dist, zones) in PATCHES.items()
        },
        params_key="2" * 64,
    )


@pytest.fixture(scope="module")
def meaning(pg_cluster, template_db, tmp_path_factory):
    """Phrae, synthetic Nan and the patches above; a client whose area of interest is Phrae."""
    with database_with_nan(pg_cluster, template_db) as (url, factory):
        _insert(factory)
        with app_client(url, tmp_path_factory.mktemp("meaning"), aoi_provinces=["54"]) as client:
            yield client, factory, url


def _summary(client, **params) -> dict:
    r = client.get("/api/v1/forest-loss/summary", headers=ADMIN, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _rows(summary: dict) -> dict:
    return {(r["period"], r["code"]): (r["patches"], r["area_m2"], r["area_rai"]) for r in summary["rows"]}


def test_a_patch_across_the_province_line_counts_by_its_share_inside(meaning):
    client, _, _ = meaning
    s = _summary(client, by="district", period="fiscal_year", province="54", to="2024-09-30")
    assert _rows(s) == {
        ("2567", "5401"): (2, 8_000.0, 5.0),  # 203 (3,200) + 204 (4,800)
        ("2567", "5402"): (1, 4_800.0, 3.0),  # 201's part in Phrae only
        ("2567", "5403"): (1, 1_600.0, 1.0),  # 202's part in Phrae, though its largest share is in Nan
    }
    assert s["total"]["patches"] == 4 and s["total"]["area_m2"] == 14_400.0
    assert (s["total"]["area_ha"], s["total"]["area_rai"]) == (1.44, 9.0)
    # a national caller's figures are the area of interest's (Phrae): the same, never Nan's district
    national = _summary(client, by="district", period="fiscal_year", to="2024-09-30")
    assert _rows(national) == _rows(s) and national["total"] == s["total"]
    # districts only (no province row): the part is found through the district's province
    assert _rows(_summary(client, by="district", period="fiscal_year", province="54", **{"from": "2024-10-01"})) == {
        ("2568", "5404"): (1, 1_600.0, 1.0)
    }
    # Nan is outside the area of interest: its figures count nothing, not even its share of 201 and 202
    assert _summary(client, by="district", period="fiscal_year", province="55")["total"]["patches"] == 0


def test_fiscal_year_and_month_are_those_of_the_first_alert(meaning):
    client, _, _ = meaning
    months = _summary(client, by="district", period="month", province="54")
    assert [p["period"] for p in months["periods"]] == ["2024-02", "2024-09", "2025-01"]  # 203: September
    sep = next(r for r in months["rows"] if r["period"] == "2024-09")
    assert (sep["code"], sep["period_th"], sep["period_en"]) == ("5401", "9/2567", "September 2567 BE")
    fy68 = _summary(client, by="district", period="fiscal_year", province="54", **{"from": "2024-10-01"})
    assert [r["code"] for r in fy68["rows"]] == ["5404"]  # 205 only: 203's last alert on 1 Oct does not move it
    # the patch list selects by the alert span instead, and says so: 203 is alerting in October too
    r = client.get("/api/v1/forest-loss/patches", headers=ADMIN, params={"from": "2024-10-01"})
    assert [f["id"] for f in r.json()["features"]] == [205, 203]


def test_the_brief_counts_phrae_by_share_and_each_source_of_a_two_source_patch(meaning):
    client, _, _ = meaning
    r = client.post("/api/v1/briefs", headers=ADMIN, json={"fiscal_year_be": 2567, "province": "54"})
    assert r.status_code == 201, r.text
    fl = r.json()["figures"]["forest_loss"]
    assert (fl["total"]["patches"], fl["total"]["area_m2"], fl["total"]["area_rai"]) == (4, 14_400.0, 9.0)
    assert [d["code"] for d in fl["by_district"]] == ["5401", "5402", "5403"]  # never Nan's 5501
    by_source = {s["source"]: (s["patches"], s["area_m2"]) for s in fl["by_source"]}
    # 204 counts for GLAD-L and for RADD (each row says what that system saw); the total counts it once
    assert by_source == {"gfw_integrated": (3, 9_600.0), "glad_l": (1, 4_800.0), "radd": (1, 4_800.0)}
    assert "share" in fl["definition_en"] and "neighbouring province is not counted" in fl["definition_en"]
    html = client.get(f"/api/v1/briefs/{r.json()['id']}", headers=ADMIN).text
    assert "5501" not in html
    # what a reader could misread is said: rows that overlap, and the store-wide count in the data sources
    assert "counts in each district by its part inside" in html and "A patch seen by several sources" in html
    assert "current patches stored, every area" in html


def test_open_data_and_the_aggregate_collection_count_the_same_parts(meaning):
    client, _, _ = meaning
    r = client.get("/open/data/clearing_by_district_month.csv")
    assert r.status_code == 200, r.text
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    got = {(x["district_code"], x["month"]): (x["patches"], x["area_ha"], x["area_rai"]) for x in rows}
    assert got[("5402", "2024-02")] == ("1", "0.48", "3.0")
    assert got[("5403", "2024-02")] == ("1", "0.16", "1.0")
    assert got[("5401", "2024-02")] == ("1", "0.48", "3.0")
    assert got[("5401", "2024-09")] == ("1", "0.32", "2.0")
    assert got[("5401", "2024-05")] == ("0", "0.0", "0.0")  # an empty month is a zero, not a gap
    assert not [k for k in got if k[0] in ("5501", "")]  # no neighbour's district, no "no district" row
    assert got[("5404", "2025-01")] == ("1", "0.16", "1.0")
    assert sum(int(v[0]) for v in got.values()) == 5  # each patch once (each lies in one Phrae district)
    fc = client.get("/ogc/collections/forest_loss_by_district/items", headers=ADMIN, params={"limit": 100}).json()
    agg = {
        (f["properties"]["district_code"], f["properties"]["month"]): (
            f["properties"]["patches"],
            f["properties"]["area_rai"],
        )
        for f in fc["features"]
    }
    assert agg == {("5401", "2024-02"): (1, 3.0), ("5401", "2024-09"): (1, 2.0), ("5402", "2024-02"): (1, 3.0),
                   ("5403", "2024-02"): (1, 1.0), ("5404", "2025-01"): (1, 1.0)}  # fmt: skip


# --- encodings ------------------------------------------------------------------------------------------------
def test_glad_s2_as_umd_publishes_it():
    """UMD's GLAD-S2 tiles: alert 1 = low, 2..4 = high; alertDate = days since 2018-12-31. GFW's conversion of the
    same pixels (20000 + 10000 * (alert > 1) + alertDate + 1461) is the hand-checked answer."""
    alert = np.array([[0, 1, 2, 4]], dtype=np.uint8)
    alert_date = np.array([[0, 1, 100, 2000]], dtype=np.uint16)
    got = DECODERS["glad_s2_umd"](np.stack([alert, alert_date]))
    gfw = np.where(alert > 0, 20000 + 10000 * (alert > 1) + alert_date.astype(np.int32) + 1461, 0)
    expect = DECODERS["glad_s2_gfw"](gfw)
    assert (got.days == expect.days).all() and (got.confidence == expect.confidence).all()
    assert got.confidence.tolist() == [[0, LOW, HIGH, HIGH]]
    assert [EPOCH + __import__("datetime").timedelta(days=int(d)) for d in got.days[0, 1:]] == [
        date(2019, 1, 1),
        date(2019, 4, 10),
        date(2024, 6, 22),
    ]
    with pytest.raises(Exception) as e:  # a level above 4, or an alert without a date, is not this encoding
        DECODERS["glad_s2_umd"](np.stack([np.array([[5, 1]], np.uint8), np.array([[10, 0]], np.uint16)]))
    assert getattr(e.value, "code", "") == "alert_encoding"


def test_dist_alert_date_origin_and_confirmed_statuses():
    """DIST-ALERT: VEG-DIST-DATE counts days from 2020-12-31 (day 1 = 2021-01-01); statuses 3, 6, 7, 8 are the
    confirmed ones (high), 1, 2, 4, 5 first or provisional detections (low); 255 is no data."""
    status = np.array([[1, 2, 3, 4, 5, 6, 7, 8, 255, 0]], dtype=np.uint8)
    ddate = np.array([[1, 1, 1, 1, 1, 1, 1, 1, -1, -1]], dtype=np.int16)
    got = DECODERS["dist_alert"](np.stack([status, ddate]))
    assert got.confidence.tolist() == [[LOW, LOW, HIGH, LOW, LOW, HIGH, HIGH, HIGH, 0, 0]]
    assert {int(d) for d in got.days[got.mask]} == {(date(2021, 1, 1) - EPOCH).days}


def test_glad_s2_umd_two_files_ingest(db_url, sessionmaker_for, tmp_path):
    """The alert and alertDate tiles as two GeoTIFFs, through the ingest: the same patches as the GFW form."""
    from geo_service.forest_loss import store
    from geo_service.forest_loss.ingest import ingest_files
    from geo_service.settings import ForestLossSettings
    from tests import forest_alert_rasters as far

    sm = sessionmaker_for(db_url)
    alert = np.zeros((12, 12), dtype=np.uint8)
    alert_date = np.zeros((12, 12), dtype=np.uint16)
    alert[2:5, 2:5], alert_date[2:5, 2:5] = 3, (date(2023, 3, 1) - date(2018, 12, 31)).days  # 1521: high
    alert[8:10, 8:10], alert_date[8:10, 8:10] = 1, 1530  # low, 2023-03-10
    fa = far.write(tmp_path / "alert.tif", alert, far.PHRAE_10M, far.UTM47)
    fd = far.write(tmp_path / "alertDate.tif", alert_date, far.PHRAE_10M, far.UTM47)
    with transaction(sm) as session:
        r = ingest_files(session, [fa, fd], encoding="glad_s2_umd", settings=ForestLossSettings())
    assert r.source == "glad_s2"
    with transaction(sm) as session:
        rows = [dict(x) for x in store.patches_of(session, r.patch_ids)]
    got = sorted((p["pixels"], p["first_date"], p["confidence_max"], p["sources"]) for p in rows)
    assert got == [(4, date(2023, 3, 10), LOW, ["glad_s2"]), (9, date(2023, 3, 1), HIGH, ["glad_s2"])]


HOSTILE_FILE = "[/x][red]alerts[/red] [link=https://evil.example]x[/link].tif"


@pytest.mark.slow  # a CLI process of its own (imports, database check): a few seconds
def test_hostile_file_and_place_names_reach_the_terminal_as_text(meaning, tmp_path):
    """A file name (from the uploader) and place names (from layers) are data: rich must print them, not read
    them as markup (a closing tag of nothing used to crash ``forest-loss list`` with a traceback)."""
    _, factory, url = meaning
    with transaction(factory) as session:
        insert_ingest(
            session,
            source="radd",
            encoding="radd_wur",
            file_name=HOSTILE_FILE,
            file_sha256="3" * 64,
            params_key="4" * 64,
            crs="EPSG:32647",
        )
    env = cli_env(url, tmp_path / "var", COLUMNS="250", GEO_SERVICE_AOI_PROVINCES="54")
    r = run_cli(env, "forest-loss", "list", timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and HOSTILE_FILE in r.stdout


def test_a_reserve_declared_after_the_alert_does_not_hold_the_patch(db_url, sessionmaker_for, tmp_path):
    """Protected areas are those in force on the patch's first alert date: a clearing alerted before a reserve's
    boundary came into force is not "in the reserve" (not in its zones, its reserve code or a reserve row); one
    alerted after it is."""
    import shapely
    from pyproj import Transformer

    from geo_service.forest_loss import store
    from geo_service.forest_loss.ingest import ingest_files
    from geo_service.settings import ForestLossSettings
    from tests import forest_alert_rasters as far

    sm = sessionmaker_for(db_url)
    with transaction(sm) as session:
        code, wkb = session.execute(
            text("""SELECT code, ST_AsBinary(geom) FROM protected_areas_on(DATE '2024-01-01')
                    WHERE kind = 'national_reserved_forest' ORDER BY code LIMIT 1""")
        ).one()
        # updated_at as the layers store writes it: the process-wide Gazetteer (which forest_loss.measure reads
        # the zones from) is rebuilt when the layers' version changes
        session.execute(
            text(
                "UPDATE protected_areas SET valid_from = DATE '2024-06-01', updated_at = clock_timestamp() WHERE code = :c"
            ),
            {"c": code},
        )
    reserve = shapely.ops.transform(
        Transformer.from_crs(4326, 32647, always_xy=True).transform, shapely.from_wkb(bytes(wkb))
    )
    inner = reserve.buffer(-300)
    px, py = inner.representative_point().coords[0]
    x0, y0 = round(px / 10) * 10, round(py / 10) * 10
    blocks = [
        (np.s_[0:5, 0:5], date(2024, 2, 10), 3),  # before the reserve is in force
        (np.s_[20:25, 20:25], date(2024, 7, 1), 3),  # after
    ]
    f = far.gfw_tile(tmp_path / "late.tif", blocks, shape=(30, 30), transform=far.from_origin(x0, y0, 10, 10))
    assert inner.contains(shapely.box(x0, y0 - 300, x0 + 300, y0))  # both patches well inside the boundary
    with transaction(sm) as session:
        r = ingest_files(session, [f], encoding="gfw_integrated", settings=ForestLossSettings())
    with transaction(sm) as session:
        rows = {p["first_date"]: dict(p) for p in store.patches_of(session, r.patch_ids)}
        zones = {(z["patch_id"], z["zone_type"], z["zone_code"]) for z in store.patch_zones(session, r.patch_ids)}
    early, late = rows[date(2024, 2, 10)], rows[date(2024, 7, 1)]
    assert (early["id"], "protected_area", code) not in zones and early["reserve_code"] != code
    assert code not in (early["protected_area_codes"] or [])
    assert (late["id"], "protected_area", code) in zones and late["reserve_code"] == code


def test_a_field_check_still_counts_after_its_patch_is_absorbed(db_url, sessionmaker_for):
    """Per-source shares ("which alert system is trustworthy here") count field checks: a patch verified in the
    field and later absorbed by an older one (merged_into) keeps counting for its sources."""
    from geo_service.auth import Principal, Role
    from geo_service.forest_loss import tasks

    sm = sessionmaker_for(db_url)
    with transaction(sm) as session:
        ingest = insert_ingest(
            session,
            source="radd",
            encoding="radd_wur",
            file_name="r.tif",
            file_sha256="5" * 64,
            params_key="6" * 64,
            crs="EPSG:32647",
        )
        for pid, sources, verification, merged in (
            (302, ["glad_l", "radd"], "unverified", None),
            (301, ["radd"], "verified", 302),  # checked, then absorbed by 302 when later alerts joined them
            (303, ["glad_l"], "false_alarm", None),
        ):
            session.execute(
                text(
                    """INSERT INTO clearing_patches (id, sources, first_date, last_date, pixels, area_m2,
                           confidence_max, pixels_low, pixels_high, pixels_highest, province_code, in_aoi,
                           verification, merged_into, first_ingest_id, last_ingest_id, geom)
                       VALUES (:id, :s, DATE '2024-02-01', DATE '2024-02-03', 10, 1000, 3, 0, 10, 0, '54', true,
                           :v, :m, :i, :i, ST_Multi(ST_MakeEnvelope(100.2, 18.2, 100.201, 18.201, 4326)))"""
                ),
                {"id": pid, "s": sources, "v": verification, "m": merged, "i": ingest},
            )
    with transaction(sm) as session:
        shares = tasks.verification_shares(session, Principal(name="t", roles=frozenset({Role.administrator})))
    got = {
        s["source"]: (s["patches"], s["checked"], s["verified"], s["false_alarm"], s["unverified"], s["verified_share"])
        for s in shares["sources"]
    }
    assert got == {"radd": (1, 1, 1, 0, 1, 1.0), "glad_l": (2, 1, 0, 1, 1, 0.0)}


def test_figures_follow_the_area_of_interest_not_a_stale_flag(meaning):
    """The in_aoi flag is stored at ingest and not re-marked when GEO_SERVICE_AOI_PROVINCES changes: the figures
    count the parts inside the area's provinces as they are now, so a stale flag changes nothing."""
    from geo_service.forest_loss import queries

    _, factory, _ = meaning
    with factory() as session:  # rolled back at the end
        session.execute(text("UPDATE clearing_patches SET in_aoi = false WHERE id = 204"))
        s = queries.summarise(session, queries.SummaryQuery(provinces=["54"], date_to=date(2024, 9, 30)))
        session.rollback()
    assert (s["total"]["patches"], s["total"]["area_m2"]) == (4, 14_400.0)


def test_a_false_alarm_is_no_forest_loss(meaning):
    """A patch the field check found to be a false alarm leaves the summaries, the brief and the open data (it
    stays in the per-source verification shares); an "already known" one still counts."""
    from geo_service.forest_loss import counts, queries

    _, factory, _ = meaning
    with factory() as session:  # rolled back at the end
        session.execute(text("UPDATE clearing_patches SET verification = 'false_alarm' WHERE id = 204"))
        session.execute(text("UPDATE clearing_patches SET verification = 'already_known' WHERE id = 203"))
        s = queries.summarise(session, queries.SummaryQuery(provinces=["54"], date_to=date(2024, 9, 30)))
        brief = queries.brief_figures(session, date(2023, 10, 1), date(2024, 9, 30), "54")
        opendata = {(d, m.isoformat()[:7]): (n, a) for d, m, n, a in counts.district_month_counts(session)["rows"]}
        session.rollback()
    assert (s["total"]["patches"], s["total"]["area_m2"]) == (3, 9_600.0)  # 14,400 - 4,800
    assert {r["source"] for r in brief["by_source"]} == {"gfw_integrated"}  # 204 was the GLAD-L / RADD one
    assert ("5401", "2024-02") not in opendata and opendata[("5401", "2024-09")] == (1, 3_200.0)


def test_a_patch_partly_in_a_reserve_says_how_much(meaning):
    """The map label and the evidence pack name the reserve holding a patch's largest share: with its share when
    the patch is not wholly inside ("in NRF-X (40 % of the patch)", never a bare "in NRF-X")."""
    from geo_service.forest_loss import evidence
    from geo_service.maps.forest_layers import patch_label

    _, factory, _ = meaning
    with factory() as session:  # rolled back at the end
        code = session.execute(text("SELECT code FROM latest_protected_areas ORDER BY code LIMIT 1")).scalar_one()
        session.execute(text("UPDATE clearing_patches SET reserve_code = :c WHERE id = 204"), {"c": code})
        session.execute(
            text(
                "INSERT INTO clearing_patch_zones (patch_id, zone_type, zone_code, area_m2, share) "
                "VALUES (204, 'protected_area', :c, 1920, 0.4)"
            ),
            {"c": code},
        )
        (card,) = evidence.patch_cards(session, ["204"])
        (whole,) = evidence.patch_cards(session, ["203"])
        session.rollback()
    assert card["reserve_share"] == pytest.approx(0.4) and whole["reserve_share"] is None
    assert "(40% ของแปลง &#47; of the patch)" in patch_label(dict(card))  # escaped as every label


def test_a_false_alarm_is_never_suggested_as_evidence(meaning):
    """Case suggestions (near a case's incidents, inside its reserves) leave out a patch the field check found to
    be a false alarm."""
    from datetime import datetime

    import shapely

    from geo_service.forest_loss import evidence

    _, factory, _ = meaning
    lon, lat = PATCHES[204][0], PATCHES[204][1]
    incident = (
        1,
        shapely.to_wkb(shapely.Point(lon, lat), include_srid=False),
        datetime(2024, 2, 11, tzinfo=UTC),
    )
    with factory() as session:  # rolled back at the end
        session.execute(
            text(
                "INSERT INTO clearing_patch_zones (patch_id, zone_type, zone_code, area_m2, share) "
                "VALUES (204, 'protected_area', 'NRF-TEST', 4800, 1)"
            )
        )

        def found() -> tuple[list[int], list[int]]:
            near = evidence.near_incidents(session, [incident], distance_m=500, days=30)
            inside = evidence.in_protected_areas(session, ["NRF-TEST"], date(2024, 1, 1), date(2024, 12, 31))
            return [r["id"] for r in near], [r["id"] for r in inside]

        before = found()
        session.execute(text("UPDATE clearing_patches SET verification = 'false_alarm' WHERE id = 204"))
        after = found()
        session.rollback()
    assert before == ([204], [204]) and after == ([], [])
