"""Servers and a raw client for the data-path tests.

- ``app``: a real upstream (raw ASGI under uvicorn, in a child process): echo, download, upload,
  slow and status endpoints.
- ``python -m tests.upstream gateway``: a forward-only Tollhouse gateway in a child process, so the
  streaming test can read its memory use from /proc.
- ``GatewayThread``: the gateway server in a thread of the test process, with its own event loop.
- ``HttpClient``: a socket client that reads responses byte-exactly (pipelining, 100 Continue).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import socket
import sys
import threading
from pathlib import Path
from urllib.parse import parse_qs

from tests.servers import ServerProcess, free_port

BLOCK = bytes(range(256)) * 256  # 64 KiB; downloads repeat it, so a client can check what it got


FLAP = {"status": 200, "calls": 0}  # what /flap answers, per upstream process
HITS: dict[str, int] = {}  # /counted/<path>: how often each path was asked for, per upstream process


def pattern(size: int) -> bytes:
    return (BLOCK * (size // len(BLOCK) + 1))[:size]


# -- the upstream app ------------------------------------------------------------------------

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            pass
        await send({"type": "lifespan.shutdown.complete"})
        return
    path = scope["path"]
    query = {key: values[-1] for key, values in parse_qs(scope["query_string"].decode()).items()}
    if path.startswith("/download"):
        await _download(send, int(query.get("size", "0")), query.get("mode", "length"))
    elif path.startswith("/slow"):
        await asyncio.sleep(float(query.get("delay", "1")))
        await _json(send, 200, {"slept": float(query.get("delay", "1"))})
    elif path.startswith("/flap"):
        # A path whose answer the test sets, on this upstream directly: after ?set=500 every call answers 500.
        # A ?set call answers 200 with the calls counted so far (not counting itself).
        if "set" in query:
            FLAP["status"] = int(query["set"])
            await _json(send, 200, {"flap": FLAP["status"], "calls": FLAP["calls"]})
        else:
            FLAP["calls"] += 1
            await _json(send, FLAP["status"], {"flap": FLAP["status"], "port": scope["server"][1]})
    elif path.startswith(("/counted/", "/hits/")):
        await _counted(send, path, parse_qs(scope["query_string"].decode()))
    elif path.startswith("/status/"):
        status = int(path.rsplit("/", 1)[1])
        await _json(send, status, {"status": status}, body=status not in (204, 304))
    elif path.startswith("/hop-headers"):
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/plain"), (b"keep-alive", b"timeout=5"), (b"x-listed", b"drop me"),
            (b"connection", b"x-listed"), (b"proxy-authenticate", b"Basic"), (b"x-kept", b"yes"),
            (b"trailer", b"x-t"), (b"upgrade", b"h2c")]})
        await send({"type": "http.response.body", "body": b"ok"})
    elif path.startswith("/reflect"):  # the request as it arrived, body included (transform tests)
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        data = json.dumps({
            "method": scope["method"], "path": path, "query": scope["query_string"].decode("latin-1"),
            "headers": {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
            "body": body.decode("utf-8", "replace")}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
            (b"x-upstream", b"yes"), (b"x-upstream-secret", b"s3cret")]})
        await send({"type": "http.response.body", "body": data})
    else:  # echo, upload: read the whole body as a stream, report what arrived
        digest, size = hashlib.sha256(), 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            digest.update(chunk)
            size += len(chunk)
            if not message.get("more_body"):
                break
        await _json(send, 200, {
            "method": scope["method"], "path": path, "raw_path": scope.get("raw_path", b"").decode("latin-1"),
            "query": scope["query_string"].decode("latin-1"),
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
            "body_length": size, "body_sha256": digest.hexdigest()})


async def _counted(send, path: str, query: dict[str, list[str]]) -> None:
    """``/counted/...`` counts its calls per path and answers the count (body ``{"hits": n}``, header ``x-hits``);
    ``?status=``, ``?header=name:value`` (repeatable) and ``?size=`` (a body of that many pattern bytes, streamed
    without Content-Length when ``?chunked=1``) shape the answer. ``/hits/...`` reads the count of
    ``/counted/...`` without counting."""
    if path.startswith("/hits/"):
        await _json(send, 200, {"hits": HITS.get("/counted/" + path.removeprefix("/hits/"), 0)})
        return
    HITS[path] = hits = HITS.get(path, 0) + 1
    size = int(query.get("size", ["-1"])[-1])
    chunked = query.get("chunked", [""])[-1] == "1"
    data = json.dumps({"hits": hits, "path": path}).encode() if size < 0 else pattern(size)
    headers = [(b"content-type", b"application/json"), (b"x-hits", str(hits).encode())]
    headers += [tuple(part.strip().encode() for part in value.split(":", 1)) for value in query.get("header", [])]
    if not chunked:
        headers.append((b"content-length", str(len(data)).encode()))
    await send({"type": "http.response.start", "status": int(query.get("status", ["200"])[-1]), "headers": headers})
    if chunked:
        for start in range(0, len(data), len(BLOCK)):
            await send({"type": "http.response.body", "body": data[start:start + len(BLOCK)], "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    else:
        await send({"type": "http.response.body", "body": data})


async def _json(send, status: int, payload: dict, body: bool = True) -> None:
    data = json.dumps(payload).encode() if body else b""
    headers = [(b"content-type", b"application/json")]
    if body:
        headers.append((b"content-length", str(len(data)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def _download(send, size: int, mode: str) -> None:
    headers = [(b"content-type", b"application/octet-stream")]
    if mode == "length":
        headers.append((b"content-length", str(size).encode()))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    sent = 0
    while sent < size:
        chunk = BLOCK[: min(len(BLOCK), size - sent)]
        sent += len(chunk)
        await send({"type": "http.response.body", "body": chunk, "more_body": sent < size})
    if size == 0:
        await send({"type": "http.response.body", "body": b""})


def upstream_server(workdir: Path) -> ServerProcess:
    port = free_port()
    argv = [sys.executable, "-m", "tests.upstream", "upstream", "--port", str(port)]
    return ServerProcess("upstream", argv, port, workdir, env=_child_env())


def tls_upstream_server(workdir: Path, cert: Path, key: Path) -> ServerProcess:
    port = free_port()
    argv = [sys.executable, "-m", "tests.upstream", "upstream", "--port", str(port),
            "--tls-cert", str(cert), "--tls-key", str(key)]
    return ServerProcess("tls-upstream", argv, port, workdir, env=_child_env())


def gateway_server(workdir: Path, upstream_port: int) -> ServerProcess:
    port = free_port()
    argv = [sys.executable, "-m", "tests.upstream", "gateway", "--port", str(port),
            "--upstream-port", str(upstream_port)]
    return ServerProcess("gateway", argv, port, workdir, env=_child_env())


def _child_env() -> dict:
    root = str(Path(__file__).resolve().parent.parent)
    return {"PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}


# -- a gateway that forwards everything to one upstream ---------------------------------------

def forwarding_handler(pool, target):
    from tollhouse.gateway.proxy import forward

    async def handler(request, response):
        await forward(request, response, pool, target, request.target)

    return handler


async def _serve_gateway(port: int, upstream_port: int) -> None:
    from tollhouse.gateway.http.server import ServerLimits, start_server
    from tollhouse.gateway.http.upstream import UpstreamPool
    from tollhouse.gateway.proxy import UpstreamTarget

    target = UpstreamTarget("http", "127.0.0.1", upstream_port, f"127.0.0.1:{upstream_port}")
    server = await start_server(forwarding_handler(UpstreamPool(), target), "127.0.0.1", port, ServerLimits())
    await server.serve_forever()


class GatewayThread:
    """``start_server(handler)`` on a uvloop loop in a background thread; ``port`` once started."""

    def __init__(self, handler_factory, limits=None):
        # handler_factory() runs inside the gateway's loop (pools must be made there).
        self._handler_factory = handler_factory
        self._limits = limits
        self.port = free_port()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._error: BaseException | None = None

    def _run(self) -> None:
        import uvloop

        from tollhouse.gateway.http.server import ServerLimits, start_server

        self.loop = uvloop.new_event_loop()
        asyncio.set_event_loop(self.loop)

        async def main():
            try:
                handler = self._handler_factory()
                self.server = await start_server(handler, "127.0.0.1", self.port,
                                                 self._limits or ServerLimits())
            except BaseException as exc:
                self._error = exc
                raise
            finally:
                self._ready.set()
            with contextlib.suppress(asyncio.CancelledError):
                await self.server.serve_forever()

        self._main = self.loop.create_task(main())
        with contextlib.suppress(BaseException):
            self.loop.run_until_complete(self._main)
        leftover = asyncio.all_tasks(self.loop)  # connection workers, the timeout sweeper
        for task in leftover:
            task.cancel()
        with contextlib.suppress(BaseException):
            self.loop.run_until_complete(asyncio.gather(*leftover, return_exceptions=True))

    def __enter__(self) -> GatewayThread:
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc) -> None:
        self.loop.call_soon_threadsafe(self._main.cancel)
        self._thread.join(10)

    def call(self, coro_factory, timeout: float = 10):
        """Run ``coro_factory()`` on the gateway loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro_factory(), self.loop).result(timeout)


