"""The evidence pack: printable HTML (escaped), PDF, the map, the timeline, and attachment hashes."""

from __future__ import annotations

import hashlib
import re

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_evidence_pack_html_and_pdf(client, login):
    officer = login("officer", "field_officer")
    lead = login("lead", "investigator")
    other = login("other", "investigator")
    inc = client.post(
        "/api/v1/incidents",
        headers=officer,
        json={
            "kind": "land_clearing",
            "location": {"lat": 18.2, "lon": 100.3},
            "observed_at": "2024-03-01T10:00:00",
            "description": HOSTILE,
        },
    ).json()
    case = client.post(
        "/api/v1/cases",
        headers=lead,
        json={
            "title": "Clearing " + HOSTILE,
            "summary": "ชาวบ้านร้องเรียน " + HOSTILE,
            "category": "encroachment_permitted",
            "received_on": "2024-03-05",
        },
    ).json()
    cid = case["id"]
    client.post(
        f"/api/v1/cases/{cid}/links",
        headers=lead,
        json={"target_type": "incident", "target_id": str(inc["id"]), "reason": "clearing seen"},
    )
    client.post(
        f"/api/v1/cases/{cid}/links",
        headers=lead,
        json={"target_type": "protected_area", "target_id": "NRF-PR-001", "reason": "the reserve"},
    )
    client.post(f"/api/v1/cases/{cid}/parties", headers=lead, json={"name": "นายทดสอบ", "party_role": "suspect"})
    data = b"%PDF-1.4 contract scan"
    client.post(f"/api/v1/cases/{cid}/attachments", headers=lead, files={"file": ("scan.pdf", data, "application/pdf")})
    version = client.get(f"/api/v1/cases/{cid}", headers=lead).json()["version"]
    client.post(
        f"/api/v1/cases/{cid}/transitions",
        headers={**lead, "If-Match": f'W/"{version}"'},
        json={"to_stage": "preliminary_review", "reason": "enough to review"},
    )

    r = client.get(f"/api/v1/cases/{cid}/evidence-pack", headers=lead)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert case["reference"] in html and "นายทดสอบ" in html and hashlib.sha256(data).hexdigest() in html
    assert "data:image/png;base64," in html and "ILLUSTRATIVE" in html and "CC BY-IGO" in html
    assert "1/3/2567" in html and "5/3/2567" in html  # Buddhist Era dates in the timeline
    assert "<script>alert" not in html and "&lt;script&gt;" in html and "<img src=x" not in html
    pdf = client.get(f"/api/v1/cases/{cid}/evidence-pack.pdf", headers=lead)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and len(pdf.content) > 20_000
    assert client.get(f"/api/v1/cases/{cid}/evidence-pack", headers=other).status_code == 403
    committee = login("committee", "committee_member")
    assert client.get(f"/api/v1/cases/{cid}/evidence-pack", headers=committee).status_code == 403
    trail = client.get(f"/api/v1/cases/{cid}/audit", headers=lead).json()
    assert next(e["action"] for e in trail) == "create"


def test_the_timeline_dates_stage_changes_and_links_by_their_bangkok_day(client, login, db_url, sessionmaker_for):
    """A stage change and a link made at 17:30 UTC on 30 September 2024 were made on 1 October in Bangkok (the
    next fiscal year): the pack's timeline says 1/10/2567, not the UTC day 30/9/2567."""
    from sqlalchemy import text

    from geo_service.db.engine import transaction

    lead = login("lead", "investigator")
    cid = client.post(
        "/api/v1/cases",
        headers=lead,
        json={"title": "Night work", "category": "encroachment_permitted", "received_on": "2024-09-01"},
    ).json()["id"]
    r = client.post(
        f"/api/v1/cases/{cid}/links",
        headers=lead,
        json={"target_type": "protected_area", "target_id": "NRF-PR-001", "reason": "the reserve"},
    )
    assert r.status_code == 201, r.text
    version = client.get(f"/api/v1/cases/{cid}", headers=lead).json()["version"]
    r = client.post(
        f"/api/v1/cases/{cid}/transitions",
        headers={**lead, "If-Match": f'W/"{version}"'},
        json={"to_stage": "preliminary_review", "reason": "enough to review"},
    )
    assert r.status_code in (200, 201), r.text
    with transaction(sessionmaker_for(db_url)) as s:  # both made at 00:30 on 1 October, Bangkok time
        at = "2024-09-30 17:30:00+00"
        moved = s.execute(
            text("UPDATE case_transitions SET created_at = :at WHERE case_id = :c AND to_stage = 'preliminary_review'"),
            {"at": at, "c": cid},
        ).rowcount
        moved += s.execute(
            text("UPDATE case_links SET created_at = :at WHERE case_id = :c"), {"at": at, "c": cid}
        ).rowcount
    assert moved == 2
    html = client.get(f"/api/v1/cases/{cid}/evidence-pack", headers=lead).text
    rows = re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td></tr>", html)
    when = {what.split(" —")[0].split(":")[0]: day for day, what in rows}
    assert when["Stage"] == "1/10/2567" and when["Evidence linked"] == "1/10/2567", rows
    assert "30/9/2567" not in html
