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

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from typing import Any, Literal

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
    values: np.ndarray,
    *,
    nodata: float | None = None,
    on_invalid: Literal["raise", "mask"] = "raise",
    **_: object,
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


# ---------------------------------------------------------------------------------------------------------------
# the other published encodings (issue 14): each decodes to the same Alerts (days since 2014-12-31, confidence
# 2 low / 3 high / 4 highest), so the patch kernels, the merge and the store see one form. Multi-layer encodings
# get their layers stacked (layers, rows, cols) by the source (forest_loss/sources.py: LayeredSource), and their
# nodata values as a tuple, one per layer. Definitions and where they come from: forest_loss/sources.py.

DIST_EPOCH = date(2020, 12, 31)  # OPERA DIST-ALERT VEG-DIST-DATE: days since 2020-12-31
DIST_OFFSET = (DIST_EPOCH - EPOCH).days


def _refuse(encoding: str, what: str, count: int, examples, hint: str) -> AlertEncodingError:
    return AlertEncodingError(
        f"{count:,} pixel(s) are not {encoding} values ({what}; e.g. {examples}). {hint}",
        details=[{"problem": "invalid_values", "encoding": encoding, "count": count, "examples": examples}],
    )


def _layers(values: np.ndarray, n: int, encoding: str) -> list[np.ndarray]:
    values = np.asarray(values)
    if values.ndim != 3 or values.shape[0] != n:
        raise AlertEncodingError(
            f"The {encoding} encoding has {n} layers; {values.shape[0] if values.ndim == 3 else 1} were given.",
            details=[{"problem": "layers", "expected": n}],
        )
    return [values[k] for k in range(n)]


def _nodatas(nodata, n: int) -> list[float | None]:
    if isinstance(nodata, tuple | list):
        return list(nodata) + [None] * (n - len(nodata))
    return [nodata] + [None] * (n - 1)


def _ints(layer: np.ndarray, encoding: str, name: str) -> None:
    if not np.issubdtype(layer.dtype, np.integer):
        raise AlertEncodingError(
            f"The {encoding} {name} layer holds integers; this one holds {layer.dtype} values.",
            details=[{"problem": "not_integer", "layer": name, "dtype": str(layer.dtype)}],
        )


def _year_start_days(years: np.ndarray) -> np.ndarray:
    """Days since 2014-12-31 of 1 January of each (full) year, vectorised with datetime64."""
    first = (np.asarray(years, dtype=np.int64) - 1970).astype("datetime64[Y]").astype("datetime64[D]")
    return (first - np.datetime64(EPOCH, "D")).astype(np.int64)


def _result(shape, where: Any, day: np.ndarray, conf: np.ndarray, invalid: int = 0) -> Alerts:
    days = np.zeros(shape, dtype=np.int32)
    confidence = np.zeros(shape, dtype=np.uint8)
    days[where] = day
    confidence[where] = conf
    return Alerts(days=days, confidence=confidence, invalid=invalid)


def decode_gfw_date_conf(
    values: np.ndarray,
    *,
    nodata: float | None = None,
    on_invalid: Literal["raise", "mask"] = "raise",
    encoding: str = "gfw_date_conf",
    **_: object,
) -> Alerts:
    """GLAD-L, GLAD-S2 or RADD as the GFW data API serves them (``date_conf``): ``C * 10000 + D``, C = 2 low /
    3 high, D = days since 2014-12-31; 0 = no alert. The integrated layer's 4 ("highest", several systems agree)
    cannot occur in one system's layer and is refused."""
    alerts = decode_gfw_integrated(values, nodata=nodata, on_invalid=on_invalid)
    four = alerts.confidence == HIGHEST
    n = int(np.count_nonzero(four))
    if n and on_invalid == "raise":
        raise _refuse(
            encoding,
            "confidence digit 4 belongs to the integrated layer only",
            n,
            sorted({int(v) for v in np.asarray(values)[four][:1000]})[:5],
            "A single system's alert is 2xxxx (low) or 3xxxx (high); use gfw_integrated for the integrated layer.",
        )
    if n:
        days, conf = alerts.days.copy(), alerts.confidence.copy()
        days[four], conf[four] = 0, 0
        return Alerts(days=days, confidence=conf, invalid=alerts.invalid + n)
    return alerts


