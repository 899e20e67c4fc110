"""The regression corpus of issue 12: every bad input found by hand or by the fuzzer answers < 500.

Each entry is one request (or a short sequence) that once gave a 5xx where the contract promises a 4xx.
A new finding gets a line here.
"""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from tests.samples import VIIRS_HEADER as HEADER

NUL = "a\x00b"
BIG = 2**63


def _jpeg(taken: str) -> bytes:
    img = Image.new("RGB", (32, 32), (10, 120, 40))
    exif = Image.Exif()
    exif[0x8769] = {0x9003: taken}
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def _firms(row: str) -> bytes:
    return (HEADER + row + "\n").encode()


def _geojson(props: str, encoding_bytes: bytes | None = None) -> bytes:
    body = (
        '{"type":"FeatureCollection","features":[{"type":"Feature","properties":' + props + ","
        '"geometry":{"type":"Polygon","coordinates":[[[100,18],[100.1,18],[100.1,18.1],[100,18.1],[100,18]]]}}]}'
    )
    return body.encode() if encoding_bytes is None else body.encode().replace(b"@@", encoding_bytes)


LAYER_FORM = {
    "layer_type": "district",
    "name": "x",
    "version": "1",
    "source": "s",
    "licence": "l",
    "attribution": "a",
    "fields": json.dumps({"code": "code", "name_th": "name"}),
}

