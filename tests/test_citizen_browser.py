"""The public report form in a real headless Chromium (Debian's chromium through Playwright), phone-sized, with no
account: an offline report queued and sent once the network is back, its receipt code shown and working; a typed
position checked; the page opening from the service worker's cache with the server gone; and no client address in
the access log of the form's paths. Every request must stay on 127.0.0.1 and no JavaScript error may be logged."""

from __future__ import annotations

import io
import logging
import re
import threading
import time

import httpx2 as httpx
import playwright.sync_api as playwright_api
import pytest
import uvicorn
from PIL import ExifTags, Image

from geo_service.db.local_pg import free_port
from geo_service.main import create_app
from tests.conftest import ADMIN_TOKEN, make_settings
from tests.test_field_form_browser import (  # noqa: F401 (fixture)
    ARTIFACTS,
    DMS,
    Watch,
    browser,
    expect_text,
    wait_held,
)

pytestmark = pytest.mark.browser
RECEIPT = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){4}$")
PHONE = "089-765-4321"


class Lines(logging.Handler):
    """The access log's lines as uvicorn would write them (after the logger's filters)."""

    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.fixture
def server(db_url, tmp_path):
    """The real app under uvicorn with its access log on, in a thread: (base URL, server, access-log lines)."""
    port = free_port()
    lines = Lines()
    access = logging.getLogger("uvicorn.access")
    srv = uvicorn.Server(
        uvicorn.Config(create_app(make_settings(db_url, tmp_path)), host="127.0.0.1", port=port, log_level="info")
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    access.addHandler(lines)
    srv.thread = thread
    yield f"http://127.0.0.1:{port}", srv, lines
    access.removeHandler(lines)
    srv.should_exit = True
    thread.join(10)


@pytest.fixture
def admin(server):
    api = httpx.Client(base_url=server[0], timeout=20, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    yield api
    api.close()


@pytest.fixture
def open_page(browser, server):  # noqa: F811 (the imported fixture)
    base = server[0]
    contexts = []

    def open_(**options):
        options = {
            "viewport": {"width": 360, "height": 740},
            "service_workers": "block",
            "timezone_id": "Asia/Bangkok",
            **options,
        }
        context = browser.new_context(base_url=base, **options)
        contexts.append(context)
        watch = Watch(context, base)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto("/report")
        page.locator("#map path").nth(7).wait_for(state="attached")  # the 8 district outlines
        return context, page, watch

    yield open_
    for c in contexts:
        c.close()


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"report_{name}.png"), full_page=True)


