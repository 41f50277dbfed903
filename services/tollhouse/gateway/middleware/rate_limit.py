"""How much a caller may send: every rate limit and the quota of a request, in one Redis script call.

The rules of a request (precedence as Tyk's):
- ``global_rate_limit`` caps the API as a whole (one counter for every caller, keyless APIs too);
- the key's rate: an endpoint's ``extended_paths.rate_limit`` entry when one matches the request
  (counted per key, per endpoint; on a keyless API per endpoint for everyone), otherwise the grant's
  limit — the per-API ``limit`` of the key's or its policies' access rights, else the key's own;
- the key's quota (the grant's ``quota_max`` per ``quota_renewal_rate`` seconds).
``disable_rate_limit`` turns every rate limit off (the API-wide one too, as Tyk); ``disable_quota`` the quota.
A request must fit all of them; a refused one is counted nowhere (see ``tollhouse.gateway.ratelimit``).

Headers on every answer once the limits were checked, the 429 and upstream errors included:
- ``X-RateLimit-Limit``, ``X-RateLimit-Remaining``, ``X-RateLimit-Reset`` and the same values as the IETF
  ``RateLimit-Limit``, ``RateLimit-Remaining``, ``RateLimit-Reset``: the most restrictive rate rule's
  requests per window, requests left in it, and whole seconds until its oldest counted request leaves
  the window (on a 429: until the next request fits). Unlike Tyk these are rate values, never quota ones.
- ``Retry-After`` (whole seconds) on a 429.
- ``X-Quota-Limit``, ``X-Quota-Remaining``, ``X-Quota-Reset`` (seconds until the quota renews; absent
  when it never renews) when the key has a quota.
429 ``Rate Limit Exceeded``; 403 ``Quota exceeded``. Redis away: 503 naming it; with the gateway setting
``rate_limit_fail_open`` a request with only rate limits to check goes through unlimited (a quota never does).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tollhouse.core.endpoint_paths import endpoint_pattern
from tollhouse.core.keys import QUOTA_PREFIX, RATE_PREFIX, session_name
from tollhouse.gateway.context import GatewayError, KeyChanged, RequestContext
from tollhouse.gateway.keystore import StorageUnavailable
from tollhouse.gateway.ratelimit import LimitDecision, QuotaRule, RateRule

if TYPE_CHECKING:
    import re

    from tollhouse.gateway.compiled import CompiledApi
    from tollhouse.gateway.pipeline import PipelineDeps
    from tollhouse.gateway.policies import Grant

log = logging.getLogger("tollhouse.gateway.ratelimit")

RATE_EXCEEDED = "Rate Limit Exceeded"
QUOTA_EXCEEDED = "Quota exceeded"
FAIL_OPEN_LOG_INTERVAL = 10.0


@dataclass(frozen=True)
class EndpointLimit:
    pattern: re.Pattern
    methods: frozenset[str]  # empty: every method
    rate: float
    per: float
    bucket_prefix: str

    def matches(self, path: str, method: str) -> bool:
        return (not self.methods or method in self.methods) and bool(self.pattern.match(path))


class EnforceLimits:
    def __init__(self, api: CompiledApi, deps: PipelineDeps):
        if deps.limiter is None:
            raise ValueError("rate limits and quotas need the limiter (PipelineDeps.limiter)")
        definition = api.definition
        self.api = api
        self.limiter = deps.limiter
        self.fail_open = deps.rate_limit_fail_open
        self.keyed = not definition.use_keyless
        self.rates = not definition.disable_rate_limit
        self.quotas = self.keyed and not definition.disable_quota
        self.global_rule = None
        if self.rates and definition.has_global_rate_limit:
            limit = definition.global_rate_limit
            self.global_rule = RateRule(f"{RATE_PREFIX}api:{api.api_id}", limit.rate, limit.per)
        self.endpoints: dict[str, tuple[EndpointLimit, ...]] = {}
        if self.rates:
            self.endpoints = {version: self._compile(version) for version in definition.version_data.versions}
        # An unversioned API's paths are those of its one version entry (Tyk calls it "Default").
        data = definition.version_data
        names = [data.default_version, "Default", *data.versions] if data.not_versioned else []
        self.unversioned = next((self.endpoints[name] for name in names if name in self.endpoints), ())
        self._last_fail_open_log = 0.0

    def _compile(self, version: str) -> tuple[EndpointLimit, ...]:
        compiled = []
        for limit in self.api.definition.version_data.rate_limits(version):
            if limit.active:
                methods = limit.methods
                name = f"{RATE_PREFIX}endpoint:{self.api.api_id}:{version}:{limit.method.upper() or 'ANY'}:{limit.path}"
                compiled.append(EndpointLimit(endpoint_pattern(limit.path), methods, limit.rate, limit.per, name))
        return tuple(compiled)

    def rules(self, ctx: RequestContext) -> tuple[list[RateRule], QuotaRule | None]:
        """The rate rules and the quota this request must fit."""
        rules = [self.global_rule] if self.global_rule is not None else []
        grant = ctx.grant
        if self.rates:
            endpoint = self._endpoint(ctx)
            if endpoint is not None:
                bucket = f"{endpoint.bucket_prefix}:{grant.key_hash}" if grant is not None else endpoint.bucket_prefix
                rules.append(RateRule(bucket, endpoint.rate, endpoint.per))
            elif grant is not None and grant.limit.has_rate:
                rules.append(RateRule(_bucket(RATE_PREFIX, grant), grant.limit.rate, grant.limit.per))
        quota = None
        if self.quotas and grant is not None and grant.limit.has_quota:
            quota = QuotaRule(_bucket(QUOTA_PREFIX, grant), grant.limit.quota_max, grant.limit.quota_renewal_rate)
        return rules, quota

    def _endpoint(self, ctx: RequestContext) -> EndpointLimit | None:
        limits = self.endpoints.get(ctx.version, ()) if ctx.version else self.unversioned
        if not limits:
            return None
        path, method = self.api.relative_path(ctx.request.path), ctx.request.method
        return next((limit for limit in limits if limit.matches(path, method)), None)

    async def __call__(self, ctx: RequestContext) -> None:
        assert ctx.grant is not None or not self.keyed or ctx.auth_skipped, "EnforceLimits runs after CheckAccess"
        rules, quota = self.rules(ctx)
        # A key used as this process last read it is confirmed here, in the same script call (auth_token.py).
        confirm = (session_name(ctx.api_key_hash), ctx.key_digest) if ctx.key_digest else None
        if not rules and quota is None and confirm is None:
            return
        try:
            decision = await self.limiter.check(rules, quota, confirm=confirm)
        except StorageUnavailable as exc:
            if self.fail_open and quota is None and confirm is None:
                self._log_fail_open(exc)
                return
            raise GatewayError(503, str(exc)) from None
        if decision.key_changed:
            raise KeyChanged()
        ctx.key_digest = ""  # confirmed: what follows is decided on the key as stored
        ctx.response_headers.extend(limit_headers(decision))
        if decision.rejected_by == "rate":
            raise GatewayError(429, RATE_EXCEEDED, [("Retry-After", str(decision.retry_after))])
        if decision.rejected_by == "quota":
            raise GatewayError(403, QUOTA_EXCEEDED)

    def _log_fail_open(self, exc: StorageUnavailable) -> None:
        now = time.monotonic()
        if now - self._last_fail_open_log >= FAIL_OPEN_LOG_INTERVAL:
            self._last_fail_open_log = now
            log.warning("API %s: rate limits not enforced (rate_limit_fail_open): %s", self.api.api_id, exc)


def _bucket(prefix: str, grant: Grant) -> str:
    """``rate-limit-<hash>`` / ``quota-<hash>``, or with the API's id before the hash for a per-API limit."""
    return f"{prefix}{grant.scope}-{grant.key_hash}" if grant.scope else f"{prefix}{grant.key_hash}"


def limit_headers(decision: LimitDecision) -> list[tuple[str, str]]:
    headers = []
    status = decision.binding
    if status is not None:
        reset = str(math.ceil(status.wait if status.full else status.reset))
        limit, remaining = str(status.rule.limit), str(status.remaining)
        headers += [("X-RateLimit-Limit", limit), ("X-RateLimit-Remaining", remaining), ("X-RateLimit-Reset", reset),
                    ("RateLimit-Limit", limit), ("RateLimit-Remaining", remaining), ("RateLimit-Reset", reset)]
    quota = decision.quota
    if quota is not None:
        headers += [("X-Quota-Limit", str(quota.rule.max)), ("X-Quota-Remaining", str(quota.remaining))]
        if quota.reset is not None:
            headers.append(("X-Quota-Reset", str(math.ceil(quota.reset))))
    return headers
