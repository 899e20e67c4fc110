"""Leaflet and plugin files served by the service itself: no script, style, font or image from a CDN.

The files come from the npm packages pinned in ``geo_service/web/vendor/package-lock.json`` (installed by
``./dev`` with ``npm ci --ignore-scripts``); HeatMap's script ships inside the folium wheel. Folium's
elements name their files in class-level ``default_js`` / ``default_css`` lists that point at CDNs:
``use_local_assets()`` replaces them ONCE, with new lists (the shared lists are never mutated), by URLs
under ``/maps/vendor/``. ``assert_offline`` refuses any rendered page that still names another host.
"""

from __future__ import annotations

import re
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Any

import folium
import folium.plugins as plugins

from geo_service.errors import NotFound

VENDOR = Path(__file__).resolve().parents[1] / "web" / "vendor"
MODULES = VENDOR / "node_modules"
FOLIUM_TEMPLATES = Path(folium.__file__).resolve().parent / "templates"
PREFIX = "/maps/vendor"

# Files (or folders, ending in /) under node_modules that may be served, with what CSS refers to.
ALLOWED = (
    "leaflet/dist/leaflet.js",
    "leaflet/dist/leaflet.css",
    "leaflet/dist/images/",
    "jquery/dist/jquery.min.js",
    "bootstrap/dist/js/bootstrap.bundle.min.js",
    "bootstrap/dist/css/bootstrap.min.css",
    "@fortawesome/fontawesome-free/css/all.min.css",
    "@fortawesome/fontawesome-free/webfonts/",
    "drmonty-leaflet-awesome-markers/js/leaflet.awesome-markers.min.js",
    "drmonty-leaflet-awesome-markers/css/leaflet.awesome-markers.css",
    "drmonty-leaflet-awesome-markers/css/images/",
    "leaflet.markercluster/dist/leaflet.markercluster.js",
    "leaflet.markercluster/dist/MarkerCluster.css",
    "leaflet.markercluster/dist/MarkerCluster.Default.css",
    "leaflet-minimap/dist/Control.MiniMap.min.js",
    "leaflet-minimap/dist/Control.MiniMap.min.css",
    "leaflet-minimap/dist/images/",
    "jquery-ui-dist/jquery-ui.min.js",
    "iso8601-js-period/iso8601.js",
    "moment/min/moment.min.js",
    "leaflet-timedimension/dist/leaflet.timedimension.min.js",
    "leaflet-timedimension/dist/leaflet.timedimension.control.css",
    "leaflet.fullscreen/Control.FullScreen.js",
    "leaflet.fullscreen/Control.FullScreen.css",
    "leaflet.fullscreen/icon-fullscreen.svg",
    "leaflet-measure/dist/leaflet-measure.js",
    "leaflet-measure/dist/leaflet-measure.css",
    "leaflet-measure/dist/images/",
    "leaflet.vectorgrid/dist/Leaflet.VectorGrid.bundled.min.js",
)
HEAT = "folium/leaflet_heat.min.js"  # from the folium wheel


def url(path: str) -> str:
    """The URL under which this service serves a vendored file."""
    return f"{PREFIX}/{path}"