def gps_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0110] = "SecretPhoneModel"
    exif[ExifTags.IFD.GPSInfo] = {1: "N", 2: (18.0, 8.0, 42.5), 3: "E", 4: (100.0, 8.0, 30.0)}
    buf = io.BytesIO()
    Image.new("RGB", (80, 60), (30, 90, 20)).save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def reports(admin) -> list[dict]:
    r = admin.get("/api/v1/citizen/reports", params={"status": ["received", "accepted", "merged", "rejected"]})
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_offline_report_from_a_map_tap_is_sent_later_with_its_receipt(open_page, admin, server):
    context, page, watch = open_page()
    expect_text(page.locator("h1"), "แจ้งเบาะแส")  # Thai first
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the page is wider than the phone ({width}px)"
    context.set_offline(True)
    expect_text(page.locator("#network"), "ไม่มีสัญญาณ")
    page.check("input[name=kind][value=logging]")
    district = page.locator("#map path").filter(has_text="เมืองแพร่")  # Mueang Phrae's outline
    district.click()  # its middle
    expect_text(page.locator("#accuracy"), r"18\.\d+, (99|100)\.\d+")
    page.fill("#description", "รถบรรทุกไม้ออกจากป่าตอนกลางคืน")
    page.set_input_files("#photos", files=[{"name": "p.jpg", "mimeType": "image/jpeg", "buffer": gps_jpeg()}])
    expect_text(page.locator("#photo-count"), "1")
    page.click("#contact-box summary")
    page.fill("#contact-phone", PHONE)
    page.click("#submit")
    item = page.locator("#outbox-list li").first
    playwright_api.expect(item).to_have_attribute("data-state", "waiting")
    shot(page, "queued_offline")
    time.sleep(2.5)  # a retry timer fires while offline: still nothing
    assert reports(admin) == []

    context.set_offline(False)
    playwright_api.expect(item).to_have_attribute("data-state", "sent")
    receipt = item.locator(".receipt").inner_text().strip()
    assert RECEIPT.match(receipt)
    shot(page, "sent_with_receipt")
    time.sleep(2.5)  # no late retry duplicates it
    items = reports(admin)
    assert len(items) == 1 and items[0]["kind"] == "logging" and items[0]["photos"] == 1
    assert items[0]["province_code"] == "54" and items[0]["has_contact"] is True
    assert items[0]["description"] == "รถบรรทุกไม้ออกจากป่าตอนกลางคืน"
    # sent: the phone keeps the receipt, not the contact details
    outbox = page.evaluate("localStorage.getItem('geo.report.outbox')")
    assert receipt in outbox and PHONE not in outbox
    # the receipt follows the report, in the page too
    page.fill("#receipt-input", receipt)
    page.click("#follow-check")
    expect_text(page.locator("#follow-status"), "ได้รับแล้ว")
    page.fill("#add-text", "เห็นอีกครั้งเช้านี้")
    page.click("#add-send")
    expect_text(page.locator("#add-status"), "ส่งข้อมูลเพิ่มแล้ว")
    assert reports(admin)[0]["additions"] == 1
    watch.check(expected_console=("ERR_INTERNET_DISCONNECTED",))
    # no client address in the access log of the form's paths (the server's other paths keep theirs)
    assert admin.get("/health").status_code == 200
    lines = server[2].lines
    citizen_lines = [line for line in lines if "/api/v1/citizen/" in line or '"GET /report' in line]
    assert citizen_lines and all("127.0.0.1" not in line for line in citizen_lines)
    assert any("127.0.0.1" in line for line in lines if '"GET /health' in line)


def test_typed_position_is_checked_and_the_english_switch(open_page, admin):
    _context, page, watch = open_page()
    page.fill("#position", DMS)
    page.click("#check-position")
    expect_text(page.locator("#place-text"), "เมืองแพร่")
    page.click("#lang")
    expect_text(page.locator("h1"), "Report what you saw")
    page.fill("#position", "100.1417, 18.1452")
    page.click("#check-position")
    expect_text(page.locator("#locate-error-title"), "swapped")
    page.fill("#position", DMS)
    page.click("#submit")
    item = page.locator("#outbox-list li").first
    playwright_api.expect(item).to_have_attribute("data-state", "sent")
    assert RECEIPT.match(item.locator(".receipt").inner_text().strip())
    assert reports(admin)[0]["district_code"] == "5401"
    watch.check(expected_console=("status of 400",))


def test_the_form_opens_without_a_network(open_page, server):
    base, srv, _lines = server
    _context, page, watch = open_page(service_workers="allow")
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    page.fill("#description", "ใต้ร่มไม้")
    srv.should_exit = True  # no server any more: only the service worker's cache can answer
    srv.thread.join(10)
    with pytest.raises(httpx.ConnectError):
        httpx.get(base + "/report", timeout=2)
    response = page.reload()
    assert response.from_service_worker
    expect_text(page.locator("h1"), "แจ้งเบาะแส")
    assert page.input_value("#description") == "ใต้ร่มไม้"
    page.locator("#map path").nth(7).wait_for(state="attached")  # the outlines kept on the phone
    page.fill("#position", DMS)
    page.click("#submit")
    playwright_api.expect(page.locator("#outbox-list li").first).to_have_attribute("data-state", "waiting")
    shot(page, "opened_offline")
    watch.check(expected_console=("ERR_CONNECTION_REFUSED", "ERR_FAILED"))


