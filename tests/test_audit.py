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
    inc = client.post(
        "/api/v1/incidents", headers=officer, json={"kind": "burning", "location": {"lat": 18.2, "lon": 100.3}}
    ).json()
    client.patch(
        f"/api/v1/incidents/{inc['id']}", headers={**officer, "If-Match": 'W/"1"'}, json={"description": "edited"}
    )
    case = client.post("/api/v1/cases", headers=lead, json={"title": "Fire budget", "category": "budget_misuse"}).json()
    client.post(
        f"/api/v1/cases/{case['id']}/links",
        headers=lead,
        json={"target_type": "incident", "target_id": str(inc["id"]), "reason": "burn scar"},
    )
    client.post("/api/v1/admin/api-keys", headers=admin_headers, json={"name": "RFD", "scopes": ["districts"]})
    return inc, case


def verify(sessionmaker):
    with sessionmaker() as s:
        return audit.verify(s)


def test_changes_are_recorded_with_before_and_after(busy, db_url, sessionmaker_for):
    _inc, _case = busy
    with sessionmaker_for(db_url)() as s:
        rows = s.execute(
            text("SELECT actor, action, entity_type, entity_id, before, after FROM audit_log ORDER BY id")
        ).all()
    kinds = [(r.action, r.entity_type) for r in rows]
    assert ("ingest", "layer") in kinds  # the bundled layers' loads
    assert ("create", "incident") in kinds and ("update", "incident") in kinds
    assert ("create", "case") in kinds and ("create", "case_link") in kinds and ("create", "api_key") in kinds
    update = next(r for r in rows if (r.action, r.entity_type) == ("update", "incident"))
    assert update.actor == "officer" and update.before["description"] == "" and update.after["description"] == "edited"
    assert not any("key" in (r.after or {}) for r in rows if r.entity_type == "api_key")  # the secret is not logged


@pytest.mark.slow
def test_chain_verifies_and_head_moves(busy, db_url, sessionmaker_for):
    result = verify(sessionmaker_for(db_url))
    assert result.ok and result.entries >= 8 and len(result.head) == 64


@pytest.mark.slow
def test_database_refuses_update_delete_truncate(busy, db_url, sessionmaker_for):
    factory = sessionmaker_for(db_url)
    for stmt in (
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log WHERE id = 1",
        "TRUNCATE audit_log",
    ):
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


@pytest.mark.slow
def test_verifier_catches_an_edited_entry_with_a_recomputed_hash(busy, db_url, sessionmaker_for):
    factory = sessionmaker_for(db_url)
    _tamper(
        factory,
        "UPDATE audit_log a SET actor = 'nobody', "
        "hash = encode(sha256(convert_to(a.prev_hash || '|' || audit_payload(a), 'UTF8')), 'hex') WHERE id = 3",
    )
    _tamper(
        factory,
        "UPDATE audit_log a SET hash = encode(sha256(convert_to(a.prev_hash || '|' || "
        "audit_payload(ROW(a.id, a.at, 'nobody', a.action, a.entity_type, a.entity_id, a.before, a.after, "
        "a.prev_hash, a.hash)::audit_log), 'UTF8')), 'hex') WHERE id = 3",
    )
    result = verify(factory)
    assert {p["id"] for p in result.problems} == {4}  # the next entry no longer follows


@pytest.mark.slow
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


# --- gapless numbering (issue 12): a gap means a deletion, never an ordinary failure -----------------
@pytest.mark.slow
def test_rolled_back_entries_leave_no_gap(busy, client, db_url, sessionmaker_for):
    from tests.test_photos import photo, upload

    inc, _ = busy
    factory = sessionmaker_for(db_url)
    with factory() as s:  # a request that failed after writing its entry
        audit.record(s, "someone", "update", "incident", inc["id"], after={"x": 1})
        s.rollback()
    # the officer whom busy created signs in again
    r = client.post("/api/v1/auth/token", data={"username": "officer", "password": "correct horse battery staple"})
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    # a multi-photo upload whose second photo is refused: the first photo's entry rolls back with it (on a
    # new incident: the busy one is linked to a case, and then takes no more photos from a field officer)
    fresh = client.post(
        "/api/v1/incidents", headers=headers, json={"kind": "burning", "location": {"lat": 18.21, "lon": 100.3}}
    ).json()
    r = upload(client, headers, fresh["id"], ("good.jpg", photo()), ("bad.jpg", b"not a photo"))
    assert r.status_code == 400
    assert upload(client, headers, fresh["id"], ("good.jpg", photo())).status_code == 201
    result = verify(factory)
    assert result.ok, result.problems
    with factory() as s:
        ids = s.execute(text("SELECT id FROM audit_log ORDER BY id")).scalars().all()
    assert ids == list(range(1, len(ids) + 1))


