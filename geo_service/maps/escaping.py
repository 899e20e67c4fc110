"""Every user-entered string that reaches a map goes through here, escaped for where it lands.

Folium writes popup and tooltip HTML into JavaScript template literals (`...`), and Leaflet puts popup,
tooltip and layer-control text into ``innerHTML``. So text is HTML-escaped AND the three characters that
mean something inside a template literal are written as HTML character references: a backtick ends the
literal, ``${`` starts an expression and a backslash starts an escape. Braces are written as references
too: folium renders a Popup's HTML through Jinja a second time, so ``{{ ... }}`` in a description would be
evaluated ON THE SERVER (``{{7*7}}`` became 49 in a popup before this). ``<`` is escaped, so ``</script>``
cannot end the script element either. Slashes are written as ``&#47;``: a link in a description
(``https://...``) then names no other host in the page, so the offline check (``assets.assert_offline``),
which refuses a page naming another host, can never be tripped by what a user typed (a link once made
/maps/overview a 500 for everyone). The browser decodes the references when it parses the HTML, where
they are plain text again; Markdown is not rendered, and Thai combining marks pass through unchanged.
Control characters (a newline in a description) and U+2028/2029 are references too, so no text can end a
JavaScript string that folium writes it into.

Data embedded as a JavaScript value (GeoJSON given to a plugin that does not escape it) goes through
``js_json``: JSON with ``<``, ``>``, ``&``, U+2028 and U+2029 as \\u escapes and ``/`` as ``\\/``.
"""

from __future__ import annotations

import html
import json
import re

_TEMPLATE = {"`": "&#96;", "$": "&#36;", "\\": "&#92;", "{": "&#123;", "}": "&#125;"}
_TEMPLATE_RE = re.compile(r"[`$\\{}]")
_TEXT_RE = re.compile(r"[`$\\{}/\x00-\x1f\x7f\u2028\u2029]")


def _ref(m: re.Match) -> str:
    return _TEMPLATE.get(m.group()) or f"&#{ord(m.group())};"


def text(value: object) -> str:
    """Plain text safe inside HTML that sits inside a JavaScript template literal."""
    if value is None:
        return ""
    return _TEXT_RE.sub(_ref, html.escape(str(value), quote=True))


def attr(value: object) -> str:
    """An attribute value (same escaping: quotes are escaped too)."""
    return text(value)


def check_fragment(fragment: str) -> str:
    """An HTML fragment built here from escaped parts: refuse one that could end or run a template literal."""
    if _TEMPLATE_RE.search(fragment) or "</script" in fragment.lower():
        raise ValueError("an unescaped string reached map HTML")
    return fragment


def js_json(value: object) -> str:
    """JSON to embed in a <script> as a JavaScript value."""
    out = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return (
        out.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
        .replace("/", "\\/")
    )
