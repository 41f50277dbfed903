"""Whether an upstream answer may be kept in the cache, and for how long (pure functions over its head).

Always refused: answers carrying ``Set-Cookie`` (a cookie meant for one client must never be replayed to
another, even on a keyless API where every caller shares the cache), ``Vary: *``, and server-sent event streams
(``text/event-stream``: live events, not a document to replay).

With ``enable_upstream_cache_control`` the upstream decides, per answer:
- ``Cache-Control: no-store``, ``private`` or ``no-cache`` -> not kept (we cannot revalidate, so ``no-cache``
  is the same as not keeping it);
- ``s-maxage=N`` (the directive for shared caches, which a gateway is), else ``max-age=N`` -> kept N seconds
  (0: not kept);
- ``public`` alone, or Tyk's ``x-tyk-cache-action-set`` header -> kept, for the seconds in
  ``x-tyk-cache-action-set-ttl`` (or the API's ``cache_control_ttl_header``) when given, else ``cache_timeout``;
- none of these -> not kept (as Tyk: without the upstream's word nothing is cached).
A TTL header overrides the Cache-Control lifetime when both are given.
"""

from __future__ import annotations

UPSTREAM_CACHE_HEADER = "x-tyk-cache-action-set"
UPSTREAM_TTL_HEADER = "x-tyk-cache-action-set-ttl"
REFUSING_DIRECTIVES = frozenset({"no-store", "private", "no-cache"})


def never_cached(headers: list[tuple[str, str]]) -> bool:
    return any(name == "set-cookie" or (name == "vary" and value.strip() == "*")
               or (name == "content-type" and value.lower().startswith("text/event-stream")) for name, value in headers)


def directives(value: str) -> dict[str, str]:
    """``Cache-Control``'s directives, names lowercased, values unquoted ("" when a directive has none)."""
    parsed = {}
    for part in value.split(","):
        name, _, argument = part.strip().partition("=")
        if name:
            parsed[name.strip().lower()] = argument.strip().strip('"')
    return parsed


def _seconds(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return max(int(text.strip()), 0)
    except ValueError:
        return None


def upstream_lifetime(headers: list[tuple[str, str]], default: int, ttl_header: str = "") -> int | None:
    """Seconds to keep an answer by its upstream's word (``enable_upstream_cache_control``); None: not kept."""
    ttl_header = (ttl_header or UPSTREAM_TTL_HEADER).lower()
    control: dict[str, str] = {}
    action = False
    ttl = None
    for name, value in headers:
        if name == "cache-control":
            control.update(directives(value))
        elif name == UPSTREAM_CACHE_HEADER:
            action = True
        elif name == ttl_header:
            ttl = _seconds(value)
    if REFUSING_DIRECTIVES & control.keys():
        return None
    if ttl is not None and (action or control):
        return ttl or None
    for directive in ("s-maxage", "max-age"):
        if directive in control:
            return _seconds(control[directive]) or None
    return default if action or "public" in control else None
