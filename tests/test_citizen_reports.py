"""Reports from the public (issue 17): receipt follow-up, sealed contact details, stripped photos, abuse limits
(rate limits shared by several API processes, honeypot, sizes), duplicates, triage into incidents, and the
volunteer network's members and counts by district."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import re
import uuid
from pathlib import Path

import geopandas as gpd
import pytest
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, SealedBox
from PIL import ExifTags, Image, PngImagePlugin
from sqlalchemy import create_engine, text

from geo_service.api.citizen import AnonymousAccessLog
from geo_service.citizen import sealing
from geo_service.layers.manifest import DEFAULT_LAYERS_DIR
from tests.conftest import PASSWORD
from tests.provinces import NAN_POINT, load_nan

DISTRICTS = gpd.read_file(DEFAULT_LAYERS_DIR / "phrae/phrae_amphoe_hdx_codab.geojson").set_index("amp_code")
RECEIPT = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){4}$")
PHONE = "081-234-5678"
NAME = "สมชาย ผู้แจ้ง"


def point(code: str) -> dict:
    """A point well inside a Phrae district (lat/lon)."""
    p = DISTRICTS.geometry[code].representative_point()
    return {"lat": round(p.y, 6), "lon": round(p.x, 6)}


def jpeg_with_gps(colour=(10, 120, 30), size=(64, 48)) -> bytes:
    exif = Image.Exif()
    exif[0x0110] = "SecretPhoneModel"
    exif[0x0131] = "SecretSoftware"
    exif[0xA431] = "SERIAL-0042"  # BodySerialNumber
    exif[ExifTags.IFD.GPSInfo] = {1: "N", 2: (18.0, 8.0, 42.5), 3: "E", 4: (100.0, 8.0, 30.0)}
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def png_with_metadata() -> bytes:
    exif = Image.Exif()
    exif[0x0110] = "SecretPhoneModel"
    exif[ExifTags.IFD.GPSInfo] = {1: "N", 2: (18.0, 8.0, 42.5), 3: "E", 4: (100.0, 8.0, 30.0)}
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "taken at my house, SecretPlace")
    buf = io.BytesIO()
    Image.new("RGBA", (40, 30), (200, 20, 20, 255)).save(buf, "PNG", exif=exif, pnginfo=info)
    return buf.getvalue()


def send(client, body: dict, photos: list[bytes] = (), key: str | None = None, headers: dict | None = None):
    files = [("photos", (f"p{i}.jpg", data, "image/jpeg")) for i, data in enumerate(photos)]
    h = {"Idempotency-Key": key or str(uuid.uuid4()), **(headers or {})}
    return client.post(
        "/api/v1/citizen/reports", data={"report": json.dumps(body, ensure_ascii=False)}, files=files or None, headers=h
    )


def report(kind="encroachment", where=None, **extra) -> dict:
    return {"kind": kind, "location": where or point("5401"), "description": "ตัดไม้ในป่าสงวน", **extra}


@pytest.fixture
def staff(login):
    return {"inv": login("inv1", "investigator"), "inv2": login("inv2", "investigator")}


def key_file(client) -> Path:
    s = client.app.state.settings
    return s.citizen.key_file(s.db.data_dir)


@pytest.mark.slow
def test_a_report_gets_a_receipt_with_which_alone_it_is_followed_and_added_to(client):
    key = str(uuid.uuid4())
    r = send(client, report(observed_at="2026-12-01T09:30:00"), [jpeg_with_gps()], key=key)
    assert r.status_code == 201, r.text
    receipt = r.json()["receipt"]
    assert RECEIPT.match(receipt) and r.json()["status"] == "received" and r.json()["photos"] == 1
    # a retry after a lost answer: the same receipt, nothing new
    again = send(client, report(observed_at="2026-12-01T09:30:00"), [jpeg_with_gps()], key=key)
    assert again.status_code == 200 and again.json()["receipt"] == receipt
    assert again.headers["Idempotent-Replayed"] == "true"
    # the same key for another report is refused
    other = send(client, report(kind="burning"), key=key)
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
    # a short (guessable) key is refused: the receipt is derived from it and a replay with it returns the receipt
    short = send(client, report(observed_at="2026-12-01T09:30:00"), key="report-1")
    assert short.status_code == 422 and "report-1" not in short.text
    assert short.json()["error"]["details"][0]["field"].endswith("idempotency-key")
    status = client.get("/api/v1/citizen/receipt", headers={"X-Receipt": receipt})
    assert status.status_code == 200
    assert status.json()["status"] == "received" and status.json()["status_th"].startswith("ได้รับ")
    assert "incident_id" not in status.json() and "assigned_to" not in status.json()
    # typed back loosely: lower case, spaces, O for 0
    loose = receipt.lower().replace("-", " ").replace("0", "o")
    assert client.get("/api/v1/citizen/receipt", headers={"X-Receipt": loose}).status_code == 200
    added = client.post(
        "/api/v1/citizen/receipt/additions",
        headers={"X-Receipt": receipt},
        data={"text": "พบรถบรรทุกไม้อีกคัน"},
        files=[("photos", ("x.png", png_with_metadata(), "image/png"))],
    )
    assert added.status_code == 201, added.text
    assert added.json()["additions"] == 1 and added.json()["photos"] == 2
    # nothing else opens it: an unknown code, a malformed one, none
    wrong = receipt[:-1] + ("0" if receipt[-1] != "0" else "1")
    assert client.get("/api/v1/citizen/receipt", headers={"X-Receipt": wrong}).status_code == 404
    bad = client.get("/api/v1/citizen/receipt", headers={"X-Receipt": "ABC"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_receipt"
    assert client.get("/api/v1/citizen/receipt").status_code == 422
    empty = client.post("/api/v1/citizen/receipt/additions", headers={"X-Receipt": receipt}, data={"text": " "})
    assert empty.status_code == 400 and empty.json()["error"]["code"] == "empty_addition"


def test_positions_in_every_notation_and_outside_the_province(client):
    for where in (
        {"text": "18°08'42.5\"N 100°08'30\"E"},
        {"text": "47Q 537172 1958350"},
        {"text": "18.1452, 100.1417"},
    ):
        r = send(client, report(where=where))
        assert r.status_code == 201, (where, r.text)
    located = client.post("/api/v1/citizen/locate", json={"text": "18 08 42.5 N 100 08 30 E"})
    assert located.status_code == 200 and located.json()["place"]["district"]["code"] == "5401"
    # swapped coordinates are explained, never guessed
    swapped = client.post("/api/v1/citizen/locate", json={"text": "100.1417, 18.1452"})
    assert swapped.status_code == 400 and swapped.json()["error"]["code"] == "swapped_coordinates"
    # outside the province (Nan): kept, for national staff, not refused
    outside = send(client, report(where=NAN_POINT))
    assert outside.status_code == 201
    assert send(client, report(where={"text": "13.75, 100.5 extra"})).status_code == 400


def test_contact_details_cannot_be_read_with_the_database_alone(client, db_url, staff, admin_headers):
    contact = {
        "name": NAME,
        "phone": PHONE,
        "email": "somchai@example.org",
        "line_id": "somchai42",
        "note": "หลัง 18.00",
    }
    r = send(client, report(contact=contact))
    assert r.status_code == 201
    engine = create_engine(db_url)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT id, sealed_contact FROM citizen_reports")).one()
        dump = conn.execute(
            text("""
                SELECT string_agg(t::text, ' ') FROM (
                  SELECT to_jsonb(r) - 'geom' AS t FROM citizen_reports r
                  UNION ALL SELECT to_jsonb(a) FROM audit_log a
                  UNION ALL SELECT to_jsonb(h) FROM citizen_rate_hits h) x
            """)
        ).scalar_one()
    engine.dispose()
    sealed = bytes(row.sealed_contact)
    # the row: neither in clear nor in any plain encoding
    for secret in (PHONE, NAME, "somchai42", "somchai@example.org"):
        for form in (secret.encode(), base64.b64encode(secret.encode()), secret.encode().hex().encode()):
            assert form not in sealed
        assert secret not in dump
    assert "testclient" not in dump  # the client address is nowhere (TestClient's address)
    with pytest.raises(CryptoError):  # another key (what someone without the key file has) opens nothing
        SealedBox(PrivateKey.generate()).decrypt(sealed)
    # the key file, read separately, opens it
    private = PrivateKey(base64.b64decode(key_file(client).read_text()))
    opened = json.loads(SealedBox(private).decrypt(sealed))
    assert opened["contact"]["phone"] == PHONE and opened["contact"]["name"] == NAME
    # and through the service: only the assigned investigator, every opening audited without the details
    url = f"/api/v1/citizen/reports/{row.id}/contact"
    purpose = {"purpose": "ติดต่อพยาน"}
    assert client.post(url, headers=admin_headers, json=purpose).status_code == 403
    refused = client.post(url, headers=staff["inv"], json=purpose)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_assigned_investigator"
    assign = client.post(
        f"/api/v1/citizen/reports/{row.id}/assign", headers=admin_headers, json={"investigator": "inv1"}
    )
    assert assign.status_code == 200 and assign.json()["assigned_to"] == "inv1"
    assert client.post(url, headers=staff["inv2"], json=purpose).status_code == 403
    for _ in range(2):
        got = client.post(url, headers=staff["inv"], json=purpose)
        assert got.status_code == 200 and got.json()["contact"]["phone"] == PHONE and got.json()["member"] is None
    engine = create_engine(db_url)
    with engine.connect() as conn:
        openings = conn.execute(
            text("SELECT actor, after::text FROM audit_log WHERE action = 'open_contact' AND entity_id = :id"),
            {"id": str(row.id)},
        ).all()
    engine.dispose()
    assert [o.actor for o in openings] == ["inv1", "inv1"]
    assert all(PHONE not in o.after and "ติดต่อพยาน" in o.after for o in openings)
    # the triage views never carry the details
    detail = client.get(f"/api/v1/citizen/reports/{row.id}", headers=staff["inv"]).json()
    assert detail["has_contact"] is True and PHONE not in json.dumps(detail, ensure_ascii=False)


@pytest.mark.slow
def test_no_key_file_means_no_opening(client, staff, admin_headers):
    r = send(client, report(contact={"phone": PHONE}))
    rid = client.get("/api/v1/citizen/reports", headers=admin_headers).json()["items"][0]["id"]
    assert r.status_code == 201
    client.post(f"/api/v1/citizen/reports/{rid}/assign", headers=admin_headers, json={"investigator": "inv1"})
    key_file(client).rename(key_file(client).with_suffix(".moved"))
    gone = client.post(f"/api/v1/citizen/reports/{rid}/contact", headers=staff["inv"], json={"purpose": "call"})
    assert gone.status_code == 503 and gone.json()["error"]["code"] == "sealing_key_unavailable"


def test_every_served_copy_of_a_photo_is_stripped_and_the_original_kept(client, staff, admin_headers):
    jpeg, png = jpeg_with_gps(), png_with_metadata()
    r = send(client, report(), [jpeg, png])
    assert r.status_code == 201 and r.json()["photos"] == 2
    rid = client.get("/api/v1/citizen/reports", headers=admin_headers).json()["items"][0]["id"]
    detail = client.get(f"/api/v1/citizen/reports/{rid}", headers=staff["inv"]).json()
    assert {p["sha256"] for p in detail["photo_list"]} == {hashlib.sha256(b).hexdigest() for b in (jpeg, png)}
    served = []
    for p in detail["photo_list"]:
        for who in (staff["inv"], admin_headers):
            got = client.get(p["url"], headers=who)
            assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
            served.append(got.content)
    for data in served:
        img = Image.open(io.BytesIO(data))
        exif = img.getexif()
        assert len(exif) == 0 and exif.get_ifd(ExifTags.IFD.GPSInfo) == {}
        assert not {"exif", "icc_profile", "xmp", "comment", "Comment"} & set(img.info)
        for secret in (b"SecretPhoneModel", b"SERIAL-0042", b"SecretPlace", b"Exif\x00\x00"):
            assert secret not in data
    # the original, as received, for the assigned investigator only (audited)
    first = detail["photo_list"][0]
    original_url = first["url"] + "/original"
    assert client.get(original_url, headers=staff["inv"]).status_code == 403
    client.post(f"/api/v1/citizen/reports/{rid}/assign", headers=admin_headers, json={"investigator": "inv1"})
    original = client.get(original_url, headers=staff["inv"])
    assert original.status_code == 200 and hashlib.sha256(original.content).hexdigest() == first["sha256"]
    assert Image.open(io.BytesIO(original.content)).getexif().get_ifd(ExifTags.IFD.GPSInfo)[1] == "N"


def test_refused_photos_and_sizes_store_nothing(client_factory, db_url, admin_headers):
    client = client_factory(db_url, max_photos=2, photo_max_mb_public=1)
    too_many = send(client, report(), [jpeg_with_gps((i, 0, 0)) for i in range(3)])
    assert too_many.status_code == 400 and too_many.json()["error"]["code"] == "too_many_files"
    big = send(client, report(), [b"\xff\xd8" + b"0" * (1 << 20)])
    assert big.status_code == 413
    not_photo = send(client, report(), [b"%PDF-1.4 not a photo"])
    assert not_photo.status_code == 400 and not_photo.json()["error"]["code"] == "unsupported_photo"
    long_text = send(client, report(description="ก" * 5001))
    assert long_text.status_code == 422
    unknown = send(client, {**report(), "ip": "1.2.3.4"})  # no extra field gets in
    assert unknown.status_code == 422
    assert client.get("/api/v1/citizen/reports", headers=admin_headers).json()["total"] == 0


def test_the_honeypot_answers_like_a_report_and_stores_nothing(client, admin_headers):
    r = send(client, report(website="http://spam.example"))
    assert r.status_code == 201 and RECEIPT.match(r.json()["receipt"])
    assert client.get("/api/v1/citizen/reports", headers=admin_headers).json()["total"] == 0
    assert client.get("/api/v1/citizen/receipt", headers={"X-Receipt": r.json()["receipt"]}).status_code == 404


@pytest.mark.slow
def test_rate_limits_hold_across_two_api_processes(client_factory, db_url):
    """Two apps (two processes' worth of state) on one database share the counters."""
    a = client_factory(db_url, reports_per_address_per_hour=3, requests_per_receipt_per_hour=2)
    b = client_factory(db_url, reports_per_address_per_hour=3, requests_per_receipt_per_hour=2)
    assert [send(c, report()).status_code for c in (a, b, a)] == [201, 201, 201]
    refused = send(b, report())
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_requests"
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    # per receipt: the third look at one receipt within the hour, through either process
    receipt = b.get("/api/v1/citizen/receipt", headers={"X-Receipt": "0000-0000-0000-0000-0000"})
    assert receipt.status_code == 404
    assert a.get("/api/v1/citizen/receipt", headers={"X-Receipt": "0000 0000 0000 0000 0000"}).status_code == 404
    assert b.get("/api/v1/citizen/receipt", headers={"X-Receipt": "0000-0000-0000-0000-0000"}).status_code == 429
    engine = create_engine(db_url)
    with engine.connect() as conn:
        buckets = conn.execute(text("SELECT bucket, hits FROM citizen_rate_hits ORDER BY bucket")).all()
    engine.dispose()
    # one counter for the address (a refused request is not counted: its transaction is rolled back)
    assert sorted(h for _, h in buckets if _.startswith("report-address:")) == [3]
    assert all("testclient" not in bkt for bkt, _ in buckets)  # keyed hashes, not addresses


@pytest.mark.slow
def test_duplicates_same_photo_or_same_place_time_and_kind(client, admin_headers):
    photo = jpeg_with_gps()
    first = point("5401")
    assert send(client, report(where=first, observed_at="2026-12-01T10:00:00"), [photo]).status_code == 201
    # the same photo from somewhere else: a duplicate
    assert send(client, report(kind="burning", where=point("5406")), [photo]).status_code == 201
    # the same place (80 m away), time (2 h later) and kind: a duplicate
    near = {"lat": first["lat"] + 0.0007, "lon": first["lon"]}
    assert send(client, report(where=near, observed_at="2026-12-01T12:00:00")).status_code == 201
    # the same place and time, another kind; the same kind 7.5 h after the last; another district: not duplicates
    assert send(client, report(kind="logging", where=near, observed_at="2026-12-01T10:00:00")).status_code == 201
    assert send(client, report(where=first, observed_at="2026-12-01T19:30:00")).status_code == 201
    assert send(client, report(where=point("5408"), observed_at="2026-12-01T10:00:00")).status_code == 201
    items = client.get("/api/v1/citizen/reports", headers=admin_headers).json()["items"]
    by_id = sorted(items, key=lambda i: i["id"])
    first_id = by_id[0]["id"]
    assert [i["duplicate_of"] for i in by_id] == [None, first_id, first_id, None, None, None]


def test_triage_accept_becomes_an_incident_with_the_link(client, staff, admin_headers):
    r = send(client, report(kind="logging", observed_at="2026-12-01T08:00:00"), [jpeg_with_gps(), png_with_metadata()])
    receipt = r.json()["receipt"]
    rid = client.get("/api/v1/citizen/reports", headers=staff["inv"]).json()["items"][0]["id"]
    accepted = client.post(f"/api/v1/citizen/reports/{rid}/accept", headers=staff["inv"])
    assert accepted.status_code == 200, accepted.text
    incident_id = accepted.json()["incident_id"]
    assert accepted.json()["status"] == "accepted" and accepted.json()["triaged_by"] == "inv1"
    incident = client.get(f"/api/v1/incidents/{incident_id}", headers=admin_headers).json()
    assert incident["kind"] == "illegal_logging" and incident["reporter"] == f"CR-{rid} (public)"
    assert incident["place"]["district"]["code"] == "5401"
    # the incident's photos are the stripped copies, never the originals
    assert len(incident["photos"]) == 2
    for p in incident["photos"]:
        assert "no_position" in p["flags"]
        got = client.get(f"/api/v1/photos/{p['id']}", headers=admin_headers)
        assert got.status_code == 200 and b"SecretPhoneModel" not in got.content
        assert Image.open(io.BytesIO(got.content)).getexif().get_ifd(ExifTags.IFD.GPSInfo) == {}
        thumb = client.get(f"/api/v1/photos/{p['id']}/thumbnail", headers=admin_headers)  # every served copy
        assert thumb.status_code == 200 and b"SecretPhoneModel" not in thumb.content
        assert len(Image.open(io.BytesIO(thumb.content)).getexif()) == 0
    again = client.post(f"/api/v1/citizen/reports/{rid}/accept", headers=staff["inv"])
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_triaged"
    assert client.get("/api/v1/citizen/receipt", headers={"X-Receipt": receipt}).json()["status"] == "accepted"
    # the queue by default shows what waits; accepted ones on request
    assert client.get("/api/v1/citizen/reports", headers=staff["inv"]).json()["total"] == 0
    done = client.get("/api/v1/citizen/reports", params={"status": "accepted"}, headers=staff["inv"]).json()
    assert [i["incident_id"] for i in done["items"]] == [incident_id]


def test_triage_merge_and_reject_with_a_reason(client, staff):
    receipts = [send(client, report(where=point(code))).json()["receipt"] for code in ("5401", "5402", "5403")]
    ids = sorted(i["id"] for i in client.get("/api/v1/citizen/reports", headers=staff["inv"]).json()["items"])
    merged = client.post(f"/api/v1/citizen/reports/{ids[1]}/merge", headers=staff["inv"], json={"into": ids[0]})
    assert merged.status_code == 200 and merged.json()["merged_into"] == ids[0]
    assert (
        client.post(f"/api/v1/citizen/reports/{ids[2]}/merge", headers=staff["inv"], json={"into": ids[2]}).status_code
        == 400
    )
    assert (
        client.post(f"/api/v1/citizen/reports/{ids[2]}/merge", headers=staff["inv"], json={"into": ids[1]}).status_code
        == 409
    )
    assert (
        client.post(f"/api/v1/citizen/reports/{ids[2]}/reject", headers=staff["inv"], json={"reason": ""}).status_code
        == 422
    )
    reason = "ภาพไม่ใช่พื้นที่ป่า <script>alert(1)</script>"
    rejected = client.post(f"/api/v1/citizen/reports/{ids[2]}/reject", headers=staff["inv"], json={"reason": reason})
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    follow = client.get("/api/v1/citizen/receipt", headers={"X-Receipt": receipts[2]}).json()
    assert follow["status"] == "rejected" and follow["reason"] == reason
    assert client.get("/api/v1/citizen/receipt", headers={"X-Receipt": receipts[1]}).json()["status"] == "merged"


@pytest.mark.slow
def test_another_provinces_reports_are_hidden(db_url, sessionmaker_for, client_factory, admin_headers):
    load_nan(sessionmaker_for(db_url))
    client = client_factory(db_url)
    for username, province in (("phrae_inv", "54"), ("nan_inv", "55")):
        body = {"username": username, "password": PASSWORD, "roles": ["investigator"], "provinces": [province]}
        assert client.post("/api/v1/admin/users", headers=admin_headers, json=body).status_code == 201
    tokens = {
        u: {
            "Authorization": "Bearer "
            + client.post("/api/v1/auth/token", data={"username": u, "password": PASSWORD}).json()["access_token"]
        }
        for u in ("phrae_inv", "nan_inv")
    }
    assert send(client, report(where=NAN_POINT)).status_code == 201
    nan_items = client.get("/api/v1/citizen/reports", headers=tokens["nan_inv"]).json()["items"]
    assert [i["province_code"] for i in nan_items] == ["55"]
    assert client.get("/api/v1/citizen/reports", headers=tokens["phrae_inv"]).json()["total"] == 0
    rid = nan_items[0]["id"]
    assert client.get(f"/api/v1/citizen/reports/{rid}", headers=tokens["phrae_inv"]).status_code == 404
    assert client.post(f"/api/v1/citizen/reports/{rid}/accept", headers=tokens["phrae_inv"]).status_code == 404
    # a Phrae investigator cannot be assigned to a Nan report
    bad = client.post(
        f"/api/v1/citizen/reports/{rid}/assign", headers=admin_headers, json={"investigator": "phrae_inv"}
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "not_an_investigator"


@pytest.mark.slow
def test_network_members_report_with_identity_sealed_and_are_counted_by_district(client, admin_headers, login):
    def member(username, district):
        body = {"username": username, "password": PASSWORD, "district_code": district, "display_name": username}
        r = client.post("/api/v1/citizen/network/members", headers=admin_headers, json=body)
        assert r.status_code == 201, r.text
        return r.json()

    assert member("vol_song1", "5404")["province_code"] == "54"
    member("vol_song2", "5404")
    member("vol_den", "5407")
    member("vol_gone", "5407")
    assert client.post("/api/v1/admin/users/vol_gone/deactivate", headers=admin_headers).status_code == 200
    bad = client.post(
        "/api/v1/citizen/network/members",
        headers=admin_headers,
        json={"username": "x_vol", "password": PASSWORD, "district_code": "9999"},
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "unknown_district"
    token = client.post("/api/v1/auth/token", data={"username": "vol_song1", "password": PASSWORD}).json()
    vol = {"Authorization": f"Bearer {token['access_token']}"}
    # a member may report (signed in); nothing else of the service opens to them
    assert send(client, report(where=point("5404")), headers=vol).status_code == 201
    assert client.get("/api/v1/incidents", headers=vol).status_code == 403
    assert client.get("/api/v1/citizen/reports", headers=vol).status_code == 403
    assert send(client, report(where=point("5404"), kind="burning")).status_code == 201
    assert send(client, report(where=point("5401"), kind="logging")).status_code == 201
    items = client.get("/api/v1/citizen/reports", headers=admin_headers).json()["items"]
    sources = sorted((i["district_code"], i["source"]) for i in items)
    assert sources == [("5401", "public"), ("5404", "member"), ("5404", "public")]
    assert "vol_song1" not in json.dumps(items)
    sealed_member = next(i for i in items if i["source"] == "member")
    private = PrivateKey(base64.b64decode(key_file(client).read_text()))
    engine = create_engine(str(client.app.state.engine.url.render_as_string(hide_password=False)))
    with engine.connect() as conn:
        sealed = conn.execute(
            text("SELECT sealed_contact FROM citizen_reports WHERE id = :id"), {"id": sealed_member["id"]}
        ).scalar_one()
        audit_text = conn.execute(
            text(
                "SELECT string_agg(actor || coalesce(after::text, ''), ' ') FROM audit_log WHERE entity_type = 'citizen_report'"
            )
        ).scalar_one()
    engine.dispose()
    assert json.loads(SealedBox(private).decrypt(bytes(sealed)))["member"] == "vol_song1"
    assert "vol_song1" not in audit_text
    counts = client.get("/api/v1/citizen/network/districts", headers=login("committee1", "committee_member"))
    assert counts.status_code == 200
    by_code = {d["district_code"]: d for d in counts.json()["districts"]}
    assert len(by_code) == 8  # every Phrae district, with or without members
    assert (by_code["5404"]["active_members"], by_code["5404"]["members"]) == (2, 2)
    assert (by_code["5407"]["active_members"], by_code["5407"]["members"]) == (1, 2)
    assert (by_code["5404"]["public_reports"], by_code["5404"]["member_reports"]) == (1, 1)
    assert (by_code["5401"]["public_reports"], by_code["5401"]["active_members"]) == (1, 0)
    assert counts.json()["total_active_members"] == 3 and counts.json()["total_reports"] == 3
    # reports of one Thai fiscal year: this one (Dec 2026 is in FY 2570) and an empty one
    this_year = client.get("/api/v1/citizen/network/districts", params={"fiscal_year": 2570}, headers=admin_headers)
    assert this_year.json()["total_reports"] == 3
    empty = client.get("/api/v1/citizen/network/districts", params={"fiscal_year": 2569}, headers=admin_headers)
    assert empty.json()["total_reports"] == 0 and empty.json()["total_active_members"] == 3
    listed = client.get("/api/v1/citizen/network/members", headers=admin_headers).json()
    assert {m["username"]: m["active"] for m in listed}["vol_gone"] is False


def test_receipt_codes_and_the_access_log_filter():
    a = sealing.receipt_for("secret", "key-1")
    assert a == sealing.receipt_for("secret", "key-1") != sealing.receipt_for("secret", "key-2")
    assert a != sealing.receipt_for("other secret", "key-1") and RECEIPT.match(a)
    assert sealing.normalise_receipt(a.lower().replace("-", "")) == a
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("10.1.2.3:5555", "POST", "/api/v1/citizen/reports", "1.1", 201),
        None,
    )
    assert AnonymousAccessLog().filter(record) and "10.1.2.3" not in record.getMessage()
    staff_line = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("10.1.2.3:5555", "GET", "/api/v1/incidents", "1.1", 200),
        None,
    )
    assert AnonymousAccessLog().filter(staff_line) and "10.1.2.3" in staff_line.getMessage()


@pytest.mark.slow
def test_keygen_writes_a_private_key_file_and_prints_its_public_key(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from geo_service.cli import app

    path = tmp_path / "keys" / "sealing.key"
    r = CliRunner().invoke(app, ["citizen", "keygen", "--key-file", str(path)])
    assert r.exit_code == 0, r.output
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    printed = re.search(r"GEO_SERVICE_CITIZEN_PUBLIC_KEY=(\S+)", r.output).group(1)
    private = PrivateKey(base64.b64decode(path.read_text()))
    assert base64.b64decode(printed) == bytes(private.public_key)
    # a sealed box to the printed key opens with the file
    sealed = sealing.seal(sealing.public_key(printed, tmp_path / "absent", False), {"contact": {"phone": PHONE}})
    assert json.loads(SealedBox(private).decrypt(sealed))["contact"]["phone"] == PHONE
    again = CliRunner().invoke(app, ["citizen", "keygen", "--key-file", str(path)])
    assert again.exit_code != 0 and path.read_text() and PrivateKey(base64.b64decode(path.read_text())) == private


@pytest.mark.slow
def test_member_sign_in_on_the_citizen_path_refuses_staff_alike_and_is_limited(client_factory, db_url, admin_headers):
    """The report page signs members in at /api/v1/citizen/auth/token (a path whose access-log lines carry no
    address): members only, staff refused with the very answer of a wrong password, limited per address."""
    client = client_factory(db_url, lookups_per_address_per_hour=6)
    body = {"username": "vol_signin", "password": PASSWORD, "district_code": "5404"}
    assert client.post("/api/v1/citizen/network/members", headers=admin_headers, json=body).status_code == 201
    staff = {"username": "inv_signin", "password": PASSWORD, "roles": ["investigator"], "provinces": ["54"]}
    assert client.post("/api/v1/admin/users", headers=admin_headers, json=staff).status_code == 201

    def sign_in(username, password):
        return client.post("/api/v1/citizen/auth/token", data={"username": username, "password": password})

    ok = sign_in("vol_signin", PASSWORD)
    assert ok.status_code == 200 and ok.json()["roles"] == ["network_member"], ok.text
    assert ok.headers["cache-control"] == "no-store"
    member = {"Authorization": f"Bearer {ok.json()['access_token']}"}
    assert send(client, report(), headers=member).status_code == 201
    wrong = sign_in("vol_signin", "not the password")
    staff_right = sign_in("inv_signin", PASSWORD)  # a right staff password learns nothing here
    nobody = sign_in("nobody_here", PASSWORD)
    assert wrong.status_code == staff_right.status_code == nobody.status_code == 401
    answers = [{k: v for k, v in r.json()["error"].items() if k != "request_id"} for r in (wrong, staff_right, nobody)]
    assert answers[0] == answers[1] == answers[2]
    assert {r.headers.get("www-authenticate") for r in (wrong, staff_right, nobody)} == {
        wrong.headers.get("www-authenticate")
    }
    assert "network" in wrong.json()["error"]["message"] and PASSWORD not in wrong.text
    # staff still sign in where they always did
    assert client.post("/api/v1/auth/token", data={"username": "inv_signin", "password": PASSWORD}).status_code == 200
    # sign-out from the page ends the member's tokens; staff cannot use it
    assert client.post("/api/v1/citizen/auth/logout", headers=member).status_code == 204
    assert client.get("/api/v1/auth/me", headers=member).status_code == 401
    # guessing passwords here is limited per address (6 an hour in this test; 4 used above)
    assert [sign_in("vol_signin", f"guess {i}").status_code for i in range(3)] == [401, 401, 429]
    assert sign_in("vol_signin", PASSWORD).status_code == 429  # even the right one, until the hour ends


def test_access_log_filter_hides_the_member_sign_in_and_keeps_staff_sign_in():
    """The citizen path's sign-in and sign-out lines lose the address; staff sign-in lines keep it."""
    f = AnonymousAccessLog()

    def line(path):
        record = logging.LogRecord(
            "uvicorn.access",
            logging.INFO,
            "",
            0,
            '%s - "%s %s HTTP/%s" %d',
            ("203.0.113.9:5555", "POST", path, "1.1", 200),
            None,
        )
        f.filter(record)
        return record.getMessage()

    for path in ("/api/v1/citizen/auth/token", "/api/v1/citizen/auth/logout"):
        assert "203.0.113.9" not in line(path) and line(path).startswith("- ")
    assert line("/api/v1/auth/token").startswith("203.0.113.9")
