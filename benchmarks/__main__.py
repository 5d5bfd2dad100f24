"""`python -m benchmarks [name ...]`: run the named benchmarks (all by default)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable

from benchmarks import listener_throughput, report_throughput

BENCHMARKS: dict[str, Callable[[], object]] = {
    "listener": listener_throughput.run,
    "report": report_throughput.run,
}


def main(argv: list[str] | None = None) -> None:
    """Run the chosen benchmarks in order."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", choices=[*BENCHMARKS, []], metavar="name",
                        help=f"one of {', '.join(BENCHMARKS)} (default: all)")  # fmt: skip
    args = parser.parse_args(argv)
    # Per-batch log lines would swamp the result table.
    logging.basicConfig(level=logging.WARNING)
    for name in args.names or list(BENCHMARKS):
        BENCHMARKS[name]()


if __name__ == "__main__":
    main()
