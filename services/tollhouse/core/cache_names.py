"""Where cached answers live in Redis, for the gateways that write them and whoever clears an API's cache.

One string per answer, ``cache:<api_id>:<digest>``, expiring with its lifetime. ``:`` is not allowed in an
api_id (``apidef.API_ID_PATTERN``), nor are glob characters, so ``cache:<api_id>:*`` finds that API's answers
and never another's (a ``-`` separator would let ``cache-a-*`` match API ``a-b``).
"""

from __future__ import annotations

CACHE_PREFIX = "cache:"


def entry_name(api_id: str, digest: str) -> str:
    return f"{CACHE_PREFIX}{api_id}:{digest}"


def api_pattern(api_id: str) -> str:
    """The SCAN pattern of every answer cached for API ``api_id``."""
    return f"{CACHE_PREFIX}{api_id}:*"
