"""Committee maps in a real headless Chromium (Debian's chromium through Playwright), served by the real
app under uvicorn on 127.0.0.1: hostile strings in every text field run no script, the map renders,
popups and tooltips open, layers toggle, the time slider moves, nothing is fetched from another host and
no JavaScript error is logged. Screenshots go to test-artifacts/maps_*.png."""

from __future__ import annotations

import pytest

from tests.test_field_form_browser import ARTIFACTS, Watch, browser  # noqa: F401  (shared fixture)
from tests.test_maps import seed

pytestmark = pytest.mark.browser
PERIOD = "from=2024-03-01&to=2024-03-31"

OPEN_EVERY_POPUP = """() => {
    const maps = Object.keys(window).filter(k => k.startsWith('map_') && window[k] instanceof L.Map);
    const map = window[maps[0]];
    let popups = 0, tooltips = 0, seen = [];
    for (const k of Object.keys(window)) {
        const m = window[k];
        if (!k.startsWith('marker_') || !(m instanceof L.Marker)) continue;
        if (!m._map) map.addLayer(m);  // a clustered marker: put it on the map to open it
        if (m.getPopup()) { m.openPopup(); popups++; seen.push(m.getPopup().getElement().innerText); }
        if (m.getTooltip()) { m.openTooltip(); tooltips++; }
    }
    return {popups, tooltips, seen};
}"""


@pytest.fixture
def seeded_server(client, login, live_server, db_url):
    data = seed(client, login)
    return live_server(db_url), data


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"maps_{name}.png"), full_page=True)


def open_map(browser, base, headers, path):  # noqa: F811
    context = browser.new_context(
        base_url=base, viewport={"width": 1280, "height": 900}, extra_http_headers=headers, timezone_id="Asia/Bangkok"
    )
    watch = Watch(context, base)
    page = context.new_page()
    page.set_default_timeout(15_000)
    response = page.goto(path)
    assert response.status == 200, response.text()
    try:
        page.locator(".leaflet-overlay-pane path").first.wait_for(state="attached")
    except Exception:
        shot(page, "failed_to_render")
        raise AssertionError(f"the map did not render: {watch.errors} {watch.failed}") from None
    page.wait_for_load_state("networkidle")
    assert not watch.errors, watch.errors
    return context, page, watch


def assert_not_pwned(page):
    assert page.evaluate("typeof window.__pwned") == "undefined"


def test_overview_hostile_strings_layers_slider_offline(browser, seeded_server):  # noqa: F811
    base, data = seeded_server
    context, page, watch = open_map(browser, base, data["lead"], f"/maps/overview?{PERIOD}")
    try:
        for pane in ("map", "tile", "overlay", "marker", "popup", "tooltip"):
            assert page.locator(f".leaflet-{pane}-pane").count() >= 1, pane
        assert page.locator(".leaflet-control-scale").count() == 1
        assert page.locator(".leaflet-control-zoom-fullscreen").count() == 1
        assert page.locator(".leaflet-control-measure").count() == 1
        assert page.locator(".leaflet-control-minimap").count() == 1
        assert "ILLUSTRATIVE" in page.locator("#gs-legend").inner_text()
        shot(page, "overview")
        assert_not_pwned(page)

        # opening the popups starts the photo thumbnail's request: wait for it rather than hope it was recorded later
        with page.expect_request(lambda r: "/thumbnail" in r.url) as thumbnail:
            opened = page.evaluate(OPEN_EVERY_POPUP)
        assert thumbnail.value.url.startswith(base + "/api/v1/photos/")
        assert opened["popups"] >= 5 and opened["tooltips"] >= 5, opened  # 4 incidents + 1 case marker
        text = "\n".join(opened["seen"])
        for needle in (
            "`${window.__pwned=1}`",
            "</script><script>window.__pwned=1</script>",
            "{{7*7}}",
            '<img src=x onerror="window.__pwned=1">',
        ):
            assert needle in text, needle  # shown as text, exactly as typed
        # district and reserve tooltips: hover over the map
        box = page.locator(
            "#" + page.evaluate("Object.keys(window).find(k => k.startsWith('map_') && window[k] instanceof L.Map)")
        ).bounding_box()
        for fx, fy in [(0.5, 0.5), (0.4, 0.4), (0.6, 0.6)]:
            page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
            page.wait_for_timeout(200)
        assert page.locator(".leaflet-tooltip").count() >= 1
        shot(page, "overview_popups")
        assert_not_pwned(page)

        # layers toggle: every overlay off and on again changes what is drawn
        boxes = page.locator(".leaflet-control-layers-overlays input[type=checkbox]")
        assert boxes.count() >= 6  # districts, reserves, 4 kinds, cases
        for i in range(boxes.count()):
            before = page.locator(".leaflet-overlay-pane path, .leaflet-marker-pane > *").count()
            boxes.nth(i).uncheck()
            after = page.locator(".leaflet-overlay-pane path, .leaflet-marker-pane > *").count()
            assert after < before, (i, before, after)
            boxes.nth(i).check()
        shot(page, "overview_layers")

        # the time slider moves (Buddhist Era dates on its control)
        date = page.locator(".timecontrol-date")
        first = date.inner_text()
        assert "2567" in first, first
        page.locator(".timecontrol-forward").click()
        page.wait_for_function(f"document.querySelector('.timecontrol-date').innerText !== {first!r}")
        assert date.inner_text() != first
        shot(page, "overview_slider")
        assert_not_pwned(page)
        watch.check()
        fetched = [u for u in watch.urls if "/thumbnail" in u]
        assert fetched, "the photo thumbnail was not loaded in its popup"
    finally:
        context.close()


