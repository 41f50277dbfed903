"""Policies, and what a key may do on one API once its policies are applied (its ``Grant``).

Keys name their policies (``apply_policies``); the gateway resolves them on every request against the
table it holds in memory, so a policy change reaches every key that applies it as soon as the table is
swapped — no key is re-issued or rewritten.

How policies combine, as Tyk does: without ``partitions`` a policy sets the key's access rights, rate
and quota; with partitions it sets only the parts it names (``acl``, ``rate_limit``, ``quota``) and the key
keeps its own for the rest. Several policies: access rights are merged, the highest rate and quota win.
A per-API ``limit`` (in the key's or a policy's access rights) replaces the key-wide limit for that API and
gets counters of its own.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from tollhouse.core.session import AccessDefinition, DocumentError, Limit, Policy, SessionState, parse_policy
from tollhouse.gateway.memo import Memo

log = logging.getLogger("tollhouse.gateway.policies")

GRANT_MEMO_ENTRIES = 4096


class GrantError(Exception):
    """The key may not use this API; ``status`` and ``message`` are what the caller gets."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class UrlRule:
    pattern: re.Pattern
    methods: frozenset[str]  # empty: every method

    def allows(self, path: str, method: str) -> bool:
        return bool(self.pattern.match(path)) and (not self.methods or method in self.methods)


@dataclass(frozen=True)
class Grant:
    """What one key may do on one API."""

    key_hash: str
    session: SessionState
    limit: Limit
    # "" when the key's counters are shared by all its APIs, the api_id when this API has its own limit.
    scope: str
    versions: frozenset[str] = frozenset()  # empty: every version
    url_rules: tuple[UrlRule, ...] = ()  # empty: every path and method

    def allows_version(self, version: str) -> bool:
        return not self.versions or version in self.versions

    def allows_url(self, path: str, method: str) -> bool:
        return not self.url_rules or any(rule.allows(path, method) for rule in self.url_rules)


@dataclass(frozen=True)
class PolicyTable:
    policies: dict[str, Policy] = field(default_factory=dict)
    # Grants resolved with this table, by (key hash, API id); an entry holds while the key store hands back
    # the same session object (it does while the stored key is unchanged). A reload brings a new table.
    _grants: Memo[tuple[str, str], Grant] = field(default_factory=lambda: Memo(GRANT_MEMO_ENTRIES),
                                                  compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.policies)

    def grant(self, key_hash: str, session: SessionState, api_id: str) -> Grant:
        """Resolve ``session``'s policies for ``api_id``; raise ``GrantError`` when it may not call it."""
        known = self._grants.get((key_hash, api_id))
        if known is not None and known.session is session:
            return known
        return self._grants.remember((key_hash, api_id), self._resolve(key_hash, session, api_id))

    def _resolve(self, key_hash: str, session: SessionState, api_id: str) -> Grant:
        applied = []
        for policy_id in session.policy_ids():
            policy = self.policies.get(policy_id)
            if policy is None:
                raise GrantError(403, f"Key is not authorised: its policy {policy_id} does not exist")
            if not policy.active:
                raise GrantError(403, f"Key is not authorised: its policy {policy_id} is not active")
            if policy.is_inactive:
                raise GrantError(403, "Key is inactive, please renew")
            applied.append(policy)

        acl_from = [p for p in applied if not p.partitions.any or p.partitions.acl]
        rights = _merge_rights(acl_from) if acl_from else session.access_rights
        access = rights.get(api_id)
        if access is None:
            raise GrantError(403, "Access to this API has been disallowed")

        rate_from = [p for p in applied if not p.partitions.any or p.partitions.rate_limit]
        quota_from = [p for p in applied if not p.partitions.any or p.partitions.quota]
        limit, scope = _limit_for(api_id, session, rate_from, quota_from)
        return Grant(
            key_hash=key_hash,
            session=session,
            limit=limit,
            scope=scope,
            versions=frozenset(access.versions),
            url_rules=tuple(_url_rule(url.url, url.methods) for url in access.allowed_urls),
        )


