"""The FastAPI application: Reclaim's services, made once per process in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from api import render
from api.http import problems
from api.http.commands import replayed
from api.http.metrics import Metrics
from api.http.middleware import RequestContext, StoreBreaker
from api.http.routers import (
    casebook,
    casebook_case,
    casebook_session,
    cases,
    dossier,
    drafts,
    emails,
    evidence,
    meta,
    reads,
    reminders,
    reports,
    reports_page,
)
from infrastructure.bootstrap import bootstrap
from infrastructure.service.commands import AlreadyAnswered
from infrastructure.settings import Settings
from infrastructure.store.writer import CommandWriter

ROUTERS = [meta.router, cases.router, evidence.router, reads.router, reports.router]
ROUTERS += [reminders.router, reports_page.router, dossier.router]
ROUTERS += [drafts.router, emails.router]
# the case book: server-rendered pages under /app, and their own stylesheet under /static
ROUTERS += [casebook_session.router, casebook.router, casebook_case.router]

DESCRIPTION = """Reclaim: an event-sourced case workflow for getting platform credits and
refunds back. Every error is `application/problem+json` (RFC 9457)."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = bootstrap(settings)
        app.state.reclaim = services.store
        app.state.commands = services.commands
        #: the command routes' one thread (``store/writer.py``)
        app.state.writer = CommandWriter(
            services.store.committer, max_batch=settings.group_commit_max
        )
        try:
            yield
        finally:
            app.state.writer.close()
            services.close()

    app = FastAPI(
        title="Reclaim",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    # the store exists once the lifespan has started; /metrics asked before then has none
    app.state.metrics = Metrics(lambda: getattr(app.state, "reclaim", None))
    app.state.breaker = StoreBreaker()
    problems.install(app)

    @app.exception_handler(AlreadyAnswered)
    def _replay(request: Request, exc: AlreadyAnswered) -> Response:
        return replayed(exc.record)

    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=render.STATIC_DIR, check_dir=False), name="static")
    app.add_middleware(RequestContext, max_json_bytes=settings.max_json_bytes)
    return app
