"""GeoJSON (RFC 7946) shapes for the OpenAPI document: routes that answer with PostGIS-built GeoJSON bytes
declare them with ``responses=geojson_responses()`` so clients know what comes back, without the service
re-validating features it did not build in Python."""

from __future__ import annotations

from typing import Any, Literal

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

GEOJSON = "application/geo+json"


class Geometry(BaseModel):
    """A GeoJSON geometry in WGS 84 longitude/latitude (EPSG:4326), coordinates as published."""

    model_config = ConfigDict(extra="allow")
    type: Literal[
        "Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "GeometryCollection"
    ]
    coordinates: Any = None


class Feature(BaseModel):
    """One GeoJSON Feature: an identifier, a geometry (null when withheld) and its properties."""

    model_config = ConfigDict(extra="allow")
    type: Literal["Feature"] = "Feature"
    id: int | str | None = None
    geometry: Geometry | None = None
    properties: dict[str, Any] | None = Field(default=None, description="The feature's attributes")


class Link(BaseModel):
    """A link to a related resource (OGC API style)."""

    model_config = ConfigDict(extra="allow")
    href: str
    rel: str
    type: str | None = None
    title: str | None = None


class FeatureCollection(BaseModel):
    """A GeoJSON FeatureCollection; paged collections add ``numberMatched``, ``numberReturned`` and ``links``."""

    model_config = ConfigDict(extra="allow")
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[Feature]
    numberMatched: int | None = None  # OGC API field name
    numberReturned: int | None = None  # OGC API field name
    links: list[Link] | None = None


class GeoJSONResponse(JSONResponse):
    """GeoJSON sent as ``application/geo+json``: bytes already serialised (by PostGIS) go out as they are, other
    content is serialised as JSON. A JSON response class, so the OpenAPI document shows the declared model."""

    media_type = GEOJSON

    def render(self, content: Any) -> bytes:
        """Bytes unchanged; anything else as JSON."""
        if isinstance(content, bytes | bytearray | memoryview):
            return bytes(content)
        return super().render(content)


def geojson_responses(model: type[BaseModel] = FeatureCollection, status: int = 200, description: str = "GeoJSON"):
    """``responses=`` for a route declared with ``response_class=GeoJSONResponse``: the model's schema under
    ``application/geo+json`` in the OpenAPI document."""
    return {status: {"model": model, "description": description}}
