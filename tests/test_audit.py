"""The audit trail: every change recorded with actor, before and after; chained; tampering detected."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from geo_service import audit


@pytest.fixture
def busy(client, login, admin_headers):
    """A database with some history: an incident created and edited, a case with a link."""
    officer = login("officer", "field_officer")
    lead = login("lead", "investigator")
    inc = client.post("/api/v1/incidents", headers=officer,
                      json={"kind": "burning", "location": {"lat": 18.2, "lon": 100.3}}).json()
    client.patch(f"/api/v1/incidents/{inc['id']}", headers={**officer, "If-Match": 'W/"1"'}, json={"description": "edited"})
    case = client.post("/api/v1/cases", headers=lead, json={"title": "Fire budget", "category": "budget_misuse"}).json()
    client.post(f"/api/v1/cases/{case['id']}/links", headers=lead,
                json={"target_type": "incident", "target_id": str(inc["id"]), "reason": "burn scar"})
    client.post("/api/v1/admin/api-keys", headers=admin_headers, json={"name": "RFD", "scopes": ["districts"]})
    return inc, case


def verify(sessionmaker):
    with sessionmaker() as s:
        return audit.verify(s)


def test_changes_are_recorded_with_before_and_after(busy, db_url, sessionmaker_for):
    inc, case = busy
    with sessionmaker_for(db_url)() as s:
        rows = s.execute(text("SELECT actor, action, entity_type, entity_id, before, after FROM audit_log ORDER BY id")).all()
    kinds = [(r.action, r.entity_type) for r in rows]
    assert ("ingest", "layer") in kinds  # the bundled layers' loads
    assert ("create", "incident") in kinds and ("update", "incident") in kinds
    assert ("create", "case") in kinds and ("create", "case_link") in kinds and ("create", "api_key") in kinds
    update = next(r for r in rows if (r.action, r.entity_type) == ("update", "incident"))
    assert update.actor == "officer" and update.before["description"] == "" and update.after["description"] == "edited"
    assert not any("key" in (r.after or {}) for r in rows if r.entity_type == "api_key")  # the secret is not logged


def test_chain_verifies_and_head_moves(busy, db_url, sessionmaker_for):
    result = verify(sessionmaker_for(db_url))
    assert result.ok and result.entries >= 8 and len(result.head) == 64


def test_database_refuses_update_delete_truncate(busy, db_url, sessionmaker_for):
    factory = sessionmaker_for(db_url)
    for stmt in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log WHERE id = 1",
                 "TRUNCATE audit_log"):
        with factory() as s:
            with pytest.raises(DBAPIError, match="append-only"):
                s.execute(text(stmt))
            s.rollback()
    assert verify(factory).ok


def _tamper(factory, stmt):
    """What an attacker with superuser rights could do: switch the triggers off and rewrite history."""
    with factory() as s, s.begin():
        s.execute(text("SET LOCAL session_replication_role = replica"))
        s.execute(text(stmt))


def test_verifier_catches_an_edited_entry(busy, db_url, sessionmaker_for):
    factory = sessionmaker_for(db_url)
    _tamper(factory, "UPDATE audit_log SET actor = 'nobody' WHERE id = 3")
    result = verify(factory)
    assert not result.ok
    assert result.problems == [{"id": 3, "problem": "its content was changed after it was written"}]


def test_verifier_catches_an_edited_entry_with_a_recomputed_hash(busy, db_url, sessionmaker_for):
    factory = sessionmaker_for(db_url)
    _tamper(factory, "UPDATE audit_log a SET actor = 'nobody', "
                     "hash = encode(sha256(convert_to(a.prev_hash || '|' || audit_payload(a), 'UTF8')), 'hex') WHERE id = 3")
    _tamper(factory, "UPDATE audit_log a SET hash = encode(sha256(convert_to(a.prev_hash || '|' || "
                     "audit_payload(ROW(a.id, a.at, 'nobody', a.action, a.entity_type, a.entity_id, a.before, a.after, "
                     "a.prev_hash, a.hash)::audit_log), 'UTF8')), 'hex') WHERE id = 3")
    result = verify(factory)
    assert {p["id"] for p in result.problems} == {4}  # the next entry no longer follows


def test_verifier_catches_a_deleted_entry(busy, db_url, sessionmaker_for):
    factory = sessionmaker_for(db_url)
    _tamper(factory, "DELETE FROM audit_log WHERE id = 5")
    result = verify(factory)
    assert {p["id"] for p in result.problems} == {6}
    assert any("missing" in p["problem"] for p in result.problems)


def test_verify_endpoint_and_cli(busy, client, admin_headers, db_url, sessionmaker_for):
    r = client.get("/api/v1/admin/audit/verify", headers=admin_headers).json()
    assert r["ok"] and r["problems"] == []
    _tamper(sessionmaker_for(db_url), "DELETE FROM audit_log WHERE id = 2")
    r = client.get("/api/v1/admin/audit/verify", headers=admin_headers).json()
    assert not r["ok"] and r["problems"][0]["id"] == 3
