"""``tollhouse-gateway --config PATH``: one gateway process, or with ``workers`` > 1 a supervisor of several.

The data path is imported only by the process that serves (``serve.py``): a supervisor stays small.
"""

from __future__ import annotations

import sys

from tollhouse.core.cli import settings_from_args
from tollhouse.core.logs import setup_logging
from tollhouse.gateway.settings import ENV_PREFIX, GatewaySettings
from tollhouse.gateway.workers import SupervisorLink, supervise, worker_count


def main(argv: list[str] | None = None) -> None:
    settings = settings_from_args("tollhouse-gateway", GatewaySettings, ENV_PREFIX, argv, check_files=_load_tls_files)
    setup_logging(settings.log_level, settings.log_format)
    supervisor = SupervisorLink.from_environment()
    if supervisor is None and worker_count(settings) > 1:
        metrics = (settings.metrics_address or settings.listen_address, settings.metrics_port)
        raise SystemExit(supervise(worker_count(settings), sys.argv[1:] if argv is None else argv,
                                   metrics if settings.metrics_port else None))

    import uvloop

    from tollhouse.gateway.serve import serve
    from tollhouse.gateway.tls import TlsSetupError

    try:
        uvloop.run(serve(settings, supervisor))
    except TlsSetupError as exc:
        print(f"tollhouse-gateway: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except OSError as exc:
        ports = " or ".join(str(port) for port in (settings.listen_port, settings.control_port, settings.metrics_port)
                            if port)
        print(f"tollhouse-gateway: cannot listen on {settings.listen_address}:{ports}: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


def _load_tls_files(settings: GatewaySettings) -> None:
    from tollhouse.gateway.tls import load_tls_files  # only this check and the serving process need ssl setup

    load_tls_files(settings)


if __name__ == "__main__":
    main()
