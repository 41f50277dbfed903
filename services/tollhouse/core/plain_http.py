"""A few lines of asyncio HTTP/1.x for read-only endpoints (health, metrics): one request per connection.

Enough for load balancers, monitors and Prometheus scrapers; the services' own signal handling stays in
charge of shutdown, and no web framework is pulled into a process that only answers a GET.
"""

from __future__ import annotations

import asyncio

MAX_HEADER_LINES = 100
REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


async def read_request_head(reader: asyncio.StreamReader) -> tuple[str, str]:
    """The method and path of an HTTP/1.x request; the headers are read and ignored."""
    request_line = (await reader.readline()).decode("latin-1").split()
    if len(request_line) != 3:
        raise ValueError("not an HTTP request line")
    for _ in range(MAX_HEADER_LINES):
        if (await reader.readline()) in (b"\r\n", b"\n", b""):
            return request_line[0], request_line[1]
    raise ValueError("too many header lines")


def response_bytes(code: int, payload: bytes, content_type: str, include_body: bool = True) -> bytes:
    """A whole answer that closes the connection (HEAD: the same head, no body)."""
    head = (f"HTTP/1.1 {code} {REASONS.get(code, '')}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(payload)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n")
    return head.encode() + (payload if include_body else b"")
