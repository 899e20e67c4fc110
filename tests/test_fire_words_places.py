"""What "cleared by fire" says to a person, in every place that shows it (forest_loss.fire_words.fire_summary): the
overview and case map popups, the field tasks list (the API the field form reads), case suggestion reasons and the
evidence pack; each on a patch with evidence, a patch without fire, and a patch whose mark is older and misses
fields. Never "None", never a raw float; the map popups carry it escaped.

The patches are the hand-built ones of tests/forest_patch_fixtures.py; their fire marks are rewritten here."""

from __future__ import annotations

import html
import json
import math
import re
from datetime import date

import folium
import pytest
from sqlalchemy import text

from geo_service.forest_loss.fire_words import evidence_words, fire_summary
from geo_service.maps import escaping as esc
from geo_service.maps import forest_layers as F
from tests.test_forest_loss_links import LAT, LON, _case_with_incident, world  # noqa: F401 (the fixture)

RULE = {"distance_m": 500, "days_before": 30, "days_after": 30, "half_pixel_m": {"VIIRS": 187.5, "MODIS": 500.0}}
# "near" (alerts 1-10 Mar 2024): two VIIRS detections, the first 3 days before its first alert, and an event over it
FULL = {
    "hotspots": 2,
    "hotspot_days": ["2024-02-27", "2024-03-04"],
    "hotspot_sensors": ["VIIRS"],
    "hotspot_nearest_m": 120.37,
    "events": [41],
    "event_nearest_m": 0.0,
    "nearest_m": 0.0,
    "rule": RULE,
}
FULL_EN = (
    "cleared by fire: 2 VIIRS fire detections, the nearest 120 m from the patch, the first on 27 Feb 2567 BE, "
    "3 days before the first alert, the last on 4 Mar 2567 BE; 1 fire event, its footprint over the patch"
)
FULL_TH = (
    "ถูกเผา: จุดความร้อน VIIRS 2 จุด ใกล้สุดห่างแปลง 120 ม. จุดแรกวันที่ 27 ก.พ. 2567 (3 วันก่อนการแจ้งเตือนแรก) "
    "จุดสุดท้ายวันที่ 4 มี.ค. 2567; เหตุไฟ 1 เหตุ ขอบเขตทับแปลง"
)
# "reserve" (alerts 15-20 Jan 2024): an older mark, without the days, the instruments or the event's distance
OLDER = {"hotspots": 1, "events": [5], "hotspot_nearest_m": 87.46}
OLDER_EN = "cleared by fire: 1 fire detection 87 m from the patch; 1 fire event"
OLDER_TH = "ถูกเผา: จุดความร้อน 1 จุด ห่างแปลง 87 ม.; เหตุไฟ 1 เหตุ"
NONE_EN, NONE_TH = "no fire found near the patch", "ไม่พบไฟใกล้แปลง"
# a figure printed as the machine holds it: the recorded 120.37 and 87.46 m, or any value with 3 decimals or more
RAW_FLOAT = re.compile(r"120\.37|87\.46|\d\.\d{3,}")


def clean(words: str) -> None:
    assert "None" not in words and "nan" not in words.lower() and not RAW_FLOAT.search(words), words


@pytest.fixture
def marked(world):  # noqa: F811 (the imported fixture)
    """The world of test_forest_loss_links with "near" marked by full evidence, "reserve" by an older mark and
    "far" not marked."""
    ids, people, factory = world
    with factory() as s, s.begin():
        for name, fire, ev in (("near", True, FULL), ("reserve", True, OLDER), ("far", False, None)):
            s.execute(
                text(
                    "UPDATE clearing_patches SET cleared_by_fire = :f, fire_evidence = CAST(:ev AS jsonb) WHERE id = :id"
                ),
                {"f": fire, "ev": None if ev is None else json.dumps(ev), "id": ids[name]},
            )
    return ids, people, factory


