"""`leadfleet dlq`: list, show, replay and purge the dead-letter stream.

A worker's dead letter holds the task name and its queue message exactly as it was sent, so
replay puts that message back on its task's queue and removes the entry. The listener's dead
letters (change events it could not decode) have no task to replay to; they can be shown and
purged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from redis import Redis

from shared.dead_letter import DeadLetter, DeadLetterStream
from shared.messages import TASK_QUEUES, TaskName, parse_queue_message
from shared.settings import get_settings

app = typer.Typer(
    help="Inspect and replay messages the fleet gave up on.",
    no_args_is_help=True,
)

REASON_SHOWN = 160
EXIT_NOT_FOUND = 1
EXIT_NOT_REPLAYABLE = 1

Sender = Callable[[str, str, dict[str, Any]], None]


def _stream() -> DeadLetterStream:
    settings = get_settings()
    timeout = settings.redis.socket_timeout_seconds
    redis = Redis.from_url(
        settings.redis.url, socket_timeout=timeout, socket_connect_timeout=timeout
    )
    return DeadLetterStream(
        redis, settings.redis.key_prefix, max_length=settings.workers.dead_letter_max_length
    )


def _celery_sender() -> Sender:
    """Publish by task name on the fleet's broker (the worker app's configuration)."""
    from workers.app import create_app

    celery_app = create_app(get_settings())

    def send(task: str, queue: str, payload: dict[str, Any]) -> None:
        celery_app.send_task(task, args=[payload], queue=queue, serializer="json")

    return send


def summary(entry: DeadLetter) -> dict[str, Any]:
    """One line of `dlq list`: where it came from, which task, how often, why (shortened)."""
    reason = (
        entry.reason if len(entry.reason) <= REASON_SHOWN else entry.reason[:REASON_SHOWN] + "…"
    )
    return {
        "id": entry.id,
        "source": entry.source,
        "task": entry.task,
        "attempts": entry.attempts,
        "first_seen": entry.first_seen.isoformat(),
        "last_seen": entry.last_seen.isoformat(),
        "reason": reason,
    }


def replay_entry(stream: DeadLetterStream, entry: DeadLetter, send: Sender) -> str | None:
    """Re-send a worker's message to its task's queue and delete the entry; else why not."""
    if entry.source != "worker" or entry.task is None:
        return f"{entry.id}: a {entry.source} dead letter has no task to replay to"
    try:
        task = TaskName(entry.task)
    except ValueError:
        return f"{entry.id}: unknown task {entry.task!r}"
    payload = entry.original_payload()
    if not isinstance(payload, dict):
        return f"{entry.id}: the payload is not a queue message"
    try:
        parse_queue_message(json.dumps(payload))
    except ValidationError as exc:
        return f"{entry.id}: the payload is not a valid queue message ({exc.error_count()} errors)"
    send(task.value, TASK_QUEUES[task].value, payload)
    stream.delete(entry.id)
    return None


@app.command("list")
def list_entries(
    count: Annotated[int, typer.Option("--count", "-n", min=1, help="Most entries shown.")] = 100,
) -> None:
    """Print one JSON line per dead letter, oldest first."""
    for entry in _stream().list(count):
        typer.echo(json.dumps(summary(entry)))


@app.command("show")
def show(entry_id: Annotated[str, typer.Argument(help="The entry id from `dlq list`.")]) -> None:
    """Print one dead letter in full, payload included."""
    try:
        entry = _stream().get(entry_id)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if entry is None:
        typer.echo(f"no dead letter {entry_id}", err=True)
        raise typer.Exit(EXIT_NOT_FOUND)
    shown = entry.model_dump(mode="json")
    shown["payload"] = (
        entry.original_payload() if entry.payload_encoding != "base64" else entry.payload
    )
    typer.echo(json.dumps(shown, indent=2))


@app.command("replay")
def replay(
    entry_id: Annotated[str | None, typer.Argument(help="The entry id to replay.")] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Replay every worker entry.")] = False,
) -> None:
    """Put dead-lettered messages back on their task's queue and remove them from the stream."""
    if (entry_id is None) == (not replay_all):
        raise typer.BadParameter("give an entry ID or --all, not both")
    stream = _stream()
    if entry_id is not None:
        try:
            found = stream.get(entry_id)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        if found is None:
            typer.echo(f"no dead letter {entry_id}", err=True)
            raise typer.Exit(EXIT_NOT_FOUND)
        entries = [found]
    else:
        entries = stream.list(stream.length() or 1)
    send = _celery_sender()
    failed = False
    for entry in entries:
        problem = replay_entry(stream, entry, send)
        if problem is None:
            typer.echo(f"replayed {entry.id} to {entry.task}")
        else:
            failed = True
            typer.echo(problem, err=True)
    if failed:
        raise typer.Exit(EXIT_NOT_REPLAYABLE)


@app.command("purge")
def purge(
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: delete every entry.")] = False,
) -> None:
    """Delete every dead letter."""
    if not yes:
        typer.echo("purge deletes every dead letter; add --yes to confirm", err=True)
        raise typer.Exit(2)
    typer.echo(f"purged {_stream().purge()} dead letter(s)")
