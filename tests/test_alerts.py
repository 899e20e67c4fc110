"""Alerts to people: matching in the ingest's transaction, the outbox, and real channels on loopback.

A real SMTP server (aiosmtpd, STARTTLS required, a self-signed certificate made by openssl for the test), fake LINE
Messaging API and webhook receivers (http.server) that behave as documented: LINE answers 409 to a retry key it has
accepted, the webhook receiver checks the HMAC signature and drops a key it has seen.
"""

from __future__ import annotations

import email
import hashlib
import hmac
import io
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from aiosmtpd.controller import Controller
from PIL import Image
from sqlalchemy import text

from geo_service.alerts import service as alerts_service
from geo_service.alerts.sender import send_pending
from geo_service.db.engine import transaction
from tests.conftest import ADMIN_TOKEN, PASSWORD, _url_text, make_settings, reserve_point
from tests.forest_patches import insert_ingest
from tests.provinces import NAN_POINT, load_nan, post_border_contracts
from tests.samples import VIIRS_HEADER

# Two places in Phrae, in two different districts (checked against the boundaries in each test)
P1 = (18.20045, 100.30150)
P2 = (18.14500, 100.14100)
SECRET_PARTY = "นายสมชาย ลับเฉพาะ"
LINE_USER = "U" + "0123456789abcdef" * 2


# --- servers on loopback ----------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


class SmtpHandler:
    """Accepts mail on STARTTLS; refuses every address at refused.test."""

    def __init__(self):
        self.messages: list[dict] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.endswith("@refused.test"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            {
                "to": list(envelope.rcpt_tos),
                "tls": session.ssl is not None,
                "mail": email.message_from_bytes(envelope.original_content, policy=policy.default),
            }
        )
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp(tls_files):
    cert, key = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler = SmtpHandler()
    port = _free_port()
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True, ready_timeout=10
    )
    controller.start()
    yield handler, port
    controller.stop()


class Fakes:
    """What the fake LINE and webhook servers received."""

    def __init__(self):
        self.line_requests: list[dict] = []
        self.line_accepted: dict[str, dict] = {}
        self.hook_requests: list[dict] = []
        self.hook_delivered: dict[str, dict] = {}
        self.fail_hook = 0  # answer 503 to this many webhook requests first


WEBHOOK_SECRET = "webhook-test-secret"
LINE_TOKEN = "line-test-token"


