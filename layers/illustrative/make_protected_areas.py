"""Draw the ILLUSTRATIVE protected areas of Phrae shipped for demos and tests (deterministic).

No official National Reserved Forest or park boundary is public, so these polygons are made up around
real district boundaries, to exercise what real data will bring: reserves that cross district lines,
multipolygons, holes (village enclaves), a boundary revised when part of a reserve was revoked, and a
national park overlapping a reserve. Names are those of real places with "(illustrative)" appended; the
shapes are NOT their real boundaries.

Run from the project root:  .venv/bin/python layers/illustrative/make_protected_areas.py
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import geopandas as gpd
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, mapping
from shapely.ops import transform

HERE = Path(__file__).parent
PHRAE = HERE.parent / "phrae"
UTM = "EPSG:32647"
LEGAL = "ILLUSTRATIVE: not a real ministerial regulation or royal decree"


def blob(center: Point, radius_m: float, seed: int, roughness: float = 0.25, n: int = 64) -> Polygon:
    """An irregular, star-shaped polygon around ``center`` (UTM metres), reproducible from ``seed``."""
    rnd = random.Random(seed)
    phases = [rnd.uniform(0, 2 * math.pi) for _ in range(4)]
    pts = []
    for k in range(n):
        a = 2 * math.pi * k / n
        r = radius_m * (1 + roughness * sum(math.sin((j + 2) * a + p) / (j + 1) for j, p in enumerate(phases)) / 2)
        pts.append((center.x + r * math.cos(a), center.y + r * math.sin(a)))
    return shapely.make_valid(Polygon(pts)).buffer(0)


def main() -> None:
    districts = gpd.read_file(PHRAE / "phrae_amphoe_hdx_codab.geojson").to_crs(UTM).set_index("amp_code")
    tambons = gpd.read_file(PHRAE / "phrae_tambon_hdx_codab.geojson").to_crs(UTM).set_index("tam_code")
    province = districts.union_all()

    def shared_point(a: str, b: str, at: float = 0.5) -> Point:
        line = districts.geometry[a].boundary.intersection(districts.geometry[b].boundary)
        line = shapely.line_merge(line) if line.geom_type == "MultiLineString" else line
        parts = list(getattr(line, "geoms", [line]))
        longest = max(parts, key=lambda g: g.length)
        return longest.interpolate(at, normalized=True)

    def inner(code: str) -> Point:
        return districts.geometry[code].representative_point()

    def clip(g) -> MultiPolygon:
        g = shapely.make_valid(g.intersection(province))
        polys = [p for p in shapely.get_parts(g) if p.geom_type == "Polygon" and p.area > 1e4]
        return MultiPolygon(polys)

    feats = []

    def add(code, name_th, name_en, kind, geom, agency, valid_from, valid_to=None, version="1", note=None):
        feats.append({"code": code, "name_th": f"{name_th} (ตัวอย่าง)", "name_en": f"{name_en} (illustrative)",
                      "kind": kind, "version": version, "legal_reference": LEGAL, "agency": agency,
                      "valid_from": valid_from, "valid_to": valid_to, "note": note, "illustrative": True,
                      "geom": clip(geom)})

    # 1. Reserve across the Song / Rong Kwang line, with a village enclave as a hole.
    c1 = shared_point("5406", "5402", 0.45)
    nrf1 = blob(c1, 9000, seed=1)
    enclave = blob(Point(c1.x + 1500, c1.y - 1000), 1600, seed=11, roughness=0.15)
    add("NRF-PR-001", "ป่าแม่ยมฝั่งตะวันตก", "Mae Yom West Bank National Reserved Forest",
        "national_reserved_forest", nrf1.difference(enclave), "Royal Forest Department", "1973-09-18",
        note="Crosses the Song / Rong Kwang district line; a village enclave is excluded (hole).")

    # 2. Reserve in two separate blocks (multipolygon) across Den Chai / Sung Men.
    c2 = shared_point("5405", "5404", 0.5)
    block_a = blob(c2, 4500, seed=2)
    d = inner("5405")
    block_b = blob(Point(d.x + 3000, d.y - 4000), 3000, seed=22)
    add("NRF-PR-002", "ป่าแม่จั๊วะ", "Mae Chua National Reserved Forest", "national_reserved_forest",
        block_a.union(block_b), "Royal Forest Department", "1975-04-29",
        note="Two separate blocks (multipolygon), across the Den Chai / Sung Men line.")

    # 3. Reserve whose boundary was revised when a part was revoked for land reform.
    c3 = shared_point("5405", "5403", 0.5)
    full = blob(c3, 7000, seed=3)
    wedge = Polygon([(c3.x, c3.y), (c3.x + 12000, c3.y + 2000), (c3.x + 9000, c3.y + 9000)]).intersection(full)
    add("NRF-PR-003", "ป่าแม่ปาน", "Mae Pan National Reserved Forest", "national_reserved_forest", full,
        "Royal Forest Department", "1976-06-01", "2016-03-01", version="1",
        note="Original boundary, in force until part of the reserve was revoked on 2016-03-01.")
    add("NRF-PR-003", "ป่าแม่ปาน", "Mae Pan National Reserved Forest", "national_reserved_forest",
        full.difference(wedge), "Royal Forest Department", "2016-03-01", version="2",
        note="Revised boundary after the revocation of 2016-03-01 (the revoked part is ALRO-PR-003R).")
    add("ALRO-PR-003R", "พื้นที่ ส.ป.ก. ส่วนที่เพิกถอนจากป่าแม่ปาน", "Land-reform area revoked from Mae Pan reserve",
        "other", wedge, "Agricultural Land Reform Office", "2016-03-01",
        note="Part of NRF-PR-003 revoked and handed to the Agricultural Land Reform Office.")

    # 4. Reserve across Wang Chin / Long.
    c4 = shared_point("5407", "5403", 0.35)
    add("NRF-PR-004", "ป่าแม่ปุง-แม่เป้า", "Mae Pung - Mae Pao National Reserved Forest", "national_reserved_forest",
        blob(c4, 6000, seed=4), "Royal Forest Department", "1977-11-10")

    # 5. National park overlapping reserve 1.
    add("NP-MAEYOM", "อุทยานแห่งชาติแม่ยม", "Mae Yom National Park", "national_park",
        blob(Point(c1.x + 7000, c1.y + 6000), 8000, seed=5),
        "Department of National Parks, Wildlife and Plant Conservation", "1986-12-31",
        note="Overlaps Mae Yom West Bank reserve (NRF-PR-001).")

    # 6. Wildlife sanctuary in northern Song.
    s = districts.geometry["5406"]
    north = Point(s.centroid.x + 2000, s.bounds[3] - 9000)
    add("WS-DOILUANG", "เขตรักษาพันธุ์สัตว์ป่าดอยหลวง", "Doi Luang Wildlife Sanctuary", "wildlife_sanctuary",
        blob(north, 7000, seed=6), "Department of National Parks, Wildlife and Plant Conservation", "1984-03-16")

    # 7. National park across Long / Wang Chin.
    c7 = shared_point("5403", "5407", 0.7)
    add("NP-WIANGKOSAI", "อุทยานแห่งชาติเวียงโกศัย", "Wiang Kosai National Park", "national_park",
        blob(c7, 8500, seed=7), "Department of National Parks, Wildlife and Plant Conservation", "1981-11-13")

    # 8. National park across Mueang Phrae / Sung Men / Long.
    c8 = shared_point("5401", "5404", 0.2)
    add("NP-DOIPHAKLONG", "อุทยานแห่งชาติดอยผากลอง", "Doi Pha Klong National Park", "national_park",
        blob(c8, 6500, seed=8), "Department of National Parks, Wildlife and Plant Conservation", "2014-08-20")

    # 9. Forest park (small) and 10. community forest (small).
    add("FP-PHAEMUEANGPHI", "วนอุทยานแพะเมืองผี", "Phae Mueang Phi Forest Park", "forest_park",
        blob(tambons.geometry["540103"].representative_point(), 700, seed=9, roughness=0.1),
        "Royal Forest Department", "1981-03-19")
    add("CF-NMK-01", "ป่าชุมชนบ้านหนองม่วงไข่", "Ban Nong Muang Khai Community Forest", "community_forest",
        blob(inner("5408"), 900, seed=10, roughness=0.1), "Royal Forest Department", "2020-05-01")

    to_wgs = gpd.GeoSeries([f.pop("geom") for f in feats], crs=UTM).to_crs("EPSG:4326")
    out = {
        "type": "FeatureCollection",
        "name": "phrae_protected_areas_illustrative",
        "note": "ILLUSTRATIVE boundaries for demonstrations and tests; NOT official. Generated by make_protected_areas.py.",
        "features": [],
    }
    for props, geom in zip(feats, to_wgs):
        geom = shapely.set_precision(shapely.orient_polygons(geom), 1e-6)
        assert geom.is_valid and not geom.is_empty, props["code"]
        out["features"].append({"type": "Feature", "properties": props, "geometry": mapping(geom)})
    (HERE / "phrae_protected_areas_illustrative.geojson").write_text(
        json.dumps(out, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {len(out['features'])} features")


if __name__ == "__main__":
    main()