# name -> file, per folium element class. Glyphicons (Bootstrap 3, a CDN font), highlight.js' CSS and
# folium's rotate CSS (from GitHub) are dropped: nothing here uses them.
_MAP_JS = [
    ("leaflet", "leaflet/dist/leaflet.js"),
    ("jquery", "jquery/dist/jquery.min.js"),
    ("bootstrap", "bootstrap/dist/js/bootstrap.bundle.min.js"),
    ("awesome_markers", "drmonty-leaflet-awesome-markers/js/leaflet.awesome-markers.min.js"),
]
_MAP_CSS = [
    ("leaflet_css", "leaflet/dist/leaflet.css"),
    ("bootstrap_css", "bootstrap/dist/css/bootstrap.min.css"),
    ("awesome_markers_font_css", "@fortawesome/fontawesome-free/css/all.min.css"),
    ("awesome_markers_css", "drmonty-leaflet-awesome-markers/css/leaflet.awesome-markers.css"),
]
_CLUSTER_JS = [("markerclusterjs", "leaflet.markercluster/dist/leaflet.markercluster.js")]
_CLUSTER_CSS = [
    ("markerclustercss", "leaflet.markercluster/dist/MarkerCluster.css"),
    ("markerclusterdefaultcss", "leaflet.markercluster/dist/MarkerCluster.Default.css"),
]
OVERRIDES: dict[type[Any], tuple[list, list]] = {
    folium.Map: (_MAP_JS, _MAP_CSS),
    plugins.MarkerCluster: (_CLUSTER_JS, _CLUSTER_CSS),
    plugins.FastMarkerCluster: (_CLUSTER_JS, _CLUSTER_CSS),
    plugins.MiniMap: (
        [("Control_MiniMap_js", "leaflet-minimap/dist/Control.MiniMap.min.js")],
        [("Control_MiniMap_css", "leaflet-minimap/dist/Control.MiniMap.min.css")],
    ),
    plugins.TimestampedGeoJson: (
        [
            ("jquery3.7.1", "jquery/dist/jquery.min.js"),
            ("jqueryui1.13.3", "jquery-ui-dist/jquery-ui.min.js"),
            ("iso8601", "iso8601-js-period/iso8601.js"),
            ("leaflet.timedimension", "leaflet-timedimension/dist/leaflet.timedimension.min.js"),
            ("moment", "moment/min/moment.min.js"),
        ],
        [("leaflet.timedimension_css", "leaflet-timedimension/dist/leaflet.timedimension.control.css")],
    ),
    plugins.Fullscreen: (
        [("Control.Fullscreen.js", "leaflet.fullscreen/Control.FullScreen.js")],
        [("Control.FullScreen.css", "leaflet.fullscreen/Control.FullScreen.css")],
    ),
    plugins.MeasureControl: (
        [("leaflet_measure_js", "leaflet-measure/dist/leaflet-measure.js")],
        [("leaflet_measure_css", "leaflet-measure/dist/leaflet-measure.css")],
    ),
    plugins.HeatMap: ([("leaflet-heat.js", HEAT)], []),
    plugins.VectorGridProtobuf: ([("vectorGrid", "leaflet.vectorgrid/dist/Leaflet.VectorGrid.bundled.min.js")], []),
}
_installed = False


def use_local_assets() -> None:
    """Point folium's elements at this service's copies (idempotent; new lists, never mutated ones)."""
    global _installed
    if _installed:
        return
    for cls, (js, css) in OVERRIDES.items():
        cls.default_js = [(name, url(path)) for name, path in js]
        cls.default_css = [(name, url(path)) for name, path in css]
    _installed = True


# --- serving --------------------------------------------------------------------------------------
def _allowed(path: str) -> bool:
    return path == HEAT or any(
        path == a or (a.endswith("/") and path.startswith(a) and "/" not in path[len(a) :]) for a in ALLOWED
    )


def resolve(path: str) -> Path:
    """The file behind a vendor path, or NotFound (allow-list; no traversal)."""
    if ".." in path.split("/") or not _allowed(path):
        raise NotFound("No such map asset.")
    file = FOLIUM_TEMPLATES / "leaflet_heat.min.js" if path == HEAT else MODULES / path
    if not file.is_file():
        raise NotFound("Map asset missing: run ./dev setup (npm ci in geo_service/web/vendor).")
    return file


# Glyphicons (a Bootstrap 3 font on a CDN) -> the self-hosted Font Awesome 6 solid font.
_GLYPHS = {
    "e072": "f04b",
    "e073": "f04c",
    "e031": "f021",
    "e141": "f625",
    "e074": "f04d",
    "e075": "f051",
    "e071": "f048",
    "e030": "f01e",
}
_FONT_FACE = re.compile(r"@font-face\s*{[^}]*}", re.S)


