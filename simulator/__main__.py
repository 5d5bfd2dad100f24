"""`python -m simulator`: run the Salesforce org simulator until interrupted."""

from __future__ import annotations

from simulator.options import parse_options
from simulator.server import serve_forever


def main() -> None:
    """Parse options and serve."""
    serve_forever(parse_options())


if __name__ == "__main__":
    main()
