"""How the simulator is started: command-line options with LEADFLEET_SIMULATOR__* fallbacks."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POLICY = REPO_ROOT / "config" / "routing_policy.json"
ENV_PREFIX = "LEADFLEET_SIMULATOR__"


@dataclass(frozen=True)
class SimulatorOptions:
    """Everything a simulator process is started with."""

    state_dir: Path = Path("state/simulator")
    host: str = "127.0.0.1"
    port: int = 8443
    seed: int = 7
    policy_path: Path | None = None
    token_ttl_seconds: int = 7200
    daily_api_limit: int = 100_000
    single_email_limit: int = 5_000


def default_policy_path() -> Path | None:
    """config/routing_policy.json beside the repository, when it exists."""
    return DEFAULT_POLICY if DEFAULT_POLICY.is_file() else None


def parse_options(
    argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None
) -> SimulatorOptions:
    """Options from arguments, then LEADFLEET_SIMULATOR__* variables, then defaults."""
    env = os.environ if env is None else env
    defaults = SimulatorOptions()

    def fallback(name: str, default: object) -> str:
        return env.get(ENV_PREFIX + name.upper(), str(default))

    parser = argparse.ArgumentParser(
        prog="python -m simulator",
        description="A Salesforce org simulator over HTTPS (REST, OAuth 2.0 JWT bearer).",
    )
    parser.add_argument("--host", default=fallback("host", defaults.host))
    parser.add_argument("--port", type=int, default=int(fallback("port", defaults.port)),
                        help="HTTPS port; 0 picks a free one")  # fmt: skip
    parser.add_argument("--state-dir", type=Path,
                        default=Path(fallback("state_dir", defaults.state_dir)))  # fmt: skip
    parser.add_argument("--seed", type=int, default=int(fallback("seed", defaults.seed)))
    parser.add_argument("--policy", type=Path, default=None,
                        help="routing policy JSON whose users and queues are seeded")  # fmt: skip
    parser.add_argument("--token-ttl-seconds", type=int,
                        default=int(fallback("token_ttl_seconds", defaults.token_ttl_seconds)))  # fmt: skip
    parser.add_argument("--daily-api-limit", type=int,
                        default=int(fallback("daily_api_limit", defaults.daily_api_limit)))  # fmt: skip
    parser.add_argument("--single-email-limit", type=int,
                        default=int(fallback("single_email_limit", defaults.single_email_limit)))  # fmt: skip
    args = parser.parse_args(argv)
    return SimulatorOptions(
        state_dir=args.state_dir,
        host=args.host,
        port=args.port,
        seed=args.seed,
        policy_path=args.policy or default_policy_path(),
        token_ttl_seconds=args.token_ttl_seconds,
        daily_api_limit=args.daily_api_limit,
        single_email_limit=args.single_email_limit,
    )