# -- a raw client --------------------------------------------------------------------------------

class Reply:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes):
        self.status, self.headers, self.body = status, headers, body

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)

    def header_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name]

    def json(self):
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<Reply {self.status} {self.headers} {self.body[:200]!r}>"


class HttpClient:
    """One connection; ``send`` raw bytes, ``read_reply`` one response at a time (bodies framed exactly)."""

    def __init__(self, port: int, timeout: float = 10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.file = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(self, method: str, target: str, headers: list[tuple[str, str]] = (), body: bytes = b"",
                head_only: bool = False) -> Reply:
        lines = [f"{method} {target} HTTP/1.1", "host: test"]
        lines += [f"{k}: {v}" for k, v in headers]
        if body or method in ("POST", "PUT"):
            lines.append(f"content-length: {len(body)}")
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        return self.read_reply(head_only=head_only or method == "HEAD")

    def read_reply(self, head_only: bool = False, sink=None) -> Reply:
        status_line = self.file.readline()
        if not status_line:
            raise ConnectionError("connection closed before a response")
        status = int(status_line.split()[1])
        headers = []
        while (line := self.file.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers.append((name.strip().lower(), value.strip()))
        reply = Reply(status, headers, b"")
        if head_only or status < 200 or status in (204, 304):
            return reply
        parts = []
        write = sink or parts.append
        if reply.header("transfer-encoding") == "chunked":
            while True:
                size = int(self.file.readline().split(b";")[0], 16)
                if size == 0:
                    while self.file.readline() not in (b"\r\n", b""):
                        pass
                    break
                _read_exactly(self.file, size, write)
                self.file.readline()
        elif reply.header("content-length") is not None:
            _read_exactly(self.file, int(reply.header("content-length")), write)
        else:
            while chunk := self.file.read1(65536):
                write(chunk)
        reply.body = b"".join(parts)
        return reply

    def closed_by_peer(self, timeout: float = 5) -> bool:
        """True when the server closed (EOF or reset) with nothing more to read."""
        self.sock.settimeout(timeout)
        try:
            return self.file.read1(1) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.file.close()
        self.sock.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _read_exactly(file, size: int, write) -> None:
    while size:
        chunk = file.read1(min(size, 1 << 20))
        if not chunk:
            raise ConnectionError("connection closed mid-body")
        write(chunk)
        size -= len(chunk)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["upstream", "gateway"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream-port", type=int)
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    args = parser.parse_args()
    if args.mode == "upstream":
        import uvicorn

        uvicorn.run(app, host="127.0.0.1", port=args.port, loop="uvloop", http="httptools",
                    log_level="warning", timeout_keep_alive=30, lifespan="off",
                    ssl_certfile=args.tls_cert, ssl_keyfile=args.tls_key)
    else:
        import uvloop

        uvloop.run(_serve_gateway(args.port, args.upstream_port))


if __name__ == "__main__":
    main()
