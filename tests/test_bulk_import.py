"""Bulk import: CSV in UTF-8 (with/without BOM) and Thai cp874, GPX, KML; dry run; all or nothing; no duplicates."""

from __future__ import annotations

import pytest

CSV_ROWS = [
    "kind,observed_at,location,description,severity,tags",
    'wildfire,2024-03-10T15:00:00,"18.2, 100.3",ไฟไหม้ป่าดอย,high,haze;ดอย',
    "encroachment,2024-03-11T09:30:00,47Q 620000 2005000,แผ้วถางที่ดิน,medium,",
    "burning,2024-03-12T08:00:00,18 08 42.5 N 100 08 30 E,เผาตอซัง,low,",
]
GPX = """<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="Garmin" xmlns="http://www.topografix.com/GPX/1/1">
  <wpt lat="18.25" lon="100.35"><time>2024-02-01T03:00:00Z</time><name>WP001</name><desc>ไม้ถูกตัด</desc>
    <type>illegal_logging</type></wpt>
  <wpt lat="18.30" lon="100.40"><time>2024-02-01T04:00:00Z</time><name>WP002</name></wpt>
</gpx>"""
KML = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document>
  <Placemark><name>จุดไฟ 1</name><TimeStamp><when>2024-04-01T10:00:00+07:00</when></TimeStamp>
    <ExtendedData><Data name="kind"><value>ไฟป่า</value></Data></ExtendedData>
    <Point><coordinates>100.2,18.1,0</coordinates></Point></Placemark>
  <Placemark><name>ร่องรอย</name><Point><coordinates>100.25,18.15</coordinates></Point></Placemark>
</Document></kml>"""


def send(client, headers, name, data, **form):
    form = {k: str(v).lower() if isinstance(v, bool) else v for k, v in form.items()}
    return client.post("/api/v1/incidents/import", headers=headers, files={"file": (name, data)}, data=form)


def total(client, headers):
    return client.get("/api/v1/incidents", headers=headers).json()["total"]


@pytest.mark.parametrize("encoding, bom", [("utf-8", False), ("utf-8", True), ("cp874", False)])
def test_csv_dry_run_then_import_and_reimport(client, officer, encoding, bom):
    data = ("\n".join(CSV_ROWS) + "\n").encode(encoding)
    if bom:
        data = b"\xef\xbb\xbf" + data
    dry = send(client, officer, "incidents.csv", data, dry_run=True)
    assert dry.status_code == 200, dry.text
    report = dry.json()
    assert report["counts"] == {"ok": 3, "refused": 0, "duplicate": 0} and report["encoding"] == encoding.replace(
        "-sig", ""
    )
    assert [r["row"] for r in report["rows"]] == [2, 3, 4] and all(r["district"] for r in report["rows"])
    assert total(client, officer) == 0
    done = send(client, officer, "incidents.csv", data, dry_run=False)
    assert done.status_code == 201 and done.json()["stored"]
    items = client.get("/api/v1/incidents", headers=officer, params={"q": "ดอย"}).json()["items"]
    assert len(items) == 1 and items[0]["tags"] == ["haze", "ดอย"] and items[0]["severity"] == "high"
    assert total(client, officer) == 3
    again = send(client, officer, "incidents.csv", data, dry_run=False)
    assert again.json()["counts"]["duplicate"] == 3 and total(client, officer) == 3


def test_one_bad_row_refuses_the_whole_file(client, officer):
    rows = CSV_ROWS + [
        'volcano,2024-03-12T08:00:00,"18.2, 100.3",x,low,',  # unknown kind
        'wildfire,2024-03-12T08:00:00,"100.3, 18.2",x,low,',  # swapped
        'wildfire,2099-03-12T08:00:00,"18.2, 100.3",x,low,',  # future
        'wildfire,2024-03-12T08:00:00,"13.75, 100.5",x,low,',  # Bangkok: outside the province
        "wildfire,2024-03-12T08:00:00,,x,low,",  # no position
    ]
    data = ("\n".join(rows) + "\n").encode()
    dry = send(client, officer, "mixed.csv", data, dry_run=True).json()
    by_row = {r["row"]: r for r in dry["rows"]}
    assert dry["counts"] == {"ok": 3, "refused": 5, "duplicate": 0}
    assert "kind" in by_row[5]["reason"]
    assert "Did you mean" in by_row[6]["reason"]
    assert "future" in by_row[7]["reason"]
    assert "outside" in by_row[8]["reason"]
    assert by_row[9]["status"] == "refused"
    r = send(client, officer, "mixed.csv", data, dry_run=False)
    assert r.status_code == 422 and r.json()["error"]["code"] == "import_refused"
    assert "nothing was stored" in r.json()["error"]["message"]
    assert {d["row"] for d in r.json()["error"]["details"]} == {5, 6, 7, 8, 9}
    assert total(client, officer) == 0
    # Confirming points outside the province lets that row through (the others still refuse the file).
    ok = send(client, officer, "mixed.csv", data, dry_run=True, confirm_outside_province=True).json()
    assert {r["row"]: r["status"] for r in ok["rows"]}[8] == "ok"


def test_gpx_waypoints_and_kml_placemarks(client, officer):
    gpx = send(client, officer, "track.gpx", GPX.encode(), dry_run=False, default_kind="other")
    assert gpx.status_code == 201, gpx.text
    kml = send(client, officer, "points.kml", KML.encode(), dry_run=False, default_kind="encroachment")
    assert kml.status_code == 201, kml.text
    items = {i["description"]: i for i in client.get("/api/v1/incidents", headers=officer).json()["items"]}
    assert items["WP001 - ไม้ถูกตัด"]["kind"] == "illegal_logging"
    assert items["WP001 - ไม้ถูกตัด"]["observed_at"] == "2024-02-01T10:00:00+07:00"  # 03:00 UTC
    assert items["WP002"]["kind"] == "other"
    assert items["จุดไฟ 1"]["kind"] == "wildfire" and items["จุดไฟ 1"]["location"]["lon"] == 100.2
    assert items["ร่องรอย"]["kind"] == "encroachment"


@pytest.mark.parametrize(
    "name, data, code",
    [
        ("notes.docx", b"PK..", "unsupported_format"),
        ("empty.csv", b"", "bad_file"),
        ("nopos.csv", b"kind,description\nwildfire,x\n", "bad_file"),
        ("latin.csv", 'kind,location\nwildfire,"18.2, 100.3"\n'.encode("utf-16"), "bad_encoding"),
        (
            "bomb.kml",
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><kml>&lol2;</kml>',
            "bad_file",
        ),
        ("headeronly.csv", b"kind,location\n", "empty_file"),
    ],
)
@pytest.mark.slow
def test_bad_files(client, officer, name, data, code):
    r = send(client, officer, name, data, dry_run=True)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == code


def test_import_needs_a_reporter_role(client, login):
    committee = login("committee1", "committee_member")
    data = ("\n".join(CSV_ROWS) + "\n").encode()
    assert send(client, committee, "x.csv", data, dry_run=True).status_code == 403
    assert send(client, {}, "x.csv", data, dry_run=True).status_code == 401
