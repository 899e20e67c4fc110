"""One error model for the whole service: domain exceptions, their HTTP status, and the handlers.

A client always gets ``{"error": {"code", "message", "details"?, "request_id"}}``: a machine code and a
message a field officer can act on. Stack traces and the submitted values never reach the client; the
full exception is logged with the request id.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("geo_service")
# PostgreSQL errors that only a caller's filter can cause: an invalid regular expression. Type mismatches
# (CQL2 `satellite > 5`) are refused before any SQL by exports.query against the queryables' types, so an
# "operator does not exist" from our own SQL stays the 500 it is.
INPUT_SQLSTATES = {"2201B"}


class GeoServiceError(Exception):
    """Base of every error the service raises on purpose."""

    code = "error"
    message = "The request could not be completed."

    def __init__(
        self, message: str | None = None, *, details: list[dict[str, Any]] | None = None, code: str | None = None
    ):
        self.message = message or self.message
        self.details = details or []
        if code:
            self.code = code
        super().__init__(self.message)


class InvalidInput(GeoServiceError):
    """Values that are not valid (422)."""

    code = "invalid_input"
    message = "Some of the values sent are not valid."


class LayerRejected(InvalidInput):
    """A layer file refused; nothing stored (422)."""

    code = "layer_rejected"
    message = "The layer file was refused; nothing was stored."


class NotFound(GeoServiceError):
    """Nothing at this address (404)."""

    code = "not_found"
    message = "Nothing was found at this address."


class Conflict(GeoServiceError):
    """The change conflicts with the stored state (409)."""

    code = "conflict"


class PreconditionFailed(GeoServiceError):
    """Optimistic locking: the version the client edited is no longer the current one."""

    code = "version_mismatch"
    message = "Someone else changed this since you loaded it; reload, check, and save again."


class PreconditionRequired(GeoServiceError):
    """An edit without the version it edits (428)."""

    code = "version_required"
    message = "Send the version you are editing in an If-Match header (from the ETag of the last read)."


class Unauthorized(GeoServiceError):
    """No valid sign-in (401)."""

    code = "unauthorized"
    message = "Sign in first: this needs a valid token."


class Forbidden(GeoServiceError):
    """The caller's role may not do this (403)."""

    code = "forbidden"
    message = "Your role may not do this."


class PayloadTooLarge(GeoServiceError):
    """An upload larger than allowed (413)."""

    code = "payload_too_large"
    message = "The file is larger than this service accepts."


