"""The field form driven by a real headless Chromium (Debian's chromium through Playwright).

The real app runs under uvicorn on 127.0.0.1 against a fresh test database; every request the browser
makes is recorded and must stay on that address; the page must log no JavaScript error.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import httpx2 as httpx
import playwright.sync_api as playwright_api
import pytest
import uvicorn

from geo_service.db.local_pg import free_port
from geo_service.main import create_app
from tests.conftest import ADMIN_TOKEN, PASSWORD, make_settings

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
DMS = "18°08'42.5\"N 100°08'30\"E"
pytestmark = pytest.mark.browser
playwright_api.expect.set_options(timeout=10_000)  # a loaded 2-core machine is slower than the 5 s default


@pytest.fixture
def server(db_url, tmp_path):
    """The real app under uvicorn on a free loopback port, in a thread: (base URL, uvicorn server)."""
    port = free_port()
    srv = uvicorn.Server(
        uvicorn.Config(create_app(make_settings(db_url, tmp_path)), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    srv.thread = thread
    yield f"http://127.0.0.1:{port}", srv
    srv.should_exit = True
    thread.join(10)


@pytest.fixture
def live(server):
    """The server's base URL, with a field officer created, and an API client signed in as them."""
    base, _ = server
    api = httpx.Client(base_url=base, timeout=20)
    r = api.post(
        "/api/v1/admin/users",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        json={"username": "ranger1", "password": PASSWORD, "roles": ["field_officer"]},
    )
    assert r.status_code == 201, r.text
    token = api.post("/api/v1/auth/token", data={"username": "ranger1", "password": PASSWORD}).json()["access_token"]
    api.headers["Authorization"] = f"Bearer {token}"
    yield base, api
    api.close()


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM.exists(), "Debian's chromium package is needed (./dev test installs it)"
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-gpu"],
        )
        yield b
        b.close()


class Watch:
    """Every request URL, JavaScript errors and console errors of one browser context."""

    def __init__(self, context, base: str):
        self.base, self.urls, self.errors, self.failed = base, [], [], []
        context.on("request", lambda r: self.urls.append(r.url))
        context.on("response", lambda r: r.status >= 400 and self.failed.append(f"{r.status} {r.url}"))
        context.on("weberror", lambda e: self.errors.append(f"page error: {e.error}"))
        context.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))

    def check(self, expected_console: tuple[str, ...] = ()) -> None:
        outside = [u for u in self.urls if not u.startswith(self.base + "/")]
        assert not outside, f"requests left {self.base}: {outside}"
        assert self.urls, "no request was recorded"
        unexpected = [e for e in self.errors if not any(x in e for x in expected_console)]
        assert not unexpected, (unexpected, self.failed)


@pytest.fixture
def open_form(browser, live):
    """A phone-sized page on the form (service workers blocked: page.route must see every request)."""
    base, _ = live
    contexts = []

    def open_(*, sign_in: bool = True, **options):
        options = {
            "viewport": {"width": 360, "height": 780},
            "service_workers": "block",
            "timezone_id": "Asia/Bangkok",
            **options,
        }
        context = browser.new_context(base_url=base, **options)
        contexts.append(context)
        watch = Watch(context, base)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto("/field")
        if sign_in:
            sign_in_as(page)
        return context, page, watch

    yield open_
    for c in contexts:
        c.close()


def sign_in_as(page, username="ranger1"):
    page.locator("#signin").wait_for(state="visible")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#signin-button")
    page.locator("#user-bar").wait_for(state="visible")


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"field_{name}.png"), full_page=True)


def count(api) -> int:
    r = api.get("/api/v1/incidents", params={"limit": 1})
    assert r.status_code == 200, r.text
    return r.json()["total"]


def expect_text(locator, pattern):
    playwright_api.expect(locator).to_have_text(re.compile(pattern))


