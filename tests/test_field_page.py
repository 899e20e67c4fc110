"""The field form's page and files as served (no browser): languages, security headers, no external URL."""

from __future__ import annotations

import json
import re
from pathlib import Path

from geo_service.db.models import IncidentKind
from geo_service.web.field_text import page_text

STATIC = Path(__file__).resolve().parents[1] / "geo_service" / "web" / "static" / "field"


def test_page_is_thai_first_with_both_languages_and_a_strict_policy(ref_client):
    r = ref_client.get("/field")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    html = r.text
    assert '<html lang="th">' in html and "บุกรุกพื้นที่ป่า · Encroachment" in html
    for kind in IncidentKind:
        assert f'value="{kind.value}"' in html
    text = json.loads(re.search(r'<script type="application/json" id="page-text">(.*?)</script>', html, re.S)[1])
    assert text == page_text()
    assert all(set(v) == {"th", "en"} and all(v.values()) for v in text.values())


def test_files_are_served_and_reference_no_other_site(ref_client):
    names = sorted(p.name for p in STATIC.iterdir())
    assert {"app.js", "api.js", "store.js", "outbox.js", "i18n.js", "sw.js", "field.css"} <= set(names)
    for name in names:
        r = ref_client.get(f"/static/field/{name}")
        assert r.status_code == 200, name
        body = re.sub(r'xmlns="[^"]*"', "", r.text)  # an XML namespace is a name, not a request
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", body, re.I), f"{name} names another site"
    html = ref_client.get("/field").text
    assert not re.search(r'(src|href)="(https?:)?//', html)
    for name in ("app.js", "api.js", "store.js", "outbox.js", "i18n.js"):
        assert "innerHTML" not in (STATIC / name).read_text(encoding="utf-8")


def test_service_worker_may_control_the_form(ref_client):
    r = ref_client.get("/field/sw.js")
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    assert r.headers["service-worker-allowed"] == "/field"