def test_a_network_member_signs_in_and_reports_with_the_name_sealed(open_page, admin, server):
    r = admin.post(
        "/api/v1/citizen/network/members",
        json={"username": "vol_rong", "password": "volunteer pass 123", "district_code": "5404"},
    )
    assert r.status_code == 201, r.text
    _context, page, watch = open_page()
    page.click("#member-box summary")
    page.fill("#member-username", "vol_rong")
    page.fill("#member-password", "wrong password 1")
    page.click("#member-signin")
    expect_text(page.locator("#member-error"), "ไม่ถูกต้อง")
    page.fill("#member-password", "volunteer pass 123")
    page.click("#member-signin")
    expect_text(page.locator("#member-name"), "vol_rong")
    page.check("input[name=kind][value=burning]")
    page.fill("#position", DMS)
    page.click("#submit")
    item = page.locator("#outbox-list li").first
    playwright_api.expect(item).to_have_attribute("data-state", "sent")
    assert RECEIPT.match(item.locator(".receipt").inner_text().strip())
    items = reports(admin)
    assert len(items) == 1 and items[0]["source"] == "member" and items[0]["kind"] == "burning"
    assert "vol_rong" not in str(items)
    page.click("#member-signout")
    playwright_api.expect(page.locator("#member-box")).to_be_visible()
    watch.check(expected_console=("status of 401",))
    # the sign-in and sign-out went through the citizen path: their log lines carry no address, and the page
    # never used the staff sign-in (whose lines keep it)
    lines = server[2].lines
    deadline = time.monotonic() + 10  # the sign-out is sent after the page has changed
    while not any("/api/v1/citizen/auth/logout" in line for line in lines) and time.monotonic() < deadline:
        time.sleep(0.1)
    member_lines = [line for line in lines if "/api/v1/citizen/auth/" in line]
    assert len([line for line in member_lines if "/auth/token" in line]) == 2, member_lines
    assert any("/auth/logout" in line for line in member_lines)
    assert all("127.0.0.1" not in line for line in member_lines)
    assert not [line for line in lines if "/api/v1/auth/" in line]
    assert admin.post("/api/v1/auth/token", data={"username": "vol_rong", "password": "x"}).status_code == 401
    assert any("127.0.0.1" in line for line in lines if "/api/v1/auth/token" in line)


def test_a_refused_report_leaves_no_contact_details_on_the_phone(open_page, admin):
    """A report queued offline and refused once sent (a position outside Thailand: a 400 that no retry mends)
    keeps no contact details on a shared phone; the refusal is shown and can be forgotten."""
    context, page, watch = open_page()
    context.set_offline(True)
    page.check("input[name=kind][value=burning]")
    page.fill("#position", "1.5, 1.5")
    page.click("#contact-box summary")
    page.fill("#contact-phone", PHONE)
    page.fill("#contact-name", "ผู้แจ้งทดสอบ")
    page.click("#submit")
    item = page.locator("#outbox-list li").first
    playwright_api.expect(item).to_have_attribute("data-state", "waiting")
    assert PHONE in page.evaluate("localStorage.getItem('geo.report.outbox')")  # queued: needed to send it
    context.set_offline(False)
    playwright_api.expect(item).to_have_attribute("data-state", "refused")
    expect_text(item.locator(".error"), "Thailand|ประเทศไทย")
    stored = page.evaluate("JSON.stringify(localStorage)")
    assert PHONE not in stored and "ผู้แจ้งทดสอบ" not in stored
    assert reports(admin) == []
    item.locator("button").click()  # forget
    playwright_api.expect(page.locator("#outbox-list li")).to_have_count(0)
    watch.check(expected_console=("ERR_INTERNET_DISCONNECTED", "status of 400"))