def wait_held(page, held: list, n: int) -> None:
    """Wait until ``n`` requests are held by a page.route handler. Playwright reports a request (what
    expect_request waits for) before it hands the route to the handler, so the list can still be short right after."""
    deadline = time.monotonic() + 10
    while len(held) < n:
        assert time.monotonic() < deadline, f"{len(held)} of {n} requests held"
        page.wait_for_timeout(20)  # lets Playwright deliver the pending route to the handler


def test_sign_in_locate_submit_geolocation_and_language(open_form, live):
    _base, api = live
    where = api.post("/api/v1/incidents/locate", json={"text": DMS}).json()["place"]
    _context, page, watch = open_form(
        geolocation={"latitude": 18.1452, "longitude": 100.1417, "accuracy": 12}, permissions=["geolocation"]
    )
    assert page.locator("html").get_attribute("lang") == "th"
    expect_text(page.locator("h1"), "แจ้งเหตุ")
    assert page.locator("#photos").get_attribute("accept") == "image/*"
    assert page.locator("#photos").get_attribute("capture") == "environment"

    page.select_option("#kind", "burning")
    page.fill("#description", "เผาเศษไม้ <b>ริมห้วย</b>")
    page.fill("#position", DMS)
    page.click("#check-position")
    expect_text(page.locator("#place-district"), re.escape(where["district"]["name_th"]))
    expect_text(page.locator("#place-subdistrict"), re.escape(where["subdistrict"]["name_th"]))
    assert page.locator("#place-reserve").text_content().strip()
    shot(page, "located")

    page.click("#submit")
    expect_text(page.locator("#outbox-list li").first.locator(".state"), "ส่งแล้ว")
    assert page.locator("#outbox-list li[data-state=sent]").count() == 1
    items = api.get("/api/v1/incidents").json()["items"]
    assert len(items) == 1
    inc = items[0]
    assert inc["kind"] == "burning" and inc["location"]["text"] == DMS and inc["location"]["format"] == "dms"
    assert inc["description"] == "เผาเศษไม้ <b>ริมห้วย</b>"  # stored as typed, shown as text
    assert inc["place"]["district"]["code"] == where["district"]["code"]
    assert inc["observed_at"].endswith("+07:00")
    assert page.input_value("#position") == "" and page.input_value("#description") == ""  # a new draft

    # The device's position, with its accuracy.
    page.click("#use-location")
    expect_text(page.locator("#accuracy"), r"± 12 เมตร")
    assert page.input_value("#position") == "18.145200, 100.141700"
    page.locator("#place").wait_for(state="visible")

    page.click("#lang")
    expect_text(page.locator("h1"), "Report a forest incident")
    expect_text(page.locator("#accuracy"), r"Accuracy ± 12 m")
    assert page.locator("html").get_attribute("lang") == "en"
    expect_text(page.locator("#outbox-list li .state"), "Sent")
    page.click("#submit")
    playwright_api.expect(page.locator("#outbox-list li[data-state=sent]")).to_have_count(2)
    newest = api.get("/api/v1/incidents").json()["items"][0]
    assert newest["location"]["accuracy_m"] == 12 and newest["location"]["lat"] == pytest.approx(18.1452)
    shot(page, "sent_english")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # nothing wider than the phone
    watch.check()


def test_swapped_position_suggestion_and_outside_province(open_form, live):
    _base, api = live
    _context, page, watch = open_form()
    page.fill("#position", "100.1417, 18.1452")
    page.click("#check-position")
    page.locator("#locate-error").wait_for(state="visible")
    expect_text(page.locator("#locate-error-title"), "สลับกัน")
    expect_text(page.locator("#locate-error-message"), "swapped")
    shot(page, "swapped")
    page.click("#apply-suggestion")
    assert page.input_value("#position") == "18.145200, 100.141700"
    page.locator("#place").wait_for(state="visible")
    assert page.locator("#locate-error").is_hidden()

    # Chiang Mai: in Thailand, outside the province: stored only once the officer confirms.
    page.fill("#position", "18.7883, 98.9853")
    page.click("#submit")
    page.locator("#confirm-outside").wait_for(state="visible")
    assert count(api) == 0
    page.click("#confirm-outside")
    # how far outside, and the nearest district; what was read, in its notation
    expect_text(page.locator("#place-district"), r"นอกเขตจังหวัด ห่าง [\d.]+ กม\. อำเภอที่ใกล้ที่สุด .+ \([\d.]+ กม\.\)")
    expect_text(page.locator("#place-read-as"), re.escape("อ่านได้เป็น 18.788300°N, 98.985300°E (ทศนิยมองศา)"))
    page.click("#submit")
    page.locator("#outbox-list li[data-state=sent]").wait_for()
    items = api.get("/api/v1/incidents").json()["items"]
    assert len(items) == 1 and items[0]["place"]["outside_province"] is True
    watch.check(expected_console=("status of 400",))


