"""FIRMS area API client: CSV for a bbox, a source and a day range, within the MAP_KEY's transaction quota.

FIRMS answers ``/api/area/csv/{MAP_KEY}/{SOURCE}/{west,south,east,north}/{DAYS}/{DATE}`` with at most 10
days per request, and counts transactions per MAP_KEY over a 10-minute window
(``/mapserver/mapkey_status/?MAP_KEY=``). The client checks the quota before each request, retries
transient failures (connection errors, 429, 5xx) with exponential back-off (honouring Retry-After), and
recognises FIRMS's plain-text error answers (an invalid key is answered with 200 and a sentence, not CSV).
Only the standard library and tenacity are used.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from tenacity import RetryCallState, retry, retry_if_exception_type, stop_after_attempt

from geo_service.errors import GeoServiceError, InvalidInput

SOURCES = (
    "MODIS_NRT",
    "MODIS_SP",
    "VIIRS_SNPP_NRT",
    "VIIRS_SNPP_SP",
    "VIIRS_NOAA20_NRT",
    "VIIRS_NOAA20_SP",
    "VIIRS_NOAA21_NRT",
)
MAX_DAYS = 10


class FirmsUnavailable(GeoServiceError):
    """FIRMS could not be reached or kept failing after the retries."""

    code = "firms_unavailable"
    message = "The FIRMS service did not answer; try again later."


class FirmsRefused(GeoServiceError):
    """FIRMS refused the request (invalid MAP_KEY, quota exhausted, bad parameters)."""

    code = "firms_refused"


class _Transient(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class FirmsClient:
    """A FIRMS area-API client for one MAP_KEY."""

    map_key: str
    base_url: str = "https://firms.modaps.eosdis.nasa.gov"
    timeout_s: float = 60.0
    max_attempts: int = 5
    backoff_s: float = 2.0
    max_backoff_s: float = 120.0
    min_free_transactions: int = 5
    sleep: Callable[[float], None] = field(default=None, repr=False)  # type: ignore[assignment]
    requests_made: int = 0

    def __post_init__(self):
        if not self.map_key:
            raise InvalidInput(
                "A FIRMS MAP_KEY is needed: set GEO_SERVICE_FIRMS_MAP_KEY (or FIRMS_MAP_KEY).",
                code="firms_map_key_missing",
            )
        if self.sleep is None:
            import time

            self.sleep = time.sleep

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hinted = getattr(exc, "retry_after", None)
        backoff = min(self.max_backoff_s, self.backoff_s * 2 ** (state.attempt_number - 1))
        return max(backoff, hinted or 0.0)

    def _get(self, path: str, query: dict | None = None) -> bytes:
        url = self.base_url.rstrip("/") + path + ("?" + urllib.parse.urlencode(query) if query else "")

        @retry(
            retry=retry_if_exception_type(_Transient),
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            sleep=self.sleep,
            reraise=True,
        )
        def once() -> bytes:
            self.requests_made += 1
            try:
                with urllib.request.urlopen(url, timeout=self.timeout_s) as resp:
                    return resp.read()
            except urllib.error.HTTPError as err:
                if err.code == 429 or err.code >= 500:
                    after = err.headers.get("Retry-After") if err.headers else None
                    raise _Transient(f"HTTP {err.code}", float(after) if after and after.isdigit() else None) from err
                body = err.read()[:300].decode("utf-8", "replace").strip()
                raise FirmsRefused(f"FIRMS refused the request (HTTP {err.code}): {body}") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
                raise _Transient(str(err)) from None

        try:
            return once()
        except _Transient as exc:
            raise FirmsUnavailable(f"FIRMS did not answer after {self.max_attempts} attempts ({exc}).") from None

    def status(self) -> dict:
        """The MAP_KEY's transaction count and limit in the current window."""
        body = self._get("/mapserver/mapkey_status/", {"MAP_KEY": self.map_key})
        try:
            data = json.loads(body)
        except ValueError:
            raise FirmsRefused(f"FIRMS: {body[:200].decode('utf-8', 'replace').strip()}") from None
        if not isinstance(data, dict) or "transaction_limit" not in data:
            raise FirmsRefused(f"FIRMS did not accept the MAP_KEY: {str(data)[:200]}")
        return data

    def check_quota(self, needed: int = 1) -> dict:
        """The quota status; FirmsRefused when fewer than ``needed`` transactions (plus the margin) are left."""
        st = self.status()
        free = int(st["transaction_limit"]) - int(st.get("current_transactions") or 0)
        if free - needed < self.min_free_transactions:
            raise FirmsRefused(
                f"The MAP_KEY has {free} of {st['transaction_limit']} transactions left in this "
                f"{st.get('transaction_interval', '10 minutes')} window; wait and try again.",
                code="firms_quota",
            )
        return st

    def area_csv(self, source: str, bbox: tuple[float, float, float, float], day_range: int, start: date) -> bytes:
        """CSV of one request: ``day_range`` (1-10) days from ``start``."""
        if source not in SOURCES:
            raise InvalidInput(f"source must be one of {', '.join(SOURCES)}.", code="invalid_source")
        if not 1 <= day_range <= MAX_DAYS:
            raise InvalidInput("FIRMS serves 1 to 10 days per request.", code="invalid_day_range")
        area = ",".join(f"{v:g}" for v in bbox)
        body = self._get(
            f"/api/area/csv/{urllib.parse.quote(self.map_key)}/{source}/{area}/{day_range}/{start.isoformat()}"
        )
        head = body[:200].lstrip().lower()
        if not head.startswith((b"latitude", b"country_id", b"lat")):
            raise FirmsRefused(f"FIRMS: {body[:200].decode('utf-8', 'replace').strip()}")
        return body


def day_windows(start: date, end: date, max_days: int = MAX_DAYS) -> list[tuple[date, int]]:
    """Split [start, end] (inclusive) into requests of at most ``max_days``."""
    if end < start:
        raise InvalidInput("The end date is before the start date.", code="invalid_period")
    out = []
    day = start
    while day <= end:
        n = min(max_days, (end - day).days + 1)
        out.append((day, n))
        day += timedelta(days=n)
    return out


def fetch_area(
    client: FirmsClient, source: str, bbox: tuple[float, float, float, float], start: date, end: date, dest: Path
) -> list[Path]:
    """Download ``source`` detections in ``bbox`` for the days [start, end] into CSV files in ``dest``.

    Parameters
    ----------
    client : FirmsClient
    source : str
        One of ``SOURCES`` (e.g. ``VIIRS_SNPP_NRT``).
    bbox : tuple
        west, south, east, north (degrees).
    start, end : date
        Inclusive UTC days; split into requests of at most 10 days.
    dest : Path
        Folder for the files (one a request).

    Returns
    -------
    list of Path
        The CSV files, in date order.

    Raises
    ------
    FirmsRefused
        Invalid key, quota nearly exhausted, or a refusal by FIRMS.
    FirmsUnavailable
        FIRMS kept failing after the retries.
    """
    windows = day_windows(start, end)
    client.check_quota(len(windows))
    dest.mkdir(parents=True, exist_ok=True)
    files = []
    for day, n in windows:
        body = client.area_csv(source, bbox, n, day)
        path = dest / f"{source}_{day.isoformat()}_{n}d.csv"
        path.write_bytes(body)
        files.append(path)
    return files
