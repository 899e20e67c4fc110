"""Build the SQL of an export or an OGC API items request from a collection and the caller's filters.

Everything is a SQLAlchemy Core expression over the collection's query, with bound parameters: bbox,
datetime intervals, simple equality filters, CQL2 (text or JSON) translated by pygeofilter with the
collection's allow-list as the field mapping (a property outside it is an error, never ignored), and a
``sortby`` over the collection's sortable queryables (exports/queryables.py).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from typing import cast as cast_any

from geoalchemy2 import Geometry
from sqlalchemy import Select, and_, any_, bindparam, cast, column, func, literal, literal_column, or_, select, text
from sqlalchemy.dialects import postgresql

from geo_service.auth import Principal
from geo_service.errors import InvalidInput
from geo_service.exports.collections import Collection
from geo_service.exports.queryables import STRING, STRING_LIST, instant, queryables

DECIMALS = 7


@dataclass
class ItemQuery:
    """What a caller asks of a collection: filters, properties, order, page and output CRS."""

    bbox: tuple[float, float, float, float] | None = None
    datetime: str | None = None  # OGC: instant, or start/end with '..' for open ends
    equals: dict[str, str] = field(default_factory=dict)
    minimum: dict[str, float] = field(default_factory=dict)
    cql: str | None = None
    cql_lang: str = "cql2-text"  # or cql2-json, or cql-text (the draft dialect GDAL 3.6 sends)
    sortby: str | None = None  # OGC API - Features Part 5: "+observed_at,-frp" ('+' optional)
    properties: list[str] | None = None
    limit: int | None = None
    offset: int = 0
    crs: int = 4326
    feature_id: str | None = None


def _subquery(collection: Collection):
    # The geometry column is typed so that pygeofilter's spatial operators (ST_Intersects & co.) apply.
    cols = [column("id"), column("geom", Geometry(srid=4326)), *(column(p) for p in collection.properties)]
    if collection.province_scoped:  # the scope's columns, whether published or not
        cols += [column(c) for c in ("province_code", "created_by") if c not in collection.properties]
    return text(collection.sql).columns(*cols).subquery("t")


def _province_scope(t, collection: Collection, principal: Principal | None):
    """The condition keeping a province-scoped collection within a provincial caller's provinces (as
    ``incidents.store.scope_sql`` does for the incident routes, or the collection's own ``scope_sql``: the clearing
    patches' ``PATCH_SCOPE``); None when the caller is national."""
    if principal is None or principal.provinces is None:
        return None
    if collection.scope_sql:
        return text(collection.scope_sql).bindparams(
            bindparam("scope_provinces", sorted(principal.provinces), type_=postgresql.ARRAY(postgresql.TEXT))
        )
    return or_(
        t.c.province_code
        == any_(
            cast(
                literal(sorted(principal.provinces), postgresql.ARRAY(postgresql.TEXT)),
                postgresql.ARRAY(postgresql.TEXT),
            )
        ),
        and_(t.c.province_code.is_(None), t.c.created_by == principal.name),
    )


def _parse_instant(value: str) -> tuple[datetime | None, bool]:
    """An RFC 3339 date or time of ``datetime=`` (None for an open end), and whether it was a date: a date is the
    whole (UTC) day, from its midnight to the next, not the instant of its midnight."""
    if value in ("", ".."):
        return None, False
    if len(value) == 11 and value.endswith("T"):  # GDAL 3.6 writes a date as 2024-01-01T
        value = value[:-1]
    try:
        if len(value) == 10:
            return datetime.fromisoformat(value).replace(tzinfo=UTC), True
        d = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return (d if d.tzinfo else d.replace(tzinfo=UTC)), False
    except ValueError:
        raise InvalidInput(
            f"datetime '{value}' is not an RFC 3339 date or time (e.g. 2024-03-01T00:00:00Z).", code="invalid_datetime"
        ) from None


FILTER_LANGS = ("cql2-text", "cql2-json", "cql-text")