def _merge_rights(policies: list[Policy]) -> dict[str, AccessDefinition]:
    merged: dict[str, AccessDefinition] = {}
    for policy in policies:
        for api_id, access in policy.access_rights.items():
            current = merged.get(api_id)
            if current is None:
                merged[api_id] = access
                continue
            merged[api_id] = current.model_copy(update={
                "versions": sorted(set(current.versions) | set(access.versions)),
                # An empty list allows every URL, so it wins over any list.
                "allowed_urls": [] if not current.allowed_urls or not access.allowed_urls
                else current.allowed_urls + access.allowed_urls,
                "limit": _higher(current.limit, access.limit),
            })
    return merged


def _limit_for(api_id: str, session: SessionState, rate_from: list[Policy],
               quota_from: list[Policy]) -> tuple[Limit, str]:
    contributing = {id(p): p for p in [*rate_from, *quota_from]}.values()
    per_api = [p.access_rights[api_id].limit for p in contributing
               if api_id in p.access_rights and p.access_rights[api_id].limit is not None
               and p.access_rights[api_id].limit.is_set]
    own_access = session.access_rights.get(api_id)
    if not per_api and not rate_from and not quota_from and own_access is not None \
            and own_access.limit is not None and own_access.limit.is_set:
        return own_access.limit, api_id
    if per_api:
        limit = per_api[0]
        for other in per_api[1:]:
            limit = _higher(limit, other)
        return limit, api_id

    own = session.own_limit()
    rate_source = _highest_rate([p.own_limit() for p in rate_from]) if rate_from else own
    quota_source = _highest_quota([p.own_limit() for p in quota_from]) if quota_from else own
    return Limit(rate=rate_source.rate, per=rate_source.per, quota_max=quota_source.quota_max,
                 quota_renewal_rate=quota_source.quota_renewal_rate), ""


def _higher(a: Limit | None, b: Limit | None) -> Limit | None:
    if a is None or b is None:
        return a or b
    rate = _highest_rate([a, b])
    quota = _highest_quota([a, b])
    return Limit(rate=rate.rate, per=rate.per, quota_max=quota.quota_max,
                 quota_renewal_rate=quota.quota_renewal_rate)


def _highest_rate(limits: list[Limit]) -> Limit:
    # No rate limit at all beats any limit; otherwise the most requests per second.
    unlimited = [limit for limit in limits if not limit.has_rate]
    if unlimited:
        return unlimited[0]
    return max(limits, key=lambda limit: limit.rate / limit.per)


def _highest_quota(limits: list[Limit]) -> Limit:
    unlimited = [limit for limit in limits if not limit.has_quota]
    if unlimited:
        return unlimited[0]
    return max(limits, key=lambda limit: limit.quota_max)


def _url_rule(pattern: str, methods: list[str]) -> UrlRule:
    return UrlRule(re.compile(pattern), frozenset(methods))  # validated when the key or policy was stored


@dataclass
class PolicyReport:
    policies: dict[str, Policy] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)  # id or position -> reason
    kept_previous: list[str] = field(default_factory=list)


def compile_policies(raws: list, previous: dict[str, Policy]) -> PolicyReport:
    """Validate a set of policy documents; for one that does not validate, keep its previous version."""
    report = PolicyReport()
    for position, raw in enumerate(raws):
        policy_id = raw.get("id") or raw.get("_id") if isinstance(raw, dict) else None
        label = policy_id if isinstance(policy_id, str) and policy_id else f"policy #{position}"
        try:
            policy = parse_policy(raw)
        except DocumentError as exc:
            report.rejected[label] = str(exc)
            if label in previous and label not in report.policies:
                report.policies[label] = previous[label]
                report.kept_previous.append(label)
            continue
        if policy.id in report.policies and policy.id not in report.kept_previous:
            report.rejected[f"{label} (#{position})"] = f"id: {policy.id} is used by an earlier policy"
            continue
        report.policies[policy.id] = policy
    for label, reason in report.rejected.items():
        kept = " (its previous version stays in force)" if label in report.kept_previous else ""
        log.error("rejected policy %s: %s%s", label, reason, kept)
    return report
