"""The figures a committee member reads on the maps state their area and period honestly: the clearing patches'
legend says how many are drawn of how many, over which period and provinces; the overview's incident
counts (district tooltips, the time slider) are those of the reader's provinces, as its incident markers are, and
the legend says so; a district of another province says "not counted" rather than a count the reader may not see.
On a case's map, a linked district is drawn without counts (nothing is counted over a period there, so "0" would
be false), and the evidence line is in Thai too.

Phrae (54) beside the synthetic Nan (55) of tests/provinces.py."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from html import unescape

from geo_service.maps import case_map
from geo_service.maps import forest_layers as F
from geo_service.maps import hotspot_layers as H
from tests.provinces import NAN_POINT, PHRAE_POINT
from tests.test_forest_loss_links import world  # noqa: F401 (the fixture)
from tests.test_province_scope import _incident, two  # noqa: F401 (the fixture)
from tests.test_red_flags_map import feature_collections


def _decoded(page: str) -> str:
    """The page as the browser's JavaScript reads its strings (\\u escapes decoded)."""
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), page)


def _district_tips(page: str) -> dict[str, str]:
    """The district tooltips by district code, as text (the choropleth's features carry code, label and fill)."""
    return {
        f["properties"]["code"]: unescape(f["properties"]["label"].replace("<br>", "\n"))
        for fc in feature_collections(page)
        for f in fc["features"]
        if {"code", "label", "fill"} <= set(f["properties"])
    }


def _slider_incidents(page: str) -> int:
    """How many incidents the time slider's purple circles add up to."""
    body = _decoded(page).replace("\\/", "/")
    return sum(int(n) for n in re.findall(r'"popup": ?"(\d+) เหตุ / incidents', body))


def _legend(page: str) -> str:
    m = re.search(r"<h4>.*?</div>\s*</div>", unescape(page), re.S)
    assert m, "no legend"
    return re.sub(r"<[^>]+>", "\n", m.group(0))


def test_overview_counts_incidents_of_the_readers_provinces_and_says_so(two):  # noqa: F811 (the fixture)
    client, people = two
    here = _incident(client, people["phrae_officer"], PHRAE_POINT)["place"]["district"]["code"]
    there = {_incident(client, people["nan_officer"], NAN_POINT)["place"]["district"]["code"] for _ in range(2)}
    assert here.startswith("54") and there == {"5501"}
    page = client.get("/maps/overview", headers=people["phrae_committee"], params={"fiscal_year_be": 2567})
    assert page.status_code == 200, page.text
    tips = _district_tips(page.text)
    assert {here, "5501"} <= set(tips), sorted(tips)
    # the Phrae incident's district: its one incident; Nan's district: not counted for a Phrae reader (it has two)
    assert "Reported incidents: 1 incidents" in tips[here], tips[here]
    assert "Reported incidents: not counted (outside your provinces)" in tips["5501"], tips["5501"]
    assert "ไม่นับ (นอกจังหวัดที่ท่านรับผิดชอบ)" in tips["5501"]
    assert "2 incidents" not in tips["5501"]
    # the time slider adds up the reader's incidents only
    assert _slider_incidents(page.text) == 1
    # the legend names the area its incident figures cover
    legend = " ".join(_legend(page.text).split())
    assert "incidents counted: province Phrae (54)" in legend, legend
    assert "นับเหตุ: จังหวัด แพร่ (54)" in legend, legend
    # a national reader (an administrator) counts both provinces, and every district
    every = client.get("/maps/overview", headers=people["admin"], params={"fiscal_year_be": 2567})
    tips = _district_tips(every.text)
    assert "Reported incidents: 2 incidents" in tips["5501"] and "Reported incidents: 1 incidents" in tips[here]
    assert _slider_incidents(every.text) == 3
    assert "incidents counted: every province" in " ".join(_legend(every.text).split())


def test_case_map_districts_carry_no_false_zero_and_the_evidence_line_is_thai_too(two):  # noqa: F811
    client, people = two
    inc = _incident(client, people["phrae_officer"], PHRAE_POINT)
    here = inc["place"]["district"]["code"]
    inv = people["phrae_inv"]
    case = client.post(
        "/api/v1/cases",
        headers=inv,
        json={"title": "Permits inside the reserve", "category": "other", "received_on": "2024-03-01"},
    )
    assert case.status_code == 201, case.text
    cid = case.json()["id"]
    for target_type, target_id in (("incident", str(inc["id"])), ("district", here)):
        r = client.post(
            f"/api/v1/cases/{cid}/links",
            headers=inv,
            json={"target_type": target_type, "target_id": target_id, "reason": "evidence"},
        )
        assert r.status_code == 201, r.text
    page = client.get(f"/maps/cases/{cid}", headers=inv)
    assert page.status_code == 200, page.text
    tips = _district_tips(page.text)
    assert set(tips) == {here}
    # the district's name, no "0 detections" / "0 incidents" (its incident is right there on the map)
    assert "0 incidents" not in tips[here] and "0 detections" not in tips[here], tips[here]
    assert "Reported incidents" not in tips[here] and "Satellite hotspots" not in tips[here]
    legend = " ".join(_legend(page.text).split())
    assert "หลักฐาน: เหตุที่แจ้ง 1, อำเภอ 1" in legend, legend
    assert "evidence: 1 incidents, 1 districts" in legend, legend
    json.dumps(tips)  # plain text


