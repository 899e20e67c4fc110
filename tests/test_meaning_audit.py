"""What a reader sees, checked against hand-worked answers (not what is stored): days of instants in Asia/Bangkok,
links that open the day an alert speaks of, and the brief's dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pytest

from geo_service.alerts.render import describe
from geo_service.thai import be_dmy

HEADER = "latitude,longitude,bright_ti4,scan,track,acq_date,acq_time,satellite,instrument,confidence,version,bright_ti5,frp,daynight"


def firms(*rows: str) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode()


def det(lat: float, lon: float, day: str, hhmm: str, frp: float = 10.0) -> str:
    """A VIIRS detection; FIRMS dates and times are UTC."""
    return f"{lat},{lon},330,0.4,0.4,{day},{hhmm},N,VIIRS,n,2.0NRT,290,{frp},N"


def test_be_dmy_of_an_instant_is_its_bangkok_day():
    """00:30 on 1 October in Bangkok is 17:30 UTC on 30 September: officials read 1/10, not 30/9 (and so the
    fiscal year that just began, not the one that ended)."""
    utc = datetime(2024, 9, 30, 17, 30, tzinfo=UTC)
    assert be_dmy(utc) == "1/10/2567"
    assert be_dmy(utc.isoformat()) == "1/10/2567"  # as stored in a brief's JSON figures
    assert be_dmy("2024-09-30T17:30:00Z") == "1/10/2567"
    assert be_dmy(utc.astimezone(timezone(timedelta(hours=-5)))) == "1/10/2567"
    # 23:30 on 30 September in Bangkok stays 30/9
    assert be_dmy(datetime(2024, 9, 30, 16, 30, tzinfo=UTC)) == "30/9/2567"
    # days, and times with no offset (already local), are read as written
    assert be_dmy(date(2024, 9, 30)) == be_dmy("2024-09-30") == be_dmy("2024-09-30T23:30:00") == "30/9/2567"
    assert be_dmy(None, missing="—") == "—" and be_dmy("") == ""


def test_an_alert_s_map_link_opens_the_bangkok_day_of_the_detection():
    """The overview map's from/to are Bangkok days: a detection at 00:30 on 1 October (17:30 UTC on 30 September)
    linked to the map of 30 September, which does not show it."""
    payload = {
        "what": "hotspot",
        "lon": 100.05,
        "lat": 17.95,
        "at": "2024-09-30T17:30:00+00:00",
        "instrument": "VIIRS",
        "satellite": "N",
        "confidence": 2,
    }
    d = describe(payload, {}, "en", "https://example.org/")
    assert d.link == "https://example.org/maps/overview?from=2024-10-01&to=2024-10-01"
    assert d.when == "1/10/2567 00:30 (Asia/Bangkok)"
    evening = describe({**payload, "at": "2024-09-30T16:30:00+00:00"}, {}, "th", "https://example.org")
    assert evening.link.endswith("from=2024-09-30&to=2024-09-30") and evening.when == "30/9/2567 23:30 น."


@pytest.mark.slow
def test_the_brief_dates_its_latest_detection_by_the_bangkok_day_and_counts_by_fiscal_year(
    client, login, admin_headers
):
    """A detection at 23:30 Bangkok on 30 September 2024 is FY 2567's; one at 00:30 on 1 October is FY 2568's, and
    it is the latest detection, which the brief's sources line dated 30/9/2567 (the UTC day)."""
    committee = login("committee_m", "committee_member")
    csv = firms(
        det(17.95, 100.05, "2024-09-30", "1630"),  # 23:30 Bangkok, 30 Sep: FY 2567, Den Chai
        det(17.951, 100.051, "2024-09-30", "1730"),  # 00:30 Bangkok, 1 Oct: FY 2568
    )
    r = client.post("/api/v1/admin/hotspots/firms", headers=admin_headers, files={"file": ("fy.csv", csv)})
    assert r.status_code == 201, r.text
    made = client.post("/api/v1/briefs", headers=committee, json={"fiscal_year_be": 2567})
    assert made.status_code == 201, made.text
    f = made.json()["figures"]
    assert f["hotspots"]["total"] == 1 and f["hotspots"]["weekly"][-1] == 1  # 30 Sep is in the last week
    assert f["hotspots"]["outside_aoi"] == 0  # the other one is next year's, not "outside"
    nxt = client.post("/api/v1/briefs", headers=committee, json={"fiscal_year_be": 2568, "quarter": 1}).json()
    assert nxt["figures"]["hotspots"]["total"] == 1 and nxt["figures"]["hotspots"]["weekly"][0] == 1
    page = client.get(f"/api/v1/briefs/{made.json()['id']}", headers=committee).text
    assert "latest detection 1/10/2567" in page, page[page.find("NASA FIRMS hotspots") :][:200]
    made_day = datetime.fromisoformat(made.json()["created_at"]).astimezone(UTC)
    from geo_service.thai import BANGKOK

    assert f"made {be_dmy(made_day.astimezone(BANGKOK).date())}" in page


