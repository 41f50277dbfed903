#!/usr/bin/env python3
"""Keep a bcrypt hash of the dashboard administrator's password next to it, on the controller.

Reads the password on stdin; writes HASH_FILE (mode 0600) unless it already holds a hash of that
password, so re-runs render the same admin_password_hash (idempotent). Prints "changed" or "ok".
Needs the `bcrypt` package (a tollhouse dependency, so in the project venv that runs Ansible).
"""

import os
import sys
from pathlib import Path

import bcrypt


def main() -> int:
    target = Path(sys.argv[1])
    password = sys.stdin.read().strip().encode()
    if len(password) < 12:
        print("admin password shorter than 12 characters", file=sys.stderr)
        return 1
    if target.exists():
        current = target.read_text().strip().encode()
        try:
            if bcrypt.checkpw(password, current):
                print("ok")
                return 0
        except ValueError:
            pass
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(bcrypt.hashpw(password, bcrypt.gensalt(rounds=12)).decode() + "\n")
    print("changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
