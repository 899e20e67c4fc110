"""Coordinates as field officers write them: decimal degrees, DDM, DMS, UTM, on WGS 84 or Indian 1975.

The text is read strictly: every character belongs to a token (number, sign, unit, hemisphere letter,
separator) and a number is digits with at most one decimal mark, so a typing slip is a 400 that names the
part, never another place. Every conversion goes through pyproj. Mistakes that happen in the field are
caught with a message that says what to fix: latitude and longitude swapped ("did you mean ...?"), an
impossible value, a UTM band that does not match the northing, a point outside Thailand's outline (with
the other UTM zone tried as a hint).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import shapely
from pyproj import CRS, Transformer

from geo_service.errors import InvalidInput
from geo_service.settings import THAILAND_BBOX, get_settings

DATUMS = {"WGS84": "WGS 84", "INDIAN1975": "Indian 1975"}
# Geographic CRS of each datum, and its UTM zones 47 and 48 (Thailand lies in these two).
GEOGRAPHIC = {"WGS84": 4326, "INDIAN1975": 4240}
UTM_EPSG = {("WGS84", 47): 32647, ("WGS84", 48): 32648, ("INDIAN1975", 47): 24047, ("INDIAN1975", 48): 24048}
BAND_LETTERS = "CDEFGHJKLMNPQRSTUVWX"  # 8 degrees each from 80 S; no I or O
FORMAT_HELP = (
    "Write the position as two numbers, latitude then longitude (18.1452, 100.1417), as "
    "degrees-minutes-seconds (18°08'42\"N 100°08'30\"E), degrees and decimal minutes "
    "(18°08.708'N 100°08.5'E) or as UTM (47Q 537172 1958350)."
)
# Thailand's outline (Natural Earth 1:10m, layers/country/README.md); 1:10m is generalised by up to about a
# kilometre, so a point this close to the line counts as inside.
COUNTRY_FILE = Path("country") / "thailand_naturalearth_10m.geojson"
COUNTRY_TOLERANCE_M = 2000


class CoordinateError(InvalidInput):
    """A position that cannot be read, or that is implausible (with a code saying why)."""

    code = "invalid_coordinates"


@dataclass
class ParsedPoint:
    """A position read from text: WGS 84 longitude/latitude, the text, its notation and its datum."""

    lon: float
    lat: float
    text: str
    format: str  # the notation read: decimal | ddm | dms | utm
    datum: str  # WGS84 | INDIAN1975
    source_crs: str
    notes: list[str] = field(default_factory=list)
    utm: tuple[int, float, float] | None = None  # zone, easting, northing as written
    read_as: str = ""  # what was read, written back in the same notation (on the datum as given)

    def as_dict(self) -> dict:
        """The API shape of the reading, with the notation's name in Thai and English."""
        th, en = NOTATION_NAMES[self.format]
        return {
            "lon": round(self.lon, 7),
            "lat": round(self.lat, 7),
            "text": self.text,
            "format": self.format,
            "format_name": {"th": th, "en": en},
            "read_as": self.read_as,
            "datum": self.datum,
            "source_crs": self.source_crs,
            "notes": self.notes,
        }


@lru_cache(maxsize=32)
def _to_wgs84(epsg: int) -> Transformer:
    return Transformer.from_crs(CRS.from_epsg(epsg), CRS.from_epsg(4326), always_xy=True)


@lru_cache(maxsize=32)
def from_wgs84(epsg: int) -> Transformer:
    """The transformer from WGS 84 longitude/latitude to ``epsg`` (x = easting, y = northing), built once."""
    return Transformer.from_crs(4326, epsg, always_xy=True)


