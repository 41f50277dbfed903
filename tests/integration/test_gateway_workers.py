"""``workers = 2``: a supervisor and two worker processes on one port, with real Redis and a real upstream.

Which worker served a connection is read from the kernel, not from anything the gateway says: the
server-side socket of the connection (found in /proc/net/tcp by the client's port) belongs to the
open files of exactly one process.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.gateways import CONTROL_SECRET, KEY_HASH_SECRET, keyed, store_key
from tests.servers import VENV_BIN, free_port
from tests.stack import keyless, wait_until

CONNECTIONS = 40  # new connections per check: all on one worker of two by chance has probability 2**-39
LISTEN, ESTABLISHED = "0A", "01"


# -- what the kernel says ----------------------------------------------------------------------------


def children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Any thread of ``pid`` still running (a killed process's first thread turns zombie before the others end)."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return False
    for task in tasks:
        try:
            if (task / "stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X"):
                return True
        except OSError:
            continue
    return False


def tcp_sockets(port: int, state: str) -> list[tuple[int, int]]:
    """(remote port, inode) of the IPv4 sockets whose local port is ``port``, in ``state``."""
    found = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port, remote_port = (int(address.split(":")[1], 16) for address in fields[1:3])
        if local_port == port and fields[3] == state:
            found.append((remote_port, int(fields[9])))
    return found


def socket_owners(pids: set[int]) -> dict[int, int]:
    """Socket inode -> the pid (of ``pids``) that has it open."""
    owners = {}
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                owners[int(target[8:-1])] = pid
    return owners


def listeners(port: int, pids: set[int]) -> list[int]:
    """The pid holding each listening socket on ``port`` (sockets no process of ``pids`` holds: 0)."""
    owners = socket_owners(pids)
    return sorted(owners.get(inode, 0) for _, inode in tcp_sockets(port, LISTEN))


def serve_on_new_connections(port: int, path: str, count: int = CONNECTIONS, headers: dict | None = None,
                             workers: set[int] | None = None) -> list[tuple[int, int]]:
    """``count`` GETs, each on its own connection opened at once: (status, serving worker pid) of each."""
    return asyncio.run(_serve(port, path, count, headers or {}, workers))


async def _serve(port, path, count, headers, workers) -> list[tuple[int, int]]:
    opened = await asyncio.gather(*(_get(port, path, headers) for _ in range(count)))
    try:
        # Every connection is still open (keep-alive): its server side is in the table, owned by a worker.
        established = dict(tcp_sockets(port, ESTABLISHED))
        owners = socket_owners(workers if workers is not None else set())
        return [(status, owners.get(established.get(client_port, -1), 0)) for status, client_port, _ in opened]
    finally:
        for _, _, writer in opened:
            writer.close()


async def _get(port: int, path: str, headers: dict) -> tuple[int, int, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = "".join(f"{name}: {value}\r\n" for name, value in {"Host": "gateway", **headers}.items())
    writer.write(f"GET {path} HTTP/1.1\r\n{head}\r\n".encode())
    status_line, *lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    length = next(int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:"))
    await reader.readexactly(length)
    return int(status_line.split()[1]), writer.get_extra_info("sockname")[1], writer


def served_by_every_worker(gateway, path: str) -> bool:
    workers = children(gateway.process.pid)
    replies = serve_on_new_connections(gateway.process.port, path, workers=workers)
    return {status for status, _ in replies} == {200} and {pid for _, pid in replies} == workers


# -- tests -------------------------------------------------------------------------------------------


@pytest.fixture
def two_workers(start_file_gateway, upstream):
    gateway = start_file_gateway(apis=[keyless("echo", "/echo/", f"http://127.0.0.1:{upstream.port}/",
                                               api_id="echo")], workers=2)
    wait_until(lambda: len(children(gateway.process.pid)) == 2 and len(listeners(gateway.process.port, set())) == 2,
               10, message="two workers listening")
    return gateway


def test_two_workers_listen_on_the_port_and_both_serve(two_workers):
    supervisor, port = two_workers.process.pid, two_workers.process.port
    workers = children(supervisor)
    assert len(workers) == 2
    # Each worker holds its own listening socket (SO_REUSEPORT); the supervisor holds none.
    assert listeners(port, workers | {supervisor}) == sorted(workers)
    replies = serve_on_new_connections(port, "/echo/x", workers=workers)
    assert Counter(pid for _, pid in replies).keys() == workers
    assert {status for status, _ in replies} == {200}


def test_sigterm_to_the_supervisor_stops_every_worker(two_workers):
    workers = children(two_workers.process.pid)
    started = time.monotonic()
    os.kill(two_workers.process.pid, signal.SIGTERM)  # the supervisor only: it forwards the signal
    returncode = two_workers.process.process.wait(15)
    took = time.monotonic() - started
    log = two_workers.process.log()
    assert returncode == 0, log[-3000:]
    assert took < 10, f"stopping took {took:.1f}s"
    assert not any(alive(pid) for pid in workers)
    assert log.count("gateway stopping") == 2


def test_workers_do_not_outlive_a_killed_supervisor(two_workers):
    workers = children(two_workers.process.pid)
    os.kill(two_workers.process.pid, signal.SIGKILL)  # no chance to forward anything: the kernel tells them
    wait_until(lambda: not any(alive(pid) for pid in workers), 10, message="workers gone")
    assert listeners(two_workers.process.port, set()) == []


def test_a_killed_worker_is_replaced_and_the_port_keeps_answering(two_workers):
    supervisor, port = two_workers.process.pid, two_workers.process.port
    victim, survivor = sorted(children(supervisor))
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: not alive(victim) and len(listeners(port, set())) == 1, 5, interval=0.01,
               message="killed worker gone")
    # Until the replacement listens (after a backoff), the other worker answers everything.
    replies = serve_on_new_connections(port, "/echo/x")
    assert [status for status, _ in replies] == [200] * CONNECTIONS
    wait_until(lambda: len(children(supervisor)) == 2 and len(listeners(port, set())) == 2, 15,
               message="a replacement worker listening")
    workers = children(supervisor)
    assert survivor in workers and victim not in workers
    wait_until(lambda: served_by_every_worker(two_workers, "/echo/x"), 10, message="both workers serving")
    assert "exited unexpectedly with signal SIGKILL; starting another in" in two_workers.process.log()


def test_a_port_held_without_reuseport_stops_the_start_with_the_reason(tmp_path, redis_url):
    port = free_port()
    config = tmp_path / "gateway.toml"
    (tmp_path / "apps").mkdir()
    config.write_text(f'listen_address = "127.0.0.1"\nlisten_port = {port}\napp_path = "{tmp_path / "apps"}"\n'
                      f'secret = "{CONTROL_SECRET}"\nkey_hash_secret = "{KEY_HASH_SECRET}"\n'
                      f'redis_url = "{redis_url}"\nlog_format = "text"\nworkers = 2\n')
    with socket.socket() as holder:  # a plain listener: no SO_REUSEPORT, so no one may share the port
        holder.bind(("127.0.0.1", port))
        holder.listen()
        started = time.monotonic()
        done = subprocess.run([str(VENV_BIN / "tollhouse-gateway"), "--config", str(config)], capture_output=True,
                              text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert time.monotonic() - started < 30
    assert f"cannot listen on 127.0.0.1:{port}: [Errno 98]" in done.stderr
    assert "before it listened; stopping the gateway" in done.stderr
    # No worker outlived the supervisor.
    leftovers = [entry for entry in Path("/proc").iterdir()
                 if entry.name.isdigit() and str(config).encode() in _cmdline(entry)]
    assert leftovers == []


def _cmdline(entry: Path) -> bytes:
    try:
        return (entry / "cmdline").read_bytes()
    except OSError:
        return b""


@pytest.mark.parametrize("how", ["reload-block", "control-write", "sighup"])
def test_a_reload_reaches_every_worker(two_workers, upstream, how):
    """/tyk/reload and the /tyk/apis writes reach one worker; it has the supervisor reload the others."""
    definition = keyless("fresh", "/fresh/", f"http://127.0.0.1:{upstream.port}/", api_id="fresh")
    control = httpx.Client(base_url=two_workers.url, headers={"X-Tyk-Authorization": CONTROL_SECRET})
    if how == "control-write":
        reply = control.post("/tyk/apis", json=definition)
        assert reply.json()["action"] == "added"
    else:
        two_workers.write_api(definition)
        if how == "sighup":
            os.kill(two_workers.process.pid, signal.SIGHUP)
        else:
            assert control.get("/tyk/reload", params={"block": "true"}).json() == {"status": "ok", "message": ""}
    # The answering worker serves it at once; the other within moments (reload_coalesce_seconds = 0.05).
    wait_until(lambda: served_by_every_worker(two_workers, "/fresh/x"), 10, message="every worker serves /fresh/")
    if how != "sighup":
        assert "reloaded through the control API; reloading the other workers" in two_workers.process.log()


def test_rate_limit_is_exact_across_workers(start_file_gateway, upstream, redis_url):
    gateway = start_file_gateway(apis=[keyed("orders", "/orders/", f"http://127.0.0.1:{upstream.port}/")],
                                 workers=2)
    wait_until(lambda: len(listeners(gateway.process.port, set())) == 2, 10, message="two workers listening")
    store_key(redis_url, "rate-key", {"access_rights": {"orders": {"api_id": "orders", "versions": ["Default"]}},
                                      "rate": 50, "per": 60})
    workers = children(gateway.process.pid)
    replies = serve_on_new_connections(gateway.process.port, "/orders/items", 300, {"Authorization": "rate-key"},
                                       workers)
    # Both workers answered: had each its own count, together they would admit more than 50.
    assert {pid for _, pid in replies} == workers
    assert Counter(status for status, _ in replies) == {200: 50, 429: 250}

