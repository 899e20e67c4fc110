"""Read NASA FIRMS CSV (MODIS C6.1, VIIRS S-NPP / NOAA-20 / NOAA-21; NRT and SP) into normalised columns.

The file is streamed in blocks with pyarrow (memory stays bounded on any size) and every check is vectorised:
values that repeat (dates, times, satellite codes, versions, confidence letters) are parsed once per distinct
value and mapped back with ``pandas.factorize``. A problem is reported as (line, column, reason); the line
number is the file's own, the header being line 1.

Normalised scale of confidence: 1 low, 2 nominal, 3 high. VIIRS gives the class itself (l/n/h or
low/nominal/high); MODIS gives a percentage, classed as FIRMS does (0-29 low, 30-79 nominal, 80-100 high).
The original value is kept in ``confidence_raw``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from geo_service import limits

BANGKOK_OFFSET_S = 7 * 3600  # Asia/Bangkok is UTC+7 all year (no daylight saving)

# Spellings seen in FIRMS CSV, archive and shapefile-derived exports -> one name.
COLUMN_ALIASES = {
    "latitude": "latitude",
    "lat": "latitude",
    "y": "latitude",
    "longitude": "longitude",
    "lon": "longitude",
    "long": "longitude",
    "x": "longitude",
    "brightness": "brightness",
    "bright_ti4": "brightness",
    "bright_t21": "brightness",
    "bright_t31": "bright_2",
    "bright_ti5": "bright_2",
    "scan": "scan",
    "track": "track",
    "acq_date": "acq_date",
    "acqdate": "acq_date",
    "date": "acq_date",
    "acq_time": "acq_time",
    "acqtime": "acq_time",
    "time": "acq_time",
    "satellite": "satellite",
    "sat": "satellite",
    "instrument": "instrument",
    "confidence": "confidence",
    "conf": "confidence",
    "version": "version",
    "frp": "frp",
    "daynight": "daynight",
    "day_night": "daynight",
    "type": "fire_type",
}
REQUIRED = ("latitude", "longitude", "acq_date", "acq_time", "satellite", "confidence")
FLOAT_COLUMNS = ("latitude", "longitude", "brightness", "bright_2", "scan", "track", "frp")
TEXT_COLUMNS = ("acq_date", "acq_time", "satellite", "instrument", "confidence", "version", "daynight", "fire_type")

SATELLITES = {
    "terra": ("Terra", "MODIS"),
    "t": ("Terra", "MODIS"),
    "aqua": ("Aqua", "MODIS"),
    "a": ("Aqua", "MODIS"),
    "n": ("S-NPP", "VIIRS"),
    "npp": ("S-NPP", "VIIRS"),
    "snpp": ("S-NPP", "VIIRS"),
    "s-npp": ("S-NPP", "VIIRS"),
    "suomi npp": ("S-NPP", "VIIRS"),
    "suomi-npp": ("S-NPP", "VIIRS"),
    "1": ("NOAA-20", "VIIRS"),
    "n20": ("NOAA-20", "VIIRS"),
    "noaa-20": ("NOAA-20", "VIIRS"),
    "noaa20": ("NOAA-20", "VIIRS"),
    "noaa 20": ("NOAA-20", "VIIRS"),
    "j1": ("NOAA-20", "VIIRS"),
    "2": ("NOAA-21", "VIIRS"),
    "n21": ("NOAA-21", "VIIRS"),
    "noaa-21": ("NOAA-21", "VIIRS"),
    "noaa21": ("NOAA-21", "VIIRS"),
    "noaa 21": ("NOAA-21", "VIIRS"),
    "j2": ("NOAA-21", "VIIRS"),
}
CONFIDENCE_CLASSES = {"l": 1, "low": 1, "n": 2, "nominal": 2, "h": 3, "high": 3}
CONFIDENCE_NAMES = {1: "low", 2: "nominal", 3: "high"}
MAX_REPORTED = 100


@dataclass
class Problem:
    """One reason a row (or the file) was refused."""

    line: int | None
    column: str | None
    reason: str

    def as_dict(self) -> dict:
        """line, column and reason as a dict."""
        return {"line": self.line, "column": self.column, "reason": self.reason}


@dataclass
class Chunk:
    """Normalised, valid detections of one block of the file (numpy/pandas columns) and its problems."""

    frame: pd.DataFrame
    rows_read: int
    problems: list[Problem] = field(default_factory=list)
    refused: int = 0


def normalise_header(names: list[str]) -> list[str]:
    """Map the file's column names to the normalised ones (unknown columns keep a prefixed name)."""
    out = []
    for n in names:
        key = n.strip().strip('"').lower()
        out.append(COLUMN_ALIASES.get(key, "_extra_" + key))
    return out


