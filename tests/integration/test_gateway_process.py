"""The real ``tollhouse-gateway`` process: file mode, reloads under load, streaming memory."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time

import httpx
import pytest

from tests.servers import free_port, rss_kib, service
from tests.stack import Stack, keyless, wait_until
from tests.upstream import pattern


def write_definition(directory, api_id, listen_path, target_url):
    definition = keyless(api_id, listen_path, target_url, api_id=api_id)
    (directory / f"{api_id}.json").write_text(json.dumps(definition))


@pytest.fixture
def file_gateway(tmp_path, redis_url, upstream):
    apps = tmp_path / "apps"
    apps.mkdir()
    write_definition(apps, "echo", "/echo/", f"http://127.0.0.1:{upstream.port}/")
    port = free_port()
    config = tmp_path / "gateway.toml"
    config.write_text(f'listen_address = "127.0.0.1"\nlisten_port = {port}\napp_path = "{apps}"\n'
                      f'secret = "{"g" * 32}"\nkey_hash_secret = "{"k" * 32}"\n'
                      f'redis_url = "{redis_url}"\nlog_format = "text"\n'
                      "reload_coalesce_seconds = 0.05\n")
    gateway = service("gateway", config, port, tmp_path).start()
    gateway.apps = apps
    gateway.url = f"http://127.0.0.1:{port}"
    wait_until(lambda: httpx.get(f"{gateway.url}/echo/x").status_code == 200, 10, message="API loaded")
    yield gateway
    gateway.stop()


def test_file_mode_reloads_on_sighup_and_rejects_bad_files(file_gateway, upstream):
    write_definition(file_gateway.apps, "second", "/second/", f"http://127.0.0.1:{upstream.port}/")
    (file_gateway.apps / "broken.json").write_text("{not json")
    (file_gateway.apps / "invalid.json").write_text(json.dumps({"api_id": "invalid", "name": "x"}))
    os.kill(file_gateway.pid, signal.SIGHUP)
    wait_until(lambda: httpx.get(f"{file_gateway.url}/second/x").status_code == 200, 10, message="new API")
    assert httpx.get(f"{file_gateway.url}/echo/x").json()["path"] == "/x"
    log = file_gateway.log()
    assert "skipping API definition file" in log and "broken.json" in log
    assert "rejected API definition invalid: proxy: is required" in log


def test_large_bodies_stream_with_flat_memory(file_gateway):
    """150 MB each way through the gateway process; its RSS must not grow with the body."""
    size = 150 * 1024 * 1024
    baseline = rss_kib(file_gateway.pid)
    peak = baseline
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_kib(file_gateway.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        def chunks():
            block = pattern(1024 * 1024)
            for _ in range(size // len(block)):
                yield block

        with httpx.Client(timeout=120) as client:
            up = client.post(f"{file_gateway.url}/echo/upload", content=chunks())
            digest, received = hashlib.sha256(), 0
            with client.stream("GET", f"{file_gateway.url}/echo/download", params={"size": size}) as down:
                for chunk in down.iter_bytes():
                    digest.update(chunk)
                    received += len(chunk)
    finally:
        done.set()
        sampler.join()
    assert up.status_code == 200 and up.json()["body_length"] == size
    assert received == size and digest.hexdigest() == hashlib.sha256(pattern(size)).hexdigest()
    assert peak - baseline < 40 * 1024, f"gateway RSS grew {(peak - baseline) // 1024} MiB for a {size >> 20} MiB body"


def test_reload_under_load_fails_no_request(tmp_path, redis_url, mongo_url, mongo_db_name, upstream):
    stack = Stack(tmp_path, redis_url, mongo_url, mongo_db_name)
    try:
        stack.start_dashboard()
        gateway = stack.start_gateway()
        url = f"http://127.0.0.1:{gateway.port}/hot/echo"
        api_id = stack.create_api(keyless("hot", "/hot/", f"http://127.0.0.1:{upstream.port}/"))
        wait_until(lambda: httpx.get(url).status_code == 200, 10, message="API served")

        stop, failures, counts = threading.Event(), [], []

        def client():
            served = 0
            with httpx.Client(timeout=10) as session:
                while not stop.is_set():
                    reply = session.get(url)
                    if reply.status_code != 200:
                        failures.append((reply.status_code, reply.text[:100]))
                    served += 1
            counts.append(served)

        threads = [threading.Thread(target=client) for _ in range(4)]
        for thread in threads:
            thread.start()
        definition = stack.api("GET", f"/api/apis/{api_id}").json()["api_definition"]
        others = []
        for round_ in range(15):  # each change is a notification and a full reload on the gateway
            definition["name"] = f"hot {round_}"
            assert stack.api("PUT", f"/api/apis/{api_id}", json={"api_definition": definition}).status_code == 200
            others.append(stack.create_api(keyless(f"other {round_}", f"/other{round_}/", f"{stack.dashboard_url}/")))
            if round_ % 3 == 2:
                stack.api("DELETE", f"/api/apis/{others.pop(0)}")
            time.sleep(0.1)
        reloads_seen = httpx.get(f"http://127.0.0.1:{gateway.port}/hello").json()["details"]["apis"]["reloads"]
        stop.set()
        for thread in threads:
            thread.join()
    finally:
        stack.stop()
    assert failures == []
    assert sum(counts) > 200
    assert reloads_seen >= 5