def test_a_refused_position_opens_its_box_below_the_button_which_stays_put(open_page, admin):
    """A refused position (a "did you mean" swap, a point outside Thailand) opens its box right below "Send the
    report", never above it: at 360 px the button does not move by one pixel when the refusal answers, in Thai and in
    English; the box is announced at once (role="alert", assertive) and the position box points at it."""
    _context, page, watch = open_page()
    held, hold = [], [True]
    page.route("**/api/v1/citizen/locate", lambda route: held.append(route) if hold[0] else route.continue_())
    submit, problem, position = page.locator("#submit"), page.locator("#locate-error"), page.locator("#position")
    assert problem.get_attribute("role") == "alert" and problem.get_attribute("aria-live") == "assertive"
    assert "locate-error" in position.get_attribute("aria-describedby").split()
    cases = [  # language, position, the refusal's title
        ("th", "100.1417, 18.1452", "สลับกัน"),
        ("th", "1.5, 1.5", "นอกประเทศไทย"),
        ("en", "100.1417, 18.1452", "look swapped"),
        ("en", "1.5, 1.5", "outside Thailand"),
    ]
    for lang, text, title in cases:
        if page.locator("html").get_attribute("lang") != lang:
            page.click("#lang")
            playwright_api.expect(page.locator("html")).to_have_attribute("lang", lang)
        page.fill("#position", text)
        playwright_api.expect(problem).to_be_hidden()  # a new position: the last refusal is gone
        playwright_api.expect(position).not_to_have_attribute("aria-invalid", "true")
        hold[0], held[:] = True, []
        page.click("#check-position")
        wait_held(page, held, 1)
        submit.scroll_into_view_if_needed()
        before = submit.bounding_box()
        hold[0] = False
        for route in held:
            route.continue_()
        expect_text(page.locator("#locate-error-title"), title)
        playwright_api.expect(position).to_have_attribute("aria-invalid", "true")
        after, box = submit.bounding_box(), problem.bounding_box()
        assert before is not None and after is not None and box is not None
        print(f"{lang} {text}: submit before the refusal {before}, after {after}; refusal box {box}")
        assert after == before  # not one pixel: same x, y, width, height
        gap = box["y"] - (after["y"] + after["height"])
        assert 0 <= gap <= 20, gap  # right below the button, where the citizen reads after pressing it
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        shot(page, f"refused_below_submit_{lang}_{'swapped' if text.startswith('100') else 'outside'}")
    assert reports(admin) == []
    watch.check(expected_console=("status of 400",))


def test_an_answer_for_a_position_since_changed_is_not_shown(open_page):
    """A check's answer arriving after the citizen changed the position is dropped: neither the old position's refusal
    nor its place covers the current position; the current position's own check decides."""
    _context, page, watch = open_page()
    held, hold = [], [True]
    page.route("**/api/v1/citizen/locate", lambda route: held.append(route) if hold[0] else route.continue_())
    # a refusal of the old (swapped) position, answering after the position was corrected
    page.fill("#position", "100.1417, 18.1452")
    page.click("#check-position")
    wait_held(page, held, 1)
    page.fill("#position", DMS)
    with page.expect_response("**/api/v1/citizen/locate") as late:
        held.pop().continue_()
    assert late.value.status == 400
    page.wait_for_timeout(300)  # the answer is handled (the page's own promise) before looking
    assert page.locator("#locate-error").is_hidden() and page.locator("#place").is_hidden()
    assert page.get_attribute("#position", "aria-invalid") != "true"
    playwright_api.expect(page.locator("#check-position")).to_be_enabled()  # the current position can be checked
    hold[0] = False
    page.click("#check-position")
    expect_text(page.locator("#place-text"), "เมืองแพร่")
    # the other way round: the old position's place, answering after a refused position was typed
    hold[0] = True
    page.fill("#position", "18.1452, 100.1417")  # a new position: the place shown is gone
    playwright_api.expect(page.locator("#place")).to_be_hidden()
    page.click("#check-position")
    wait_held(page, held, 1)
    page.fill("#position", "1.5, 1.5")
    with page.expect_response("**/api/v1/citizen/locate") as late:
        held.pop().continue_()
    assert late.value.status == 200
    page.wait_for_timeout(300)
    assert page.locator("#place").is_hidden() and page.locator("#locate-error").is_hidden()
    hold[0] = False
    page.click("#check-position")
    expect_text(page.locator("#locate-error-title"), "นอกประเทศไทย")
    playwright_api.expect(page.locator("#place")).to_be_hidden()
    watch.check(expected_console=("status of 400",))
