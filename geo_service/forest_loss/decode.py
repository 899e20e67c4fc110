"""Decoders of published forest-loss alert encodings into (day, confidence) arrays, vectorised with numpy.

GFW integrated deforestation alerts (``gfw_integrated``): one integer per pixel, ``C * 10000 + D`` where the
leading digit ``C`` is the confidence (2 = low, 3 = high, 4 = highest, when several systems agree) and ``D``
(1..9999) the alert date in days since 2014-12-31; 0 = no alert. ``30055`` = high confidence, 2015-02-24.

Decisions (tested in tests/test_forest_loss_kernels.py):
- any other value (leading digit 1 or 5-9, day 0, a negative or 6-digit number) is *invalid*. By default the whole
  array is refused with :class:`AlertEncodingError` that counts the bad pixels and quotes a few values, so a file in
  another encoding is never half-read as alerts. ``on_invalid="mask"`` instead treats them as "no alert" and
  reports how many there were (``Alerts.invalid``): for a file known to carry stray values.
- the raster's declared nodata value is "no alert", whatever its digits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from typing import Literal

import numpy as np

from geo_service.errors import InvalidInput

EPOCH = date(2014, 12, 31)  # day 0 of the GFW integrated alerts; day 1 = 2015-01-01
NO_ALERT = 0
LOW, HIGH, HIGHEST = 2, 3, 4  # the leading digit, kept as the confidence code
CONFIDENCE_CODES = (LOW, HIGH, HIGHEST)
CONFIDENCE_LABELS = {
    LOW: ("low", "ต่ำ"),
    HIGH: ("high", "สูง"),
    HIGHEST: ("highest", "สูงสุด (หลายระบบตรงกัน)"),
}
MAX_DAY = 9_999  # four digits after the leading one


class AlertEncodingError(InvalidInput):
    """The raster's values are not the encoding it was declared in (422); nothing was read as alerts."""

    code = "alert_encoding"
    message = "The alert raster's values do not follow its declared encoding."

    def __reduce__(self):
        """Pickle with the details, so the error raised in a Dask worker reaches the caller whole."""
        return (partial(type(self), details=self.details), (self.message,))


@dataclass(frozen=True)
class Alerts:
    """Decoded alerts, same shape as the input.

    ``days``: int32 days since 2014-12-31 (0 where no alert); ``confidence``: uint8 2/3/4 (0 where no alert);
    ``invalid``: how many pixels were masked as invalid (always 0 with ``on_invalid="raise"``).
    """

    days: np.ndarray
    confidence: np.ndarray
    invalid: int = 0

    @property
    def mask(self) -> np.ndarray:
        """True where a pixel carries an alert."""
        return self.confidence > 0


def encode_gfw_integrated(days: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """The inverse of :func:`decode_gfw_integrated` (int32; 0 where ``confidence`` is 0): for generated tests."""
    days = np.asarray(days, dtype=np.int32)
    confidence = np.asarray(confidence, dtype=np.int32)
    return np.where(confidence > 0, confidence * 10_000 + days, 0).astype(np.int32)


def decode_gfw_integrated(
    values: np.ndarray, *, nodata: float | None = None, on_invalid: Literal["raise", "mask"] = "raise"
) -> Alerts:
    """Decode GFW integrated alert values (any integer dtype, any shape) into days and confidence.

    Raises
    ------
    AlertEncodingError
        a float array, or (with ``on_invalid="raise"``) any value that is neither 0, nodata nor C*10000+D with
        C in 2..4 and D in 1..9999.
    """
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.integer):
        raise AlertEncodingError(
            f"GFW integrated alerts are integers; this raster holds {values.dtype} values.",
            details=[{"problem": "not_integer", "dtype": str(values.dtype)}],
        )
    # alerts are sparse: find the non-zero pixels once, decode only those (the rest stays 0 = no alert)
    flat = np.flatnonzero(values)
    v = values.ravel()[flat].astype(np.int64)
    if nodata is not None and float(nodata).is_integer() and int(nodata) != NO_ALERT:
        not_nodata = v != int(nodata)
        flat, v = flat[not_nodata], v[not_nodata]
    lead = v // 10_000
    day = v - lead * 10_000
    good = (lead >= LOW) & (lead <= HIGHEST) & (day >= 1)
    n_bad = int(good.size - np.count_nonzero(good))
    if n_bad and on_invalid == "raise":
        bad = ~good
        where = [int(x) for x in np.unravel_index(flat[bad][0], values.shape)]
        examples = sorted({int(x) for x in v[bad][:1000]})[:5]
        raise AlertEncodingError(
            f"{n_bad:,} pixel(s) are not GFW integrated alert values (first at row/col {where}; e.g. {examples}). "
            "A value is 0 (no alert) or a confidence digit 2, 3 or 4 followed by four digits of days since "
            "2014-12-31. Check the file's encoding.",
            details=[{"problem": "invalid_values", "count": n_bad, "first": where, "examples": examples}],
        )
    if n_bad:
        flat, lead, day = flat[good], lead[good], day[good]
    days = np.zeros(values.shape, dtype=np.int32)
    confidence = np.zeros(values.shape, dtype=np.uint8)
    days.ravel()[flat] = day
    confidence.ravel()[flat] = lead
    return Alerts(days=days, confidence=confidence, invalid=n_bad)


def day_to_date(day: int) -> date:
    """The calendar date of a GFW day number (days since 2014-12-31)."""
    return EPOCH + timedelta(days=int(day))


def days_to_datetime64(days: np.ndarray) -> np.ndarray:
    """Days since 2014-12-31 as numpy ``datetime64[D]`` (NaT where 0 = no alert)."""
    days = np.asarray(days)
    out = np.datetime64(EPOCH, "D") + days.astype("timedelta64[D]")
    return np.where(days > 0, out, np.datetime64("NaT"))


DECODERS = {"gfw_integrated": decode_gfw_integrated}