def _dated_literals(node, temporal: frozenset[str]):
    """The draft "cql-text" that GDAL 3.6 writes compares dates as quoted text (``observed_at >= '2024-01-01T'``):
    such a literal beside a date or time property becomes that instant (CQL2 proper writes TIMESTAMP(...))."""
    import pygeofilter.ast as ast

    if (
        isinstance(node, (ast.Comparison, ast.Between))
        and isinstance(node.lhs, ast.Attribute)
        and node.lhs.name in temporal
    ):
        names = ("rhs",) if isinstance(node, ast.Comparison) else ("low", "high")
        try:
            values = {n: instant(getattr(node, n)) for n in names if isinstance(getattr(node, n), str)}
        except ValueError:
            raise InvalidInput(
                f"'{node.lhs.name}' is compared with text that is not a date or time.", code="invalid_filter"
            ) from None
        return dataclasses.replace(node, **values)
    if isinstance(node, ast.Node) and dataclasses.is_dataclass(node):
        changes = {
            f.name: _dated_literals(getattr(node, f.name), temporal)
            for f in dataclasses.fields(node)
            if isinstance(getattr(node, f.name), ast.Node)
        }
        return dataclasses.replace(cast_any(Any, node), **changes) if changes else node
    return node


_LITERAL_TYPES = {
    "integer": (int,),
    "number": (int, float),
    "string": (str,),
    "boolean": (bool,),
    "date": (date, datetime),
    "date-time": (date, datetime),
}


def _check_types(node, types: dict[str, str]) -> None:
    """Every literal a CQL2 condition compares a property with has that property's queryable type (Part 3):
    ``satellite > 5`` or ``frp = 'abc'`` is a 400 naming the property, decided here and not by the database."""
    import pygeofilter.ast as ast

    if isinstance(node, (ast.Comparison, ast.Between, ast.In, ast.Like)) and isinstance(node.lhs, ast.Attribute):
        kind = types.get(node.lhs.name)
        if isinstance(node, ast.Like):
            values = [node.pattern]
        elif isinstance(node, ast.In):
            values = list(node.sub_nodes)
        elif isinstance(node, ast.Between):
            values = [node.low, node.high]
        else:
            values = [node.rhs]
        allowed = _LITERAL_TYPES.get(kind) if kind else None
        for v in values:
            if allowed is None or isinstance(v, ast.Node):  # lists, or an expression / another property
                continue
            if isinstance(v, bool) != (kind == "boolean") or not isinstance(v, allowed):
                raise InvalidInput(
                    f"'{node.lhs.name}' is a {kind}; the filter compares it with "
                    f"{'text' if isinstance(v, str) else type(v).__name__ if v is not None else 'null'}"
                    f" ({str(v)[:40]!r}).",
                    code="invalid_filter",
                )
    if isinstance(node, ast.Node) and dataclasses.is_dataclass(node):
        for f in dataclasses.fields(node):
            child = getattr(node, f.name)
            for c in child if isinstance(child, list) else [child]:
                if isinstance(c, ast.Node):
                    _check_types(c, types)


def _cql_filter(q: ItemQuery, fields: dict, types: dict[str, str]):
    from pygeofilter.backends.sqlalchemy import to_filter

    try:
        if q.cql_lang == "cql2-json":
            from pygeofilter.parsers.cql2_json import parse as parse_json

            ast = parse_json(json.loads(q.cql or "null"))
        elif q.cql_lang in ("cql2-text", "cql-text"):
            from pygeofilter.parsers.cql2_text import parse as parse_text

            ast = parse_text(q.cql)
        else:
            raise InvalidInput(
                "filter-lang must be one of " + ", ".join(FILTER_LANGS) + ".", code="invalid_filter_lang"
            )
    except InvalidInput:
        raise
    except Exception:
        raise InvalidInput(
            "The filter could not be read as CQL2; example: kind = 'wildfire' AND "
            "S_INTERSECTS(geometry, BBOX(100, 18, 100.5, 18.5))",
            code="invalid_filter",
        ) from None
    # a quoted date beside a date or time property is that instant (GDAL 3.6's draft cql-text writes them so)
    ast = _dated_literals(ast, frozenset(n for n, t in types.items() if t in ("date", "date-time")))
    _check_types(ast, types)
    try:
        return to_filter(ast, fields, undefined_as_null=False)
    except Exception:
        raise InvalidInput(
            "The filter names a property or function that is not available. Properties: "
            + ", ".join(sorted(k for k in fields if k != "geometry")),
            code="invalid_filter",
        ) from None


