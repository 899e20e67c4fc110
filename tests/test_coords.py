"""The position grammar on its own (no database): strict numbers, every notation read back exactly, the
country outline and the other UTM zone. Property-based with hypothesis: parse(format(p)) == p."""

from __future__ import annotations

import json
import re

import pytest
import shapely
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from geo_service import coords
from geo_service.coords import CoordinateError, format_degrees, format_utm, from_parts, parse_point, read_text
from geo_service.layers.manifest import DEFAULT_LAYERS_DIR

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- the inputs of issue 11, read as other places before ------------------------------------------
@pytest.mark.parametrize(
    "text, part, reason",
    [
        ("18.1452.5, 100.1417", "18.1452.5", "two decimal points"),  # was read as 18.18667 (4.6 km away)
        ("17.98666, 100.13609.1", "100.13609.1", "two decimal points"),  # was read as 100.28767 (16 km away)
        ("1_8.1452, 100.1417", "1_8.1452", "underscore"),  # was accepted
        ("18.1452, 1_00.1417", "1_00.1417", "underscore"),
        ("18.1452,, 100.1417", ",", "one separator"),
        ("18.1452, 100.1417,", ",", "one separator"),
        ("18.1452; 100.1417;", ";", "one separator"),
        (", 18.1452 100.1417", ",", "nothing on one side"),
        ("18., 100.1417", "18.", "digits on both sides"),
        ("18.1452, .1417", ".1417", "digits on both sides"),
        ("18.1452 . 100.1417", ".", "digits on both sides"),
        ("18,1452,5 100,1417", "18,1452,5", "two decimal commas"),  # decimal commas, one too many
        ("537,172 1,958,350", "1,958,350", "two decimal commas"),  # thousands separators are not read
        ("18.1452 / 100.1417", "/", "not part of a coordinate"),
        ("Lat 18.1452 Lon 100.1417", "Lat", "not a unit"),
        ("18.1452 100.1417 5", "18.1452 100.1417 5", "3 numbers"),
        ("47Q 537_172 1958350", "537_172", "underscore"),
        ("47Q 537172.5.5 1958350", "537172.5.5", "two decimal points"),
        ("47Q 537172 1958350 7", "47Q 537172 1958350 7", "UTM"),
        ("18°08'42.5\"N 100°08.5'E", "18°08'42.5\"N 100°08.5'E", "the same way"),
        ("18.5°30'N 100°08'E", "18.5", "only the last"),
        ("18°08'42.5\"N 100°08'30\"N", "18°08'42.5\"N 100°08'30\"N", "one latitude"),
        ("-18°08'42.5\"N 100°08'30\"E", "-18°08'42.5\"N", "not both"),
    ],
)
def test_malformed_positions_are_refused_naming_the_part(text, part, reason):
    with pytest.raises(CoordinateError) as e:
        parse_point(text)
    err = e.value
    assert err.code == "unreadable_coordinates", err.message
    assert err.details[0]["part"] == part and f"'{part}'" in err.message and reason in err.message, err.message


def test_well_formed_neighbours_of_those_inputs_still_read():
    assert (parse_point("18.1452, 100.1417").lat, parse_point("18.1452, 100.1417").lon) == (18.1452, 100.1417)
    p = parse_point("17.98666, 100.13609")
    assert (p.lat, p.lon, p.format) == (17.98666, 100.13609, "decimal")
    assert parse_point("18,1452 100,1417").lat == 18.1452  # decimal commas
    assert parse_point("18,14523 100,14171").lon == 100.14171  # five decimals are not UTM metres
    assert parse_point("๑๘.๑๔๕๒, ๑๐๐.๑๔๑๗").lon == 100.1417  # Thai digits


