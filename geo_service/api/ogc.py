"""OGC API - Features (Part 1 core, GeoJSON, HTML, OpenAPI 3.0; Part 3 queryables and CQL2 filters; Part 5
style sortby) over the collections of exports/collections.py. Anonymous callers see the public collections;
partners with an API key see the collections of its scopes, with the properties their role may see.
A query parameter the API does not define is refused (400), never ignored; ``limit`` above the maximum is
capped to it. The HTML pages draw their features with the service's own Leaflet and link to HTML pages."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, select_autoescape
from markupsafe import Markup
from pydantic import BaseModel, ConfigDict, Field
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from geo_service import __version__
from geo_service.api.deps import authenticate, parse_bbox, read_choice
from geo_service.api.exports import collection_for
from geo_service.api.geojson import Feature, FeatureCollection, GeoJSONResponse, Link, geojson_responses
from geo_service.auth import Principal
from geo_service.db.engine import transaction
from geo_service.errors import InvalidInput
from geo_service.exports import service
from geo_service.exports.collections import Collection, visible_collections
from geo_service.exports.query import FILTER_LANGS, ItemQuery
from geo_service.exports.queryables import feature_schema, json_schema, queryables
from geo_service.exports.tiles import has_tiles

router = APIRouter(prefix="/ogc", tags=["OGC API - Features"])
GEOJSON = "application/geo+json"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    # OGC API - Tiles (api/ogc_tiles.py): vector tilesets of the collections on WebMercatorQuad, as MVT
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/datetime",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
    "http://www.opengis.net/spec/tms/2.0/conf/tilematrixset",
    "http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset",
]
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
OPENAPI_MEDIA = "application/vnd.oai.openapi+json;version=3.0"
MAX_LIMIT = 10_000
# Leaflet as the maps serve it (geo_service/maps/assets.py: /maps/vendor/ + the pinned npm package's files).
LEAFLET_JS, LEAFLET_CSS = "/maps/vendor/leaflet/dist/leaflet.js", "/maps/vendor/leaflet/dist/leaflet.css"
ITEM_PARAMS = (
    "f",
    "bbox",
    "datetime",
    "limit",
    "offset",
    "filter",
    "filter-lang",
    "filter-crs",
    "properties",
    "sortby",
)
# Pages: scripts and styles of this service only; images also from the configured tile server.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: {tiles}; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)
_html = Environment(autoescape=select_autoescape(default=True, default_for_string=True)).from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/ogc/ogc.css">
{% if features %}<link rel="stylesheet" href="{{ leaflet_css }}">{% endif %}</head><body>
<h1>{{ title }}</h1>{% if description %}<p>{{ description }}</p>{% endif %}
<ul>{% for l in links %}<li><a href="{{ l.href }}">{{ l.title or l.rel }}</a> ({{ l.type }})</li>{% endfor %}</ul>
{% if features %}<div id="map" data-tiles="{{ tile_url or '' }}" data-attribution="{{ tile_attribution or '' }}"></div>
<script id="ogc-features" type="application/json">{{ features }}</script>
<script src="{{ leaflet_js }}"></script><script src="/static/ogc/map.js"></script>{% endif %}
{% if rows %}<table><tr>{% for h in rows[0].keys() %}<th>{{ h }}</th>{% endfor %}</tr>
{% for r in rows %}<tr>{% for v in r.values() %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}</table>{% endif %}
</body></html>""")


# --- What the JSON documents hold (the routes send them as built; these models describe them in /openapi.json)


class LandingPage(BaseModel):
    """The landing page: what this API is and links to its other documents."""

    title: str
    description: str
    links: list[Link]


class Conformance(BaseModel):
    """The conformance classes this API implements."""

    conformsTo: list[str]  # OGC API field name


class SpatialExtent(BaseModel):
    """The bounding box of a collection's features (min lon, min lat, max lon, max lat)."""

    bbox: list[list[float]]
    crs: str


class Extent(BaseModel):
    """A collection's extent: only spatial here."""

    spatial: SpatialExtent


