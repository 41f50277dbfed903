"""Answer from the response cache when it holds this request's answer; otherwise keep the upstream's on its way.

Runs after the limits (a cached answer counts against the caller's rate limit and quota, as in Tyk) and the
request transforms (the cache keys what would be sent), right before the proxy. Only GET, HEAD and OPTIONS,
on every path (``cache_all_safe_requests``) or the version's ``cache`` / ``advance_cache_config`` paths.

The cache key: the API, the caller's key hash, the version, the method, the path and query, and the values of
``cache_by_headers``. Authenticated requests are keyed by their key, as in Tyk, so one key's answer is never
served to another (a keyed API's request without a key hash is not cached at all); keyless APIs share one cache
across callers (Tyk keys them by client IP, which behind a load balancer is one address anyway, and otherwise
makes the cache nearly useless).

A hit answers with the stored status, headers and body plus ``x-tyk-cached-response: 1`` and
``X-Tollhouse-Cache: HIT`` (304 when the request's ``If-None-Match`` names the stored ETag); a miss goes upstream
with ``X-Tollhouse-Cache: MISS`` on the answer, which is copied as it streams (``KeepingResponse``) and stored
if its status, headers and size allow (``cache_control.py``, ``cache_max_body_bytes``). Redis away: the request
goes upstream as if no cache were set, no header, never an error.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from tollhouse.core.apidef_cache import SAFE_METHODS, CacheRule, cache_rules
from tollhouse.core.cache_names import entry_name
from tollhouse.gateway.cache_control import never_cached, upstream_lifetime
from tollhouse.gateway.context import Answered, RequestContext
from tollhouse.gateway.http.messages import ClientDisconnected
from tollhouse.gateway.path_table import PathTable
from tollhouse.gateway.response_cache import CachedAnswer, CacheUnavailable, KeepingResponse, ResponseCache

if TYPE_CHECKING:
    from tollhouse.gateway.compiled import CompiledApi

HIT = [("x-tyk-cached-response", "1"), ("x-tollhouse-cache", "HIT")]
MISS = ("x-tollhouse-cache", "MISS")


class CacheResponses:
    def __init__(self, api: CompiledApi, cache: ResponseCache):
        definition = api.definition
        options = definition.cache_options
        self.api = api
        self.cache = cache
        self.keyed = not definition.use_keyless
        self.all_safe = options.cache_all_safe_requests
        self.codes = options.codes
        self.timeout = options.timeout
        self.by_headers = tuple(name.lower() for name in options.cache_by_headers)
        self.upstream_control = options.enable_upstream_cache_control
        self.ttl_header = options.cache_control_ttl_header
        rules = PathTable(api, lambda version: cache_rules(definition, version), lambda version, rule: rule)
        self.rules = rules if rules else None

    def cache_key(self, ctx: RequestContext) -> str:
        request = ctx.request
        parts = [ctx.api_key_hash, ctx.version, request.method, request.path, request.query]
        parts += [request.header(name) or "" for name in self.by_headers]
        return entry_name(self.api.api_id, hashlib.sha256("\0".join(parts).encode()).hexdigest())

    async def __call__(self, ctx: RequestContext) -> None:
        if ctx.request.method not in SAFE_METHODS or ctx.request.header("upgrade"):
            return  # (an upgrade is a WebSocket or the like: a connection, not an answer to keep)
        rule: CacheRule | None = self.rules.find(ctx) if self.rules is not None else None
        if rule is None and not self.all_safe:
            return
        if self.keyed and not ctx.api_key_hash:
            return
        name = self.cache_key(ctx)
        try:
            answer = await self.cache.get(name)
        except CacheUnavailable:
            return
        if answer is not None:
            await self._serve(ctx, answer)
            raise Answered(ctx.status, "answered from the cache")
        codes = rule.codes if rule is not None and rule.codes else self.codes
        timeout = rule.timeout if rule is not None and rule.timeout else self.timeout

        def decide(status: int, headers: list[tuple[str, str]]) -> int | None:
            if status not in codes or never_cached(headers):
                return None
            if self.upstream_control:
                return upstream_lifetime(headers, timeout, self.ttl_header)
            return timeout

        async def store(kept: CachedAnswer, seconds: int) -> None:
            await self.cache.put(name, kept, seconds)

        ctx.response_headers.append(MISS)
        ctx.response = KeepingResponse(ctx.response, self.cache.max_body_bytes, decide, store,  # type: ignore
                                       ctx.response_headers)

    @staticmethod
    async def _serve(ctx: RequestContext, answer: CachedAnswer) -> None:
        request, response = ctx.request, ctx.response
        not_modified = answer.status == 200 and _not_modified(request.header("if-none-match"), answer.headers)
        status = 304 if not_modified else answer.status
        length = answer.content_length if request.method == "HEAD" else len(answer.body)
        ctx.status = status
        try:
            await response.send_head(status, [*answer.headers, *ctx.response_headers, *HIT], length, flush=False)
            await response.send_body(answer.body)
            await response.finish()
        except ClientDisconnected:
            ctx.status = 499


def _not_modified(if_none_match: str | None, headers: list[tuple[str, str]]) -> bool:
    """Whether the client's ``If-None-Match`` names the stored answer's ETag (weak comparison, RFC 9110 13.1.2)."""
    if not if_none_match:
        return False
    etag = next((value for name, value in headers if name == "etag"), None)
    if etag is None:
        return False
    wanted = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in wanted or etag.strip().removeprefix("W/") in wanted
