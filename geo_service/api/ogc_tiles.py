"""OGC API - Tiles (Part 1: core, tileset, tilesets list, geodata tilesets, datetime, MVT) and TileJSON 3.0 over
the OGC API's collections: Mapbox Vector Tiles on WebMercatorQuad, made by PostGIS (exports/tiles.py).

A collection's tiles follow its features' rules: a collection that is not public needs the same key or role
as its items (``collection_for``, the items route's check), and a tile carries only the properties the caller
may see. Tiles are addressed OGC-style, ``{tileMatrix}/{tileRow}/{tileCol}`` (zoom, row from the top, column
from the left). A tile with no feature is ``204 No Content`` (OGC API - Tiles allows it for an empty tile;
MapLibre, Leaflet.VectorGrid, QGIS and GDAL read it as empty). Tiles carry a weak ETag from the data version
(``If-None-Match`` gives 304) and a Cache-Control: public for public collections, private otherwise."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from geo_service import __version__
from geo_service.api.deps import read_choice
from geo_service.api.exports import collection_for
from geo_service.api.geojson import Link
from geo_service.api.ogc import CRS84, api_base, collection_extents, only_params
from geo_service.auth import Principal
from geo_service.db.engine import transaction
from geo_service.errors import InvalidInput
from geo_service.exports import service
from geo_service.exports import tiles as T
from geo_service.exports.collections import Collection
from geo_service.exports.query import ItemQuery, filtered
from geo_service.exports.queryables import queryables

router = APIRouter(prefix="/ogc", tags=["OGC API - Tiles"])
TILE_PARAMS = ("datetime",)
MVT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {T.MVT_MEDIA: {"schema": {"type": "string", "format": "binary"}}}, "description": "A tile"},
    204: {"description": "No feature in this tile"},
    304: {"description": "Not modified since the ETag sent in If-None-Match"},
}


class TileMatrixSetRef(BaseModel):
    """A tile matrix set this API serves, with a link to its definition."""

    id: str
    title: str
    uri: str
    links: list[Link]


class TileMatrixSets(BaseModel):
    """The tile matrix sets this API serves."""

    tileMatrixSets: list[TileMatrixSetRef]  # OGC API field name


class TileMatrixSetDocument(BaseModel):
    """A tile matrix set definition (OGC Two Dimensional Tile Matrix Set 2.0, JSON)."""

    model_config = ConfigDict(extra="allow")
    id: str
    title: str
    uri: str
    crs: str
    orderedAxes: list[str]  # OGC field name
    tileMatrices: list[dict[str, Any]]  # OGC field name


class TileSetRef(BaseModel):
    """One tileset of a collection, as listed."""

    model_config = ConfigDict(extra="allow")
    title: str
    dataType: str  # OGC field name
    crs: str
    tileMatrixSetURI: str  # OGC field name
    links: list[Link]


class TileSets(BaseModel):
    """The tilesets of a collection."""

    tilesets: list[TileSetRef]
    links: list[Link]


class TileSetDocument(TileSetRef):
    """A tileset's metadata: its tile matrix set limits, its layer and the link template of its tiles."""

    description: str
    tileMatrixSetLimits: list[dict[str, Any]]  # OGC field name
    layers: list[dict[str, Any]]
    boundingBox: dict[str, Any] | None = Field(default=None, description="Absent while the collection is empty")


class VectorLayer(BaseModel):
    """A layer of a TileJSON document: its id (the MVT layer name), fields and zooms."""

    id: str
    description: str
    fields: dict[str, str]
    minzoom: int
    maxzoom: int


class TileJSON(BaseModel):
    """A TileJSON 3.0.0 document (https://github.com/mapbox/tilejson-spec/tree/master/3.0.0)."""

    tilejson: str
    name: str
    description: str
    version: str
    attribution: str
    scheme: str
    tiles: list[str]
    minzoom: int
    maxzoom: int
    bounds: list[float]
    center: list[float]
    vector_layers: list[VectorLayer]


def _tiled(request: Request, name: str, tms: str | None = None) -> tuple[Collection, Principal | None]:
    """The collection (the items route's check: 404, 401 or 403) if it has tiles and ``tms`` is served."""
    if tms is not None:
        T.check_tile_matrix_set(tms)
    c, principal = collection_for(request, name)
    T.check_tiled(c)
    return c, principal


def _cache_headers(request: Request, c: Collection, tag: str | None = None) -> dict[str, str]:
    max_age = request.app.state.settings.tiles.tile_max_age_s
    headers = {
        "Cache-Control": f"{'public' if c.public else 'private'}, max-age={max_age}",
        "X-Content-Type-Options": "nosniff",
    }
    if not c.public:  # what is sent depends on who asks
        headers["Vary"] = "Authorization, X-API-Key, Cookie"
    if tag:
        headers["ETag"] = tag
    return headers


def _tms_link(base: str) -> dict:
    return {
        "rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme",
        "type": "application/json",
        "title": "WebMercatorQuad",
        "href": f"{base}/tileMatrixSets/{T.WEB_MERCATOR_QUAD}",
    }