def project_from_wgs84(geoms: np.ndarray, epsg: int) -> np.ndarray:
    """Shapely geometries in EPSG:4326 (an array) projected to ``epsg``, every coordinate at once (pyproj)."""
    t = from_wgs84(epsg)
    return shapely.transform(geoms, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


_METRES_PER_DEGREE_LAT = 110_574.0  # the least (at the equator): a box widened by this is never too narrow
_METRES_PER_DEGREE_LON = 111_320.0  # at the equator, times cos(latitude)


def widen_box(box: tuple[float, float, float, float], metres: float) -> tuple[float, float, float, float]:
    """A box in degrees (x0, y0, x1, y1, EPSG:4326) widened on every side by at least ``metres`` on the ground
    (degrees of longitude taken at the box's latitude farthest from the equator): a prefilter that never misses."""
    x0, y0, x1, y1 = (float(v) for v in widen_boxes(np.array([box], dtype=float), metres)[0])
    return x0, y0, x1, y1


def widen_boxes(boxes: np.ndarray, metres: float) -> np.ndarray:
    """:func:`widen_box` on many boxes at once (an (n, 4) array of x0, y0, x1, y1 in degrees), vectorised."""
    b = np.asarray(boxes, dtype=float).reshape(-1, 4)
    dy = metres / _METRES_PER_DEGREE_LAT
    lat = np.minimum(89.0, np.maximum(np.abs(b[:, 1]), np.abs(b[:, 3])) + dy)
    dx = metres / (_METRES_PER_DEGREE_LON * np.cos(np.radians(lat)))
    return np.column_stack([b[:, 0] - dx, b[:, 1] - dy, b[:, 2] + dx, b[:, 3] + dy])


def normalise_datum(datum: str | None) -> str:
    """A datum's canonical name (WGS84 or INDIAN1975), from the spellings people use."""
    key = re.sub(r"[\s_\-]", "", (datum or "WGS84")).upper()
    key = {"WGS1984": "WGS84", "EPSG4326": "WGS84", "INDIAN75": "INDIAN1975", "EPSG4240": "INDIAN1975"}.get(key, key)
    if key not in DATUMS:
        raise CoordinateError(
            "Unknown datum: use WGS84 (GPS, phones) or Indian1975 (old RTSD 1:50,000 maps).", code="unknown_datum"
        )
    return key


def in_thailand(lon: float, lat: float, bbox=THAILAND_BBOX) -> bool:
    """Within Thailand's bounding box: a rough test for extents (layers, affected areas), not for a position."""
    minx, miny, maxx, maxy = bbox
    return minx <= lon <= maxx and miny <= lat <= maxy


@lru_cache(maxsize=1)
def country_outline() -> shapely.Geometry:
    """Thailand's outline widened by COUNTRY_TOLERANCE_M (in UTM 47N), prepared for point tests."""
    layers_dir = get_settings().service.layers_dir or Path(__file__).resolve().parents[1] / "layers"
    path = layers_dir / COUNTRY_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"Thailand's outline is missing ({path}); set GEO_SERVICE_LAYERS_DIR to the project's layers/ folder."
        )
    geom = shapely.from_geojson(path.read_text(encoding="utf-8")).geoms[0]  # the single feature's geometry
    fwd = Transformer.from_crs(4326, 32647, always_xy=True)
    utm = shapely.transform(geom, lambda xy: np.column_stack(fwd.transform(xy[:, 0], xy[:, 1])))
    wide = utm.buffer(COUNTRY_TOLERANCE_M, quad_segs=4)
    out = shapely.transform(wide, lambda xy: np.column_stack(_to_wgs84(32647).transform(xy[:, 0], xy[:, 1])))
    shapely.prepare(out)
    return out


def in_country(lon: float, lat: float) -> bool:
    """Inside Thailand's outline (or within COUNTRY_TOLERANCE_M of it)."""
    return bool(shapely.contains_xy(country_outline(), lon, lat))


