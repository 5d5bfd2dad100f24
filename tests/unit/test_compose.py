"""docker-compose.yml and the Dockerfile hold together without a Docker engine: every command
is an entry point of the project, every LEADFLEET_* variable is a setting, and ports, volumes,
dependencies, health checks, restart policies and build stages are coherent."""

from __future__ import annotations

import copy
import importlib
import importlib.util
import os
import re
import shlex
import subprocess
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click
import pytest
import typer.main
import yaml
from celery import Celery
from celery.bin.base import CLIContext
from celery.bin.celery import celery as celery_cli

from shared.messages import QUEUES
from shared.settings import AnalyticsSettings, ListenerSettings, WorkerSettings, load_settings
from shared.settings_doc import iter_settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
ENV_EXAMPLE = REPO / "deploy" / ".env.example"
FLOWER_PROXY_CONF = REPO / "deploy" / "flower-proxy.conf"
KNOWN_SETTINGS = frozenset(name for name, _, _ in iter_settings())
# Bind-mounted folders that hold what the operator provides; compose creates them when absent.
OPERATOR_FOLDERS = frozenset({"./secrets"})
LONG_RUNNING = frozenset({"always", "unless-stopped"})
_VARIABLE = re.compile(
    r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^${}]*))?\}"
)
_DURATION = re.compile(r"(?P<value>\d+(?:\.\d+)?)(?P<unit>ms|us|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 0.000001}


# -- reading the files -------------------------------------------------------------------------


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default} and ${VAR:?error}, innermost first."""
    text = text.replace("$$", "\0")

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"] or ""
        value = env.get(name)
        if op in (":-", ":?"):
            return value if value else arg
        if op in ("-", "?"):
            return value if value is not None else arg
        if op == ":+":
            return arg if value else ""
        if op == "+":
            return arg if value is not None else ""
        return value or ""

    previous = None
    while previous != text:
        previous, text = text, _VARIABLE.sub(one, text)
    return text.replace("\0", "$")


def load_compose() -> dict[str, Any]:
    """The compose file as YAML (merge keys resolved)."""
    loaded = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def argv_of(service: Mapping[str, Any], env: Mapping[str, str]) -> list[str]:
    """A service's command as an argument list, interpolated."""
    command = service.get("command") or []
    parts = shlex.split(command) if isinstance(command, str) else [str(p) for p in command]
    return [interpolate(part, env) for part in parts]


def environment_of(service: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, str]:
    """A service's environment mapping, interpolated."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {str(k): interpolate(str(v), env) for k, v in raw.items()}


def seconds(duration: str) -> float:
    """A compose duration (45s, 1m30s, 500ms) in seconds."""
    return sum(float(m["value"]) * _UNIT_SECONDS[m["unit"]] for m in _DURATION.finditer(duration))


def dockerfile_stages(text: str) -> dict[str, list[str]]:
    """Instructions per build stage, in order (a stage without AS is named by its index)."""
    stages: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in re.sub(r"\\\n", " ", text).splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"FROM\s+\S+(?:\s+AS\s+(\S+))?", line, re.IGNORECASE)
        if match:
            current = stages.setdefault(match.group(1) or str(len(stages)), [])
        elif current is not None:
            current.append(line)
    return stages


def is_project_service(service: Mapping[str, Any]) -> bool:
    """Built from this repository's Dockerfile, so its command must be one of ours."""
    return "build" in service


# -- commands ----------------------------------------------------------------------------------


def _module_problems(module: str) -> list[str]:
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:
        spec = None
    if spec is None:
        return [f"python -m {module}: no such module"]
    if spec.submodule_search_locations is not None:
        if importlib.util.find_spec(f"{module}.__main__") is None:
            return [f"python -m {module}: the package has no __main__"]
        return []
    source = Path(str(spec.origin)).read_text(encoding="utf-8")
    if 'if __name__ == "__main__":' not in source:
        return [f"python -m {module}: the module does not run as a program"]
    return []


def _argument_parsers() -> dict[str, Callable[[list[str]], object]]:
    from simulator.options import parse_options
    from simulator.traffic import parse_args as traffic_args
    from workers.metrics_exporter import parse_args as exporter_args

    return {
        "simulator": lambda argv: parse_options(argv, env={}),
        "simulator.traffic": traffic_args,
        "workers.metrics_exporter": exporter_args,
    }