def test_overview_for_committee_and_case_map(browser, seeded_server):  # noqa: F811
    base, data = seeded_server
    context, page, watch = open_map(browser, base, data["committee"], f"/maps/overview?{PERIOD}")
    try:
        opened = page.evaluate(OPEN_EVERY_POPUP)
        text = "\n".join(opened["seen"])
        assert data["case"]["reference"] in text and "Title" not in text  # redacted for the committee
        assert_not_pwned(page)
        watch.check()
    finally:
        context.close()
    context, page, watch = open_map(browser, base, data["lead"], f"/maps/cases/{data['case']['id']}")
    try:
        opened = page.evaluate(OPEN_EVERY_POPUP)
        assert opened["popups"] == 1  # the linked incident
        assert "{{7*7}}" in opened["seen"][0]
        assert data["case"]["reference"] in page.locator("#gs-legend").inner_text()
        shot(page, "case")
        boxes = page.locator(".leaflet-control-layers-overlays input[type=checkbox]")
        assert boxes.count() >= 3  # district, reserve, incidents
        assert_not_pwned(page)
        watch.check()
    finally:
        context.close()


def test_cli_file_opens_from_disk_with_nothing_fetched_elsewhere(
    browser,  # noqa: F811
    client,
    login,
    db_url,
    tmp_path,
    monkeypatch,
):
    from typer.testing import CliRunner

    from geo_service.cli import app
    from geo_service.settings import get_settings
    from tests.conftest import _url_text

    seed(client, login)
    monkeypatch.setenv("GEO_SERVICE_DATABASE_URL", _url_text(db_url))
    monkeypatch.setenv("GEO_SERVICE_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    out = tmp_path / "committee" / "overview.html"
    out.parent.mkdir()
    try:
        result = CliRunner().invoke(
            app, ["maps", "overview", "--out", str(out), "--from", "2024-03-01", "--to", "2024-03-31"]
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    urls, errors = [], []
    context.on("request", lambda r: urls.append(r.url))
    context.on("weberror", lambda e: errors.append(str(e.error)))
    context.on("console", lambda m: m.type == "error" and errors.append(m.text))
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        # the self-hosted Font Awesome font is asked for once the markers draw their icons: wait for that request and
        # for 'load' (every script, style sheet and image of the file) rather than for 'networkidle', which a loaded
        # machine missed in 30 s (stress run, stop 26)
        with page.expect_request(lambda r: r.url.endswith("fa-solid-900.woff2"), timeout=60_000):
            page.goto(out.as_uri())
            page.locator(".leaflet-overlay-pane path").first.wait_for(state="attached")
            page.locator(".leaflet-marker-pane > *").first.wait_for(state="attached")
        page.wait_for_load_state("load")
        opened = page.evaluate(OPEN_EVERY_POPUP)
        assert opened["popups"] == 4 and "{{7*7}}" in "\n".join(opened["seen"])
        assert_not_pwned(page)
        shot(page, "cli_file")
        assert errors == [], errors
        assert urls and all(u.startswith(out.parent.as_uri() + "/") for u in urls), [
            u for u in urls if not u.startswith("file://")
        ]
        # the self-hosted Font Awesome font was used (icons drawn), not a blank square
        assert any(u.endswith("fa-solid-900.woff2") for u in urls)
    finally:
        context.close()


def test_raster_map_renders_offline_with_its_legend(
    browser,  # noqa: F811
    client,
    login,
    admin_headers,
    live_server,
    db_url,
    tmp_path,
):
    """A fire mask in UTM 47N, reprojected for the web: the overlay image loads, the legend shows the classes."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    data = np.zeros((200, 200), dtype="uint8")
    data[40:80, 40:80] = 9  # high-confidence fire
    data[120:140, 120:160] = 7  # low
    path = tmp_path / "mod14a1.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=200,
        height=200,
        count=1,
        dtype="uint8",
        crs="EPSG:32647",
        transform=from_origin(640000, 2040000, 100, 100),
        nodata=255,
    ) as dst:
        dst.write(data, 1)
    with open(path, "rb") as f:
        r = client.post(
            "/api/v1/admin/rasters",
            headers=admin_headers,
            files={"file": ("mod14a1.tif", f)},
            data={"product": "fire_mask", "acq_date": "2024-03-14"},
        )
    assert r.status_code == 201, r.text
    raster_id = r.json()["raster_id"]
    committee = login("committee_r", "committee_member")
    html = client.get(f"/maps/rasters/{raster_id}", headers=committee)
    assert html.status_code == 200 and "data:image/png;base64," in html.text
    assert "สูง &#47; high" in html.text and "14 มี.ค. 2567" in html.text  # map text: slashes as references
    assert client.get("/maps/rasters/999999", headers=committee).status_code == 404

    base = live_server(db_url)
    context, page, watch = open_map(browser, base, committee, f"/maps/rasters/{raster_id}")
    overlay = page.locator(".leaflet-image-layer").first
    overlay.wait_for(state="attached")
    # the image (a data: PNG) decodes asynchronously: wait until it has, it must (a broken one never gets a width)
    page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=overlay.element_handle())
    shot(page, "raster")
    watch.check()
    context.close()

    # Hotspots on the overview: heat map, fire events and clickable detections render with no error.
    csv = (
        "latitude,longitude,bright_ti4,scan,track,acq_date,acq_time,satellite,instrument,confidence,version,"
        "bright_ti5,frp,daynight\n"
        + "".join(
            f"{18.2 + i * 0.002:.4f},{100.3 + i * 0.002:.4f},330,0.4,0.4,2024-03-{10 + i % 5},0630,N,VIIRS,h,2.0NRT,290,"
            f"{5 + i},D\n"
            for i in range(40)
        )
    )
    assert (
        client.post(
            "/api/v1/admin/hotspots/firms", headers=admin_headers, files={"file": ("v.csv", csv.encode())}
        ).status_code
        == 201
    )
    context, page, watch = open_map(browser, base, committee, "/maps/overview?from=2024-03-01&to=2024-03-31")
    page.locator("canvas.leaflet-heatmap-layer").first.wait_for(state="attached")
    page.locator(".leaflet-control-layers-overlays label", has_text="Hotspots, clickable (40)").locator(
        "input"
    ).check()  # switch the clickable detections on
    page.locator(".marker-cluster").first.wait_for(state="visible")
    page.locator(".marker-cluster").first.click()  # zooms into the cluster
    page.wait_for_timeout(500)
    shot(page, "overview_hotspots")
    watch.check()
    context.close()


DRAWN = """() => document.querySelectorAll('svg.leaflet-tile path.leaflet-interactive').length"""
HIT = """([x, y]) => { const e = document.elementFromPoint(x, y);
                    return !!e && e.matches('svg.leaflet-tile path.leaflet-interactive'); }"""
WHERE = """([lat, lon]) => {
    const map = window[Object.keys(window).find(k => k.startsWith('map_') && window[k] instanceof L.Map)];
    map.setView([lat, lon], 12, {animate: false});
    const p = map.latLngToContainerPoint([lat, lon]);
    const r = map.getContainer().getBoundingClientRect();
    return [r.left + p.x, r.top + p.y];
}"""


def test_overview_above_the_threshold_requests_and_draws_vector_tiles(
    browser,  # noqa: F811
    client,
    login,
    live_server,
    db_url,
    admin_headers,
):
    """Above map_tiles_above the detections come from /ogc/.../tiles: Leaflet.VectorGrid (served locally)
    requests them, draws the detection in its SVG tiles, and a click on it opens the detection's popup."""
    from tests.samples import post_viirs

    data = seed(client, login)
    lat, lon = 18.145, 100.1417
    post_viirs(client, admin_headers, [f"{lat},{lon},330.5,0.39,0.36,2024-03-14,0630,N,VIIRS,h,2.0NRT,290.1,12.5,D\n"])
    base = live_server(db_url, map_tiles_above=0)
    context, page, watch = open_map(browser, base, data["lead"], f"/maps/overview?{PERIOD}")
    try:
        tiles = [u for u in watch.urls if "/ogc/collections/hotspots/tiles/WebMercatorQuad/" in u]
        assert tiles and all("datetime=" in u for u in tiles), watch.urls
        x, y = page.evaluate(WHERE, [lat, lon])
        # 'networkidle' was reached when the page opened and does not wait for the tiles of the new view: wait until
        # the detection's path is what a click at its point would hit
        page.wait_for_function(HIT, arg=[x, y], timeout=15_000)
        assert page.evaluate(DRAWN) >= 1
        shot(page, "overview_vector_tiles")
        page.mouse.click(x, y)
        popup = page.locator(".leaflet-popup-content")
        try:
            popup.wait_for(state="visible", timeout=5_000)
        except Exception:
            hit = page.evaluate(
                "([x, y]) => { const e = document.elementFromPoint(x, y); "
                "return e.outerHTML.slice(0, 300) + ' | ' + (e.parentElement && e.parentElement.outerHTML.slice(0, 200)); }",
                [x, y],
            )
            raise AssertionError(f"no popup at {x},{y}: {hit} {watch.errors}") from None
        text = popup.inner_text()
        assert "hotspot 2024-03-14T13:30:00+07:00" in text and "เมืองแพร่" in text, text
        assert_not_pwned(page)
        watch.check()
        assert not [f for f in watch.failed if "/tiles/" in f], watch.failed
    finally:
        context.close()


OPEN_FLAG_POPUPS = """() => {
    const map = window[Object.keys(window).find(k => k.startsWith('map_') && window[k] instanceof L.Map)];
    const seen = [], links = [];
    for (const k of Object.keys(window)) {
        const g = window[k];
        if (!k.startsWith('geo_json_') || !(g instanceof L.GeoJSON)) continue;
        g.eachLayer(l => {
            const p = l.feature && l.feature.properties;
            if (!p || p.severity === undefined) return;
            l.fire('click', {latlng: l.getBounds().getCenter()}, true);  // as a click on the shape: the group's popup
            const el = document.querySelector('.leaflet-popup-content');
            if (!el) return;
            seen.push(el.innerText);
            el.querySelectorAll('a').forEach(a => links.push(a.getAttribute('href')));
            map.closePopup();
        });
    }
    return {seen, links};
}"""


def test_red_flag_layer_popups_show_hostile_names_as_text(
    browser,  # noqa: F811
    client,
    login,
    admin_headers,
    live_server,
    db_url,
    sessionmaker_for,
):
    """The red-flag layer (investigators): listed in the layer control, its popups open with the hostile project,
    contractor and agency names shown exactly as typed and nothing run; sheet links point at this service. A
    committee member's map has no such layer."""
    from tests.conftest import reserve_point
    from tests.test_red_flags_map import HOSTILE_AGENCY, HOSTILE_CONTRACTOR, HOSTILE_PROJECT, RESERVE, seed_flags

    seeded = seed_flags(client, admin_headers, reserve_point(sessionmaker_for(db_url), RESERVE))
    lead = login("lead_flags", "investigator")
    committee = login("committee_flags", "committee_member")
    base = live_server(db_url)
    context, page, watch = open_map(browser, base, lead, "/maps/overview?fiscal_year_be=2567")
    try:
        control = page.locator(
            ".leaflet-control-layers-overlays label", has_text="Red flags (contracts, land documents)"
        )
        assert control.count() == 1
        opened = page.evaluate(OPEN_FLAG_POPUPS)
        assert len(opened["seen"]) == len(seeded["all"]) - sum(1 for f in seeded["all"] if f["status"] == "dismissed")
        shown = "\n".join(opened["seen"])
        for hostile in (HOSTILE_PROJECT, HOSTILE_CONTRACTOR, HOSTILE_AGENCY):
            assert hostile in shown, hostile  # as typed, as text
        assert "Counted inside the contract area" in shown and "FB-MAP-1" in shown
        assert any(h.startswith("/api/v1/redflags/contracts/") and h.endswith("/sheet") for h in opened["links"])
        assert "สัญญาณเตือน / red flags" in page.locator("#gs-legend").inner_text()
        control.locator("input").uncheck()  # the layer switches off like the others
        shot(page, "overview_red_flags")
        assert_not_pwned(page)
        watch.check()
    finally:
        context.close()
    context, page, watch = open_map(browser, base, committee, "/maps/overview?fiscal_year_be=2567")
    try:
        assert page.locator(".leaflet-control-layers-overlays label", has_text="Red flags").count() == 0
        assert page.evaluate(OPEN_FLAG_POPUPS)["seen"] == []
        watch.check()
    finally:
        context.close()
