"""The transparency page ``/open`` in a real headless Chromium (Debian's chromium through Playwright), served by
the real app under uvicorn on 127.0.0.1 over the hostile data set of tests/test_open_data.py: on a phone, with
JavaScript off, the page reads in Thai first with English beside it, shows the counts with the small ones hidden
and says why, shows the hostile strings as text, and its downloads (CSV, the public brief's PDF) arrive; with
JavaScript on, nothing runs. Every request stays on 127.0.0.1. Screenshots go to test-artifacts/open_*.png."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.public_forbidden import XSS
from tests.test_field_form_browser import ARTIFACTS, Watch, browser  # noqa: F401  (shared fixture)
from tests.test_open_data import hostile_data

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def seeded(db_url, sessionmaker_for, client_factory, admin_headers, live_server):
    from tests.provinces import load_nan

    load_nan(sessionmaker_for(db_url))
    data = hostile_data(client_factory(db_url, aoi_provinces="54"), admin_headers)
    return live_server(db_url, aoi_provinces="54"), data


def test_open_page_on_a_phone_without_javascript(browser, seeded):  # noqa: F811
    base, data = seeded
    context = browser.new_context(
        base_url=base, viewport=PHONE, java_script_enabled=False, accept_downloads=True, locale="th-TH"
    )
    watch = Watch(context, base)
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        response = page.goto("/open")
        assert response.status == 200
        assert page.locator("html").get_attribute("lang") == "th"
        h1 = page.locator("h1").inner_text()
        assert h1.startswith("ข้อมูลเปิดเพื่อความโปร่งใส") and "Open data for transparency" in h1
        note = page.locator("#suppression").inner_text()
        assert "“<5”" in note and "could identify a case or a person" in note
        # the incidents table: the first district's March count shown, June's and the second district's hidden
        incidents = page.locator("#incidents_by_district_month table")
        assert incidents.locator("td.suppressed").count() == 2
        assert set(incidents.locator("td.suppressed").all_inner_texts()) == {"<5"}
        assert "6" in incidents.locator("td").all_inner_texts()
        cases = page.locator("#cases_by_stage_fiscal_year table")
        assert cases.locator("th[scope=row]").all_inner_texts() == ["2567", "2566"]
        # the hostile credit is shown as text, the layers' licences are listed
        assert page.get_by_text(XSS, exact=False).count() >= 1
        assert "CC BY-IGO" in page.locator("#reference_layers").inner_text()
        # the CSS (same origin, allowed by the page's CSP) applies: the table scrolls inside its box on a phone
        page.screenshot(path=str(_artifact("open_phone_nojs.png")), full_page=True)

        # A download starts when the server's answer does; the click itself does not wait for it (no_wait_after: it
        # would wait for a navigation that never commits), the download does, for as long as a loaded machine
        # takes to render the file (the brief's PDF took over 20 s under the stress run of stop 26)
        with page.expect_download(timeout=90_000) as got:
            page.locator("#incidents_by_district_month a[href$='.csv']").click(no_wait_after=True)
        rows = list(csv.DictReader(io.StringIO(Path(got.value.path()).read_text(encoding="utf-8-sig"))))
        assert {r["count_text"] for r in rows} == {"0", "6", "<5"}
        with page.expect_download(timeout=90_000) as got:
            page.locator(
                f"#committee_briefs ul:not(.downloads) a[href='/open/briefs/{data['public_brief']}.pdf']"
            ).click(no_wait_after=True)
        assert Path(got.value.path()).read_bytes()[:4] == b"%PDF"
        assert page.locator(f"a[href='/open/briefs/{data['private_brief']}.pdf']").count() == 0
    finally:
        context.close()
    outside = [u for u in watch.urls if not u.startswith(base + "/")]
    assert watch.urls and not outside, outside
    assert not watch.failed, watch.failed


def test_open_page_runs_no_script(browser, seeded):  # noqa: F811
    base, _ = seeded
    context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
    watch = Watch(context, base)
    page = context.new_page()
    try:
        assert page.goto("/open").status == 200
        page.wait_for_load_state("networkidle")
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.evaluate("document.scripts.length") == 0
        # the stylesheet loaded (CSP 'self'): headings carry its green rule
        border = page.evaluate("getComputedStyle(document.querySelector('h2')).borderBottomColor")
        assert border == "rgb(26, 127, 55)", border
        page.screenshot(path=str(_artifact("open_desktop.png")), full_page=True)
    finally:
        context.close()
    watch.check()


def _artifact(name: str):
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
