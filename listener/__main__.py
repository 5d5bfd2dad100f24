"""``python -m listener [--mode grpc|cometd|poll]``: run the listener until SIGTERM or SIGINT.

Settings come from the environment (LEADFLEET_*). The first signal stops every runner after the
batch in hand, commits its checkpoint and closes the connections; a second one exits at once.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from types import FrameType

from listener.app import MODES, build_listener
from shared.errors import ConfigError
from shared.logs import configure_logging
from shared.settings import load_settings

log = logging.getLogger("listener")


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, build the listener, run it until a signal; the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m listener", description=__doc__)
    parser.add_argument(
        "--mode",
        choices=MODES,
        default="grpc",
        help="grpc: Pub/Sub API (default); cometd: Streaming API; poll: SOQL polling.",
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(settings.listener.log_level, quiet=("kombu", "celery", "urllib3", "grpc"))
    listener = build_listener(settings, args.mode)
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stopping.is_set():
            os._exit(1)
        log.info("stopping", extra={"signal": signal.Signals(signum).name})
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    listener.start()
    # A timed wait keeps the main thread responsive to signals.
    while not stopping.wait(1.0):
        if not listener.alive():
            log.error("every runner ended; exiting")
            listener.stop()
            return 1
    listener.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