@pytest.mark.parametrize(
    "text, notation, read_as",
    [
        ("18.1452, 100.1417", "decimal", "18.145200°N, 100.141700°E"),
        ("N18.1452 E100.1417", "decimal", "18.145200°N, 100.141700°E"),
        ("E100.1417 N18.1452", "decimal", "18.145200°N, 100.141700°E"),
        ("18°08'42.5\"N 100°08'30\"E", "dms", "18°08'42.50\"N, 100°08'30.00\"E"),
        ("18 08 42.5 N 100 08 30 E", "dms", "18°08'42.50\"N, 100°08'30.00\"E"),
        ("18d08m42.5s N 100d08m30s E", "dms", "18°08'42.50\"N, 100°08'30.00\"E"),
        ("18:08:42.5N 100:08:30E", "dms", "18°08'42.50\"N, 100°08'30.00\"E"),
        ("18°08.708'N 100°08.5'E", "ddm", "18°08.7080'N, 100°08.5000'E"),
        ("18 08.708, 100 08.5", "ddm", "18°08.7080'N, 100°08.5000'E"),
        ("47Q 537172 1958350", "utm", "47Q 537172 1958350"),
        ("537172 1958350", "utm", "47Q 537172 1958350"),
    ],
)
def test_the_notation_read_is_reported(text, notation, read_as):
    p = parse_point(text)
    d = p.as_dict()
    assert d["format"] == notation and d["read_as"] == read_as
    assert d["format_name"]["en"] and d["format_name"]["th"]


def test_dms_and_ddm_values():
    dms = parse_point("18°08'42.5\"N 100°08'30\"E")
    assert dms.lat == pytest.approx(18 + 8 / 60 + 42.5 / 3600, abs=1e-12)
    assert dms.lon == pytest.approx(100 + 8 / 60 + 30 / 3600, abs=1e-12)
    ddm = parse_point("18°08.708'N 100°08.5'E")
    assert ddm.lat == pytest.approx(18 + 8.708 / 60, abs=1e-12)
    with pytest.raises(CoordinateError) as e:
        parse_point("18°61'N 100°08'E")
    assert e.value.code == "invalid_dms"


# --- parse(format(p)) == p, for every notation ---------------------------------------------------
STYLES = st.sampled_from(["symbols", "letters", "colons", "plain"])
HEMISPHERE = st.sampled_from(["after", "before", "sign"])
SEPARATOR = st.sampled_from([", ", " ", "; ", ",", "  "])


@st.composite
def positions(draw, notation):
    """(lat, lon) exactly representable in the notation: what an officer can write."""

    def one(max_deg):
        if notation == "decimal":
            return draw(st.integers(0, max_deg * 10**6)) / 10**6
        deg = draw(st.integers(0, max_deg - 1))
        if notation == "ddm":
            return from_parts(deg, draw(st.integers(0, 60 * 10**4 - 1)) / 10**4)
        return from_parts(deg, draw(st.integers(0, 59)), draw(st.integers(0, 60 * 100 - 1)) / 100)

    sign = lambda: draw(st.sampled_from([1, -1]))  # noqa: E731
    return sign() * one(90), sign() * one(180)


def _roundtrip(notation, p, style, hemisphere, separator):
    lat, lon = p
    text = format_degrees(lat, lon, notation, style=style, hemisphere=hemisphere, separator=separator)
    r = read_text(text)
    assert (r.lat, r.lon, r.notation) == (lat, lon, notation), text


@PROPERTY
@given(p=positions("decimal"), style=STYLES, hemisphere=HEMISPHERE, separator=SEPARATOR)
@example(p=(18.1452, 100.1417), style="plain", hemisphere="sign", separator=", ")
def test_decimal_degrees_roundtrip(p, style, hemisphere, separator):
    _roundtrip("decimal", p, style, hemisphere, separator)


@PROPERTY
@given(p=positions("decimal"), hemisphere=HEMISPHERE, separator=st.sampled_from([" ", "; ", "  "]))
def test_decimal_commas_roundtrip(p, hemisphere, separator):
    text = format_degrees(*p, "decimal", style="plain", hemisphere=hemisphere, separator=separator).replace(".", ",")
    r = read_text(text)
    assert (r.lat, r.lon, r.notation) == (*p, "decimal"), text


@PROPERTY
@given(p=positions("ddm"), style=STYLES, hemisphere=HEMISPHERE, separator=SEPARATOR)
def test_degrees_decimal_minutes_roundtrip(p, style, hemisphere, separator):
    _roundtrip("ddm", p, style, hemisphere, separator)


