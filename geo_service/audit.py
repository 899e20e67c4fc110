"""The audit trail: who did what, when, before and after; append-only and hash-chained.

Entries are written with ``record`` in the same transaction as the change they describe, so a change
and its entry commit or roll back together. The database assigns the id and time and chains each entry
to the previous one (SHA-256 over the previous hash and a canonical JSON of the entry, built by
PostgreSQL itself); it refuses UPDATE, DELETE and TRUNCATE on the table. ``verify`` recomputes the
chain and reports every entry that was edited, deleted or inserted out of order.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

GENESIS = "0" * 64


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    return json.loads(json.dumps(value, default=_default, ensure_ascii=False))


def _default(o):
    if isinstance(o, (datetime, date)):
        return o.isoformat()
    if hasattr(o, "value"):
        return o.value
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    if isinstance(o, bytes):
        return {"sha256": hashlib.sha256(o).hexdigest(), "bytes": len(o)}
    return str(o)


def record(session: Session, actor: str, action: str, entity_type: str, entity_id: Any = None,
           before: Any = None, after: Any = None) -> None:
    """Append an entry in the caller's transaction."""
    session.execute(text(
        "INSERT INTO audit_log (actor, action, entity_type, entity_id, before, after, prev_hash, hash) "
        "VALUES (:actor, :action, :etype, :eid, CAST(:before AS jsonb), CAST(:after AS jsonb), '', '')"),
        {"actor": actor, "action": action, "etype": entity_type,
         "eid": None if entity_id is None else str(entity_id),
         "before": None if before is None else json.dumps(_jsonable(before), ensure_ascii=False),
         "after": None if after is None else json.dumps(_jsonable(after), ensure_ascii=False)})


@dataclass
class Verification:
    entries: int
    head: str
    problems: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(session: Session, batch: int = 5000) -> Verification:
    """Recompute the hash chain over the whole log (streamed in batches)."""
    prev_hash, prev_id, count = GENESIS, 0, 0
    problems: list[dict] = []
    last_id = 0
    while True:
        rows = session.execute(text(
            "SELECT a.id, a.prev_hash, a.hash, audit_payload(a) AS payload FROM audit_log a "
            "WHERE a.id > :after ORDER BY a.id LIMIT :n"), {"after": last_id, "n": batch}).all()
        if not rows:
            break
        for r in rows:
            count += 1
            if r.id != prev_id + 1:
                problems.append({"id": r.id, "problem": f"entries {prev_id + 1}..{r.id - 1} are missing"})
            if r.prev_hash != prev_hash:
                problems.append({"id": r.id, "problem": "does not follow the previous entry (an entry before it "
                                                         "was deleted or changed)"})
            expected = hashlib.sha256(f"{r.prev_hash}|{r.payload}".encode()).hexdigest()
            if expected != r.hash:
                problems.append({"id": r.id, "problem": "its content was changed after it was written"})
            prev_hash, prev_id = r.hash, r.id
        last_id = rows[-1].id
    return Verification(entries=count, head=prev_hash, problems=problems)


def head(session: Session) -> str:
    """The hash of the latest entry (what a brief or an outside record anchors to), without re-verifying."""
    return session.execute(text("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")).scalar() or GENESIS


def entries_for(session: Session, entity_type: str, entity_id: Any) -> list[dict]:
    rows = session.execute(text(
        "SELECT id, at, actor, action, before, after FROM audit_log WHERE entity_type = :t AND entity_id = :i "
        "ORDER BY id"), {"t": entity_type, "i": str(entity_id)}).mappings().all()
    return [dict(r) for r in rows]