class TooManyRequests(GeoServiceError):
    """A limit on how many requests may come from one address or for one receipt (429); ``retry_after``
    seconds until the window ends (the Retry-After header)."""

    code = "too_many_requests"
    message = "Too many requests; wait a while and try again."

    def __init__(self, message: str | None = None, *, retry_after: int = 60, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = max(1, int(retry_after))


class KeyUnavailable(GeoServiceError):
    """A key the deployment must configure (the citizen reports' sealing key) is missing or unreadable (503)."""

    code = "sealing_key_unavailable"
    message = "The investigators' key is not available on this server; ask the administrator."


class DatabaseUnavailable(GeoServiceError):
    """The database cannot be reached (503)."""

    code = "database_unavailable"
    message = "The database is not reachable right now. Try again in a minute."


class LocalDatabaseError(GeoServiceError):
    """The embedded PostgreSQL could not be initialised, started or stopped (CLI, not HTTP)."""

    code = "local_database"


# One table from exception class to HTTP status; the most specific class wins.
STATUS_CODES: dict[type[Exception], int] = {
    LayerRejected: 422,
    InvalidInput: 400,
    NotFound: 404,
    Conflict: 409,
    PreconditionFailed: 412,
    PreconditionRequired: 428,
    Unauthorized: 401,
    Forbidden: 403,
    PayloadTooLarge: 413,
    TooManyRequests: 429,
    KeyUnavailable: 503,
    DatabaseUnavailable: 503,
    LocalDatabaseError: 503,
    GeoServiceError: 500,
}


def status_for(exc: Exception) -> int:
    """The HTTP status of an exception (500 for anything unknown)."""
    for cls in type(exc).__mro__:
        if cls in STATUS_CODES:
            return STATUS_CODES[cls]
    return 500


def _request_id(request: Request) -> str:
    return getattr(request.state, "request_id", None) or uuid.uuid4().hex[:16]


def error_response(
    request: Request, status: int, code: str, message: str, details: list | None = None, headers: dict | None = None
) -> JSONResponse:
    """The service's JSON error body with its request id."""
    body: dict[str, Any] = {"code": code, "message": message, "request_id": _request_id(request)}
    if details:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _describe_validation(errors: list[dict]) -> list[dict[str, str]]:
    """Where and what, never the submitted value (it may be huge, binary, NaN or confidential)."""
    out = []
    for err in errors[:50]:
        loc = [str(p) for p in err.get("loc", ())]
        out.append({"field": ".".join(loc), "problem": str(err.get("msg", "invalid value"))})
    return out


def add_exception_handlers(app: FastAPI) -> None:
    """Answer every error with the service's JSON error body and status."""
    from sqlalchemy.exc import DataError, DBAPIError, OperationalError, ProgrammingError

    @app.exception_handler(GeoServiceError)
    async def _domain(request: Request, exc: GeoServiceError):
        status = status_for(exc)
        if status == 401 and request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            # A person opening a page in a browser goes to the sign-in page, and comes back after it.
            from urllib.parse import quote

            from fastapi.responses import RedirectResponse

            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/signin?next={quote(target, safe='')}", status_code=303)
        if status >= 500:
            log.error("request %s failed: %s", _request_id(request), exc, exc_info=exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, TooManyRequests):
            headers = {"Retry-After": str(exc.retry_after)}
        return error_response(request, status, exc.code, exc.message, exc.details, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        return error_response(
            request,
            422,
            "validation_error",
            "Some fields are missing or not valid.",
            _describe_validation(list(exc.errors())),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        messages = {404: "Nothing was found at this address.", 405: "This method is not allowed here."}
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = messages.get(exc.status_code) or (exc.detail if isinstance(exc.detail, str) else "Request refused.")
        return error_response(request, exc.status_code, code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(OperationalError)
    async def _db_down(request: Request, exc: OperationalError):
        log.error("request %s: database error: %s", _request_id(request), exc)
        return error_response(request, 503, DatabaseUnavailable.code, DatabaseUnavailable.message)

    @app.exception_handler(DataError)
    async def _bad_value(request: Request, exc: DataError):
        # SQLSTATE class 22 (and psycopg's refusal of NUL in text): the value a caller sent cannot be what
        # it claims (text with a NUL character, a number or date out of range, text too long, a division by
        # zero in a filter). The backstop behind the edge checks: such input is a 400, never a 500.
        log.info("request %s: refused value: %s", _request_id(request), getattr(exc.orig, "sqlstate", None) or "NUL")
        return error_response(
            request,
            400,
            "invalid_value",
            "A value in the request is not valid for its field "
            "(a NUL character, a number or date out of range, text too long, or a division "
            "by zero).",
        )

    @app.exception_handler(ProgrammingError)
    async def _bad_types(request: Request, exc: ProgrammingError):
        if getattr(exc.orig, "sqlstate", None) in INPUT_SQLSTATES:
            # A filter comparing a property with a value of another type (CQL2 `satellite > 5`).
            log.info("request %s: refused filter types: %s", _request_id(request), getattr(exc.orig, "sqlstate", None))
            return error_response(
                request,
                400,
                "invalid_filter",
                "The filter compares a property with a value "
                "of another type (text with a number, a date with text, ...).",
            )
        log.error("request %s: database error", _request_id(request), exc_info=exc)
        return error_response(request, 500, "internal_error", "Something went wrong on our side; it has been logged.")

    @app.exception_handler(DBAPIError)
    async def _db(request: Request, exc: DBAPIError):
        log.error("request %s: database error", _request_id(request), exc_info=exc)
        return error_response(request, 500, "internal_error", "Something went wrong on our side; it has been logged.")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.error("request %s: unexpected error", _request_id(request), exc_info=exc)
        return error_response(request, 500, "internal_error", "Something went wrong on our side; it has been logged.")