def _class_and_value(
    values: np.ndarray, nodata, encoding: str, names: tuple[str, str]
) -> tuple[tuple[int, ...], np.ndarray, np.ndarray, np.ndarray]:
    """The two-layer encodings (a class layer, 0 = no alert, and a date layer): the raster's shape, the mask of
    alert pixels (neither 0 nor the class layer's nodata), and the class and date values of those pixels."""
    klass, value = _layers(values, 2, encoding)
    _ints(klass, encoding, names[0])
    _ints(value, encoding, names[1])
    nd = _nodatas(nodata, 2)
    where = klass != 0
    if nd[0] is not None:
        where &= klass != nd[0]
    return klass.shape, where, klass[where].astype(np.int64), value[where].astype(np.int64)


def _count_bad(
    good: np.ndarray, c: np.ndarray, v: np.ndarray, on_invalid: str, encoding: str, problem: str, hint: str
) -> int:
    """How many alert pixels hold a (class, date) pair the encoding does not define; refuses the file with the
    first five such pairs unless ``on_invalid`` is ``mask``."""
    bad = int(good.size - np.count_nonzero(good))
    if bad and on_invalid == "raise":
        pairs = sorted({(int(a), int(b)) for a, b in zip(c[~good][:1000], v[~good][:1000], strict=True)})[:5]
        raise _refuse(encoding, problem, bad, pairs, hint)
    return bad


def decode_glad_l_umd(
    values: np.ndarray,
    *,
    nodata=None,
    on_invalid: Literal["raise", "mask"] = "raise",
    year: int | None = None,
    **_: object,
) -> Alerts:
    """GLAD-L as UMD publishes it, per year: layer 1 ``confYY`` (0 none, 2 probable = low, 3 confirmed = high),
    layer 2 ``alertDateYY`` (day of the year 1..366); ``year`` (e.g. 2024) is required."""
    if year is None:
        raise AlertEncodingError(
            "GLAD-L (UMD) rasters are per year: state the year of the conf/alertDate layers.",
            details=[{"problem": "year_required"}],
        )
    shape, where, c, d = _class_and_value(values, nodata, "glad_l_umd", ("conf", "alertDate"))
    days_in_year = 366 if (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)) else 365
    good = ((c == 2) | (c == 3)) & (d >= 1) & (d <= days_in_year)
    bad = _count_bad(
        good, c, d, on_invalid, "glad_l_umd", "conf must be 2 or 3 and alertDate a day of the year",
        "Check that layer 1 is confYY and layer 2 alertDateYY of the stated year.",
    )  # fmt: skip
    idx = np.flatnonzero(where.ravel())[good]
    day = _year_start_days(np.full(idx.size, year)) + d[good] - 1
    return _result(shape, np.unravel_index(idx, shape), day, c[good], bad)


def decode_radd_wur(
    values: np.ndarray, *, nodata=None, on_invalid: Literal["raise", "mask"] = "raise", **_: object
) -> Alerts:
    """RADD as WUR publishes it (Earth Engine ``WUR/radd_alerts``): layer 1 ``Alert`` (2 low, 3 high; 0 none),
    layer 2 ``Date`` as YYDOY (21001 = 2021-01-01)."""
    shape, where, c, v = _class_and_value(values, nodata, "radd_wur", ("Alert", "Date"))
    yy, doy = np.divmod(v, 1000)
    good = ((c == 2) | (c == 3)) & (yy >= 15) & (yy <= 99) & (doy >= 1) & (doy <= 366)
    leap = ((2000 + yy) % 4 == 0) & (((2000 + yy) % 100 != 0) | ((2000 + yy) % 400 == 0))
    good &= doy <= np.where(leap, 366, 365)
    bad = _count_bad(
        good, c, v, on_invalid, "radd_wur", "Alert must be 2 or 3 and Date YYDOY (e.g. 21001)",
        "Check that layer 1 is Alert and layer 2 Date.",
    )  # fmt: skip
    idx = np.flatnonzero(where.ravel())[good]
    day = _year_start_days(2000 + yy[good]) + doy[good] - 1
    return _result(shape, np.unravel_index(idx, shape), day, c[good], bad)


GLAD_S2_EPOCH = date(2018, 12, 31)  # UMD's GLAD-S2 alertDate: days since 2018-12-31 (GFW adds 1461 days)
GLAD_S2_OFFSET = (GLAD_S2_EPOCH - EPOCH).days  # 1461
GLAD_S2_MAX_LEVEL = 4


