#!/usr/bin/env python3
"""Smoke test of a Tollhouse deployment, run from the controller after any deploy:

    .venv/bin/python scripts/lab/smoke-test.py -i inventories/<env>

Checks, one PASS/FAIL line each (exit status 1 if any fails):
  - health of the dashboard (/hello), of every gateway (/hello) and every pump (/health)
  - login to the dashboard API with the generated administrator password (credentials/<env>/)
  - an API round trip: a keyless API /tollhouse-smoke/ (created if missing) whose upstream is the
    dashboard's health URL, answered 200 by every gateway
  - analytics: the record of a marked call reaches MongoDB (tollhouse.tyk_analytics) within --timeout s;
    queried directly when the controller reaches MongoDB, else on the datastore host through Ansible.
Addresses, ports and the environment come from the inventory (ansible-inventory --list).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LISTEN_PATH = "/tollhouse-smoke/"
RESULTS: list[bool] = []


def report(ok: bool, name: str, detail: str = "") -> bool:
    RESULTS.append(ok)
    print(f"{'PASS' if ok else 'FAIL'}  {name}{'  - ' + detail if detail else ''}", flush=True)
    return ok


def http(method: str, url: str, body: dict | None = None, token: str | None = None,
         timeout: float = 5) -> tuple[int, str]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", token)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc)


def get_healthy(url: str, attempts: int = 5) -> tuple[int, str]:
    """GET with a few retries: a component that just restarted may need a moment."""
    status, body = 0, ""
    for attempt in range(attempts):
        status, body = http("GET", url)
        if status == 200:
            break
        if attempt + 1 < attempts:
            time.sleep(1)
    return status, body


def plain(value, default):
    """An inventory value that is usable as is (not a Jinja expression), else the default."""
    if value is None or (isinstance(value, str) and "{{" in value):
        return default
    return value


class Inventory:
    def __init__(self, path: str):
        ansible_inventory = Path(sys.executable).parent / "ansible-inventory"
        command = [str(ansible_inventory) if ansible_inventory.exists() else "ansible-inventory", "-i", path, "--list"]
        data = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        self.path = path
        self.hostvars = data.get("_meta", {}).get("hostvars", {})
        self.groups = {name: group.get("hosts", []) for name, group in data.items() if name != "_meta"}

    def hosts(self, group: str) -> list[str]:
        return self.groups.get(group, [])

    def var(self, host: str, name: str, default=None):
        return plain(self.hostvars.get(host, {}).get(name), default)

    def address(self, host: str) -> str:
        return self.var(host, "tollhouse_private_address") or self.var(host, "ansible_host") or host


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-i", "--inventory", required=True)
    parser.add_argument("--credentials", help="credentials directory (default: credentials/<tollhouse_environment>)")
    parser.add_argument("--timeout", type=float, default=30)
    args = parser.parse_args()

    inv = Inventory(args.inventory)
    for group in ("datastore", "dashboard", "gateway", "pump"):
        if not report(bool(inv.hosts(group)), f"inventory group {group}", ", ".join(inv.hosts(group)) or "empty"):
            return 1
    any_host = inv.hosts("dashboard")[0]
    environment = inv.var(any_host, "tollhouse_environment", "production")
    credentials = Path(args.credentials or inv.var(any_host, "tollhouse_credentials_dir", "")
                       or REPO / "credentials" / environment)

    dashboard_host = inv.hosts("dashboard")[0]
    dashboard_port = inv.var(dashboard_host, "tollhouse_dashboard_listen_port", 3000)
    dashboard = f"http://{inv.address(dashboard_host)}:{dashboard_port}"
    status, dashboard_hello = get_healthy(dashboard + "/hello")
    report(status == 200, f"dashboard {dashboard_host} health",
           f"GET {dashboard}/hello -> {status} {dashboard_hello[:80]}")

    gateways = {}
    for host in inv.hosts("gateway"):
        url = f"http://{inv.address(host)}:{inv.var(host, 'tollhouse_gateway_listen_port', 8080)}"
        gateways[host] = url
        status, body = get_healthy(url + "/hello")
        report(status == 200, f"gateway {host} health", f"GET {url}/hello -> {status} {body[:80]}")
    for host in inv.hosts("pump"):
        url = f"http://{inv.address(host)}:{inv.var(host, 'tollhouse_pump_health_port', 8083)}/health"
        status, body = get_healthy(url)
        report(status == 200, f"pump {host} health", f"GET {url} -> {status} {body[:80]}")

    try:
        password = (credentials / "admin_password").read_text().strip()
    except OSError as exc:
        report(False, "administrator password", f"{exc} (run the playbook first, or pass --credentials)")
        return 1
    email = inv.var(dashboard_host, "tollhouse_dashboard_admin_email", "")
    status, body = http("POST", dashboard + "/api/login", {"username": email, "password": password})
    token = json.loads(body).get("access_token") if status == 200 else None
    if not report(bool(token), "dashboard login", f"{email} -> {status}{'' if token else ' ' + body[:120]}"):
        return finish()

    status, body = http("GET", dashboard + "/api/apis?p=0", token=token)
    apis = json.loads(body).get("apis", []) if status == 200 else []
    exists = any(a.get("api_definition", {}).get("proxy", {}).get("listen_path") == LISTEN_PATH for a in apis)
    if not exists:
        definition = {"name": "tollhouse-smoke-test", "use_keyless": True, "active": True,
                      "proxy": {"listen_path": LISTEN_PATH, "target_url": dashboard + "/", "strip_listen_path": True},
                      "version_data": {"not_versioned": True, "versions": {"Default": {"name": "Default"}}}}
        status, body = http("POST", dashboard + "/api/apis", {"api_definition": definition}, token=token)
        report(status in (200, 201), f"create API {LISTEN_PATH}", f"-> {status} {body[:120]}")
    else:
        report(True, f"API {LISTEN_PATH} exists")

    path = f"{LISTEN_PATH}hello"
    analytics = Analytics(inv, credentials, path)
    before = analytics.count()
    for host, url in gateways.items():
        deadline, status, body = time.monotonic() + args.timeout, 0, ""
        while time.monotonic() < deadline:
            status, body = http("GET", url + path)
            if status == 200:
                break
            time.sleep(1)
        same = status == 200 and _status_of(body) == _status_of(dashboard_hello)
        report(same, f"API round trip through gateway {host}", f"GET {url}{path} -> {status} {body[:80]}")

    deadline, count = time.monotonic() + args.timeout, before
    while before is not None and time.monotonic() < deadline:
        count = analytics.count()
        if count is not None and count > before:
            break
        time.sleep(1)
    report(before is not None and count is not None and count > before, "analytics records reach MongoDB",
           f"{analytics.database}.tyk_analytics path={path}: {before} before the calls, {count} after "
           f"({analytics.how}; at most {args.timeout:.0f} s)")
    return finish()


def _status_of(body: str):
    try:
        return json.loads(body).get("status")
    except (ValueError, AttributeError):
        return body


class Analytics:
    """Counts the API's records in MongoDB: directly when the controller reaches MongoDB, else on the
    datastore host through Ansible (with the MongoDB client the mongodb role installed there)."""

    SCRIPT = ("import json, sys, pymongo\n"
              "client = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=3000)\n"
              "print(client[sys.argv[2]].tyk_analytics.count_documents({'path': sys.argv[3]}))\n")

    def __init__(self, inv: Inventory, credentials: Path, path: str):
        self.inv, self.path = inv, path
        self.host = inv.hosts("datastore")[0]
        self.database = inv.var(self.host, "tollhouse_mongodb_database", "tollhouse")
        user = inv.var(self.host, "tollhouse_mongodb_user", "tollhouse")
        port = inv.var(self.host, "tollhouse_mongodb_port", 27017)
        password = (credentials / "mongodb_password").read_text().strip()
        self.url = f"mongodb://{user}:{password}@{inv.address(self.host)}:{port}/{self.database}?authSource={self.database}"
        try:
            import pymongo  # noqa: F401  (in the project venv)
            self.direct = True
        except ImportError:
            self.direct = False
        self.how = ""

    def count(self) -> int | None:
        argv = [self.SCRIPT, self.url, self.database, self.path]
        if self.direct:
            result = subprocess.run([sys.executable, "-c", *argv], capture_output=True, text=True)
            if result.returncode == 0:
                self.how = "queried from the controller"
                return int(result.stdout.strip())
            self.direct = False  # the controller cannot reach MongoDB: ask the datastore host
        server = self.inv.var(self.host, "tollhouse_mongodb_server", "mongodb-org")
        python = "/opt/secantus/bin/python" if server == "secantus" else "/opt/tollhouse/mongodb-admin/bin/python"
        command = ["ansible", "-i", self.inv.path, self.host, "-o", "-m", "ansible.builtin.command", "-a",
                   " ".join(shlex.quote(part) for part in [python, "-c", *argv])]
        result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "ANSIBLE_NOCOLOR": "1"})
        self.how = f"queried on {self.host} through Ansible"
        try:
            return int(result.stdout.rsplit("(stdout)", 1)[-1].strip().split()[-1])
        except (ValueError, IndexError):
            return None


def finish() -> int:
    failed = RESULTS.count(False)
    print(f"{'PASS' if not failed else 'FAIL'}  smoke test: {len(RESULTS) - failed}/{len(RESULTS)} checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