def _patch_legend(page: str) -> list[str]:
    """The clearing-patch legend's lines as text: the count (Thai, English) and what is counted (Thai, English)."""
    text = unescape(page)
    m = re.search(r"แปลงแผ้วถางป่า / forest-clearing patches</b>(.*?)<span class='sw'", text, re.S)
    assert m, "no patch legend"
    counted = re.search(r"<div>(นับ: แปลงที่มีการแจ้งเตือน[^<]*)<br>(Counted: patches[^<]*)</div>", text)
    lines = [x.strip() for x in m.group(1).split("<br>") if re.sub(r"<[^>]+>", "", x).strip()]
    return [re.sub(r"<[^>]+>", "", x).strip() for x in lines] + (list(counted.groups()) if counted else [])


def test_patch_legend_says_how_many_of_how_many_over_which_period_and_area(client, world, monkeypatch):  # noqa: F811
    _ids, people, _ = world
    period = {"from": "2024-01-01", "to": "2024-03-31"}
    page = client.get("/maps/overview", headers=people["admin"], params=period).text
    # near, far, reserve, hostile and Nan's (the merged one never): all drawn, said so, over the period, everywhere
    assert _patch_legend(page) == [
        "แสดงทั้งหมด 5 แปลง",
        "all 5 shown",
        "นับ: แปลงที่มีการแจ้งเตือนในช่วง 1 ม.ค. 2567 – 31 มี.ค. 2567 ที่มีส่วนอยู่ในทุกจังหวัด; ไม่รวมแปลงที่ถูกรวมเข้ากับแปลงอื่น",
        "Counted: patches with an alert in 1 Jan 2567 BE – 31 Mar 2567 BE, with a part in every province; "
        "patches absorbed by another left out",
    ]
    # above the cap: the largest are drawn, and the legend says of how many and how many were left out
    monkeypatch.setattr(F, "MAP_PATCHES", 2)
    capped = client.get("/maps/overview", headers=people["committee"], params=period).text
    lines = _patch_legend(capped)
    assert lines[:2] == ["แสดง 2 จาก 4 แปลง (แปลงใหญ่สุดก่อน); ไม่แสดง 2 แปลง", "2 shown of 4 (the 2 largest); 2 left out"]
    assert "ที่มีส่วนอยู่ในจังหวัด แพร่ (54)" in lines[2] and "with a part in province Phrae (54)" in lines[3]


def test_case_map_draws_only_the_incidents_of_the_readers_provinces(two):  # noqa: F811
    """A national administrator links Nan's incident to a Phrae case: the Phrae investigator's case map leaves it out
    (as the evidence pack and evidence.geojson do) and its evidence line counts what is drawn."""
    client, people = two
    inv = people["phrae_inv"]
    phrae = _incident(client, people["phrae_officer"], PHRAE_POINT)
    nan = client.post(
        "/api/v1/incidents",
        headers=people["nan_officer"],
        json={
            "kind": "wildfire",
            "observed_at": "2024-03-14T10:00:00+07:00",
            "description": "NAN-ONLY-DESCRIPTION",
            "location": NAN_POINT,
        },
    )
    assert nan.status_code == 201, nan.text
    case = client.post(
        "/api/v1/cases",
        headers=inv,
        json={"title": "Two plots", "category": "other", "received_on": "2024-03-01", "province_code": "54"},
    )
    assert case.status_code == 201, case.text
    cid = case.json()["id"]
    for headers, incident in ((inv, phrae), (people["admin"], nan.json())):
        r = client.post(
            f"/api/v1/cases/{cid}/links",
            headers=headers,
            json={"target_type": "incident", "target_id": str(incident["id"]), "reason": "evidence"},
        )
        assert r.status_code == 201, r.text
    page = client.get(f"/maps/cases/{cid}", headers=inv)
    assert page.status_code == 200, page.text
    body = _decoded(page.text)
    assert "NAN-ONLY-DESCRIPTION" not in body and f"INC-{nan.json()['id']:06d}" not in body
    assert f"INC-{phrae['id']:06d}" in body
    assert "evidence: 1 incidents" in " ".join(_legend(page.text).split())
    # the administrator (national) sees both
    every = _decoded(client.get(f"/maps/cases/{cid}", headers=people["admin"]).text)
    assert "NAN-ONLY-DESCRIPTION" in every


