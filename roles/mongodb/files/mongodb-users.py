#!/usr/bin/env python3
"""Manage the MongoDB users of Tollhouse (installed by the Ansible role `mongodb`).

  bootstrap-secantus   create the administrator with a SecantusDB started once without auth
                       (SecantusDB has no localhost exception), then write a marker file
  bootstrap-localhost  create the administrator through mongod's localhost exception
  ensure               create the application user (readWrite on its database) or reset its password;
                       prints {"changed": true|false}

Passwords come from the environment (TOLLHOUSE_MONGODB_ADMIN_PASSWORD, TOLLHOUSE_MONGODB_PASSWORD),
never from the command line. An empty TOLLHOUSE_MONGODB_ADMIN_USER means the server runs without auth.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

AUTH_FAILED = 18


def _client(host: str, port: int, **kwargs) -> MongoClient:
    return MongoClient(host=host, port=port, directConnection=True, serverSelectionTimeoutMS=2000, **kwargs)


def _wait_ping(client: MongoClient, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.admin.command("ping")
            return
        except PyMongoError:
            if process is not None and process.poll() is not None:
                raise SystemExit(f"server exited with {process.returncode} during bootstrap") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def _create_admin(client: MongoClient) -> bool:
    user, password = os.environ["TOLLHOUSE_MONGODB_ADMIN_USER"], os.environ["TOLLHOUSE_MONGODB_ADMIN_PASSWORD"]
    try:
        existing = client.admin.command("usersInfo", user)["users"]
    except OperationFailure:
        existing = []
    if existing:
        return False
    client.admin.command("createUser", user, pwd=password, roles=[{"role": "root", "db": "admin"}])
    return True


def bootstrap_secantus(args: argparse.Namespace) -> int:
    marker = Path(args.storage_path) / ".tollhouse-admin-created"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as empty:
        empty.write("# no settings: no auth for this one-off bootstrap server\n")
    os.chmod(empty.name, 0o644)
    argv = [args.secantusd, "--config", empty.name, "--host", "127.0.0.1", "--port", str(port),
            "--storage-path", args.storage_path, "--standalone"]
    process = subprocess.Popen(argv, user=args.run_as, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        client = _client("127.0.0.1", port)
        _wait_ping(client, 60, process)
        changed = _create_admin(client)
        client.close()
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        os.unlink(empty.name)
    marker.write_text("administrator created by mongodb-users.py bootstrap-secantus\n")
    print(json.dumps({"changed": changed}))
    return 0


def bootstrap_localhost(args: argparse.Namespace) -> int:
    user, password = os.environ["TOLLHOUSE_MONGODB_ADMIN_USER"], os.environ["TOLLHOUSE_MONGODB_ADMIN_PASSWORD"]
    changed = False
    try:
        _wait_ping(_client("127.0.0.1", args.port, username=user, password=password, authSource="admin"), 5)
    except OperationFailure as exc:
        if exc.code != AUTH_FAILED:
            raise
        changed = _create_admin(_client("127.0.0.1", args.port))
    Path(args.marker).write_text("administrator created by mongodb-users.py bootstrap-localhost\n")
    print(json.dumps({"changed": changed}))
    return 0


def ensure(args: argparse.Namespace) -> int:
    admin_user = os.environ.get("TOLLHOUSE_MONGODB_ADMIN_USER", "")
    password = os.environ["TOLLHOUSE_MONGODB_PASSWORD"]
    credentials = {}
    if admin_user:
        credentials = {"username": admin_user, "password": os.environ["TOLLHOUSE_MONGODB_ADMIN_PASSWORD"],
                       "authSource": "admin"}
    client = _client(args.host, args.port, **credentials)
    try:
        _wait_ping(client, 60)
    except OperationFailure as exc:
        if exc.code == AUTH_FAILED:
            print(f"cannot authenticate as {admin_user!r}: the administrator password in the controller's "
                  "credentials/ directory does not match the server's", file=sys.stderr)
            return 2
        raise
    database = client[args.database]
    changed = False
    if not database.command("usersInfo", args.user)["users"]:
        database.command("createUser", args.user, pwd=password, roles=[{"role": "readWrite", "db": args.database}])
        changed = True
    else:
        probe = _client(args.host, args.port, username=args.user, password=password, authSource=args.database)
        try:
            probe[args.database].command("ping")
            probe[args.database].list_collection_names()
        except OperationFailure as exc:
            if exc.code != AUTH_FAILED:
                raise
            database.command("updateUser", args.user, pwd=password)
            changed = True
        finally:
            probe.close()
    print(json.dumps({"changed": changed}))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    sec = commands.add_parser("bootstrap-secantus")
    sec.add_argument("--secantusd", required=True)
    sec.add_argument("--storage-path", required=True)
    sec.add_argument("--run-as", required=True)
    loc = commands.add_parser("bootstrap-localhost")
    loc.add_argument("--port", type=int, default=27017)
    loc.add_argument("--marker", required=True)
    ens = commands.add_parser("ensure")
    ens.add_argument("--host", required=True)
    ens.add_argument("--port", type=int, default=27017)
    ens.add_argument("--database", required=True)
    ens.add_argument("--user", required=True)
    args = parser.parse_args()
    handler = {"bootstrap-secantus": bootstrap_secantus, "bootstrap-localhost": bootstrap_localhost,
               "ensure": ensure}[args.command]
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