class CollectionDocument(BaseModel):
    """One collection: its description, licence, CRS, extent and links to its items and schemas."""

    id: str
    title: str
    description: str
    itemType: str  # OGC API field name
    crs: list[str]
    storageCrs: str  # OGC API field name
    links: list[Link]
    extent: Extent | None = Field(default=None, description="Absent while the collection is empty")


class Collections(BaseModel):
    """The collections this caller may read."""

    collections: list[CollectionDocument]
    links: list[Link]


class JSONSchemaDocument(BaseModel):
    """A JSON Schema (queryables, sortables, or one feature): the keys these documents have, others allowed."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    schema_: str = Field(alias="$schema")
    id_: str = Field(alias="$id")
    type: str
    title: str
    description: str | None = None
    properties: dict[str, Any]
    required: list[str] | None = None
    additionalProperties: bool | None = None  # JSON Schema keyword


class ItemsPage(FeatureCollection):
    """A page of features with the counts, the time of the answer and the links to the next and previous pages."""

    timeStamp: str  # OGC API field name


class FeatureDocument(Feature):
    """One feature with links to itself and its collection."""

    links: list[Link]


class OpenAPIDocument(BaseModel):
    """The OpenAPI 3.0 description of this OGC API (the collections this caller may read, their parameters)."""

    model_config = ConfigDict(extra="allow")
    openapi: str
    info: dict[str, Any]
    servers: list[dict[str, Any]]
    paths: dict[str, Any]
    components: dict[str, Any]


class SchemaJSONResponse(JSONResponse):
    """JSON sent as ``application/schema+json``."""

    media_type = "application/schema+json"


class OpenAPIJSONResponse(JSONResponse):
    """JSON sent as the OpenAPI 3.0 media type."""

    media_type = OPENAPI_MEDIA


HTML_TOO: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {"schema": {"type": "string"}}}}
}  # f=html, or a browser's Accept


def _geojson_or_html(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    geojson = geojson_responses(model)
    return {200: {**geojson[200], **HTML_TOO[200]}}


class PublicCORS:
    """CORS for the OGC API only (paths under /ogc): GET and HEAD from the configured origins, no credentials
    and no extra request headers, so a browser page elsewhere can read the public collections but never
    send an API key or a token. Every other path gets no CORS headers."""

    def __init__(self, app: ASGIApp, origins: list[str], prefix: str = "/ogc") -> None:
        self.app, self.prefix = app, prefix
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["GET", "HEAD"],
            allow_headers=[],
            allow_credentials=False,
            max_age=3600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path == self.prefix or path.startswith(self.prefix + "/"):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _only(request: Request, allowed) -> None:
    """Refuse a query parameter this resource does not define (a typo must not silently return everything),
    or one given twice."""
    keys = [k for k, _ in request.query_params.multi_items()]
    unknown = sorted({k for k in keys if k not in allowed})
    if unknown:
        raise InvalidInput(
            "Unknown query parameter(s): "
            + ", ".join(unknown)
            + ". This resource accepts: "
            + ", ".join(allowed)
            + ".",
            code="unknown_parameter",
        )
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise InvalidInput(
            "Query parameter(s) given more than once: " + ", ".join(repeated) + ".", code="repeated_parameter"
        )


def _wants_html(request: Request, f: str | None) -> bool:
    if f:
        if f not in ("json", "html"):
            raise InvalidInput("f must be json or html.", code="invalid_format")
        return f == "html"
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "json" not in accept


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


def _with_f(href: str, fmt: str) -> str:
    parts = urlsplit(href)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "f"] + [("f", fmt)]
    return urlunsplit(parts._replace(query=urlencode(query)))


_HTML_RELS = {
    "self",
    "alternate",
    "next",
    "prev",
    "collection",
    "data",
    "items",
    "conformance",
    "queryables",
    "sortables",
}


def _html_links(request: Request, links: list[dict]) -> list[dict]:
    """The links of an HTML page: this API's documents as their HTML pages (so a browser stays in HTML), once
    each, and this page as JSON."""
    base, out, seen = _base(request), [], set()
    for link in links:
        link = dict(link)
        if link["href"].startswith(base) and link.get("rel") in _HTML_RELS:
            link["href"], link["type"] = _with_f(link["href"], "html"), "text/html"
            if link.get("rel") == "alternate":
                continue
        if link["href"] not in seen:
            seen.add(link["href"])
            out.append(link)
    out.append(
        {
            "rel": "alternate",
            "type": "application/json",
            "title": "This page as JSON",
            "href": _with_f(str(request.url), "json"),
        }
    )
    return out


def _page(
    request: Request,
    title: str,
    description: str,
    links: list[dict],
    rows: list[dict] | None = None,
    features: dict | None = None,
) -> HTMLResponse:
    service = request.app.state.settings.service
    island = None
    if features is not None:  # a JSON data island: nothing in it can close the script element
        island = Markup(
            orjson.dumps(features).decode().replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        )
    tiles = ""
    if service.tile_url:  # the configured tile server's origin ({s} subdomains as a wildcard)
        parts = urlsplit(service.tile_url)
        tiles = f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}" if parts.scheme else ""
    html = _html.render(
        title=title,
        description=description,
        links=_html_links(request, links),
        rows=rows or [],
        features=island,
        leaflet_js=LEAFLET_JS,
        leaflet_css=LEAFLET_CSS,
        tile_url=service.tile_url,
        tile_attribution=service.tile_attribution,
    )
    return HTMLResponse(
        html, headers={"Content-Security-Policy": CSP.format(tiles=tiles), "X-Content-Type-Options": "nosniff"}
    )


def _extent_feature(extent: list[float] | None) -> dict | None:
    if not extent:
        return None
    x0, y0, x1, y1 = extent
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"extent": extent},
                "geometry": {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]},
            }
        ],
    }


@router.get("", summary="Landing page", response_model=LandingPage, responses=HTML_TOO)
def landing(request: Request, f: str | None = None) -> Response:
    """The landing page (JSON, or HTML for a browser)."""
    _only(request, ("f",))
    base = _base(request)
    links = [
        {"rel": "self", "type": "application/json", "title": "This document", "href": f"{base}?f=json"},
        {"rel": "alternate", "type": "text/html", "title": "This document as HTML", "href": f"{base}?f=html"},
        {
            "rel": "service-desc",
            "type": OPENAPI_MEDIA,
            "title": "OpenAPI 3.0",
            "href": f"{base}/api",
        },
        {"rel": "conformance", "type": "application/json", "title": "Conformance", "href": f"{base}/conformance"},
        {"rel": "data", "type": "application/json", "title": "Collections", "href": f"{base}/collections"},
        {
            "rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes",
            "type": "application/json",
            "title": "Tile matrix sets (vector tiles)",
            "href": f"{base}/tileMatrixSets",
        },
    ]
    body: dict[str, Any] = {
        "title": "geo_service — forest reserves, incidents and hotspots (Phrae)",
        "description": "OGC API - Features of the NACC Phrae geo_service. Protected areas shipped with the "
        "service are ILLUSTRATIVE, not official boundaries.",
        "links": links,
    }
    if _wants_html(request, f):
        return _page(request, body["title"], body["description"], links)
    return JSONResponse(body)


@router.get("/conformance", summary="Conformance classes", response_model=Conformance, responses=HTML_TOO)
def conformance(request: Request, f: str | None = None) -> Response:
    """The conformance classes (JSON, or HTML for a browser)."""
    _only(request, ("f",))
    if _wants_html(request, f):
        return _page(
            request, "Conformance", "", [{"href": c, "rel": "conformance", "type": "", "title": c} for c in CONFORMANCE]
        )
    return JSONResponse({"conformsTo": CONFORMANCE})


def _collection_doc(request: Request, c: Collection, extent: list[float] | None) -> dict:
    base = _base(request)
    doc: dict[str, Any] = {
        "id": c.name,
        "title": c.title,
        "description": f"{c.title_th}. {c.description} Licence: {c.licence}. {c.attribution}",
        "itemType": "feature",
        "crs": [CRS84],
        "storageCrs": CRS84,
        "links": [
            {"rel": "self", "type": "application/json", "href": f"{base}/collections/{c.name}"},
            {"rel": "items", "type": GEOJSON, "title": "Features", "href": f"{base}/collections/{c.name}/items"},
            {
                "rel": "items",
                "type": "text/html",
                "title": "Features (HTML)",
                "href": f"{base}/collections/{c.name}/items?f=html",
            },
            {
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                "type": "application/schema+json",
                "title": "Queryables (properties to filter and sort on)",
                "href": f"{base}/collections/{c.name}/queryables",
            },
            {
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/sortables",
                "type": "application/schema+json",
                "title": "Sortables (properties sortby accepts)",
                "href": f"{base}/collections/{c.name}/sortables",
            },
            # rel names compare case-insensitively (RFC 8288); GDAL 3.6 looks for exactly "describedBy"
            {
                "rel": "describedBy",
                "type": "application/schema+json",
                "title": "Schema of a feature",
                "href": f"{base}/collections/{c.name}/schema",
            },
            {
                "rel": "license",
                "type": "text/plain",
                "title": c.licence,
                "href": f"{base}/collections/{c.name}#license",
            },
        ],
    }
    if has_tiles(c):
        doc["links"].append(
            {
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector",
                "type": "application/json",
                "title": "Vector tiles (Mapbox Vector Tiles, OGC API - Tiles)",
                "href": f"{base}/collections/{c.name}/tiles",
            }
        )
    if extent:
        doc["extent"] = {"spatial": {"bbox": [extent], "crs": CRS84}}
    return doc


EXTENT_SECONDS = 300  # clients ask for /collections often; a full scan of a million hotspots each time is waste


def _extent_key(c: Collection, principal: Principal | None) -> tuple:
    """Whose extent: a province-scoped collection's is the provincial caller's own rows (their provinces, and the
    rows of no province they made), so it is kept per caller; any other collection's is everyone's."""
    if c.province_scoped and principal is not None and principal.provinces is not None:
        return (c.name, principal.name, tuple(sorted(principal.provinces)))
    return (c.name,)


def _extents(request: Request, cs: list[Collection], principal: Principal | None) -> list[list[float] | None]:
    """The collections' bounding boxes, from the same query the items use (the caller's rows of a province-scoped
    collection: a shared box showed a Phrae reader where Nan's incidents lie), recomputed every few minutes."""
    extents = getattr(request.app.state, "ogc_extents", None)  # per application (per database)
    if extents is None:
        extents = request.app.state.ogc_extents = {}
    keys = [_extent_key(c, principal) for c in cs]
    stale = [
        (c, k)
        for c, k in zip(cs, keys, strict=True)
        if k not in extents or time.monotonic() - extents[k][0] >= EXTENT_SECONDS
    ]
    if stale:
        with transaction(read_choice(request).sessionmaker) as session:
            for c, k in stale:
                extents[k] = (time.monotonic(), service.collection_extent(session, c, principal))
    return [extents[k][1] for k in keys]


