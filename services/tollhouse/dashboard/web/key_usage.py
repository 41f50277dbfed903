"""What a key may do and how much of it is used: the key page's figures, computed the way the gateways do.

The limits come from the gateway's own policy resolution (``gateway.policies.PolicyTable``: partitions, merged
access rights, the highest rate and quota, per-API limits), so the page shows what the gateways enforce, not a
second guess. The usage comes from the quota counters the gateways keep in Redis (``KeyStore.quota_usage``); a
key's APIs share one counter unless a per-API limit gives an API its own (the grant's ``scope``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from tollhouse.core.session import DocumentError, Limit, Policy, SessionState, parse_policy
from tollhouse.dashboard.keystore import KeyStore
from tollhouse.dashboard.web.access_form import duration
from tollhouse.gateway.policies import GrantError, PolicyTable


@dataclass
class ApiAccess:
    api_id: str
    name: str
    versions: list[str]  # empty: every version
    scope: str  # "" when the key's APIs share its counters


@dataclass
class Usage:
    """One set of counters: the key's (shared by the APIs in ``apis``) or one API's own."""

    apis: list[str]
    rate: str
    quota: str
    has_quota: bool
    used: int = 0
    remaining: int = 0
    renews: str = ""


@dataclass
class KeyUsage:
    problems: list[str] = field(default_factory=list)  # why the gateways refuse the key, if they do
    access: list[ApiAccess] = field(default_factory=list)
    usage: list[Usage] = field(default_factory=list)


def org_policies(documents: list[dict]) -> dict[str, Policy]:
    policies = {}
    for document in documents:
        try:
            policy = parse_policy(document)
        except DocumentError:  # stored through the validating API, so only a hand-edited document fails
            continue
        policies[policy.id] = policy
    return policies


def key_usage(keys: KeyStore, key_hash: str, session: SessionState, policies: dict[str, Policy],
              api_names: dict[str, str], now: float) -> KeyUsage:
    result = KeyUsage(problems=_problems(session, policies, now))
    table = PolicyTable(policies)
    candidates = set(session.access_rights)
    for policy_id in session.policy_ids():
        if policy_id in policies:
            candidates |= set(policies[policy_id].access_rights)
    counters: dict[str, Usage] = {}
    for api_id in sorted(candidates, key=lambda api_id: api_names.get(api_id, api_id).lower()):
        try:
            grant = table.grant(key_hash, session, api_id)
        except GrantError:  # not an API this key may call (or a refused key: in ``problems``)
            continue
        name = api_names.get(api_id, api_id)
        result.access.append(ApiAccess(api_id, name, sorted(grant.versions), grant.scope))
        if grant.scope in counters:
            counters[grant.scope].apis.append(name)
        else:
            counters[grant.scope] = _usage(keys, key_hash, grant.scope, grant.limit, name)
    result.usage = list(counters.values())
    return result


def _problems(session: SessionState, policies: dict[str, Policy], now: float) -> list[str]:
    problems = []
    if session.is_inactive:
        problems.append("The key is inactive.")
    if session.expired(now):
        problems.append("The key has expired.")
    for policy_id in session.policy_ids():
        policy = policies.get(policy_id)
        if policy is None:
            problems.append(f"Its policy {policy_id} does not exist.")
        elif not policy.active or policy.is_inactive:
            problems.append(f"Its policy {policy.name or policy_id} is not active.")
    return problems


def _usage(keys: KeyStore, key_hash: str, scope: str, limit: Limit, api_name: str) -> Usage:
    usage = Usage(apis=[api_name], rate=rate_text(limit), quota=quota_text(limit), has_quota=limit.has_quota)
    if limit.has_quota:
        used, renews_us = keys.quota_usage(key_hash, scope)
        usage.used, usage.remaining = used, max(0, limit.quota_max - used)
        if not limit.quota_renewal_rate:
            usage.renews = "never"
        elif renews_us:
            usage.renews = moment(renews_us / 1_000_000)
        else:
            usage.renews = "no period running: the next request starts one"
    return usage


def rate_text(limit: Limit) -> str:
    if not limit.has_rate:
        return "no rate limit"
    rate = int(limit.rate) if float(limit.rate).is_integer() else limit.rate
    per = int(limit.per) if float(limit.per).is_integer() else limit.per
    return f"{rate} per {per} s"


def quota_text(limit: Limit) -> str:
    if not limit.has_quota:
        return "no quota"
    if not limit.quota_renewal_rate:
        return f"{limit.quota_max}, never renews"
    return f"{limit.quota_max} per {duration(limit.quota_renewal_rate)}"


def moment(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
