"""OGC API - Features (Part 1 core, GeoJSON, HTML, OpenAPI 3.0; Part 3 CQL2 filters) over the collections
of exports/collections.py. Anonymous callers see the public collections; partners with an API key see
the collections of its scopes, with the properties their role may see."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, select_autoescape

from geo_service import __version__
from geo_service.api.deps import parse_bbox
from geo_service.api.exports import collection_for, record_export
from geo_service.auth import authenticate
from geo_service.errors import InvalidInput, NotFound
from geo_service.exports.collections import Collection, visible_collections
from geo_service.exports.query import ItemQuery, build_select

router = APIRouter(prefix="/ogc", tags=["OGC API - Features"])
GEOJSON = "application/geo+json"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
]
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
MAX_LIMIT = 10_000
_html = Environment(autoescape=select_autoescape(default=True, default_for_string=True)).from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>body{font-family:Loma,Garuda,sans-serif;margin:2em;max-width:60em} td,th{border:1px solid #ccc;padding:.3em}
table{border-collapse:collapse}</style></head><body>
<h1>{{ title }}</h1>{% if description %}<p>{{ description }}</p>{% endif %}
<ul>{% for l in links %}<li><a href="{{ l.href }}">{{ l.title or l.rel }}</a> ({{ l.type }})</li>{% endfor %}</ul>
{% if rows %}<table><tr>{% for h in rows[0].keys() %}<th>{{ h }}</th>{% endfor %}</tr>
{% for r in rows %}<tr>{% for v in r.values() %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}</table>{% endif %}
</body></html>""")


def _wants_html(request: Request, f: str | None) -> bool:
    if f:
        if f not in ("json", "html"):
            raise InvalidInput("f must be json or html.", code="invalid_format")
        return f == "html"
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "json" not in accept


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


def _page(title: str, description: str, links: list[dict], rows: list[dict] | None = None) -> HTMLResponse:
    return HTMLResponse(_html.render(title=title, description=description, links=links, rows=rows or []))


@router.get("", summary="Landing page")
def landing(request: Request, f: str | None = None):
    base = _base(request)
    links = [
        {"rel": "self", "type": "application/json", "title": "This document", "href": f"{base}?f=json"},
        {"rel": "alternate", "type": "text/html", "title": "This document as HTML", "href": f"{base}?f=html"},
        {"rel": "service-desc", "type": "application/vnd.oai.openapi+json;version=3.0", "title": "OpenAPI 3.0",
         "href": f"{base}/api"},
        {"rel": "conformance", "type": "application/json", "title": "Conformance", "href": f"{base}/conformance"},
        {"rel": "data", "type": "application/json", "title": "Collections", "href": f"{base}/collections"},
    ]
    body = {"title": "geo_service — forest reserves, incidents and hotspots (Phrae)",
            "description": "OGC API - Features of the NACC Phrae geo_service. Protected areas shipped with the "
                           "service are ILLUSTRATIVE, not official boundaries.", "links": links}
    if _wants_html(request, f):
        return _page(body["title"], body["description"], links)
    return JSONResponse(body)


@router.get("/conformance", summary="Conformance classes")
def conformance(request: Request, f: str | None = None):
    if _wants_html(request, f):
        return _page("Conformance", "", [{"href": c, "rel": "conformance", "type": "", "title": c} for c in CONFORMANCE])
    return JSONResponse({"conformsTo": CONFORMANCE})


def _collection_doc(request: Request, c: Collection, extent: list[float] | None) -> dict:
    base = _base(request)
    doc = {
        "id": c.name, "title": c.title, "description": f"{c.title_th}. {c.description} Licence: {c.licence}. "
                                                        f"{c.attribution}",
        "itemType": "feature", "crs": [CRS84], "storageCrs": CRS84,
        "links": [
            {"rel": "self", "type": "application/json", "href": f"{base}/collections/{c.name}"},
            {"rel": "items", "type": GEOJSON, "title": "Features", "href": f"{base}/collections/{c.name}/items"},
            {"rel": "items", "type": "text/html", "title": "Features (HTML)",
             "href": f"{base}/collections/{c.name}/items?f=html"},
            {"rel": "license", "type": "text/plain", "title": c.licence, "href": f"{base}/collections/{c.name}#license"},
        ],
    }
    if extent:
        doc["extent"] = {"spatial": {"bbox": [extent], "crs": CRS84}}
    return doc


