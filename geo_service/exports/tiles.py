"""Mapbox Vector Tiles of the collections on the OGC WebMercatorQuad tile matrix set, made by PostGIS.

One SQL statement per tile: the collection's query (exports/collections.py) with the caller's filters
(exports/query.py: the same role rules and redaction as the features), the rows whose stored WGS 84 geometry
meets the tile (the GiST index on ``geom``), each geometry transformed to EPSG:3857 and cut to the tile by
``ST_AsMVTGeom`` (polygons first clipped in WGS 84 and simplified to the tile's grid), and the layer encoded
by ``ST_AsMVT``. A tile carries the collection's short list of tile properties and at most
``tile_max_features`` features; the statement also says how many there were, so a cut tile is flagged.
The idea follows developmentseed/tipg (``ST_AsMVT`` over a CTE of ``ST_AsMVTGeom``); the code is our own.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from sqlalchemy import Integer, Select, and_, cast, func, literal, literal_column, select, text
from sqlalchemy.orm import Session

from geo_service import __version__
from geo_service.auth import Principal
from geo_service.errors import InvalidInput, NotFound
from geo_service.exports.collections import Collection
from geo_service.exports.query import ItemQuery, filtered

WEB_MERCATOR_QUAD = "WebMercatorQuad"
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
CRS_3857 = "http://www.opengis.net/def/crs/EPSG/0/3857"
MVT_MEDIA = "application/vnd.mapbox-vector-tile"
ORIGIN = 20037508.3427892  # half the width of the Web Mercator square, metres
TMS_ZOOMS = 25  # the standard WebMercatorQuad has tile matrices 0 to 24
EXTENT = 4096  # tile coordinates per side
BUFFER = 64  # tile coordinates kept beyond each edge (markers and strokes drawn across a tile edge)
CELL_0 = 2 * ORIGIN / 256  # metres per pixel of a 256-pixel tile at zoom 0
SCALE_0 = CELL_0 / 0.00028  # scale denominator at zoom 0 (OGC's 0.28 mm pixel)


def tile_matrix_set() -> dict:
    """The WebMercatorQuad tile matrix set (OGC 2DTMS 2.0 JSON), tile matrices 0 to 24."""
    return {
        "id": WEB_MERCATOR_QUAD,
        "title": "Google Maps Compatible for the World",
        "uri": TMS_URI,
        "crs": CRS_3857,
        "orderedAxes": ["X", "Y"],
        "wellKnownScaleSet": "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible",
        "tileMatrices": [
            {
                "id": str(z),
                "scaleDenominator": SCALE_0 / 2**z,
                "cellSize": CELL_0 / 2**z,
                "cornerOfOrigin": "topLeft",
                "pointOfOrigin": [-ORIGIN, ORIGIN],
                "tileWidth": 256,
                "tileHeight": 256,
                "matrixWidth": 2**z,
                "matrixHeight": 2**z,
            }
            for z in range(TMS_ZOOMS)
        ],
    }


@dataclass(frozen=True)
class TileAddress:
    """A tile of WebMercatorQuad: tile matrix (zoom), row (from the top) and column (from the left)."""

    z: int
    row: int
    col: int


def check_tile_matrix_set(tms: str) -> None:
    """NotFound unless ``tms`` is the one tile matrix set served."""
    if tms != WEB_MERCATOR_QUAD:
        raise NotFound(f"No tile matrix set '{tms}'. This service serves {WEB_MERCATOR_QUAD} only.")


def tile_address(z: str, row: str, col: str, max_zoom: int) -> TileAddress:
    """The tile at ``{tileMatrix}/{tileRow}/{tileCol}``: 400 when a part is not a whole number, 404 when the tile
    lies outside the tile matrix set (a zoom deeper than served, a row or column beyond the matrix)."""
    values = {}
    for name, value in (("tileMatrix", z), ("tileRow", row), ("tileCol", col)):
        if not value.isascii() or not value.isdigit() or len(value) > 9:
            raise InvalidInput(
                f"{name} must be a whole number of 0 or more, not {value[:20]!r}: the address is "
                "/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}, e.g. /tiles/WebMercatorQuad/8/118/199.",
                code="invalid_tile",
            )
        values[name] = int(value)
    zoom, r, c = values["tileMatrix"], values["tileRow"], values["tileCol"]
    if zoom > max_zoom:
        raise NotFound(f"Tile matrix {zoom} is not served: {WEB_MERCATOR_QUAD} here has tile matrices 0 to {max_zoom}.")
    size = 2**zoom
    if r >= size or c >= size:
        raise NotFound(
            f"Tile {zoom}/{r}/{c} is outside tile matrix {zoom}, whose rows and columns run from 0 to {size - 1}."
        )
    return TileAddress(zoom, r, c)


def lonlat_to_tile(lon: float, lat: float, z: int) -> tuple[int, int, float, float]:
    """The tile (row, column) holding a WGS 84 position at zoom ``z``, and the position inside that tile in
    tile coordinates (0..4096, x to the right, y down), as a map client computes them."""
    n = 2**z
    x = (lon + 180.0) / 360.0 * n
    y = (1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n
    col, row = int(x), int(y)
    return row, col, (x - col) * EXTENT, (y - row) * EXTENT


def tile_limits(extent: list[float] | None, minzoom: int, maxzoom: int) -> list[dict]:
    """OGC tileMatrixSetLimits: for each zoom served, the rows and columns that cover the collection's extent
    (min lon, min lat, max lon, max lat); empty when the collection is empty."""
    if not extent:
        return []
    west, south, east, north = extent
    south, north = max(south, -85.0511), min(north, 85.0511)
    limits = []
    for z in range(minzoom, maxzoom + 1):
        top, left, _, _ = lonlat_to_tile(west, north, z)
        bottom, right, _, _ = lonlat_to_tile(min(east, 179.999999), south, z)
        limits.append(
            {
                "tileMatrix": str(z),
                "minTileRow": top,
                "maxTileRow": min(bottom, 2**z - 1),
                "minTileCol": left,
                "maxTileCol": min(right, 2**z - 1),
            }
        )
    return limits


def has_tiles(collection: Collection) -> bool:
    """Whether the collection is served as vector tiles."""
    return bool(collection.tile_properties)


def check_tiled(collection: Collection) -> None:
    """NotFound unless the collection has vector tiles."""
    if not has_tiles(collection):
        raise NotFound(f"The collection '{collection.name}' has no vector tiles.")


def tile_properties(collection: Collection, principal: Principal | None) -> list[str]:
    """The properties this caller's tiles carry: the collection's tile properties that the caller may see."""
    visible = set(collection.properties_for(principal))
    return [p for p in collection.tile_properties if p in visible]


def feature_id_column(collection: Collection) -> str | None:
    """The integer property used as the MVT feature id: the collection's paging key when it is not the text
    ``id`` (hotspot_id, event_id, incident_id); boundaries have text codes and no feature id."""
    return collection.order_by if collection.order_by != "id" else None


def data_version(session: Session, collection: Collection) -> str:
    """A text that changes whenever the collection's data change (from its owners' stores)."""
    if not collection.version_sql:
        return ""
    return str(session.execute(text(collection.version_sql)).scalar_one() or "")


def etag(
    version: str,
    collection: Collection,
    addr: TileAddress,
    shown: list[str],
    datetime_: str | None,
    n: int,
    principal: Principal | None = None,
) -> str:
    """A weak ETag of a tile: the data version and everything that decides the tile's content, the caller's
    province scope included (a province-scoped collection's tile differs between a Phrae and a national caller)."""
    scope = "*"
    if collection.province_scoped and principal is not None and principal.provinces is not None:
        # a provincial caller also sees what they logged outside every loaded province: their name is in the scope
        scope = principal.name + ":" + ",".join(sorted(principal.provinces))
    basis = "|".join(
        (
            __version__,
            version,
            collection.name,
            f"{addr.z}/{addr.row}/{addr.col}",
            ",".join(shown),
            datetime_ or "",
            scope,
        )
    )
    return 'W/"' + hashlib.sha256(f"{basis}|{n}".encode()).hexdigest()[:32] + '"'


def _int(value: int):
    return cast(literal(value), Integer)  # ST_TileEnvelope takes integers (a bound Python int may arrive as bigint)


def build_tile(
    collection: Collection, principal: Principal | None, addr: TileAddress, datetime_: str | None, max_features: int
) -> Select:
    """The one statement of a tile: (tile bytes, number of features found up to ``max_features`` + 1)."""
    f = filtered(collection, principal, ItemQuery(datetime=datetime_))
    t = f.t
    shown = tile_properties(collection, principal)
    z, x, y = _int(addr.z), _int(addr.col), _int(addr.row)
    envelope = func.ST_TileEnvelope(z, x, y)
    square = func.ST_MakeEnvelope(-ORIGIN, -ORIGIN, ORIGIN, ORIGIN, 3857)
    # The tile with its buffer, in WGS 84: a rectangle in EPSG:3857 is a rectangle in lon/lat too, so this box
    # selects exactly, through the index on the stored geometry.
    box = func.ST_Transform(func.ST_TileEnvelope(z, x, y, square, BUFFER / EXTENT), 4326)
    if collection.geometry_type == "Point":
        geom = func.ST_Transform(t.c.geom, 3857)
    else:  # clip first (a province is large, a tile small), then simplify to the tile's grid
        unit = 2 * ORIGIN / 2**addr.z / EXTENT
        geom = func.ST_Simplify(func.ST_Transform(func.ST_ClipByBox2D(t.c.geom, box), 3857), unit, True)
    columns = [func.ST_AsMVTGeom(geom, envelope, EXTENT, BUFFER, True).label("geom"), *(t.c[p] for p in shown)]
    fid = feature_id_column(collection)
    if fid:
        columns.append(t.c[fid].label("tile_fid"))
    feats = (
        select(*columns)
        .select_from(t)
        .where(and_(f.where, t.c.geom.op("&&")(box)))
        .limit(max_features + 1)
        .cte("feats")
    )
    drawn = select(feats).where(feats.c.geom.is_not(None)).limit(max_features).subquery("layer")
    args = [literal_column("layer"), collection.name, EXTENT, "geom", *(["tile_fid"] if fid else [])]
    mvt = select(func.ST_AsMVT(*args)).select_from(drawn).scalar_subquery()
    found = select(func.count()).select_from(feats).where(feats.c.geom.is_not(None)).scalar_subquery()
    return select(mvt.label("tile"), found.label("found"))


@dataclass(frozen=True)
class Tile:
    """A rendered tile: its bytes (empty when no feature), how many features it holds, whether it was cut."""

    data: bytes
    features: int
    truncated: bool


def render_tile(
    session: Session,
    collection: Collection,
    principal: Principal | None,
    addr: TileAddress,
    datetime_: str | None,
    max_features: int,
) -> Tile:
    """Run a tile's statement in the caller's transaction (without JIT: see below)."""
    # PostgreSQL's JIT compiles a plan whose estimated cost is high; a low-zoom tile's (a big box, many rows)
    # is, and compiling it took 4.5 s for a query that then ran in 3.4 s (bench/tiles.py). A tile is a short
    # query whose cost is in PostGIS functions JIT cannot speed up: off for this transaction only.
    session.execute(text("SET LOCAL jit = off"))
    data, found = session.execute(build_tile(collection, principal, addr, datetime_, max_features)).one()
    return Tile(bytes(data or b""), min(found, max_features), found > max_features)
