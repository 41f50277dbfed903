"""The dashboard application: routes, error handlers, and the clients it opens and closes.

At start (lifespan) it connects to MongoDB, creates the indexes and the first admin; if MongoDB
cannot be reached the start fails loudly and the service manager restarts it, rather than serving
a dashboard that can do nothing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pymongo.errors import PyMongoError
from starlette.concurrency import run_in_threadpool

from tollhouse.dashboard import health, web
from tollhouse.dashboard.analytics import AnalyticsReader
from tollhouse.dashboard.api import analytics, apis, audit, auth, cache, keys, policies, system, users
from tollhouse.dashboard.bootstrap import ensure_first_admin, has_admin, issue_code
from tollhouse.dashboard.errors import install_error_handlers
from tollhouse.dashboard.keystore import KeyStore
from tollhouse.dashboard.publish import Publisher, redis_client
from tollhouse.dashboard.response_cache import ResponseCaches
from tollhouse.dashboard.settings import DashboardSettings
from tollhouse.dashboard.store import Store
from tollhouse.dashboard.throttle import LoginThrottle

log = logging.getLogger("tollhouse.dashboard")


def _open_store(settings: DashboardSettings) -> Store:
    store = Store.connect(settings.mongo_url, settings.mongo_database, settings.mongo_timeout_seconds)
    try:
        store.ensure_indexes()
        if settings.names_first_admin:
            ensure_first_admin(store, settings.org_name, settings.admin_email, settings.admin_password_hash)
        elif not has_admin(store):
            log.warning("no administrator yet: open the dashboard's /bootstrap page and enter the one-time code %s",
                        issue_code(store))
    except Exception:
        store.close()
        raise
    return store


def create_app(settings: DashboardSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # pymongo is synchronous: keep its start-up round trips off the event loop.
        try:
            app.state.store = await run_in_threadpool(_open_store, settings)
        except PyMongoError as exc:
            # The URL is not repeated: it may hold a password.
            log.error("cannot start: MongoDB (mongo_url) unavailable: %s", str(exc).split(", Timeout")[0])
            raise RuntimeError("MongoDB unavailable at start") from None
        app.state.analytics = AnalyticsReader(
            app.state.store.client[settings.mongo_database], settings.analytics_raw_collection,
            settings.analytics_minute_collection, settings.analytics_hour_collection)
        app.state.throttle = LoginThrottle(
            app.state.store, max_failures=settings.login_max_failures,
            max_failures_per_ip=settings.login_max_failures_per_ip,
            window_seconds=settings.login_failure_window_seconds, lockout_seconds=settings.login_lockout_seconds)
        app.state.publisher = Publisher(settings.redis_url, settings.node_secret)
        # Keys live in Redis only; a Redis outage answers 503 on /api/keys and leaves the rest usable.
        app.state.keys = KeyStore(redis_client(settings.redis_url), settings.key_hash_secret)
        app.state.response_caches = ResponseCaches(redis_client(settings.redis_url))  # cleared from here too
        log.info("dashboard ready (database %s)", settings.mongo_database)
        try:
            yield
        finally:
            app.state.response_caches.close()
            app.state.keys.close()
            app.state.publisher.close()
            app.state.store.close()

    app = FastAPI(
        title="Tollhouse dashboard",
        summary="Manage API definitions for Tollhouse gateways (Tyk dashboard compatible).",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(auth.router)
    app.include_router(apis.router)
    app.include_router(cache.router)
    app.include_router(policies.router)
    app.include_router(keys.router)
    app.include_router(analytics.router)
    app.include_router(users.router)
    app.include_router(audit.router)
    app.include_router(system.router)
    app.include_router(health.router)
    web.install(app)
    app.openapi = lambda: _openapi_without_422(app)  # type: ignore[method-assign]
    return app


def _openapi_without_422(app: FastAPI) -> dict:
    """FastAPI documents 422 for every body; this API answers 400 (Tyk's code), as documented per route."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                operation.get("responses", {}).pop("422", None)
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
        app.openapi_schema = schema
    return app.openapi_schema