def test_a_late_refusal_of_the_old_position_does_not_cover_the_suggested_one(open_form, live):
    """Leaving the position box and pressing "Save and send" send two checks of the swapped position; the first
    refusal offers "did you mean", which is applied; the second refusal answering after that is about a position no
    longer in the box and is not shown (nor is anything sent): the suggested position's place stays, no refusal over
    it."""
    _base, api = live
    _context, page, watch = open_form()
    held, hold = [], [True]
    page.route("**/api/v1/incidents/locate", lambda route: held.append(route) if hold[0] else route.continue_())
    page.fill("#position", "100.1417, 18.1452")
    with page.expect_request("**/api/v1/incidents/locate"):
        page.click("#submit")  # the 'change' of leaving the box, then the submit's own: two checks
    wait_held(page, held, 2)
    held[0].continue_()
    page.locator("#apply-suggestion").wait_for(state="visible")
    hold[0] = False  # the suggested position's check goes through
    page.click("#apply-suggestion")
    page.locator("#place-answer").wait_for(state="visible")
    check = page.locator("#check-position")
    playwright_api.expect(check).to_have_attribute("aria-busy", "true")  # the old position's second check is out
    with page.expect_response("**/api/v1/incidents/locate") as late:
        held[1].continue_()  # ... and its refusal comes late
    assert late.value.status == 400
    playwright_api.expect(check).to_have_attribute("aria-busy", "false")  # every check answered and handled
    assert page.locator("#locate-error").is_hidden() and page.locator("#place-answer").is_visible()
    assert page.input_value("#position") == "18.145200, 100.141700"
    assert page.evaluate("localStorage.getItem('geo.field.outbox')") in (None, "[]") and count(api) == 0
    watch.check(expected_console=("status of 400",))


def test_offline_submit_is_queued_then_sent_once(open_form, live):
    _base, api = live
    context, page, watch = open_form()
    context.set_offline(True)
    expect_text(page.locator("#network"), "ไม่มีสัญญาณ")
    page.select_option("#kind", "illegal_logging")
    page.fill("#description", "offline report")
    page.fill("#position", DMS)
    page.click("#submit")
    item = page.locator("#outbox-list li")
    playwright_api.expect(item).to_have_attribute("data-state", "waiting")
    expect_text(item.locator(".state"), "รอสัญญาณ")
    shot(page, "queued_offline")
    outbox = page.evaluate("JSON.parse(localStorage.getItem('geo.field.outbox'))")
    assert len(outbox) == 1 and outbox[0]["body"]["location"]["text"] == DMS
    key = outbox[0]["key"]
    time.sleep(2.5)  # a retry timer fires while offline: still nothing
    assert count(api) == 0

    context.set_offline(False)
    playwright_api.expect(item).to_have_attribute("data-state", "sent")
    assert count(api) == 1
    time.sleep(2.5)  # no late retry duplicates it
    assert count(api) == 1
    inc = api.get("/api/v1/incidents").json()["items"][0]
    assert inc["kind"] == "illegal_logging" and inc["description"] == "offline report"
    # The key belongs to that incident: replaying it returns the same one.
    r = api.post("/api/v1/incidents", json=outbox[0]["body"], headers={"Idempotency-Key": key})
    assert r.status_code == 200 and r.json()["id"] == inc["id"]
    shot(page, "sent_after_offline")
    watch.check(expected_console=("ERR_INTERNET_DISCONNECTED",))