# (id, who, method, path, keyword arguments for client.request)
CORPUS = [
    # NUL bytes in text, signed in or not
    ("nul-signin", None, "POST", "/api/v1/auth/token", {"data": {"username": NUL, "password": "x"}}),
    ("nul-session", None, "POST", "/api/v1/auth/session", {"data": {"username": NUL, "password": "x"}}),
    ("nul-password", None, "POST", "/api/v1/auth/token", {"data": {"username": "admin", "password": NUL}}),
    (
        "nul-incident",
        "officer",
        "POST",
        "/api/v1/incidents",
        {"json": {"kind": "burning", "location": {"lat": 18.2, "lon": 100.3}, "description": NUL}},
    ),
    ("nul-query", "admin", "GET", "/api/v1/incidents", {"params": {"q": NUL}}),
    ("nul-case", "admin", "POST", "/api/v1/cases", {"json": {"title": "x" + NUL, "category": "other"}}),
    ("nul-ogc-filter", None, "GET", "/ogc/collections/districts/items", {"params": {"filter": f"name_en = '{NUL}'"}}),
    ("nul-district-code", None, "GET", "/api/v1/districts/a%00b", {}),
    ("nul-query-string", None, "GET", "/api/v1/protected-areas?kind=a%00b", {}),
    # CQL2 type mismatches, division by zero, invalid geometry, RELATE patterns
    ("cql-number-vs-text", "admin", "GET", "/ogc/collections/hotspots/items", {"params": {"filter": "satellite > 5"}}),
    ("cql-bad-date", "admin", "GET", "/ogc/collections/incidents/items", {"params": {"filter": "observed_at = 'abc'"}}),
    ("cql-divide-by-zero", "admin", "GET", "/ogc/collections/hotspots/items", {"params": {"filter": "frp / 0 > 1"}}),
    (
        "cql-divide-by-zero-export",
        "admin",
        "GET",
        "/api/v1/exports/hotspots",
        {"params": {"filter": "frp / (confidence - confidence) > 1"}},
    ),
    (
        "cql-invalid-geometry",
        None,
        "GET",
        "/ogc/collections/districts/items",
        {"params": {"filter": "S_INTERSECTS(geometry, POLYGON((100 18, 101 19, 100 19, 101 18, 100 18)))"}},
    ),
    (
        "cql-unclosed-ring",
        None,
        "GET",
        "/ogc/collections/districts/items",
        {"params": {"filter": "S_INTERSECTS(geometry, POLYGON((100 18, 101 19, 100 19)))"}},
    ),
    (
        "cql-relate-pattern",
        None,
        "GET",
        "/ogc/collections/districts/items",
        {"params": {"filter": "RELATE(geometry, POINT(100 18), 'XYZXYZXYZ')"}},
    ),
    ("cql-text-vs-number", None, "GET", "/ogc/collections/districts/items", {"params": {"filter": "code > 5"}}),
    # offsets and limits beyond 64 bits
    ("offset-2^63", "admin", "GET", "/api/v1/incidents", {"params": {"offset": BIG}}),
    ("offset-2^63-geojson", "admin", "GET", "/api/v1/incidents.geojson", {"params": {"offset": BIG}}),
    ("offset-2^63-ogc", None, "GET", "/ogc/collections/districts/items", {"params": {"offset": BIG}}),
    ("offset-2^64-ogc", None, "GET", "/ogc/collections/districts/items", {"params": {"offset": 2**64}}),
    ("limit-2^63-export", "admin", "GET", "/api/v1/exports/districts", {"params": {"limit": BIG}}),
    ("case-id-2^63", "admin", "GET", f"/api/v1/cases/{BIG}", {}),
    ("incident-id-2^63", "admin", "GET", f"/api/v1/incidents/{BIG}", {}),
    # years 0001 and 9999
    ("summary-year-1", None, "GET", "/api/v1/hotspots/summary", {"params": {"from": "0001-01-01", "to": "0001-12-31"}}),
    (
        "summary-year-9999",
        None,
        "GET",
        "/api/v1/hotspots/summary",
        {"params": {"from": "9999-01-01", "to": "9999-12-31"}},
    ),
    ("summary-fy-9999", None, "GET", "/api/v1/hotspots/summary", {"params": {"fiscal_year_be": 9999}}),
    ("hotspots-year-9999", None, "GET", "/api/v1/hotspots", {"params": {"from": "9999-12-31"}}),
    ("map-year-1", "admin", "GET", "/maps/overview", {"params": {"from": "0001-01-01", "to": "0001-01-31"}}),
    ("map-year-9999", "admin", "GET", "/maps/overview", {"params": {"from": "9999-12-01", "to": "9999-12-31"}}),
    ("map-fy-9999", "admin", "GET", "/maps/overview", {"params": {"fiscal_year_be": 9999}}),
    (
        "incidents-year-9999",
        "admin",
        "GET",
        "/api/v1/incidents",
        {"params": {"from": "9999-12-31", "to": "9999-12-31"}},
    ),
    (
        "incident-observed-9999",
        "officer",
        "POST",
        "/api/v1/incidents",
        {"json": {"kind": "burning", "location": {"lat": 18.2, "lon": 100.3}, "observed_at": "9999-12-31T23:59:59"}},
    ),
    (
        "incident-observed-0001",
        "officer",
        "POST",
        "/api/v1/incidents",
        {"json": {"kind": "burning", "location": {"lat": 18.2, "lon": 100.3}, "observed_at": "0001-01-01T00:00:00"}},
    ),
    ("export-year-9999", None, "GET", "/api/v1/exports/hotspots", {"params": {"from": "9999-12-31"}}),
    (
        "ogc-datetime-9999",
        None,
        "GET",
        "/ogc/collections/hotspots/items",
        {"params": {"datetime": "9999-12-31T23:59:59Z/.."}},
    ),
    (
        "ogc-datetime-0001",
        None,
        "GET",
        "/ogc/collections/hotspots/items",
        {"params": {"datetime": "0001-01-01T00:00:00Z"}},
    ),
    (
        "case-received-9999",
        "admin",
        "POST",
        "/api/v1/cases",
        {"json": {"title": "year 9999", "category": "other", "received_on": "9999-12-31"}},
    ),
    ("brief-fy-9999", "admin", "POST", "/api/v1/briefs", {"json": {"fiscal_year_be": 9999}}),
    ("brief-fy-0001", "admin", "POST", "/api/v1/briefs", {"json": {"fiscal_year_be": 1}}),
    # FIRMS rows: a date in 9999, FRP 1e308 / 1e400 (Infinity), a 200,000-character field
    (
        "firms-9999",
        "admin",
        "POST",
        "/api/v1/admin/hotspots/firms",
        {
            "files": {
                "file": (
                    "f.csv",
                    _firms("18.1,100.1,330,0.4,0.4,9999-12-31,0606,N,VIIRS,n,2.0NRT,290,2.0,D"),
                    "text/csv",
                )
            }
        },
    ),
    (
        "firms-frp-1e308",
        "admin",
        "POST",
        "/api/v1/admin/hotspots/firms",
        {
            "files": {
                "file": (
                    "f.csv",
                    _firms("18.1,100.1,330,0.4,0.4,2024-03-01,0606,N,VIIRS,n,2.0NRT,290,1e308,D"),
                    "text/csv",
                )
            }
        },
    ),
    (
        "firms-frp-1e400",
        "admin",
        "POST",
        "/api/v1/admin/hotspots/firms",
        {
            "files": {
                "file": (
                    "f.csv",
                    _firms("18.1,100.1,330,0.4,0.4,2024-03-01,0606,N,VIIRS,n,2.0NRT,290,1e400,D"),
                    "text/csv",
                )
            }
        },
    ),
    (
        "firms-frp-nan",
        "admin",
        "POST",
        "/api/v1/admin/hotspots/firms",
        {
            "files": {
                "file": (
                    "f.csv",
                    _firms("18.1,100.1,330,0.4,0.4,2024-03-01,0606,N,VIIRS,n,2.0NRT,290,nan,D"),
                    "text/csv",
                )
            }
        },
    ),
    (
        "firms-200k-field",
        "admin",
        "POST",
        "/api/v1/admin/hotspots/firms",
        {
            "files": {
                "file": (
                    "f.csv",
                    _firms("18.1,100.1,330,0.4,0.4,2024-03-01,0606,N,VIIRS,n," + "x" * 200_000 + ",290,2.0,D"),
                    "text/csv",
                )
            }
        },
    ),
    (
        "import-200k-field",
        "officer",
        "POST",
        "/api/v1/incidents/import",
        {
            "files": {
                "file": (
                    "i.csv",
                    (
                        'kind,observed_at,location,description\nwildfire,2024-03-10T15:00:00,"18.2, 100.3",'
                        + "x" * 200_000
                        + "\n"
                    ).encode(),
                )
            }
        },
    ),
    (
        "import-nul",
        "officer",
        "POST",
        "/api/v1/incidents/import",
        {
            "files": {
                "file": (
                    "i.csv",
                    (
                        'kind,observed_at,location,description\nwildfire,2024-03-10T15:00:00,"18.2, 100.3",'
                        + NUL
                        + "\n"
                    ).encode(),
                )
            }
        },
    ),
    (
        "import-year-9999",
        "officer",
        "POST",
        "/api/v1/incidents/import",
        {"files": {"file": ("i.csv", b'kind,observed_at,location\nwildfire,9999-12-31T23:59:59,"18.2, 100.3"\n')}},
    ),
    # layer files: non-UTF-8 text, an unknown encoding, a NUL in a name
    (
        "layer-latin1",
        "admin",
        "POST",
        "/api/v1/admin/layers",
        {"data": LAYER_FORM, "files": {"file": ("l.geojson", _geojson('{"code":"X1","name":"@@"}', b"\xe9\xff\xfe"))}},
    ),
    (
        "layer-unknown-encoding",
        "admin",
        "POST",
        "/api/v1/admin/layers",
        {
            "data": {**LAYER_FORM, "encoding": "klingon"},
            "files": {"file": ("l.geojson", _geojson('{"code":"X1","name":"n"}'))},
        },
    ),
    (
        "layer-nul-name",
        "admin",
        "POST",
        "/api/v1/admin/layers",
        {"data": LAYER_FORM, "files": {"file": ("l.geojson", _geojson('{"code":"X1","name":"a\\u0000b"}'))}},
    ),
    (
        "layer-nul-form",
        "admin",
        "POST",
        "/api/v1/admin/layers",
        {"data": {**LAYER_FORM, "name": NUL}, "files": {"file": ("l.geojson", _geojson('{"code":"X1","name":"n"}'))}},
    ),
]