def _midnight_hotspots(client, admin_headers) -> None:
    """Three detections in Den Chai around the start of FY 2568: 23:30 Bangkok on 30 Sep, 00:30 Bangkok on 1 Oct
    and 06:50 Bangkok on 2 Oct (FIRMS times are UTC)."""
    csv = firms(
        det(17.95, 100.05, "2024-09-30", "1630", 1.0),
        det(17.951, 100.051, "2024-09-30", "1730", 2.0),
        det(17.952, 100.052, "2024-10-01", "2350", 3.0),
    )
    r = client.post("/api/v1/admin/hotspots/firms", headers=admin_headers, files={"file": ("mid.csv", csv)})
    assert r.status_code == 201, r.text


def test_an_export_s_days_are_bangkok_days_as_its_local_dates_say(client, admin_headers):
    """``/api/v1/exports/hotspots?from=2024-10-01&to=2024-10-01`` gave the detection of 06:50 on 2 October (its
    acq_date_local "2024-10-02") and not the one of 00:30 on 1 October: the days were UTC days, unlike the hotspot
    API's, the brief's and the map's."""
    _midnight_hotspots(client, admin_headers)
    fc = client.get("/api/v1/exports/hotspots", params={"from": "2024-10-01", "to": "2024-10-01"}).json()
    assert [(f["properties"]["frp"], f["properties"]["acq_date_local"]) for f in fc["features"]] == [
        (2.0, "2024-10-01")
    ]
    api = client.get("/api/v1/hotspots", params={"from": "2024-10-01", "to": "2024-10-01", "area": "all"}).json()
    assert [f["properties"]["frp_mw"] for f in api["features"]] == [2.0]  # the same day as the hotspot API's
    assert fc["metadata"]["period"] == {"from": "2024-10-01", "to": "2024-10-01", "days_in": "Asia/Bangkok"}
    last_fy = client.get("/api/v1/exports/hotspots", params={"to": "2024-09-30"}).json()
    assert [f["properties"]["acq_date_local"] for f in last_fy["features"]] == ["2024-09-30"]


def test_an_ogc_datetime_date_is_the_whole_day(client, admin_headers):
    """``datetime=2024-10-01`` (an RFC 3339 date: a day, UTC as the OGC intervals read it) compared the acquisition
    time with midnight and matched nothing; an interval's last day stopped at 23:59:59.000."""
    _midnight_hotspots(client, admin_headers)
    day = client.get("/ogc/collections/hotspots/items", params={"datetime": "2024-10-01"}).json()
    assert day["numberMatched"] == 1 and day["features"][0]["properties"]["frp"] == 3.0  # 23:50 UTC on 1 Oct
    span = client.get("/ogc/collections/hotspots/items", params={"datetime": "2024-09-30/2024-09-30"}).json()
    assert sorted(f["properties"]["frp"] for f in span["features"]) == [1.0, 2.0]
    instant = client.get("/ogc/collections/hotspots/items", params={"datetime": "2024-09-30T17:30:00Z"}).json()
    assert [f["properties"]["frp"] for f in instant["features"]] == [2.0]


