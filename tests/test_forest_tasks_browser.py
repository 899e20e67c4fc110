"""The field form's clearing checks in a real headless Chromium: open tasks near the officer with the patch outline,
a false alarm recorded from the list, and the incident logged for a task, whose outcome (verified, with the
incident's number) the outbox sends after the incident: the incident links back to the patch. Every request
stays on the loopback server; the page logs no JavaScript error."""

from __future__ import annotations

import playwright.sync_api as playwright_api
import pytest
from sqlalchemy import text

from tests.conftest import ADMIN_TOKEN
from tests.forest_patch_fixtures import insert_patches
from tests.test_field_form_browser import (  # noqa: F401 (fixtures)
    browser,
    expect_text,
    live,
    open_form,
    server,
    shot,
)
from tests.test_forest_loss_links import LAT, LON

pytestmark = pytest.mark.browser


def test_tasks_near_the_officer_false_alarm_and_incident_for_a_task(open_form, live, db_url, sessionmaker_for):  # noqa: F811
    _base, api = live
    factory = sessionmaker_for(db_url)
    with factory() as s, s.begin():
        ids = insert_patches(s, LON, LAT)
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    tasks = {}
    for name in ("near", "far", "hostile"):  # hostile: 5 km away, outside a 2 km search
        r = api.post(f"/api/v1/forest-loss/patches/{ids[name]}/tasks", headers=admin, json={"note": f"<b>{name}</b>"})
        assert r.status_code == 201, r.text
        tasks[name] = r.json()["id"]

    _context, page, watch = open_form(
        geolocation={"latitude": LAT, "longitude": LON, "accuracy": 8}, permissions=["geolocation"]
    )
    page.select_option("#tasks-radius", "2000")
    page.click("#tasks-find")
    items = page.locator("#tasks-list li")
    playwright_api.expect(items).to_have_count(2)
    assert items.nth(0).get_attribute("data-patch") == str(ids["near"])  # nearest first
    assert items.nth(1).get_attribute("data-patch") == str(ids["far"])
    expect_text(items.nth(0).locator("strong"), "ตรวจสอบการแผ้วถางป่าที่.*อ.เด่นชัย")
    assert items.nth(0).locator("svg.outline path").get_attribute("d").startswith("M")
    assert items.nth(0).locator("svg.outline").is_visible()
    assert "<b>near</b>" in items.nth(0).text_content()  # the note as text, not HTML
    assert items.nth(0).locator("b").count() == 0
    # what burned near the patch, in the server's words (fire_words.fire_summary; the near patch's mark is an older
    # one: a count and one distance); the far patch did not burn: no fire line
    expect_text(items.nth(0).locator(".fire"), r"^ถูกเผา: จุดความร้อน 3 จุด; ไฟใกล้สุดห่างแปลง 120 ม\.$")
    assert items.nth(1).locator(".fire").count() == 0
    expect_text(page.locator("#tasks-status"), "พบ 2 งาน")
    shot(page, "tasks_near")

    # the list is kept on the phone: after a reload it shows without asking the server again
    asked = len([u for u in watch.urls if "/api/v1/forest-loss/tasks" in u])
    page.reload()
    playwright_api.expect(page.locator("#tasks-list li")).to_have_count(2)
    assert len([u for u in watch.urls if "/api/v1/forest-loss/tasks" in u]) == asked

    # a false alarm from the list
    page.locator(f"#tasks-list li[data-task='{tasks['far']}'] .outcome-false_alarm").click()
    playwright_api.expect(page.locator("#tasks-list li")).to_have_count(1)

    # the incident for the near task: the form is filled in, the outbox sends the incident then the outcome
    page.locator(f"#tasks-list li[data-task='{tasks['near']}'] .log-task").click()
    assert page.input_value("#kind") == "land_clearing"
    assert page.input_value("#description").startswith("ตรวจสอบการแผ้วถางป่าที่")
    expect_text(page.locator("#task-banner-text"), f"#{ids['near']}")
    page.fill("#description", "พบการแผ้วถางปลูกข้าวโพด")
    page.click("#submit")
    playwright_api.expect(page.locator("#outbox-list li[data-state=sent]")).to_have_count(1)
    assert page.locator("#task-banner").is_hidden()  # the next draft is not for a task
    shot(page, "task_incident_sent")
    with factory() as s:
        rows = {
            r.patch_id: r
            for r in s.execute(text("SELECT patch_id, status, outcome, incident_id, done_by FROM field_tasks")).all()
        }
        verification = dict(s.execute(text("SELECT id, verification FROM clearing_patches")).all())
    incident = api.get("/api/v1/incidents").json()["items"][0]
    assert incident["description"] == "พบการแผ้วถางปลูกข้าวโพด" and incident["kind"] == "land_clearing"
    assert (rows[ids["near"]].status, rows[ids["near"]].outcome) == ("done", "verified")
    assert rows[ids["near"]].incident_id == incident["id"] and rows[ids["near"]].done_by == "ranger1"
    assert (rows[ids["far"]].status, rows[ids["far"]].outcome) == ("done", "false_alarm")
    assert rows[ids["hostile"]].status == "open"
    assert verification[ids["near"]] == "verified" and verification[ids["far"]] == "false_alarm"
    watch.check()
