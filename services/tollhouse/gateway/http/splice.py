"""Two connections joined byte for byte after a protocol switch (WebSocket): nothing is parsed.

Each transport is given a small protocol that writes what it receives to the other transport, so the
bytes move in callbacks, without a task per connection. Flow control crosses over: when one side's
write buffer fills, the other side stops reading until it drained. Either side closing closes the
other once what is buffered for it has been written; either side failing aborts the other.
"""

from __future__ import annotations

import asyncio

WRITE_HIGH_WATER = 256 * 1024


class _Side(asyncio.Protocol):
    """The protocol of one spliced transport; ``peer`` is the other side's."""

    def __init__(self, transport: asyncio.Transport):
        self.transport = transport
        self.peer: _Side = self

    def data_received(self, data: bytes) -> None:
        self.peer.transport.write(data)

    def eof_received(self) -> bool:
        return False  # the transport closes, and connection_lost closes the peer

    def connection_lost(self, exc: Exception | None) -> None:
        peer = self.peer.transport
        if exc is None:
            peer.close()
        else:
            peer.abort()

    def pause_writing(self) -> None:
        self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if not self.peer.transport.is_closing():
            self.peer.transport.resume_reading()


def splice(one: asyncio.Transport, one_tail: bytes, other: asyncio.Transport, other_tail: bytes) -> None:
    """Join two transports both ways. ``one_tail``: bytes already read from ``one`` (they go to ``other``
    first); ``other_tail`` likewise. The transports' previous protocols hear nothing more."""
    if one.is_closing() or other.is_closing():
        one.close()
        other.close()
        return
    first, second = _Side(one), _Side(other)
    first.peer, second.peer = second, first
    for side in (first, second):
        side.transport.set_protocol(side)
        side.transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
    if one_tail:
        other.write(one_tail)
    if other_tail:
        one.write(other_tail)
    one.resume_reading()
    other.resume_reading()