def test_lost_response_is_retried_without_a_duplicate(open_form, live):
    _base, api = live
    _context, page, watch = open_form()
    keys, outcomes = [], []

    def lose_first_response(route):
        if route.request.method != "POST":
            return route.continue_()
        keys.append(route.request.headers.get("idempotency-key"))
        if len(keys) == 1:
            response = route.fetch()  # the server creates the incident ...
            outcomes.append(response.status)
            return route.abort("connectionreset")  # ... and the phone never hears back
        return route.continue_()

    page.route("**/api/v1/incidents", lose_first_response)
    page.fill("#position", DMS)
    page.click("#submit")
    item = page.locator("#outbox-list li")
    playwright_api.expect(item).to_have_attribute("data-state", "sent", timeout=15_000)
    assert outcomes == [201]
    assert len(keys) == 2 and keys[0] == keys[1] and len(keys[0]) >= 8
    assert count(api) == 1
    watch.check(expected_console=("ERR_CONNECTION_RESET",))


def expire_token(page):
    """The server no longer accepts the token (expired or revoked) while the page still holds it."""
    page.evaluate("""() => { const a = JSON.parse(localStorage.getItem('geo.field.auth'));
                             a.token = 'expired.' + a.token.slice(8); localStorage.setItem('geo.field.auth', JSON.stringify(a)); }""")


def test_expired_session_keeps_the_draft(open_form, live):
    """The session has expired before the position is checked: every check answers 401, so the report is not queued;
    the sign-in is asked and the draft stays in the form. (A position checked while the session was still good
    takes the outbox's path instead: test_a_checked_report_waits_in_the_outbox_for_sign_in.)"""
    _base, api = live
    _context, page, watch = open_form()
    expire_token(page)  # before the first check: leaving the position box checks it (a 'change' event)
    page.fill("#description", "draft survives sign-in")
    page.fill("#position", DMS)
    page.select_option("#severity", "high")
    page.click("#submit")
    page.locator("#signin").wait_for(state="visible")
    expect_text(page.locator("#signin-reason"), "หมดเวลา")
    assert count(api) == 0
    page.reload()  # the draft is in localStorage: a reload keeps it too
    assert page.input_value("#description") == "draft survives sign-in"
    assert page.input_value("#position") == DMS and page.input_value("#severity") == "high"
    sign_in_as(page)
    # Signing in checks the draft's position again; its answer fills the place box below the button, so the button
    # does not move and a click while the check is out is not lost
    # (test_the_submit_button_stays_put_when_the_position_check_answers).
    page.click("#submit")
    item = page.locator("#outbox-list li")
    playwright_api.expect(item).to_have_attribute("data-state", "sent")
    inc = api.get("/api/v1/incidents").json()["items"]
    assert len(inc) == 1 and inc[0]["description"] == "draft survives sign-in" and inc[0]["severity"] == "high"

    # A draft typed while signed out stays in the form across reloads and sign-in.
    page.click("#signout")
    page.fill("#description", "still here")
    page.reload()
    assert page.input_value("#description") == "still here"
    sign_in_as(page)
    assert page.input_value("#description") == "still here"
    watch.check(expected_console=("status of 401",))