@pytest.mark.slow
def test_the_brief_says_what_its_hotspot_count_and_burned_area_add_up(client, login, admin_headers, tmp_path):
    """One fire seen by MODIS (1 km) and VIIRS (375 m) is two detections, and two daily fire masks of one 4 ha
    fire are 8 "burned" ha: the brief printed both sums with no word that they are sums (the reader took 2 fires
    and 8 ha)."""
    from tests.samples import MODIS_HEADER
    from tests.test_raster_products import _tif, upload

    committee = login("committee_s", "committee_member")
    viirs = firms(det(18.4695, 100.2157, "2024-03-14", "0630"))
    modis = (
        MODIS_HEADER + "18.4700,100.2160,320.0,1.0,1.0,2024-03-14,0335,Terra,MODIS,80,6.1NRT,295.0,20.0,D\n"
    ).encode()
    for name, body in (("v.csv", viirs), ("m.csv", modis)):
        r = client.post("/api/v1/admin/hotspots/firms", headers=admin_headers, files={"file": (name, body)})
        assert r.status_code == 201, r.text
    for day, cloud in (("2024-03-14", 0), ("2024-03-15", 1)):  # the same 4 pixels of 1 ha burning on two days
        a = np.full((20, 20), 5, dtype=np.uint8)
        a.flat[:4] = 9
        a.flat[399] = 4 if cloud else 5  # a cloud elsewhere: another day's file
        r = upload(client, admin_headers, _tif(tmp_path / f"mask_{day}.tif", a, nodata=255), "fire_mask", day=day)
        assert r.status_code == 201, r.text
    made = client.post("/api/v1/briefs", headers=committee, json={"fiscal_year_be": 2567})
    assert made.status_code == 201, made.text
    f = made.json()["figures"]
    assert f["hotspots"]["total"] == 2 and f["hotspots"]["by_sensor"] == {"MODIS": 1, "VIIRS": 1}
    assert [r["ha"] for r in f["burned_ha_by_district"] if r["code"] == "5406"] == [8.0]  # a sum, not the 4 ha
    page = client.get(f"/api/v1/briefs/{made.json()['id']}", headers=committee).text
    assert "MODIS 1, VIIRS 1" in page and "these are detections, not fires" in page
    assert "counts in each, so the figure can exceed the ground that burned" in page


def test_a_long_thai_text_in_a_shapefile_is_cut_between_letters_and_says_so(client, login, admin_headers, tmp_path):
    """A dBase text field holds 254 bytes: 84 Thai letters in UTF-8. GDAL cut a longer description silently, and
    where it fell between a consonant and its vowel mark it changed the word (ชาติ "nation" became ชาต); the reader
    of the Shapefile saw a whole-looking, wrong text. Now the cut falls before the letter whose mark would be lost,
    ends with "…", and metadata.json counts the cut values per field."""
    import io
    import json
    import zipfile

    import pyogrio

    officer = login("officer_t", "field_officer")
    tail = " ป่าสงวนแห่งชาติป่าแม่ยมฝั่งตะวันออก"
    # GDAL's 254 bytes fall between ต and its vowel ิ (a combining mark): it wrote ชาต
    gdal_cut = "ก" * 81 + "ชาติ" + tail
    assert len(gdal_cut[:84].encode()) == 252 and gdal_cut[83:85] == "ติ"
    # 251 bytes (room for "…") fall between ต and ิ: the cut goes before ต
    mark_cut = "ก" * 80 + "ชาติ" + tail
    for text_ in (gdal_cut, mark_cut, "สั้น"):
        r = client.post(
            "/api/v1/incidents",
            headers=officer,
            json={"kind": "wildfire", "description": text_, "location": {"lat": 18.2, "lon": 100.3}},
        )
        assert r.status_code == 201, r.text
    got = client.get("/api/v1/exports/incidents", params={"f": "shp"}, headers=admin_headers)
    assert got.status_code == 200, got.text
    with zipfile.ZipFile(io.BytesIO(got.content)) as zf:
        zf.extractall(tmp_path)
        meta = json.loads(zf.read("metadata.json"))
    shp = next(tmp_path.glob("*.shp"))
    descr = sorted(pyogrio.read_dataframe(shp)["descr"], key=len)
    assert descr[0] == "สั้น"
    for written, full in zip(sorted(descr[1:]), sorted((gdal_cut, mark_cut)), strict=True):
        assert written.endswith("…") and len(written.encode()) <= 254
        kept = written[:-1]
        assert full.startswith(kept) and kept.endswith("ชา")  # never "ชาต", a word the officer never wrote
    assert meta["dbf_truncated"] == {"descr": 2}