def test_case_map_labels_say_dash_for_a_figure_a_detection_lacks():
    """A detection without FRP or confidence (and an event without FRP): "-", never "None" nor a made-up 0."""
    bare = {"target_id": "7", "acq_utc": "2024-03-05T06:30:00+00:00", "satellite": None, "reason": None}
    label = unescape(case_map.hotspot_label({**bare, "frp": None, "confidence": None}))
    assert "None" not in label and "FRP 0" not in label, label
    assert "5 มี.ค. 2567 13:30 (เวลาไทย / Bangkok); -; FRP - MW; confidence -" in label, label
    full = unescape(case_map.hotspot_label({**bare, "satellite": "N", "frp": 12.34, "confidence": 3}))
    assert "; N; FRP 12.3 MW; confidence สูง/high" in full, full
    event = {"target_id": "3", "first_seen": bare["acq_utc"], "last_seen": bare["acq_utc"], "detections": 2}
    label = unescape(case_map.event_label({**event, "max_frp": None, "reason": "x"}))
    assert "FRP max - MW" in label and "None" not in label, label
    assert "FRP max 41 MW" in unescape(case_map.event_label({**event, "max_frp": 40.6, "reason": "x"}))


def test_overview_cases_layer_says_received_in_the_period_and_how_many_have_no_marker(two):  # noqa: F811
    client, people = two
    inv = people["phrae_inv"]
    made = []
    for title in ("Placed case", "Unplaced case"):
        r = client.post(
            "/api/v1/cases", headers=inv, json={"title": title, "category": "other", "received_on": "2024-03-01"}
        )
        assert r.status_code == 201, r.text
        made.append(r.json()["id"])
    link = {"target_type": "district", "target_id": "5401", "reason": "where"}
    assert client.post(f"/api/v1/cases/{made[0]}/links", headers=inv, json=link).status_code == 201
    page = unescape(_decoded(client.get("/maps/overview", headers=inv, params={"fiscal_year_be": 2567}).text))
    assert (
        "คดีที่รับในช่วงนี้ / Cases received in the period (2); ไม่มีอำเภอ ไม่อยู่บนแผนที่ 1 / 1 with no district, not on "
        "the map" in page
    )
    # another fiscal year: neither was received in it
    other = unescape(_decoded(client.get("/maps/overview", headers=inv, params={"fiscal_year_be": 2566}).text))
    assert "Cases received in the period (0)" in other


def test_hotspot_layer_names_and_event_labels_say_what_they_leave_out():
    assert H.capped_name("Hotspots, clickable", 12, H.CLUSTER_POINTS) == "Hotspots, clickable (12)"
    assert H.capped_name("Hotspots, clickable", 20_000, 20_000) == (
        "Hotspots, clickable (20,000 จุดที่ FRP สูงสุด จุดที่อ่อนกว่าไม่แสดง / the 20,000 strongest by FRP; any weaker not drawn)"
    )
    when = datetime(2024, 3, 5, 6, 30, tzinfo=UTC)
    event = {"id": 9, "first_seen": when, "last_seen": when, "detections": 3, "sensors": "VIIRS", "rai": 12}
    label = unescape(H.event_label({**event, "max_frp": None, "reserve_code": None})).split("<br>")
    assert label == [
        "เหตุไฟ #9: 5 มี.ค. 2567 – 5 มี.ค. 2567; 3 จุด (VIIRS); FRP สูงสุด - MW; พื้นที่จุดภาพ ~12 ไร่ ไม่ใช่พื้นที่ไหม้",
        "fire event #9: 5 Mar 2567 BE – 5 Mar 2567 BE; 3 detections; max FRP - MW; pixel footprint ~12 rai, "
        "not burned area",
    ]
    assert "max FRP 41 MW; pixel footprint ~12 rai, not burned area; NRF-PR-004" in unescape(
        H.event_label({**event, "max_frp": 40.6, "reserve_code": "NRF-PR-004"})
    )
    # a night pass (18:30 UTC on 1 Mar is 01:30 on 2 Mar in Bangkok) is labelled by its Bangkok day, in both languages
    night = {**event, "first_seen": datetime(2024, 3, 1, 18, 30, tzinfo=UTC), "max_frp": 5.0, "reserve_code": None}
    th, en = unescape(H.event_label({**night, "last_seen": night["first_seen"]})).split("<br>")
    assert th.startswith("เหตุไฟ #9: 2 มี.ค. 2567 – 2 มี.ค. 2567;") and en.startswith(
        "fire event #9: 2 Mar 2567 BE – 2 Mar 2567 BE;"
    ), (th, en)


def test_protected_area_legend_says_illustrative_only_where_dashed_and_the_boundary_day(client, admin_headers):
    page = client.get("/maps/overview", headers=admin_headers, params={"fiscal_year_be": 2567})
    assert page.status_code == 200
    legend = " ".join(_legend(page.text).split())
    assert (
        "พื้นที่คุ้มครอง (เส้นประ: ขอบเขตสมมติ) ขอบเขต ณ 30 ก.ย. 2567 / Protected areas (dashed: ILLUSTRATIVE), "
        "boundaries in force on 30 Sep 2567 BE" in legend
    ), legend
    assert "พื้นที่คุ้มครอง (ขอบเขตสมมติ) /" not in legend