def test_the_words_of_full_older_and_no_evidence():
    assert fire_summary(True, FULL, date(2024, 3, 1)) == (FULL_TH, FULL_EN)
    assert fire_summary(True, FULL, "2024-03-01") == (FULL_TH, FULL_EN)  # ISO text as JSON carries it
    assert fire_summary(True, OLDER, date(2024, 1, 15)) == (OLDER_TH, OLDER_EN)
    assert fire_summary(False, None) == (NONE_TH, NONE_EN)
    # one detection on the day of the first alert, inside the patch; a MODIS and a VIIRS one after it
    one = {"hotspots": 1, "hotspot_days": ["2024-03-01"] * 2, "hotspot_sensors": ["VIIRS"], "hotspot_nearest_m": 0}
    assert fire_summary(True, one, date(2024, 3, 1))[1] == (
        "cleared by fire: 1 VIIRS fire detection inside the patch, on 1 Mar 2567 BE, the day of the first alert"
    )
    both = {**one, "hotspots": 2, "hotspot_sensors": ["VIIRS", "MODIS"], "hotspot_days": ["2024-03-02"] * 2}
    th, en = fire_summary(True, both, date(2024, 3, 1))
    assert en == (
        "cleared by fire: 2 MODIS and VIIRS fire detections, the nearest inside the patch, the first on 2 Mar 2567 BE, "
        "1 day after the first alert"
    )
    assert th == "ถูกเผา: จุดความร้อน MODIS และ VIIRS 2 จุด ใกล้สุดอยู่ในแปลง จุดแรกวันที่ 2 มี.ค. 2567 (1 วันหลังการแจ้งเตือนแรก)"
    # marks of the first format (one distance for both) are said as recorded
    first_format = {"hotspots": 3, "events": [], "nearest_m": 120.0, "days": [-5, 2]}
    assert fire_summary(True, first_format, date(2024, 3, 1)) == (
        "ถูกเผา: จุดความร้อน 3 จุด; ไฟใกล้สุดห่างแปลง 120 ม.",
        "cleared by fire: 3 fire detections; the nearest fire 120 m from the patch",
    )
    # a mark with nothing usable says so; malformed fields are left unsaid, never printed
    assert fire_summary(True, None) == (
        "ถูกเผา (ไม่มีรายละเอียดบันทึกไว้)",
        "cleared by fire (no details recorded with this mark)",
    )
    odd = {
        "hotspots": "2",
        "hotspot_nearest_m": float("nan"),
        "hotspot_days": ["27/2/2567"],
        "events": 3,
        "event_nearest_m": True,
        "nearest_m": None,
    }
    assert fire_summary(True, odd, None) == fire_summary(True, None)
    bad_values = {"hotspots": 2, "hotspot_nearest_m": "far", "hotspot_days": [None], "hotspot_sensors": "VIIRS"}
    assert fire_summary(True, bad_values, "not a day")[1] == "cleared by fire: 2 fire detections"
    for words in (*fire_summary(True, FULL), *fire_summary(True, OLDER), *fire_summary(True, odd)):
        clean(words)
    # the evidence pack's words: the same sentence, and the rule when the mark recorded it
    th, en = evidence_words(True, FULL, date(2024, 3, 1))
    assert en.startswith(FULL_EN + " (the rule: a fire detection whose pixel comes within 500 m of the patch")
    assert th.startswith(FULL_TH + " (เกณฑ์: มีจุดความร้อนที่พิกเซลอยู่ภายใน 500 ม.")
    assert evidence_words(True, OLDER, date(2024, 1, 15)) == (OLDER_TH, OLDER_EN)
    assert evidence_words(True, {**FULL, "rule": {"distance_m": 500}}, date(2024, 3, 1)) == (FULL_TH, FULL_EN)
    assert evidence_words(False, None) == (NONE_TH, NONE_EN)


def _labels(page: str) -> dict[int, str]:
    """The clearing-patch labels of a map page by patch number, as the browser shows them."""
    body = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), page)
    out = {}
    for m in re.finditer(r'"label": "([^"]*clearing patch #(\d+)[^"]*)"', body):
        out[int(m.group(2))] = m.group(1)
    return out


def test_map_popups_say_what_burned_escaped(client, marked):
    ids, people, _ = marked
    page = client.get("/maps/overview", headers=people["lead"], params={"from": "2024-01-01", "to": "2024-03-31"})
    assert page.status_code == 200, page.text
    labels = _labels(page.text)
    for name, th, en in (("near", FULL_TH, FULL_EN), ("reserve", OLDER_TH, OLDER_EN), ("far", NONE_TH, NONE_EN)):
        label = labels[ids[name]]
        assert f"<br>{esc.text(th)}<br>{esc.text(en)}<br>" in label, (name, label)
        shown = html.unescape(re.sub(r"<[^>]+>", "\n", label))
        assert "None" not in shown and not RAW_FLOAT.search(shown), shown
        assert "cleared by fire: yes" not in shown and "ใช่ / yes" not in shown
    # the case map draws a linked patch with the same words
    _, cid = _case_with_incident(client, people)
    for name in ("near", "reserve"):
        link = {"target_type": "clearing_patch", "target_id": str(ids[name]), "reason": "evidence"}
        assert client.post(f"/api/v1/cases/{cid}/links", headers=people["lead"], json=link).status_code == 201
    case_page = client.get(f"/maps/cases/{cid}", headers=people["lead"])
    assert case_page.status_code == 200
    case_labels = _labels(case_page.text)
    assert esc.text(FULL_EN) in case_labels[ids["near"]] and esc.text(OLDER_TH) in case_labels[ids["reserve"]]
    # and the evidence pack (HTML through Jinja's autoescaping) with the rule it was measured by
    pack = client.get(f"/api/v1/cases/{cid}/evidence-pack", headers=people["lead"])
    assert pack.status_code == 200
    assert html.escape(FULL_EN + " (the rule: ", quote=False) in pack.text
    assert html.escape(OLDER_EN, quote=False) + "<br>" + html.escape(OLDER_TH, quote=False) in pack.text


