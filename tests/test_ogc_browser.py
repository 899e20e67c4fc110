"""The OGC API's HTML pages in a real headless Chromium: the features are drawn on the self-hosted
Leaflet map under the page's Content-Security-Policy, popups show text, links stay in HTML, and nothing is
fetched from another host."""

from __future__ import annotations

import pytest

from tests.test_field_form_browser import ARTIFACTS, Watch, browser  # noqa: F401  (shared fixture)

pytestmark = pytest.mark.browser


def test_items_page_draws_the_features_and_links_to_html(browser, live_server, ref_url):  # noqa: F811
    base = live_server(ref_url)
    context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
    watch = Watch(context, base)
    page = context.new_page()
    page.set_default_timeout(15_000)
    response = page.goto("/ogc/collections/districts/items?f=html&limit=8")
    assert response.status == 200
    page.locator(".leaflet-overlay-pane path").first.wait_for(state="attached")
    assert page.locator("#map").get_attribute("data-drawn") == "8"
    assert page.locator(".leaflet-overlay-pane path").count() == 8
    page.locator(".leaflet-overlay-pane path").first.click(force=True)
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    assert "name_th" in popup.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ogc_items.png"), full_page=True)
    page.get_by_role("link", name="collection").first.click()
    # the collection's own page, not the items page still showing: its URL has no /items (the old page's h1, paths and
    # f=html would pass the checks below before the navigation has even committed)
    page.wait_for_url(lambda url: "/ogc/collections/districts" in url and "/items" not in url, wait_until="load")
    assert "f=html" in page.url and page.locator("h1").inner_text().startswith("Districts")
    page.locator(".leaflet-overlay-pane path").first.wait_for(state="attached")  # the extent
    page.wait_for_load_state("networkidle")
    watch.check()
    context.close()