@PROPERTY
@given(p=positions("dms"), style=STYLES, hemisphere=HEMISPHERE, separator=SEPARATOR)
@example(p=(from_parts(18, 8, 42.5), from_parts(100, 8, 30)), style="symbols", hemisphere="after", separator=" ")
def test_degrees_minutes_seconds_roundtrip(p, style, hemisphere, separator):
    _roundtrip("dms", p, style, hemisphere, separator)


@PROPERTY
@given(
    zone=st.integers(1, 60),
    band=st.sampled_from(coords.BAND_LETTERS[10:]),
    e=st.integers(100_000, 899_999),
    n=st.integers(100_000, 9_999_999),
    decimals=st.sampled_from([0, 1, 2]),
    cm=st.integers(0, 99),
    style=st.sampled_from(["plain", "labels", "units"]),
)
def test_utm_text_roundtrip(zone, band, e, n, decimals, cm, style):
    """The UTM grammar: zone, band, easting and northing (to the centimetre) come back as written."""
    easting = float(f"{e}.{cm:02d}"[: len(str(e)) + 1 + decimals].rstrip("."))
    northing = float(n)
    text = format_utm(zone, easting, northing, band, decimals=decimals, style=style)
    r = read_text(text)
    assert r.notation == "utm" and r.utm is not None, text
    m = r.utm
    assert (int(m["zone"]), m["band"], float(m["e"]), float(m["n"])) == (zone, band, easting, northing), text


PHRAE = st.tuples(st.integers(17_690_000, 18_830_000), st.integers(99_370_000, 100_550_000))


@PROPERTY
@given(
    p=PHRAE,
    notation=st.sampled_from(["decimal", "ddm", "dms"]),
    style=STYLES,
    hemisphere=st.sampled_from(["after", "before"]),
    separator=SEPARATOR,
)
def test_positions_in_thailand_roundtrip_through_parse_point(p, notation, style, hemisphere, separator):
    """parse_point (grammar, datum, outline): its canonical read_as reads back to the same point."""
    text = format_degrees(p[0] / 10**6, p[1] / 10**6, notation, style=style, hemisphere=hemisphere, separator=separator)
    first = parse_point(text)
    again = parse_point(first.read_as)
    assert (again.lat, again.lon, again.format) == (first.lat, first.lon, notation)
    # Written to 1e-6 degree, 1e-4 minute or 1e-2 second: half of that is the most a value can move.
    tol = {"decimal": 1e-12, "ddm": 0.5e-4 / 60 + 1e-12, "dms": 0.5e-2 / 3600 + 1e-12}[notation]
    assert (first.lat, first.lon) == pytest.approx((p[0] / 10**6, p[1] / 10**6), abs=tol)


@PROPERTY
@given(zone=st.sampled_from([47, 48]), lon_off=st.integers(-250_000, 250_000), lat_m=st.integers(6_00, 20_40))
@pytest.mark.slow
def test_utm_positions_roundtrip_through_parse_point(zone, lon_off, lat_m):
    """Every whole-metre UTM position in Thailand: parse(format(zone, E, N)) gives back zone, E, N and
    the point pyproj computes for them."""
    lat = lat_m / 100
    lon = zone * 6 - 183 + lon_off / 10**5
    assume(coords.in_country(lon, lat))
    fwd = Transformer.from_crs(4326, 32600 + zone, always_xy=True)
    e, n = (round(v) for v in fwd.transform(lon, lat))
    text = format_utm(zone, e, n, coords.band_letter(lat))
    try:
        p = parse_point(text)
    except CoordinateError as err:  # a point so close to the line that its whole-metre rounding leaves Thailand
        assert err.code in ("outside_thailand", "wrong_utm_zone"), err.message
        return
    assert p.utm == (zone, e, n) and p.format == "utm" and p.read_as == text
    x, y = Transformer.from_crs(32600 + zone, 4326, always_xy=True).transform(e, n)
    assert (p.lon, p.lat) == pytest.approx((x, y), abs=1e-9)