EXTENT_SECONDS = 300  # clients ask for /collections often; a full scan of a million hotspots each time is waste


def _extent(request: Request, c: Collection) -> list[float] | None:
    """The collection's bounding box, from the same query the items use, recomputed every few minutes."""
    extents = getattr(request.app.state, "ogc_extents", None)  # per application (per database)
    if extents is None:
        extents = request.app.state.ogc_extents = {}
    cached = extents.get(c.name)
    if cached and time.monotonic() - cached[0] < EXTENT_SECONDS:
        return cached[1]
    with request.app.state.engine.connect() as conn:
        count, *box = conn.execute(build_select(c, None, ItemQuery()).summary).one()
    extent = [round(v, 7) for v in box] if count else None
    extents[c.name] = (time.monotonic(), extent)
    return extent


@router.get("/collections", summary="The collections this caller may read")
def collections(request: Request, f: str | None = None):
    principal = authenticate(request)
    docs = [_collection_doc(request, c, _extent(request, c)) for c in visible_collections(principal)]
    base = _base(request)
    links = [{"rel": "self", "type": "application/json", "href": f"{base}/collections"}]
    if _wants_html(request, f):
        return _page("Collections", "", [{"href": f"{base}/collections/{d['id']}?f=html", "rel": "collection",
                                          "type": "text/html", "title": d["title"]} for d in docs])
    return JSONResponse({"collections": docs, "links": links})


@router.get("/collections/{name}", summary="One collection")
def collection(name: str, request: Request, f: str | None = None):
    c, _ = collection_for(request, name)
    doc = _collection_doc(request, c, _extent(request, c))
    if _wants_html(request, f):
        return _page(doc["title"], doc["description"], doc["links"])
    return JSONResponse(doc)