def test_a_clearing_alert_gives_its_alert_dates_and_links_the_map_of_them():
    """Forest-loss alerts arrive days or weeks after the clearing: the message said "When: <the ingest's time>" and
    linked the overview map of the ingest day, which draws the patches alerting on that day, so not this one."""
    payload = {
        "what": "clearing_patch",
        "patch_id": 7,
        "lon": 100.2,
        "lat": 18.4,
        "at": "2024-03-20T03:15:00.123456+00:00",  # when the ingest stored it
        "first_date": "2024-02-27",
        "last_date": "2024-03-05",
        "area_m2": 10_800.0,
    }
    en = describe(payload, {}, "en", "https://example.org")
    assert en.link == "https://example.org/maps/overview?from=2024-02-27&to=2024-03-05"
    assert en.when == "Alerts 27/2/2567 – 5/3/2567"
    th = describe(payload, {}, "th", "https://example.org")
    assert th.when == "แจ้งเตือน 27/2/2567 – 5/3/2567" and th.link == en.link
    assert "6.8 rai" in en.title and "1.08 ha" in en.title


def test_the_red_flag_sheet_dates_its_timeline_by_the_bangkok_day(client, admin_headers):
    """A contract loaded at 00:30 on 1 October in Bangkok (17:30 UTC on 30 September) was printed on the sheet's
    timeline as "30/9/2567", the UTC day: the fiscal year before the one it was loaded in."""
    from sqlalchemy import text

    from geo_service.redflags import sheet
    from tests.samples import post_red_flag_contracts

    post_red_flag_contracts(client, admin_headers)
    sm = client.app.state.sessionmaker
    with sm() as s, s.begin():
        cid = s.execute(text("SELECT min(record_id) FROM redflag_contract_history")).scalar_one()
        s.execute(
            text("UPDATE redflag_contract_history SET changed_at = :t WHERE record_id = :id"),
            {"t": datetime(2024, 9, 30, 17, 30, tzinfo=UTC), "id": cid},
        )
    with sm() as s, s.begin():
        built = sheet.build(s, "contract", cid)
        html = sheet.render_html(built)
    loaded = [t for t in built["timeline"] if t["what"].startswith("version 1")]
    assert [t["when"] for t in loaded] == ["2024-10-01"]
    assert "<td>1/10/2567</td><td>version 1" in html


def test_a_brief_of_a_period_not_over_compares_the_same_days_a_year_earlier(client, login, admin_headers):
    """A brief of FY 2567 made on 1 March 2024 counted five months of this year against the whole of FY 2566
    ("1 against 3": a fall that was not one), and drew the weeks to come as weeks without fire."""
    from geo_service.reports.brief import brief_period, compute_figures, render_html

    csv = firms(
        det(17.95, 100.05, "2023-10-05", "0630"),  # FY 2567, before 1 March
        det(17.95, 100.05, "2022-10-05", "0630"),  # FY 2566, the same days
        det(17.951, 100.051, "2023-02-20", "0630"),  # FY 2566, the same days
        det(17.952, 100.052, "2023-06-01", "0630"),  # FY 2566, after the same days
    )
    r = client.post("/api/v1/admin/hotspots/firms", headers=admin_headers, files={"file": ("p.csv", csv)})
    assert r.status_code == 201, r.text
    with client.app.state.sessionmaker() as s, s.begin():
        f = compute_figures(s, brief_period(2567), today=date(2024, 3, 1))
        page = render_html(
            s, {"id": 1, "data_version": "x", "figures": f, "created_by": None, "created_at": "2024-03-01"}
        )
        done = compute_figures(s, brief_period(2567), today=date(2024, 10, 1))
    assert f["hotspots"]["total"] == 1 and f["hotspots_previous_year"]["total"] == 2
    assert (f["hotspots_previous_year"]["from"], f["hotspots_previous_year"]["to"]) == ("2022-10-01", "2023-03-01")
    assert f["period"]["in_progress"] is True and f["period"]["counted_to"] == "2024-03-01"
    weekly = f["hotspots"]["weekly"]
    assert len(weekly) == 53 and weekly[0] == 1 and weekly[21] == 0 and weekly[22:] == [None] * 31
    assert "counted to 1/3/2567" in page and "(1/10/2565 – 1/3/2566)" in page
    # the year over: the whole of both years
    assert done["hotspots"]["total"] == 1 and done["hotspots_previous_year"]["total"] == 3
    assert done["period"]["in_progress"] is False and None not in done["hotspots"]["weekly"]


