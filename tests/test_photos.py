"""Incident photos: content-checked types, SHA-256, EXIF position/time flags, thumbnails, idempotency, roles."""

from __future__ import annotations

import hashlib
import io

import pytest
from PIL import ExifTags, Image
from pillow_heif import register_heif_opener

register_heif_opener()


def photo(fmt="JPEG", gps=(18.145139, 100.141667), taken="2024:03:15 14:05:00", size=(800, 600), color=(30, 120, 40)):
    img = Image.new("RGB", size, color)
    exif = Image.Exif()
    if gps:
        lat, lon = gps

        def dms(v):
            d = int(v)
            m = int((v - d) * 60)
            return (float(d), float(m), round(((v - d) * 60 - m) * 60, 4))

        exif[ExifTags.IFD.GPSInfo] = {1: "N", 2: dms(lat), 3: "E", 4: dms(lon)}
    if taken:
        exif[ExifTags.IFD.Exif] = {ExifTags.Base.DateTimeOriginal: taken, ExifTags.Base.OffsetTimeOriginal: "+07:00"}
    buf = io.BytesIO()
    if fmt == "HEIF":
        img.save(buf, "HEIF", exif=exif.tobytes())
    elif fmt == "PNG":
        img.save(buf, "PNG")
    else:
        img.save(buf, fmt, exif=exif)
    return buf.getvalue()


@pytest.fixture
def incident(client, officer):
    r = client.post(
        "/api/v1/incidents",
        headers=officer,
        json={
            "kind": "burning",
            "location": {"lat": 18.145139, "lon": 100.141667},
            "observed_at": "2024-03-15T14:00:00+07:00",
        },
    )
    assert r.status_code == 201
    return r.json()


def upload(client, headers, incident_id, *files):
    return client.post(
        f"/api/v1/incidents/{incident_id}/photos",
        headers=headers,
        files=[("files", (name, data, "application/octet-stream")) for name, data in files],
    )


def test_jpeg_heic_png_with_exif_checks_and_thumbnails(client, officer, incident):
    near = photo()
    far = photo(gps=(18.2, 100.2), color=(200, 10, 10))  # about 8 km away
    late = photo(taken="2024:03:25 09:00:00", color=(10, 10, 200))  # ten days later
    heic = photo("HEIF", color=(90, 90, 90))
    png = photo("PNG")  # PNG carries no EXIF here
    r = upload(
        client,
        officer,
        incident["id"],
        ("near.jpg", near),
        ("far.jpg", far),
        ("late.jpg", late),
        ("iphone.heic", heic),
        ("scan.png", png),
    )
    assert r.status_code == 201, r.text
    got = {p["filename"]: p for p in r.json()}
    assert got["near.jpg"]["flags"] == [] and got["near.jpg"]["distance_m"] < 1
    assert got["near.jpg"]["sha256"] == hashlib.sha256(near).hexdigest()
    assert got["far.jpg"]["flags"] == ["far_from_incident"] and 7000 < got["far.jpg"]["distance_m"] < 10000
    assert got["late.jpg"]["flags"] == ["taken_too_late"]
    assert got["iphone.heic"]["content_type"] == "image/heic" and got["iphone.heic"]["flags"] == []
    assert got["scan.png"]["flags"] == ["no_position", "no_time"]
    # The original comes back byte for byte; the thumbnail is a small JPEG without the GPS position.
    orig = client.get(got["near.jpg"]["url"], headers=officer)
    assert orig.content == near and orig.headers["content-type"] == "image/jpeg"
    assert orig.headers["x-content-type-options"] == "nosniff"
    thumb = client.get(got["near.jpg"]["thumbnail_url"], headers=officer)
    with Image.open(io.BytesIO(thumb.content)) as t:
        assert t.format == "JPEG" and max(t.size) == 320
        assert not t.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    listed = client.get(f"/api/v1/incidents/{incident['id']}", headers=officer).json()["photos"]
    assert len(listed) == 5


