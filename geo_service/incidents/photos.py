"""Incident photos: type checked by content, SHA-256 of the original, EXIF position and time, thumbnails.

Pillow reads JPEG and PNG; pillow-heif adds HEIC (iPhones). The original bytes are kept unchanged as
evidence; the thumbnail is re-encoded without metadata. A photo is flagged when it was taken farther
from the incident, or earlier/later, than the configured limits, or carries no position or time.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from PIL import ExifTags, Image, ImageFile, ImageOps, UnidentifiedImageError
from pyproj import Geod
from sqlalchemy import Row
from sqlalchemy.orm import Session

from geo_service import audit
from geo_service.auth import Principal, Role
from geo_service.db.models import IncidentStatus
from geo_service.errors import Forbidden, InvalidInput, NotFound, PayloadTooLarge
from geo_service.incidents import store
from geo_service.thai import BANGKOK

try:  # HEIC support is optional at import time but listed in the dependencies
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover
    pass

# Pillow's format -> the type stored. Many phone cameras write JPEGs with a second, embedded image (a depth
# map or preview) that Pillow names MPO (CIPA Multi-Picture Format): still a JPEG file, stored unchanged.
FORMATS = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "HEIF": "image/heic"}
MAX_PIXELS = 100_000_000  # 100 megapixels: larger is not a phone photo (and may be a decompression bomb)
THUMB_SIZE = (320, 320)
GEOD = Geod(ellps="WGS84")


class UnsupportedPhoto(InvalidInput):
    """A file that is not a photo this service reads (type, size, damage)."""

    code = "unsupported_photo"


@dataclass
class PhotoInfo:
    """What a photo file says about itself, its thumbnail, and the flags set when checked."""

    sha256: str
    content_type: str
    size_bytes: int
    width: int
    height: int
    thumbnail: bytes
    exif_lon: float | None = None
    exif_lat: float | None = None
    exif_taken_at: datetime | None = None
    flags: list[str] = field(default_factory=list)


def _ratio(v) -> float:
    return float(v[0]) / float(v[1]) if isinstance(v, tuple) else float(v)


def _gps(exif: Image.Exif) -> tuple[float | None, float | None]:
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    try:
        lat = sum(_ratio(x) / 60**i for i, x in enumerate(gps[ExifTags.GPS.GPSLatitude]))
        lon = sum(_ratio(x) / 60**i for i, x in enumerate(gps[ExifTags.GPS.GPSLongitude]))
    except (KeyError, TypeError, ZeroDivisionError, ValueError):
        return None, None
    if str(gps.get(ExifTags.GPS.GPSLatitudeRef, "N")).upper().startswith("S"):
        lat = -lat
    if str(gps.get(ExifTags.GPS.GPSLongitudeRef, "E")).upper().startswith("W"):
        lon = -lon
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None, None
    return lon, lat


def _taken_at(exif: Image.Exif) -> datetime | None:
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    raw = sub.get(ExifTags.Base.DateTimeOriginal) or exif.get(ExifTags.Base.DateTime)
    if not raw:
        return None
    try:
        value = datetime.strptime(str(raw).strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    offset = sub.get(ExifTags.Base.OffsetTimeOriginal)
    if offset:
        try:
            return datetime.fromisoformat(value.isoformat() + str(offset).strip("\x00 "))
        except ValueError:
            pass
    return value.replace(tzinfo=BANGKOK)  # phones here are set to Thai time


@contextmanager
def checked_image(data: bytes, max_bytes: int) -> Iterator[Image.Image]:
    """Open ``data`` as a JPEG, PNG or HEIC photo within the size and pixel limits. Whatever Pillow refuses in
    the ``with`` body too (decoding happens there) becomes an UnsupportedPhoto a field officer understands."""
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"A photo may be at most {max_bytes // (1 << 20)} MB.")
    if not data:
        raise UnsupportedPhoto("The photo file is empty.")
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # another library may have relaxed this process-wide
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format not in FORMATS:
                raise UnsupportedPhoto(
                    f"This file is a {img.format or 'unknown'} image; send a photo as JPEG, PNG or HEIC."
                )
            if img.width * img.height > MAX_PIXELS:
                raise UnsupportedPhoto("The image is too large (over 100 megapixels).")
            yield img
    except UnsupportedPhoto:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError):
        raise UnsupportedPhoto("This file is not a photo this service can read; send JPEG, PNG or HEIC.") from None
    except (OSError, SyntaxError, ValueError):
        raise UnsupportedPhoto("The photo file is damaged or incomplete; send it again.") from None


def inspect_photo(data: bytes, max_bytes: int) -> PhotoInfo:
    """Check that ``data`` is a JPEG, PNG or HEIC photo and read what it says about itself."""
    with checked_image(data, max_bytes) as img:
        fmt = str(img.format)  # one of FORMATS: checked_image refused the others
        exif = img.getexif()
        img.load()  # decodes everything: a truncated or corrupt file fails here
        width, height = img.size
        thumb = ImageOps.exif_transpose(img).convert("RGB")
        thumb.thumbnail(THUMB_SIZE)
        out = io.BytesIO()
        thumb.save(out, "JPEG", quality=80)
    lon, lat = _gps(exif)
    return PhotoInfo(
        sha256=hashlib.sha256(data).hexdigest(),
        content_type=FORMATS[fmt],
        size_bytes=len(data),
        width=width,
        height=height,
        thumbnail=out.getvalue(),
        exif_lon=lon,
        exif_lat=lat,
        exif_taken_at=_taken_at(exif),
    )


def check_against_incident(
    info: PhotoInfo, lon: float, lat: float, observed_at: datetime, settings
) -> tuple[float | None, float | None]:
    """Set the photo's flags; return (distance in metres, seconds taken after the observation)."""
    distance = offset = None
    if info.exif_lon is None:
        info.flags.append("no_position")
    else:
        distance = GEOD.inv(lon, lat, info.exif_lon, info.exif_lat)[2]
        if distance > settings.photo_max_distance_m:
            info.flags.append("far_from_incident")
    if info.exif_taken_at is None:
        info.flags.append("no_time")
    else:
        offset = (info.exif_taken_at - observed_at).total_seconds()
        if offset < -settings.photo_max_hours_before * 3600:
            info.flags.append("taken_too_early")
        if offset > settings.photo_max_hours_after * 3600:
            info.flags.append("taken_too_late")
    return distance, offset