def test_field_tasks_say_what_burned(client, marked):
    ids, people, _ = marked
    url = "/api/v1/forest-loss/patches/{}/tasks"
    created = {}
    for name in ("near", "reserve", "far"):
        r = client.post(url.format(ids[name]), headers=people["lead"], json={})
        assert r.status_code == 201, r.text
        created[name] = r.json()
    # the task as created says it too (the same reader)
    assert (created["near"]["fire_en"], created["far"]["fire_en"]) == (FULL_EN, None)
    r = client.get(
        "/api/v1/forest-loss/tasks", headers=people["officer"], params={"near": f"{LON},{LAT}", "radius_m": 50_000}
    )
    assert r.status_code == 200, r.text
    tasks = {t["patch_id"]: t for t in r.json()["tasks"]}
    near, reserve, far = (tasks[ids[n]] for n in ("near", "reserve", "far"))
    assert (near["fire_th"], near["fire_en"]) == (FULL_TH, FULL_EN)
    assert (reserve["fire_th"], reserve["fire_en"]) == (OLDER_TH, OLDER_EN)
    assert far["fire_th"] is None and far["fire_en"] is None and far["patch"]["cleared_by_fire"] is False


def test_case_suggestions_say_what_burned(client, marked):
    ids, people, _ = marked
    _, cid = _case_with_incident(client, people)
    r = client.get(f"/api/v1/cases/{cid}/suggestions", headers=people["lead"])
    assert r.status_code == 200, r.text
    sugg = {s["target_id"]: s for s in r.json()["suggestions"] if s["target_type"] == "clearing_patch"}
    near, reserve, far = (sugg[str(ids[n])] for n in ("near", "reserve", "far"))
    assert near["reason"].endswith("; " + FULL_EN) and near["reason_th"].endswith("; " + FULL_TH)
    assert reserve["reason"].endswith("; " + OLDER_EN) and reserve["reason_th"].endswith("; " + OLDER_TH)
    assert "fire" not in far["reason"] and "ถูกเผา" not in far["reason_th"] and "ไฟ" not in far["reason_th"]
    for s in (near, reserve, far):
        for words in (s["reason"], s["reason_th"]):
            assert "None" not in words and not RAW_FLOAT.search(words), words
    # the fire bonus still ranks a burned patch: 1/(1+250/1000)/(1+4/60)*1.25
    assert math.isclose(near["score"], 0.9375, abs_tol=0.001)


def test_the_patch_details_and_the_tile_popup_say_what_burned(client, marked):
    """The one patch's details (what the vector-tile popup links to) carry the words; the tile popup names the patch
    by its tile property (``patch_id``) and says "yes"/"no found" rather than a raw true/false."""
    ids, people, _ = marked
    for name, th, en in (("near", FULL_TH, FULL_EN), ("reserve", OLDER_TH, OLDER_EN), ("far", None, None)):
        r = client.get(f"/api/v1/forest-loss/patches/{ids[name]}", headers=people["lead"])
        assert r.status_code == 200, r.text
        props = r.json()["properties"]
        assert (props["fire_th"], props["fire_en"]) == (th, en), name
    m = folium.Map(tiles=None)
    F.PatchTiles("/ogc/collections/clearing_patches/tiles/WebMercatorQuad/{z}/{y}/{x}", "patches").add_to(m)
    page = m.get_root().render()
    assert "['patch_id', 'แปลงแผ้วถาง / clearing patch #']" in page and "['id', " not in page
    assert "ไม่พบไฟใกล้แปลง / no fire found near the patch" in page
    assert "'/api/v1/forest-loss/patches/' + encodeURIComponent(p.patch_id)" in page
