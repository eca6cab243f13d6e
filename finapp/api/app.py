"""The FastAPI application that Reflex mounts itself under (`rx.App(api_transformer=…)`)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from finapp import __version__
from finapp.api import auth, batch, email, files, health, projects, tokens, webhooks
from finapp.api.errors import error_response
from finapp.api.limits import BodySizeLimit
from finapp.services.errors import FinappError


async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    return error_response(exc)


def create_api() -> FastAPI:
    api = FastAPI(
        title="finapp API",
        version=__version__,
        description="Manage finapp: batch jobs, mail ingestion, webhooks, files. "
        "Get a bearer token with POST /api/auth/token.",
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    api.add_exception_handler(FinappError, _domain_error)
    api.add_middleware(BodySizeLimit)
    # Routes are matched in order, one by one: the webhook receivers come first because
    # providers can send bursts, and matching past every other route costs more than receiving.
    for module in (webhooks, auth, tokens, files, projects, batch, email, health):
        api.include_router(module.router)
    return api