@router.get(
    "/collections", summary="The collections this caller may read", response_model=Collections, responses=HTML_TOO
)
def collections(request: Request, f: str | None = None) -> Response:
    """The collections this caller may read, each with its extent and links."""
    _only(request, ("f",))
    principal = authenticate(request)
    readable = visible_collections(principal, request.app.state.settings)
    docs = [
        _collection_doc(request, c, e) for c, e in zip(readable, _extents(request, readable, principal), strict=True)
    ]
    base = _base(request)
    links = [{"rel": "self", "type": "application/json", "href": f"{base}/collections"}]
    if _wants_html(request, f):
        return _page(
            request,
            "Collections",
            "",
            [
                {
                    "href": f"{base}/collections/{d['id']}",
                    "rel": "collection",
                    "type": "application/json",
                    "title": d["title"],
                }
                for d in docs
            ],
        )
    return JSONResponse({"collections": docs, "links": links})


@router.get("/collections/{name}", summary="One collection", response_model=CollectionDocument, responses=HTML_TOO)
def collection(name: str, request: Request, f: str | None = None) -> Response:
    """One collection's description, extent and links."""
    _only(request, ("f",))
    c, principal = collection_for(request, name)
    (extent,) = _extents(request, [c], principal)
    doc = _collection_doc(request, c, extent)
    if _wants_html(request, f):
        short = ("/queryables", "/sortables")  # the OGC URIs of these rels, as the HTML page names them
        html_links = [
            {**link, "rel": link["rel"].rsplit("/", 1)[1]} if link["rel"].endswith(short) else link
            for link in doc["links"]
        ]
        return _page(request, doc["title"], doc["description"], html_links, features=_extent_feature(extent))
    return JSONResponse(doc)


