"""Read routing: heavy read-only requests on a streaming replica when it is close enough, else the primary.

A route declares that it only reads (``api.deps.ReadSessionDep``); everything else, and every write, stays on
the primary. For a read the router picks the replica only when all of these hold:

* a replica is configured (``GEO_SERVICE_REPLICA_URL``) and answered the last look at it;
* it is a hot standby (``pg_is_in_recovery()``), not a promoted or misconfigured server;
* it is not further behind than ``GEO_SERVICE_REPLICA_MAX_LAG_S``: the lag is 0 when it has replayed the WAL
  the primary had written just before the look (an idle primary writes nothing, and then
  ``now() - pg_last_xact_replay_timestamp()`` would grow without the replica being behind at all), else
  ``now() - pg_last_xact_replay_timestamp()``, an upper bound of how old its newest data can be;
* it has replayed the caller's own last write: a write's response carries the primary's WAL position (header
  ``X-Write-LSN`` and cookie ``geo_write_lsn``), and a request sending it back reads on the replica only
  once ``pg_last_wal_replay_lsn()`` has reached it (read-your-writes).

One look (a query on each server) is used for ``GEO_SERVICE_REPLICA_CHECK_S`` (default 1 s). Before a request is
sent to the replica a connection is checked out (the pool pings it), so a replica that stopped since the last look
is found before the route runs. A replica that does not answer is logged once and left alone for
``GEO_SERVICE_REPLICA_RETRY_S``; reads meanwhile go to the primary (no 5xx). Replica positions only grow, so a
cached position can only make the router more careful. What remains: a replica that dies between that check and
the route's query fails that one request (a 503, as a primary outage does).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from geo_service.settings import SESSION_KEY, Settings

log = logging.getLogger("geo_service")

PRIMARY = "primary"
REPLICA = "replica"
_LSN = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")


def parse_lsn(value: str | None) -> int | None:
    """A PostgreSQL WAL position (``16/B374D848``) as an integer, None when absent or not one."""
    m = _LSN.match(value.strip()) if value else None
    return (int(m.group(1), 16) << 32) + int(m.group(2), 16) if m else None


def format_lsn(value: int) -> str:
    """An integer WAL position in PostgreSQL's notation (``16/B374D848``)."""
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


@dataclass(frozen=True)
class ReplicaStatus:
    """One look at the replica: whether it answered, how far it has replayed and how far behind it is."""

    reachable: bool
    replay_lsn: int | None = None
    lag_s: float | None = None  # None: unknown (not a standby, or nothing replayed since it started)
    problem: str | None = None
    checked_at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class ReadChoice:
    """Where one request reads: ``source`` is ``primary`` or ``replica``, ``reason`` says why."""

    source: str
    reason: str
    engine: Engine
    sessionmaker: sessionmaker[Session]


