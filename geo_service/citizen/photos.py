"""Photos from the public: checked like incident photos (incidents.photos.inspect_photo), kept as received with
their SHA-256, and a stripped copy for everyone who looks at them: the pixels re-encoded into a new image, so no
EXIF (position, time, camera serial), XMP, ICC or text chunk survives; the EXIF orientation is applied first."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps

from geo_service.incidents.photos import PhotoInfo, inspect_photo

STRIPPED_MAX_SIDE = 2048  # the shown copy; the original keeps every pixel
STRIPPED_TYPE = "image/jpeg"


@dataclass
class ReceivedPhoto:
    """A checked photo: what it says about itself, its bytes as received and its stripped copy."""

    info: PhotoInfo
    original: bytes
    stripped: bytes


def strip(data: bytes) -> bytes:
    """A JPEG of the photo's pixels only (orientation applied, at most 2048 px a side), without any metadata."""
    with Image.open(io.BytesIO(data)) as img:
        upright = ImageOps.exif_transpose(img).convert("RGB")
    upright.thumbnail((STRIPPED_MAX_SIDE, STRIPPED_MAX_SIDE))
    clean = Image.frombytes("RGB", upright.size, upright.tobytes())  # a new image: no info dict carried over
    out = io.BytesIO()
    clean.save(out, "JPEG", quality=88)
    return out.getvalue()


def receive(data: bytes, max_bytes: int) -> ReceivedPhoto:
    """Check a photo (type by content, size, pixels, damage) and make its stripped copy."""
    info = inspect_photo(data, max_bytes)
    return ReceivedPhoto(info=info, original=data, stripped=strip(data))