def test_an_expired_session_keeps_the_draft_when_the_check_answers_first(open_form, live):
    """The other order of the expired-session race: the check of leaving the position box answers 401 (and the page
    forgets the token) BEFORE the officer presses "Save and send". The press asks to sign in and keeps the draft, as
    when the check is still out (test_expired_session_keeps_the_draft); it used to queue the report unchecked as
    'sign in to send' and clear the form."""
    _base, api = live
    _context, page, watch = open_form()
    expire_token(page)
    page.fill("#description", "draft kept, check answered first")
    page.fill("#position", DMS)
    with page.expect_response("**/api/v1/incidents/locate") as answer:
        page.focus("#description")  # leaving the position box checks it (a 'change' event)
    assert answer.value.status == 401
    page.locator("#signin").wait_for(state="visible")  # the 401 was handled: the token is forgotten
    assert page.evaluate("JSON.parse(localStorage.getItem('geo.field.auth')).token") is None
    page.click("#submit")
    expect_text(page.locator("#signin-reason"), "หมดเวลา")
    assert page.input_value("#description") == "draft kept, check answered first"
    assert page.evaluate("localStorage.getItem('geo.field.outbox')") in (None, "[]")
    assert page.locator("#outbox-list li").count() == 0 and count(api) == 0
    page.reload()
    assert (
        page.input_value("#description") == "draft kept, check answered first" and page.input_value("#position") == DMS
    )
    sign_in_as(page)
    page.click("#submit")
    playwright_api.expect(page.locator("#outbox-list li")).to_have_attribute("data-state", "sent")
    inc = api.get("/api/v1/incidents").json()["items"]
    assert len(inc) == 1 and inc[0]["description"] == "draft kept, check answered first"
    watch.check(expected_console=("status of 401",))


def test_a_checked_report_waits_in_the_outbox_for_sign_in(open_form, live):
    """The position was checked while the session was good, then the session expired: the report is queued (its
    place is known), the outbox holds it as 'sign in to send' across a reload, and it is sent once after sign-in.
    This is the path a fast answer to the position check takes; the old draft test hit it by chance (CI, stop 25)."""
    _base, api = live
    _context, page, watch = open_form()
    page.fill("#description", "checked, then the session expired")
    page.fill("#position", DMS)
    page.click("#check-position")
    page.locator("#place-answer").wait_for(state="visible")
    expire_token(page)
    page.click("#submit")
    page.locator("#signin").wait_for(state="visible")
    expect_text(page.locator("#signin-reason"), "หมดเวลา")
    item = page.locator("#outbox-list li")
    playwright_api.expect(item).to_have_attribute("data-state", "signin")
    assert count(api) == 0
    assert page.input_value("#description") == ""  # queued: the form is free for the next report
    page.reload()
    playwright_api.expect(item).to_have_attribute("data-state", "signin")  # the outbox survives a reload
    assert count(api) == 0
    sign_in_as(page)
    playwright_api.expect(item).to_have_attribute("data-state", "sent")
    inc = api.get("/api/v1/incidents").json()["items"]
    assert len(inc) == 1 and inc[0]["description"] == "checked, then the session expired"
    watch.check(expected_console=("status of 401",))


def test_a_submit_during_the_sign_ins_locate_is_queued(open_form, live):
    """A submit while the sign-in's own position check is still out (and its own check too) queues the draft once
    both answer, in either order: nothing is dropped, nothing sent twice."""
    _base, api = live
    _context, page, watch = open_form(sign_in=False)  # a draft typed while signed out
    page.fill("#description", "submitted while checking")
    page.fill("#position", DMS)
    held = []
    page.route("**/api/v1/incidents/locate", lambda route: held.append(route))  # answered when released below
    with page.expect_request("**/api/v1/incidents/locate"):
        sign_in_as(page)  # the sign-in checks the draft's position
    with page.expect_request("**/api/v1/incidents/locate"):
        page.click("#submit")  # the submit checks it too (the first answer has not come)
    wait_held(page, held, 2)
    assert len(held) == 2
    assert page.evaluate("localStorage.getItem('geo.field.outbox')") in (None, "[]") and count(api) == 0
    held[1].continue_()  # the submit's answer first, then the sign-in's
    held[0].continue_()
    item = page.locator("#outbox-list li")
    playwright_api.expect(item).to_have_attribute("data-state", "sent")
    playwright_api.expect(item).to_have_count(1)
    inc = api.get("/api/v1/incidents").json()["items"]
    assert len(inc) == 1 and inc[0]["description"] == "submitted while checking"
    assert page.input_value("#description") == ""  # a new draft
    watch.check()


