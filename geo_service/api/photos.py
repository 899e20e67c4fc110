"""Incident photos: upload (several at once), original and thumbnail downloads."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from geo_service.api.deps import IncidentReaderDep, ReporterDep, SessionDep
from geo_service.errors import InvalidInput, PayloadTooLarge
from geo_service.incidents import photos
from geo_service.incidents.photos import FORMATS
from geo_service.incidents.schemas import PhotoOut

router = APIRouter(prefix="/api/v1", tags=["photos"])
MAX_FILES = 10
# The media types a download may have: what photos are stored as (thumbnails are JPEG).
PHOTO_MEDIA: dict[int | str, dict[str, Any]] = {
    200: {"content": {t: {} for t in sorted(set(FORMATS.values()))}, "description": "The image"}
}
THUMBNAIL_MEDIA: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {}}, "description": "A JPEG thumbnail"}
}


@router.post(
    "/incidents/{incident_id}/photos",
    status_code=201,
    summary="Attach photos (JPEG, PNG, HEIC); the same file twice is stored once",
    response_model=list[PhotoOut],
)
async def upload(
    incident_id: int,
    request: Request,
    session: SessionDep,
    principal: ReporterDep,
    files: Annotated[list[UploadFile], File(description="One or more photos")],
):
    """Store photos of an incident, all or none; field officers add only to their own, unlinked incidents."""
    if len(files) > MAX_FILES:
        raise InvalidInput(f"Send at most {MAX_FILES} photos at a time.", code="too_many_files")
    settings = request.app.state.settings.service
    limit = settings.photo_max_mb << 20
    blobs = []
    for f in files:
        data = await f.read(limit + 1)
        if len(data) > limit:
            raise PayloadTooLarge(f"'{(f.filename or 'photo')[:80]}' is larger than {settings.photo_max_mb} MB.")
        blobs.append((data, f.filename))

    def store() -> list[dict]:
        with session.begin():
            return photos.add_photos(session, incident_id, blobs, principal, settings)

    return JSONResponse(await run_in_threadpool(store), status_code=201)


def _send(data: bytes, content_type: str, filename: str, sha256: str) -> Response:
    return Response(
        content=data,
        media_type=content_type,
        headers={
            "ETag": f'"{sha256}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=86400",
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(filename)}",
        },
    )


@router.get(
    "/photos/{photo_id}", summary="The original photo, unchanged", response_class=Response, responses=PHOTO_MEDIA
)
def original(photo_id: int, session: SessionDep, principal: IncidentReaderDep):
    """The photo's bytes as uploaded."""
    with session.begin():
        content = photos.photo_bytes(session, photo_id, viewer=principal)
    return _send(*content)


@router.get(
    "/photos/{photo_id}/thumbnail",
    summary="A 320 px JPEG thumbnail without metadata",
    response_class=Response,
    responses=THUMBNAIL_MEDIA,
)
def thumbnail(photo_id: int, session: SessionDep, principal: IncidentReaderDep):
    """A small JPEG of the photo, without its metadata."""
    with session.begin():
        content = photos.photo_bytes(session, photo_id, thumbnail=True, viewer=principal)
    return _send(*content)
