"""Several gateway processes on one port (``workers`` > 1): a supervisor and its workers.

The supervisor (what ``tollhouse-gateway`` becomes) listens on nothing. It starts ``workers`` worker
processes, each running ``serve()`` with its listeners opened with SO_REUSEPORT, so the kernel spreads
new connections over them, and then only:

- forwards SIGTERM/SIGINT (stop) to every worker, waits up to ``STOP_TIMEOUT_SECONDS`` and exits 0 when
  each stopped cleanly; forwards SIGHUP (reload) to every worker;
- restarts a worker that dies, after a delay that doubles while replacements keep dying young;
- stops the others and exits non-zero when a worker of the first start exits before it listens (the port
  held by a process without SO_REUSEPORT, an unreadable file...): the worker has printed why on stderr;
- serves ``metrics_port`` with every worker's counters summed, asked over a socketpair per worker
  (metrics_workers.py), when metrics are on;
- fans out reloads made through the control API, which reach one worker only (/tyk/reload, and the
  /tyk/apis and /tyk/policies writes in file mode): that worker tells the supervisor, which sends SIGHUP
  to the others. Dashboard-mode notifications need no help: every worker follows them itself.

Each worker holds the write end of a pipe to the supervisor and sends one byte per message: ``LISTENING``
once its listeners are open and its signal handlers set (a SIGHUP before then would kill it), and
``RELOAD_PEERS``. A pipe rather than signals because signals of one kind coalesce and do not say who
sent them.

Rate limits, quotas, keys and OAuth tokens live in Redis, so they hold across workers as across gateways.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence

from tollhouse.gateway.metrics_workers import SupervisorMetrics
from tollhouse.gateway.settings import GatewaySettings

log = logging.getLogger("tollhouse.gateway.workers")

# "<fd>:<supervisor pid>" in a worker's environment (outside TOLLHOUSE_GATEWAY_, which holds settings only).
CHANNEL_ENV = "TOLLHOUSE_WORKER_CHANNEL"
LISTENING = b"L"
RELOAD_PEERS = b"R"

# Below TimeoutStopSec of the systemd unit (30 s), so the supervisor, not systemd, ends a stuck worker.
STOP_TIMEOUT_SECONDS = 20.0
RESTART_DELAY_MIN_SECONDS = 0.5
RESTART_DELAY_MAX_SECONDS = 30.0
# A worker that served this long died of something else than its start: its replacement starts promptly.
HEALTHY_AFTER_SECONDS = 30.0

_PR_SET_PDEATHSIG = 1


def worker_count(settings: GatewaySettings) -> int:
    return settings.workers or len(os.sched_getaffinity(0))


# -- the worker's side -----------------------------------------------------------------------------


class SupervisorLink:
    """A worker's channel to its supervisor."""

    def __init__(self, fd: int):
        self._fd = fd

    @classmethod
    def from_environment(cls) -> SupervisorLink | None:
        """The link when this process was started as a worker, else None; a worker dies with its supervisor."""
        value = os.environ.pop(CHANNEL_ENV, None)
        if value is None:
            return None
        fd, _, supervisor = value.partition(":")
        _die_with_parent(int(supervisor))
        os.set_blocking(int(fd), False)
        return cls(int(fd))

    def listening(self) -> None:
        self._send(LISTENING)

    def reload_peers(self) -> None:
        """Ask the supervisor to reload every other worker (this one reloads itself)."""
        self._send(RELOAD_PEERS)

    def _send(self, message: bytes) -> None:
        try:
            os.write(self._fd, message)
        except OSError as exc:  # the supervisor is gone: SIGTERM (parent-death signal) is on its way
            log.warning("cannot reach the supervisor: %s", exc)


def _die_with_parent(supervisor: int) -> None:
    """SIGTERM this worker when the supervisor dies (even by SIGKILL): no orphan keeps serving the port."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != supervisor:  # it died before the line above
        raise SystemExit("tollhouse-gateway: the supervisor of this worker is gone")


# -- the supervisor ----------------------------------------------------------------------------------


class Worker:
    def __init__(self, slot: int, process: asyncio.subprocess.Process, channel: int):
        self.slot = slot
        self.process = process
        self.channel: int | None = channel  # read end of its pipe; None once it reached its end
        self.started = time.monotonic()
        self.listening = asyncio.Event()
        self._reload_pending = False

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(sig)

    def reload(self) -> None:
        """SIGHUP now, or once it listens: before that it has no handler and SIGHUP would end it."""
        if self.listening.is_set():
            self.signal(signal.SIGHUP)
        else:
            self._reload_pending = True

    def now_listening(self) -> None:
        self.listening.set()
        if self._reload_pending:
            self._reload_pending = False
            self.signal(signal.SIGHUP)

    def __str__(self) -> str:
        return f"worker {self.slot} (pid {self.process.pid})"


def supervise(count: int, argv: Sequence[str], metrics: tuple[str, int] | None = None) -> int:
    """Run ``count`` workers of ``tollhouse-gateway <argv>`` until stopped; the exit status.

    ``metrics``: (address, port) where the supervisor serves every worker's metrics summed."""
    return asyncio.run(Supervisor(count, argv, metrics).run())