@router.get("/tileMatrixSets", summary="Tile matrix sets served", response_model=TileMatrixSets)
def tile_matrix_sets(request: Request) -> JSONResponse:
    """The tile matrix sets of the vector tiles: WebMercatorQuad."""
    only_params(request, ())
    base = api_base(request)
    ref = {
        "id": T.WEB_MERCATOR_QUAD,
        "title": "Google Maps Compatible for the World",
        "uri": T.TMS_URI,
        "links": [{**_tms_link(base), "rel": "self"}],
    }
    return JSONResponse({"tileMatrixSets": [ref]})


@router.get(
    "/tileMatrixSets/{tms}", summary="A tile matrix set definition (TMS 2.0 JSON)", response_model=TileMatrixSetDocument
)
def tile_matrix_set(tms: str, request: Request) -> JSONResponse:
    """The definition of WebMercatorQuad (tile matrices 0 to 24)."""
    only_params(request, ())
    T.check_tile_matrix_set(tms)
    return JSONResponse(T.tile_matrix_set(), headers={"Cache-Control": "public, max-age=86400"})


def _tileset_ref(request: Request, c: Collection) -> dict:
    base = api_base(request)
    here = f"{base}/collections/{c.name}/tiles/{T.WEB_MERCATOR_QUAD}"
    return {
        "title": f"{c.title} / {c.title_th}: vector tiles",
        "dataType": "vector",
        "crs": T.CRS_3857,
        "tileMatrixSetURI": T.TMS_URI,
        "links": [
            {"rel": "self", "type": "application/json", "title": "Tileset metadata", "href": here},
            _tms_link(base),
        ],
    }


@router.get("/collections/{name}/tiles", summary="The vector tilesets of a collection", response_model=TileSets)
def collection_tilesets(name: str, request: Request) -> JSONResponse:
    """The collection's tilesets: one, on WebMercatorQuad."""
    only_params(request, ())
    c, _ = _tiled(request, name)
    base = api_base(request)
    links = [
        {"rel": "self", "type": "application/json", "href": f"{base}/collections/{name}/tiles"},
        {"rel": "collection", "type": "application/json", "href": f"{base}/collections/{name}"},
    ]
    return JSONResponse({"tilesets": [_tileset_ref(request, c)], "links": links}, headers=_cache_headers(request, c))


def _fields(c: Collection, principal: Principal | None) -> dict[str, str]:
    """The tile properties and their types (TileJSON: String, Number or Boolean)."""
    kinds = {n: q.type for n, q in queryables(c, principal).items()}
    out = {}
    for p in T.tile_properties(c, principal):
        kind = kinds.get(p, "string")
        out[p] = "Number" if kind in ("integer", "number") else "Boolean" if kind == "boolean" else "String"
    return out


def _template(request: Request, name: str, datetime_: str | None, ogc_order: bool) -> str:
    base = f"{api_base(request)}/collections/{name}/tiles/{T.WEB_MERCATOR_QUAD}"
    path = "{tileMatrix}/{tileRow}/{tileCol}" if ogc_order else "{z}/{y}/{x}"
    return f"{base}/{path}" + (f"?{urlencode({'datetime': datetime_})}" if datetime_ else "")


def _check_datetime(c: Collection, principal: Principal | None, datetime_: str | None) -> None:
    if datetime_:  # the items route's rules: a collection with a time, a readable property, a valid interval
        filtered(c, principal, ItemQuery(datetime=datetime_))


@router.get(
    "/collections/{name}/tiles/{tms}",
    summary="Tileset metadata: limits, layer, link template of the tiles",
    response_model=TileSetDocument,
)
def collection_tileset(
    name: str, tms: str, request: Request, datetime_: Annotated[str | None, Query(alias="datetime")] = None
) -> JSONResponse:
    """The metadata of the collection's WebMercatorQuad tileset (OGC API - Tiles tileset)."""
    only_params(request, TILE_PARAMS)
    c, principal = _tiled(request, name, tms)
    _check_datetime(c, principal, datetime_)
    (extent,) = collection_extents(request, [c], principal)
    max_zoom = request.app.state.settings.tiles.tile_max_zoom
    doc = _tileset_ref(request, c)
    doc["links"] += [
        {
            "rel": "item",
            "type": T.MVT_MEDIA,
            "title": "A tile (Mapbox Vector Tile)",
            "href": _template(request, name, datetime_, ogc_order=True),
            "templated": True,
        },
        {
            "rel": "describedby",
            "type": "application/json",
            "title": "TileJSON 3.0.0",
            "href": f"{api_base(request)}/collections/{name}/tiles/{T.WEB_MERCATOR_QUAD}/tilejson.json",
        },
    ]
    doc["description"] = c.description
    doc["tileMatrixSetLimits"] = T.tile_limits(extent, c.tile_minzoom, max_zoom)
    doc["layers"] = [
        {
            "id": c.name,
            "title": c.title,
            "dataType": "vector",
            "geometryDimension": 0 if c.geometry_type == "Point" else 2,
            "minTileMatrix": str(c.tile_minzoom),
            "maxTileMatrix": str(max_zoom),
            "propertiesSchema": {
                "type": "object",
                "properties": {p: {"type": t.lower()} for p, t in _fields(c, principal).items()},
            },
        }
    ]
    if extent:
        doc["boundingBox"] = {"lowerLeft": extent[:2], "upperRight": extent[2:], "crs": CRS84}
    return JSONResponse(doc, headers=_cache_headers(request, c))


