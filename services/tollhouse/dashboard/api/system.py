"""``/system/*``: what gateways pull, authorised by the node secret rather than a user token."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from tollhouse.dashboard.auth import node_authorization
from tollhouse.dashboard.deps import StoreDep
from tollhouse.dashboard.models import ErrorResponse, SystemApis, SystemPolicies

router = APIRouter(
    prefix="/system",
    tags=["system (gateways)"],
    dependencies=[Depends(node_authorization)],
    responses={
        403: {"model": ErrorResponse, "description": "Missing or wrong node secret."},
        503: {"model": ErrorResponse, "description": "The database is unavailable."},
    },
)


@router.get("/apis", response_model=SystemApis, summary="Every active API definition, of every organisation")
def system_apis(store: StoreDep) -> dict:
    return {"Status": "OK", "Message": store.active_definitions(), "Nonce": ""}


@router.get("/policies", response_model=SystemPolicies, summary="Every policy")
def system_policies(store: StoreDep) -> dict:
    return {"Status": "OK", "Message": store.all_policies(), "Nonce": ""}
