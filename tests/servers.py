"""Real servers for the tests: redis-server, the MongoDB-wire server, Tollhouse services.

Each binds to 127.0.0.1 on a free port and can be stopped and started again (outage tests).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


class ServerProcess:
    """A child process listening on one port; ``stop()`` / ``start()`` may be called repeatedly."""

    def __init__(self, name: str, argv: list[str], port: int, workdir: Path, env: dict | None = None,
                 start_timeout: float = 30.0):
        self.name, self.argv, self.port, self.workdir = name, argv, port, workdir
        self.env = {**os.environ, **(env or {})}
        self.start_timeout = start_timeout
        self.process: subprocess.Popen | None = None
        self.log_path = workdir / f"{name}.log"

    def start(self) -> ServerProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
                                        env=self.env, start_new_session=True)
        try:
            wait_for_port(self.port, self.start_timeout, self.process)
        except Exception:
            self.stop()
            raise RuntimeError(f"{self.name} did not start:\n{self.log()}") from None
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def redis_server(workdir: Path) -> ServerProcess:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(workdir), "--protected-mode", "yes"]
    return ServerProcess("redis", argv, port, workdir)


def mongo_server(workdir: Path) -> ServerProcess:
    """SecantusDB: a MongoDB-wire server from PyPI (see shared notes on why not mongod)."""
    port = free_port()
    argv = [str(VENV_BIN / "secantusd-py"), "--host", "127.0.0.1", "--port", str(port),
            "--storage-path", str(workdir / "data"), "--standalone", "--log-level", "WARNING"]
    return ServerProcess("mongo", argv, port, workdir, start_timeout=60.0)


def service(name: str, config_path: Path, port: int, workdir: Path, env: dict | None = None) -> ServerProcess:
    argv = [str(VENV_BIN / f"tollhouse-{name}"), "--config", str(config_path)]
    return ServerProcess(name, argv, port, workdir, env=env)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")
