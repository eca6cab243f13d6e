"""`GET /api/health`: is the database reachable, which version runs. Public, for probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from finapp.services.system import system_status

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health")
def health() -> JSONResponse:
    status = system_status()
    body = {
        "status": "ok" if status.healthy else "degraded",
        "database": status.database,
        "version": status.version,
    }
    return JSONResponse(body, status_code=200 if status.healthy else 503)
