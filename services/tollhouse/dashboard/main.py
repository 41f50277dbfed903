"""``tollhouse-dashboard``: run the dashboard, or make a password hash for its settings.

    tollhouse-dashboard --config /etc/tollhouse/dashboard.toml
    echo -n 'the password' | tollhouse-dashboard hash-password
"""

from __future__ import annotations

import argparse
import getpass
import sys

from tollhouse.core.logs import setup_logging
from tollhouse.core.settings import SettingsError, load_settings
from tollhouse.dashboard.auth import DEFAULT_BCRYPT_ROUNDS, hash_password
from tollhouse.dashboard.settings import ENV_PREFIX, DashboardSettings

EXIT_BAD_SETTINGS = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tollhouse-dashboard", description="Tollhouse dashboard")
    parser.add_argument("--config", metavar="PATH",
                        help=f"TOML settings file ({ENV_PREFIX}* variables override it)")
    parser.add_argument("--check-config", action="store_true", help="validate the settings and exit")
    commands = parser.add_subparsers(dest="command")
    hasher = commands.add_parser("hash-password", help="read a password on stdin, print its bcrypt hash "
                                                       "(for admin_password_hash)")
    hasher.add_argument("--rounds", type=int, default=DEFAULT_BCRYPT_ROUNDS, choices=range(4, 17),
                        metavar="4-16", help=f"bcrypt cost (default {DEFAULT_BCRYPT_ROUNDS})")
    return parser


def _read_password() -> str:
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise ValueError("the two passwords differ")
        return password
    # Only the first line: `echo secret | ...` adds a newline that is not part of the password.
    return sys.stdin.readline().rstrip("\r\n")


def hash_password_command(rounds: int) -> int:
    try:
        print(hash_password(_read_password(), rounds))
    except ValueError as exc:
        print(f"tollhouse-dashboard: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    return 0


def serve(config_path: str | None, check_only: bool = False) -> int:
    try:
        settings = load_settings(DashboardSettings, config_path, ENV_PREFIX)
    except SettingsError as exc:
        print(f"tollhouse-dashboard: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    if check_only:
        print("tollhouse-dashboard: settings OK")
        return 0
    setup_logging(settings.log_level, settings.log_format)

    # Imported here so that hash-password starts quickly.
    import uvicorn

    from tollhouse.dashboard.app import create_app

    uvicorn.run(create_app(settings), host=settings.listen_address, port=settings.listen_port,
                log_config=None, server_header=False)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "hash-password":
        return hash_password_command(args.rounds)
    return serve(args.config, args.check_config)


if __name__ == "__main__":
    sys.exit(main())
