"""Incident photos: upload (several at once), original and thumbnail downloads."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from geo_service.api.deps import IncidentReaderDep, ReporterDep, SessionDep
from geo_service.errors import InvalidInput, PayloadTooLarge
from geo_service.incidents import photos

router = APIRouter(prefix="/api/v1", tags=["photos"])
MAX_FILES = 10


@router.post(
    "/incidents/{incident_id}/photos",
    status_code=201,
    summary="Attach photos (JPEG, PNG, HEIC); the same file twice is stored once",
)
async def upload(
    incident_id: int,
    request: Request,
    session: SessionDep,
    principal: ReporterDep,
    files: Annotated[list[UploadFile], File(description="One or more photos")],
):
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
            photos.check_may_add(session, incident_id, principal)
            ids = [photos.add_photo(session, incident_id, data, name, principal.name, settings) for data, name in blobs]
            return photos.photos_of(session, incident_id, ids)

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


@router.get("/photos/{photo_id}", summary="The original photo, unchanged", response_class=Response)
def original(photo_id: int, session: SessionDep, principal: IncidentReaderDep):
    return _send(*photos.photo_bytes(session, photo_id))


@router.get("/photos/{photo_id}/thumbnail", summary="A 320 px JPEG thumbnail without metadata", response_class=Response)
def thumbnail(photo_id: int, session: SessionDep, principal: IncidentReaderDep):
    return _send(*photos.photo_bytes(session, photo_id, thumbnail=True))
