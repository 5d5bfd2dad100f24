"""`leadfleet doctor`: check that settings, Redis, the org, its change events and S3 are ready
for the fleet, one line per check with a fix for each failure; exit 1 when any check failed.

The stream check subscribes the way the listener does (listener/connection.py): GetTopic, then
a Subscribe asking for one event from LATEST. A keepalive or an event within the window, or a
stream still open when the window closes, counts as reached; an error status does not.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated

import grpc
import requests
import typer

from listener.connection import (
    GrpcPubSub,
    PubSubAuth,
    build_channel,
    classify_stream_error,
    details_of,
    error_code_of,
    status_of,
)
from shared.diagnostics import CheckResult, TopicProbe
from shared.doctor import TokenSource, failed, run_doctor
from shared.pubsub import pubsub_api_pb2 as pb2
from shared.settings import LeadfleetSettings

EXIT_FAILED = 1
_MARKS = {"pass": "PASS", "fail": "FAIL", "warn": "WARN", "skip": "SKIP"}


class GrpcStreamProbe:
    """Subscribes briefly to topics over the Pub/Sub API, as the listener would."""

    def __init__(
        self, settings: LeadfleetSettings, tokens: TokenSource, http: requests.Session
    ) -> None:
        listener = settings.listener
        self._channel = build_channel(
            listener.pubsub_host,
            listener.pubsub_port,
            plaintext=listener.pubsub_plaintext,
            ca_bundle=settings.salesforce.ca_bundle,
        )
        auth = PubSubAuth(
            tokens,
            http=http,
            instance_url=settings.salesforce.instance_url,
            timeout=settings.salesforce.timeout_seconds,
        )
        self._pubsub = GrpcPubSub(self._channel, auth, timeout=listener.rpc_timeout_seconds)
        self._target = f"{listener.pubsub_host}:{listener.pubsub_port}"

    def probe(self, topics: Sequence[str], seconds: float) -> list[TopicProbe]:
        """Every topic probed at once; each within about `seconds`."""
        if not topics:
            return []
        with ThreadPoolExecutor(max_workers=len(topics), thread_name_prefix="doctor") as pool:
            return list(pool.map(lambda topic: self._probe(topic, seconds), topics))

    def close(self) -> None:
        """Close the channel."""
        self._pubsub.close()

    def _probe(self, topic: str, seconds: float) -> TopicProbe:
        try:
            info = self._pubsub.get_topic(topic)
        except grpc.RpcError as exc:
            return TopicProbe(topic, False, f"GetTopic at {self._target} failed: {_describe(exc)}")
        if not info.can_subscribe:
            return TopicProbe(topic, False, "the integration user may not subscribe")
        done = threading.Event()

        def requests_() -> Iterator[pb2.FetchRequest]:
            yield pb2.FetchRequest(topic_name=topic, replay_preset=pb2.LATEST, num_requested=1)
            # The stream stays open while requests may still come; the probe ends it.
            done.wait()

        call = self._pubsub.subscribe(requests_())
        timer = threading.Timer(seconds, call.cancel)
        timer.start()
        try:
            response = next(call)
        except StopIteration:
            return TopicProbe(topic, True, "the stream closed cleanly")
        except grpc.RpcError as exc:
            if status_of(exc) == grpc.StatusCode.CANCELLED:
                return TopicProbe(topic, True, f"open, no event in {seconds:g} s")
            return TopicProbe(topic, False, f"Subscribe at {self._target} failed: {_describe(exc)}")
        finally:
            timer.cancel()
            done.set()
            call.cancel()
        return TopicProbe(topic, True, "an event arrived" if response.events else "a keepalive")


def _describe(error: grpc.RpcError) -> str:
    status = status_of(error)
    code = error_code_of(error)
    kind = classify_stream_error(status, code)
    name = status.name if status is not None else "error"
    return f"{name} ({code or kind.value}): {details_of(error)}"


def _line(result: CheckResult) -> str:
    text = f"  {_MARKS[result.status]}  {result.check:<24} {result.detail}"
    if result.fix and result.status in ("fail", "warn"):
        text += f"\n        fix: {result.fix}"
    return text


def doctor(
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per check instead of text.")
    ] = False,
    subscribe_seconds: Annotated[
        float,
        typer.Option(
            "--subscribe-seconds", min=0.1, help="How long the stream check waits on each topic."
        ),
    ] = 5.0,
) -> None:
    """Check settings, Redis, the org, its change events and S3; exit 1 if any check fails."""
    results: list[CheckResult] = []
    if not as_json:
        typer.echo("leadfleet doctor")
    for result in run_doctor(stream_probe=GrpcStreamProbe, subscribe_seconds=subscribe_seconds):
        results.append(result)
        typer.echo(json.dumps(result.model_dump()) if as_json else _line(result))
    if not as_json:
        counts = {status: sum(r.status == status for r in results) for status in _MARKS}
        typer.echo(
            f"{counts['pass']} passed, {counts['fail']} failed, {counts['warn']} warnings, "
            f"{counts['skip']} skipped"
        )
    if failed(results):
        raise typer.Exit(EXIT_FAILED)


def register(app: typer.Typer) -> None:
    """Attach the `doctor` command to the main app."""
    app.command("doctor")(doctor)
