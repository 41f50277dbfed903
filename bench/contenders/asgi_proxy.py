"""A minimal reverse proxy as a raw ASGI app (no framework), for `make bench` only.

Two apps that differ only in the upstream client: ``httpx_app`` (httpx.AsyncClient) and
``aiohttp_app`` (aiohttp.ClientSession). Both read the whole request and response body (no
streaming), drop hop-by-hop headers, and keep a keep-alive pool as large as the benchmark's
connection count, so that neither client is held back by a default pool limit.

Environment: BENCH_UPSTREAM (base URL, e.g. http://127.0.0.1:8000), BENCH_POOL (pool size).
Run: uvicorn --app-dir bench/contenders asgi_proxy:aiohttp_app --loop uvloop --http httptools
"""

from __future__ import annotations

import os

import aiohttp
import httpx

UPSTREAM = os.environ.get("BENCH_UPSTREAM", "http://127.0.0.1:8000").rstrip("/")
POOL = int(os.environ.get("BENCH_POOL", "64"))
TIMEOUT_SECONDS = 30.0
HOP_BY_HOP = {
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"te",
    b"trailer",
    b"transfer-encoding",
    b"upgrade",
    b"host",
    b"content-length",
}


def end_to_end(headers) -> list[tuple[bytes, bytes]]:
    return [(name, value) for name, value in headers if name.lower() not in HOP_BY_HOP]


async def read_body(receive) -> bytes:
    chunks, more = [], True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


class Proxy:
    """The ASGI side; subclasses provide the client's ``startup``, ``shutdown`` and ``forward``."""

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        url = UPSTREAM + scope["raw_path"].decode("latin-1")
        if scope["query_string"]:
            url += "?" + scope["query_string"].decode("latin-1")
        body = await read_body(receive)
        request_headers = end_to_end(scope["headers"])
        status, headers, content = await self.forward(scope["method"], url, request_headers, body)
        headers = [*end_to_end(headers), (b"content-length", str(len(content)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    async def lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


class HttpxProxy(Proxy):
    async def startup(self) -> None:
        limits = httpx.Limits(max_connections=POOL, max_keepalive_connections=POOL)
        self.client = httpx.AsyncClient(limits=limits, timeout=TIMEOUT_SECONDS, trust_env=False)

    async def shutdown(self) -> None:
        await self.client.aclose()

    async def forward(self, method, url, headers, body):
        request = self.client.build_request(method, url, headers=headers, content=body)
        response = await self.client.send(request, stream=True)
        try:
            content = b"".join([chunk async for chunk in response.aiter_raw()])  # no decoding
        finally:
            await response.aclose()
        return response.status_code, response.headers.raw, content


class AiohttpProxy(Proxy):
    async def startup(self) -> None:
        connector = aiohttp.TCPConnector(limit=POOL, limit_per_host=POOL)
        timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
        self.session = aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False)

    async def shutdown(self) -> None:
        await self.session.close()

    async def forward(self, method, url, headers, body):
        str_headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]
        async with self.session.request(
            method, url, headers=str_headers, data=body or None, allow_redirects=False
        ) as response:
            return response.status, response.raw_headers, await response.read()


httpx_app = HttpxProxy()
aiohttp_app = AiohttpProxy()
