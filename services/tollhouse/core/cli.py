"""The command line every service shares: ``--config PATH`` and ``--check-config``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from tollhouse.core.settings import Settings, SettingsError, load_settings


def settings_from_args(
    prog: str, model: type[Settings], env_prefix: str, argv: Sequence[str] | None = None,
    check_files: Callable[[Settings], None] | None = None,
) -> Settings:
    """Parse the arguments and load settings; on bad settings print why and exit 2.

    With ``--check-config`` it exits 0 after a successful load and, with ``check_files``, after loading the
    files the settings name as the service would (handlers validate with it, as the service's user, before
    restarting a service): ValueError or OSError from it exits 2 with its message.
    """
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--config", metavar="PATH", help="TOML config file")
    parser.add_argument("--check-config", action="store_true", help="validate the settings and exit")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(model, args.config, env_prefix)
    except SettingsError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if args.check_config:
        try:
            if check_files is not None:
                check_files(settings)
        except (ValueError, OSError) as exc:
            print(f"{prog}: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        print(f"{prog}: settings OK")
        raise SystemExit(0)
    return settings