@PROPERTY
@given(
    p=PHRAE,
    notation=st.sampled_from(["decimal", "ddm", "dms"]),
    which=st.integers(0, 5),
    slip=st.sampled_from([".5", "_", ".", ".1.2"]),
)
@pytest.mark.slow
def test_a_slip_in_any_number_is_refused_never_misread(p, notation, which, slip):
    """A second decimal point or an underscore in any number of a valid text is a 400 naming that number."""
    text = format_degrees(p[0] / 10**6, p[1] / 10**6, notation)
    numbers = list(re.finditer(r"[0-9]+(?:\.[0-9]+)?", text))
    m = numbers[which % len(numbers)]
    number = m[0]
    if slip == "_":
        bad = number[0] + "_" + number[1:] if len(number) > 1 else number + "_"
    elif slip == ".5" and "." not in number:
        bad = number + ".5.5"  # "18.5" alone would be a well-formed number
    else:
        bad = number + slip
    mutated = text[: m.start()] + bad + text[m.end() :]
    with pytest.raises(CoordinateError) as e:
        parse_point(mutated)
    assert e.value.code == "unreadable_coordinates" and e.value.details[0]["part"] == bad, (mutated, e.value.message)


# --- the country's outline and the other UTM zone -------------------------------------------------
def test_the_outline_is_bundled_with_its_licence():
    folder = DEFAULT_LAYERS_DIR / "country"
    fc = json.loads((folder / "thailand_naturalearth_10m.geojson").read_text(encoding="utf-8"))
    props = fc["features"][0]["properties"]
    assert props["iso_n3"] == "764" and "Natural Earth" in props["source"] and "public domain" in props["licence"]
    assert "public domain" in (folder / "README.md").read_text(encoding="utf-8").lower()
    geom = shapely.from_geojson(json.dumps(fc["features"][0]["geometry"]))
    assert geom.is_valid and 2_500 < shapely.get_num_coordinates(geom) < 10_000


@pytest.mark.parametrize(
    "lon, lat, inside",
    [
        (100.1417, 18.1452, True),  # Phrae
        (100.5018, 13.7563, True),  # Bangkok
        (98.3923, 7.8804, True),  # Phuket (an island)
        (104.8472, 15.2287, True),  # Ubon Ratchathani
        (105.3773, 17.7268, False),  # Laos: inside Thailand's bounding box
        (102.6331, 17.9757, False),  # Vientiane, across the Mekong from Nong Khai
        (104.9160, 11.5564, False),  # Phnom Penh
        (97.6, 16.5, False),  # Myanmar, west of Mae Sot
        (105.5, 20.5, False),  # Vietnam, the bounding box's corner
    ],
)
def test_in_country_follows_the_outline_not_the_box(lon, lat, inside):
    assert coords.in_thailand(lon, lat)  # all inside the old bounding box
    assert coords.in_country(lon, lat) is inside


@pytest.mark.parametrize(
    "text, zone, suggestion",
    [
        ("48Q 540000 1960000", 47, "47Q 540000 1960000"),  # a Phrae point written with zone 48 lands in Laos
        ("48Q 620000 2005000", 47, "47Q 620000 2005000"),  # ... or in Vietnam
        ("47P 296000 1686000", 48, "48P 296000 1686000"),  # an Ubon point written with zone 47 lands in Myanmar
    ],
)
def test_a_wrong_utm_zone_is_caught_by_the_outline_with_the_other_zone_suggested(text, zone, suggestion):
    with pytest.raises(CoordinateError) as e:
        parse_point(text)
    err = e.value
    assert err.code == "wrong_utm_zone", err.message
    s = err.details[0]["suggestion"]
    assert s["zone"] == zone and s["text"] == suggestion and suggestion in err.message
    again = parse_point(suggestion)
    assert (again.lat, again.lon) == pytest.approx((s["lat"], s["lon"]), abs=1e-9)
    assert coords.in_country(again.lon, again.lat)


def test_outside_thailand_and_swapped():
    with pytest.raises(CoordinateError) as e:
        parse_point("17.9757, 102.6331")  # Vientiane
    assert e.value.code == "outside_thailand"
    with pytest.raises(CoordinateError) as e:
        parse_point("100.1417 18.1452")
    assert e.value.code == "swapped_coordinates"