def test_an_ogc_collection_s_extent_is_the_callers_own_features(
    db_url, sessionmaker_for, client_factory, admin_headers
):
    """The OGC extent of a province-scoped collection was computed over every province's features and shared by
    every caller: a Phrae investigator read in /ogc/collections/incidents a bbox whose corners were the position
    of a Nan incident he may not see."""
    from tests.conftest import PASSWORD
    from tests.provinces import NAN_POINT, PHRAE_POINT, load_nan

    load_nan(sessionmaker_for(db_url))
    client = client_factory(db_url)

    def login(username: str, role: str, provinces: list[str]) -> dict:
        body = {"username": username, "password": PASSWORD, "roles": [role], "provinces": provinces}
        assert client.post("/api/v1/admin/users", headers=admin_headers, json=body).status_code == 201
        r = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    for who, point in (("nan_officer", NAN_POINT), ("phrae_officer", PHRAE_POINT)):
        headers = login(who, "field_officer", ["55" if who.startswith("nan") else "54"])
        r = client.post("/api/v1/incidents", headers=headers, json={"kind": "wildfire", "location": point})
        assert r.status_code == 201, r.text
    phrae = login("phrae_inv", "investigator", ["54"])
    nan = login("nan_inv", "investigator", ["55"])
    own = [round(PHRAE_POINT["lon"], 7), round(PHRAE_POINT["lat"], 7)] * 2
    for path in ("/ogc/collections/incidents", "/ogc/collections"):
        doc = client.get(path, headers=phrae).json()
        coll = doc if "id" in doc else next(c for c in doc["collections"] if c["id"] == "incidents")
        assert coll["extent"]["spatial"]["bbox"] == [own], path
    nan_doc = client.get("/ogc/collections/incidents", headers=nan).json()
    assert nan_doc["extent"]["spatial"]["bbox"] == [[round(NAN_POINT["lon"], 7), round(NAN_POINT["lat"], 7)] * 2]
    both = client.get("/ogc/collections/incidents", headers=admin_headers).json()["extent"]["spatial"]["bbox"][0]
    assert both[0] == min(PHRAE_POINT["lon"], NAN_POINT["lon"]) and both[3] == max(PHRAE_POINT["lat"], NAN_POINT["lat"])


def test_a_brief_says_no_data_where_no_detection_was_loaded_not_0(client, login, admin_headers):
    """FIRMS loaded from October 2023 only: the FY 2567 brief compared its hotspots with "0 a year earlier" (a
    year with no data loaded, not a year without fire), and a FY 2569 brief printed "Total 0"."""
    import re

    committee = login("committee_n", "committee_member")
    csv = firms(det(17.95, 100.05, "2023-10-05", "0630"), det(18.2, 100.3, "2024-03-02", "0630"))
    r = client.post("/api/v1/admin/hotspots/firms", headers=admin_headers, files={"file": ("n.csv", csv)})
    assert r.status_code == 201, r.text

    def brief(fy: int) -> tuple[dict, str]:
        made = client.post("/api/v1/briefs", headers=committee, json={"fiscal_year_be": fy})
        assert made.status_code == 201, made.text
        return made.json()["figures"], client.get(f"/api/v1/briefs/{made.json()['id']}", headers=committee).text

    f, page = brief(2567)
    assert f["hotspots"]["total"] == 2 and f["hotspots"]["covered"] == "partial"  # data 5/10/2566 - 2/3/2567
    assert f["hotspots_previous_year"]["covered"] == "none"
    row = re.search(r"same period a year earlier[^<]*</td><td class=\"n\">([^<]*)</td><td>([^<]*)</td>", page)
    assert row.group(1) == "—" and "no FIRMS data loaded" in row.group(2) and "nothing to compare with" in row.group(2)
    assert "data only 5/10/2566 – 2/3/2567" in page
    later, later_page = brief(2569)
    assert later["hotspots"]["covered"] == "none"
    total = re.search(r"รวม / Total</th><th class=\"n\">([^<]*)</th><th>([^<]*)</th>", later_page)
    assert total.group(1) == "—" and "no FIRMS data loaded" in total.group(2)