def _python_problems(argv: list[str]) -> list[str]:
    if len(argv) < 3 or argv[1] != "-m":
        return [f"{shlex.join(argv)}: expected python -m <module>"]
    module, arguments = argv[2], argv[3:]
    problems = _module_problems(module)
    if problems:
        return problems
    parser = _argument_parsers().get(module)
    if parser is None:
        return [f"python -m {module}: takes no arguments here"] if arguments else []
    try:
        parser(arguments)
    except SystemExit:
        return [f"python -m {module}: arguments rejected: {shlex.join(arguments)}"]
    return []


def _celery_app(spec: str) -> Celery | str:
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        return f"celery -A {spec}: cannot import {module_name} ({exc})"
    app = getattr(module, attribute or "app", None)
    if not isinstance(app, Celery):
        return f"celery -A {spec}: no Celery app there"
    return app


def _celery_problems(argv: list[str]) -> list[str]:
    app_spec, index = None, 1
    while index < len(argv) and argv[index].startswith("-"):
        if argv[index] in ("-A", "--app"):
            app_spec, index = argv[index + 1], index + 2
        elif argv[index].startswith("--app="):
            app_spec, index = argv[index].split("=", 1)[1], index + 1
        else:
            return [f"celery: unexpected global option {argv[index]}"]
    if app_spec is None or index >= len(argv):
        return [f"{shlex.join(argv)}: expected celery -A <app> <command>"]
    app = _celery_app(app_spec)
    if isinstance(app, str):
        return [app]
    name, arguments = argv[index], argv[index + 1 :]
    command = celery_cli.commands.get(name)
    if command is None:
        return [f"celery {name}: no such celery command"]
    parent = click.Context(
        celery_cli, info_name="celery", obj=CLIContext(app=app, no_color=True, workdir=None)
    )
    try:
        context = command.make_context(name, list(arguments), parent=parent)
    except click.UsageError as exc:
        return [f"celery {name}: {exc.format_message()}"]
    return _celery_option_problems(name, context.params)


def _celery_option_problems(name: str, params: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    if name == "worker":
        known = {queue.value for queue in QUEUES}
        problems += [f"celery worker: unknown queue {q!r}" for q in params.get("queues") or []
                     if q not in known]  # fmt: skip
        for module in params.get("include") or []:
            if importlib.util.find_spec(module) is None:
                problems.append(f"celery worker --include {module}: no such module")
    elif name == "beat":
        scheduler = str(params.get("scheduler") or "")
        module_name, _, class_name = scheduler.rpartition(".")
        try:
            getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError, ValueError):
            problems.append(f"celery beat --scheduler {scheduler}: cannot import it")
    elif name == "flower":
        from flower.options import options

        for argument in params.get("tornado_argv") or ():
            option = argument.lstrip("-").split("=", 1)[0].replace("-", "_")
            if option not in options:
                problems.append(f"celery flower: unknown option {argument}")
    return problems


def _leadfleet_problems(argv: list[str]) -> list[str]:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "scripts"
    ]
    if argv[0] not in scripts:
        return [f"{argv[0]}: not a console script in pyproject.toml"]
    from cli.main import app

    group = typer.main.get_command(app)
    if len(argv) > 1 and isinstance(group, click.Group) and argv[1] not in group.commands:
        return [f"leadfleet {argv[1]}: no such command"]
    return []


def command_problems(argv: Sequence[str]) -> list[str]:
    """Why a command is not an entry point of the project (empty when it is)."""
    argv = list(argv)
    if not argv:
        return ["no command"]
    if argv[0] == "python":
        return _python_problems(argv)
    if argv[0] == "celery":
        return _celery_problems(argv)
    if argv[0] == "leadfleet":
        return _leadfleet_problems(argv)
    return [f"{argv[0]}: not an entry point of the project"]


# -- the whole file ----------------------------------------------------------------------------


