"""Make layers/country/thailand_naturalearth_10m.geojson: Thailand's outline from Natural Earth 1:10m admin-0.

Source: the npm package ``world-atlas`` 2.0.2 (Natural Earth 4.1.0 Admin 0 countries, 1:10m, as TopoJSON,
``countries-10m.json``; Natural Earth is public domain, the package ISC). Nothing of the package is committed:

    cd /tmp && npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz
    python layers/country/make_thailand_outline.py /tmp/package/countries-10m.json

GDAL's TopoJSON driver decodes the arcs; the feature with ISO 3166-1 numeric id 764 is written as GeoJSON
(EPSG:4326, 5 decimals, about 1 m, far finer than the 1:10m source), with its source in the properties.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import geopandas as gpd
import shapely

OUT = Path(__file__).with_name("thailand_naturalearth_10m.geojson")
ISO_NUMERIC = "764"  # Thailand


def main(topojson: Path) -> None:
    countries = gpd.read_file(topojson, layer="countries")
    thailand = countries[countries["id"] == ISO_NUMERIC]
    if len(thailand) != 1:
        raise SystemExit(f"expected one feature with id {ISO_NUMERIC}, found {len(thailand)}")
    geom = shapely.set_precision(thailand.geometry.iloc[0], 1e-5)
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    feature = {
        "type": "Feature",
        "properties": {
            "name_en": "Thailand", "name_th": "ประเทศไทย", "iso_n3": ISO_NUMERIC,
            "source": "Natural Earth 4.1.0 Admin 0 countries 1:10m, via npm world-atlas 2.0.2 countries-10m.json",
            "source_sha256": hashlib.sha256(topojson.read_bytes()).hexdigest(),
            "licence": "public domain (Natural Earth)",
        },
        "geometry": json.loads(shapely.to_geojson(geom)),
    }
    OUT.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}, ensure_ascii=False,
                              separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"{OUT.name}: {shapely.get_num_coordinates(geom)} vertices, {len(geom.geoms)} parts, "
          f"bounds {tuple(round(v, 3) for v in geom.bounds)}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
