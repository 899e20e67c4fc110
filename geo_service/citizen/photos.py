"""Photos from the public: checked by content like incident photos (the same formats, pixel cap and refusals as
``incidents.photos``), kept as received with their SHA-256, and a stripped copy for everyone who looks at them: the
pixels re-encoded into a new image, so no EXIF (position, time, camera serial), XMP, ICC or text chunk survives;
the EXIF orientation is applied first. One decode serves the check and the copy: a JPEG is decoded at a reduced
DCT scale (which still reads every byte, so a truncated file is refused as in a full decode)."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from PIL import Image, ImageOps

from geo_service.incidents.photos import FORMATS, checked_image

STRIPPED_MAX_SIDE = 1600  # the shown copy; the original keeps every pixel
STRIPPED_TYPE = "image/jpeg"


@dataclass
class ReceivedPhoto:
    """A checked photo: its bytes as received with type, size and SHA-256, and its stripped copy."""

    sha256: str
    content_type: str
    size_bytes: int
    width: int
    height: int
    original: bytes
    stripped: bytes


def _stripped(img: Image.Image) -> bytes:
    upright = ImageOps.exif_transpose(img).convert("RGB")
    upright.thumbnail((STRIPPED_MAX_SIDE, STRIPPED_MAX_SIDE))
    clean = Image.frombytes("RGB", upright.size, upright.tobytes())  # a new image: no info dict carried over
    out = io.BytesIO()
    clean.save(out, "JPEG", quality=88)
    return out.getvalue()


def receive(data: bytes, max_bytes: int) -> ReceivedPhoto:
    """Check a photo (type by content, size, pixels, damage) and make its stripped copy."""
    with checked_image(data, max_bytes) as img:
        fmt = str(img.format)  # one of FORMATS: checked_image refused the others
        width, height = img.size
        scale = STRIPPED_MAX_SIDE / max(img.size)
        if scale < 1:
            img.draft("RGB", (int(width * scale), int(height * scale)))
        img.load()  # decodes everything: a truncated or corrupt file fails here
        stripped = _stripped(img)
    return ReceivedPhoto(
        sha256=hashlib.sha256(data).hexdigest(),
        content_type=FORMATS[fmt],
        size_bytes=len(data),
        width=width,
        height=height,
        original=data,
        stripped=stripped,
    )


def strip(data: bytes) -> bytes:
    """The stripped copy of a photo's bytes (the bench measures it alone)."""
    return receive(data, len(data) + 1).stripped