def decode_glad_s2_umd(
    values: np.ndarray, *, nodata=None, on_invalid: Literal["raise", "mask"] = "raise", **_: object
) -> Alerts:
    """GLAD-S2 as UMD publishes it (``S2alert/alert`` and ``S2alert/alertDate``): layer 1 ``alert`` (0 none,
    1 low confidence, 2..4 repeated observations = high), layer 2 ``alertDate`` (days since 2018-12-31, day 1 =
    2019-01-01). The mapping is the one GFW applies when it turns UMD's tiles into ``umd_glad_sentinel2_alerts``
    (wri/gfw-datapump, ``GLADS2AlertsSync``: ``20000 + 10000 * (alert > 1) + alertDate + 1461``)."""
    shape, where, c, d = _class_and_value(values, nodata, "glad_s2_umd", ("alert", "alertDate"))
    good = (c >= 1) & (c <= GLAD_S2_MAX_LEVEL) & (d >= 1) & (d <= MAX_DAY - GLAD_S2_OFFSET)
    bad = _count_bad(
        good, c, d, on_invalid, "glad_s2_umd",
        "alert must be 1..4 and alertDate a day count of 1 or more since 2018-12-31",
        "Check that layer 1 is alert and layer 2 alertDate (GLAD-S2 as UMD publishes it).",
    )  # fmt: skip
    idx = np.flatnonzero(where.ravel())[good]
    conf = np.where(c[good] > 1, HIGH, LOW)
    return _result(shape, np.unravel_index(idx, shape), d[good] + GLAD_S2_OFFSET, conf, bad)


# OPERA DIST-ALERT VEG-DIST-STATUS (v1): 1/4 first detection, 2/5 provisional, 3/6 confirmed (ongoing), 7/8
# confirmed and finished; 1-3 and 7 below 50 % vegetation cover loss, 4-6 and 8 at least 50 %. Mapped onto the
# service's classes: first detection and provisional = low, confirmed = high.
DIST_STATUS_CONFIDENCE = np.array([0, LOW, LOW, HIGH, LOW, LOW, HIGH, HIGH, HIGH], dtype=np.uint8)
DIST_NODATA = 255


def decode_dist_alert(
    values: np.ndarray,
    *,
    nodata=None,
    on_invalid: Literal["raise", "mask"] = "raise",
    min_loss_50: bool = False,
    **_: object,
) -> Alerts:
    """OPERA / UMD DIST-ALERT: layer 1 VEG-DIST-STATUS (0 none, 1..8, 255 no data), layer 2 VEG-DIST-DATE (days
    since 2020-12-31, the first disturbance; -1 / 0 no date). ``min_loss_50`` keeps only the statuses of at least
    50 % vegetation cover loss (4, 5, 6, 8)."""
    status, dday = _layers(values, 2, "dist_alert")
    _ints(status, "dist_alert", "VEG-DIST-STATUS")
    _ints(dday, "dist_alert", "VEG-DIST-DATE")
    nd = _nodatas(nodata, 2)
    st_nodata = int(nd[0]) if nd[0] is not None else DIST_NODATA
    where = (status != 0) & (status != st_nodata)
    s = status[where].astype(np.int64)
    d = dday[where].astype(np.int64)
    good = (s >= 1) & (s <= 8) & (d >= 1)
    bad = int(good.size - np.count_nonzero(good))
    if bad and on_invalid == "raise":
        pairs = sorted({(int(a), int(b)) for a, b in zip(s[~good][:1000], d[~good][:1000], strict=True)})[:5]
        raise _refuse(
            "dist_alert",
            "VEG-DIST-STATUS must be 1..8 with a VEG-DIST-DATE of 1 or more",
            bad,
            pairs,
            "Check that layer 1 is VEG-DIST-STATUS and layer 2 VEG-DIST-DATE.",
        )
    keep = good & np.isin(s, (4, 5, 6, 8)) if min_loss_50 else good
    idx = np.flatnonzero(where.ravel())[keep]
    return _result(
        status.shape, np.unravel_index(idx, status.shape), d[keep] + DIST_OFFSET, DIST_STATUS_CONFIDENCE[s[keep]], bad
    )