@pytest.fixture(scope="module")
def corpus_client(pg_cluster, template_db, tmp_path_factory):
    from tests.conftest import _clone, app_client

    url = pg_cluster.url(_clone(pg_cluster, template_db))
    with app_client(url, tmp_path_factory.mktemp("corpus")) as client:
        yield client


@pytest.fixture(scope="module")
def who(corpus_client):
    from tests.conftest import ADMIN_TOKEN, PASSWORD

    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    corpus_client.post(
        "/api/v1/admin/users",
        headers=admin,
        json={"username": "corpus_officer", "password": PASSWORD, "roles": ["field_officer"], "display_name": "C"},
    )
    token = corpus_client.post("/api/v1/auth/token", data={"username": "corpus_officer", "password": PASSWORD})
    return {None: {}, "admin": admin, "officer": {"Authorization": f"Bearer {token.json()['access_token']}"}}


@pytest.mark.parametrize("case", CORPUS, ids=[c[0] for c in CORPUS])
def test_bad_input_is_never_a_server_error(corpus_client, who, case):
    _, caller, method, path, kwargs = case
    r = corpus_client.request(method, path, headers=who[caller], **kwargs)
    assert r.status_code < 500, r.text[:300]
    if r.status_code >= 400:
        assert r.json()["error"]["code"]