def _depends_on(service: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    raw = service.get("depends_on") or {}
    if isinstance(raw, list):
        return {name: {"condition": "service_started"} for name in raw}
    return {str(k): dict(v or {}) for k, v in raw.items()}


def _is_one_shot(service: Mapping[str, Any]) -> bool:
    return str(service.get("restart", "")).split(":")[0] in ("no", "on-failure")


def _service_problems(name: str, service: Mapping[str, Any], env: Mapping[str, str]) -> list[str]:
    problems: list[str] = []
    restart = str(service.get("restart", ""))
    if not restart:
        problems.append(f"{name}: no restart policy")
    elif restart.split(":")[0] not in ("no", "on-failure", *LONG_RUNNING):
        problems.append(f"{name}: unknown restart policy {restart!r}")
    if restart in LONG_RUNNING and not service.get("healthcheck"):
        problems.append(f"{name}: no healthcheck")
    for variable in environment_of(service, env):
        if variable.startswith("LEADFLEET_") and variable not in KNOWN_SETTINGS:
            problems.append(f"{name}: {variable} is not a setting")
    if is_project_service(service):
        problems += [f"{name}: {p}" for p in command_problems(argv_of(service, env))]
    return problems


def _dependency_problems(services: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    for name, service in services.items():
        for target, options in _depends_on(service).items():
            other = services.get(target)
            if other is None:
                problems.append(f"{name}: depends on {target}, which is not a service")
                continue
            condition = options.get("condition", "service_started")
            if condition == "service_healthy" and not other.get("healthcheck"):
                problems.append(f"{name}: waits for {target} to be healthy; it has no healthcheck")
            if condition == "service_completed_successfully" and not _is_one_shot(other):
                problems.append(f"{name}: waits for {target} to complete; it never does")
            if (
                other.get("profiles")
                and not service.get("profiles")
                and options.get("required", True)
            ):
                problems.append(f"{name}: needs {target} from a profile; mark it required: false")
    return problems


def _volume_problems(compose: Mapping[str, Any]) -> list[str]:
    declared = set((compose.get("volumes") or {}).keys())
    problems: list[str] = []
    for name, service in compose["services"].items():
        for mount in service.get("volumes") or []:
            source = str(mount).split(":")[0] if isinstance(mount, str) else str(mount["source"])
            if source.startswith((".", "/")):
                if source not in OPERATOR_FOLDERS and not (REPO / source).exists():
                    problems.append(f"{name}: bind mount {source} does not exist")
            elif source not in declared:
                problems.append(f"{name}: volume {source} is not declared")
    return problems


def _port_problems(services: Mapping[str, Any], env: Mapping[str, str]) -> list[str]:
    published: dict[tuple[str, str], str] = {}
    problems: list[str] = []
    for name, service in services.items():
        ports = service.get("ports") or []
        if ports and name.startswith("worker-"):
            problems.append(f"{name}: a scaled service cannot publish a port")
        if name.startswith("worker-") and "container_name" in service:
            problems.append(f"{name}: a scaled service cannot have a container_name")
        for port in ports:
            parts = interpolate(str(port), env).split(":")
            host = (parts[0], parts[1]) if len(parts) == 3 else ("0.0.0.0", parts[0])
            if len(parts) == 1:
                continue
            if host in published:
                problems.append(
                    f"{name}: {host[0]}:{host[1]} is also published by {published[host]}"
                )
            published[host] = name
    return problems


def _fleet_problems(services: Mapping[str, Any], env: Mapping[str, str]) -> list[str]:
    problems: list[str] = []
    consumed: set[str] = set()
    beats: list[str] = []
    for name, service in services.items():
        argv = argv_of(service, env)
        environment = environment_of(service, env)
        if argv[:1] != ["celery"]:
            continue
        if "worker" in argv:
            queues = argv[argv.index("--queues") + 1] if "--queues" in argv else ""
            consumed.update(q for q in queues.split(",") if q)
            soft = float(
                environment.get("LEADFLEET_WORKERS__SOFT_SHUTDOWN_TIMEOUT_SECONDS")
                or WorkerSettings().soft_shutdown_timeout_seconds
            )
            if seconds(str(service.get("stop_grace_period", "10s"))) <= soft:
                problems.append(
                    f"{name}: stop_grace_period is not above the {soft:g} s soft shutdown"
                )
            if environment.get("REMAP_SIGTERM") != "SIGQUIT":
                problems.append(f"{name}: SIGTERM does not start the soft shutdown (REMAP_SIGTERM)")
        if "beat" in argv:
            beats.append(name)
            lock = float(
                environment.get("LEADFLEET_ANALYTICS__BEAT_LOCK_TIMEOUT_SECONDS")
                or AnalyticsSettings().beat_lock_timeout_seconds
            )
            if lock > 60:
                problems.append(f"{name}: a killed beat is replaced only after {lock:g} s")
        if "flower" in argv:
            if service.get("ports"):
                problems.append(f"{name}: publishes Flower, whose /metrics needs no auth")
            if not environment.get("FLOWER_BASIC_AUTH") and not any(
                a.startswith("--basic-auth") or a.startswith("--basic_auth") for a in argv
            ):
                problems.append(f"{name}: Flower without basic auth")
    problems += [f"queue {q.value}: no worker service consumes it" for q in QUEUES
                 if q.value not in consumed]  # fmt: skip
    if len(beats) != 1:
        problems.append(f"expected exactly one beat service, found {beats}")
    return problems


def _redis_problems(services: Mapping[str, Any]) -> list[str]:
    redis = services.get("redis")
    if redis is None:
        return ["no redis service"]
    command = " ".join(str(part) for part in redis.get("command") or [])
    problems = []
    if "--appendonly yes" not in command:
        problems.append("redis: append-only file is off")
    if "--maxmemory-policy noeviction" not in command:
        problems.append("redis: maxmemory-policy is not noeviction")
    if not any(str(m).endswith(":/data") for m in redis.get("volumes") or []):
        problems.append("redis: /data is not on a volume")
    return problems


def compose_problems(compose: Mapping[str, Any], env: Mapping[str, str] | None = None) -> list[str]:
    """Everything incoherent in a parsed compose file (empty when it holds together)."""
    env = env or {}
    services: Mapping[str, Any] = compose.get("services") or {}
    stages = dockerfile_stages(DOCKERFILE.read_text(encoding="utf-8"))
    problems: list[str] = []
    for name, service in services.items():
        problems += _service_problems(name, service, env)
        build = service.get("build")
        if isinstance(build, Mapping) and build.get("target") not in stages:
            problems.append(f"{name}: build target {build.get('target')!r} is not a stage")
    problems += _dependency_problems(services)
    problems += _volume_problems(compose)
    problems += _port_problems(services, env)
    problems += _fleet_problems(services, env)
    problems += _redis_problems(services)
    return problems


def dockerfile_problems(text: str) -> list[str]:
    """A Dockerfile's stages, final user and entry point, checked."""
    stages = dockerfile_stages(text)
    problems: list[str] = []
    seen: list[str] = []
    for stage, instructions in stages.items():
        for instruction in instructions:
            source = re.search(r"--from=(\S+)", instruction)
            if instruction.upper().startswith("COPY") and source and source[1] not in seen:
                problems.append(f"stage {stage}: COPY --from={source[1]} is not an earlier stage")
        seen.append(stage)
    if not stages:
        return ["no stages"]
    final = list(stages.values())[-1]
    users = [i.split()[1] for i in final if i.upper().startswith("USER ")]
    if not users or users[-1] in ("root", "0"):
        problems.append("the final stage runs as root")
    elif not any(
        i.upper().startswith("RUN") and ("useradd" in i or "adduser" in i) and users[-1] in i
        for i in final
    ):
        problems.append(f"the final stage never creates user {users[-1]}")
    for instruction in final:
        if instruction.upper().startswith("ENTRYPOINT"):
            for path in re.findall(r'"/app/([^"]+)"', instruction):
                if not (REPO / path).is_file():
                    problems.append(f"ENTRYPOINT {path} is not in the repository")
    return problems


# -- the tests ---------------------------------------------------------------------------------


def test_compose_file_is_coherent() -> None:
    """The compose file as committed has no problem at all."""
    assert compose_problems(load_compose()) == []


def test_dockerfile_is_coherent() -> None:
    """The Dockerfile's stages exist where used, the image runs unprivileged, the entry point exists."""
    assert dockerfile_problems(DOCKERFILE.read_text(encoding="utf-8")) == []


def test_every_service_of_the_project_gets_the_fleet_wiring() -> None:
    """Every leadfleet container reads .env and talks to the compose Redis unless told otherwise."""
    for name, service in load_compose()["services"].items():
        if not is_project_service(service) or name == "simulator" or name == "traffic":
            continue
        env_files = [e["path"] if isinstance(e, dict) else e for e in service.get("env_file", [])]
        assert ".env" in env_files, name
        assert environment_of(service, {})["LEADFLEET_REDIS__URL"] == "redis://redis:6379/0", name


def test_compose_values_are_valid_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The LEADFLEET_* values compose gives each service load as settings."""
    monkeypatch.chdir(tmp_path)
    for name, service in load_compose()["services"].items():
        for variable in [v for v in os.environ if v.startswith("LEADFLEET_")]:
            monkeypatch.delenv(variable)
        for variable, value in environment_of(service, {}).items():
            if variable.startswith("LEADFLEET_"):
                monkeypatch.setenv(variable, value)
        assert load_settings() is not None, name


def test_env_example_names_only_settings() -> None:
    """deploy/.env.example, which a real-org .env is copied from, names no unknown setting."""
    names = [
        line.split("=", 1)[0]
        for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#") and "=" in line
    ]
    unknown = [n for n in names if n.startswith("LEADFLEET_") and n not in KNOWN_SETTINGS]
    assert names
    assert unknown == []


def test_flower_proxy_hides_the_unauthenticated_endpoints() -> None:
    """The published proxy refuses /metrics and /healthcheck, which Flower serves without auth."""
    conf = FLOWER_PROXY_CONF.read_text(encoding="utf-8")
    for path in ("/metrics", "/healthcheck"):
        assert re.search(rf"location = {re.escape(path)} \{{\s*return 404;", conf), path


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("${A:-x}", {}, "x"),
        ("${A:-x}", {"A": ""}, "x"),
        ("${A-x}", {"A": ""}, ""),
        ("${A:-${B:-y}}", {}, "y"),
        ("${A:-${B:-y}}", {"B": "b"}, "b"),
        ("$$HOSTNAME-${A}", {"A": "a"}, "$HOSTNAME-a"),
    ],
    ids=["unset-default", "empty-default", "empty-kept", "nested", "nested-set", "escaped-dollar"],
)
def test_interpolation_follows_compose(text: str, env: dict[str, str], expected: str) -> None:
    """Values are read the way compose reads them, so the checks see what containers get."""
    assert interpolate(text, env) == expected


def _set_command(service: str, index: int, value: str) -> Callable[[dict[str, Any]], None]:
    def mutate(compose: dict[str, Any]) -> None:
        compose["services"][service]["command"][index] = value

    return mutate


def _set(service: str, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(compose: dict[str, Any]) -> None:
        compose["services"][service][key] = value

    return mutate


def _add_env(service: str, name: str, value: str) -> Callable[[dict[str, Any]], None]:
    def mutate(compose: dict[str, Any]) -> None:
        compose["services"][service]["environment"][name] = value

    return mutate


def _drop(service: str, key: str) -> Callable[[dict[str, Any]], None]:
    def mutate(compose: dict[str, Any]) -> None:
        del compose["services"][service][key]

    return mutate


def _depend(service: str, target: str) -> Callable[[dict[str, Any]], None]:
    def mutate(compose: dict[str, Any]) -> None:
        compose["services"][service]["depends_on"][target] = {"condition": "service_started"}

    return mutate


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (_set_command("listener", 2, "listenr"), "python -m listenr: no such module"),
        (_set_command("listener", 2, "shared"), "python -m shared: the package has no __main__"),
        (_add_env("worker-route", "LEADFLEET_REDIS__URLL", "redis://x"), "LEADFLEET_REDIS__URLL"),
        (_add_env("listener", "LEADFLEET_LISTENR__HTTP_PORT", "1"), "LEADFLEET_LISTENR__HTTP_PORT"),
        (_set_command("worker-route", 2, "workers.ap"), "cannot import workers.ap"),
        (_set_command("worker-route", 3, "wroker"), "celery wroker: no such celery command"),
        (_set_command("worker-route", 4, "--queue-name"), "No such option"),
        (_set_command("worker-route", 5, "lead.rout"), "unknown queue 'lead.rout'"),
        (_set_command("worker-route", 7, "thread"), "Invalid value for '-P'"),
        (_set_command("worker-route", 13, "workers.metrix"), "--include workers.metrix"),
        (_set_command("beat", 5, "redbeat.RedBeat"), "cannot import it"),
        (_set_command("simulator", 3, "--hots"), "arguments rejected"),
        (_set("worker-route", "stop_grace_period", "20s"), "stop_grace_period"),
        (_drop("listener", "healthcheck"), "listener: no healthcheck"),
        (_drop("grafana", "restart"), "grafana: no restart policy"),
        (_depend("listener", "postgres"), "depends on postgres"),
        (_depend("beat", "simulator"), "mark it required: false"),
        (_set("worker-route", "ports", ["9999:9999"]), "scaled service cannot publish"),
        (_set("flower", "ports", ["5556:5555"]), "publishes Flower"),
        (_set("prometheus", "ports", ["127.0.0.1:3000:9090"]), "also published by"),
        (_set("redis", "volumes", ["redis-state:/data"]), "volume redis-state is not declared"),
        (_set("redis", "command", ["redis-server"]), "maxmemory-policy is not noeviction"),
        (_set("listener", "build", {"context": ".", "target": "final"}), "is not a stage"),
    ],
    ids=[
        "bad-module",
        "package-without-main",
        "bad-setting-name",
        "bad-setting-section",
        "bad-celery-app",
        "bad-celery-command",
        "bad-celery-option",
        "unknown-queue",
        "bad-pool",
        "bad-include",
        "bad-beat-scheduler",
        "bad-simulator-flag",
        "grace-below-soft-shutdown",
        "missing-healthcheck",
        "missing-restart",
        "missing-dependency",
        "required-demo-dependency",
        "scaled-worker-publishes",
        "flower-published",
        "port-published-twice",
        "undeclared-volume",
        "evicting-redis",
        "unknown-build-stage",
    ],
)
def test_validator_reports_a_broken_compose(
    mutate: Callable[[dict[str, Any]], None], expected: str
) -> None:
    """A broken command, setting, dependency, port, volume or policy is reported, naming it."""
    compose = copy.deepcopy(load_compose())
    mutate(compose)
    problems = compose_problems(compose)
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("USER leadfleet", "USER root", "runs as root"),
        (
            "COPY --from=build /opt/leadfleet",
            "COPY --from=builder /opt/leadfleet",
            "--from=builder",
        ),
        ("useradd", "true", "never creates user leadfleet"),
    ],
    ids=["root-user", "unknown-stage", "user-never-created"],
)
def test_validator_reports_a_broken_dockerfile(old: str, new: str, expected: str) -> None:
    """A Dockerfile that runs as root, copies from a missing stage or lacks its user is reported."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert old in text
    problems = dockerfile_problems(text.replace(old, new))
    assert any(expected in problem for problem in problems), problems


def test_build_context_keeps_secrets_out_and_the_entry_point_in() -> None:
    """.env, keys and local state never reach the image; the entry point script does."""
    patterns = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    for secret in (".env", "*.pem", "*.key", "secrets", "state", ".git"):
        assert secret in patterns, secret
    assert "!deploy/docker-entrypoint.sh" in patterns
    assert patterns.index("deploy/*") < patterns.index("!deploy/docker-entrypoint.sh")


@pytest.mark.parametrize(
    ("configured", "expected"),
    [({}, "https://simulator:8443"), ({"LEADFLEET_SALESFORCE__CONSUMER_KEY": "3MVG9-real"}, "")],
    ids=["no-org-uses-simulator", "org-in-env-wins"],
)
def test_entrypoint_reads_the_simulators_settings_only_without_an_org(
    tmp_path: Path, configured: dict[str, str], expected: str
) -> None:
    """The demo's settings file applies when no org is configured; a real org's .env always wins."""
    settings_file = tmp_path / "leadfleet.env"
    settings_file.write_text(
        "LEADFLEET_SALESFORCE__LOGIN_URL=https://simulator:8443\n"
        "LEADFLEET_SALESFORCE__CONSUMER_KEY='3MVG9 demo'\n",
        encoding="utf-8",
    )
    env = {"PATH": os.environ["PATH"], "SIMULATOR_SETTINGS_FILE": str(settings_file), **configured}
    show = 'printf "%s|%s" "${LEADFLEET_SALESFORCE__LOGIN_URL:-}" "$LEADFLEET_SALESFORCE__CONSUMER_KEY"'
    entrypoint = str(REPO / "deploy" / "docker-entrypoint.sh")
    result = subprocess.run(
        ["sh", entrypoint, "sh", "-c", show], env=env, capture_output=True, text=True, check=True
    )
    login_url, consumer_key = result.stdout.split("|")
    assert login_url == expected
    assert consumer_key == (configured.get("LEADFLEET_SALESFORCE__CONSUMER_KEY") or "3MVG9 demo")


def test_prometheus_scrapes_services_that_listen_there() -> None:
    """Every scrape target is a compose service listening on that port."""
    config = yaml.safe_load((REPO / "deploy" / "prometheus.yml").read_text(encoding="utf-8"))
    services = load_compose()["services"]
    listening = {
        "listener": str(ListenerSettings().http_port),
        "metrics-exporter": argv_of(services["metrics-exporter"], {})[-1],
        "flower": next(
            a.split("=")[1] for a in argv_of(services["flower"], {}) if a.startswith("--port=")
        ),
    }
    targets = [t for job in config["scrape_configs"] for c in job["static_configs"]
               for t in c["targets"]]  # fmt: skip
    assert targets
    for target in targets:
        host, port = target.split(":")
        assert host in services, target
        assert listening.get(host) == port, target
