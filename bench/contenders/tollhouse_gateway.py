"""The Tollhouse gateway as a contender: keyless (one API), or keyed among 1,000 APIs; one worker or one per CPU.

Keyed: 999 other APIs on their own listen paths (/api-0001/ ...) with every auth kind in turn, plus the
benchmarked one, /api-0500/, with auth token. Its key is created through the control API (POST
/tyk/keys) with a rate limit and a quota that are enforced on every request (one Redis script call)
but set far beyond what a run can reach, and analytics go to a Redis the run starts. So a keyed
request pays for routing among 1,000 APIs, the key lookup, access checks, limits and analytics.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from harness import VENV_BIN, WORK, Bench, Server, Unavailable
from procs import Processes, StartError, fetch, free_port, rss_kib

API_COUNT = 1000
BENCHMARKED_API = "api-0500"  # in the middle of the 1,000, not first or last in any order
OTHER_AUTH = {  # what the 999 others use, in turn: every auth kind the gateway has
    "keyless": {"use_keyless": True},
    "token": {"use_standard_auth": True},
    "basic": {"use_basic_auth": True},
    "jwt": {
        "enable_jwt": True,
        "jwt_signing_method": "hmac",
        "jwt_source": base64.b64encode(b"bench-jwt-secret-never-used-here").decode(),
    },
    "signature": {"enable_signature_checking": True, "hmac_allowed_clock_skew": 300_000},
    "oauth2": {"use_oauth2": True},
}
# Enforced (every request is counted in Redis) but never reached: 1,000,000 per second, 10^10 per hour.
KEY_SESSION = {"rate": 1_000_000, "per": 1, "quota_max": 10**10, "quota_renewal_rate": 3600}
READY_TIMEOUT_S = 120.0
READY_STREAK = 8  # with several workers, /hello answers from whichever accepted: ask until all have loaded
LOADED = re.compile(r"loaded (\d+) APIs and \d+ policies from .* in ([\d.]+) ms")


@dataclass
class GatewayControl:
    """A running gateway's control side: its definitions, the control API and its log."""

    port: int
    secret: str
    apps: Path
    definitions: list[dict]
    log: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Tyk-Authorization": self.secret}

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def write_definitions(self, generation: int = 0) -> None:
        """Every definition to its own file; a later ``generation`` changes each one (its name), atomically."""
        for definition in self.definitions:
            name = definition["api_id"] if generation == 0 else f"{definition['api_id']} (rev {generation})"
            temporary = self.apps / f".{definition['api_id']}.json.tmp"  # the gateway skips dot files
            temporary.write_text(json.dumps({**definition, "name": name}, indent=2))
            os.replace(temporary, self.apps / f"{definition['api_id']}.json")

    def loads(self) -> list[tuple[float, int, float]]:
        """(wall time, APIs, milliseconds) for every load the log reports, in order; every worker logs its own."""
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
                match = LOADED.search(entry["message"])
                when = datetime.strptime(entry["time"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
            except (ValueError, KeyError, TypeError):
                continue
            if match:
                found.append((when, int(match[1]), float(match[2])))
        return found


def gateway_binary() -> str:
    binary = shutil.which("tollhouse-gateway", path=str(VENV_BIN)) or shutil.which("tollhouse-gateway")
    if binary is None:
        raise Unavailable("not available: tollhouse-gateway is not installed")
    try:
        check = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        raise Unavailable("not available: `tollhouse-gateway --help` hung") from None
    if check.returncode != 0:
        last = (check.stderr.strip().splitlines() or ["?"])[-1]
        raise Unavailable(f"not available: `tollhouse-gateway --help` failed ({last})")
    return binary


def keyless_definitions(target: str) -> list[dict]:
    proxy = {"listen_path": "/", "target_url": target, "strip_listen_path": False}
    return [{"api_id": "bench", "name": "bench", "use_keyless": True, "proxy": proxy}]


def keyed_definitions(target: str) -> list[dict]:
    """The benchmarked auth-token API among 999 others, one listen path each."""
    kinds = list(OTHER_AUTH.values())
    definitions = []
    for index in range(1, API_COUNT + 1):
        api_id = f"api-{index:04d}"
        auth = {"use_standard_auth": True} if api_id == BENCHMARKED_API else kinds[index % len(kinds)]
        proxy = {"listen_path": f"/{api_id}/", "target_url": target, "strip_listen_path": True}
        definitions.append({"api_id": api_id, "name": api_id, **auth, "proxy": proxy})
    return definitions


def tollhouse_gateway(*, keyed: bool = False, analytics: bool = False, per_core: bool = False):
    """A contender's start function: see the module docstring. Keyed implies analytics on."""
    analytics = analytics or keyed
    name = "tollhouse" + ("-keyed" if keyed else "-analytics" if analytics else "") + ("-per-core" if per_core else "")

    def start(bench: Bench) -> Server:
        binary = gateway_binary()
        helpers, redis_port = [], free_port()
        if analytics:
            helpers.append(start_redis(bench, f"{name}-redis", redis_port))
        apps = WORK / f"{name}-apps"
        shutil.rmtree(apps, ignore_errors=True)
        apps.mkdir()
        target = f"http://127.0.0.1:{bench.upstream.port}"
        port, config, secret = free_port(), WORK / f"{name}.toml", secrets.token_hex(24)
        definitions = keyed_definitions(target) if keyed else keyless_definitions(target)
        control = GatewayControl(port, secret, apps, definitions, WORK / f"{name}.log")
        control.write_definitions()
        # log_level info: the gateway logs each (re)load with its time, and nothing per request.
        settings = {
            "listen_address": "127.0.0.1",
            "listen_port": port,
            "app_path": str(apps),
            "secret": secret,
            "key_hash_secret": secrets.token_hex(32),
            "redis_url": f"redis://127.0.0.1:{redis_port}/0",
            "analytics_enabled": analytics,
            "log_level": "info",
            **({"workers": 0} if per_core else {}),  # 0: one worker per CPU the process may use
        }
        config.write_text("".join(f"{key} = {json.dumps(value)}\n" for key, value in settings.items()))
        # One worker per core only means something if the workers may use every core (wrk's too).
        cpus = None if per_core else bench.server_cpus
        started = time.perf_counter()
        proc = bench.procs.start(name, [binary, "--config", str(config)], cpus=cpus)
        server = Server(name, proc, port, cpus, helpers=helpers, control=control)
        loaded = wait_loaded(control, proc, name, bench.procs, len(definitions), READY_STREAK if per_core else 1)
        ready_s = time.perf_counter() - started
        if per_core and bench.load_cpus:
            server.note = f"workers on all {os.cpu_count()} CPUs, sharing wrk's"
        if keyed:
            server.prefix = f"/{BENCHMARKED_API}"
            server.headers = {"Authorization": create_key(control)}
            log_ms = [ms for _, apis, ms in control.loads() if apis == len(definitions)]
            server.facts["api_load"] = {
                "apis": len(definitions),
                "rejected": loaded.get("rejected_definitions", 0),
                "ready_s": ready_s,
                "log_ms": log_ms,
            }
            if loaded.get("rejected_definitions"):
                server.note = "; ".join(filter(None, [server.note, f"{loaded['rejected_definitions']} APIs rejected"]))
        if analytics:
            redis_pid = bench.procs.running[helpers[0]].pid
            server.after_run = lambda: f"redis RSS {rss_kib(redis_pid) / 1024:.0f} MiB"
        return server

    return start


def start_redis(bench: Bench, name: str, port: int) -> str:
    if shutil.which("redis-server") is None:
        raise Unavailable("not available: redis-server is not installed")
    options = f"--bind 127.0.0.1 --port {port} --appendonly no --dir {WORK}".split()
    bench.procs.start(name, ["redis-server", *options, "--save", ""], cpus=bench.load_cpus)
    return name


def wait_loaded(control: GatewayControl, proc, name: str, procs: Processes, apis: int, streak: int) -> dict:
    """Poll /hello until ``streak`` answers in a row report ``apis`` loaded; the last answer's source details."""
    deadline, in_a_row, last = time.monotonic() + READY_TIMEOUT_S, 0, "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StartError(f"{name} exited with status {proc.returncode}:\n{procs.log_tail(name)}")
        try:
            status, body = fetch(control.url("/hello"), timeout=2)
            details = json.loads(body).get("details", {})
            loaded = details.get("apis", {}).get("loaded", 0)
            last = f"HTTP {status}, {loaded} APIs loaded"
        except (OSError, ValueError, AttributeError) as exc:
            loaded, last = 0, str(exc)
        in_a_row = in_a_row + 1 if loaded >= apis else 0
        if in_a_row >= streak:
            return details.get("dashboard", {})
        time.sleep(0.05)
    raise StartError(f"{name} did not load {apis} APIs within {READY_TIMEOUT_S:.0f}s ({last}):\n{procs.log_tail(name)}")


def create_key(control: GatewayControl) -> str:
    """A key for the benchmarked API, created as an API team would: POST /tyk/keys."""
    access = {BENCHMARKED_API: {"api_id": BENCHMARKED_API, "api_name": BENCHMARKED_API, "versions": ["Default"]}}
    body = json.dumps({**KEY_SESSION, "access_rights": access}).encode()
    headers = {**control.headers, "Content-Type": "application/json"}
    status, reply = fetch(control.url("/tyk/keys"), headers, "POST", body)
    if status != 200:
        raise StartError(f"POST /tyk/keys answered HTTP {status}: {reply[:300].decode(errors='replace')}")
    return json.loads(reply)["key"]