@dataclass
class Built:
    """The statements of one request on one collection, and the properties they show."""

    features: Select  # one GeoJSON Feature (text) per row: properties id + the shown ones, geometry
    count: Select
    summary: Select  # one scan: the count and the bounding box (min lon, min lat, max lon, max lat)
    rows: Select  # id, WKB geometry and the shown properties as columns (for file formats)
    shown: list[str]


@dataclass
class Filtered:
    """A collection's rows as this caller may see them, with the caller's filters: the subquery, its condition,
    the properties the caller may see and those asked for."""

    t: Any  # the collection's query as a subquery: columns id, geom and its properties
    where: Any
    visible: list[str]
    shown: list[str]


def build_select(collection: Collection, principal: Principal | None, q: ItemQuery) -> Built:
    """The queries for a collection, its caller and their filters."""
    f = filtered(collection, principal, q)
    return _statements(collection, principal, q, f)


def filtered(collection: Collection, principal: Principal | None, q: ItemQuery) -> Filtered:
    """The collection's subquery and the condition of the caller's filters (bbox, datetime, equality, minimum,
    CQL2), checked against what the caller may see; shared by the items, the downloads and the vector tiles."""
    t = _subquery(collection)
    visible = list(collection.properties_for(principal))
    if q.properties is not None:
        unknown = [p for p in q.properties if p not in visible]
        if unknown:
            raise InvalidInput(
                "Unknown or unavailable properties: " + ", ".join(unknown) + ". Available: " + ", ".join(visible),
                code="invalid_properties",
            )
        shown = [p for p in visible if p in q.properties]
    else:
        shown = visible
    conditions: list[Any] = []
    scope = _province_scope(t, collection, principal) if collection.province_scoped else None
    if scope is not None:
        conditions.append(scope)
    if q.bbox:
        minx, miny, maxx, maxy = q.bbox
        conditions.append(func.ST_Intersects(t.c.geom, func.ST_MakeEnvelope(minx, miny, maxx, maxy, 4326)))
    if q.datetime:
        if not collection.datetime:
            raise InvalidInput(f"The collection {collection.name} has no time to filter on.", code="invalid_datetime")
        if collection.datetime not in visible:  # a withheld property is refused here as in CQL2
            raise InvalidInput(
                f"Cannot filter on '{collection.datetime}': your role or key may not read it.", code="invalid_filter"
            )
        col = t.c[collection.datetime]
        day = timedelta(days=1)
        if "/" in q.datetime:
            start_s, end_s = q.datetime.split("/", 1)
            (start, _), (end, end_is_day) = _parse_instant(start_s), _parse_instant(end_s)
            if start and end and end < start:
                raise InvalidInput("The datetime interval ends before it starts.", code="invalid_datetime")
            if start:
                conditions.append(col >= start)
            if end:  # a last day is included whole (a fraction of its last second too)
                conditions.append(col < end + day if end_is_day else col <= end)
        else:
            instant, is_day = _parse_instant(q.datetime)
            if instant is not None:  # ".." alone: no bound
                conditions.append(and_(col >= instant, col < instant + day) if is_day else col == instant)
    for name, value in q.equals.items():
        if name not in visible:
            raise InvalidInput(f"Cannot filter on '{name}'.", code="invalid_filter")
        qb = queryables(collection, principal)[name]
        if qb.type == STRING_LIST:
            conditions.append(
                t.c[name].op("@>")(
                    cast(literal([value], postgresql.ARRAY(postgresql.TEXT)), postgresql.ARRAY(postgresql.TEXT))
                )
            )
        elif qb.type == STRING:
            conditions.append(cast(t.c[name], postgresql.TEXT) == str(value))
        else:  # numbers, booleans, dates and times compare as what they are (a bound, typed value)
            try:
                conditions.append(t.c[name] == qb.value(str(value)))
            except ValueError:
                raise InvalidInput(f"'{name}' must be a {qb.type}.", code="invalid_filter") from None
    for name, minimum in q.minimum.items():
        if name not in visible:
            raise InvalidInput(f"Cannot filter on '{name}'.", code="invalid_filter")
        conditions.append(t.c[name] >= minimum)
    if q.cql:
        fields = {p: t.c[p] for p in visible}
        fields["geometry"] = t.c.geom
        types = {n: qb.type for n, qb in queryables(collection, principal).items()}
        conditions.append(_cql_filter(q, fields, types))
    if q.feature_id is not None:
        conditions.append(t.c.id == q.feature_id)
    where = and_(*conditions) if conditions else literal(True)
    return Filtered(t=t, where=where, visible=visible, shown=shown)


