"""Every error the dashboard answers, in Tyk's dashboard shape ``{"Status": "Error", "Message": ...}``.

Scripts written against Tyk read ``Message``; ``Errors`` adds the field-by-field list when a body
was refused, so a client can point at the exact field without parsing the message.
Database trouble answers 503 (retry later), never a bare 500 traceback; so does Redis trouble on the
routes that need Redis (keys live there), with a message naming it.
"""

from __future__ import annotations

import logging

import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pymongo.errors import ConnectionFailure, PyMongoError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("tollhouse.dashboard.errors")


class DashboardError(Exception):
    """Raised by endpoints; turned into a Tyk-shaped JSON error answer."""

    def __init__(self, status_code: int, message: str, errors: list[tuple[str, str]] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.errors = errors
        self.headers = headers


class BadRequest(DashboardError):
    """400 naming the fields at fault; the message is the first one, as Tyk users expect."""

    def __init__(self, errors: list[tuple[str, str]]):
        field, message = errors[0]
        super().__init__(400, f"{field}: {message}", errors)


def error_body(message: str, errors: list[tuple[str, str]] | None = None) -> dict:
    body: dict = {"Status": "Error", "Message": message}
    if errors:
        body["Errors"] = [{"field": field, "message": text} for field, text in errors]
    return body


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DashboardError, _dashboard_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(PyMongoError, _database_error)
    app.add_exception_handler(redis.RedisError, _redis_error)


async def _dashboard_error(request: Request, exc: DashboardError) -> JSONResponse:
    return JSONResponse(error_body(exc.message, exc.errors), status_code=exc.status_code, headers=exc.headers)


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    # Tyk answers 400 for a body it cannot use; FastAPI's 422 would surprise its scripts.
    errors = [_describe(error) for error in exc.errors()] or [("(request)", "is not valid")]
    return JSONResponse(error_body(f"{errors[0][0]}: {errors[0][1]}", errors), status_code=400)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return JSONResponse(error_body(str(exc.detail)), status_code=exc.status_code, headers=exc.headers)


async def _database_error(request: Request, exc: PyMongoError) -> JSONResponse:
    log.error("database error on %s %s: %s", request.method, request.url.path, exc)
    if isinstance(exc, ConnectionFailure):
        return JSONResponse(error_body("database unavailable, try again later"), status_code=503)
    return JSONResponse(error_body("database error"), status_code=500)


async def _redis_error(request: Request, exc: redis.RedisError) -> JSONResponse:
    log.error("Redis error on %s %s: %s", request.method, request.url.path, exc)
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return JSONResponse(error_body("Redis unavailable (keys are stored there), try again later"),
                            status_code=503)
    return JSONResponse(error_body("Redis error"), status_code=500)


def _describe(error: dict) -> tuple[str, str]:
    location = [str(part) for part in error.get("loc", ()) if part != "body"]
    if location[:1] == ["query"]:  # a query parameter is named as the client wrote it: "from", not "query.from"
        location = location[1:]
    if error.get("type") == "json_invalid":
        return "(body)", "is not valid JSON"
    if not location:  # the body as a whole: not JSON at all, or JSON but not an object
        return "(body)", "must be a JSON object"
    field = ".".join(location)
    if error.get("type") == "missing":
        return field, "is required"
    return field, error.get("msg", "is not valid")
