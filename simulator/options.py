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
    pubsub_port: int = 7443
    pubsub_plaintext: bool = False
    pubsub_keepalive_seconds: float = 270.0
    pubsub_idle_timeout_seconds: float = 60.0
    retention_hours: float = 72.0
    cometd_timeout_seconds: float = 110.0
    cometd_client_expiry_seconds: float = 40.0
    # Command-line only: how a container deployment reaches the simulator, and broken orgs
    # for `leadfleet doctor` tests.
    public_host: str | None = None
    connection_file: Path | None = None
    fleet_env_file: Path | None = None
    missing_fields: tuple[str, ...] = ()
    cdc_disabled: tuple[str, ...] = ()


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
        description="A Salesforce org simulator: HTTPS REST, OAuth 2.0 JWT bearer, "
        "Pub/Sub API gRPC and CometD change events.",
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
    parser.add_argument("--pubsub-port", type=int,
                        default=int(fallback("pubsub_port", defaults.pubsub_port)),
                        help="Pub/Sub API gRPC port; 0 picks a free one")  # fmt: skip
    parser.add_argument("--pubsub-plaintext", action="store_true",
                        default=_flag(fallback("pubsub_plaintext", defaults.pubsub_plaintext)),
                        help="serve gRPC without TLS (local clients that cannot do TLS)")  # fmt: skip
    parser.add_argument("--pubsub-keepalive-seconds", type=float,
                        default=float(fallback("pubsub_keepalive_seconds",
                                               defaults.pubsub_keepalive_seconds)))  # fmt: skip
    parser.add_argument("--pubsub-idle-timeout-seconds", type=float,
                        default=float(fallback("pubsub_idle_timeout_seconds",
                                               defaults.pubsub_idle_timeout_seconds)))  # fmt: skip
    parser.add_argument("--retention-hours", type=float,
                        default=float(fallback("retention_hours", defaults.retention_hours)))  # fmt: skip
    parser.add_argument("--cometd-timeout-seconds", type=float,
                        default=float(fallback("cometd_timeout_seconds",
                                               defaults.cometd_timeout_seconds)))  # fmt: skip
    parser.add_argument("--cometd-client-expiry-seconds", type=float,
                        default=float(fallback("cometd_client_expiry_seconds",
                                               defaults.cometd_client_expiry_seconds)))  # fmt: skip
    parser.add_argument("--public-host", default=None,
                        help="host name clients use (a compose service name): the certificate "
                             "covers it and the URLs handed out name it")  # fmt: skip
    parser.add_argument("--connection-file", type=Path, default=None,
                        help="also write the start-up JSON line to this file")  # fmt: skip
    parser.add_argument("--fleet-env-file", type=Path, default=None,
                        help="write LEADFLEET_* lines pointing the fleet at this org here")  # fmt: skip
    parser.add_argument("--missing-field", action="append", default=[], metavar="OBJECT.FIELD",
                        help="leave a custom field out of the org (repeatable)")  # fmt: skip
    parser.add_argument("--cdc-off", action="append", default=[], metavar="OBJECT",
                        help="do not select an object for Change Data Capture (repeatable)")  # fmt: skip
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
        pubsub_port=args.pubsub_port,
        pubsub_plaintext=args.pubsub_plaintext,
        pubsub_keepalive_seconds=args.pubsub_keepalive_seconds,
        pubsub_idle_timeout_seconds=args.pubsub_idle_timeout_seconds,
        retention_hours=args.retention_hours,
        cometd_timeout_seconds=args.cometd_timeout_seconds,
        cometd_client_expiry_seconds=args.cometd_client_expiry_seconds,
        public_host=args.public_host,
        connection_file=args.connection_file,
        fleet_env_file=args.fleet_env_file,
        missing_fields=tuple(args.missing_field),
        cdc_disabled=tuple(args.cdc_off),
    )


def _flag(value: str) -> bool:
    """An environment switch: true, 1, yes or on (any case) turn it on."""
    return value.strip().lower() in ("true", "1", "yes", "on")
