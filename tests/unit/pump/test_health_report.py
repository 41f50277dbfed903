import asyncio
import json

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from tollhouse.pump.health import HealthReport, http_response, read_request_head
from tollhouse.pump.settings import PumpSettings
from tollhouse.pump.status import PumpStatus


class FakeQueue:
    def __init__(self, backlog: int | None):
        self.backlog = backlog

    async def lengths(self):
        if self.backlog is None:
            raise RedisConnectionError("connection refused")
        return {"backlog": self.backlog, "processing": 0, "dead_letter": 0}


class FakeSink:
    type_name, component = "mongo", "mongodb"

    def __init__(self, reachable: bool):
        self.reachable = reachable

    async def check(self):
        if not self.reachable:
            raise ConnectionError("no servers")


def build(backlog=0, reachable=True, status=None):
    settings = PumpSettings(mongo_url="mongodb://h/", health_backlog_warn=100)
    report = HealthReport(settings, FakeQueue(backlog), [FakeSink(reachable)], status or PumpStatus())
    return asyncio.run(report.build())


def test_pass():
    code, body = build()
    assert code == 200 and body["status"] == "pass"
    assert body["details"]["redis"] == {"status": "pass"} and body["details"]["mongodb"] == {"status": "pass"}
    assert body["details"]["backlog"] == 0 and body["details"]["last_write"] is None


def test_warn_on_backlog():
    code, body = build(backlog=101)
    assert (code, body["status"]) == (200, "warn")


@pytest.mark.parametrize("kwargs", [
    {"backlog": None},
    {"reachable": False},
    {"status": PumpStatus(sink_errors={"mongo": "timed out"})},
])
def test_fail_is_503(kwargs):
    code, body = build(**kwargs)
    assert (code, body["status"]) == (503, "fail")


def test_request_head_and_response():
    async def parse():
        reader = asyncio.StreamReader()
        reader.feed_data(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        return await read_request_head(reader)

    assert asyncio.run(parse()) == ("GET", "/hello")
    head, _, body = http_response(503, {"status": "fail"}).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 Service Unavailable") and json.loads(body) == {"status": "fail"}
