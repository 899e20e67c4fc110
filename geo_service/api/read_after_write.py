"""Read-your-writes across a replica: a write's response carries the primary's WAL position; a later read
sends it back and is served by the replica only once the replica has replayed that far (db.read_routing).

Plain ASGI middleware (like ``main.RequestId``, so a streamed body is never completed on failure). It also says in
``X-Read-From`` which database a read-only route read (``primary`` or ``replica``). Without a replica configured it
adds nothing.
"""

from __future__ import annotations

import logging

from anyio import to_thread
from sqlalchemy.exc import DBAPIError
from starlette.datastructures import MutableHeaders

from geo_service.db.read_routing import format_lsn

WRITE_LSN_HEADER = "X-Write-LSN"
WRITE_LSN_COOKIE = "geo_write_lsn"
READ_FROM_HEADER = "X-Read-From"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
log = logging.getLogger("geo_service")


class ReadAfterWrite:
    """Mark each successful write with the primary's WAL position (header and cookie), and each routed read with
    the database it read."""

    def __init__(self, app, router, cookie_seconds: int) -> None:
        self.app = app
        self.router = router
        self.cookie_seconds = cookie_seconds

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self.router.configured:
            return await self.app(scope, receive, send)
        writes = scope["method"] not in SAFE_METHODS

        async def send_marked(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                source = scope.get("state", {}).get("read_from")
                if source:
                    headers[READ_FROM_HEADER] = source
                if writes and message["status"] < 400:
                    # the route's transaction has committed: the position now is at or after its commit record
                    try:
                        lsn = format_lsn(await to_thread.run_sync(self.router.primary_lsn))
                    except DBAPIError as exc:  # the write is done; without a position the next reads may lag
                        log.warning("write position not read: %s", type(exc.orig).__name__)
                    else:
                        headers[WRITE_LSN_HEADER] = lsn
                        headers.append(
                            "set-cookie",
                            f"{WRITE_LSN_COOKIE}={lsn}; Max-Age={self.cookie_seconds}; Path=/; HttpOnly; SameSite=Lax",
                        )
            await send(message)

        await self.app(scope, receive, send_marked)