def test_a_far_future_firms_row_does_not_break_the_public_summary(corpus_client, who):
    """A row dated 9999-12-31 was stored, and then the public summary failed for everyone."""
    corpus_client.post(
        "/api/v1/admin/hotspots/firms",
        headers=who["admin"],
        files={
            "file": ("f.csv", _firms("18.1,100.1,330,0.4,0.4,9999-12-31,0606,N,VIIRS,n,2.0NRT,290,2.0,D"), "text/csv")
        },
    )
    for params in ({}, {"fiscal_year_be": 2567}, {"compare": "previous_year"}):
        assert corpus_client.get("/api/v1/hotspots/summary", params=params).status_code < 500
    assert corpus_client.get("/maps/overview", headers=who["admin"]).status_code < 500
    assert corpus_client.get("/api/v1/hotspots").status_code < 500


def test_photo_exif_years_0001_and_9999(corpus_client, who):
    inc = corpus_client.post(
        "/api/v1/incidents", headers=who["officer"], json={"kind": "burning", "location": {"lat": 18.2, "lon": 100.3}}
    ).json()
    for taken in ("0001:01:01 00:00:00", "9999:12:31 23:59:59", "0000:00:00 00:00:00", "2024:13:45 99:99:99"):
        r = corpus_client.post(
            f"/api/v1/incidents/{inc['id']}/photos",
            headers=who["officer"],
            files=[("files", ("p.jpg", _jpeg(taken), "image/jpeg"))],
        )
        assert r.status_code < 500, (taken, r.text[:300])


@pytest.mark.parametrize(
    "row, column",
    [
        ("18.1,100.1,330,0.4,0.4,2024-03-01,0606,N,VIIRS,n,2.0NRT,290,1e400,D", "frp"),
        ("18.1,100.1,330,0.4,0.4,2024-03-01,0606,N,VIIRS,n,2.0NRT,290,1e308,D", "frp"),
        ("18.1,100.1,330,0.4,0.4,9999-12-31,0606,N,VIIRS,n,2.0NRT,290,2.0,D", "acq_date"),
        ("18.1,100.1,330,0.4,0.4,2024-03-01,0606,N,VIIRS,n," + "v" * 17 + ",290,2.0,D", "version"),
    ],
)
def test_firms_rows_out_of_range_are_refused_with_their_column(client, admin_headers, row, column):
    r = client.post(
        "/api/v1/admin/hotspots/firms", headers=admin_headers, files={"file": ("f.csv", _firms(row), "text/csv")}
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"][0]["column"] == column
    assert client.get("/api/v1/hotspots").json()["numberReturned"] == 0  # no Infinity stored