@pytest.fixture
def fakes():
    state = Fakes()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self, status: int, body: dict | None = None):
            data = json.dumps(body or {}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path == "/v2/bot/message/push":
                key = self.headers.get("X-Line-Retry-Key", "")
                req = {"auth": self.headers.get("Authorization"), "key": key, "json": json.loads(body)}
                state.line_requests.append(req)
                if req["auth"] != f"Bearer {LINE_TOKEN}":
                    return self._answer(401, {"message": "Authentication failed"})
                uuid.UUID(key)  # LINE wants a UUID
                if key in state.line_accepted:  # LINE's documented answer to a retry key it accepted before
                    return self._answer(409, {"message": "The retry key is already accepted"})
                state.line_accepted[key] = req["json"]
                return self._answer(200, {"sentMessages": [{"id": "1", "quoteToken": "q"}]})
            if self.path.startswith("/hook"):
                stamp = self.headers.get("X-Geo-Timestamp", "")
                expected = (
                    "sha256="
                    + hmac.new(WEBHOOK_SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
                )
                key = self.headers.get("X-Idempotency-Key", "")
                state.hook_requests.append(
                    {"path": self.path, "key": key, "signed": self.headers.get("X-Geo-Signature") == expected}
                )
                if self.path == "/hook-broken" or state.fail_hook > 0:
                    state.fail_hook = max(0, state.fail_hook - 1)
                    return self._answer(503)
                if self.headers.get("X-Geo-Signature") != expected:
                    return self._answer(401)
                state.hook_delivered.setdefault(key, json.loads(body))  # a receiver drops a key it has seen
                return self._answer(204)
            return self._answer(404)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    yield state
    server.shutdown()
    server.server_close()


# --- the service ------------------------------------------------------------------------------------------------
@pytest.fixture
def env(db_url, tmp_path, smtp, fakes, tls_files, sessionmaker_for, client_factory):
    handler, port = smtp
    extra = {
        "alerts_smtp_host": "127.0.0.1",
        "alerts_smtp_port": port,
        "alerts_smtp_ca_file": tls_files[0],
        "alerts_webhook_secret": WEBHOOK_SECRET,
        "alerts_webhook_backoff_s": 0.01,
        "alerts_line_api_url": fakes.base,
        "alerts_line_channel_token": LINE_TOKEN,
        "alerts_retry_base_s": 0,
        "alerts_public_url": "http://geo.test",
    }
    settings = make_settings(db_url, tmp_path, **extra)
    client = client_factory(db_url, **extra)
    sm = sessionmaker_for(db_url)

    class Env:
        pass

    e = Env()
    e.settings, e.client, e.sm, e.smtp, e.fakes, e.url, e.extra = settings, client, sm, handler, fakes, db_url, extra
    e.admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def user(name, *roles, provinces=None, contacts=None):
        body = {"username": name, "password": PASSWORD, "roles": list(roles), "display_name": name}
        if provinces is not None:
            body["provinces"] = provinces
        r = client.post("/api/v1/admin/users", headers=e.admin, json=body)
        assert r.status_code == 201, r.text
        token = client.post("/api/v1/auth/token", data={"username": name, "password": PASSWORD}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        if contacts:
            assert client.put("/api/v1/alerts/contacts", headers=headers, json=contacts).status_code == 200
        return headers

    def district_of(lat, lon):
        with sm() as s:
            return s.execute(
                text("SELECT code FROM current_admin_areas WHERE level = 'district' "
                     "AND ST_Contains(geom, ST_SetSRID(ST_Point(:lon, :lat), 4326))"),
                {"lat": lat, "lon": lon},
            ).scalar_one()  # fmt: skip

    def ingest(rows, version="2.0NRT", day=None):
        day = day or datetime.now(UTC).strftime("%Y-%m-%d")
        lines = [
            f"{lat},{lon},350.0,0.39,0.36,{day},{hhmm},N20,VIIRS,{conf},{version},295.0,{frp},D\n"
            for lat, lon, hhmm, conf, frp in rows
        ]
        r = client.post(
            "/api/v1/admin/hotspots/firms",
            headers=e.admin,
            files={"file": ("v.csv", (VIIRS_HEADER + "".join(lines)).encode())},
        )
        assert r.status_code == 201, r.text
        return r.json()

    def outbox(where="true"):
        with sm() as s:
            return [
                dict(r) for r in s.execute(text(f"SELECT * FROM alert_outbox WHERE {where} ORDER BY id")).mappings()
            ]

    def send(now=None):
        return send_pending(sm, settings, now)

    e.user, e.district_of, e.ingest, e.outbox, e.send = user, district_of, ingest, outbox, send
    return e


def _subscribe(env, headers, **body):
    r = env.client.post("/api/v1/alerts/subscriptions", headers=headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()


def _early_hhmm() -> str:
    """An acquisition time already past today (UTC), so a detection is never in the future."""
    now = datetime.now(UTC) - timedelta(minutes=30)
    return "0000" if now.day != datetime.now(UTC).day else now.strftime("%H%M")


# --- tests --------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_hotspot_alert_reaches_email_line_and_webhook_once(env):
    d1, d2 = env.district_of(*P1), env.district_of(*P2)
    assert d1 != d2
    hook = env.fakes.base + "/hook"
    alice = env.user(
        "alice", "field_officer", contacts={"email": "alice@phrae.test", "line_user_id": LINE_USER, "webhook_url": hook}
    )
    sub = _subscribe(env, alice, subject_type="district", subject_code=d1, kinds=["hotspot", "fire_event"],
                     min_confidence="nominal", channels=["email", "line", "webhook"])  # fmt: skip
    assert sub["username"] == "alice" and sub["channels"] == ["in_app", "email", "line", "webhook"]
    t = _early_hhmm()
    # in d1: one nominal (alerts), one low 300 m away (below the subscription's confidence); one high in d2
    env.ingest([(*P1, t, "n", 4.2), (P1[0] + 0.003, P1[1], t, "l", 1.0), (*P2, t, "h", 9.0)])
    rows = env.outbox("kind = 'hotspot'")
    assert sorted(r["channel"] for r in rows) == ["email", "in_app", "line", "webhook"]
    assert {r["subject_ref"].split(":")[0] for r in rows} == {"hotspot"} and len({r["subject_ref"] for r in rows}) == 1
    assert {r["address"] for r in rows} == {None, "alice@phrae.test", LINE_USER, hook}
    fire = env.outbox("kind = 'fire_event'")
    assert fire and {r["payload"]["growing"] for r in fire} == {False}

    assert env.send() == 6  # hotspot + fire event, on 3 channels each
    mails = env.smtp.messages
    assert (
        len(mails) == 2 and all(m["tls"] for m in mails) and {tuple(m["to"]) for m in mails} == {("alice@phrae.test",)}
    )
    hotspot_mail = next(m["mail"] for m in mails if "จุดความร้อนใหม่" in m["mail"]["Subject"])
    body = hotspot_mail.get_body(("plain",)).get_content()
    with env.sm() as s:
        name_th = s.execute(text("SELECT name_th FROM current_admin_areas WHERE code = :c"), {"c": d1}).scalar_one()
    # the detection's year in Bangkok (on 31 December from 17:00 UTC Bangkok is already in the next year)
    be_year = str(datetime.now(UTC).astimezone(alerts_service_bangkok()).year + 543)
    assert f"อ.{name_th}" in body and f"{P1[0]:.5f}, {P1[1]:.5f}" in body and be_year in body and " น." in body
    assert "VIIRS NOAA-20" in hotspot_mail["Subject"] and "http://geo.test/maps/overview?from=" in body
    assert "http://geo.test/alerts/unsubscribe?token=" in body
    png = next(p for p in hotspot_mail.iter_attachments() if p.get_content_type() == "image/png").get_content()
    image = Image.open(io.BytesIO(png))
    assert image.size == (240, 240)
    rgb = np.asarray(image.convert("RGB")).astype(int)
    assert ((rgb[..., 0] > 180) & (rgb[..., 1] < 80)).any()  # the red detection marker
    # LINE: the real request shape
    assert len(env.fakes.line_accepted) == 2
    push = env.fakes.line_requests[0]
    assert push["auth"] == f"Bearer {LINE_TOKEN}" and push["json"]["to"] == LINE_USER
    assert push["json"]["messages"][0]["type"] == "text" and len(push["json"]["messages"][0]["text"]) <= 5000
    # webhook: signed, one delivery per key, with the alert's data and the map
    assert all(r["signed"] for r in env.fakes.hook_requests) and len(env.fakes.hook_delivered) == 2
    delivered = next(v for v in env.fakes.hook_delivered.values() if v["alerts"][0]["what"] == "hotspot")
    assert delivered["alerts"][0]["district"] == d1 and delivered["map_png_base64"]
    assert {r["status"] for r in env.outbox()} == {"sent"}

    # in-app list
    recent = env.client.get("/api/v1/alerts/recent", headers=alice).json()
    assert {a["kind"] for a in recent} == {"hotspot", "fire_event"} and any(name_th in a["where"] for a in recent)

    # the same file again, then its standard-processing version: no new alert, nothing sent
    before = len(env.outbox())
    env.ingest([(*P1, t, "n", 4.2), (P1[0] + 0.003, P1[1], t, "l", 1.0), (*P2, t, "h", 9.0)])
    env.ingest([(*P1, t, "n", 4.5), (P1[0] + 0.003, P1[1], t, "l", 1.1), (*P2, t, "h", 9.5)], version="2")
    with env.sm() as s:
        assert s.execute(text("SELECT count(*) FROM hotspots WHERE processing = 'SP'")).scalar_one() == 3
    assert len(env.outbox()) == before
    assert env.send() == 0 and len(env.smtp.messages) == 2 and len(env.fakes.line_requests) == 2


@pytest.mark.slow
def test_old_detections_alert_nobody_and_other_sensor_or_night_is_filtered(env):
    d1 = env.district_of(*P1)
    bob = env.user("bob", "investigator")
    _subscribe(env, bob, subject_type="district", subject_code=d1, kinds=["hotspot"], sensors=["MODIS"])
    _subscribe(env, bob, subject_type="district", subject_code=d1, kinds=["hotspot"], daynight="N")
    polygon = {"type": "Polygon", "coordinates": [[[100.29, 18.19], [100.31, 18.19], [100.31, 18.21], [100.29, 18.21], [100.29, 18.19]]]}  # fmt: skip
    drawn = _subscribe(env, bob, subject_type="polygon", polygon=polygon, kinds=["hotspot"])
    env.ingest([(*P1, "0612", "h", 3.0)], day="2024-03-14")  # years old: no alert
    assert env.outbox() == []
    env.ingest([(*P1, _early_hhmm(), "h", 3.0)])  # VIIRS by day: only the drawn polygon matches
    assert {r["subscription_id"] for r in env.outbox()} == {drawn["id"]}


@pytest.mark.slow
def test_digest_gathers_a_day_and_quiet_hours_hold_immediate_alerts(env):
    d1 = env.district_of(*P1)
    carol = env.user("carol", "committee_member", contacts={"email": "carol@phrae.test"})
    digest = _subscribe(env, carol, subject_type="district", subject_code=d1, kinds=["hotspot"], delivery="digest",
                        digest_time="07:30", language="en", channels=["email"])  # fmt: skip
    t = _early_hhmm()
    env.ingest([(*P1, t, "h", 3.0), (P1[0] + 0.002, P1[1] + 0.002, t, "n", 2.0)])
    rows = env.outbox("channel = 'email'")
    assert len(rows) == 2 and len({r["due_at"] for r in rows}) == 1
    due = rows[0]["due_at"].astimezone(alerts_service_bangkok())
    assert (due.hour, due.minute) == (7, 30) and rows[0]["due_at"] > datetime.now(UTC)
    assert env.send() == 0  # not due yet
    assert env.send(now=rows[0]["due_at"] + timedelta(seconds=1)) == 1
    (mail,) = [m["mail"] for m in env.smtp.messages]
    body = mail.get_body(("plain",)).get_content()
    assert mail["Subject"] == "Daily alert digest: 2" and body.count("• New hotspot (VIIRS NOAA-20") == 2
    assert "Asia/Bangkok" in body and f"{P1[0]:.5f}" in body and "Unsubscribe from this alert" in body
    assert {r["status"] for r in env.outbox(f"subscription_id = {digest['id']} AND channel = 'email'")} == {"sent"}

    # quiet hours, hand-checked local (Asia/Bangkok = UTC+7) times
    with env.sm() as s:

        def due_at(qs, qe, local):
            at = datetime.fromisoformat(local + "+07:00")
            return s.execute(
                text("SELECT alert_due_at('immediate', '07:00', CAST(:qs AS time), CAST(:qe AS time), :at) AT TIME ZONE 'Asia/Bangkok'"),
                {"qs": qs, "qe": qe, "at": at},
            ).scalar_one().isoformat(timespec="minutes")  # fmt: skip

        assert due_at("22:00", "06:00", "2026-12-03T23:30") == "2026-12-04T06:00"  # across midnight
        assert due_at("22:00", "06:00", "2026-12-04T05:59") == "2026-12-04T06:00"
        assert due_at("22:00", "06:00", "2026-12-04T06:00") == "2026-12-04T06:00"  # the end is not quiet
        assert due_at("22:00", "06:00", "2026-12-04T12:00") == "2026-12-04T12:00"
        assert due_at("12:00", "13:00", "2026-12-04T12:30") == "2026-12-04T13:00"
        assert due_at(None, None, "2026-12-04T03:00") == "2026-12-04T03:00"
        digest_due = s.execute(
            text("SELECT alert_due_at('digest', '07:00', NULL, NULL, :at) AT TIME ZONE 'Asia/Bangkok'"),
            {"at": datetime.fromisoformat("2026-12-31T08:00+07:00")},
        ).scalar_one()
        assert digest_due.isoformat(timespec="minutes") == "2027-01-01T07:00"  # after today's: tomorrow's


def test_a_digest_larger_than_the_senders_batch_is_still_one_message(env, tmp_path):
    """The sender claims ``batch_size`` rows a round; a digest those rows begin is claimed whole, so a day of 7
    alerts with a batch of 3 is one digest of 7 (before: digests of 3, 3 and 1), and an immediate alert in the
    same outbox is still its own message."""
    d1 = env.district_of(*P1)
    dora = env.user("dora", "committee_member", contacts={"email": "dora@phrae.test"})
    _subscribe(env, dora, subject_type="district", subject_code=d1, kinds=["hotspot"], delivery="digest",
               digest_time="07:30", language="en", channels=["email"])  # fmt: skip
    t = _early_hhmm()
    env.ingest([(P1[0] + 0.001 * i, P1[1] + 0.001 * i, t, "n", 2.0 + i) for i in range(7)])
    rows = env.outbox("channel = 'email'")
    assert len(rows) == 7 and len({r["due_at"] for r in rows}) == 1
    small = make_settings(env.url, tmp_path, **env.extra, alerts_batch_size=3)
    assert send_pending(env.sm, small, rows[0]["due_at"] + timedelta(seconds=1)) == 1
    (mail,) = [m["mail"] for m in env.smtp.messages]
    assert mail["Subject"] == "Daily alert digest: 7"
    assert mail.get_body(("plain",)).get_content().count("• New hotspot (VIIRS NOAA-20") == 7
    assert {r["status"] for r in env.outbox("channel = 'email'")} == {"sent"}
    assert len({r["message_key"] for r in env.outbox("channel = 'email'")}) == 1


def alerts_service_bangkok():
    from geo_service.thai import BANGKOK

    return BANGKOK


@pytest.mark.slow
def test_quiet_hours_now_delay_the_send(env):
    d1 = env.district_of(*P1)
    dan = env.user("dan", "field_officer", contacts={"email": "dan@phrae.test"})
    local = datetime.now(alerts_service_bangkok())
    start, end = (local - timedelta(hours=1)).strftime("%H:%M"), (local + timedelta(hours=1)).strftime("%H:%M")
    _subscribe(env, dan, subject_type="district", subject_code=d1, kinds=["hotspot"], quiet_start=start,
               quiet_end=end, channels=["email"])  # fmt: skip
    env.ingest([(*P1, _early_hhmm(), "h", 3.0)])
    (row,) = env.outbox("channel = 'email'")
    assert row["due_at"].astimezone(alerts_service_bangkok()).strftime("%H:%M") == end
    assert env.send() == 0 and env.smtp.messages == []
    assert env.send(now=row["due_at"]) == 1 and len(env.smtp.messages) == 1
    # the in-app list has it at once
    assert len(env.client.get("/api/v1/alerts/recent", headers=dan).json()) == 1


@pytest.mark.slow
def test_case_alerts_only_to_people_who_may_see_the_case_and_without_party_names(env):
    lead = env.user("lead", "investigator", contacts={"email": "lead@phrae.test"})
    env.user("other_inv", "investigator", contacts={"email": "other@phrae.test"})
    env.user("officer", "field_officer", contacts={"email": "officer@phrae.test"})
    member = env.user("member", "committee_member", contacts={"email": "member@phrae.test"})
    case = env.client.post(
        "/api/v1/cases", headers=lead,
        json={"title": f"Encroachment by {SECRET_PARTY}", "category": "other", "confidentiality": "confidential"},
    ).json()  # fmt: skip
    cid = str(case["id"])
    own = _subscribe(env, lead, subject_type="case", subject_code=cid, kinds=["case_change"], channels=["email"])
    assert env.client.delete(f"/api/v1/alerts/subscriptions/{own['id']}", headers=lead).status_code == 204
    # a committee member cannot see a confidential case: refused as absent
    r = env.client.post("/api/v1/alerts/subscriptions", headers=member,
                        json={"subject_type": "case", "subject_code": cid, "kinds": ["case_change"]})  # fmt: skip
    assert r.status_code == 404
    # an administrator subscribes whole roles: only those who may see the case will be told
    for role in ("investigator", "field_officer", "committee_member"):
        _subscribe(env, env.admin, subject_type="case", subject_code=cid, kinds=["case_change"],
                   recipient_role=role, channels=["email"])  # fmt: skip
    r = env.client.post(
        f"/api/v1/cases/{cid}/parties", headers=lead, json={"name": SECRET_PARTY, "party_role": "suspect"}
    )
    assert r.status_code in (200, 201), r.text
    rows = env.outbox("kind = 'case_change'")
    told = {r["username"] for r in rows if r["status"] != "withheld"}
    withheld = {r["username"] for r in rows if r["status"] == "withheld"}
    assert told == {"lead"} and withheld == {"other_inv", "officer", "member"}
    dump = json.dumps([r["payload"] for r in rows], ensure_ascii=False)
    assert SECRET_PARTY not in dump and "Encroachment" not in dump and case["reference"] in dump
    assert env.send() == 1
    (mail,) = env.smtp.messages
    assert mail["to"] == ["lead@phrae.test"]
    text_ = mail["mail"].get_body(("plain",)).get_content()
    assert case["reference"] in text_ and SECRET_PARTY not in text_ and SECRET_PARTY not in mail["mail"]["Subject"]
    assert f"http://geo.test/maps/cases/{cid}" in text_
    # the in-app list of someone withheld stays empty
    assert env.client.get("/api/v1/alerts/recent", headers=member).json() == []
    (listed,) = env.client.get("/api/v1/alerts/recent", headers=lead).json()
    assert listed["kind"] == "case_change" and case["reference"] in listed["title"] and SECRET_PARTY not in str(listed)
    # the lead is taken off the case by an administrator: the case's alerts leave the lead's list
    r = env.client.delete(f"/api/v1/cases/{cid}/assignments/lead", headers=env.admin)
    assert r.status_code == 200, r.text
    assert env.client.get("/api/v1/alerts/recent", headers=lead).json() == []


@pytest.mark.slow
def test_one_bad_address_does_not_block_the_others(env):
    d1 = env.district_of(*P1)
    bad = env.user(
        "bad",
        "field_officer",
        contacts={"email": "nobody@refused.test", "webhook_url": env.fakes.base + "/hook-broken"},
    )
    good = env.user(
        "good", "field_officer", contacts={"email": "good@phrae.test", "webhook_url": env.fakes.base + "/hook"}
    )
    for h in (bad, good):
        _subscribe(env, h, subject_type="district", subject_code=d1, kinds=["hotspot"], channels=["email", "webhook"])
    env.ingest([(*P1, _early_hhmm(), "h", 3.0)])
    assert env.send() == 2
    assert [m["to"] for m in env.smtp.messages] == [["good@phrae.test"]]
    assert len(env.fakes.hook_delivered) == 1
    broken = [r for r in env.fakes.hook_requests if r["path"] == "/hook-broken"]
    assert len(broken) == env.settings.alerts.webhook_tries  # retried with back-off within the send
    by = {(r["username"], r["channel"]): r for r in env.outbox("channel <> 'in_app'")}
    assert by[("good", "email")]["status"] == "sent" and by[("good", "webhook")]["status"] == "sent"
    assert by[("bad", "email")]["status"] == "failed" and "refused" in by[("bad", "email")]["last_error"]
    hook = by[("bad", "webhook")]
    assert hook["status"] == "pending" and hook["attempts"] == 1 and "503" in hook["last_error"]
    # later rounds retry it until max_attempts, then it is reported failed
    for _ in range(env.settings.alerts.max_attempts):
        env.send()
    hook = env.outbox(f"id = {hook['id']}")[0]
    assert hook["status"] == "failed" and hook["attempts"] == env.settings.alerts.max_attempts
    # a webhook that recovers after two 503s is delivered in one send (back-off inside the call)
    env.fakes.fail_hook = 2
    env.ingest([(P1[0] + 0.004, P1[1], _early_hhmm(), "h", 3.0)])
    assert env.send() == 2 and len(env.fakes.hook_delivered) == 2


def _cli_send(env, tmp_path, crash: bool) -> subprocess.CompletedProcess:
    environ = {
        **os.environ,
        "GEO_SERVICE_DATABASE_URL": _url_text(env.url),
        "GEO_SERVICE_DATA_DIR": str(tmp_path),
        "GEO_SERVICE_ENVIRONMENT": "test",
        "GEO_SERVICE_JWT_SECRET": env.settings.jwt_secret(),
        "GEO_SERVICE_ADMIN_TOKEN": ADMIN_TOKEN,
        # a dying run leaves its claim for the lease (300 s); the restarted sender here takes it over at once
        "GEO_SERVICE_ALERTS_CLAIM_LEASE_S": "300" if crash else "0",
        "GEO_SERVICE_ALERTS_CRASH_AFTER_SEND": "1" if crash else "0",
        "GEO_SERVICE_ALERTS_BATCH_SIZE": "1",  # one alert claimed per round: each dying run takes the next one
    }
    for key, value in env.extra.items():
        environ["GEO_SERVICE_" + key.upper()] = str(value)
    return subprocess.run(
        [sys.executable, "-m", "geo_service.cli", "alerts", "send"],
        env=environ, capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip


@pytest.mark.slow
def test_sender_killed_between_sent_and_marked_sent(env, tmp_path):
    d1 = env.district_of(*P1)
    erin = env.user("erin", "field_officer",
                    contacts={"email": "erin@phrae.test", "line_user_id": LINE_USER, "webhook_url": env.fakes.base + "/hook"})  # fmt: skip
    for ch in ("line", "webhook", "email"):
        _subscribe(env, erin, subject_type="district", subject_code=d1, kinds=["hotspot"], channels=[ch])
    env.ingest([(*P1, _early_hhmm(), "h", 3.0)])
    for i in range(3):
        died = _cli_send(env, tmp_path, crash=True)
        assert died.returncode == 70, died.stdout + died.stderr
        sending = env.outbox("status = 'sending'")  # accepted by the channel, not marked
        assert len(sending) == i + 1 and all(r["message_key"] for r in sending)
    assert len(env.fakes.line_requests) == 1 and len(env.fakes.hook_requests) == 1 and len(env.smtp.messages) == 1
    done = _cli_send(env, tmp_path, crash=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert {r["status"] for r in env.outbox()} == {"sent"}
    # every channel was called again with the same key; LINE and the webhook receiver dropped the duplicate
    assert len(env.fakes.line_requests) == 2 and len({r["key"] for r in env.fakes.line_requests}) == 1
    assert len(env.fakes.line_accepted) == 1
    assert len(env.fakes.hook_requests) == 2 and len(env.fakes.hook_delivered) == 1
    # SMTP has no idempotency key: the mail arrives twice, with the same Message-ID (at least once)
    assert len(env.smtp.messages) == 2
    assert len({m["mail"]["Message-ID"] for m in env.smtp.messages}) == 1


def _insert_clearing_patch(s, district: str, lon: float, lat: float) -> None:
    """A GLAD-L clearing patch (12 pixels, 10,800 m2) first and last alerted today in ``district``: a disc of
    0.0005 degree round lon/lat; with the ingest that names it."""
    ingest_id = insert_ingest(
        s, source="glad_l", encoding="gfw", file_name="a.tif", file_sha256="a" * 64, params_key="b" * 64
    )
    s.execute(
        text("""INSERT INTO clearing_patches (sources, first_date, last_date, pixels, area_m2, confidence_max,
                district_code, first_ingest_id, last_ingest_id, geom)
                VALUES ('{glad_l}', current_date, current_date, 12, 10800, 3, :d, :i, :i,
                        ST_Multi(ST_Buffer(ST_SetSRID(ST_Point(:lon, :lat), 4326), 0.0005)))"""),
        {"d": district, "i": ingest_id, "lon": lon, "lat": lat},
    )


@pytest.mark.slow
def test_clearing_patches_alert_once(env):
    d1 = env.district_of(*P1)
    fay = env.user("fay", "field_officer")
    _subscribe(env, fay, subject_type="district", subject_code=d1, kinds=["clearing_patch"])
    with transaction(env.sm) as s:
        _insert_clearing_patch(s, d1, P1[1], P1[0])
        assert alerts_service.clearing_patches_found(s) == 1
    with transaction(env.sm) as s:
        assert alerts_service.clearing_patches_found(s) == 0  # idempotent
    (alert,) = env.client.get("/api/v1/alerts/recent", headers=fay).json()
    assert alert["kind"] == "clearing_patch" and "6.8 ไร่" in alert["title"] and "1.08 ha" in alert["title"]


def test_subscription_api_checks_and_unsubscribe_link(env):
    d1 = env.district_of(*P1)
    gina = env.user("gina", "field_officer")
    hugo = env.user("hugo", "investigator")
    post = lambda h, **b: env.client.post("/api/v1/alerts/subscriptions", headers=h, json=b)  # noqa: E731
    assert post(gina, subject_type="district", subject_code="9999", kinds=["hotspot"]).status_code == 400
    # red flags and contract areas: investigators and administrators only; a contract area by its number
    r = post(gina, subject_type="contract_area", subject_code="1", kinds=["hotspot"])
    assert r.status_code == 403 and "investigators and administrators" in r.json()["error"]["message"]
    assert post(gina, subject_type="district", subject_code=d1, kinds=["red_flag"]).status_code == 403
    r = post(hugo, subject_type="contract_area", subject_code="C-1", kinds=["hotspot"])
    assert r.status_code == 400 and "No contract area" in r.json()["error"]["message"]
    assert post(hugo, subject_type="contract_area", subject_code="424242", kinds=["hotspot"]).status_code == 400
    assert post(hugo, subject_type="case", subject_code="1", kinds=["red_flag"]).status_code == 400
    assert post(gina, subject_type="district", subject_code=d1, kinds=["case_change"]).status_code == 400
    bowtie = {"type": "Polygon", "coordinates": [[[100.0, 18.0], [100.1, 18.1], [100.1, 18.0], [100.0, 18.1], [100.0, 18.0]]]}  # fmt: skip
    r = post(gina, subject_type="polygon", polygon=bowtie, kinds=["hotspot"])
    assert r.status_code == 400 and "crosses itself" in r.json()["error"]["message"]
    assert post(gina, subject_type="district", subject_code="<script>", kinds=["hotspot"]).status_code == 422
    assert post(gina, subject_type="district", subject_code=d1, kinds=["hotspot"], username="hugo").status_code == 403
    assert post(gina, subject_type="district", subject_code=d1, kinds=["hotspot"], recipient_role="investigator").status_code == 403  # fmt: skip
    assert (
        post(gina, subject_type="district", subject_code=d1, kinds=["hotspot"], quiet_start="22:00").status_code == 400
    )

    sub = _subscribe(env, gina, subject_type="district", subject_code=d1, kinds=["hotspot"], min_confidence="high")
    assert sub["min_confidence"] == "high" and sub["delivery"] == "immediate" and sub["language"] == "th"
    url = f"/api/v1/alerts/subscriptions/{sub['id']}"
    r = env.client.patch(url, headers=gina, json={"delivery": "digest", "digest_time": "18:00", "language": "en"})
    assert r.status_code == 200 and (r.json()["delivery"], r.json()["digest_time"], r.json()["language"]) == (
        "digest",
        "18:00:00",
        "en",
    )
    assert env.client.get(url, headers=hugo).status_code == 404  # someone else's: as absent
    assert env.client.patch(url, headers=hugo, json={"active": False}).status_code == 404
    assert [s["id"] for s in env.client.get("/api/v1/alerts/subscriptions", headers=gina).json()] == [sub["id"]]
    assert env.client.get("/api/v1/alerts/subscriptions", headers=hugo).json() == []
    group = _subscribe(
        env, env.admin, subject_type="district", subject_code=d1, kinds=["hotspot"], recipient_role="investigator"
    )
    assert [s["id"] for s in env.client.get("/api/v1/alerts/subscriptions", headers=hugo).json()] == [group["id"]]
    bad_contacts = env.client.put("/api/v1/alerts/contacts", headers=gina, json={"email": "not an address"})
    assert bad_contacts.status_code == 422

    # the page, Thai first, with its own CSP
    page = env.client.get("/alerts")
    assert page.status_code == 200 and "การแจ้งเตือน" in page.text and "/static/alerts/app.js" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert env.client.get("/static/alerts/app.js").status_code == 200

    # unsubscribe links: own subscription switched off; a group one gets an opt-out for that person only
    secret = env.settings.jwt_secret()
    token = alerts_service.unsubscribe_token(sub["id"], "gina", secret)
    confirm = env.client.get("/alerts/unsubscribe", params={"token": token})
    assert confirm.status_code == 200 and "ยืนยัน" in confirm.text and 'method="post"' in confirm.text
    assert env.client.get(url, headers=gina).json()["active"] is True  # a GET changes nothing
    done = env.client.post("/alerts/unsubscribe", data={"token": token})
    assert done.status_code == 200 and "ยกเลิกการรับแจ้งเตือนแล้ว" in done.text
    assert env.client.get(url, headers=gina).json()["active"] is False
    group_token = alerts_service.unsubscribe_token(group["id"], "hugo", secret)
    assert env.client.post("/alerts/unsubscribe", data={"token": group_token}).status_code == 200
    with env.sm() as s:
        reached = s.execute(text("SELECT username FROM alert_recipients WHERE subscription_id = :i"), {"i": group["id"]}).all()  # fmt: skip
    assert reached == []
    assert env.client.get("/alerts/unsubscribe", params={"token": token[:-3] + "abc"}).status_code == 400
    assert env.client.post("/alerts/unsubscribe", data={"token": "x"}).status_code == 400
    forged = alerts_service.unsubscribe_token(group["id"], "hugo", "another-secret-of-32-characters!!")
    assert env.client.post("/alerts/unsubscribe", data={"token": forged}).status_code == 400
    assert env.client.delete(url, headers=gina).status_code == 204
    assert env.client.post("/alerts/unsubscribe", data={"token": token}).status_code == 404
    # partner API keys are not told anything
    key = env.client.post(
        "/api/v1/admin/api-keys", headers=env.admin, json={"name": "GISTDA", "scopes": ["districts"]}
    ).json()["key"]
    assert env.client.get("/api/v1/alerts/recent", headers={"X-API-Key": key}).status_code == 403


@pytest.mark.slow
def test_fire_event_alerts_when_new_and_each_time_it_doubles(env):
    d1 = env.district_of(*P1)
    ivy = env.user("ivy", "field_officer")
    sub = _subscribe(env, ivy, subject_type="district", subject_code=d1, kinds=["fire_event"])
    t = _early_hhmm()
    env.ingest([(*P1, t, "h", 3.0)])  # 1 detection: a new event
    env.ingest([(P1[0] + 0.002, P1[1], t, "h", 3.0)])  # 2: doubled
    env.ingest([(P1[0] + 0.004, P1[1], t, "h", 3.0)])  # 3: not doubled again
    rows = env.outbox("kind = 'fire_event'")
    assert len({r["subject_ref"] for r in rows}) == 1  # one event throughout
    assert [(r["payload"]["detections"], r["payload"]["growing"]) for r in rows] == [(1, False), (2, True)]
    titles = [a["title"] for a in env.client.get("/api/v1/alerts/recent", headers=ivy).json()]
    assert titles == ["ไฟป่าขยายตัว (2 จุด)", "ไฟป่าใหม่ (กลุ่มจุดความร้อน) (1 จุด)"]
    # a PATCH sending null for a setting keeps it
    r = env.client.patch(
        f"/api/v1/alerts/subscriptions/{sub['id']}", headers=ivy, json={"kinds": None, "language": "en"}
    )
    assert r.status_code == 200 and r.json()["kinds"] == ["fire_event"] and r.json()["language"] == "en"


@pytest.mark.slow
def test_the_worker_job_sends_the_outbox(env):
    """``geo-service worker`` runs the sender as its job ``alerts_send`` (wiring.worker_registry): the run is
    recorded with the number of messages the channels accepted, and a second run sends nothing again."""
    from geo_service.wiring import worker_registry
    from geo_service.worker.runner import Runner

    d1 = env.district_of(*P1)
    carol = env.user("carol", "field_officer", contacts={"email": "carol@phrae.test"})
    _subscribe(env, carol, subject_type="district", subject_code=d1, kinds=["hotspot"], channels=["email"])
    env.ingest([(*P1, _early_hhmm(), "h", 3.0)])
    registry = worker_registry(env.settings)
    assert "alerts_send" in registry.names()
    runner = Runner(env.sm, env.settings, registry, worker="test:alerts")
    runner.declare()
    first = runner.run("alerts_send")
    assert (first.status, first.rows, first.error) == ("ok", 1, None)
    assert [tuple(m["to"]) for m in env.smtp.messages] == [("carol@phrae.test",)]
    again = runner.run("alerts_send")
    assert (again.status, again.rows) == ("ok", 0) and len(env.smtp.messages) == 1
    assert {r["status"] for r in env.outbox("channel = 'email'")} == {"sent"}


@pytest.mark.slow
def test_the_worker_pulls_a_published_alert_tile_and_its_patches_alert_once(env, tmp_path):
    """The worker's forest-loss job ingests the tiles published in its folder (``<folder>/<encoding>/*.tif``); the
    ingest tells the alerts (wiring: ``forest_loss.ingest.on_patches_found``) in its own transaction; a second run
    finds nothing new and sends nothing again."""
    from pyproj import Transformer

    from geo_service.wiring import worker_registry
    from geo_service.worker.runner import Runner
    from tests import forest_alert_rasters as far

    folder = tmp_path / "published"
    (folder / "gfw_integrated").mkdir(parents=True)
    recent = datetime.now(UTC).date() - timedelta(days=3)
    far.gfw_tile(folder / "gfw_integrated" / "tile.tif", [(np.s_[2:5, 2:5], recent, 3)])
    lon, lat = Transformer.from_crs(far.UTM47, "EPSG:4326", always_xy=True).transform(620_035.0, 2_009_965.0)
    gil = env.user("gil", "field_officer")
    _subscribe(env, gil, subject_type="district", subject_code=env.district_of(lat, lon), kinds=["clearing_patch"])

    settings = make_settings(env.url, tmp_path, forest_loss_source=str(folder), **env.extra)
    runner = Runner(env.sm, settings, worker_registry(settings), worker="test:forest")
    runner.declare()
    first = runner.run("forest_loss")
    assert (first.status, first.rows, first.error) == ("ok", 1, None)
    assert len(env.outbox("kind = 'clearing_patch'")) == 1
    again = runner.run("forest_loss")
    assert (again.status, again.rows) == ("ok", 0)
    assert len(env.outbox("kind = 'clearing_patch'")) == 1
    (alert,) = env.client.get("/api/v1/alerts/recent", headers=gil).json()
    assert alert["kind"] == "clearing_patch"


# --- contract areas and red flags (issue 16, item 2) ----------------------------------------------------------------
SECRET_DOC = "NS3K-98765"
SECRET_OWNER = "นางเจ้าของ แปลงลับ"


def _square(x, y, d=0.005):
    return {"type": "Polygon", "coordinates": [[[x - d, y - d], [x + d, y - d], [x + d, y + d], [x - d, y + d], [x - d, y - d]]]}  # fmt: skip


def _post_contracts(env, places):
    """Firebreak contracts of FY 2567 by number at (lon, lat) squares (two overlapping ones: a double payment)."""
    features = [
        {
            "type": "Feature",
            "geometry": _square(lon, lat),
            "properties": {"contract_number": number, "project_name": f"แนวกันไฟ {number}", "agency": "กรมป่าไม้",
                           "contractor": "หจก. ตัวอย่าง", "work_type": "firebreak", "paid_thb": 100000,
                           "fiscal_year_be": 2567, "start_date": "2023-10-01", "end_date": "2024-05-31"},
        }
        for number, (lon, lat) in places.items()
    ]  # fmt: skip
    body = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    r = env.client.post("/api/v1/admin/redflags/contracts", headers=env.admin, files={"file": ("c.geojson", body)})
    assert r.status_code == 201, r.text


def _flags(env, rule):
    return env.client.get("/api/v1/redflags/flags", headers=env.admin, params={"rule": rule}).json()["items"]


@pytest.mark.slow
def test_contract_area_subscription_gets_hotspots_inside_the_contract_only(env):
    lon, lat = P1[1], P1[0]
    _post_contracts(env, {"EGP-A": (lon, lat), "EGP-FAR": (P2[1] + 0.05, P2[0])})
    contracts = env.client.get("/api/v1/redflags/contracts", headers=env.admin).json()["items"]
    cid = next(c["id"] for c in contracts if c["contract_number"] == "EGP-A")
    ivy = env.user("ivy", "investigator")
    sub = _subscribe(env, ivy, subject_type="contract_area", subject_code=str(cid),
                     kinds=["hotspot", "fire_event", "red_flag"])  # fmt: skip
    assert sub["subject_code"] == str(cid)
    t = _early_hhmm()
    # inside the contract (0.003 degree from its centre, the square is +-0.005), 0.008 east (outside), and P2
    env.ingest([(lat + 0.003, lon, t, "n", 2.0), (lat, lon + 0.008, t, "n", 2.0), (*P2, t, "h", 9.0)])
    rows = env.outbox(f"subscription_id = {sub['id']} AND kind = 'hotspot'")
    assert len(rows) == 1 and rows[0]["channel"] == "in_app"
    assert (round(rows[0]["payload"]["lat"], 4), round(rows[0]["payload"]["lon"], 4)) == (round(lat + 0.003, 4), lon)
    assert env.outbox(f"subscription_id = {sub['id']} AND kind = 'fire_event'")  # the event inside it


@pytest.mark.slow
def test_contract_area_subscriptions_follow_the_recipients_provinces(env):
    """A contract area is seen by the people of its province (redflags.store's rule): a Nan investigator asking for
    a Phrae contract gets the answer of an unknown id; an administrator cannot subscribe her or a group that holds
    people of another province; and a subscription made before its recipient moved to another province (or
    written directly) gets no hotspot, fire-event or clearing alert inside the contract, while the Phrae
    investigator's and the administrators' do. A national viewer's district subscription is unaffected."""
    load_nan(env.sm)
    lon, lat = P1[1], P1[0]
    _post_contracts(env, {"SC-PHRAE": (lon, lat), "SC-NAN": (NAN_POINT["lon"], NAN_POINT["lat"])})
    contracts = env.client.get("/api/v1/redflags/contracts", headers=env.admin).json()["items"]
    ids = {c["contract_number"]: c["id"] for c in contracts}
    assert {c["contract_number"]: c["province_code"] for c in contracts} == {"SC-PHRAE": "54", "SC-NAN": "55"}
    phrae, nan = ids["SC-PHRAE"], ids["SC-NAN"]
    pia = env.user("pia", "investigator", provinces=["54"])
    nat = env.user("nat", "investigator", provinces=["55"])
    mo = env.user("mo", "investigator", provinces=["54"])  # moves to Nan after subscribing
    ada = env.user("ada", "administrator")
    nvi = env.user("nvi", "national_viewer")
    post = lambda h, **b: env.client.post("/api/v1/alerts/subscriptions", headers=h, json=b)  # noqa: E731
    kinds = ["hotspot", "fire_event", "clearing_patch"]

    # subscribe time: another province's contract is answered exactly like an unknown id
    other = post(nat, subject_type="contract_area", subject_code=str(phrae), kinds=kinds)
    unknown_id = max(ids.values()) + 1000
    unknown = post(nat, subject_type="contract_area", subject_code=str(unknown_id), kinds=kinds)
    assert other.status_code == unknown.status_code == 400
    assert other.json()["error"]["code"] == unknown.json()["error"]["code"] == "unknown_subject"
    assert other.json()["error"]["message"].replace(str(phrae), "N") == unknown.json()["error"]["message"].replace(
        str(unknown_id), "N"
    )
    assert post(nat, subject_type="contract_area", subject_code=str(nan), kinds=kinds).status_code == 201
    # an administrator's subscription for others: every recipient must see the contract
    r = post(env.admin, subject_type="contract_area", subject_code=str(phrae), kinds=kinds, username="nat")
    assert r.status_code == 400 and r.json()["error"]["code"] == "recipient_out_of_scope"
    for province in (None, "55"):
        body = {"recipient_province": province} if province else {}
        r = post(env.admin, subject_type="contract_area", subject_code=str(phrae), kinds=kinds,
                 recipient_role="investigator", **body)  # fmt: skip
        assert r.status_code == 400 and r.json()["error"]["code"] == "recipient_out_of_scope", province
    group = _subscribe(env, env.admin, subject_type="contract_area", subject_code=str(phrae), kinds=kinds,
                       recipient_role="investigator", recipient_province="54")  # fmt: skip
    admins = _subscribe(env, env.admin, subject_type="contract_area", subject_code=str(phrae), kinds=kinds,
                        recipient_role="administrator")  # fmt: skip

    subs = {
        "pia": _subscribe(env, pia, subject_type="contract_area", subject_code=str(phrae), kinds=kinds)["id"],
        "mo": _subscribe(env, mo, subject_type="contract_area", subject_code=str(phrae), kinds=kinds)["id"],
        "ada": _subscribe(env, ada, subject_type="contract_area", subject_code=str(phrae), kinds=kinds)["id"],
        "nvi": _subscribe(env, nvi, subject_type="district", subject_code=env.district_of(*P1), kinds=kinds)["id"],
    }
    r = env.client.patch("/api/v1/admin/users/mo", headers=env.admin, json={"provinces": ["55"]})
    assert r.status_code == 200, r.text
    with transaction(env.sm) as s:  # as if made before a province change: a row no check saw
        subs["nat"] = s.execute(
            text("""INSERT INTO alert_subscriptions (created_by, username, subject_type, subject_code, kinds, channels)
                    VALUES ('nat', 'nat', 'contract_area', :c, :k, ARRAY['in_app']) RETURNING id"""),
            {"c": str(phrae), "k": kinds},
        ).scalar_one()

    # a hotspot (and so a fire event) and a clearing patch inside the Phrae contract
    env.ingest([(lat + 0.003, lon, _early_hhmm(), "n", 2.0)])
    with transaction(env.sm) as s:
        _insert_clearing_patch(s, env.district_of(*P1), lon - 0.002, lat)
        assert alerts_service.clearing_patches_found(s) > 0

    def got(sid):
        return {(r["username"], r["kind"]) for r in env.outbox(f"subscription_id = {int(sid)}")}

    for name in ("pia", "ada", "nvi"):
        assert got(subs[name]) == {(name, k) for k in kinds}, name
    assert got(subs["nat"]) == set() and got(subs["mo"]) == set()
    assert got(group["id"]) == {("pia", k) for k in kinds}  # mo left Phrae, nat never was there
    assert got(admins["id"]) == {("ada", k) for k in kinds}
    assert env.client.get("/api/v1/alerts/recent", headers=nat).json() == []


@pytest.mark.slow
def test_red_flag_alerts_investigators_once_never_dismissed_never_other_roles(env):
    d1 = env.district_of(*P1)
    lon, lat = P1[1], P1[0]
    ivy = env.user("ivy", "investigator", contacts={"email": "ivy@phrae.test"})
    mine = _subscribe(env, ivy, subject_type="district", subject_code=d1, kinds=["red_flag", "hotspot"],
                      channels=["email"])  # fmt: skip
    english = _subscribe(env, ivy, subject_type="district", subject_code=d1, kinds=["red_flag"], language="en")
    # a committee member and a field officer may not subscribe to red flags ...
    cora = env.user("cora", "committee_member")
    fred = env.user("fred", "field_officer")
    for h in (cora, fred):
        r = env.client.post("/api/v1/alerts/subscriptions", headers=h,
                            json={"subject_type": "district", "subject_code": d1, "kinds": ["red_flag"]})  # fmt: skip
        assert r.status_code == 403, r.text
    r = env.client.post("/api/v1/alerts/subscriptions", headers=env.admin, json={
        "subject_type": "district", "subject_code": d1, "kinds": ["red_flag"], "recipient_role": "committee_member"})  # fmt: skip
    assert r.status_code == 403
    # ... nor be told by one made while they were investigators (their role changed since)
    for name, role in (("cleo", "committee_member"), ("finn", "field_officer")):
        h = env.user(name, "investigator")
        _subscribe(env, h, subject_type="district", subject_code=d1, kinds=["red_flag"])
        r = env.client.patch(f"/api/v1/admin/users/{name}", headers=env.admin, json={"roles": [role]})
        assert r.status_code == 200, r.text
    # and a group subscription of investigators reaches the investigators of this province only (olga works in Nan)
    env.user("olga", "investigator")
    with transaction(env.sm) as s:
        s.execute(text("UPDATE users SET provinces = ARRAY['55'] WHERE username = 'olga'"))
    group = _subscribe(env, env.admin, subject_type="district", subject_code=d1, kinds=["red_flag"],
                       recipient_role="investigator")  # fmt: skip

    def flag_rows():
        return env.outbox("kind = 'red_flag'")

    _post_contracts(env, {"EGP-1": (lon, lat), "EGP-2": (lon + 0.002, lat)})  # a new double-payment flag
    (flag,) = _flags(env, "double_payment")
    rows = flag_rows()
    assert {(r["username"], r["channel"], r["subscription_id"]) for r in rows} == {
        ("ivy", "email", mine["id"]),
        ("ivy", "in_app", mine["id"]),
        ("ivy", "in_app", english["id"]),
        ("ivy", "in_app", group["id"]),
    }
    assert {r["subject_ref"] for r in rows} == {f"red_flag:{flag['id']}"}
    payload = rows[0]["payload"]
    assert payload["rule"] == "double_payment" and payload["severity"] == flag["severity"]
    assert payload["reason_th"] == flag["reason_th"] and payload["province"]

    # a re-run of the rules, and the same file again: nothing new
    assert env.client.post("/api/v1/admin/redflags/run", headers=env.admin, json={}).status_code in (200, 201)
    _post_contracts(env, {"EGP-1": (lon, lat), "EGP-2": (lon + 0.002, lat)})
    assert len(flag_rows()) == 4
    # gone (EGP-2 moved away), then raised again (moved back): alerts again, once
    _post_contracts(env, {"EGP-2": (lon + 0.05, lat)})
    assert len(flag_rows()) == 4
    _post_contracts(env, {"EGP-2": (lon + 0.002, lat)})
    assert len(flag_rows()) == 8
    # dismissed: gone and found again never alerts
    r = env.client.post(f"/api/v1/redflags/flags/{flag['id']}/dismiss", headers=ivy,
                        json={"reason": "งานคนละส่วน ตรวจแล้ว"})  # fmt: skip
    assert r.status_code == 200, r.text
    _post_contracts(env, {"EGP-2": (lon + 0.05, lat)})
    _post_contracts(env, {"EGP-2": (lon + 0.002, lat)})
    env.client.post("/api/v1/admin/redflags/run", headers=env.admin, json={})
    assert len(flag_rows()) == 8
    assert {r["username"] for r in flag_rows()} == {"ivy"}

    # the message: rule, severity, reason, district, BE date, link; never a document number or an owner
    reserve = "NRF-PR-004"  # a reserve of the sample layers (tests/test_red_flags_api.py: a parcel 0.02 east)
    plon, plat = reserve_point(env.sm, reserve)
    _subscribe(env, ivy, subject_type="protected_area", subject_code=reserve, kinds=["red_flag"], channels=["email"])
    d = 0.001
    parcel = {
        "type": "Feature",
        "geometry": _square(plon + 0.02, plat, d),
        "properties": {"doc_type": "น.ส. 3 ก.", "doc_number": SECRET_DOC, "issue_date": "15/06/2548",
                       "owner": SECRET_OWNER},
    }  # fmt: skip
    body = json.dumps({"type": "FeatureCollection", "features": [parcel]}).encode()
    r = env.client.post("/api/v1/admin/redflags/parcels", headers=env.admin, files={"file": ("p.geojson", body)})
    assert r.status_code == 201, r.text
    parcel_rows = [r for r in flag_rows() if r["payload"]["rule"] == "document_in_reserve"]
    assert parcel_rows and {r["username"] for r in parcel_rows} == {"ivy"}

    assert env.send() >= 2
    mails = [m["mail"] for m in env.smtp.messages]
    texts = [m["Subject"] + "\n" + m.get_body(("plain",)).get_content() for m in mails]
    first = next(t for t in texts if "double_payment" in t)
    be_year = str(datetime.now(UTC).astimezone(alerts_service_bangkok()).year + 543)
    with env.sm() as s:
        name_th = s.execute(text("SELECT name_th FROM current_admin_areas WHERE code = :c"), {"c": d1}).scalar_one()
    assert "ธงแดงใหม่" in first and "ระดับ" in first and flag["reason_th"] in first and f"อ.{name_th}" in first
    assert be_year in first and f"http://geo.test/api/v1/redflags/flags/{flag['id']}" in first
    assert any("document_in_reserve" in t for t in texts)
    recent = env.client.get("/api/v1/alerts/recent", headers=ivy).json()
    english_alert = next(a for a in recent if a["subscription_id"] == english["id"])
    assert (
        english_alert["title"].startswith("New red flag [double_payment, severity")
        and flag["reason_en"] in english_alert["title"]
    )
    everything = "\n".join(texts) + json.dumps([r["payload"] for r in env.outbox()], ensure_ascii=False)
    everything += json.dumps(recent, ensure_ascii=False) + json.dumps(
        list(env.fakes.hook_delivered.values()), ensure_ascii=False
    )
    assert SECRET_DOC not in everything and SECRET_OWNER not in everything
    for h in (cora, fred):
        assert env.client.get("/api/v1/alerts/recent", headers=h).json() == []


@pytest.mark.slow
def test_a_red_flag_across_a_border_alerts_an_investigator_of_each_province_once(env):
    """A double payment across the Phrae / Nan line is in scope for both provinces (redflags.store FLAG_SCOPE), so
    its alert reaches the investigators of both who subscribed to their district or to the Nan contract's area, once
    each; never a committee member, a partner, or an investigator of a third province whose drawn area covers it;
    never again on a re-run; never once dismissed."""
    load_nan(env.sm)
    pia = env.user("pia", "investigator", provinces=["54"])
    nat = env.user("nat", "investigator", provinces=["55"])
    nora = env.user("nora", "investigator", provinces=["55"])
    phrae_district, nan_district = env.district_of(18.40, 100.50), env.district_of(18.40, 100.65)
    assert phrae_district.startswith("54") and nan_district == "5501"
    # the overlap (100.51-100.53 E) lies in the Phrae district only: the Nan district reaches the flag through X-B
    with env.sm() as s:
        touches = s.execute(
            text("SELECT ST_Intersects(geom, ST_MakeEnvelope(100.51, 18.39, 100.53, 18.41, 4326)) "
                 "FROM current_admin_areas WHERE code = :c"), {"c": nan_district}).scalar_one()  # fmt: skip
    assert touches is False
    subs = {"pia": _subscribe(env, pia, subject_type="district", subject_code=phrae_district, kinds=["red_flag"])}
    subs["nat"] = _subscribe(env, nat, subject_type="district", subject_code=nan_district, kinds=["red_flag"])
    # a committee member and a partner of Nan: subscribed while investigators, their role changed since
    for name, role in (("cora", "committee_member"), ("pat", "partner")):
        h = env.user(name, "investigator", provinces=["55"])
        _subscribe(env, h, subject_type="district", subject_code=nan_district, kinds=["red_flag"])
        r = env.client.patch(f"/api/v1/admin/users/{name}", headers=env.admin, json={"roles": [role]})
        assert r.status_code == 200, r.text
    # an investigator of a third province (Phayao, 56) whose drawn area covers both contracts
    tom = env.user("tom", "investigator", provinces=["54"])
    with transaction(env.sm) as s:
        s.execute(text("UPDATE users SET provinces = ARRAY['56'] WHERE username = 'tom'"))
    box = [[100.4, 18.3], [100.8, 18.3], [100.8, 18.5], [100.4, 18.5], [100.4, 18.3]]
    _subscribe(env, tom, subject_type="polygon", polygon={"type": "Polygon", "coordinates": [box]}, kinds=["red_flag"])

    post_border_contracts(env.client, env.admin)
    contracts = env.client.get("/api/v1/redflags/contracts", headers=env.admin, params={"contractor": "Border Co."})
    by_number = {c["contract_number"]: c for c in contracts.json()["items"]}
    assert (by_number["X-A"]["province_code"], by_number["X-B"]["province_code"]) == ("54", "55")
    (flag,) = _flags(env, "double_payment")
    assert flag["province_code"] == "54"
    # a contract-area subscription to X-B, made after its flag: the next raise of the flag reaches it
    subs["nora"] = _subscribe(env, nora, subject_type="contract_area", subject_code=str(by_number["X-B"]["id"]),
                              kinds=["red_flag"])  # fmt: skip

    def flag_rows():
        return env.outbox(f"kind = 'red_flag' AND subject_ref = 'red_flag:{flag['id']}'")

    assert {(r["username"], r["subscription_id"]) for r in flag_rows()} == {
        ("pia", subs["pia"]["id"]),
        ("nat", subs["nat"]["id"]),
    }
    # re-running the rules and loading the same file again: nothing new
    assert env.client.post("/api/v1/admin/redflags/run", headers=env.admin, json={}).status_code in (200, 201)
    post_border_contracts(env.client, env.admin)
    assert len(flag_rows()) == 2
    # gone (X-B moved off X-A), then raised again: one alert each, now nora's contract area too
    post_border_contracts(env.client, env.admin, b_x0=100.56)
    assert len(flag_rows()) == 2
    post_border_contracts(env.client, env.admin)
    rows = flag_rows()
    assert sorted((r["username"], r["subscription_id"]) for r in rows) == sorted(
        [("pia", subs["pia"]["id"])] * 2 + [("nat", subs["nat"]["id"])] * 2 + [("nora", subs["nora"]["id"])]
    )
    assert {r["channel"] for r in rows} == {"in_app"}
    for name, h in (("pia", pia), ("nat", nat), ("nora", nora)):
        recent = env.client.get("/api/v1/alerts/recent", headers=h).json()
        assert [a["link"] for a in recent].count(f"http://geo.test/api/v1/redflags/flags/{flag['id']}") == len(
            [r for r in rows if r["username"] == name]
        ), name
        # and each may read the flag it was told of
        assert env.client.get(f"/api/v1/redflags/flags/{flag['id']}", headers=h).status_code == 200
    assert env.client.get(f"/api/v1/redflags/flags/{flag['id']}", headers=tom).status_code == 404
    # dismissed (by Nan's investigator): gone and found again alerts nobody
    r = env.client.post(f"/api/v1/redflags/flags/{flag['id']}/dismiss", headers=nat,
                        json={"reason": "งานคนละส่วน ตรวจแล้ว"})  # fmt: skip
    assert r.status_code == 200, r.text
    post_border_contracts(env.client, env.admin, b_x0=100.56)
    post_border_contracts(env.client, env.admin)
    env.client.post("/api/v1/admin/redflags/run", headers=env.admin, json={})
    with transaction(env.sm) as s:
        assert alerts_service.red_flags_raised(s, [flag["id"]]) == 0
    assert len(flag_rows()) == 5
    assert {r["username"] for r in env.outbox("kind = 'red_flag'")} == {"pia", "nat", "nora"}
