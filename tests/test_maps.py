"""Committee maps without a browser: offline assets, escaping, roles, the CLI file (the browser test is
tests/test_maps_browser.py)."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from geo_service.maps import assets, escaping
from tests.samples import post_fire_mask, post_viirs

HOSTILE = [
    "`${window.__pwned=1}`",
    "</script><script>window.__pwned=1</script>",
    '<img src=x onerror="window.__pwned=1">',
    "{{7*7}}",
    "\\u0060${1}\\",
    "'\"; window.__pwned=1; //",
]
HOST = re.compile(r"(?:https?:)?//(?!127\.0\.0\.1)[a-z0-9-]+\.[a-z0-9.-]+", re.I)


def jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 80, 20)).save(buf, "JPEG")
    return buf.getvalue()


def seed(client, login) -> dict:
    """Hostile strings in every text field: incidents (description, reporter), a photo, a case."""
    officer = login("officer1", "field_officer")
    lead = login("lead1", "investigator")
    ids = []
    for i, (kind, lat, lon) in enumerate(
        [
            ("burning", 18.2, 100.3),
            ("wildfire", 18.05, 100.05),
            ("encroachment", 18.3, 100.2),
            ("illegal_logging", 17.9, 99.95),
        ]
    ):
        r = client.post(
            "/api/v1/incidents",
            headers=officer,
            json={
                "kind": kind,
                "location": {"lat": lat, "lon": lon},
                "observed_at": f"2024-03-0{i + 1}T10:00:00",
                "description": " ".join(HOSTILE),
                "reporter": HOSTILE[i % len(HOSTILE)],
            },
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    r = client.post(
        f"/api/v1/incidents/{ids[0]}/photos", headers=officer, files=[("files", ("p.jpg", jpeg(), "image/jpeg"))]
    )
    assert r.status_code in (200, 201), r.text
    case = client.post(
        "/api/v1/cases",
        headers=lead,
        json={
            "title": "Title " + " ".join(HOSTILE),
            "summary": HOSTILE[0],
            "category": "encroachment_permitted",
            "received_on": "2024-03-05",
        },
    ).json()
    for target_type, target_id in [("incident", str(ids[0])), ("protected_area", "NRF-PR-001")]:
        r = client.post(
            f"/api/v1/cases/{case['id']}/links",
            headers=lead,
            json={"target_type": target_type, "target_id": target_id, "reason": HOSTILE[1]},
        )
        assert r.status_code in (200, 201), r.text
    committee = login("committee1", "committee_member")
    # names and credits that reach layer names, tooltips and the legend come from loaded layer files
    from sqlalchemy import text

    with client.app.state.engine.begin() as c:
        c.execute(text("UPDATE protected_areas SET name_en = name_en || ' ' || :h"), {"h": HOSTILE[1]})
        c.execute(
            text("UPDATE admin_areas SET name_en = name_en || ' ' || :h WHERE level = 'district'"), {"h": HOSTILE[0]}
        )
        c.execute(
            text("UPDATE layer_sources SET attribution = attribution || ' ' || :h WHERE layer_type = 'protected_area'"),
            {"h": HOSTILE[2] + HOSTILE[3]},
        )
    return {"officer": officer, "lead": lead, "committee": committee, "case": case, "incidents": ids}


def external_hosts(text: str) -> list[str]:
    """Every other host a page or stylesheet names outside CSS comments and data: URLs (SVG's xmlns aside)."""
    text = assets._DATA_URL.sub("", assets._COMMENT.sub("", text))
    return [h for h in HOST.findall(text) if not h.lower().endswith("www.w3.org")]


def test_escaping_for_template_literals_and_html():
    for s in HOSTILE:
        out = escaping.text(s)
        assert not set("`$\\<>{}") & set(out), out
        assert escaping.check_fragment(f"<b>{out}</b>")
    with pytest.raises(ValueError):
        escaping.check_fragment("<b>`</b>")
    assert escaping.js_json({"a": "</script>\u2028"}) == '{"a":"\\u003c\\/script\\u003e\\u2028"}'


@pytest.mark.slow
def test_overview_page_is_offline_escaped_and_by_role(client, login):
    s = seed(client, login)
    r = client.get("/maps/overview", params={"from": "2024-03-01", "to": "2024-03-31"}, headers=s["committee"])
    assert r.status_code == 200, r.text
    html = r.text
    assert external_hosts(html) == [], external_hosts(html)
    assert "default-src 'self'" in r.headers["content-security-policy"]
    for s_ in HOSTILE:
        assert s_ not in html  # never raw
    assert "window.__pwned" in html  # ... but there, escaped
    assert "&#123;&#123;7*7&#125;&#125;" in html  # folium re-renders popups with Jinja: braces are escaped
    assert "ILLUSTRATIVE" in html and "CC BY-IGO" in html and "2567" in html  # BE labels (March 2024 = 2567)
    assert s["case"]["reference"] in html and "Title " not in html  # committee: no case title
    assert "/api/v1/photos/" in html and "/thumbnail" in html
    assert "leaflet.awesome-markers" in html and "TimeDimension" in html
    # an investigator sees the title (escaped); a field officer gets no map
    inv = client.get("/maps/overview", params={"from": "2024-03-01", "to": "2024-03-31"}, headers=s["lead"])
    assert inv.status_code == 200 and "Title " in inv.text
    assert client.get("/maps/overview", headers=s["officer"]).status_code == 403
    assert client.get("/maps/overview").status_code == 401
    assert client.get("/maps/overview", params={"from": "2024-03-02"}, headers=s["committee"]).status_code == 400


@pytest.mark.slow
def test_every_referenced_asset_is_served_and_its_css_stays_local(client, login, admin_headers):
    r = client.get("/maps/overview", params={"fiscal_year_be": 2567}, headers=admin_headers)
    assert r.status_code == 200, r.text
    paths = sorted(set(re.findall(r'"/maps/vendor/([^"]+)"', r.text)))
    assert len(paths) >= 15, paths
    for path in paths:
        a = client.get(f"/maps/vendor/{path}")
        assert a.status_code == 200, path
        if path.endswith(".css"):
            assert external_hosts(a.text) == [], (path, external_hosts(a.text))
            for ref in re.findall(
                r"""url\(\s*["']?([^"')]+)""", assets._COMMENT.sub("", assets._DATA_URL.sub("", a.text))
            ):
                ref = ref.split("?")[0].split("#")[0]
                if ref and not ref.startswith("data:"):
                    target = "/".join(path.split("/")[:-1] + [ref])
                    assert client.get(f"/maps/vendor/{target}").status_code == 200, (path, ref)
    tdc = client.get("/maps/vendor/leaflet-timedimension/dist/leaflet.timedimension.control.css").text
    assert "Glyphicons" not in tdc and "Font Awesome 6 Free" in tdc
    for bad in ["../../pyproject.toml", "leaflet/package.json", "brfs/index.js", "leaflet/dist/../../x"]:
        assert client.get(f"/maps/vendor/{bad}").status_code == 404, bad


def test_folium_defaults_are_replaced_not_mutated():
    import folium
    import folium.plugins as plugins

    assets.use_local_assets()
    for cls in assets.OVERRIDES:
        for _, u in cls.default_js + cls.default_css:
            assert u.startswith("/maps/vendor/"), (cls, u)
    # the module-level lists folium shipped are untouched (new lists were assigned)
    import folium.folium as ff

    assert ff._default_js[0][1].startswith("https://")
    assert folium.Map.default_js is not ff._default_js
    assert plugins.HeatMap.default_js[0][1] == "/maps/vendor/folium/leaflet_heat.min.js"


@pytest.mark.slow
def test_case_map_only_for_its_investigators_and_admins(client, login, admin_headers):
    s = seed(client, login)
    cid = s["case"]["id"]
    r = client.get(f"/maps/cases/{cid}", headers=s["lead"])
    assert r.status_code == 200, r.text
    html = r.text
    assert external_hosts(html) == [] and s["case"]["reference"] in html and "ILLUSTRATIVE" in html
    assert f"INC-{s['incidents'][0]:06d}" in html and f"INC-{s['incidents'][1]:06d}" not in html  # linked only
    assert all(h not in html for h in HOSTILE)
    assert client.get(f"/maps/cases/{cid}", headers=admin_headers).status_code == 200
    other = login("other1", "investigator")
    assert client.get(f"/maps/cases/{cid}", headers=other).status_code in (403, 404)
    assert client.get(f"/maps/cases/{cid}", headers=s["committee"]).status_code == 403
    assert client.get("/maps/cases/999999", headers=admin_headers).status_code == 404


@pytest.mark.slow
def test_cli_writes_an_offline_map_file(client, login, db_url, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from geo_service.cli import app
    from geo_service.settings import get_settings
    from tests.conftest import _url_text

    seed(client, login)
    monkeypatch.setenv("GEO_SERVICE_DATABASE_URL", _url_text(db_url))
    monkeypatch.setenv("GEO_SERVICE_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    out = tmp_path / "overview.html"
    try:
        result = CliRunner().invoke(app, ["maps", "overview", "--out", str(out), "--fiscal-year-be", "2567"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert external_hosts(html) == [] and "/maps/vendor/" not in html
    assert "NACC-PR-" not in html and "/thumbnail" not in html  # no cases and no photo URLs in a file
    files = set(re.findall(r'"(overview_files/[^"]+)"', html))
    assert len(files) >= 15
    for f in files:
        assert (tmp_path / f).is_file(), f
    assert (tmp_path / "overview_files/leaflet/dist/images/layers.png").is_file()  # what leaflet.css names
    assert (tmp_path / "overview_files/@fortawesome/fontawesome-free/webfonts/fa-solid-900.woff2").is_file()


def test_configured_tile_url_is_used_and_credited(db_url, client_factory, admin_headers):
    c = client_factory(
        db_url,
        tile_url="https://tiles.intranet.example/{z}/{x}/{y}.png",
        tile_attribution="Tiles <b>© Phrae GIS</b> `${x}`",
    )
    r = c.get("/maps/overview", params={"fiscal_year_be": 2567}, headers=admin_headers)
    assert r.status_code == 200, r.text
    assert "https://tiles.intranet.example/{z}/{x}/{y}.png" in r.text
    assert "img-src 'self' data: https://tiles.intranet.example;" in r.headers["content-security-policy"]
    assert (
        "Tiles &lt;b&gt;© Phrae GIS&lt;&#47;b&gt; &#96;&#36;&#123;x&#125;&#96;" in r.text and "<b>© Phrae" not in r.text
    )
    # the only other host a map with tiles names is the configured one
    assert {h for h in external_hosts(r.text)} == {"https://tiles.intranet.example"}


@pytest.mark.slow
def test_hotspots_colour_the_districts_and_show_as_heat_and_events(client, login, admin_headers):
    committee = login("committee_h", "committee_member")
    post_viirs(
        client,
        admin_headers,
        [
            "18.2001,100.3012,330.0,0.4,0.4,2024-03-14,0630,N,VIIRS,h,2.0NRT,290.0,42.5,D\n",
            "18.2010,100.3020,331.0,0.4,0.4,2024-03-14,0631,N,VIIRS,n,2.0NRT,290.0,3.0,D\n",
            "17.9500,100.0500,331.0,0.4,0.4,2024-03-20,1830,N,VIIRS,n,2.0NRT,290.0,8.0,N\n",
        ],
    )
    r = client.get("/maps/overview", params={"from": "2024-03-01", "to": "2024-03-31"}, headers=committee)
    assert r.status_code == 200
    html = r.text
    assert "Satellite hotspots" in html and "NASA FIRMS" in html  # the legend's primary count and its credit
    assert "Hotspot heat map (3)" in html and "heatLayer" in html
    assert "Fire events (2)" in html
    assert re.search(
        r"14 [^\"]{1,40} 2567", html
    )  # an event's first day, in Buddhist Era (Thai month may be \u-escaped)
    assert "Hotspots, clickable (3)" in html and "textContent" in html and "42.5" in html  # FRP in the popup data
    assert "/ hotspots (0.01" in html and "time slider: hotspots (red)" in html  # hotspots on the time slider too
    quiet = client.get("/maps/overview", params={"from": "2023-03-01", "to": "2023-03-31"}, headers=committee).text
    assert "Hotspot heat map" not in quiet and "Fire events (" not in quiet


@pytest.mark.parametrize(
    "args",
    [
        ["--fiscal-year-be", "2025"],
        ["--from", "0001-01-01", "--to", "0001-03-01"],
        ["--from", "2024-02-30", "--to", "2024-03-01"],
    ],
)
def test_cli_refuses_a_wrong_period_without_a_traceback(db_url, tmp_path, monkeypatch, args):
    """`maps overview --fiscal-year-be 2025` crashed inside folium (CE 1482); the CLI and the web route share
    maps.period.choose_period, so a wrong value is one error line and exit code 1."""
    from typer.testing import CliRunner

    from geo_service.cli import app
    from geo_service.settings import get_settings
    from tests.conftest import _url_text

    monkeypatch.setenv("GEO_SERVICE_DATABASE_URL", _url_text(db_url))
    monkeypatch.setenv("GEO_SERVICE_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["maps", "overview", "--out", str(tmp_path / "o.html"), *args])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert "error:" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o.html").exists()
    if args[1] == "2025":
        assert "BE 2568" in result.output


def test_web_route_refuses_a_wrong_period_with_the_same_rule(client, admin_headers):
    for params in ({"fiscal_year_be": 2025}, {"from": "0001-01-01", "to": "0001-03-01"}):
        r = client.get("/maps/overview", params=params, headers=admin_headers)
        assert r.status_code == 400 and "invalid_period" in r.text, r.text


@pytest.mark.slow
def test_case_map_draws_every_kind_of_evidence_and_zooms_to_it(client, login, admin_headers, tmp_path):
    """Hotspots, fire events and raster statistics were listed as "Not drawn yet" and the map stayed on the
    province; now every kind is drawn (labels escaped, link reasons shown) and the map zooms to the evidence."""
    from sqlalchemy import text

    lead = login("lead_ev", "investigator")
    post_viirs(
        client,
        admin_headers,
        [
            "18.4695,100.2157,330.0,0.4,0.4,2024-03-14,0630,N,VIIRS,h,2.0NRT,290.0,42.5,D\n",
            "18.4700,100.2160,331.0,0.4,0.4,2024-03-14,0631,N,VIIRS,n,2.0NRT,290.0,3.0,D\n",
        ],
    )
    post_fire_mask(client, admin_headers, tmp_path / "mask.tif", 100.2157, 18.4695)
    with client.app.state.engine.begin() as c:
        hotspot = c.execute(text("SELECT min(id) FROM hotspots")).scalar()
        event = c.execute(text("SELECT min(id) FROM fire_events")).scalar()
        stat = c.execute(text("SELECT min(id) FROM raster_zone_stats WHERE zone_type = 'district'")).scalar()
    case = client.post(
        "/api/v1/cases",
        headers=lead,
        json={"title": "Song fires", "category": "budget_misuse", "received_on": "2024-03-20"},
    ).json()
    for target_type, target_id in [("hotspot", hotspot), ("fire_event", event), ("raster_stat", stat)]:
        r = client.post(
            f"/api/v1/cases/{case['id']}/links",
            headers=lead,
            json={"target_type": target_type, "target_id": str(target_id), "reason": HOSTILE[0]},
        )
        assert r.status_code in (200, 201), r.text
    html = client.get(f"/maps/cases/{case['id']}", headers=lead).text
    assert "Not drawn yet" not in html
    assert "hotspots (1)" in html and "fire events (1)" in html and "raster statistics (1)" in html
    assert "1 hotspots, 1 fire events, 1 raster statistics" in html
    assert "FRP 42.5 MW" in html or "FRP 3.0 MW" in html
    assert "fire_mask" in html and "burned 9.0 ha" in html
    assert all(h not in html for h in HOSTILE)
    bounds = [
        list(map(float, b))
        for b in re.findall(
            r"fitBounds\(\s*\[\[([-\d.]+),\s*([-\d.]+)\],\s*\[([-\d.]+),"
            r"\s*([-\d.]+)\]\]",
            html,
        )
    ]
    south, west, north, east = bounds[-1]  # the last fit wins: the evidence, not the province
    assert south < 18.4695 < north and west < 100.2157 < east and north - south < 0.2, bounds


@pytest.mark.slow
def test_overview_opens_on_the_latest_period_with_data_with_a_picker_and_district_labels(client, login):
    """The overview opened on the current fiscal year, empty when data stop earlier; now on the latest fiscal
    year with data, with links to every period with data, and district names printed on the map."""
    committee = login("committee_p", "committee_member")
    admin = login("admin_p", "administrator")
    post_viirs(
        client,
        admin,
        [
            "18.2001,100.3012,330.0,0.4,0.4,2024-03-14,0630,N,VIIRS,h,2.0NRT,290.0,42.5,D\n",
            "18.2001,100.3012,330.0,0.4,0.4,2023-02-14,0630,N,VIIRS,h,2.0NRT,290.0,4.5,D\n",
        ],
    )
    html = client.get("/maps/overview", headers=committee).text
    assert "1 Oct 2566 BE – 30 Sep 2567 BE" in html  # FY 2567, not the current (empty) fiscal year
    assert "Hotspot heat map (1)" in html
    assert "href='?fiscal_year_be=2567' class='current'" in html and "href='?fiscal_year_be=2566'" in html
    assert "href='?from=2024-03-01&amp;to=2024-03-31'" in html  # the months with data of the year shown
    assert "from=2023-02-01" not in html  # a month of another fiscal year is reached through that year
    month = client.get("/maps/overview", params={"from": "2024-03-01", "to": "2024-03-31"}, headers=committee).text
    assert "href='?from=2024-03-01&amp;to=2024-03-31' class='current'" in month
    # district names as permanent labels (no hover needed), Thai and English
    assert html.count("class=\\u0027gs-district-label\\u0027") == 8  # folium writes the DivIcon's HTML as JSON
    assert "Den Chai" in html and "District names" in html


# Links, Markdown, template syntax of several engines and Thai combining marks (alone, stacked, leading):
# each must show as text on every map and never break one (a link once made /maps/overview a 500).
HOSTILE_TEXT = [
    "see https://evil.example.com/x?a=1&b=2",
    "//evil.example.com/x.js",
    "http://127.0.0.1:1/x",
    "[click](https://evil.example.com) ![img](https://evil.example.com/i.png)",
    "**bold** _it_ # h\n> q",
    "{{ config }} {{7*7}}",
    "{% for x in range(3) %}x{% endfor %}",
    "${alert(1)} #{x} <%= x %>",
    "ป่า\u0e49\u0e49\u0e49\u0e4c สงวน",
    "\u0e31\u0e48\u0e4a leading marks",
    "a\u0e4e" * 50,
]


@pytest.mark.slow
def test_hostile_text_on_overview_and_case_maps(client, login):
    officer = login("officer1", "field_officer")
    lead = login("lead1", "investigator")
    ids = []
    for i, s in enumerate(HOSTILE_TEXT):
        r = client.post(
            "/api/v1/incidents",
            headers=officer,
            json={
                "kind": "burning",
                "location": {"lat": 18.2 + i / 100, "lon": 100.3},
                "observed_at": "2024-03-05T10:00:00",
                "description": s,
                "reporter": s,
            },
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    case = client.post(
        "/api/v1/cases",
        headers=lead,
        json={
            "title": " | ".join(HOSTILE_TEXT[i] for i in (0, 3, 5, 8)),
            "summary": HOSTILE_TEXT[0],
            "category": "encroachment_permitted",
            "received_on": "2024-03-05",
        },
    )
    assert case.status_code == 201, case.text
    case = case.json()
    for i in ids:
        r = client.post(
            f"/api/v1/cases/{case['id']}/links",
            headers=lead,
            json={"target_type": "incident", "target_id": str(i), "reason": HOSTILE_TEXT[3]},
        )
        assert r.status_code in (200, 201), r.text
    pages = [
        client.get("/maps/overview", params={"from": "2024-03-01", "to": "2024-03-31"}, headers=lead),
        client.get(f"/maps/cases/{case['id']}", headers=lead),
    ]
    for r in pages:
        assert r.status_code == 200, r.text[:500]
        html = r.text
        assert external_hosts(html) == [], external_hosts(html)
        for s in HOSTILE_TEXT:
            assert escaping.text(s) in html, s  # shown, as text (in popups)
        assert escaping.text(case["title"]) in html
        assert "evil.example.com" in html and "https://evil" not in html and "{{ config }}" not in html
        assert "{%" not in html.split("</style>")[-1] and "${alert" not in html


def test_every_string_on_a_map_goes_through_one_path():
    for s in HOSTILE_TEXT:
        out = escaping.text(s)
        assert not set("`$\\<>{}/\n") & set(out), out
        assert "//" not in escaping.js_json(s)


@pytest.mark.slow
def test_overview_queries_do_not_grow_with_the_data(client, login):
    """The overview reads each kind of data with a fixed number of statements (through the stores of the
    incidents and hotspots domains), however many incidents and detections the period has."""
    from sqlalchemy import event

    committee = login("committee_q", "committee_member")
    officer = login("officer_q", "field_officer")
    engine = client.app.state.sessionmaker.kw["bind"]
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    def page() -> int:
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            r = client.get("/maps/overview", params={"from": "2024-03-01", "to": "2024-03-31"}, headers=committee)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert r.status_code == 200, r.text
        return len(statements)

    def incident(day: int) -> None:
        r = client.post(
            "/api/v1/incidents",
            headers=officer,
            json={
                "kind": "burning",
                "location": {"lat": 18.2, "lon": 100.3},
                "observed_at": f"2024-03-{day:02d}T10:00",
            },
        )
        assert r.status_code == 201, r.text

    incident(1)
    one = page()
    for day in range(2, 8):
        incident(day)
    assert page() == one