def decode_hansen_gfc(
    values: np.ndarray,
    *,
    nodata=None,
    on_invalid: Literal["raise", "mask"] = "raise",
    forest_threshold: int = 30,
    **_: object,
) -> Alerts:
    """Hansen/UMD Global Forest Change: layer 1 ``lossyear`` (0 no loss, 1..n = 2001..2000+n), layer 2
    ``treecover2000`` (0..100 %). A pixel is lost forest when its tree cover in 2000 was at least
    ``forest_threshold`` % and it has a loss year; dated 1 January of the loss year, confidence high (the annual
    product has no confidence layer)."""
    lossyear, cover = _layers(values, 2, "hansen_gfc")
    _ints(lossyear, "hansen_gfc", "lossyear")
    _ints(cover, "hansen_gfc", "treecover2000")
    nd = _nodatas(nodata, 2)
    where = lossyear != 0
    if nd[0] is not None:
        where &= lossyear != nd[0]
    y = lossyear[where].astype(np.int64)
    tc = cover[where].astype(np.int64)
    good = (y >= 1) & (y <= 99) & (tc >= 0) & (tc <= 100)
    bad = int(good.size - np.count_nonzero(good))
    if bad and on_invalid == "raise":
        pairs = sorted({(int(a), int(b)) for a, b in zip(y[~good][:1000], tc[~good][:1000], strict=True)})[:5]
        raise _refuse(
            "hansen_gfc",
            "lossyear must be 1..99 and treecover2000 0..100",
            bad,
            pairs,
            "Check that layer 1 is lossyear and layer 2 treecover2000.",
        )
    keep = good & (tc >= forest_threshold)
    idx = np.flatnonzero(where.ravel())[keep]
    return _result(
        lossyear.shape,
        np.unravel_index(idx, lossyear.shape),
        _year_start_days(2000 + y[keep]),
        np.full(idx.size, HIGH),
        bad,
    )


def decode_change_pair(
    values: np.ndarray,
    *,
    nodata=None,
    on_invalid: Literal["raise", "mask"] = "raise",
    threshold: float | None = None,
    after_day: int | None = None,
    **_: object,
) -> Alerts:
    """A user's change pair: layer 1 the index before, layer 2 after (NDVI or NBR, -1..1, on one grid). A pixel
    is an alert when the index dropped by at least ``threshold`` (dNDVI / dNBR = after - before <= -threshold),
    dated ``after_day`` (days since 2014-12-31, the after scene's date), confidence low (one pair of scenes)."""
    if threshold is None or not threshold > 0 or after_day is None:
        raise AlertEncodingError(
            "A change pair needs a threshold above 0 and the date of the after scene.",
            details=[{"problem": "change_pair_parameters"}],
        )
    before, after = (v.astype(np.float64, copy=False) for v in _layers(values, 2, "change_pair"))
    nd = _nodatas(nodata, 2)
    valid = np.isfinite(before) & np.isfinite(after)
    for layer, value in ((before, nd[0]), (after, nd[1])):
        if value is not None and np.isfinite(value):
            valid &= layer != value
    out_of_range = valid & ((np.abs(before) > 1.0001) | (np.abs(after) > 1.0001))
    bad = int(np.count_nonzero(out_of_range))
    if bad and on_invalid == "raise":
        examples = sorted(
            {round(float(v), 3) for v in np.concatenate([before[out_of_range], after[out_of_range]])[:1000]}
        )
        raise _refuse(
            "change_pair",
            "an NDVI or NBR value lies between -1 and 1",
            bad,
            examples[:5],
            "Give the index itself (not scaled, e.g. by 10000).",
        )
    hit = valid & ~out_of_range & ((after - before) <= -float(threshold))
    n = int(np.count_nonzero(hit))
    return _result(before.shape, hit, np.full(n, int(after_day)), np.full(n, LOW), bad)


DECODERS: dict[str, Callable[..., Alerts]] = {
    "gfw_integrated": decode_gfw_integrated,
    "glad_l_gfw": partial(decode_gfw_date_conf, encoding="glad_l_gfw"),
    "glad_s2_gfw": partial(decode_gfw_date_conf, encoding="glad_s2_gfw"),
    "radd_gfw": partial(decode_gfw_date_conf, encoding="radd_gfw"),
    "glad_l_umd": decode_glad_l_umd,
    "glad_s2_umd": decode_glad_s2_umd,
    "radd_wur": decode_radd_wur,
    "dist_alert": decode_dist_alert,
    "hansen_gfc": decode_hansen_gfc,
    "change_pair": decode_change_pair,
}
FLOAT_ENCODINGS = frozenset({"change_pair"})  # encodings whose layers are not integers