class ReadRouter:
    """Chooses the database a read-only request runs on (see the module's description).

    Parameters
    ----------
    primary, replica : engines of the primary and of the streaming replica (None: no routing).
    max_lag_s : reads go to the primary while the replica is further behind than this.
    check_s : how long one look at the replica is used.
    retry_s : how long an unreachable replica is left alone.
    settings : the application's settings, carried by every read session (``settings.settings_of``).
    """

    def __init__(
        self,
        primary: Engine,
        replica: Engine | None = None,
        *,
        max_lag_s: float = 30.0,
        check_s: float = 1.0,
        retry_s: float = 5.0,
        settings: Settings | None = None,
    ) -> None:
        self.primary = primary
        self.replica = replica
        self.max_lag_s = max_lag_s
        self.check_s = check_s
        self.retry_s = retry_s
        # read-only transactions (BEGIN READ ONLY): a route declared as a reader that writes fails at once, also
        # without a replica, instead of only in a deployment that has one
        self._primary_ro = primary.execution_options(postgresql_readonly=True)
        info = {SESSION_KEY: settings} if settings is not None else {}  # as db.engine.make_sessionmaker puts them
        self._primary_reads = sessionmaker(self._primary_ro, expire_on_commit=False, info=info)
        # a hot standby is read-only by itself; asking for it per transaction would leave its pooled connections
        # asking for READ WRITE afterwards (SQLAlchemy's reset), which a standby refuses
        self._replica_ro = replica
        self._replica_reads = (
            sessionmaker(self._replica_ro, expire_on_commit=False, info=info) if self._replica_ro is not None else None
        )
        self._status: ReplicaStatus | None = None
        self._lock = threading.Lock()

    @property
    def configured(self) -> bool:
        """Whether a replica is configured."""
        return self.replica is not None

    # -- the primary's position ------------------------------------------------------------------------------
    def primary_lsn(self) -> int:
        """The primary's WAL insert position now: at or after the commit of every transaction already ended."""
        with self.primary.connect() as conn:
            return parse_lsn(conn.execute(text("SELECT pg_current_wal_insert_lsn()::text")).scalar_one()) or 0

    # -- looking at the replica --------------------------------------------------------------------------------
    def _look(self) -> ReplicaStatus:
        assert self.replica is not None
        try:
            with self.primary.connect() as conn:
                primary_at = parse_lsn(conn.execute(text("SELECT pg_current_wal_lsn()::text")).scalar_one()) or 0
        except DBAPIError as exc:  # without the primary's position the lag is unknown (and its reads fail anyway)
            return ReplicaStatus(True, problem=f"primary's position not read ({type(exc.orig).__name__})")
        try:
            with self.replica.connect() as conn:
                row = conn.execute(
                    text(
                        "SELECT pg_is_in_recovery() AS standby, pg_last_wal_replay_lsn()::text AS replayed, "
                        "extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS since_last"
                    )
                ).one()
        except OperationalError as exc:  # refused, timed out, shut down: the server is not there
            return ReplicaStatus(False, problem=f"replica not reachable ({type(exc.orig).__name__})")
        except DBAPIError as exc:  # it answered, but not as a standby of this primary answers
            first = str(exc.orig).strip().splitlines()[0][:200] if str(exc.orig).strip() else type(exc.orig).__name__
            return ReplicaStatus(False, problem=f"replica check failed: {first}")
        if not row.standby:
            return ReplicaStatus(True, problem="the replica is not a standby (promoted or misconfigured)")
        replayed = parse_lsn(row.replayed)
        if replayed is not None and replayed >= primary_at:
            return ReplicaStatus(True, replayed, 0.0)
        lag = max(0.0, row.since_last) if row.since_last is not None else None
        return ReplicaStatus(True, replayed, lag)

    def status(self) -> ReplicaStatus | None:
        """The latest look at the replica (a new one when the last is older than ``check_s``, or ``retry_s`` after
        a failure); None without a replica."""
        if self.replica is None:
            return None
        with self._lock:
            last = self._status
            now = time.monotonic()
            if last is not None:
                wait = self.check_s if last.reachable else self.retry_s
                if now - last.checked_at < wait:
                    return last
            current = self._look()
            if not current.reachable and (last is None or last.reachable):
                log.warning("read replica: %s; reading from the primary for now", current.problem)
            elif current.reachable and last is not None and not last.reachable:
                log.info("read replica answers again")
            self._status = current
            return current

    def forget(self) -> None:
        """Drop the cached look (the next read looks again)."""
        with self._lock:
            self._status = None

    # -- choosing ---------------------------------------------------------------------------------------------
    def choose(self, after_lsn: int | None = None, *, unreadable_lsn: bool = False) -> ReadChoice:
        """Where a read-only request runs. ``after_lsn``: the caller's last write (the replica must have replayed
        it); ``unreadable_lsn``: the caller sent a position that is not one (read the primary, to be safe)."""
        status = self.status()
        if status is None:
            return self._on_primary("no replica configured")
        if not status.reachable or status.problem:
            return self._on_primary(status.problem or "replica not reachable")
        if status.lag_s is None or status.lag_s > self.max_lag_s:
            lag = "unknown" if status.lag_s is None else f"{status.lag_s:.1f} s"
            return self._on_primary(f"replica lag {lag} over {self.max_lag_s:g} s")
        if unreadable_lsn:
            return self._on_primary("unreadable write position")
        if after_lsn is not None and (status.replay_lsn is None or status.replay_lsn < after_lsn):
            return self._on_primary("replica has not replayed your last write yet")
        assert self._replica_ro is not None and self._replica_reads is not None
        problem = self._probe()
        if problem:
            return self._on_primary(problem)
        return ReadChoice(REPLICA, "replica in step", self._replica_ro, self._replica_reads)

    def _probe(self) -> str | None:
        """Check out a replica connection (the pool pings it) before the request is sent there: a replica that
        stopped since the last look is found here, and this request and the next ones read the primary."""
        assert self.replica is not None
        try:
            with self.replica.connect():
                return None
        except OperationalError as exc:
            down = ReplicaStatus(False, problem=f"replica not reachable ({type(exc.orig).__name__})")
        with self._lock:
            if self._status is None or self._status.reachable:
                log.warning("read replica: %s; reading from the primary for now", down.problem)
            self._status = down
        return down.problem

    def _on_primary(self, reason: str) -> ReadChoice:
        return ReadChoice(PRIMARY, reason, self._primary_ro, self._primary_reads)

    def dispose(self) -> None:
        """Close the replica's connections (the primary's engine belongs to the application)."""
        if self.replica is not None:
            self.replica.dispose()