@router.get("/collections/{name}/items", summary="Features, with bbox, datetime, CQL2 filter and paging")
async def items(
    name: str, request: Request, f: str | None = None,
    bbox: Annotated[str | None, Query()] = None,
    datetime_: Annotated[str | None, Query(alias="datetime")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 10,
    offset: Annotated[int, Query(ge=0)] = 0,
    filter_: Annotated[str | None, Query(alias="filter", max_length=4000)] = None,
    filter_lang: Annotated[str, Query(alias="filter-lang")] = "cql2-text",
    properties: Annotated[str | None, Query()] = None,
):
    c, principal = collection_for(request, name)
    q = ItemQuery(bbox=parse_bbox(bbox), datetime=datetime_, limit=limit, offset=offset, cql=filter_,
                  cql_lang=filter_lang,
                  properties=[p.strip() for p in properties.split(",") if p.strip()] if properties else None)
    built = build_select(c, principal, q)
    engine = request.app.state.engine

    def run():
        with engine.connect() as conn:
            matched = conn.execute(built.count).scalar()
            rows = conn.execute(built.features).scalars().all()
        return matched, rows

    matched, rows = await run_in_threadpool(run)
    record_export(request, principal, c, "ogc-items", {"bbox": bbox, "datetime": datetime_, "filter": filter_,
                                                      "limit": limit, "offset": offset}, len(rows))
    base = f"{_base(request)}/collections/{name}/items"
    params = {k: v for k, v in request.query_params.items() if k not in ("offset", "f")}

    def link(rel: str, off: int, media: str = GEOJSON, fmt: str = "json") -> dict:
        from urllib.parse import urlencode

        return {"rel": rel, "type": media, "href": f"{base}?{urlencode({**params, 'offset': off, 'f': fmt})}"}

    links = [link("self", offset), link("alternate", offset, "text/html", "html"),
             {"rel": "collection", "type": "application/json", "href": f"{_base(request)}/collections/{name}"}]
    if offset + len(rows) < matched:
        links.append(link("next", offset + limit))
    if offset > 0:
        links.append(link("prev", max(0, offset - limit)))
    feats = [_with_id(r) for r in rows]
    if _wants_html(request, f):
        table = [{"id": ft["id"], **ft["properties"]} for ft in feats]
        return _page(f"{c.title}: {len(rows)} of {matched}", c.description, links, table)
    body = orjson.dumps({"type": "FeatureCollection", "numberMatched": matched, "numberReturned": len(rows),
                         "timeStamp": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
                         "links": links, "features": feats})
    return Response(content=body, media_type=GEOJSON)


def _with_id(row: str) -> dict:
    """A Feature from PostGIS with its id (the first property) also at the top level, as OGC clients expect."""
    feature = orjson.loads(row)
    feature["id"] = feature["properties"].get("id")
    return feature


@router.get("/collections/{name}/items/{feature_id}", summary="One feature")
def item(name: str, feature_id: str, request: Request, f: str | None = None):
    c, principal = collection_for(request, name)
    built = build_select(c, principal, ItemQuery(feature_id=feature_id, limit=1))
    with request.app.state.engine.connect() as conn:
        row = conn.execute(built.features).scalar()
    if row is None:
        raise NotFound("No feature with this id in the collection.")
    feature = _with_id(row)
    base = f"{_base(request)}/collections/{name}"
    feature["links"] = [{"rel": "self", "type": GEOJSON, "href": f"{base}/items/{feature_id}"},
                        {"rel": "collection", "type": "application/json", "href": base}]
    if _wants_html(request, f):
        return _page(f"{c.title}: {feature_id}", "", feature["links"], [feature["properties"]])
    return Response(content=orjson.dumps(feature), media_type=GEOJSON)


@router.get("/api", summary="OpenAPI 3.0 description of this OGC API")
def openapi30(request: Request):
    base = _base(request)
    params = {
        "bbox": {"name": "bbox", "in": "query", "schema": {"type": "array", "items": {"type": "number"}},
                 "style": "form", "explode": False},
        "datetime": {"name": "datetime", "in": "query", "schema": {"type": "string"}},
        "limit": {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                                                             "default": 10}},
        "offset": {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}},
        "filter": {"name": "filter", "in": "query", "schema": {"type": "string"}},
        "filter-lang": {"name": "filter-lang", "in": "query",
                        "schema": {"type": "string", "enum": ["cql2-text", "cql2-json"]}},
        "f": {"name": "f", "in": "query", "schema": {"type": "string", "enum": ["json", "html"]}},
    }
    ok = {"200": {"description": "OK"}}
    paths = {
        "/": {"get": {"operationId": "landing", "parameters": [{"$ref": "#/components/parameters/f"}], "responses": ok}},
        "/conformance": {"get": {"operationId": "conformance", "responses": ok}},
        "/collections": {"get": {"operationId": "collections", "responses": ok}},
    }
    for c in visible_collections(authenticate(request)):
        paths[f"/collections/{c.name}"] = {"get": {"operationId": f"describe_{c.name}", "responses": ok}}
        paths[f"/collections/{c.name}/items"] = {"get": {
            "operationId": f"items_{c.name}", "summary": c.title,
            "parameters": [{"$ref": f"#/components/parameters/{p}"} for p in params], "responses": ok}}
        paths[f"/collections/{c.name}/items/{{featureId}}"] = {"get": {
            "operationId": f"item_{c.name}", "responses": ok,
            "parameters": [{"name": "featureId", "in": "path", "required": True, "schema": {"type": "string"}}]}}
    doc = {"openapi": "3.0.3", "info": {"title": "geo_service OGC API - Features", "version": __version__},
           "servers": [{"url": base}], "paths": paths, "components": {"parameters": params}}
    return JSONResponse(doc, media_type="application/vnd.oai.openapi+json;version=3.0")