def _statements(collection: Collection, principal: Principal | None, q: ItemQuery, f_: Filtered) -> Built:
    t, where, shown = f_.t, f_.where, f_.shown
    geom = t.c.geom if collection.geometry_type == "Point" else func.ST_ForcePolygonCCW(t.c.geom)
    if q.crs != 4326:
        geom = func.ST_Transform(geom, q.crs)
    default_order = t.c[collection.order_by] if collection.order_by != "id" else t.c.id
    order = [*_sort_keys(t, parse_sortby(collection, principal, q.sortby)), default_order]
    # PostGIS turns each row (id, shown properties, geom) into a GeoJSON Feature in C: the fastest path.
    inner = select(t.c.id, *(t.c[p] for p in shown), geom.label("geom")).select_from(t).where(where).order_by(*order)
    rows = (
        select(t.c.id, func.ST_AsBinary(geom).label("wkb"), *(t.c[p] for p in shown))
        .select_from(t)
        .where(where)
        .order_by(*order)
    )
    if q.limit is not None:
        inner, rows = inner.limit(q.limit), rows.limit(q.limit)
    if q.offset:
        inner, rows = inner.offset(q.offset), rows.offset(q.offset)
    f = inner.subquery("f")
    # PostGIS writes the whole Feature from the row; the id is the first property (properties.id). Putting
    # it at the top level in SQL (string surgery on each row) costs a third of the throughput, so the OGC
    # API, whose pages are small, lifts it in Python (api/ogc.py).
    stmt = select(func.ST_AsGeoJSON(literal_column("f"), "geom", DECIMALS).label("feature")).select_from(f)
    count = select(func.count()).select_from(t).where(where)
    box = func.ST_Extent(t.c.geom)
    summary = (
        select(func.count(), func.ST_XMin(box), func.ST_YMin(box), func.ST_XMax(box), func.ST_YMax(box))
        .select_from(t)
        .where(where)
    )
    return Built(features=stmt, count=count, summary=summary, rows=rows, shown=shown)


def parse_sortby(collection: Collection, principal: Principal | None, text_: str | None) -> list[tuple[str, bool]]:
    """``+observed_at,-frp`` -> [("observed_at", False), ("frp", True)] (name, descending). A '+' that arrived
    unencoded in a URL reads as a space: also ascending."""
    if not text_:
        return []
    sortable = [n for n, qb in queryables(collection, principal).items() if qb.sortable]
    keys, seen = [], set()
    for part in text_.split(","):
        part = part.strip()
        descending = part.startswith("-")
        name = part.lstrip("+-").strip()
        if name not in sortable:
            raise InvalidInput(
                f"Cannot sort by '{name}'. Sortable properties: " + ", ".join(sortable) + ".", code="invalid_sortby"
            )
        if name in seen:
            raise InvalidInput(f"sortby names '{name}' twice.", code="invalid_sortby")
        seen.add(name)
        keys.append((name, descending))
    return keys


def _sort_keys(t, keys: list[tuple[str, bool]]) -> list:
    """Sort expressions, empty values last either way."""
    return [(t.c[n].desc() if d else t.c[n].asc()).nulls_last() for n, d in keys]


def compile_for_psycopg(stmt) -> tuple[str, dict]:
    """The statement as SQL text and parameters for a psycopg cursor (COPY takes no SQLAlchemy statement)."""
    compiled = stmt.compile(dialect=postgresql.psycopg.dialect())
    return str(compiled), compiled.params