def check_may_add(session: Session, incident_id: int, principal: Principal) -> Row:
    """Field officers add photos to their own incidents, and no longer once an incident is linked to a case
    (it is evidence then: investigators add to it). The row is locked FOR SHARE, so a concurrent link waits.
    Returns the incident's position and observation time, which the photos are checked against."""
    row = store.lock_for_photos(session, incident_id, principal)
    if row is None:
        raise NotFound("No incident with this number.")
    if principal.has(Role.investigator, Role.administrator):
        return row
    if row.created_by != principal.name:
        raise Forbidden("Field officers add photos to their own incidents.")
    if row.status == IncidentStatus.linked.value:
        raise Forbidden(
            "This incident is linked to a case; only investigators add photos to it now.", code="incident_linked"
        )
    return row


def add_photos(
    session: Session,
    incident_id: int,
    files: Sequence[tuple[bytes, str | None]],
    principal: Principal,
    settings: Any,
) -> list[dict]:
    """Store photos (bytes, file name) for an incident the caller may add to, in the caller's transaction (all
    or none: a refused file refuses the upload); the same bytes twice give the same photo. Returns the photos."""
    incident = check_may_add(session, incident_id, principal)
    ids = [_add_photo(session, incident_id, incident, data, name, principal.name, settings) for data, name in files]
    return photos_of(session, incident_id, ids)


def _add_photo(
    session: Session, incident_id: int, incident: Row, data: bytes, filename: str | None, uploaded_by: str, settings
) -> int:
    info = inspect_photo(data, settings.photo_max_mb << 20)
    distance, offset = check_against_incident(info, incident.lon, incident.lat, incident.observed_at, settings)
    name = (filename or "photo").replace("\\", "/").rsplit("/", 1)[-1][:200]
    photo_id, created = store.insert_photo(
        session,
        {
            "incident_id": incident_id,
            "sha256": info.sha256,
            "filename": name,
            "content_type": info.content_type,
            "size_bytes": info.size_bytes,
            "width": info.width,
            "height": info.height,
            "original": data,
            "thumbnail": info.thumbnail,
            "exif_lon": info.exif_lon,
            "exif_lat": info.exif_lat,
            "exif_taken_at": info.exif_taken_at,
            "distance_m": distance,
            "time_offset_s": offset,
            "flags": info.flags,
            "uploaded_by": uploaded_by,
        },
    )
    if created:
        audit.record(
            session,
            uploaded_by,
            "create",
            "incident_photo",
            photo_id,
            after={"incident_id": incident_id, "sha256": info.sha256, "filename": name, "flags": info.flags},
        )
    return photo_id


def photo_bytes(
    session: Session, photo_id: int, thumbnail: bool = False, viewer: Principal | None = None
) -> tuple[bytes, str, str, str]:
    """(bytes, content type, file name, sha256) of a photo or its thumbnail; NotFound when there is none or its
    incident is outside ``viewer``'s provinces."""
    row = store.photo_content(session, photo_id, thumbnail=thumbnail, viewer=viewer)
    if row is None:
        raise NotFound("No photo with this number.")
    if thumbnail:
        return row.data, "image/jpeg", "thumbnail.jpg", row.sha256
    return row.data, row.content_type, row.filename or "photo", row.sha256


def photos_of(session: Session, incident_id: int, ids: list[int] | None = None) -> list[dict]:
    """The photos of an incident (all, or ``ids``) as the API lists them: links to the bytes, local times."""
    out = []
    for d in store.photo_rows(session, incident_id, ids):
        d["url"] = f"/api/v1/photos/{d['id']}"
        d["thumbnail_url"] = f"/api/v1/photos/{d['id']}/thumbnail"
        for k in ("exif_taken_at", "uploaded_at"):
            d[k] = d[k].astimezone(BANGKOK).isoformat() if d[k] else None
        out.append(d)
    return out