def test_a_provincial_brief_s_map_is_framed_on_its_districts(db_url, sessionmaker_for, tmp_path):
    """Every loaded protected area was outlined and the frame grew to hold them: with a park in Nan, 50 km east of
    Phrae's edge, Phrae's brief map widened to reach it and shrank Phrae's districts to make room."""
    from shapely.geometry import box

    from geo_service.reports.brief import brief_period, compute_figures, map_figure
    from tests.provinces import load_nan
    from tests.samples import load_protected_areas, protected_area_file

    factory = sessionmaker_for(db_url)
    load_nan(factory)
    path = protected_area_file(tmp_path / "nan_park.gpkg", "NP-NAN", "1", "2000-01-01", box(101.0, 18.7, 101.15, 18.85))
    load_protected_areas(factory, path, "nan-parks", "1")
    with factory() as s, s.begin():
        f = compute_figures(s, brief_period(2567), province="54", today=date(2025, 1, 1))
        fig, ax = map_figure(s, f)
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    # Phrae: 99.37-100.55 E, 17.69-18.84 N, and a margin
    assert 99.3 < x0 < 99.37 and 100.55 < x1 < 100.62 and 17.6 < y0 < 17.69 and 18.84 < y1 < 18.9
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_a_fire_event_s_area_is_called_its_pixel_footprint_not_burned_area(client, admin_headers):
    """One MODIS detection makes a fire event whose footprint is its 1 km pixel's disc (500 m around the published
    position): the overview map's tooltip said "~491 rai", which reads as the fire's size; a fire of one hectare
    seen by MODIS is "491 rai", by VIIRS (375 m) "69 rai"."""
    from html import unescape

    from geo_service.hotspots import store as hotspots_store
    from geo_service.maps import hotspot_layers as H
    from tests.samples import MODIS_HEADER

    modis = (
        MODIS_HEADER + "18.4700,100.2160,320.0,1.0,1.0,2024-03-14,0335,Terra,MODIS,80,6.1NRT,295.0,20.0,D\n"
    ).encode()
    r = client.post("/api/v1/admin/hotspots/firms", headers=admin_headers, files={"file": ("m.csv", modis)})
    assert r.status_code == 201, r.text
    with client.app.state.sessionmaker() as s, s.begin():
        (event,) = hotspots_store.events_between(
            s, datetime(2024, 3, 14, tzinfo=UTC), datetime(2024, 3, 15, tzinfo=UTC)
        )
    assert 480 <= event["rai"] <= 495  # pi * 500 m * 500 m = 78.5 ha = 491 rai
    th, en = unescape(H.event_label(event)).split("<br>")
    assert f"pixel footprint ~{event['rai']:,} rai, not burned area" in en
    assert f"พื้นที่จุดภาพ ~{event['rai']:,} ไร่ ไม่ใช่พื้นที่ไหม้" in th
    described = client.get("/ogc/collections/fire_events").json()["description"]
    assert "area_rai and area_ha are the footprint's area" in described and "not burned area" in described


