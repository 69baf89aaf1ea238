"""``python -m devkit.emulator``: run the iTwin emulator until SIGTERM or SIGINT.

Prints one line, ``iTwin emulator listening on http://127.0.0.1:PORT``, once it accepts connections
(scripts and tests wait for it), logs one line per request to stderr unless ``--quiet``, and exits 0
on a signal.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from devkit.emulator.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, EmulatorConfig
from devkit.emulator.contract import TOKEN_TTL_SECONDS
from devkit.emulator.emulator import Emulator

DEFAULT_PORT = 8090


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m devkit.emulator", description=__doc__.split("\n", 1)[0])
    p.add_argument("--host", default="127.0.0.1", help="address to bind (loopback only unless --allow-remote)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to bind; 0 picks a free one")
    p.add_argument("--allow-remote", action="store_true", help="allow binding a non-loopback address")
    p.add_argument("--client-id", default=DEFAULT_CLIENT_ID, help="the accepted IMS client id")
    p.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET, help="the accepted IMS client secret")
    p.add_argument("--token-ttl", type=int, default=TOKEN_TTL_SECONDS, help="token lifetime in seconds")
    for flag, answer in (("--forbidden", "answered 403"), ("--unknown", "answered 404")):
        p.add_argument(flag, action="extend", nargs="+", default=[], metavar="ID", help=f"iModel ids {answer}")
    p.add_argument(
        "--not-initialized", action="extend", nargs="+", default=[], metavar="ID", help="iModel ids whose PUTs get 409"
    )
    p.add_argument("--initialize-after-attempts", type=int, metavar="N", help="not-initialized ids: 409 for N PUTs")
    p.add_argument("--initialize-after-seconds", type=float, metavar="T", help="not-initialized ids: 409 for T s")
    p.add_argument("--rate-limit-per-minute", type=int, metavar="N", help="per-client sliding-window limit")
    p.add_argument("--rate-limit-per-hour", type=int, metavar="N", help="per-client cap over a sliding hour")
    p.add_argument("--rate-limit-tier", metavar="NAME", help="tier named in each 429 (e.g. Trial)")
    p.add_argument("--fail-rate-503", type=float, default=0.0, metavar="P", help="probability a PUT gets 503")
    p.add_argument("--fail-rate-429", type=float, default=0.0, metavar="P", help="probability a PUT gets 429")
    p.add_argument("--seed", type=int, help="seed for the random faults (reproducible runs)")
    p.add_argument("--latency", type=float, default=0.0, metavar="SECONDS", help="delay before every answer")
    p.add_argument("--stall", type=float, default=0.0, metavar="SECONDS", help="hold the first requests this long")
    p.add_argument("--stall-count", type=int, default=0, metavar="N", help="how many requests --stall holds")
    p.add_argument("--stall-endpoint", choices=("api", "token", "any"), default="api", help="which requests stall")
    p.add_argument("--late-apply", type=float, default=0.0, metavar="SECONDS", help="apply the first PUTs this late")
    p.add_argument("--late-apply-count", type=int, default=0, metavar="N", help="how many PUTs --late-apply holds")
    p.add_argument("--quiet", action="store_true", help="do not log requests")
    return p


def config_from(args: argparse.Namespace) -> EmulatorConfig:
    return EmulatorConfig(
        host=args.host,
        port=args.port,
        allow_remote=args.allow_remote,
        clients={args.client_id: args.client_secret},
        token_ttl_seconds=args.token_ttl,
        forbidden=frozenset(args.forbidden),
        unknown=frozenset(args.unknown),
        not_initialized=frozenset(args.not_initialized),
        initialize_after_attempts=args.initialize_after_attempts,
        initialize_after_seconds=args.initialize_after_seconds,
        rate_limit_per_minute=args.rate_limit_per_minute,
        rate_limit_per_hour=args.rate_limit_per_hour,
        rate_limit_tier=args.rate_limit_tier,
        fail_rate_503=args.fail_rate_503,
        fail_rate_429=args.fail_rate_429,
        seed=args.seed,
        latency_seconds=args.latency,
        stall_seconds=args.stall,
        stall_count=args.stall_count,
        stall_endpoint=args.stall_endpoint,
        late_apply_seconds=args.late_apply,
        late_apply_count=args.late_apply_count,
        log_requests=not args.quiet,
    )


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    try:
        config = config_from(args)
    except ValueError as error:
        p.error(str(error))  # exits 2 with the usage line
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with Emulator(config) as emulator:
            print(f"iTwin emulator listening on {emulator.url}", flush=True)
            while not stop.wait(0.5):
                pass
    except OSError as error:  # e.g. the port is taken
        print(f"iTwin emulator: cannot listen on {config.host}:{config.port}: {error}", file=sys.stderr)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