def _schema_response(request: Request, name: str, f: str | None, kind: str) -> Response:
    _only(request, ("f",))
    c, principal = collection_for(request, name)
    url = f"{_base(request)}/collections/{name}/{kind}"
    doc = feature_schema(c, principal, url) if kind == "schema" else json_schema(c, principal, url, kind == "sortables")
    if _wants_html(request, f):
        props = doc["properties"]["properties"]["properties"] if kind == "schema" else doc["properties"]
        rows = [{"name": k, "type": v.get("format") or v.get("type")} for k, v in props.items()]
        return _page(
            request,
            f"{c.title}: {kind}",
            doc.get("description", ""),
            [
                {
                    "rel": "collection",
                    "type": "application/json",
                    "title": c.title,
                    "href": f"{_base(request)}/collections/{name}",
                }
            ],
            rows,
        )
    return Response(orjson.dumps(doc), media_type="application/schema+json")


@router.get(
    "/collections/{name}/queryables",
    summary="Properties to filter and sort on (JSON Schema, Part 3)",
    response_model=JSONSchemaDocument,
    response_class=SchemaJSONResponse,
    responses=HTML_TOO,
)
def collection_queryables(name: str, request: Request, f: str | None = None) -> Response:
    """The properties this caller may filter and sort on, as a JSON Schema."""
    return _schema_response(request, name, f, "queryables")


