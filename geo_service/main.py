"""The FastAPI application: create_app() wires settings, database, middleware, error handlers and routers."""

from __future__ import annotations

import logging
import uuid
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import MutableHeaders

from geo_service import __version__, scratch, users, wiring
from geo_service.api import (
    admin,
    admin_layers,
    admin_partitions,
    alerts,
    auth,
    briefs,
    cases,
    citizen,
    exports,
    forest_loss,
    forest_loss_ingest,
    forest_loss_tasks,
    health,
    hotspots,
    incidents,
    layers,
    maps,
    ogc,
    ogc_tiles,
    open_data,
    photos,
    redflags,
    worker,
)
from geo_service.api.read_after_write import ReadAfterWrite
from geo_service.db.engine import database_url, make_engine, make_read_router, make_sessionmaker
from geo_service.db.startup import apply_configured_area_of_interest, ensure_partitions
from geo_service.errors import add_exception_handlers
from geo_service.hotspots.rasters import remove_unregistered
from geo_service.settings import Settings, get_settings
from geo_service.web import alerts_page, docs, field, report, signin

DESCRIPTION = """
Geospatial case management for the NACC provincial office's public-resources programme:
forest reserves, field incidents, satellite fire hotspots and anti-corruption cases.

Administrative boundaries: Royal Thai Survey Department / OCHA COD-AB (CC BY-IGO).
Protected areas shipped with the service are ILLUSTRATIVE, not official boundaries.
"""


def _ensure_partitions(factory: sessionmaker[Session], settings: Settings) -> None:
    """Create the detections' partitions ahead (README, *Partitioned detections*); a database not reachable or
    not migrated yet is left as it is."""
    try:
        created = ensure_partitions(factory, settings)
    except (OperationalError, ProgrammingError) as exc:
        logging.getLogger("geo_service").warning("partitions not ensured: %s", exc.__class__.__name__)
        return
    if created:
        logging.getLogger("geo_service").info("partitions created: %s", ", ".join(created))


def _apply_area_of_interest(factory: sessionmaker[Session], settings: Settings) -> None:
    """Store the configured area of interest (README, *Area of interest*); a database not reachable or not
    migrated yet is left as it is (the migration's default: every loaded province, no buffer)."""
    try:
        changed = apply_configured_area_of_interest(factory, settings)
    except OperationalError as exc:
        logging.getLogger("geo_service").warning("area of interest not applied: %s", exc.__class__.__name__)
        return
    if changed:
        logging.getLogger("geo_service").info("area of interest changed: %d detections re-marked", changed)


def _remove_unregistered_rasters(factory: sessionmaker[Session], settings: Settings) -> None:
    """Complete COGs a killed registration left without its row (``rasters.remove_unregistered``); a database
    not reachable or not migrated yet is left for the next start-up."""
    try:
        with factory() as session, session.begin():
            removed = remove_unregistered(session, settings.hotspots.raster_store(settings.db.data_dir))
    except (OperationalError, ProgrammingError) as exc:
        logging.getLogger("geo_service").warning("raster store not checked: %s", exc.__class__.__name__)
        return
    if removed:
        logging.getLogger("geo_service").info(
            "removed %d unregistered COGs: %s", len(removed), ", ".join(p.name for p in removed[:20])
        )


class ServiceIndex(BaseModel):
    """The root: the service's name and version and where to start."""

    service: str
    version: str
    docs: str
    health: str
    layers: list[str]


class RequestId:
    """A request id on ``request.state`` and in the X-Request-ID header, as plain ASGI middleware.

    Not ``@app.middleware("http")`` (Starlette's BaseHTTPMiddleware): that one ends a streamed body with its
    terminating chunk even when the route's generator fails half-way, so an export cut short by a database
    failure reached the client as a normal, complete 200. Here the failure propagates, and the server
    closes the connection without the terminating chunk.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        rid = uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-ID"] = rid
            await send(message)

        await self.app(scope, receive, send_with_id)


def create_app(settings: Settings | None = None, engine=None) -> FastAPI:
    """The application: settings (default: from the environment), database engine, the domains wired together,
    middleware, error handlers and every router."""
    wiring.wire()
    settings = settings or get_settings()
    users.configure_hashing(settings.service.password_hash_memory_kib, settings.service.password_hash_time_cost)
    engine = engine or make_engine(database_url(settings), settings.db.pool_size)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        _apply_area_of_interest(app.state.sessionmaker, settings)
        _ensure_partitions(app.state.sessionmaker, settings)
        scratch.start_service(settings.db.data_dir, settings.hotspots)  # and delete what crashed processes left behind
        _remove_unregistered_rasters(app.state.sessionmaker, settings)
        yield
        scratch.stop()
        app.state.read_router.dispose()
        engine.dispose()

    app = FastAPI(
        title="geo_service",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,  # web/docs.py serves both with pinned local files, not a CDN
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine, settings)
    app.state.read_router = make_read_router(settings, engine)
    app.state.admin_token = settings.admin_token()
    app.state.jwt_secret = settings.jwt_secret()

    app.add_middleware(RequestId)
    # a write's WAL position lives as long as the replica may lag behind it, and at least a minute
    app.add_middleware(
        ReadAfterWrite,
        router=app.state.read_router,
        cookie_seconds=max(60, int(2 * settings.replica.replica_max_lag_s)),
    )

    if settings.service.ogc_cors_origins:
        app.add_middleware(ogc.PublicCORS, origins=settings.service.ogc_cors_origins)
    add_exception_handlers(app)
    app.include_router(health.router)
    app.include_router(layers.router)
    app.include_router(admin_layers.router)
    app.include_router(auth.router)
    app.include_router(incidents.router)
    app.include_router(photos.router)
    app.include_router(cases.router)
    app.include_router(admin.router)
    app.include_router(admin_partitions.router)
    app.include_router(exports.router)
    app.include_router(ogc.router)
    app.include_router(ogc_tiles.router)
    app.include_router(docs.router)
    app.include_router(field.router)
    app.include_router(signin.router)
    app.include_router(hotspots.router)
    app.include_router(forest_loss.router)
    app.include_router(maps.router)
    app.include_router(briefs.router)
    app.include_router(forest_loss_ingest.router)
    app.include_router(worker.router)
    app.include_router(forest_loss_tasks.router)
    app.include_router(citizen.router)
    app.include_router(report.router)
    citizen.install_access_log_filter()  # no client address in the access log of the public report's paths
    app.include_router(open_data.router)
    app.include_router(alerts.router)
    app.include_router(alerts_page.router)
    app.include_router(redflags.router)

    @app.get("/", summary="Service name, version and where to start")
    def index() -> ServiceIndex:
        return ServiceIndex(
            service="geo_service",
            version=__version__,
            docs="/docs",
            health="/health",
            layers=["/api/v1/districts", "/api/v1/subdistricts", "/api/v1/protected-areas"],
        )

    logging.getLogger("geo_service").setLevel(logging.INFO)
    return app
