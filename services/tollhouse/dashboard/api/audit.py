"""``GET /api/audit``: the organisation's audit log, newest first (area ``system`` read; admins too)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from tollhouse.dashboard import audit
from tollhouse.dashboard.auth import CurrentUser
from tollhouse.dashboard.deps import SettingsDep, StoreDep
from tollhouse.dashboard.models import ERROR_RESPONSES, AuditList
from tollhouse.dashboard.paging import page_count
from tollhouse.dashboard.permissions import AREAS, require

router = APIRouter(prefix="/api/audit", tags=["audit"], responses=ERROR_RESPONSES)

Reader = Annotated[CurrentUser, Depends(require("system", "read"))]


@router.get("", response_model=AuditList, summary="The audit log, newest first, a page at a time")
def audit_log(user: Reader, store: StoreDep, settings: SettingsDep,
              p: Annotated[int, Query(ge=1, description="Page number from 1.")] = 1,
              area: Annotated[str | None, Query(pattern="^(" + "|".join(AREAS) + ")$",
                                                description="Only changes in this area.")] = None,
              by: Annotated[str | None, Query(alias="user", description="Only changes by this user (email or id).")
                            ] = None,
              target: Annotated[str | None, Query(description="Only changes to this api_id, key hash, "
                                                              "policy id or user id.")] = None) -> dict:
    size = settings.page_size
    entries, total = audit.entries(store, user.org_id, (p - 1) * size, size, area=area, user=by, target=target)
    return {"entries": entries, "pages": page_count(total, size)}