@router.get(
    "/collections/{name}/sortables",
    summary="Properties sortby accepts (JSON Schema, Part 5 draft)",
    response_model=JSONSchemaDocument,
    response_class=SchemaJSONResponse,
    responses=HTML_TOO,
)
def collection_sortables(name: str, request: Request, f: str | None = None) -> Response:
    """The properties sortby accepts for this caller, as a JSON Schema."""
    return _schema_response(request, name, f, "sortables")


@router.get(
    "/collections/{name}/schema",
    summary="JSON Schema of one feature (rel describedby)",
    response_model=JSONSchemaDocument,
    response_class=SchemaJSONResponse,
    responses=HTML_TOO,
)
def collection_schema(name: str, request: Request, f: str | None = None) -> Response:
    """A JSON Schema of one feature as this caller receives it."""
    return _schema_response(request, name, f, "schema")


def _property_filters(request: Request) -> dict[str, str]:
    """``?district_code=5405``: equality on a queryable (Part 1 filters on feature properties; the names were
    checked by _only, the values are typed by the query)."""
    return {k: v for k, v in request.query_params.items() if k not in ITEM_PARAMS}


@router.get(
    "/collections/{name}/items",
    summary="Features, with bbox, datetime, CQL2 filter, property filters, sortby and paging",
    response_class=GeoJSONResponse,
    responses=_geojson_or_html(ItemsPage),
)
async def items(
    name: str,
    request: Request,
    f: str | None = None,
    bbox: Annotated[str | None, Query()] = None,
    datetime_: Annotated[str | None, Query(alias="datetime")] = None,
    limit: Annotated[int, Query(ge=1, description=f"At most {MAX_LIMIT}: a larger limit is capped to it")] = 10,
    offset: Annotated[int, Query(ge=0)] = 0,
    filter_: Annotated[str | None, Query(alias="filter", max_length=4000)] = None,
    filter_lang: Annotated[str, Query(alias="filter-lang")] = "cql2-text",
    filter_crs: Annotated[str | None, Query(alias="filter-crs")] = None,
    properties: Annotated[str | None, Query()] = None,
    sortby: Annotated[str | None, Query(max_length=1000, description="e.g. +observed_at,-frp")] = None,
) -> Response:
    """A page of features (GeoJSON, or HTML for a browser); each page is recorded in the audit trail."""
    c, principal = collection_for(request, name)
    _only(request, (*ITEM_PARAMS, *queryables(c, principal)))
    if filter_crs not in (None, CRS84):
        raise InvalidInput(f"filter-crs must be {CRS84}.", code="invalid_filter_crs")
    limit = min(limit, MAX_LIMIT)  # OGC API - Features /req/core/fc-limit-response-1: cap, do not refuse
    equals = _property_filters(request)
    q = ItemQuery(
        bbox=parse_bbox(bbox),
        datetime=datetime_,
        limit=limit,
        offset=offset,
        cql=filter_,
        cql_lang=filter_lang,
        equals=equals,
        sortby=sortby,
        properties=[p.strip() for p in properties.split(",") if p.strip()] if properties else None,
    )
    filters = {
        "bbox": bbox,
        "datetime": datetime_,
        "filter": filter_,
        "limit": limit,
        "offset": offset,
        "sortby": sortby,
        **equals,
    }

    def run() -> tuple[int, list[dict]]:
        # the page on the read database (the replica when in step), its audit record on the primary
        with transaction(read_choice(request).sessionmaker) as session:
            page = service.items_page(session, c, principal, q)
        with transaction(request.app.state.sessionmaker) as session:
            service.record_export(session, principal, c, "ogc-items", filters, len(page[1]))
        return page

    matched, feats = await run_in_threadpool(run)
    base = f"{_base(request)}/collections/{name}/items"
    params = {k: v for k, v in request.query_params.items() if k not in ("offset", "f", "limit")}

    def link(rel: str, off: int, media: str = GEOJSON, fmt: str = "json") -> dict:
        return {
            "rel": rel,
            "type": media,
            "href": f"{base}?{urlencode({**params, 'limit': limit, 'offset': off, 'f': fmt})}",
        }

    links = [
        link("self", offset),
        link("alternate", offset, "text/html", "html"),
        {"rel": "collection", "type": "application/json", "href": f"{_base(request)}/collections/{name}"},
    ]
    if offset + len(feats) < matched:
        links.append(link("next", offset + limit))
    if offset > 0:
        links.append(link("prev", max(0, offset - limit)))
    if _wants_html(request, f):
        table = [{"id": ft["id"], **ft["properties"]} for ft in feats]
        return _page(
            request,
            f"{c.title}: {len(feats)} of {matched}",
            c.description,
            links,
            table,
            {"type": "FeatureCollection", "features": feats},
        )
    body = orjson.dumps(
        {
            "type": "FeatureCollection",
            "numberMatched": matched,
            "numberReturned": len(feats),
            "timeStamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "links": links,
            "features": feats,
        }
    )
    return Response(content=body, media_type=GEOJSON)