def test_verifier_catches_a_cut_last_entry(busy, db_url, sessionmaker_for):
    factory = sessionmaker_for(db_url)
    with factory() as s:
        last = s.execute(text("SELECT max(id) FROM audit_log")).scalar_one()
    _tamper(factory, f"DELETE FROM audit_log WHERE id = {last}")
    result = verify(factory)
    assert result.problems == [
        {"id": last, "problem": f"entries {last}..{last} at the end are missing (the trail was cut)"}
    ]


SECRET = "s" * 40


def test_checkpoint_detects_a_cut_or_rewritten_tail(busy, db_url, sessionmaker_for):
    factory = sessionmaker_for(db_url)
    with factory() as s:
        cp = audit.checkpoint(s, SECRET)
        assert audit.verify_checkpoint(s, cp, SECRET) == []
        assert "signature" in audit.verify_checkpoint(s, {**cp, "head_id": 1}, SECRET)[0]["problem"]
        assert "signature" in audit.verify_checkpoint(s, cp, "another secret " * 3)[0]["problem"]
        audit.record(s, "lead", "read", "case", 1)
        s.commit()
        assert audit.verify_checkpoint(s, cp, SECRET) == []  # the trail grew: the checkpoint still holds
    head = cp["head_id"]
    # a superuser rewrites the tail from the checkpointed entry on, re-chaining it: verify alone is fooled
    _tamper(
        factory,
        f"UPDATE audit_log a SET actor = 'nobody', hash = encode(sha256(convert_to(a.prev_hash "
        f"|| '|' || audit_payload(ROW(a.id, a.at, 'nobody', a.action, a.entity_type, a.entity_id, "
        f"a.before, a.after, a.prev_hash, a.hash)::audit_log), 'UTF8')), 'hex') WHERE id = {head}",
    )
    _tamper(
        factory,
        f"UPDATE audit_log a SET prev_hash = (SELECT hash FROM audit_log WHERE id = {head}), "
        f"hash = encode(sha256(convert_to((SELECT hash FROM audit_log WHERE id = {head}) || '|' || "
        f"audit_payload(a), 'UTF8')), 'hex') WHERE id = {head + 1}",
    )
    assert verify(factory).ok
    with factory() as s:
        assert "rewritten" in audit.verify_checkpoint(s, cp, SECRET)[0]["problem"]
    # ... or cuts the entries from it on and resets the counter: only the checkpoint notices
    _tamper(factory, f"DELETE FROM audit_log WHERE id >= {head}")
    _tamper(factory, f"UPDATE audit_counter SET last_id = {head - 1}")
    assert verify(factory).ok
    with factory() as s:
        assert "cut" in audit.verify_checkpoint(s, cp, SECRET)[0]["problem"]


@pytest.mark.slow
def test_checkpoint_cli(busy, db_url, tmp_path):
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import _url_text

    env = {
        **os.environ,
        "GEO_SERVICE_DATABASE_URL": _url_text(db_url),
        "GEO_SERVICE_DATA_DIR": str(tmp_path),
        "GEO_SERVICE_JWT_SECRET": SECRET,
        "COLUMNS": "200",
    }
    cli = [sys.executable, "-m", "geo_service.cli"]
    out = tmp_path / "head.json"
    subprocess.run([*cli, "audit", "checkpoint", "--out", str(out)], env=env, check=True, capture_output=True)
    assert json.loads(out.read_text())["head_hash"] and len(json.loads(out.read_text())["signature"]) == 64
    ok = subprocess.run([*cli, "audit", "verify", "--checkpoint", str(out)], env=env, capture_output=True, text=True)
    assert ok.returncode == 0 and "holds the head" in ok.stdout
    forged = {**json.loads(out.read_text()), "entries": 1}
    out.write_text(json.dumps(forged))
    bad = subprocess.run([*cli, "audit", "verify", "--checkpoint", str(out)], env=env, capture_output=True, text=True)
    assert bad.returncode == 1 and "signature" in bad.stdout
