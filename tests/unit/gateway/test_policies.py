"""How a key's policies combine into its grant on one API (gateway/policies.py)."""

from __future__ import annotations

import pytest

from tollhouse.core.session import parse_policy, parse_session
from tollhouse.gateway.policies import GrantError, PolicyTable

API = "orders"
RIGHTS = {API: {"api_id": API, "versions": ["Default"]}}


def table(*policies: dict) -> PolicyTable:
    return PolicyTable({p["id"]: parse_policy(p) for p in policies})


def grant(session: dict, *policies: dict, api_id: str = API):
    return table(*policies).grant("h" * 64, parse_session(session), api_id)


@pytest.mark.parametrize(
    ("session", "policies", "rate", "per", "quota", "scope"),
    [
        # The key's own limits when it applies no policy.
        ({"rate": 10, "per": 60, "quota_max": 100, "access_rights": RIGHTS}, [], 10, 60, 100, ""),
        # A per-API limit in the key's access rights has counters of its own.
        ({"rate": 10, "per": 60, "access_rights": {API: {"limit": {"rate": 5, "per": 1}}}}, [], 5, 1, -1, API),
        # A policy without partitions sets everything.
        ({"rate": 10, "per": 60, "apply_policies": ["gold"]},
         [{"id": "gold", "rate": 1000, "per": 60, "quota_max": 5, "access_rights": RIGHTS}], 1000, 60, 5, ""),
        # The highest rate and quota of several policies win.
        ({"apply_policies": ["a", "b"]},
         [{"id": "a", "rate": 10, "per": 1, "quota_max": 50, "access_rights": RIGHTS},
          {"id": "b", "rate": 100, "per": 60, "quota_max": 500, "access_rights": RIGHTS}], 10, 1, 500, ""),
        # No rate limit beats any rate limit.
        ({"apply_policies": ["a", "b"]},
         [{"id": "a", "rate": 10, "per": 1, "access_rights": RIGHTS},
          {"id": "b", "access_rights": RIGHTS}], 0, 0, -1, ""),
        # Partitioned: the policy sets only the quota; the key keeps its rate and access rights.
        ({"rate": 7, "per": 7, "access_rights": RIGHTS, "apply_policies": ["q"]},
         [{"id": "q", "rate": 1, "per": 1, "quota_max": 3, "partitions": {"quota": True}}], 7, 7, 3, ""),
        # A per-API limit in a policy's access rights.
        ({"apply_policies": ["p"]},
         [{"id": "p", "rate": 1, "per": 1, "access_rights": {API: {"limit": {"rate": 9, "per": 2}}}}],
         9, 2, -1, API),
    ],
)
def test_limits(session, policies, rate, per, quota, scope):
    result = grant(session, *policies)
    assert (result.limit.rate, result.limit.per, result.limit.quota_max, result.scope) == (rate, per, quota, scope)


@pytest.mark.parametrize(
    ("session", "policies", "status", "message"),
    [
        ({"access_rights": {"other": {}}}, [], 403, "Access to this API has been disallowed"),
        ({}, [], 403, "Access to this API has been disallowed"),
        ({"apply_policies": ["gone"]}, [], 403, "policy gone does not exist"),
        ({"apply_policies": ["off"]}, [{"id": "off", "active": False, "access_rights": RIGHTS}], 403, "not active"),
        ({"apply_policies": ["sleepy"]}, [{"id": "sleepy", "is_inactive": True, "access_rights": RIGHTS}], 403,
         "Key is inactive"),
        # The policy's access rights replace the key's own (the key named the API, the policy does not).
        ({"access_rights": RIGHTS, "apply_policies": ["elsewhere"]},
         [{"id": "elsewhere", "access_rights": {"other": {}}}], 403, "Access to this API has been disallowed"),
    ],
)
def test_refusals(session, policies, status, message):
    with pytest.raises(GrantError) as refused:
        grant(session, *policies)
    assert refused.value.status == status and message in refused.value.message


def test_merged_access_rights_union_versions_and_urls():
    result = grant(
        {"apply_policies": ["a", "b"]},
        {"id": "a", "access_rights": {API: {"versions": ["v1"],
                                            "allowed_urls": [{"url": "/items", "methods": ["get"]}]}}},
        {"id": "b", "access_rights": {API: {"versions": ["v2"],
                                            "allowed_urls": [{"url": "/admin", "methods": []}]}}},
    )
    assert result.versions == {"v1", "v2"}
    assert result.allows_url("/items/3", "GET") and not result.allows_url("/items/3", "POST")
    assert result.allows_url("/admin/x", "DELETE") and not result.allows_url("/other", "GET")


def test_an_empty_url_list_allows_everything_when_merged():
    result = grant(
        {"apply_policies": ["a", "b"]},
        {"id": "a", "access_rights": {API: {"allowed_urls": [{"url": "/items", "methods": ["GET"]}]}}},
        {"id": "b", "access_rights": {API: {}}},
    )
    assert result.allows_url("/anything", "PATCH")


def test_a_grant_is_resolved_once_per_session_object():
    policies = table({"id": "gold", "rate": 1000, "per": 60, "access_rights": RIGHTS})
    session = parse_session({"apply_policies": ["gold"]})
    first = policies.grant("h" * 64, session, API)
    assert policies.grant("h" * 64, session, API) is first
    # A changed key is a new session object (the key store decodes new bytes anew): resolved again.
    changed = parse_session({"apply_policies": ["gold"], "access_rights": {}})
    assert policies.grant("h" * 64, changed, API) is not first
    # A reload brings a new table, which knows nothing of the old one's grants.
    reloaded = table({"id": "gold", "rate": 5, "per": 1, "access_rights": RIGHTS})
    assert reloaded.grant("h" * 64, session, API).limit.rate == 5


def test_a_refused_grant_is_never_remembered():
    policies = table({"id": "gold", "access_rights": RIGHTS})
    session = parse_session({"apply_policies": ["gold"]})
    for _ in range(2):
        with pytest.raises(GrantError):
            policies.grant("h" * 64, session, "another-api")
