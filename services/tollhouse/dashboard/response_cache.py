"""Clearing an API's response cache from the dashboard: its answers are deleted from the shared Redis directly.

The gateways keep cached answers in the Redis they share with the dashboard (``core/cache_names.py``), so
deleting them there clears the API on every gateway at once, whether or not a gateway is listening for
notices, and the user learns at once whether it worked (a Redis error answers 503 through ``errors.py``).
"""

from __future__ import annotations

import redis

from tollhouse.core.cache_names import api_pattern

BATCH = 500


class ResponseCaches:
    def __init__(self, client: redis.Redis):
        self._redis = client

    def clear(self, api_id: str) -> int:
        """Delete every answer cached for API ``api_id``; how many there were."""
        names, removed = [], 0
        for name in self._redis.scan_iter(match=api_pattern(api_id), count=1000):
            names.append(name)
            if len(names) == BATCH:
                removed += self._redis.unlink(*names)
                names = []
        if names:
            removed += self._redis.unlink(*names)
        return removed

    def close(self) -> None:
        self._redis.close()
