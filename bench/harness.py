"""What every part of `make bench` shares: the run's settings and processes, a server under test, the upstream."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
from procs import Processes, server_pids, set_affinity, wait_http

BENCH_DIR = Path(__file__).resolve().parent
WORK = BENCH_DIR / ".work"
VENV_BIN = Path(sys.executable).parent
SMALL_BODY = '{"ok":true,"service":"bench-upstream"}'
BODIES = {"small": "/small", "64k": "/64k.json"}  # body name -> upstream path


class Unavailable(Exception):
    """A contender that cannot run on this machine (yet); it gets a "not available" row."""


@dataclass
class Server:
    """A server under test: its main process, its port and the helpers to stop with it."""

    name: str
    proc: subprocess.Popen
    port: int
    cpus: str | None
    owned: bool = True  # False for the shared upstream, which outlives each contender
    helpers: list[str] = field(default_factory=list)
    note: str = ""
    after_run: Callable[[], str] | None = None  # extra facts for the notes, read after the measured run
    prefix: str = ""  # the API's listen path, before the upstream path (e.g. /api-0500)
    headers: dict[str, str] = field(default_factory=dict)  # sent with every request (check, wrk)
    facts: dict = field(default_factory=dict)  # measured while starting (e.g. the API load time), into the row
    control: object | None = None  # a gateway's control side (contenders/tollhouse_gateway.py), for reloads

    def url(self, body: str) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}{BODIES[body]}"


@dataclass
class Bench:
    """What the contenders share: settings, scratch dir, processes, the upstream and the CPU placement."""

    args: argparse.Namespace
    procs: Processes
    upstream: Server | None = None
    # CPU placement (taskset lists; None = not pinned): the load side (wrk, the upstream, Redis) and the
    # server under test each get their own CPUs.
    load_cpus: str | None = None
    server_cpus: str | None = None
    rows: list[dict] = field(default_factory=list)  # results so far (pump_drain reads the gateway's max rate)

    def render(self, template: str, target: str, **values) -> Path:
        loader = jinja2.FileSystemLoader(BENCH_DIR / "nginx")
        env = jinja2.Environment(loader=loader, keep_trailing_newline=True)
        path = WORK / target
        path.write_text(env.get_template(template).render(work=WORK, as_root=os.geteuid() == 0, **values))
        return path

    def start_nginx(self, name: str, conf: Path, port: int, cpus: str | None) -> Server:
        proc = self.procs.start(
            name,
            ["nginx", "-p", str(WORK), "-e", str(WORK / f"{name}-error.log"), "-c", str(conf)],
            cpus=cpus,
        )
        wait_http(f"http://127.0.0.1:{port}/small", proc, name, self.procs)
        return Server(name, proc, port, cpus)

    def move_upstream(self, to_server_side: bool) -> None:
        """The upstream lives with the load side; when it is the server under test it moves to the server's CPUs."""
        cpus = self.server_cpus if to_server_side else self.load_cpus
        set_affinity(server_pids(self.upstream.proc)[0], cpus)
        self.upstream.cpus = cpus
