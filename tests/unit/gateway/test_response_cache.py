"""Stored answers' encoding, and the response writer that keeps a copy of an answer while streaming it."""

from __future__ import annotations

import asyncio

import pytest

from tollhouse.gateway.response_cache import CachedAnswer, KeepingResponse, decode, encode


@pytest.mark.parametrize("answer", [
    CachedAnswer(200, [("content-type", "application/json"), ("etag", '"v1"')], 9, b'{"a": "\n"}'[:9]),
    CachedAnswer(404, [], None, b"chunked body"),
    CachedAnswer(200, [("x-empty", "")], 1234, b""),  # a HEAD answer: the GET's length, no body
])
def test_encode_decode_round_trip(answer):
    assert decode(encode(answer)) == answer


@pytest.mark.parametrize("data", [b"", b"not json\nbody", b'[200, [], 9]\nshort', b'[200, "x", null]\n',
                                  b'[200, [], null]'])
def test_damaged_entries_are_misses(data):
    assert decode(data) is None


class Writer:
    """Records what reaches the client, as the server's Response would send it."""

    def __init__(self):
        self.sent: list = []
        self.started = self.finished = False

    async def send_head(self, status, headers, content_length=None, *, flush=True):
        self.started = True
        self.sent.append(("head", status, list(headers), content_length))

    async def send_body(self, chunk):
        self.sent.append(("body", chunk))

    async def finish(self):
        self.finished = True
        self.sent.append(("finish",))

    async def send_json(self, status, body, headers=()):
        self.sent.append(("json", status, body))

    def abort(self):
        self.sent.append(("abort",))


OWN = [("x-ratelimit-remaining", "4"), ("x-tollhouse-cache", "MISS")]


def run(steps, *, limit=10, decide=lambda status, headers: 30):
    """Drive a KeepingResponse through ``steps``; (what the client got, what was stored)."""
    writer, stored = Writer(), []

    async def store(answer, seconds):
        stored.append((answer, seconds))

    async def scenario():
        keeping = KeepingResponse(writer, limit, decide, store, OWN)
        for name, *args in steps:
            result = getattr(keeping, name)(*args)
            if asyncio.iscoroutine(result):
                await result
        assert keeping.started is writer.started  # the rest reads through to the real response

    asyncio.run(scenario())
    return writer.sent, stored


HEAD = ("send_head", 200, [("content-type", "text/plain"), *OWN], None)


def test_a_whole_answer_is_passed_on_unchanged_and_stored_without_the_gateways_own_headers():
    sent, stored = run([HEAD, ("send_body", b"hello "), ("send_body", b"world"), ("finish",)], limit=11)
    assert sent == [("head", 200, [("content-type", "text/plain"), *OWN], None), ("body", b"hello "),
                    ("body", b"world"), ("finish",)]
    assert stored == [(CachedAnswer(200, [("content-type", "text/plain")], None, b"hello world"), 30)]


@pytest.mark.parametrize("steps", [
    [HEAD, ("send_body", b"0123456789"), ("send_body", b"x"), ("finish",)],  # past the limit while streaming
    [("send_head", 200, [], 11), ("send_body", b"0123456789x"), ("finish",)],  # announced past the limit
    [HEAD, ("send_body", b"hello"), ("abort",)],  # the upstream broke off
    [HEAD, ("send_body", b"hello")],  # never finished (client gone)
    [("send_json", 502, {"error": "upstream down"})],  # the gateway's own answer
    [("send_head", 200, [], 5), ("send_body", b"hel"), ("finish",)],  # shorter than its Content-Length
])
def test_answers_not_kept(steps):
    sent, stored = run(steps)
    assert stored == []
    assert len(sent) == len(steps)  # still passed on, every step


def test_decide_refuses_at_the_head_and_sees_only_the_upstreams_headers():
    seen = []

    def decide(status, headers):
        seen.append((status, headers))
        return None

    _, stored = run([HEAD, ("send_body", b"hi"), ("finish",)], decide=decide)
    assert stored == [] and seen == [(200, [("content-type", "text/plain")])]


def test_exactly_the_limit_is_kept():
    _, stored = run([("send_head", 200, [], 10), ("send_body", b"0123456789"), ("finish",)])
    assert stored[0][0].body == b"0123456789"
