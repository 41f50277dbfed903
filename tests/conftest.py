"""Fixtures that start real servers: Redis, a MongoDB-wire server, upstream HTTP servers."""

from __future__ import annotations

import pytest
import redis as redis_lib
from pymongo import MongoClient

from tests.browser import browser_page  # noqa: F401  (a fixture: real headless Chromium)
from tests.servers import mongo_server, redis_server


@pytest.fixture(scope="session")
def redis_proc(tmp_path_factory):
    server = redis_server(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_proc):
    """A Redis URL with an empty database for each test (the server itself is shared)."""
    if redis_proc.process is None or redis_proc.process.poll() is not None:
        redis_proc.start()
    url = f"redis://127.0.0.1:{redis_proc.port}/0"
    redis_lib.Redis.from_url(url).flushall()
    return url


@pytest.fixture(scope="session")
def mongo_proc(tmp_path_factory):
    server = mongo_server(tmp_path_factory.mktemp("mongo")).start()
    yield server
    server.stop()


@pytest.fixture
def mongo_url(mongo_proc, request):
    if mongo_proc.process is None or mongo_proc.process.poll() is not None:
        mongo_proc.start()
    return f"mongodb://127.0.0.1:{mongo_proc.port}/"


@pytest.fixture
def mongo_db_name(mongo_url, request):
    """A fresh database name per test, dropped afterwards."""
    name = "t_" + request.node.name.replace("[", "_").replace("]", "").replace("-", "_")[:50]
    client = MongoClient(mongo_url, serverSelectionTimeoutMS=5000)
    client.drop_database(name)
    yield name
    try:
        client.drop_database(name)
    finally:
        client.close()


@pytest.fixture(scope="session")
def upstream(tmp_path_factory):
    """A real HTTP upstream (uvicorn, raw ASGI; see tests/upstream.py) on a free 127.0.0.1 port."""
    from tests.upstream import upstream_server

    server = upstream_server(tmp_path_factory.mktemp("upstream")).start()
    yield server
    server.stop()


@pytest.fixture
def start_file_gateway(tmp_path, redis_url):
    """``start_file_gateway(apis=[...], policies=[...], name=..., **settings)``: a file-mode gateway process.

    Every gateway started is stopped at the end of the test."""
    from tests.gateways import FileGateway

    started = []

    def start(apis=(), policies=(), name="gateway", **settings):
        gateway = FileGateway(tmp_path, redis_url, settings, name)
        for definition in apis:
            gateway.write_api(definition)
        for policy in policies:
            gateway.write_policy(policy)
        started.append(gateway.start())
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


def _running_stack(workdir, redis_url, mongo_url, database, first_admin: bool):
    from tests.stack import Stack

    stack = Stack(workdir, redis_url, mongo_url, database)
    try:
        stack.start_dashboard(first_admin)
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def stack(tmp_path, redis_url, mongo_url, mongo_db_name):
    """A real dashboard (more services via stack.start_gateway/start_pump), stopped at the end."""
    yield from _running_stack(tmp_path, redis_url, mongo_url, mongo_db_name, first_admin=True)


@pytest.fixture
def fresh_stack(tmp_path, redis_url, mongo_url, mongo_db_name):
    """Like ``stack``, but the dashboard's settings name no admin: it starts at /bootstrap."""
    yield from _running_stack(tmp_path, redis_url, mongo_url, mongo_db_name, first_admin=False)
