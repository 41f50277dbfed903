"""Every control API route in one place: each module registers its own."""

from __future__ import annotations

from tollhouse.gateway.control import apis, cache, keys, oauth, policies, reloads
from tollhouse.gateway.control.router import ControlRouter, ControlServices


def build_control_router(services: ControlServices) -> ControlRouter:
    router = ControlRouter(services)
    # CONTROL-ROUTES: one line per module, ``<module>.register(router)``.
    keys.register(router)
    policies.register(router)
    apis.register(router)
    reloads.register(router)
    oauth.register(router)
    cache.register(router)
    return router
