"""The gateway's control API: Tyk-shaped ``/tyk/...`` endpoints for keys, policies, APIs and reloads."""