@router.get(
    "/collections/{name}/items/{feature_id}",
    summary="One feature",
    response_class=GeoJSONResponse,
    responses=_geojson_or_html(FeatureDocument),
)
def item(name: str, feature_id: str, request: Request, f: str | None = None) -> Response:
    """One feature with the properties this caller may see (GeoJSON, or HTML for a browser)."""
    _only(request, ("f",))
    c, principal = collection_for(request, name)
    with transaction(read_choice(request).sessionmaker) as session:
        feature = service.one_feature(session, c, principal, feature_id)
    base = f"{_base(request)}/collections/{name}"
    feature["links"] = [
        {"rel": "self", "type": GEOJSON, "href": f"{base}/items/{feature_id}"},
        {"rel": "collection", "type": "application/json", "href": base},
    ]
    if _wants_html(request, f):
        return _page(
            request,
            f"{c.title}: {feature_id}",
            "",
            feature["links"],
            [feature["properties"]],
            {"type": "FeatureCollection", "features": [feature]},
        )
    return Response(content=orjson.dumps(feature), media_type=GEOJSON)


@router.get(
    "/api",
    summary="OpenAPI 3.0 description of this OGC API",
    response_model=OpenAPIDocument,
    response_class=OpenAPIJSONResponse,
)
def openapi30(request: Request) -> Response:
    """The OpenAPI 3.0 document of this OGC API, with the collections this caller may read."""
    _only(request, ("f",))
    base = _base(request)
    params = {
        "bbox": {
            "name": "bbox",
            "in": "query",
            "schema": {"type": "array", "items": {"type": "number"}},
            "style": "form",
            "explode": False,
        },
        "datetime": {"name": "datetime", "in": "query", "schema": {"type": "string"}},
        "limit": {
            "name": "limit",
            "in": "query",
            "description": f"A limit above {MAX_LIMIT} is capped to it.",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 10},
        },
        "offset": {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}},
        "filter": {"name": "filter", "in": "query", "schema": {"type": "string"}},
        # cql-text: the draft name GDAL 3.6 looks for before it sends filters to the server
        "filter-lang": {
            "name": "filter-lang",
            "in": "query",
            "schema": {"type": "string", "enum": list(FILTER_LANGS), "default": "cql2-text"},
        },
        "filter-crs": {"name": "filter-crs", "in": "query", "schema": {"type": "string", "enum": [CRS84]}},
        "properties": {
            "name": "properties",
            "in": "query",
            "style": "form",
            "explode": False,
            "schema": {"type": "array", "items": {"type": "string"}},
        },
        "sortby": {
            "name": "sortby",
            "in": "query",
            "style": "form",
            "explode": False,
            "description": "Comma-separated properties, each with + (ascending, the default) or - "
            "(descending), e.g. +observed_at,-frp",
            "schema": {"type": "array", "items": {"type": "string"}},
        },
        "f": {"name": "f", "in": "query", "schema": {"type": "string", "enum": ["json", "html"]}},
    }
    ok = {"200": {"description": "OK"}}
    paths = {
        "/": {
            "get": {"operationId": "landing", "parameters": [{"$ref": "#/components/parameters/f"}], "responses": ok}
        },
        "/conformance": {"get": {"operationId": "conformance", "responses": ok}},
        "/collections": {"get": {"operationId": "collections", "responses": ok}},
    }
    principal = authenticate(request)
    for c in visible_collections(principal, request.app.state.settings):
        # Part 1 filters on feature properties: ?name=value for each queryable (equality; lists: contains)
        by_property = [
            {
                "name": n,
                "in": "query",
                "required": False,
                "description": f"{n} equals this value",
                "schema": {"type": "string"} if q.temporal or q.type == "string-list" else q.schema() | {"title": n},
            }
            for n, q in queryables(c, principal).items()
        ]
        paths[f"/collections/{c.name}"] = {"get": {"operationId": f"describe_{c.name}", "responses": ok}}
        for kind in ("queryables", "sortables", "schema"):
            paths[f"/collections/{c.name}/{kind}"] = {"get": {"operationId": f"{kind}_{c.name}", "responses": ok}}
        paths[f"/collections/{c.name}/items"] = {
            "get": {
                "operationId": f"items_{c.name}",
                "summary": c.title,
                "parameters": [*({"$ref": f"#/components/parameters/{p}"} for p in params), *by_property],
                "responses": ok,
            }
        }
        paths[f"/collections/{c.name}/items/{{featureId}}"] = {
            "get": {
                "operationId": f"item_{c.name}",
                "responses": ok,
                "parameters": [{"name": "featureId", "in": "path", "required": True, "schema": {"type": "string"}}],
            }
        }
    doc = {
        "openapi": "3.0.3",
        "info": {"title": "geo_service OGC API - Features", "version": __version__},
        "servers": [{"url": base}],
        "paths": paths,
        "components": {"parameters": params},
    }
    return JSONResponse(doc, media_type=OPENAPI_MEDIA)


# Shared with the OGC API - Tiles routes (api/ogc_tiles.py): the same parameter rule, base address and extents.
only_params = _only
api_base = _base
collection_extents = _extents