# -- decimal degrees, DDM and DMS: a strict tokenizer -----------------------------------------------
# The text is cut into tokens; every character must belong to one. A number is digits with at most one
# decimal point (a decimal comma when the whole text uses commas that way), so "18.1452.5", "1_8.1452" or a
# stray "." is refused with the part named, never read as some other place.
_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
_UNITS = {
    "°": "deg",
    "º": "deg",
    "˚": "deg",
    "deg": "deg",
    "d": "deg",
    "'": "min",
    "′": "min",
    "’": "min",
    "min": "min",
    "m": "min",
    '"': "sec",
    "″": "sec",
    "”": "sec",
    "''": "sec",
    "′′": "sec",
    "sec": "sec",
    "s": "sec",
    ":": "colon",
}
_LEX = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<num>[0-9._]+)
  | (?P<sign>[-+−])
  | (?P<unit>''|′′|[°º˚'′’"″”:])
  | (?P<word>[A-Za-z]+)
  | (?P<sep>[,;])
  | (?P<other>.)
""",
    re.VERBOSE,
)
_WORD_PART = re.compile(r"deg|min|sec|[dms]|[NSEW]")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
ORDER = ("deg", "min", "sec")
NOTATION_NAMES = {
    "decimal": ("ทศนิยมองศา", "decimal degrees"),
    "ddm": ("องศา ลิปดาทศนิยม", "degrees and decimal minutes (DDM)"),
    "dms": ("องศา ลิปดา ฟิลิปดา", "degrees, minutes and seconds (DMS)"),
    "utm": ("ยูทีเอ็ม", "UTM zone, easting and northing"),
}


@dataclass
class _Tok:
    kind: str  # num | sign | unit | hemi | sep
    value: str  # the number as read (decimal point), the unit, the hemisphere letter, the sign
    text: str  # as written
    pos: int


def _unreadable(part: str, why: str, pos: int | None = None) -> CoordinateError:
    where = "" if pos is None else f" (at character {pos + 1})"
    return CoordinateError(
        f"I cannot read '{part}'{where} in this position: {why}. {FORMAT_HELP}",
        code="unreadable_coordinates",
        details=[{"part": part, "position": pos, "reason": why}],
    )


def _decimal_comma(text: str) -> bool:
    """Commas are decimal marks only when no point is used and every comma sits between two digits."""
    commas = [m.start() for m in re.finditer(",", text)]
    if "." in text or not commas:
        return False
    between = all(0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit() for i in commas)
    return between and (len(commas) >= 2 or ";" in text)


def check_numbers(text: str) -> None:
    """Every run of digits, points, underscores (and decimal commas) must be one plain number."""
    run = r"[0-9._,]+" if _decimal_comma(text) else r"[0-9._]+"
    for m in re.finditer(run, text):
        part = m[0]
        if _NUMBER.fullmatch(part.replace(",", ".")):
            continue
        if "_" in part:
            why = "an underscore is not part of a number"
        elif part.replace(",", ".").count(".") > 1:
            why = "a number has two decimal points" if "," not in part else "a number has two decimal commas"
        else:
            why = "a decimal point needs digits on both sides"
        raise _unreadable(part, why, m.start())


def _tokens(text: str) -> list[_Tok]:
    check_numbers(text)
    # A decimal comma becomes a point (same length, so positions still point into the text as written).
    read = re.sub(r"(?<=\d),(?=\d)", ".", text) if _decimal_comma(text) else text
    out: list[_Tok] = []
    for m in _LEX.finditer(read):
        kind, raw, shown = m.lastgroup, m[0], text[m.start() : m.end()]
        if kind == "space":
            continue
        if kind == "num":
            out.append(_Tok("num", raw, shown, m.start()))
        elif kind == "sign":
            out.append(_Tok("sign", "-" if raw in "-−" else "+", shown, m.start()))
        elif kind == "unit":
            out.append(_Tok("unit", _UNITS[raw], shown, m.start()))
        elif kind == "sep":
            out.append(_Tok("sep", raw, shown, m.start()))
        elif kind == "word":
            if not re.fullmatch(f"(?:{_WORD_PART.pattern})+", raw):
                raise _unreadable(
                    raw, "it is not a unit (° ' \" or d m s) nor a hemisphere letter (N, S, E, W)", m.start()
                )
            for w in _WORD_PART.finditer(raw):
                kind_w = "hemi" if w[0] in "NSEW" else "unit"
                out.append(_Tok(kind_w, w[0] if kind_w == "hemi" else _UNITS[w[0]], w[0], m.start() + w.start()))
        else:
            raise _unreadable(raw, "this character is not part of a coordinate", m.start())
    return out


def _show(tokens: list[_Tok], src: str) -> str:
    """The stretch of the text as written that the tokens cover."""
    return src[tokens[0].pos : tokens[-1].pos + len(tokens[-1].text)] if tokens else ""


def _halves(tokens: list[_Tok], src: str) -> tuple[list[_Tok], list[_Tok]]:
    """Where latitude (or longitude) ends: a separator, hemisphere letters, degree marks, or half the numbers."""
    seps = [i for i, t in enumerate(tokens) if t.kind == "sep"]
    if len(seps) == 1:
        cut, skip = seps[0], 1
    elif seps:
        stray = (
            tokens[seps[-1]] if seps[-1] == len(tokens) - 1 else tokens[seps[0]] if seps[0] == 0 else tokens[seps[1]]
        )
        raise _unreadable(
            stray.text,
            f"a position has one separator between latitude and longitude; this one has "
            f"{len(seps)} ({', '.join(repr(tokens[i].text) for i in seps)})",
            stray.pos,
        )
    else:
        skip = 0
        hemis = [i for i, t in enumerate(tokens) if t.kind == "hemi"]
        degs = [
            i - 1
            for i, t in enumerate(tokens)
            if t.kind == "unit" and t.value == "deg" and i > 0 and tokens[i - 1].kind == "num"
        ]
        nums = [i for i, t in enumerate(tokens) if t.kind == "num"]
        if len(hemis) == 2:
            cut = hemis[1] if hemis[0] == 0 else hemis[0] + 1
        elif hemis:
            raise _unreadable(
                _show(tokens, src), "write a hemisphere letter on both numbers (N/S and E/W) or on neither"
            )
        elif len(degs) == 2:
            cut = degs[1]
        elif ":" in [t.text for t in tokens] and len(nums) > 2:
            # 18:08:42.5 100:08:30 - the first number not joined to the one before by a colon starts the second
            starts = [i for i in nums if i == nums[0] or tokens[i - 1].value != "colon"]
            if len(starts) != 2:
                raise _unreadable(_show(tokens, src), "I cannot tell where the latitude ends")
            cut = starts[1]
        elif len(nums) in (2, 4, 6):
            cut = nums[len(nums) // 2]
        else:
            raise _unreadable(
                _show(tokens, src),
                f"I found {len(nums)} numbers and cannot tell where the latitude "
                "ends; separate latitude and longitude with a comma",
            )
        if cut > 0 and tokens[cut - 1].kind == "sign":
            cut -= 1
    first, second = tokens[:cut], tokens[cut + skip :]
    if not first or not second:
        where = tokens[cut] if cut < len(tokens) else tokens[-1]
        raise _unreadable(where.text, "a separator with nothing on one side of it", where.pos)
    return first, second


@dataclass
class _Coordinate:
    value: float
    hemi: str | None
    notation: str  # decimal | ddm | dms
    parts: tuple[float, ...]


def _coordinate(tokens: list[_Tok], src: str) -> _Coordinate:
    """One latitude or longitude: [hemisphere] [sign] degrees [minutes [seconds]] [hemisphere]."""
    text, i, n = _show(tokens, src), 0, len(tokens)
    h1 = h2 = sign = None
    if i < n and tokens[i].kind == "hemi":
        h1, i = tokens[i].value, i + 1
    if i < n and tokens[i].kind == "sign":
        sign, i = tokens[i].value, i + 1
    comps: list[tuple[_Tok, _Tok | None]] = []
    while i < n and tokens[i].kind == "num":
        num, unit = tokens[i], None
        i += 1
        if i < n and tokens[i].kind == "unit":
            unit, i = tokens[i], i + 1
        comps.append((num, unit))
    if i < n and tokens[i].kind == "hemi":
        h2, i = tokens[i].value, i + 1
    if i < n:
        raise _unreadable(tokens[i].text, f"it is out of place in '{text}'", tokens[i].pos)
    if not comps:
        raise _unreadable(text, "there is no number")
    if len(comps) > 3:
        raise _unreadable(text, "more than three numbers (degrees, minutes, seconds) in one coordinate")
    if h1 and h2:
        raise _unreadable(text, "two hemisphere letters on one number")
    if sign and (h1 or h2):
        raise _unreadable(text, "write either a minus sign or a hemisphere letter (S, W), not both")
    for k, (num, unit_tok) in enumerate(comps):
        last = k == len(comps) - 1
        unit_name = unit_tok.value if unit_tok else None
        if unit_name == "colon" and last:
            raise _unreadable(num.text + ":", "a ':' with no number after it", num.pos)
        if unit_tok is not None and unit_name != "colon" and unit_name != ORDER[k]:
            raise _unreadable(
                num.text + unit_tok.text,
                f"expected {ORDER[k].replace('deg', 'degrees').replace('min', 'minutes')} here, in the "
                "order degrees, minutes, seconds",
                num.pos,
            )
        if not last and "." in num.value:
            raise _unreadable(num.text, "only the last of degrees, minutes, seconds may have decimals", num.pos)
    parts = tuple(float(num.value) for num, _ in comps)
    if any(p >= 60 for p in parts[1:]):
        raise CoordinateError(
            f"Minutes and seconds must be below 60 ('{text}').", code="invalid_dms", details=[{"part": text}]
        )
    value = from_parts(*parts)
    hemi = h1 or h2
    if sign == "-" or hemi in ("S", "W"):
        value = -value
    return _Coordinate(value, hemi, ("decimal", "ddm", "dms")[len(parts) - 1], parts)


def from_parts(deg: float, minutes: float = 0.0, seconds: float = 0.0) -> float:
    """Degrees from degrees, minutes and seconds (all positive): the one formula the parser uses."""
    return deg + minutes / 60 + seconds / 3600


def _parse_degrees(text: str) -> tuple[float, float, str]:
    tokens = _tokens(text)
    if not tokens:
        raise CoordinateError(FORMAT_HELP, code="unreadable_coordinates")
    a, b = (_coordinate(h, text) for h in _halves(tokens, text))
    if a.notation != b.notation:
        names = {k: v[1] for k, v in NOTATION_NAMES.items()}
        raise _unreadable(
            text,
            f"the first number is written in {names[a.notation]} and the second in "
            f"{names[b.notation]}; write both the same way",
        )
    lat_first = {a.hemi, b.hemi} <= {None} or a.hemi in ("N", "S") or b.hemi in ("E", "W")
    if a.hemi and b.hemi and (a.hemi in "NS") == (b.hemi in "NS"):
        raise _unreadable(
            text,
            f"both numbers have {'N/S' if a.hemi in 'NS' else 'E/W'} letters; one latitude "
            "(N or S) and one longitude (E or W)",
        )
    lat, lon = (a, b) if lat_first else (b, a)
    return lat.value, lon.value, a.notation


def format_degrees(
    lat: float,
    lon: float,
    notation: str = "decimal",
    *,
    style: str = "symbols",
    hemisphere: str = "after",
    separator: str = ", ",
    decimals: int | None = None,
) -> str:
    """Write a position in a notation the parser reads back exactly (its canonical writer).

    notation: decimal (6 decimals), ddm (minutes with 4 decimals), dms (seconds with 2 decimals);
    style: symbols (° ' ") or letters (d m s) or colons (18:08:42.50), or plain (numbers only);
    hemisphere: after (18.1N), before (N18.1) or sign (-18.1 for S/W).
    """
    decimals = {"decimal": 6, "ddm": 4, "dms": 2}[notation] if decimals is None else decimals
    marks = {"symbols": ("°", "'", '"'), "letters": ("d", "m", "s"), "colons": (":", ":", ""), "plain": (" ", " ", "")}[
        style
    ]

    def one(value: float, hemis: str) -> str:
        letter = hemis[0] if value >= 0 else hemis[1]
        a = abs(value)
        if notation == "decimal":
            body = f"{a:.{decimals}f}" + ("°" if style == "symbols" else "")
        else:
            scale = 10**decimals * (60 if notation == "ddm" else 3600)
            units = round(a * scale)
            per_deg = scale
            deg, rest = divmod(units, per_deg)
            if notation == "ddm":
                body = f"{deg}{marks[0]}{rest / 10**decimals:0{3 + decimals if decimals else 2}.{decimals}f}"
                body += marks[1] if style in ("symbols", "letters") else ""
            else:
                minutes, sec = divmod(rest, 60 * 10**decimals)
                body = (
                    f"{deg}{marks[0]}{minutes:02d}{marks[1]}"
                    f"{sec / 10**decimals:0{3 + decimals if decimals else 2}.{decimals}f}{marks[2]}"
                )
            body = body.replace("  ", " ").strip()
        if hemisphere == "sign":
            return ("-" if value < 0 else "") + body
        return f"{letter}{body}" if hemisphere == "before" else f"{body}{' ' if style == 'plain' else ''}{letter}"

    return one(lat, "NS") + separator + one(lon, "EW")


# -- UTM ------------------------------------------------------------------------------------------
_UTM = re.compile(
    r"^\s*(?:(?P<zone>\d{1,2})\s*(?P<band>[C-HJ-NP-X])?\s+)?"
    r"(?:E\s*)?(?P<e>\d{5,7}(?:\.\d+)?)\s*(?:mE|E)?\s*[, ]\s*(?:N\s*)?(?P<n>\d{6,8}(?:\.\d+)?)\s*(?:mN|N)?\s*$",
    re.IGNORECASE,
)
_LONG_INTEGER = re.compile(r"(?<![0-9.,])[0-9]{5,}")  # degrees never have five integer digits; UTM metres do
UTM_HELP = "Write UTM as zone and band, easting, northing in metres: 47Q 537172 1958350."


def band_letter(lat: float) -> str:
    """The UTM latitude band of a latitude (C..X, 8 degrees each from 80 S; X is 12 degrees)."""
    return BAND_LETTERS[min(max(int((lat + 80) // 8), 0), len(BAND_LETTERS) - 1)]


def format_utm(
    zone: int, easting: float, northing: float, band: str | None = None, *, decimals: int = 0, style: str = "plain"
) -> str:
    """Write a UTM position the parser reads back: '47Q 537172 1958350' (style 'labels': 'E537172 N1958350')."""
    e, n = f"{easting:.{decimals}f}", f"{northing:.{decimals}f}"
    grid = f"E{e} N{n}" if style == "labels" else f"{e}mE {n}mN" if style == "units" else f"{e} {n}"
    return f"{zone}{band or ''} {grid}"


def _parse_utm(m: re.Match, datum: str, default_zone: int, notes: list[str]) -> tuple[float, float, str]:
    zone = int(m["zone"]) if m["zone"] else None
    band = (m["band"] or "").upper() or None
    if zone is None:
        zone = default_zone
        notes.append(f"No UTM zone was given: zone {zone} assumed.")
    if not 1 <= zone <= 60:
        raise CoordinateError(
            f"UTM zone {zone} does not exist (zones are 1-60; Thailand is in 47 and 48).", code="invalid_utm_zone"
        )
    easting, northing = float(m["e"]), float(m["n"])
    if not 100_000 <= easting <= 900_000:
        raise CoordinateError(
            f"UTM easting {easting:.0f} is out of range (100000-900000); "
            "is a digit missing, or are easting and northing swapped?",
            code="invalid_utm",
        )
    south = band == "S" if band in ("N", "S") else (band is not None and band < "N")
    epsg = UTM_EPSG.get((datum, zone)) or (32700 + zone if south else 32600 + zone)
    if datum != "WGS84" and (datum, zone) not in UTM_EPSG:
        raise CoordinateError("Indian 1975 UTM is only defined here for zones 47 and 48.", code="invalid_utm_zone")
    if south and epsg < 32700:
        epsg = 32700 + zone
    lon, lat = _to_wgs84(epsg).transform(easting, northing)
    if band and band not in ("N", "S"):
        lo = -80 + 8 * BAND_LETTERS.index(band)
        if not lo - 0.5 <= lat <= lo + 8.5:
            raise CoordinateError(
                f"UTM band {band} covers latitudes {lo}° to {lo + 8}°, but northing {northing:.0f} is at {lat:.2f}°. "
                "Check the band letter and the northing (is a digit missing?).",
                code="utm_band_mismatch",
            )
    return lat, lon, f"EPSG:{epsg}"


@dataclass
class Reading:
    """What the text says, before any datum conversion or country check."""

    lat: float
    lon: float
    notation: str  # decimal | ddm | dms | utm
    utm: re.Match | None = None


def read_text(text: str) -> Reading:
    """The grammar alone: decimal degrees, DDM, DMS or UTM (the UTM numbers are not yet converted)."""
    raw = (text or "").strip().translate(_THAI_DIGITS)
    check_numbers(raw)
    m = _UTM.match(raw)
    if m:
        return Reading(math.nan, math.nan, "utm", m)
    if _LONG_INTEGER.search(raw):
        raise _unreadable(raw, "it looks like UTM metres but not in a form I read. " + UTM_HELP.rstrip("."))
    lat, lon, notation = _parse_degrees(raw)
    return Reading(lat, lon, notation)


def parse_point(text: str, *, datum: str | None = None, default_zone: int = 47) -> ParsedPoint:
    """Read a position typed in any supported format and return it in WGS 84.

    Parameters
    ----------
    text : "18.1452, 100.1417", "18°08'42.5\\"N 100°08'30\\"E", "18°08.708'N 100°08.5'E", "47Q 537172 1958350", ...
    datum : WGS84 (default) or Indian1975 (EPSG:4240, UTM EPSG:24047/24048).
    default_zone : UTM zone assumed when none is written (the deployment's zone).

    Raises
    ------
    CoordinateError
        with a message that says what is wrong and, where possible, what was probably meant.
    """
    raw = (text or "").strip()
    if not raw:
        raise CoordinateError("The position is empty.", code="missing_coordinates")
    if len(raw) > 120:
        raise CoordinateError("The position text is too long.", code="unreadable_coordinates")
    datum = normalise_datum(datum)
    notes: list[str] = []
    reading = read_text(raw)
    m = reading.utm
    if m:
        lat, lon, source = _parse_utm(m, datum, default_zone, notes)
        zone = int(m["zone"] or default_zone)
        decimals = len(m["e"].partition(".")[2])
        read_as = format_utm(
            zone, float(m["e"]), float(m["n"]), (m["band"] or "").upper() or band_letter(lat), decimals=decimals
        )
    else:
        lat, lon = reading.lat, reading.lon
        source = f"EPSG:{GEOGRAPHIC[datum]}"
        check_lat_lon(lat, lon)
        read_as = format_degrees(lat, lon, reading.notation)
        if datum != "WGS84":
            lon, lat = _to_wgs84(GEOGRAPHIC[datum]).transform(lon, lat)
    point = ParsedPoint(
        lon=lon,
        lat=lat,
        text=raw,
        format=reading.notation,
        datum=datum,
        source_crs=source,
        notes=notes,
        utm=(int(m["zone"] or default_zone), float(m["e"]), float(m["n"])) if m else None,
        read_as=read_as,
    )
    check_in_country(point, utm_zone=int(m["zone"]) if m and m["zone"] else None, default_zone=default_zone)
    return point


def check_lat_lon(lat: float, lon: float) -> None:
    """Impossible values, with the swap suggested when swapping makes them possible."""
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise CoordinateError("The position must be numbers.", code="invalid_coordinates")
    if abs(lat) > 90 or abs(lon) > 180:
        if abs(lon) <= 90 and abs(lat) <= 180:
            raise CoordinateError(
                f"Latitude {lat:g} is not possible; latitude and longitude look swapped. "
                f"Did you mean latitude {lon:g}, longitude {lat:g}?",
                code="swapped_coordinates",
                details=[{"suggestion": {"lat": lon, "lon": lat}}],
            )
        raise CoordinateError(
            f"Latitude {lat:g} / longitude {lon:g} is not a position on Earth.", code="invalid_coordinates"
        )


def check_in_country(point: ParsedPoint, *, utm_zone: int | None = None, default_zone: int = 47) -> None:
    """Inside Thailand's outline, or an error that says what was probably meant."""
    if in_country(point.lon, point.lat):
        return
    # Swapped, but both values plausible as coordinates?
    if in_country(point.lat, point.lon):
        raise CoordinateError(
            f"This position ({point.lat:.5f}, {point.lon:.5f}) is outside Thailand; latitude and longitude look "
            f"swapped. Did you mean latitude {point.lon:.5f}, longitude {point.lat:.5f}?",
            code="swapped_coordinates",
            details=[{"suggestion": {"lat": point.lon, "lon": point.lat}}],
        )
    if point.utm is None:
        for lat, lon in ((-point.lat, point.lon), (point.lat, -point.lon), (-point.lat, -point.lon)):
            if in_country(lon, lat):
                raise CoordinateError(
                    f"This position ({point.lat:.5f}, {point.lon:.5f}) is outside Thailand; is a minus sign or "
                    f"hemisphere letter wrong? Did you mean latitude {lat:.5f}, longitude {lon:.5f}?",
                    code="wrong_sign",
                    details=[{"suggestion": {"lat": lat, "lon": lon}}],
                )
    if point.utm is not None and point.lat > 0:
        written = utm_zone or default_zone
        other = 48 if written == 47 else 47
        _, e, n = point.utm
        lon, lat = _to_wgs84(UTM_EPSG[(point.datum, other)]).transform(e, n)
        if in_country(lon, lat):
            raise CoordinateError(
                f"With UTM zone {written} this position (latitude {point.lat:.5f}, longitude {point.lon:.5f}) is "
                f"outside Thailand; with zone {other} it is at latitude {lat:.5f}, longitude {lon:.5f}, in "
                f"Thailand. Is the zone right? Did you mean {format_utm(other, e, n, band_letter(lat))}?",
                code="wrong_utm_zone",
                details=[
                    {
                        "suggestion": {
                            "lat": lat,
                            "lon": lon,
                            "zone": other,
                            "text": format_utm(other, e, n, band_letter(lat)),
                        }
                    }
                ],
            )
    raise CoordinateError(
        f"This position (latitude {point.lat:.5f}, longitude {point.lon:.5f}) is outside Thailand. "
        "Check the numbers and the format.",
        code="outside_thailand",
    )


def alternative_zone(point: ParsedPoint) -> tuple[float, float, int] | None:
    """Where a UTM position would be with the other of Thailand's zones (47 <-> 48): lon, lat, zone."""
    if point.utm is None or point.utm[0] not in (47, 48) or point.lat < 0:
        return None
    zone, easting, northing = point.utm
    other = 95 - zone
    lon, lat = _to_wgs84(UTM_EPSG[(point.datum, other)]).transform(easting, northing)
    return lon, lat, other


def point_from_lat_lon(lat: float, lon: float, *, datum: str | None = None) -> ParsedPoint:
    """A position given as two numbers (a form's or a device's latitude and longitude fields)."""
    datum = normalise_datum(datum)
    check_lat_lon(lat, lon)
    text = f"{lat}, {lon}"
    x, y = (lon, lat) if datum == "WGS84" else _to_wgs84(GEOGRAPHIC[datum]).transform(lon, lat)
    point = ParsedPoint(
        lon=x,
        lat=y,
        text=text,
        format="decimal",
        datum=datum,
        source_crs=f"EPSG:{GEOGRAPHIC[datum]}",
        read_as=format_degrees(lat, lon, "decimal"),
    )
    check_in_country(point)
    return point
