"""What an uploaded file is, decided from its bytes before GDAL opens anything; and GDAL kept off the network.

GDAL picks a driver by content, not by name: a ``.geojson`` (or ``.kml``, ``.gpkg``, a member of a ``.zip``)
holding an ``<OGRVRTDataSource>`` is opened as a VRT, which reads other local files and URLs
(``/vsicurl/``) while it is being opened. So every upload (layers, rasters, and any later one) goes through
``sniff`` first: the format is recognised from the file's first bytes, only the formats the caller
documents are accepted, anything naming a VRT is refused, and the caller then opens the file with that
one driver (``Sniffed.gdal_path`` forces it where GDAL has a prefix for it; the driver GDAL reports is
checked again after opening). ``GDAL_SAFE_OPTIONS`` are set for every open of an upload: no network
(``/vsicurl/`` refused for every file name, an unroutable proxy, no retries), no directory listing.

Accepted formats (what README documents):

========== ==================================== =================================
format     recognised by                        driver
========== ==================================== =================================
geojson    JSON text (``{`` after BOM/space)    GeoJSON (forced: ``GeoJSON:``)
gpkg       SQLite header ``SQLite format 3``    GPKG
shapefile  zip holding one ``.shp`` (magic      ESRI Shapefile (``/vsizip/``)
           9994) and only its sidecar files;
           or a ``.shp`` itself (command line)
kml        XML whose root element is ``kml``    KML, LIBKML
gtiff      TIFF / BigTIFF header                GTiff
========== ==================================== =================================
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

DRIVERS: dict[str, frozenset[str]] = {
    "geojson": frozenset({"GeoJSON"}),
    "gpkg": frozenset({"GPKG"}),
    "shapefile": frozenset({"ESRI Shapefile"}),
    "kml": frozenset({"KML", "LIBKML"}),
    "gtiff": frozenset({"GTiff"}),
}
DESCRIPTIONS = {
    "geojson": "GeoJSON",
    "gpkg": "GeoPackage",
    "shapefile": "a zipped Shapefile",
    "kml": "KML",
    "gtiff": "GeoTIFF",
}

# Set around every GDAL open of an upload (pyogrio.set_gdal_config_options / rasterio.Env).
GDAL_SAFE_OPTIONS: dict[str, str] = {
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".geo-service-no-network",  # /vsicurl/ refuses every real file name
    "GDAL_HTTP_PROXY": "127.0.0.1:9",  # anything that still tries HTTP meets a closed port (discard)
    "GDAL_HTTP_MAX_RETRY": "0",
    "GDAL_HTTP_TIMEOUT": "1",
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_VRT_ENABLE_PYTHON": "NO",
    "OGR_SQLITE_ALLOW_EXTERNAL_ACCESS": "NO",
    "CPL_DEBUG": "OFF",
}

HEADER_BYTES = 1 << 16  # GDAL identifies formats from (much) less than this
SHAPEFILE_SIDECARS = {".shp", ".shx", ".dbf", ".prj", ".cpg", ".sbn", ".sbx", ".qix", ".xml", ".qmd"}
_VRT = re.compile(rb"<\s*(?:OGRVRTDataSource|VRTDataset)\b", re.I)
_XML_ROOT = re.compile(rb"<([A-Za-z_][\w.:-]*)")
_TIFF = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
SHP_MAGIC = b"\x00\x00\x27\x0a"


@dataclass(frozen=True)
class Sniffed:
    """What an upload is by its content: format, GDAL drivers and the path to give GDAL."""

    format: str
    drivers: frozenset[str]
    gdal_path: str  # what to hand GDAL: the driver forced where GDAL has a prefix, /vsizip/ for a zip


def _names(formats: Iterable[str]) -> str:
    return ", ".join(DESCRIPTIONS[f] for f in formats)


def _xml_root(head: bytes) -> bytes | None:
    """The first element name after the XML declaration, comments and processing instructions."""
    body = re.sub(rb"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", b"", head, flags=re.S)
    m = _XML_ROOT.search(body)
    return m.group(1).split(b":")[-1].lower() if m else None


def _kind(head: bytes) -> str | None:
    if head.startswith(b"SQLite format 3\x00"):
        return "gpkg"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(_TIFF):
        return "gtiff"
    if head.startswith(SHP_MAGIC):
        return "shapefile"  # a .shp on disk (the command line), its sidecars beside it
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"{"):
        return "geojson"
    if text.startswith(b"<") and _xml_root(text) == b"kml":
        return "kml"
    return None


def sniff(path: str | Path, allowed: Iterable[str], refuse: Callable[[str], Exception]) -> Sniffed:
    """Recognise an upload from its bytes; ``refuse(message)`` builds the caller's domain error (4xx).

    Refused: anything naming a VRT in its first 64 KiB (or in any member of a zip), a format not in
    ``allowed``, a zip that is not exactly one Shapefile with its sidecar files.
    """
    allowed = tuple(allowed)
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(HEADER_BYTES)
    if _VRT.search(head):
        raise refuse(
            "The file is a GDAL virtual dataset (VRT), which may point at other files or URLs; "
            f"it is refused. Send {_names(allowed)}."
        )
    kind = _kind(head)
    fmt = "shapefile" if kind == "zip" else kind
    if fmt not in allowed:
        raise refuse(
            f"The file is damaged or its content is not {_names(allowed)} (recognised from its "
            "first bytes" + (f": {DESCRIPTIONS.get(fmt, fmt)}" if fmt else "") + ")."
        )
    if kind == "zip":
        return Sniffed(fmt, DRIVERS[fmt], _shapefile_member(path, refuse))
    if kind == "geojson":
        return Sniffed(fmt, DRIVERS[fmt], f"GeoJSON:{path}")
    return Sniffed(fmt, DRIVERS[fmt], str(path))


def _shapefile_member(path: Path, refuse: Callable[[str], Exception]) -> str:
    try:
        with zipfile.ZipFile(path) as zf:
            members = [i for i in zf.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX")]
            shps = [i.filename for i in members if i.filename.lower().endswith(".shp")]
            if not shps:
                raise refuse("The .zip file holds no Shapefile (.shp).")
            if len(shps) > 1:
                raise refuse(
                    "The .zip file holds several Shapefiles; send one per file (found " + ", ".join(shps[:10]) + ")."
                )
            stem = shps[0][:-4]
            others = [
                i.filename
                for i in members
                if Path(i.filename).suffix.lower() not in SHAPEFILE_SIDECARS or i.filename[: len(stem)] != stem
            ]
            if others:
                raise refuse(
                    "The .zip file holds files that are not part of its Shapefile: " + ", ".join(others[:10]) + "."
                )
            for info in members:
                with zf.open(info) as member:
                    head = member.read(HEADER_BYTES)
                if _VRT.search(head):
                    raise refuse(f"'{info.filename}' in the .zip file is a GDAL virtual dataset (VRT); refused.")
                if info.filename == shps[0] and not head.startswith(SHP_MAGIC):
                    raise refuse(f"'{info.filename}' is not a Shapefile (wrong header).")
    except zipfile.BadZipFile:
        raise refuse("The .zip file is damaged or not a zip archive.") from None
    return f"/vsizip/{path}/{shps[0]}"
