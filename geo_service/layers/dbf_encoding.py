"""The text encoding of a zipped Shapefile whose .dbf does not say it (no .cpg file, no language byte).

GDAL then reads the text as ISO-8859-1, which turns Thai written by Thai Windows (cp874) into mojibake
("เมืองแพร่" becomes "àÁ×Í§á¾Ãè") that would be stored as names. Here the attribute bytes are checked
first: ASCII needs nothing, valid UTF-8 is read as UTF-8, bytes that are Thai in cp874 are read as
cp874 (with a warning to add a .cpg), and anything else is refused with a hint to name the encoding.
"""

from __future__ import annotations

import codecs
import zipfile
from pathlib import Path, PurePosixPath

from geo_service.errors import LayerRejected

CHUNK = 1 << 20
THAI = range(0x0E01, 0x0E5C)
HINT = (
    "Add the Shapefile's .cpg file (one line naming the encoding, e.g. UTF-8 or 874) to the zip, "
    "or name the encoding (the upload's 'encoding' field, or --encoding of 'geo-service layers load'; "
    "Thai Windows files are cp874)."
)


def _members(zf: zipfile.ZipFile) -> tuple[str | None, dict[str, str]]:
    names = [n for n in zf.namelist() if not n.startswith("__MACOSX")]
    shps = [n for n in names if n.lower().endswith(".shp")]
    if len(shps) != 1:
        return None, {}
    stem = str(PurePosixPath(shps[0]).with_suffix("")).lower()
    return shps[0], {
        PurePosixPath(n).suffix.lower(): n for n in names if str(PurePosixPath(n).with_suffix("")).lower() == stem
    }


def shapefile_encoding(zip_path: str | Path) -> tuple[str | None, str | None]:
    """(encoding to read the text with, or None to let GDAL decide; a warning for the load report, or None)."""
    try:
        with zipfile.ZipFile(zip_path) as zf:
            shp, parts = _members(zf)
            if shp is None or ".cpg" in parts or ".dbf" not in parts:
                return None, None  # GDAL reads the .cpg, or refuses the file itself
            with zf.open(parts[".dbf"]) as dbf:
                header = dbf.read(32)
                if len(header) < 32 or header[29] != 0:
                    return None, None  # a language driver byte: GDAL maps it
                dbf.read(max(int.from_bytes(header[8:10], "little") - 32, 0))  # field descriptors
                return _detect(dbf)
    except (zipfile.BadZipFile, OSError, EOFError):
        return None, None  # the reader refuses a damaged archive with its own message


def _detect(stream) -> tuple[str | None, str | None]:
    utf8, cp874 = codecs.getincrementaldecoder("utf-8")(), codecs.getincrementaldecoder("cp874")()
    is_utf8 = is_cp874 = True
    ascii_only = True
    thai = other = 0
    while chunk := stream.read(CHUNK):
        if chunk.isascii():
            continue
        ascii_only = False
        if is_utf8:
            try:
                utf8.decode(chunk)
            except UnicodeDecodeError:
                is_utf8 = False
        if is_cp874:
            try:
                text = cp874.decode(chunk)
            except UnicodeDecodeError:
                is_cp874 = False
            else:
                wide = [ord(c) for c in text if ord(c) > 0x7F]
                thai += sum(1 for c in wide if c in THAI)
                other += len(wide) - sum(1 for c in wide if c in THAI)
    if ascii_only:
        return None, None
    if is_utf8:
        try:
            utf8.decode(b"", final=True)
            return "UTF-8", "The Shapefile has no .cpg file; its text was read as UTF-8."
        except UnicodeDecodeError:
            pass
    if is_cp874 and thai and other <= thai // 20:  # essentially all of it Thai letters, digits and marks
        return "cp874", (
            "The Shapefile has no .cpg file; its text was read as Thai Windows (cp874). Add a .cpg file to be sure."
        )
    raise LayerRejected(
        "The Shapefile's text encoding is not given (no .cpg file) and it is neither UTF-8 nor "
        "Thai Windows (cp874). " + HINT + " Nothing was stored.",
        code="unknown_encoding",
    )