def test_a_long_line_digest_drops_whole_alerts_says_how_many_and_keeps_the_unsubscribe_link():
    """LINE takes 5,000 characters: a digest of 50 alerts was cut at character 5,000, in the middle of an alert (its
    link cut short), with no word of the alerts left out, and without its last line, the unsubscribe link."""
    from geo_service.alerts.channels import LineChannel
    from geo_service.alerts.render import Described, message_text

    items = [
        Described(
            title=f"จุดความร้อนใหม่ (VIIRS N, ความเชื่อมั่น สูง) #{i}",
            where="อ.เด่นชัย · ต.แม่จั๊วะ · ป่าสงวนแห่งชาติป่าแม่ยมฝั่งตะวันออก · พิกัด 17.95000, 100.05000",
            when="1/10/2567 00:30 น.",
            link=f"https://geo.example.org/maps/overview?from=2024-10-01&to=2024-10-01&n={i}",
            lon=100.05,
            lat=17.95,
        )
        for i in range(50)
    ]
    unsubscribe = "https://geo.example.org/alerts/unsubscribe?token=tok"
    full_subject, full = message_text(items, "th", unsubscribe, digest=True)
    assert len(full_subject) + 2 + len(full) > LineChannel.MAX_TEXT  # what LINE used to cut at 5,000
    subject, body = message_text(items, "th", unsubscribe, digest=True, limit=LineChannel.MAX_TEXT)
    sent = f"{subject}\n\n{body}"
    assert len(sent) <= LineChannel.MAX_TEXT and subject == "สรุปการแจ้งเตือนประจำวัน: 50"
    assert sent.endswith(f"ยกเลิกการรับแจ้งเตือนนี้: {unsubscribe}")
    shown = [i for i in range(50) if f"&n={i}\n" in sent]
    assert shown == list(range(len(shown))) and 0 < len(shown) < 50
    assert all(f"#{i}\n" in sent for i in shown)  # each alert shown is whole, title to link
    assert f"และอีก {50 - len(shown)} รายการ" in sent
    assert message_text(items[:2], "en", unsubscribe, digest=True, limit=LineChannel.MAX_TEXT) == message_text(
        items[:2], "en", unsubscribe, digest=True
    )


def test_an_empty_file_export_has_the_layer_a_full_one_has(client, admin_headers, tmp_path):
    """A day without fire: the hotspot Shapefile was a LineString layer with one field, ``id`` (a real number), and
    the GeoPackage an "Unknown" geometry with ``id`` alone, so a partner's daily load of the layer broke."""
    import io
    import zipfile

    import pyogrio

    from tests.samples import post_viirs

    post_viirs(
        client, admin_headers, ["18.2001,100.3012,330.0,0.4,0.4,2024-03-14,0630,N,VIIRS,h,2.0NRT,290.0,12.5,D\n"]
    )

    def layer(fmt: str, params: dict) -> tuple[str, dict[str, str]]:
        r = client.get("/api/v1/exports/hotspots", params={"f": fmt, **params})
        assert r.status_code == 200, r.text
        d = tmp_path / f"{fmt}_{len(params)}"
        d.mkdir()
        if fmt == "shp":
            zipfile.ZipFile(io.BytesIO(r.content)).extractall(d)
            path = next(d.glob("*.shp"))
        else:
            path = d / "h.gpkg"
            path.write_bytes(r.content)
        info = pyogrio.read_info(path)
        return info["geometry_type"], dict(zip(info["fields"], info["ogr_types"], strict=True))

    for fmt in ("gpkg", "shp"):
        full_geom, full_fields = layer(fmt, {})
        empty_geom, empty_fields = layer(fmt, {"from": "2025-01-01"})
        assert (empty_geom, empty_fields) == (full_geom, full_fields)
        assert full_geom == "Point" and len(empty_fields) > 20, fmt