def test_the_form_opens_without_a_network(open_form, live, server):
    """The service worker keeps the form's own files: with the server gone the page still opens and queues."""
    base, srv = server
    _context, page, watch = open_form(service_workers="allow")
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    page.fill("#description", "under the canopy")
    srv.should_exit = True  # no server at all any more: only the service worker's cache can answer
    srv.thread.join(10)
    with pytest.raises(httpx.ConnectError):
        httpx.get(base + "/field", timeout=2)
    response = page.reload()
    assert response.from_service_worker
    expect_text(page.locator("h1"), "แจ้งเหตุ")
    assert page.input_value("#description") == "under the canopy"
    page.fill("#position", DMS)
    page.click("#submit")
    item = page.locator("#outbox-list li")
    playwright_api.expect(item).to_have_attribute("data-state", "waiting")
    shot(page, "opened_offline")
    watch.check(expected_console=("ERR_CONNECTION_REFUSED", "ERR_FAILED"))


def png(color) -> bytes:
    from io import BytesIO

    from PIL import Image

    out = BytesIO()
    Image.new("RGB", (8, 8), color).save(out, "PNG")
    return out.getvalue()


def test_selected_photos_are_kept_with_the_draft(open_form, live):
    """Photos wait in IndexedDB with the draft (a reload keeps them); their upload is not exercised here."""
    _context, page, watch = open_form()
    page.set_input_files(
        "#photos",
        [
            {"name": "a.png", "mimeType": "image/png", "buffer": png("red")},
            {"name": "b.png", "mimeType": "image/png", "buffer": png("green")},
        ],
    )
    expect_text(page.locator("#photo-count"), "เลือกแล้ว 2 รูป")
    page.reload()
    expect_text(page.locator("#photo-count"), "เลือกแล้ว 2 รูป")
    key = page.evaluate("JSON.parse(localStorage.getItem('geo.field.draft')).key")
    names = page.evaluate(
        """key => new Promise((resolve, reject) => {
        const open = indexedDB.open('geo-field');
        open.onsuccess = () => {
          const req = open.result.transaction('photos').objectStore('photos').index('draft').getAll(key);
          req.onsuccess = () => resolve(req.result.map(p => [p.name, p.blob.type, p.blob.size]));
          req.onerror = () => reject(req.error);
        };
      })""",
        key,
    )
    assert sorted(n for n, _, _ in names) == ["a.png", "b.png"]
    assert all(t == "image/png" and size > 0 for _, t, size in names)
    watch.check()


