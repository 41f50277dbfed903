"""Processes for the benchmark: start in their own process group, stop them all, read their RSS and CPU."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

PR_SET_PDEATHSIG = 1
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class StartError(Exception):
    """A server did not come up; the message carries the tail of its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def die_with_parent() -> None:
    # If the driver is killed outright (SIGKILL), the kernel still sends SIGTERM to what it started.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Processes:
    """Every process the run starts, each in its own process group; ``stop_all`` ends them all."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str], cpus: str | None = None, env: dict | None = None):
        if cpus is not None:
            argv = ["taskset", "-c", cpus, *argv]
        with open(self.log_dir / f"{name}.log", "wb") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        self.running[name] = proc
        return proc

    def log_tail(self, name: str, lines: int = 8) -> str:
        path = self.log_dir / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, name: str, grace: float = 5.0) -> None:
        proc = self.running.pop(name, None)
        if proc is None:
            return
        _signal_group(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace)
        _signal_group(proc.pid, signal.SIGKILL)  # whatever is left of the group (workers, stragglers)
        proc.wait()

    def stop_all(self) -> None:
        for name in reversed(list(self.running)):
            self.stop(name)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def wait_http(url: str, proc: subprocess.Popen, what: str, procs: Processes, timeout: float = 20.0) -> bytes:
    """Poll ``url`` until it answers 200; return the body. Fail fast if the process exits."""
    deadline = time.monotonic() + timeout
    last_error = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StartError(f"{what} exited with status {proc.returncode}:\n{procs.log_tail(what)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read()
        except OSError as exc:  # URLError, HTTPError and connection errors are all OSErrors
            last_error = str(exc)
        time.sleep(0.05)
    tail = procs.log_tail(what)
    raise StartError(f"{what} did not answer {url} within {timeout:.0f}s ({last_error}):\n{tail}")


def fetch(url: str, headers: dict | None = None, method: str = "GET", data: bytes | None = None,
          timeout: float = 5) -> tuple[int, bytes]:
    """One request (a GET unless told): (status, body), whatever the status."""
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants, parents first."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop(0)
        tree.append(current)
        todo.extend(sorted(children.get(current, [])))
    return tree


def server_pids(proc: subprocess.Popen) -> tuple[list[int], list[int]]:
    """(all processes of a server, its workers): workers are the children, or the process itself."""
    tree = process_tree(proc.pid)
    return tree, (tree[1:] or tree)


def set_affinity(pids: list[int], cpus: str | None) -> None:
    """Move running processes to ``cpus`` (a taskset list such as "1" or "1-3"; None = every CPU)."""
    if cpus is None:
        allowed = set(range(os.cpu_count() or 1))
    else:
        first, _, last = cpus.partition("-")
        allowed = set(range(int(first), int(last or first) + 1))
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(pid, allowed)


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time used so far by ``pids``."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return ticks / CLOCK_TICKS
