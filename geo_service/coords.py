"""Coordinates as field officers write them: decimal degrees, DMS, UTM, on WGS 84 or Indian 1975.

Every conversion goes through pyproj. Mistakes that happen in the field are caught with a message that
says what to fix: latitude and longitude swapped ("did you mean ...?"), an impossible value, a UTM band
that does not match the northing, a point outside Thailand (with the other UTM zone tried as a hint).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache

from pyproj import CRS, Transformer

from geo_service.errors import InvalidInput
from geo_service.settings import THAILAND_BBOX

DATUMS = {"WGS84": "WGS 84", "INDIAN1975": "Indian 1975"}
# Geographic CRS of each datum, and its UTM zones 47 and 48 (Thailand lies in these two).
GEOGRAPHIC = {"WGS84": 4326, "INDIAN1975": 4240}
UTM_EPSG = {("WGS84", 47): 32647, ("WGS84", 48): 32648, ("INDIAN1975", 47): 24047, ("INDIAN1975", 48): 24048}
BAND_LETTERS = "CDEFGHJKLMNPQRSTUVWX"  # 8 degrees each from 80 S; no I or O
FORMAT_HELP = ("Write the position as two numbers, latitude then longitude (18.1452, 100.1417), as "
               "degrees-minutes-seconds (18°08'42\"N 100°08'30\"E) or as UTM (47Q 537172 1958350).")


class CoordinateError(InvalidInput):
    code = "invalid_coordinates"


@dataclass
class ParsedPoint:
    lon: float
    lat: float
    text: str
    format: str                # decimal | dms | utm
    datum: str                 # WGS84 | INDIAN1975
    source_crs: str
    notes: list[str] = field(default_factory=list)
    utm: tuple[int, float, float] | None = None  # zone, easting, northing as written

    def as_dict(self) -> dict:
        return {"lon": round(self.lon, 7), "lat": round(self.lat, 7), "text": self.text, "format": self.format,
                "datum": self.datum, "source_crs": self.source_crs, "notes": self.notes}


@lru_cache(maxsize=32)
def _to_wgs84(epsg: int) -> Transformer:
    return Transformer.from_crs(CRS.from_epsg(epsg), CRS.from_epsg(4326), always_xy=True)


def normalise_datum(datum: str | None) -> str:
    key = re.sub(r"[\s_\-]", "", (datum or "WGS84")).upper()
    key = {"WGS1984": "WGS84", "EPSG4326": "WGS84", "INDIAN75": "INDIAN1975", "EPSG4240": "INDIAN1975"}.get(key, key)
    if key not in DATUMS:
        raise CoordinateError("Unknown datum: use WGS84 (GPS, phones) or Indian1975 (old RTSD 1:50,000 maps).",
                              code="unknown_datum")
    return key


def in_thailand(lon: float, lat: float, bbox=THAILAND_BBOX) -> bool:
    minx, miny, maxx, maxy = bbox
    return minx <= lon <= maxx and miny <= lat <= maxy


# -- decimal degrees and DMS ------------------------------------------------------------------------
_NUM = r"[-+]?\d+(?:[.,]\d+)?"
# Hemisphere letters are capitals (N S E W); unit letters lower case (d m s), so "s" is never "south".
_DMS_PART = re.compile(
    r"""(?P<h1>[NSEW])?\s*
        (?P<deg>[-+]?\d+(?:\.\d+)?)\s*(?:°|º|˚|deg|d|:|\s)?\s*
        (?:(?P<min>\d+(?:\.\d+)?)\s*(?:'|′|’|min|m|:|\s)?\s*)?
        (?:(?P<sec>\d+(?:\.\d+)?)\s*(?:"|″|”|''|′′|sec|s)?\s*)?
        (?P<h2>[NSEW])?""",
    re.VERBOSE,
)


def _dms_value(m: re.Match) -> tuple[float, str | None]:
    deg = float(m["deg"])
    minutes = float(m["min"] or 0)
    seconds = float(m["sec"] or 0)
    if minutes >= 60 or seconds >= 60:
        raise CoordinateError("Minutes and seconds must be below 60.", code="invalid_dms")
    value = abs(deg) + minutes / 60 + seconds / 3600
    hemi = (m["h1"] or m["h2"] or "").upper() or None
    if deg < 0 or hemi in ("S", "W"):
        value = -value
    return value, hemi


def _split_pair(text: str) -> list[str]:
    """Two coordinate halves: split on a comma/semicolon, or after the first hemisphere letter."""
    parts = [p.strip() for p in re.split(r"[;,]|\s{2,}|\t", text) if p.strip()]
    if len(parts) == 2:
        return parts
    m = re.match(r"^\s*(.*?[NS])\s*(\S.*[EW])\s*$", text)
    if m:
        return [m[1], m[2]]
    m = re.match(r"^\s*(.*?[EW])\s*(\S.*[NS])\s*$", text)
    if m:
        return [m[1], m[2]]
    m = re.match(r"^\s*([NSEW].*?)\s+([NSEW].*)$", text)
    if m:
        return [m[1], m[2]]
    tokens = text.split()
    if len(tokens) == 2:
        return tokens
    if len(tokens) % 2 == 0 and len(tokens) >= 4:
        half = len(tokens) // 2
        return [" ".join(tokens[:half]), " ".join(tokens[half:])]
    return parts


def _parse_degrees(text: str) -> tuple[float, float, str]:
    halves = _split_pair(text.replace(",", " , ") if text.count(",") == 1 else text)
    halves = [h.strip(" ,") for h in halves if h.strip(" ,")]
    if len(halves) != 2:
        raise CoordinateError(FORMAT_HELP, code="unreadable_coordinates")
    values, hemis, fmt = [], [], "decimal"
    for h in halves:
        clean = h.replace(",", ".") if re.fullmatch(r"\s*[NSEW]?\s*[-+]?\d+,\d+\s*[NSEW]?\s*", h, re.I) else h
        m = _DMS_PART.fullmatch(clean.strip())
        if not m:
            try:
                v = float(clean.strip())
            except ValueError:
                raise CoordinateError(f"'{h}' is not a coordinate I can read. {FORMAT_HELP}",
                                      code="unreadable_coordinates") from None
            values.append(v)
            hemis.append(None)
            continue
        if m["min"] or m["sec"] or re.search(r"[°º˚'′\"″]|\bd\b", clean):
            fmt = "dms"
        v, hemi = _dms_value(m)
        values.append(v)
        hemis.append(hemi)
    # Hemisphere letters decide which value is which; without them, latitude comes first.
    if hemis[0] in ("E", "W") or hemis[1] in ("N", "S"):
        values.reverse()
    lat, lon = values
    return lat, lon, fmt


# -- UTM ------------------------------------------------------------------------------------------
_UTM = re.compile(
    r"^\s*(?:(?P<zone>\d{1,2})\s*(?P<band>[C-HJ-NP-X])?\s+)?"
    r"(?:E\s*)?(?P<e>\d{5,7}(?:\.\d+)?)\s*(?:mE|E)?\s*[, ]\s*(?:N\s*)?(?P<n>\d{6,8}(?:\.\d+)?)\s*(?:mN|N)?\s*$",
    re.IGNORECASE,
)


def _parse_utm(m: re.Match, datum: str, default_zone: int, notes: list[str]) -> tuple[float, float, str]:
    zone = int(m["zone"]) if m["zone"] else None
    band = (m["band"] or "").upper() or None
    if zone is None:
        zone = default_zone
        notes.append(f"No UTM zone was given: zone {zone} assumed.")
    if not 1 <= zone <= 60:
        raise CoordinateError(f"UTM zone {zone} does not exist (zones are 1-60; Thailand is in 47 and 48).",
                              code="invalid_utm_zone")
    easting, northing = float(m["e"]), float(m["n"])
    if not 100_000 <= easting <= 900_000:
        raise CoordinateError(f"UTM easting {easting:.0f} is out of range (100000-900000); "
                              "is a digit missing, or are easting and northing swapped?", code="invalid_utm")
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
                "Check the band letter and the northing (is a digit missing?).", code="utm_band_mismatch")
    return lat, lon, f"EPSG:{epsg}"


def parse_point(text: str, *, datum: str | None = None, default_zone: int = 47,
                country_bbox=THAILAND_BBOX) -> ParsedPoint:
    """Read a position typed in any supported format and return it in WGS 84.

    Parameters
    ----------
    text : "18.1452, 100.1417", "18°08'42.5\\"N 100°08'30\\"E", "47Q 537172 1958350", ...
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
    m = _UTM.match(raw)
    if m:
        lat, lon, source = _parse_utm(m, datum, default_zone, notes)
        fmt = "utm"
    else:
        lat, lon, fmt = _parse_degrees(raw)
        source = f"EPSG:{GEOGRAPHIC[datum]}"
        check_lat_lon(lat, lon)
        if datum != "WGS84":
            lon, lat = _to_wgs84(GEOGRAPHIC[datum]).transform(lon, lat)
    point = ParsedPoint(lon=lon, lat=lat, text=raw, format=fmt, datum=datum, source_crs=source, notes=notes,
                        utm=(int(m["zone"] or default_zone), float(m["e"]), float(m["n"])) if m else None)
    check_in_country(point, country_bbox, utm_zone=int(m["zone"]) if m and m["zone"] else None,
                     utm_match=m, default_zone=default_zone)
    return point


def check_lat_lon(lat: float, lon: float) -> None:
    """Impossible values, with the swap suggested when swapping makes them possible."""
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise CoordinateError("The position must be numbers.", code="invalid_coordinates")
    if abs(lat) > 90 or abs(lon) > 180:
        if abs(lon) <= 90 and abs(lat) <= 180:
            raise CoordinateError(
                f"Latitude {lat:g} is not possible; latitude and longitude look swapped. "
                f"Did you mean latitude {lon:g}, longitude {lat:g}?", code="swapped_coordinates",
                details=[{"suggestion": {"lat": lon, "lon": lat}}])
        raise CoordinateError(f"Latitude {lat:g} / longitude {lon:g} is not a position on Earth.",
                              code="invalid_coordinates")


def check_in_country(point: ParsedPoint, country_bbox=THAILAND_BBOX, *, utm_zone: int | None = None,
                     utm_match=None, default_zone: int = 47) -> None:
    if in_thailand(point.lon, point.lat, country_bbox):
        return
    # Swapped, but both values plausible as coordinates?
    if in_thailand(point.lat, point.lon, country_bbox):
        raise CoordinateError(
            f"This position ({point.lat:.5f}, {point.lon:.5f}) is outside Thailand; latitude and longitude look "
            f"swapped. Did you mean latitude {point.lon:.5f}, longitude {point.lat:.5f}?",
            code="swapped_coordinates", details=[{"suggestion": {"lat": point.lon, "lon": point.lat}}])
    for lat, lon in ((-point.lat, point.lon), (point.lat, -point.lon), (-point.lat, -point.lon)):
        if in_thailand(lon, lat, country_bbox):
            raise CoordinateError(
                f"This position ({point.lat:.5f}, {point.lon:.5f}) is outside Thailand; is a minus sign or "
                f"hemisphere letter wrong? Did you mean latitude {lat:.5f}, longitude {lon:.5f}?",
                code="wrong_sign", details=[{"suggestion": {"lat": lat, "lon": lon}}])
    if utm_match is not None and point.lat > 0:
        other = 48 if (utm_zone or default_zone) == 47 else 47
        e, n = float(utm_match["e"]), float(utm_match["n"])
        epsg = UTM_EPSG.get((point.datum, other), 32600 + other)
        lon, lat = _to_wgs84(epsg).transform(e, n)
        if in_thailand(lon, lat, country_bbox):
            raise CoordinateError(
                f"With UTM zone {utm_zone or default_zone} this position is outside Thailand; with zone {other} it "
                f"is at latitude {lat:.5f}, longitude {lon:.5f}. Is the zone right?", code="wrong_utm_zone",
                details=[{"suggestion": {"lat": lat, "lon": lon, "zone": other}}])
    raise CoordinateError(
        f"This position (latitude {point.lat:.5f}, longitude {point.lon:.5f}) is outside Thailand. "
        "Check the numbers and the format.", code="outside_thailand")


def alternative_zone(point: ParsedPoint) -> tuple[float, float, int] | None:
    """Where a UTM position would be with the other of Thailand's zones (47 <-> 48): lon, lat, zone."""
    if point.utm is None or point.utm[0] not in (47, 48) or point.lat < 0:
        return None
    zone, easting, northing = point.utm
    other = 95 - zone
    lon, lat = _to_wgs84(UTM_EPSG[(point.datum, other)]).transform(easting, northing)
    return lon, lat, other


def point_from_lat_lon(lat: float, lon: float, *, datum: str | None = None, country_bbox=THAILAND_BBOX) -> ParsedPoint:
    """A position given as two numbers (a form's or a device's latitude and longitude fields)."""
    datum = normalise_datum(datum)
    check_lat_lon(lat, lon)
    text = f"{lat}, {lon}"
    x, y = (lon, lat) if datum == "WGS84" else _to_wgs84(GEOGRAPHIC[datum]).transform(lon, lat)
    point = ParsedPoint(lon=x, lat=y, text=text, format="decimal", datum=datum,
                        source_crs=f"EPSG:{GEOGRAPHIC[datum]}")
    check_in_country(point, country_bbox)
    return point
