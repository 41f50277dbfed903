"""Helpers of the upstream-rules tests: several real upstreams, and the Tyk definitions that use them."""

from __future__ import annotations

import httpx

from tests.upstream import upstream_server


def start_upstreams(workdir, count: int) -> list:
    return [upstream_server(workdir / f"upstream-{index}").start() for index in range(count)]


def url(server, path: str = "") -> str:
    return f"http://127.0.0.1:{server.port}{path}"


def set_flap(server, status: int) -> int:
    """Make ``server``'s /flap answer ``status`` from now on; returns how many /flap calls it had so far."""
    return httpx.get(url(server, f"/flap?set={status}")).json()["calls"]


def api(api_id: str, target_url: str, *, proxy: dict | None = None, extended_paths: dict | None = None,
        **fields) -> dict:
    """A keyless API on /<api_id>/ (listen path stripped)."""
    return {"api_id": api_id, "name": api_id, "use_keyless": True,
            "proxy": {"listen_path": f"/{api_id}/", "target_url": target_url, "strip_listen_path": True,
                      **(proxy or {})},
            "version_data": {"not_versioned": True,
                             "versions": {"Default": {"name": "Default", "extended_paths": extended_paths or {}}}},
            **fields}


def served_by(reply: httpx.Response) -> int | None:
    """The upstream port that answered an /echo request (the Host header the gateway sent it); None: none did."""
    if reply.status_code != 200:
        return None
    headers = dict(reply.json()["headers"])
    return int(headers["host"].rsplit(":", 1)[1])
