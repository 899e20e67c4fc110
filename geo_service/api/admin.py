"""Administration: partner API keys and the audit-trail check."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from geo_service import api_keys, audit
from geo_service.api.deps import AdminDep, SessionDep

router = APIRouter(prefix="/api/v1/admin", tags=["administration"])


class KeyIn(BaseModel):
    name: str = Field(min_length=2, max_length=200, description="The partner agency or system")
    scopes: list[str] = Field(min_length=1, description="Collections: " + ", ".join(api_keys.SCOPES))


@router.post("/api-keys", status_code=201, summary="Create a partner API key (the key is shown only now)")
def create_key(body: KeyIn, session: SessionDep, principal: AdminDep):
    with session.begin():
        return JSONResponse(api_keys.create_key(session, body.name, body.scopes, principal), status_code=201)


@router.get("/api-keys", summary="Partner API keys (without the keys)")
def list_keys(session: SessionDep, principal: AdminDep) -> list[dict]:
    return api_keys.list_keys(session)


@router.delete("/api-keys/{key_id}", status_code=204, summary="Revoke a partner API key")
def revoke_key(key_id: int, session: SessionDep, principal: AdminDep):
    with session.begin():
        api_keys.revoke_key(session, key_id, principal)
    return Response(status_code=204)


@router.get("/audit/verify", summary="Recompute the audit trail's hash chain")
def verify_audit(session: SessionDep, principal: AdminDep) -> dict:
    result = audit.verify(session)
    return {"ok": result.ok, "entries": result.entries, "head": result.head, "problems": result.problems}
