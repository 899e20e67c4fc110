"""The sender: delivers the due outbox rows (a worker job's edge, and ``geo-service alerts send``).

One round: a short transaction claims the due rows (``FOR UPDATE SKIP LOCKED``: two senders never take the same
row), gives each message its key (an immediate alert: its row's idempotency key; a digest: a hash of its rows'
keys) and marks them ``sending``; then, outside any transaction, each message goes to its channel, and a short
transaction of its own marks its rows ``sent`` once the channel accepted it (or counts the failure: back to
``pending`` after an exponential wait, ``failed`` and logged after ``max_attempts``). A sender killed after the
channel accepted and before the mark leaves the rows ``sending``; after ``claim_lease_s`` the next round sends them
again under the same key, which LINE (``X-Line-Retry-Key``) and a well-behaved webhook receiver drop.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from geo_service.alerts import render, service, store
from geo_service.alerts.channels import ChannelError, LineChannel, Message, channels_for
from geo_service.settings import Settings

log = logging.getLogger("geo_service.alerts")
MAP_RADIUS_DEG = 0.25


def _message_keys(rows: list[dict]) -> dict[str, list[dict]]:
    """Group claimed rows into messages: rows already keyed keep their key (a retry, or a sender that died);
    an immediate alert is its own message; a digest gathers the rows of one subscription, recipient, channel,
    address and digest time."""
    groups: dict[str, list[dict]] = defaultdict(list)
    digests: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        if r["message_key"]:
            groups[r["message_key"]].append(r)
        elif r["delivery"] == "digest":
            digests[(r["subscription_id"], r["username"], r["channel"], r["address"], r["due_at"])].append(r)
        else:
            groups[r["idempotency_key"]].append(r)
    for group in digests.values():
        keys = ",".join(sorted(r["idempotency_key"] for r in group))
        groups[hashlib.sha256(f"digest|{keys}".encode()).hexdigest()] = group
    return groups


def _compose(session: Session, settings: Settings, key: str, rows: list[dict], caches: dict) -> Message:
    s = settings.alerts
    first = rows[0]
    lang = first["language"]
    payloads = [r["payload"] for r in rows]
    codes = sorted({p.get(k) for p in payloads for k in ("district", "subdistrict", "reserve")} - {None})
    missing = [c for c in codes if c not in caches["names"]]
    if missing:  # names are read once a round
        with session.begin():
            caches["names"].update(store.area_names(session, missing))
        caches["names"].update({c: None for c in missing if c not in caches["names"]})
    names = {c: caches["names"][c] for c in codes if caches["names"].get(c)}
    items = [render.describe(p, names, lang, s.public_url) for p in payloads]
    token = service.unsubscribe_token(first["subscription_id"], first["username"], settings.jwt_secret())
    unsubscribe = f"{s.public_url.rstrip('/')}/alerts/unsubscribe?token={token}"
    limit = LineChannel.MAX_TEXT if first["channel"] == "line" else None  # LINE takes 5,000 characters
    subject, text = render.message_text(items, lang, unsubscribe, digest=first["delivery"] == "digest", limit=limit)
    png = None
    points = [(d.lon, d.lat) for d in items if d.lon is not None and d.lat is not None][:50]
    if s.map_png and points and first["channel"] in ("email", "webhook"):
        cache_key = (tuple(codes), tuple(points))  # one detection told to many people: one drawing
        png = caches["maps"].get(cache_key)
        if png is None:
            lon, lat = points[0]
            with session.begin():
                shapes = store.map_shapes(session, codes, lon, lat, MAP_RADIUS_DEG)
            png = render.map_png(shapes, points)
            caches["maps"][cache_key] = png
    data = {
        "language": lang,
        "unsubscribe": unsubscribe,
        "alerts": [
            {**p, "title": d.title, "where": d.where, "when": d.when, "link": d.link}
            for p, d in zip(payloads, items, strict=True)
        ],
    }
    return Message(
        key=key, address=first["address"] or "", subject=subject, text=text, language=lang, png=png, data=data
    )


def send_pending(factory: sessionmaker[Session], settings: Settings, now: datetime | None = None) -> int:
    """Send every due outbox row once; returns the number of messages the channels accepted.

    ``now``: the time the run takes as now (due times, retries, the lease); default the clock."""
    s = settings.alerts
    now = now or datetime.now(UTC)
    channels = channels_for(s)
    caches: dict = {"names": {}, "maps": {}}
    try:
        # one session (one connection) for the run, a short transaction of its own for each step
        with factory() as session:
            return _rounds(session, settings, now, channels, caches)
    finally:
        for channel in channels.values():
            close = getattr(channel, "close", None)
            if close:
                close()


def _rounds(session: Session, settings: Settings, now: datetime, channels: dict, caches: dict) -> int:
    s = settings.alerts
    accepted = 0
    while True:
        with session.begin():
            rows = store.claimable(session, now, s.claim_lease_s, s.batch_size)
            by_case: dict[int, list[dict]] = defaultdict(list)
            for r in rows:
                if r["kind"] == "case_change":
                    by_case[int(r["payload"]["case_id"])].append(r)
            hidden: set[int] = set()
            for case_id, case_rows in by_case.items():  # who may see the case is decided again at send time
                hidden.update(service.withhold_unseen(session, case_id, case_rows))
            rows = [r for r in rows if r["id"] not in hidden]
            messages = _message_keys(rows)
            store.claim(session, {r["id"]: key for key, group in messages.items() for r in group}, now)
        if not messages:
            return accepted
        for key, group in sorted(messages.items(), key=lambda kv: min(r["id"] for r in kv[1])):
            channel = channels[group[0]["channel"]]
            try:
                message = _compose(session, settings, key, group, caches)
                channel.send(message)
            except ChannelError as exc:
                with session.begin():
                    status = store.mark_failed(
                        session, key, str(exc), now, 1 if exc.permanent else s.max_attempts, s.retry_base_s
                    )
                level = logging.ERROR if status == "failed" else logging.WARNING
                log.log(
                    level, "alert %s via %s to %s: %s (%s)", key[:12], channel.name, group[0]["address"], exc, status
                )
                continue
            if s.crash_after_send:  # test-only: die between "accepted" and "marked sent"
                os._exit(70)
            with session.begin():
                store.mark_sent(session, key, now)
            accepted += 1
        if len(rows) < s.batch_size:
            return accepted