def test_same_photo_twice_is_stored_once(client, officer, incident):
    data = photo()
    a = upload(client, officer, incident["id"], ("a.jpg", data)).json()
    b = upload(client, officer, incident["id"], ("again.jpg", data)).json()
    assert a[0]["id"] == b[0]["id"]
    assert len(client.get(f"/api/v1/incidents/{incident['id']}", headers=officer).json()["photos"]) == 1


@pytest.mark.parametrize(
    "name, data, code",
    [
        ("notes.jpg", b"this is text, not a photo", "unsupported_photo"),
        ("empty.jpg", b"", "unsupported_photo"),
        ("truncated.jpg", photo(size=(1600, 1200))[:4000], "unsupported_photo"),
        (
            "anim.gif",
            (lambda b: (Image.new("RGB", (10, 10)).save(b, "GIF"), b.getvalue())[1])(io.BytesIO()),
            "unsupported_photo",
        ),
    ],
)
def test_bad_files_are_refused_and_nothing_is_stored(client, officer, incident, name, data, code):
    good = photo()
    r = upload(client, officer, incident["id"], ("good.jpg", good), (name, data))
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == code
    assert client.get(f"/api/v1/incidents/{incident['id']}", headers=officer).json()["photos"] == []


@pytest.mark.slow
def test_size_cap_and_roles(db_url, client_factory, admin_headers, client, officer, login, incident):
    small = client_factory(db_url, photo_max_mb=1)
    big = bytes(2 << 20)  # over the 1 MB cap
    r = upload(small, admin_headers, incident["id"], ("big.jpg", big))
    assert r.status_code == 413
    other = login("officer2", "field_officer")
    assert upload(client, other, incident["id"], ("a.jpg", photo())).status_code == 403
    assert upload(client, {}, incident["id"], ("a.jpg", photo())).status_code == 401
    assert upload(client, officer, 999999, ("a.jpg", photo())).status_code == 404
    assert client.get("/api/v1/photos/999999", headers=officer).status_code == 404


def test_phone_jpeg_read_as_mpo_is_accepted_as_jpeg(client, officer, incident):
    """Many phone cameras write a JPEG with a second embedded image (CIPA MP format); Pillow calls it MPO."""
    first, second = Image.open(io.BytesIO(photo())), Image.new("RGB", (160, 120), (0, 0, 0))
    buf = io.BytesIO()
    first.save(buf, "MPO", save_all=True, append_images=[second], exif=first.getexif())
    data = buf.getvalue()
    assert Image.open(io.BytesIO(data)).format == "MPO" and data[:2] == b"\xff\xd8"
    r = upload(client, officer, incident["id"], ("phone.jpg", data))
    assert r.status_code == 201, r.text
    stored = r.json()[0]
    assert stored["content_type"] == "image/jpeg" and stored["flags"] == []  # EXIF position and time were read
    assert client.get(stored["url"], headers=officer).content == data


def test_field_officer_adds_no_photo_once_the_incident_is_linked_to_a_case(client, officer, investigator, incident):
    assert upload(client, officer, incident["id"], ("a.jpg", photo())).status_code == 201
    case = client.post(
        "/api/v1/cases",
        headers=investigator,
        json={"title": "Permits in the reserve", "category": "encroachment_permitted", "received_on": "2024-03-16"},
    ).json()
    r = client.post(
        f"/api/v1/cases/{case['id']}/links",
        headers=investigator,
        json={"target_type": "incident", "target_id": str(incident["id"]), "reason": "seen burning"},
    )
    assert r.status_code in (200, 201), r.text
    r = upload(client, officer, incident["id"], ("b.jpg", photo(color=(1, 2, 3))))
    assert r.status_code == 403 and r.json()["error"]["code"] == "incident_linked"
    assert len(client.get(f"/api/v1/incidents/{incident['id']}", headers=officer).json()["photos"]) == 1
    assert upload(client, investigator, incident["id"], ("c.jpg", photo(color=(4, 5, 6)))).status_code == 201