def _read_header(path: Path) -> list[str]:
    with open(path, "rb") as fh:
        first = fh.readline().decode("utf-8-sig", errors="replace").strip()
    if not first:
        return []
    return [c for c in first.split(",")]


def _classify_confidence(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct confidence strings -> (scale 1..3, 0 where invalid)."""
    scale = np.zeros(len(values), dtype=np.int16)
    for i, v in enumerate(values):
        s = str(v).strip().lower()
        if s in CONFIDENCE_CLASSES:
            scale[i] = CONFIDENCE_CLASSES[s]
            continue
        try:
            pct = float(s)
        except ValueError:
            continue
        if 0 <= pct <= 100:
            scale[i] = 1 if pct < 30 else 2 if pct < 80 else 3
    return scale, values


def _parse_times(values: np.ndarray) -> np.ndarray:
    """Distinct HHMM strings (leading zeros optional, 'HH:MM' accepted) -> seconds of the day, -1 invalid."""
    out = np.full(len(values), -1, dtype=np.int64)
    for i, v in enumerate(values):
        s = str(v).strip().replace(":", "")
        if not s.isdigit() or len(s) > 4:
            continue
        s = s.zfill(4)
        hh, mm = int(s[:2]), int(s[2:])
        if hh < 24 and mm < 60:
            out[i] = hh * 3600 + mm * 60
    return out


def _parse_dates(values: np.ndarray) -> np.ndarray:
    """Distinct date strings (YYYY-MM-DD, or YYYY/MM/DD) -> datetime64[D], NaT invalid."""
    parsed = pd.to_datetime(
        pd.Series(values, dtype="object").astype(str).str.strip().str.replace("/", "-"),
        format="%Y-%m-%d",
        errors="coerce",
    )
    return parsed.values.astype("datetime64[D]")


def _encode(table_cols: dict, name: str, n: int) -> tuple[np.ndarray, list]:
    """Dictionary-encode a text column: (code per row, -1 for empty; the distinct values)."""
    import pyarrow.compute as pc

    if name not in table_cols:
        return np.full(n, -1, dtype=np.int64), []
    col = table_cols[name].combine_chunks() if isinstance(table_cols[name], pa.ChunkedArray) else table_cols[name]
    enc = col.dictionary_encode()
    codes = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, enc.dictionary.to_pylist()


def _take(values: np.ndarray, codes: np.ndarray, missing) -> np.ndarray:
    """values[codes] with ``missing`` where the code is -1."""
    table = np.append(np.asarray(values, dtype=object if np.asarray(values).dtype == object else None), missing)
    return table[np.where(codes < 0, len(table) - 1, codes)]


_STR = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' own str dtype (what it infers for text)


def _text_column(values: list, codes: np.ndarray, missing: str | None):
    """values[codes], ``missing`` where the code is -1, as pandas' Arrow-backed str column, made by Arrow's
    ``take`` from the few distinct values: a pandas column from a numpy object array is converted to Arrow
    value by value (about 0.04 s per 1M-row column, 6 columns per file)."""
    distinct = pa.array([*values, missing], pa.large_string())
    return pd.array(distinct.take(pa.array(np.where(codes < 0, len(values), codes))), dtype=_STR)


def _problems(mask: np.ndarray, first_line: int, column: str, reason: str, budget: int) -> list[Problem]:
    rows = np.flatnonzero(mask)[: max(budget, 0)]
    return [Problem(int(r) + first_line, column, reason) for r in rows]


def normalise(
    table: pa.Table,
    first_line: int,
    *,
    processing: str | None = None,
    country_bbox: tuple[float, float, float, float] | None = None,
    reported: int = 0,
) -> Chunk:
    """Check and normalise one block of FIRMS rows.

    Parameters
    ----------
    table : pyarrow.Table
        Rows with normalised column names (see ``normalise_header``).
    first_line : int
        The file's line number of the first row (header = line 1).
    processing : {"NRT", "SP"}, optional
        Forces the processing level; by default it comes from ``version`` (``6.1NRT`` is NRT).
    country_bbox : tuple, optional
        Detections outside this lon/lat box are dropped and counted as outside, not refused.
    reported : int
        Problems already reported in this file (at most ``MAX_REPORTED`` are listed).

    Returns
    -------
    Chunk
        The valid rows, normalised, and a problem per invalid value.
    """
    n = table.num_rows
    cols = {name: table.column(name) for name in table.column_names}
    df = pd.DataFrame(index=pd.RangeIndex(n))
    bad = np.zeros(n, dtype=bool)
    problems: list[Problem] = []

    def flag(mask, column, reason):
        nonlocal bad
        mask = mask & ~bad
        if mask.any():
            problems.extend(_problems(mask, first_line, column, reason, MAX_REPORTED - reported - len(problems)))
        bad |= mask

    def floats(name):
        if name not in cols:
            return np.full(n, np.nan)
        return cols[name].to_numpy(zero_copy_only=False).astype("float64", copy=False)

    lat, lon = floats("latitude"), floats("longitude")
    flag(~np.isfinite(lat) | (np.abs(lat) > 90), "latitude", "missing or outside -90..90")
    flag(~np.isfinite(lon) | (np.abs(lon) > 180), "longitude", "missing or outside -180..180")

    codes, uniq = _encode(cols, "acq_date", n)
    days = _take(
        _parse_dates(np.array(uniq, dtype=object)) if uniq else np.array([], "datetime64[D]"),
        codes,
        np.datetime64("NaT"),
    ).astype("datetime64[D]")
    flag(np.isnat(days), "acq_date", "not a date (YYYY-MM-DD, UTC)")
    lo, hi = np.datetime64(limits.MIN_DATE, "D"), np.datetime64(limits.MAX_DATE, "D")
    flag(
        ~np.isnat(days) & ((days < lo) | (days > hi)),
        "acq_date",
        f"outside {limits.MIN_DATE.isoformat()}..{limits.MAX_DATE.isoformat()}",
    )
    codes, uniq = _encode(cols, "acq_time", n)
    secs = _take(_parse_times(np.array(uniq, dtype=object)), codes, -1).astype(np.int64)
    flag(secs < 0, "acq_time", "not a time HHMM (UTC, e.g. 0642)")

    sat_codes, sat_uniq = _encode(cols, "satellite", n)
    keys = [str(u).strip().lower() for u in sat_uniq]
    known = _take(np.array([k in SATELLITES for k in keys], dtype=bool), sat_codes, False).astype(bool)
    flag(~known, "satellite", "unknown satellite (Terra/T, Aqua/A, N/S-NPP, 1/N20/NOAA-20, 2/N21/NOAA-21)")
    names = [SATELLITES.get(k, ("", ""))[0] for k in keys]
    instr = [SATELLITES.get(k, ("", ""))[1] for k in keys]

    conf_codes, conf_uniq = _encode(cols, "confidence", n)
    conf_clean = [str(u).strip() for u in conf_uniq]
    conf = _take(_classify_confidence(np.array(conf_clean, dtype=object))[0], conf_codes, 0).astype(np.int16)
    flag(conf == 0, "confidence", "not l/n/h, low/nominal/high or a percentage 0-100")

    dn_codes, dn_uniq = _encode(cols, "daynight", n)
    dn_clean = [str(u).strip().upper() for u in dn_uniq]
    dn_ok = _take(np.array([d in ("D", "N") for d in dn_clean], dtype=bool), dn_codes, True).astype(bool)
    flag(~dn_ok, "daynight", "not D or N")

    frp = floats("frp")
    flag(np.isfinite(frp) & (frp < 0), "frp", "negative fire radiative power")
    flag(np.isinf(frp) | (frp > limits.MAX_FRP_MW), "frp", f"larger than {limits.MAX_FRP_MW:,.0f} MW (or infinite)")

    v_codes, v_uniq = _encode(cols, "version", n)
    v_clean = [str(u).strip() for u in v_uniq]
    v_long = _take(np.array([len(v) > 16 for v in v_clean], dtype=bool), v_codes, False).astype(bool)
    flag(v_long, "version", "longer than 16 characters")
    if processing:
        proc_values, proc_codes = [processing.upper()], np.zeros(n, dtype=np.int64)
    else:
        proc_values, proc_codes = ["NRT" if v.upper().endswith("NRT") else "SP" for v in v_clean], v_codes

    t_codes, t_uniq = _encode(cols, "fire_type", n)
    t_vals = pd.to_numeric(pd.Series(t_uniq, dtype=object), errors="coerce").to_numpy(dtype="float64")
    fire_type = _take(t_vals, t_codes, np.nan).astype("float64")
    flag(
        (t_codes >= 0) & ~np.isin(fire_type, [0, 1, 2, 3]),
        "fire_type",
        "not 0 (vegetation), 1 (volcano), 2 (static land source) or 3 (offshore)",
    )

    refused = int(bad.sum())
    outside = np.zeros(n, dtype=bool)
    if country_bbox is not None:
        minx, miny, maxx, maxy = country_bbox
        outside = ~bad & ~((lon >= minx) & (lon <= maxx) & (lat >= miny) & (lat <= maxy))
    keep = ~bad & ~outside

    acq = days[keep].astype("datetime64[s]").astype(np.int64) + secs[keep]
    local_days = ((acq + BANGKOK_OFFSET_S) // 86400).astype("datetime64[D]")
    df = pd.DataFrame(
        {
            "satellite": _text_column(names, sat_codes[keep], ""),
            "instrument": _text_column(instr, sat_codes[keep], ""),
            "processing": _text_column(proc_values, proc_codes[keep], "SP"),
            "version": _text_column(v_clean, v_codes[keep], None),
            "acq_epoch": acq,
            "acq_date_local": local_days,
            "lat_e4": np.round(lat[keep] * 1e4).astype(np.int32),
            "lon_e4": np.round(lon[keep] * 1e4).astype(np.int32),
            "latitude": lat[keep],
            "longitude": lon[keep],
            "brightness": floats("brightness")[keep],
            "bright_2": floats("bright_2")[keep],
            "scan": floats("scan")[keep],
            "track": floats("track")[keep],
            "frp": frp[keep],
            "daynight": _text_column(dn_clean, dn_codes[keep], None),
            "confidence": conf[keep].astype(np.int16),
            "confidence_raw": _text_column(conf_clean, conf_codes[keep], None),
            "fire_type": pd.arrays.IntegerArray(
                np.nan_to_num(fire_type[keep]).astype(np.int16), np.isnan(fire_type[keep])
            ),
        }
    )
    chunk = Chunk(frame=df, rows_read=n, problems=problems, refused=refused)
    chunk.outside = int(outside.sum())  # type: ignore[attr-defined]
    return chunk


def read_firms_csv(
    path: Path | str,
    *,
    block_size: int = 16 << 20,
    processing: str | None = None,
    country_bbox: tuple[float, float, float, float] | None = None,
) -> Iterator[Chunk]:
    """Stream a FIRMS CSV file as normalised chunks.

    Parameters
    ----------
    path : path-like
        The CSV file (MODIS or VIIRS, NRT or SP; the header names the columns).
    block_size : int
        Bytes per block read by pyarrow (about 100k rows for 16 MiB); bounds memory on any file size.
    processing, country_bbox
        See ``normalise``.

    Yields
    ------
    Chunk
        Normalised valid rows and the problems found in each block.

    Raises
    ------
    FirmsFormatError
        The header lacks a required column, or a value cannot be read at all.
    """
    path = Path(path)
    header = _read_header(path)
    names = normalise_header(header)
    missing = [c for c in REQUIRED if c not in names]
    if not header or missing:
        raise FirmsFormatError([Problem(1, c, "required column missing") for c in missing or ["latitude"]])
    dupes = {n for n in names if names.count(n) > 1 and not n.startswith("_extra_")}
    if dupes:
        raise FirmsFormatError([Problem(1, c, "column given twice (under two spellings)") for c in sorted(dupes)])
    types = {n: pa.float64() for n in names if n in FLOAT_COLUMNS}
    types.update({n: pa.string() for n in names if n in TEXT_COLUMNS or n.startswith("_extra_")})
    read = pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=block_size, encoding="utf8")
    convert = pacsv.ConvertOptions(
        column_types=types, strings_can_be_null=True, null_values=["", "NA", "NaN", "null", "NULL"]
    )
    parse = pacsv.ParseOptions(newlines_in_values=False)
    line = 2
    reported = 0
    try:
        reader = pacsv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert)
        for batch in reader:
            chunk = normalise(
                pa.Table.from_batches([batch]),
                line,
                processing=processing,
                country_bbox=country_bbox,
                reported=reported,
            )
            reported += len(chunk.problems)
            line += batch.num_rows
            yield chunk
    except pa.ArrowInvalid as exc:
        yield from _slow_report(path, names, exc, processing=processing, country_bbox=country_bbox)


def _slow_report(path: Path, names: list[str], exc: Exception, **kw) -> Iterator[Chunk]:
    """A value pyarrow could not convert (text in a number column, a short row): re-read everything as text
    to say which line and column, then refuse."""
    problems: list[Problem] = []
    try:
        frame = pd.read_csv(
            path, dtype=str, keep_default_na=False, header=0, names=names, on_bad_lines="error", engine="c"
        )
    except (pd.errors.ParserError, ValueError) as err:
        raise FirmsFormatError([Problem(None, None, f"the CSV cannot be read: {str(err)[:200]}")]) from err
    for name in FLOAT_COLUMNS:
        if name in frame:
            raw = frame[name].str.strip()
            num = pd.to_numeric(raw, errors="coerce")
            mask = (raw != "") & num.isna()
            problems.extend(_problems(mask.to_numpy(), 2, name, "not a number", MAX_REPORTED - len(problems)))
    if not problems:
        problems.append(Problem(None, None, f"the CSV cannot be read: {str(exc)[:200]}"))
    raise FirmsFormatError(sorted(problems, key=lambda p: (p.line or 0, p.column or ""))[:MAX_REPORTED])


class FirmsFormatError(Exception):
    """A FIRMS file that cannot be read as such (missing columns, unreadable values)."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(f"line {p.line}, {p.column}: {p.reason}" for p in problems[:5]))