def test_the_national_brief_s_map_shades_only_the_districts_it_counts(
    db_url, sessionmaker_for, client_factory, admin_headers
):
    """The national brief counts the hotspots of the area of interest (Phrae) but drew every loaded district: Nan's
    districts were printed "0" on the map while a Nan detection lay in one of them."""
    from geo_service.reports.brief import brief_period, compute_figures, map_figure
    from tests.provinces import NAN_POINT, load_nan
    from tests.samples import post_viirs

    factory = sessionmaker_for(db_url)
    load_nan(factory)
    client = client_factory(db_url, aoi_provinces=["54"])  # the area of interest: Phrae alone
    post_viirs(
        client,
        admin_headers,
        [f"{NAN_POINT['lat']},{NAN_POINT['lon']},330,0.4,0.4,2024-03-14,0630,N,VIIRS,h,2.0NRT,290,12.5,D\n"],
    )
    with client.app.state.sessionmaker() as s, s.begin():  # the app's settings: its area of interest
        f = compute_figures(s, brief_period(2567), today=date(2025, 1, 1))
        fig, ax = map_figure(s, f)
    nan_names = {v["en"] for k, v in f["districts"].items() if k.startswith("55")}
    assert nan_names and f["hotspots"]["outside_aoi"] == 1 and f["hotspots"]["total"] == 0
    labels = [t.get_text() for t in ax.texts]
    assert len(labels) == 8 and not any(name in label for name in nan_names for label in labels)
    assert ax.get_xlim()[1] < 100.62  # framed on Phrae, the area counted
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_a_summary_compared_with_last_year_stops_a_year_before_today(client, admin_headers):
    """/hotspots/summary?period=fiscal_year&compare=previous_year asked on 1 March 2024 set FY 2567's five months
    against the whole of FY 2566 (-50 %: a fall that was not one), and gave a row to each month still to come
    (none now, last year's count before it: -100 %)."""
    from geo_service.hotspots.summaries import SummaryQuery, summarise

    csv = firms(
        det(17.95, 100.05, "2023-10-05", "0630"),  # FY 2567, before 1 March 2024
        det(17.95, 100.05, "2022-10-05", "0630"),  # FY 2566, before 1 March 2023
        det(17.952, 100.052, "2023-06-01", "0630"),  # FY 2566, after 1 March 2023
    )
    r = client.post("/api/v1/admin/hotspots/firms", headers=admin_headers, files={"file": ("s.csv", csv)})
    assert r.status_code == 201, r.text
    with client.app.state.sessionmaker() as s, s.begin():
        fy = summarise(s, SummaryQuery(period="fiscal_year", compare="previous_year", today=date(2024, 3, 1)))
        months = summarise(
            s,
            SummaryQuery(
                period="month",
                compare="previous_year",
                date_from=date(2023, 10, 1),
                date_to=date(2024, 9, 30),
                today=date(2024, 3, 1),
            ),
        )
        later = summarise(s, SummaryQuery(period="fiscal_year", compare="previous_year", today=date(2024, 10, 1)))
    (row,) = [r for r in fy["rows"] if r["period"] == "2567"]
    assert (row["detections"], row["previous_year_detections"], row["change_detections_pct"]) == (1, 1, 0.0)
    assert {r["period"] for r in months["rows"]} == {"2023-10"}  # no June 2024 row before June 2024
    (done,) = [r for r in later["rows"] if r["period"] == "2567"]
    assert (done["detections"], done["previous_year_detections"]) == (1, 2)  # the year over: both whole


def test_every_export_says_the_units_of_its_numbers(client, admin_headers):
    """A hotspot export carried "frp": 12.5 and "brightness": 330 with no word of megawatts or kelvin, and a fire
    event's area_rai no definition of the rai; now the metadata of every format names them."""
    import io
    import json
    import zipfile

    from tests.samples import post_viirs

    post_viirs(
        client, admin_headers, ["18.2001,100.3012,330.0,0.4,0.4,2024-03-14,0630,N,VIIRS,h,2.0NRT,290.0,12.5,D\n"]
    )
    units = client.get("/api/v1/exports/hotspots").json()["metadata"]["units"]
    assert units["frp"].startswith("MW") and units["brightness"].startswith("K") and "3 high" in units["confidence"]
    zipped = client.get("/api/v1/exports/fire_events", params={"f": "csv"}).content
    meta = json.loads(zipfile.ZipFile(io.BytesIO(zipped)).read("metadata.json"))
    assert meta["units"]["max_frp"].startswith("MW") and meta["units"]["area_rai"].startswith("rai (1 rai = 1,600 m2")
    narrow = client.get("/api/v1/exports/hotspots", params={"properties": "acq_utc"}).json()["metadata"]
    assert narrow["units"] == {}  # only the properties sent