class Supervisor:
    def __init__(self, count: int, argv: Sequence[str], metrics: tuple[str, int] | None = None):
        self._count = count
        self._metrics = SupervisorMetrics(*metrics) if metrics is not None else None
        # Workers are fresh interpreters running the same command (not multiprocessing): each parses the same
        # config and environment and fails exactly as a one-process gateway would, printing to the same stderr,
        # and nothing of the supervisor (its event loop, signal handlers) leaks into it as it would with fork.
        # -P: like the console script, import the installed package, never a tollhouse/ in the working directory.
        self._command = [sys.executable, "-P", "-m", "tollhouse.gateway.main", *argv]
        self._workers: dict[int, Worker] = {}
        self._stop_requested = asyncio.Event()
        self._failure: int | None = None

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop, sig)
        loop.add_signal_handler(signal.SIGHUP, self._reload_all)
        if self._metrics is not None:
            try:
                await self._metrics.start()
            except OSError as exc:
                print(f"tollhouse-gateway: cannot serve metrics: {exc}", file=sys.stderr)
                return 1
        log.info("starting %d gateway workers", self._count)
        keepers = [asyncio.create_task(self._keep(slot), name=f"worker-{slot}") for slot in range(self._count)]
        await self._stop_requested.wait()
        clean = await self._stop_workers()
        await asyncio.gather(*keepers)
        if self._metrics is not None:
            await self._metrics.close()
        if self._failure is not None:
            return self._failure
        return 0 if clean else 1

    async def _keep(self, slot: int) -> None:
        """Keep one worker running until the supervisor stops."""
        first, delay = True, 0.0
        while not self._stop_requested.is_set():
            worker = await self._spawn(slot)
            code = 1
            if worker is not None:
                if self._stop_requested.is_set():  # the stop came while it was being started: it missed the SIGTERM
                    worker.signal(signal.SIGTERM)
                code = await worker.process.wait()
                self._drain(worker)  # a LISTENING sent just before it died may still be unread
            if self._stop_requested.is_set():
                return
            listened = worker is not None and worker.listening.is_set()
            if first and not listened:
                log.error("%s exited with %s before it listened; stopping the gateway",
                          worker or f"worker {slot}", describe(code))
                self._failure = code if code > 0 else 1
                self._stop_requested.set()
                return
            first = False
            if self._metrics is not None:
                self._metrics.worker_died(slot)
            healthy = listened and time.monotonic() - worker.started >= HEALTHY_AFTER_SECONDS
            delay = RESTART_DELAY_MIN_SECONDS if healthy or not delay else min(delay * 2, RESTART_DELAY_MAX_SECONDS)
            log.error("%s exited unexpectedly with %s; starting another in %.1fs", worker or f"worker {slot}",
                      describe(code), delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_requested.wait(), delay)

    async def _spawn(self, slot: int) -> Worker | None:
        loop = asyncio.get_running_loop()
        read_fd, write_fd = os.pipe()  # not inheritable: only this worker gets its write end (pass_fds)
        env = {**os.environ, CHANNEL_ENV: f"{write_fd}:{os.getpid()}"}
        passed = [write_fd]
        if self._metrics is not None:  # its metrics channel, the same way (metrics_workers.py)
            metrics_fd, metrics_env = self._metrics.channel_for(slot)
            passed.append(metrics_fd)
            env.update(metrics_env)
        try:
            process = await asyncio.create_subprocess_exec(*self._command, pass_fds=passed, env=env)
        except OSError as exc:
            log.error("cannot start worker %d: %s", slot, exc)
            os.close(read_fd)
            return None
        finally:
            for fd in passed:
                os.close(fd)
        worker = Worker(slot, process, read_fd)
        self._workers[slot] = worker
        os.set_blocking(read_fd, False)
        loop.add_reader(read_fd, self._receive, worker)
        log.info("%s started", worker)
        return worker

    def _drain(self, worker: Worker) -> None:
        while worker.channel is not None and self._receive(worker):
            pass

    def _receive(self, worker: Worker) -> bool:
        """Act on the messages waiting in the worker's pipe; False when there were none."""
        assert worker.channel is not None
        try:
            data = os.read(worker.channel, 64)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        if not data:  # the worker exited: its write end closed
            asyncio.get_running_loop().remove_reader(worker.channel)
            os.close(worker.channel)
            worker.channel = None
            return False
        for message in data:
            if message == LISTENING[0]:
                worker.now_listening()
                everyone = len(self._workers) == self._count and all(
                    each.listening.is_set() for each in self._workers.values())
                log.info("%s listening%s", worker, f" (all {len(self._workers)} workers are)" if everyone else "")
            elif message == RELOAD_PEERS[0]:
                log.info("%s reloaded through the control API; reloading the other workers", worker)
                for other in self._workers.values():
                    if other is not worker:
                        other.reload()
        return True

    def _reload_all(self) -> None:
        log.info("SIGHUP: reloading every worker")
        for worker in self._workers.values():
            worker.reload()

    def _stop(self, sig: int) -> None:
        if not self._stop_requested.is_set():
            log.info("%s: stopping the workers", signal.Signals(sig).name)
            self._stop_requested.set()

    async def _stop_workers(self) -> bool:
        """SIGTERM every worker and wait for them (SIGKILL past the timeout); whether all stopped cleanly."""
        running = [worker for worker in self._workers.values() if worker.process.returncode is None]
        for worker in running:
            worker.signal(signal.SIGTERM)
        waits = [asyncio.create_task(worker.process.wait()) for worker in running]
        _, late = await asyncio.wait(waits, timeout=STOP_TIMEOUT_SECONDS) if waits else (set(), set())
        for worker in running:
            if worker.process.returncode is None:
                log.error("%s did not stop within %.0fs; killing it", worker, STOP_TIMEOUT_SECONDS)
                worker.signal(signal.SIGKILL)
        if late:
            await asyncio.wait(late)
        clean = True
        for worker in running:
            # Killed by our SIGTERM before it set its handler (it was starting): stopped as asked.
            if worker.process.returncode not in (0, -signal.SIGTERM):
                log.error("%s stopped with %s", worker, describe(worker.process.returncode))
                clean = False
        return clean and not late


def describe(returncode: int) -> str:
    if returncode < 0:
        return f"signal {signal.Signals(-returncode).name}"
    return f"exit code {returncode}"
