"""`leadfleet dlq`: what list shows, and replay putting a message back on its task's queue."""

from __future__ import annotations

from typing import Any

from cli.dlq import replay_entry, summary
from shared.dead_letter import DeadLetterStream
from tests.unit.workers_fakes import START, fake_redis

PAYLOAD: dict[str, Any] = {
    "schema_version": 1,
    "message_type": "lead_created",
    "event_id": "/data/LeadChangeEvent:0a:0",
    "topic": "/data/LeadChangeEvent",
    "replay_id": "0a",
    "record_id": "00Q000000000001AAA",
    "entity": "Lead",
    "change_type": "CREATE",
    "commit_timestamp": "2026-03-02T09:00:00Z",
    "commit_user": "005000000000001AAA",
    "change_origin": "",
    "transaction_key": "",
    "changed_fields": [],
    "fields": {"LastName": "Ada"},
}


class Sent:
    """A sender that records what would have been published."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str, dict[str, Any]]] = []

    def __call__(self, task: str, queue: str, payload: dict[str, Any]) -> None:
        self.messages.append((task, queue, payload))


def stream_with(task: str | None, payload: Any, source: str = "worker") -> DeadLetterStream:
    stream = DeadLetterStream(fake_redis(), "t")
    stream.add(source, "x" * 500, payload, task=task, attempts=3, first_seen=START)  # type: ignore[arg-type]
    return stream


def test_replay_sends_the_original_message_to_its_tasks_queue_and_removes_it() -> None:
    """A template dead letter goes back to outreach.template_suggest exactly as it was."""
    stream = stream_with("outreach.template_suggest", PAYLOAD)
    sent = Sent()

    problem = replay_entry(stream, stream.list()[0], sent)

    assert problem is None
    assert sent.messages == [("outreach.template_suggest", "outreach.template_suggest", PAYLOAD)]
    assert stream.length() == 0


def test_listener_dead_letters_are_not_replayed() -> None:
    """An undecodable change event has no task: it stays, with the reason it cannot replay."""
    stream = stream_with(None, b"\x00raw avro", source="listener")
    sent = Sent()

    problem = replay_entry(stream, stream.list()[0], sent)

    assert problem is not None and "no task" in problem
    assert sent.messages == [] and stream.length() == 1


def test_a_payload_that_is_no_longer_a_valid_message_is_not_replayed() -> None:
    """A payload that fails the message model would only dead-letter again."""
    stream = stream_with("lead.route", {"event_id": "e"})
    problem = replay_entry(stream, stream.list()[0], Sent())
    assert problem is not None and "not a valid queue message" in problem
    assert stream.length() == 1


def test_list_lines_shorten_the_reason_and_keep_the_facts() -> None:
    """A list line names task, attempts and times; long reasons are cut."""
    stream = stream_with("lead.route", PAYLOAD)
    line = summary(stream.list()[0])
    assert (line["task"], line["attempts"], line["source"]) == ("lead.route", 3, "worker")
    assert len(line["reason"]) <= 161
