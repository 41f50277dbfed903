"""``DELETE /api/cache/{api_id}``: clear an API's response cache on every gateway (``apis`` write permission).

Tyk's gateway answers ``DELETE /tyk/cache/{api_id}``; this is the dashboard's way to the same end, for an API of
the user's organisation only (404 otherwise), recorded in the audit log as ``apis`` ``clear_cache``.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from tollhouse.dashboard import audit
from tollhouse.dashboard.auth import CurrentUser
from tollhouse.dashboard.deps import StoreDep
from tollhouse.dashboard.errors import DashboardError
from tollhouse.dashboard.models import ERROR_RESPONSES, ErrorResponse, StatusResponse
from tollhouse.dashboard.permissions import require
from tollhouse.dashboard.response_cache import ResponseCaches
from tollhouse.dashboard.store import Store

log = logging.getLogger("tollhouse.dashboard.cache")

NOT_FOUND = {404: {"model": ErrorResponse, "description": "No such API in the user's organisation."}}
router = APIRouter(prefix="/api/cache", tags=["apis"], responses={**ERROR_RESPONSES, **NOT_FOUND})

Writer = Annotated[CurrentUser, Depends(require("apis", "write"))]


def _caches(request: Request) -> ResponseCaches:
    return request.app.state.response_caches


CachesDep = Annotated[ResponseCaches, Depends(_caches)]


@router.delete("/{api_id}", response_model=StatusResponse, summary="Clear an API's response cache")
def clear_cache(api_id: Annotated[str, Path(description="The API's api_id.")], user: Writer, store: StoreDep,
                caches: CachesDep) -> StatusResponse:
    removed = clear_api_cache(store, caches, user, api_id)
    return StatusResponse(Message="cache invalidated", Meta=str(removed))


def clear_api_cache(store: Store, caches: ResponseCaches, user: CurrentUser, api_id: str) -> int:
    """Clear and audit (the JSON API and the web button alike); ``DashboardError`` 404 for an API the user's
    organisation does not have. Returns how many answers were dropped."""
    if store.get_api(user.org_id, api_id) is None:
        raise DashboardError(404, "API not found")
    removed = caches.clear(api_id)
    log.info("response cache of API %s cleared by %s (%d answers)", api_id, user.email, removed)
    audit.record(store, user, "apis", "clear_cache", api_id, after={"answers_dropped": removed})
    return removed
