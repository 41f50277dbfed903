"""Running wrk: one blocking run, or one in the background until told to stop; both give wrk_report.lua's figures."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
from dataclasses import dataclass

from harness import BENCH_DIR, Bench
from procs import die_with_parent

REPORT_SCRIPT = BENCH_DIR / "wrk_report.lua"  # done() only: wrk sends its pre-built request, no Lua per request
PACED_SCRIPT = BENCH_DIR / "wrk_paced.lua"  # adds delay(): a Lua call per request, for the paced runs only
SOCKET_ERRORS = ("connect_errors", "read_errors", "write_errors", "timeouts")
LONGEST_RUN = "1h"  # a background run is stopped with SIGINT long before this


@dataclass
class Load:
    """How wrk loads a server: the URL, its request headers, and optionally its own connection count and script."""

    url: str
    headers: dict[str, str]
    connections: int | None = None  # None: --connections
    script: os.PathLike = REPORT_SCRIPT
    script_args: tuple[str, ...] = ()

    def argv(self, bench: Bench, duration: str) -> list[str]:
        connections = self.connections or bench.args.connections
        threads = min(bench.args.threads, connections)  # each wrk thread needs a connection
        argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}", "--timeout", "5s"]
        for name, value in self.headers.items():
            argv += ["-H", f"{name}: {value}"]
        argv += ["-s", str(self.script), self.url]
        if self.script_args:
            argv += ["--", *self.script_args]
        return ["taskset", "-c", bench.load_cpus, *argv] if bench.load_cpus is not None else argv


def run(bench: Bench, load: Load, seconds: int) -> dict:
    """One wrk run of ``seconds``; its figures, with req/s, socket errors and wrk's own CPU use."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        load.argv(bench, f"{seconds}s"),
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    return _figures(out.returncode, out.stdout, out.stderr, before)


class Background:
    """wrk running until ``stop()`` (SIGINT: wrk stops its threads and still prints its report)."""

    def __init__(self, bench: Bench, load: Load):
        self._before = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._proc = subprocess.Popen(
            load.argv(bench, LONGEST_RUN),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )

    def stop(self) -> dict:
        if self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGINT)  # taskset execs wrk: this pid is wrk's
        stdout, stderr = self._proc.communicate(timeout=60)
        return _figures(self._proc.returncode, stdout, stderr, self._before)


def _figures(status: int, stdout: str, stderr: str, before: resource.struct_rusage) -> dict:
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk is the only child reaped meanwhile
    for line in stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            stats = json.loads(line.removeprefix("BENCH_RESULT "))
            seconds = stats["duration_us"] / 1e6
            wrk_cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            return {
                **stats,
                "requests_per_second": stats["requests"] / seconds,
                "socket_errors": sum(stats[key] for key in SOCKET_ERRORS),
                "wrk_cpu_percent": 100 * wrk_cpu / seconds,
            }
    detail = stderr.strip() or stdout[-500:]
    raise RuntimeError(f"wrk gave no result (status {status}): {detail}")