def sanitise_css(path: str, css: str) -> str:
    """A served stylesheet that references nothing outside this service."""
    if path.endswith("leaflet.timedimension.control.css"):
        css = _FONT_FACE.sub("", css)
        css = css.replace(
            'font-family: "Glyphicons Halflings";', 'font-family: "Font Awesome 6 Free"; font-weight: 900;'
        )
        for old, new in _GLYPHS.items():
            css = css.replace(f'"\\{old}"', f'"\\{new}"')
    bad = external_references(css)
    if bad:
        raise RuntimeError(f"{path} references other hosts: {bad[:3]}")
    return css


@lru_cache(maxsize=64)
def read_css(path: str) -> str:
    """A vendored stylesheet, sanitised (nothing in it reaches outside this service)."""
    return sanitise_css(path, resolve(path).read_text(encoding="utf-8"))


# --- offline checks -------------------------------------------------------------------------------
_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_DATA_URL = re.compile(r"""url\(\s*(["']?)data:.*?\1\s*\)""", re.S)
_REF = re.compile(
    r"""(?:url\(\s*["']?|@import\s+["']?|(?:src|href)\s*=\s*["']?)\s*((?:[a-z][a-z0-9+.-]*:)?//[^"')\s>]+)""", re.I
)


def external_references(text: str, local_host: str = "") -> list[str]:
    """URLs that a browser would fetch from another host (url(), @import, src=, href=; not comments)."""
    text = _DATA_URL.sub("", _COMMENT.sub("", text))
    found = [m.group(1) for m in _REF.finditer(text)]
    return [u for u in found if not (local_host and u.split("//", 1)[1].startswith(local_host))]


_HOST = re.compile(r"(?:https?:)?//(?!127\.0\.0\.1[:/])[a-z0-9-]+\.[a-z0-9.-]+", re.I)
_JS_URL_COMMENT = re.compile(r"^[ \t]*//[^\n]*https?://[^\n]*$", re.M)


def external_hosts(text: str) -> list[str]:
    """Every other host named outside CSS comments and data: URLs (the SVG namespace aside), fetched or not."""
    text = _DATA_URL.sub("", _COMMENT.sub("", text))
    return [h for h in _HOST.findall(text) if not h.lower().endswith("www.w3.org")]


def assert_offline(html: str, tile_url: str | None = None) -> str:
    """The page, without folium's JavaScript comments that cite web pages; refused if it names another host
    than the configured tile server."""
    html = _JS_URL_COMMENT.sub("", html)
    allowed = {m.lower() for m in _HOST.findall(tile_url or "")}
    bad = [h for h in external_hosts(html) if h.lower() not in allowed]
    if bad:
        raise RuntimeError(f"a map names another host: {bad[:3]}")
    return html


def copy_assets(html: str, folder: Path, relative: str) -> str:
    """For a map written to a file: copy the files it names (and what their CSS names) into ``folder``
    and point the page there (``relative``: the folder as seen from the HTML file)."""
    paths = sorted(set(re.findall(re.escape(PREFIX) + r"/([^\"'\s)]+)", html)))
    for path in paths:
        src = resolve(path)
        dest = folder / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        if path.endswith(".css"):
            css = read_css(path)
            dest.write_text(css, encoding="utf-8")
            for ref in re.findall(r"""url\(\s*["']?([^"')]+)""", _COMMENT.sub("", _DATA_URL.sub("", css))):
                ref = ref.split("?")[0].split("#")[0]
                if not ref or ref.startswith("data:"):
                    continue
                dep = (src.parent / ref).resolve()
                modules = MODULES.resolve()  # resolved like dep: node_modules may be a symbolic link (a worktree's)
                if dep.is_file() and modules in dep.parents:
                    target = folder / dep.relative_to(modules)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(dep, target)
        else:
            shutil.copyfile(src, dest)
    return html.replace(f'"{PREFIX}/', f'"{relative}/')
