"""The alerts page in a real headless Chromium: sign in, set an address, subscribe to a district, see it listed,
switch to English, delete it; under the page's Content-Security-Policy, with no request leaving the service."""

from __future__ import annotations

import playwright.sync_api as playwright_api
import pytest
from sqlalchemy import text

from tests.conftest import ADMIN_TOKEN, PASSWORD
from tests.test_field_form_browser import ARTIFACTS, Watch, browser, wait_held  # noqa: F401  (shared fixture)

pytestmark = pytest.mark.browser


def test_alerts_page_subscribes_lists_and_deletes(browser, live_server, db_url, client_factory, sessionmaker_for):  # noqa: F811
    client = client_factory(db_url)
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    body = {"username": "pim", "password": PASSWORD, "roles": ["field_officer"], "display_name": "Pim"}
    assert client.post("/api/v1/admin/users", headers=admin, json=body).status_code == 201
    with sessionmaker_for(db_url)() as s:
        code, name_en = s.execute(
            text("SELECT code, name_en FROM current_admin_areas WHERE level = 'district' ORDER BY code LIMIT 1")
        ).one()
    base = live_server(db_url)
    context = browser.new_context(base_url=base, viewport={"width": 390, "height": 900})
    watch = Watch(context, base)
    page = context.new_page()
    page.set_default_timeout(15_000)
    assert page.goto("/alerts").status == 200
    assert page.locator("h1").inner_text() == "การแจ้งเตือน"
    page.fill("#username", "pim")
    page.fill("#password", PASSWORD)
    page.click("#signin-form button[type=submit]")
    page.locator("#main").wait_for(state="visible")
    # the page's first read of the lists and contacts fills the form: type only once it is done
    page.locator("#subscriptions li", has_text="ยังไม่มี").wait_for()  # "None yet", in Thai first
    page.fill("#email", "pim@phrae.test")
    # wait for the save itself ("networkidle" can come before the request has even started)
    with page.expect_response(lambda r: "/api/v1/alerts/contacts" in r.url and r.request.method != "GET") as saved:
        page.click("#contacts button[type=submit]")
    assert saved.value.ok, saved.value.status
    with sessionmaker_for(db_url)() as s:
        assert (
            s.execute(text("SELECT email FROM alert_contacts WHERE username = 'pim'")).scalar_one() == "pim@phrae.test"
        )
    page.select_option("#subject_type", "district")
    page.fill("#subject_code", code)
    page.check("input[name=channels][value=email]")
    page.click("#subscribe-button")
    page.locator("#subscriptions li", has_text=code).wait_for()
    assert "อำเภอ" in page.locator("#subscriptions").inner_text()
    subs = client.get("/api/v1/alerts/subscriptions", headers={"Authorization": admin["Authorization"]}).json()
    assert [(s["username"], s["subject_code"], s["channels"]) for s in subs] == [("pim", code, ["in_app", "email"])]
    page.click("#lang")
    assert page.locator("h1").inner_text() == "Alerts" and "District" in page.locator("#subject_type").inner_text()
    page.fill("#subject_code", "no-such-code")
    page.click("#subscribe-button")
    page.locator("#message").wait_for(state="visible")
    assert "no-such-code" in page.locator("#message").inner_text()
    assert page.locator("#email").input_value() == "pim@phrae.test"  # the lists and contacts read again
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "alerts_page.png"), full_page=True)
    page.locator("#subscriptions li button").first.click()
    page.locator("#subscriptions li", has_text="None yet").wait_for()
    assert client.get("/api/v1/alerts/subscriptions", headers=admin).json() == []
    assert name_en  # the district exists in the bundled layers
    watch.check(expected_console=("status of 400",))  # the refused subscription's response
    context.close()


def test_a_late_read_of_the_lists_does_not_put_back_an_older_one(
    browser,  # noqa: F811
    live_server,
    db_url,
    client_factory,
    sessionmaker_for,
):
    """Two reads of the lists overlap (a language switch, then another): the first one's answer, taken before a
    subscription was added, comes last and is not shown; the page keeps the newer list, in the language chosen last."""
    client = client_factory(db_url)
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    body = {"username": "pim", "password": PASSWORD, "roles": ["field_officer"], "display_name": "Pim"}
    assert client.post("/api/v1/admin/users", headers=admin, json=body).status_code == 201
    with sessionmaker_for(db_url)() as s:
        code = s.execute(
            text("SELECT code FROM current_admin_areas WHERE level = 'district' ORDER BY code LIMIT 1")
        ).scalar_one()
    base = live_server(db_url)
    context = browser.new_context(base_url=base, viewport={"width": 390, "height": 900})
    watch = Watch(context, base)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto("/alerts")
    page.fill("#username", "pim")
    page.fill("#password", PASSWORD)
    page.click("#signin-form button[type=submit]")
    page.locator("#subscriptions li", has_text="ยังไม่มี").wait_for()  # the first read: no subscription
    main = page.locator("#main")
    playwright_api.expect(main).to_have_attribute("aria-busy", "false")

    held, hold = [], [True]

    def answer_later(route):  # the read's answer is taken now (no subscription yet) and handed over when released
        if hold[0] and route.request.method == "GET":
            held.append((route, route.fetch()))
        else:
            route.continue_()

    page.route("**/api/v1/alerts/subscriptions", answer_later)
    with page.expect_request("**/api/v1/alerts/subscriptions"):
        page.click("#lang")  # read 1 (English), its list answer held
    wait_held(page, held, 1)
    hold[0] = False
    token = page.evaluate("JSON.parse(localStorage.getItem('geo.field.auth')).token")
    r = client.post(
        "/api/v1/alerts/subscriptions",
        headers={"Authorization": f"Bearer {token}"},
        json={"subject_type": "district", "subject_code": code, "kinds": ["hotspot"], "channels": []},
    )
    assert r.status_code == 201, r.text
    page.click("#lang")  # read 2 (Thai): the new subscription
    page.locator("#subscriptions li", has_text=code).wait_for()
    playwright_api.expect(main).to_have_attribute("aria-busy", "true")  # read 1 is still out
    route, response = held[0]
    route.fulfill(response=response)  # read 1 answers last, with the older list
    playwright_api.expect(main).to_have_attribute("aria-busy", "false")  # ... and it has been handled
    assert page.locator("#subscriptions li", has_text=code).count() == 1
    assert "อำเภอ" in page.locator("#subscriptions").inner_text()  # Thai, the language chosen last
    assert page.locator("#subscriptions li", has_text="None yet").count() == 0
    watch.check()
    context.close()
