"""A bounding box as the API and the command line take it: ``min lon,min lat,max lon,max lat`` (EPSG:4326)."""

from __future__ import annotations

import math

from geo_service.errors import InvalidInput

BBox = tuple[float, float, float, float]


def parse_bbox(value: str | None) -> BBox | None:
    """Four numbers ``min lon,min lat,max lon,max lat`` as a tuple; None for no value; InvalidInput (with what
    is wrong) for anything else."""
    if value is None or value == "":
        return None
    parts = value.split(",")
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        nums = []
    if len(nums) != 4 or not all(math.isfinite(n) for n in nums):
        raise InvalidInput(
            "bbox must be four numbers: min longitude, min latitude, max longitude, max latitude "
            "(for example 99.9,17.9,100.3,18.3).",
            code="invalid_bbox",
        )
    minx, miny, maxx, maxy = nums
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= 90 and -90 <= maxy <= 90):
        raise InvalidInput(
            "bbox is outside the range of longitude (-180..180) and latitude (-90..90); "
            "are longitude and latitude swapped?",
            code="invalid_bbox",
        )
    if minx > maxx or miny > maxy:
        raise InvalidInput(
            "bbox minimum is larger than its maximum; give min lon, min lat, max lon, max lat.", code="invalid_bbox"
        )
    return minx, miny, maxx, maxy