@router.get(
    "/collections/{name}/tiles/{tms}/tilejson.json",
    summary="TileJSON 3.0.0 of the collection's vector tiles",
    response_model=TileJSON,
)
def collection_tilejson(
    name: str, tms: str, request: Request, datetime_: Annotated[str | None, Query(alias="datetime")] = None
) -> JSONResponse:
    """A TileJSON document for web maps (MapLibre, Leaflet.VectorGrid, QGIS): the tile URL template
    (``{z}/{y}/{x}``: this API's row/column order), zooms, bounds and the layer's fields."""
    only_params(request, TILE_PARAMS)
    c, principal = _tiled(request, name, tms)
    _check_datetime(c, principal, datetime_)
    (extent,) = collection_extents(request, [c], principal)
    max_zoom = request.app.state.settings.tiles.tile_max_zoom
    bounds = extent or [-180.0, -85.0511, 180.0, 85.0511]
    center_zoom = min(max(c.tile_minzoom, 8), max_zoom)
    doc = {
        "tilejson": "3.0.0",
        "name": f"{c.title} / {c.title_th}",
        "description": c.description,
        "version": __version__,
        "attribution": f"{c.attribution} ({c.licence})".strip(),
        "scheme": "xyz",
        "tiles": [_template(request, name, datetime_, ogc_order=False)],
        "minzoom": c.tile_minzoom,
        "maxzoom": max_zoom,
        "bounds": bounds,
        "center": [round((bounds[0] + bounds[2]) / 2, 6), round((bounds[1] + bounds[3]) / 2, 6), center_zoom],
        "vector_layers": [
            {
                "id": c.name,
                "description": c.title,
                "fields": _fields(c, principal),
                "minzoom": c.tile_minzoom,
                "maxzoom": max_zoom,
            }
        ],
    }
    return JSONResponse(doc, headers=_cache_headers(request, c))


@router.get(
    "/collections/{name}/tiles/{tms}/{tile_matrix}/{tile_row}/{tile_col}",
    summary="A vector tile (Mapbox Vector Tile): tileMatrix (zoom), tileRow (from the top), tileCol",
    response_class=Response,
    responses=MVT_RESPONSES,
)
async def tile(
    name: str,
    tms: str,
    tile_matrix: str,
    tile_row: str,
    tile_col: str,
    request: Request,
    datetime_: Annotated[
        str | None, Query(alias="datetime", description="As for the items: an instant or start/end, '..' open")
    ] = None,
    f: Annotated[str | None, Query(description="mvt, the only format (optional)")] = None,
) -> Response:
    """One tile of the collection with the properties this caller may see; 204 when it holds no feature."""
    only_params(request, (*TILE_PARAMS, "f"))
    if f not in (None, "mvt"):
        raise InvalidInput("f must be mvt (Mapbox Vector Tile), the only tile format served.", code="invalid_format")
    c, principal = _tiled(request, name, tms)
    settings = request.app.state.settings.tiles
    addr = T.tile_address(tile_matrix, tile_row, tile_col, settings.tile_max_zoom)
    limit = settings.tile_max_features
    shown = T.tile_properties(c, principal)

    def run() -> tuple[str, T.Tile | None]:
        # the tile on the read database (the replica when in step), its audit record on the primary
        with transaction(read_choice(request).sessionmaker) as session:
            tag = T.etag(T.data_version(session, c), c, addr, shown, datetime_, limit, principal)
            if tag in request.headers.get("if-none-match", ""):
                return tag, None
            rendered = T.render_tile(session, c, principal, addr, datetime_, limit)
        if not c.public:  # who read what of a collection that is not public, as for its items
            filters = {"tile": f"{addr.z}/{addr.row}/{addr.col}", "datetime": datetime_}
            with transaction(request.app.state.sessionmaker) as session:
                service.record_export(session, principal, c, "mvt", filters, rendered.features)
        return tag, rendered

    tag, rendered = await run_in_threadpool(run)
    headers = _cache_headers(request, c, tag)
    if rendered is None:
        return Response(status_code=304, headers=headers)
    headers["X-Tile-Features"] = str(rendered.features)
    if rendered.truncated:
        headers["X-Tile-Truncated"] = f"more than {limit} features: the tile holds the first {limit}"
    if not rendered.data:
        return Response(status_code=204, headers=headers)
    return Response(rendered.data, media_type=T.MVT_MEDIA, headers=headers)