def test_photos_are_uploaded_with_the_incident_even_when_a_response_is_lost(open_form, live):
    """Two photos go up after the incident; the first upload's answer is lost, the retry stores nothing twice."""
    import hashlib

    _base, api = live
    _context, page, watch = open_form()
    red, green = png("red"), png("green")
    uploads = []

    def lose_first_upload(route):
        uploads.append(route.request.method)
        if len(uploads) == 1:
            response = route.fetch()  # the server stores both photos ...
            assert response.status == 201
            return route.abort("connectionreset")  # ... but the phone never hears back
        return route.continue_()

    page.route("**/api/v1/incidents/*/photos", lose_first_upload)
    page.set_input_files(
        "#photos",
        [
            {"name": "red.png", "mimeType": "image/png", "buffer": red},
            {"name": "green.png", "mimeType": "image/png", "buffer": green},
        ],
    )
    page.fill("#position", DMS)
    page.click("#submit")
    item = page.locator("#outbox-list li")
    playwright_api.expect(item).to_have_attribute("data-state", "sent", timeout=20_000)
    assert len(uploads) == 2
    incident = api.get("/api/v1/incidents").json()["items"][0]
    assert sorted(p["sha256"] for p in incident["photos"]) == sorted(
        hashlib.sha256(b).hexdigest() for b in (red, green)
    )
    thumb = api.get(incident["photos"][0]["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    shot(page, "photos_sent")
    watch.check(expected_console=("ERR_CONNECTION_RESET",))


def test_the_submit_button_stays_put_when_the_position_check_answers(open_form, live):
    """Signing in checks the draft's position; its answer fills the place box, which is below the submit button, so
    the button does not move under a finger (360 px wide): a press before the answer and a release after it is a
    click that sends the draft (the race that used to push the button about 570 px down and lose the click)."""
    _base, api = live
    where = api.post("/api/v1/incidents/locate", json={"text": DMS}).json()["place"]
    _context, page, watch = open_form(sign_in=False)  # a draft typed while signed out
    page.fill("#description", "button stays put")
    page.fill("#position", DMS)
    held, hold = [], [True]

    def hold_one(route):  # the next check is answered when released below; later ones at once
        if hold[0]:
            hold[0] = False
            held.append(route)
        else:
            route.continue_()

    page.route("**/api/v1/incidents/locate", hold_one)
    with page.expect_request("**/api/v1/incidents/locate"):
        sign_in_as(page)  # the sign-in checks the draft's position
    place, submit = page.locator("#place"), page.locator("#submit")
    expect_text(page.locator("#place-checking"), "กำลังตรวจสอบ")  # a neutral line while the check is out
    playwright_api.expect(place).to_have_attribute("aria-busy", "true")
    assert place.get_attribute("aria-live") == "polite"
    submit.scroll_into_view_if_needed()
    before = submit.bounding_box()
    assert before is not None
    page.mouse.move(before["x"] + before["width"] / 2, before["y"] + before["height"] / 2)
    page.mouse.down()  # the finger is on the button when the answer arrives
    wait_held(page, held, 1)
    held[0].continue_()
    expect_text(page.locator("#place-district"), re.escape(where["district"]["name_th"]))
    expect_text(page.locator("#place-subdistrict"), re.escape(where["subdistrict"]["name_th"]))
    playwright_api.expect(place).to_have_attribute("aria-busy", "false")
    playwright_api.expect(page.locator("#place-checking")).to_be_hidden()
    after = submit.bounding_box()
    box = place.bounding_box()
    assert after is not None and box is not None
    print(f"submit before the answer {before}, after {after}; place box {box}")
    assert after == before  # not one pixel: same x, y, width, height
    assert box["height"] > 300  # the answer is tall at this width (the test would prove nothing otherwise)
    assert box["y"] >= after["y"] + after["height"]  # ... and below the button
    shot(page, "place_below_submit")
    page.mouse.up()  # the release lands on the same element: a click, the draft is sent
    item = page.locator("#outbox-list li")
    playwright_api.expect(item).to_have_attribute("data-state", "sent")
    playwright_api.expect(item).to_have_count(1)
    inc = api.get("/api/v1/incidents").json()["items"]
    assert len(inc) == 1 and inc[0]["description"] == "button stays put"
    assert inc[0]["place"]["district"]["code"] == where["district"]["code"]

    # In English too ("Check the position" / "Checking..." on the button beside), from the check button.
    page.click("#lang")
    page.fill("#position", DMS)
    hold[0] = True
    with page.expect_request("**/api/v1/incidents/locate"):
        page.click("#check-position")
    expect_text(page.locator("#place-checking"), "Checking where")
    before = submit.bounding_box()
    wait_held(page, held, 2)
    held[1].continue_()
    expect_text(page.locator("#place-district"), re.escape(where["district"]["name_en"]))
    after = submit.bounding_box()
    print(f"English: submit before the answer {before}, after {after}; place box {place.bounding_box()}")
    assert before is not None and after == before
    watch.check()


def test_a_refused_position_opens_its_box_below_the_button_which_stays_put(open_form, live):
    """A refused position (a "did you mean" suggestion, a point outside the province) opens its box right below "Save
    and send", never above it: at 360 px the button does not move by one pixel when the refusal answers while a finger
    is on it, in Thai and in English; the box is announced (role="alert") in the officer's language, the position box
    points at it, and the click that lands after the refusal sends nothing."""
    _base, api = live
    _context, page, watch = open_form()
    held, hold = [], [True]

    def hold_all(route):  # every check waits while `hold` is set, until released below
        if hold[0]:
            held.append(route)
        else:
            route.continue_()

    page.route("**/api/v1/incidents/locate", hold_all)
    submit, problem = page.locator("#submit"), page.locator("#locate-error")
    assert problem.get_attribute("role") == "alert" and problem.get_attribute("aria-live") == "assertive"
    assert "locate-error" in page.locator("#position").get_attribute("aria-describedby").split()
    cases = [
        # language, position, how the check starts, the refusal's title, its action button
        ("th", "100.1417, 18.1452", "#check-position", "สลับกัน", "#apply-suggestion"),
        ("th", "18.7883, 98.9853", "#submit", "นอกจังหวัด", "#confirm-outside"),
        ("en", "100.1417, 18.1452", "#submit", "look swapped", "#apply-suggestion"),
        ("en", "18.7883, 98.9853", "#check-position", "outside the province", "#confirm-outside"),
    ]
    for lang, position, trigger, title, action in cases:
        if page.locator("html").get_attribute("lang") != lang:
            page.click("#lang")
            playwright_api.expect(page.locator("html")).to_have_attribute("lang", lang)
        page.fill("#position", position)
        playwright_api.expect(problem).to_be_hidden()  # a new position: the last refusal is gone
        hold[0], held[:] = True, []
        with page.expect_request("**/api/v1/incidents/locate"):
            page.click(trigger)  # the check is out (held)
        expect_text(page.locator("#place-checking"), "กำลังตรวจสอบ" if lang == "th" else "Checking where")
        submit.scroll_into_view_if_needed()
        before = submit.bounding_box()
        assert before is not None
        if trigger == "#check-position":  # the finger is on the button when the refusal arrives
            page.mouse.move(before["x"] + before["width"] / 2, before["y"] + before["height"] / 2)
            page.mouse.down()
        wait_held(page, held, 1)
        hold[0] = False  # a second check of the same position (the 'change' of leaving the box) may still come: it
        for route in held:  # is answered at once
            route.continue_()
        expect_text(page.locator("#locate-error-title"), title)
        playwright_api.expect(page.locator(action)).to_be_visible()
        playwright_api.expect(page.locator("#position")).to_have_attribute("aria-invalid", "true")
        after, box = submit.bounding_box(), problem.bounding_box()
        assert after is not None and box is not None
        print(f"{lang} {position}: submit before the refusal {before}, after {after}; refusal box {box}")
        assert after == before  # not one pixel: same x, y, width, height
        gap = box["y"] - (after["y"] + after["height"])
        assert 0 <= gap <= 20, gap  # right below the button, where the officer reads after pressing it
        assert box["height"] > 100  # a real box (title, message, action button), not an empty line
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        if trigger == "#check-position":
            with page.expect_response("**/api/v1/incidents/locate"):
                page.mouse.up()  # the release lands on the button: a click, which checks again and is refused again
            # the check's end (its button idle again) comes after the submit has decided: nothing queued, below
            playwright_api.expect(page.locator("#check-position")).to_have_attribute("aria-busy", "false")
            expect_text(page.locator("#locate-error-title"), title)
        shot(page, f"refused_below_submit_{lang}_{action.strip('#')}")
        # every check answered (the submit's own too, whose refusal ends the submit): nothing was queued or sent
        playwright_api.expect(page.locator("#check-position")).to_have_attribute("aria-busy", "false")
        assert count(api) == 0 and page.evaluate("localStorage.getItem('geo.field.outbox')") in (None, "[]")

    # The refusal's own action still works from below the button: confirm the point outside the province, then send.
    page.click("#confirm-outside")
    page.locator("#place-answer").wait_for(state="visible")
    playwright_api.expect(problem).to_be_hidden()
    page.click("#submit")
    playwright_api.expect(page.locator("#outbox-list li[data-state=sent]")).to_have_count(1)
    items = api.get("/api/v1/incidents").json()["items"]
    assert len(items) == 1 and items[0]["place"]["outside_province"] is True
    watch.check(expected_console=("status of 400",))
