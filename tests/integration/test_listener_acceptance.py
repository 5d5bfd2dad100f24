"""The listener against the simulator over HTTPS and gRPC/TLS, enqueueing into real Redis.

A burst of leads, completed tasks and outgoing emails made by a sales rep, mixed with decoys
(incoming emails, open tasks, and leadfleet's own writes), must give exactly one queue message
per relevant record on the right Celery queue and none for a decoy, whether it arrives over
gRPC, CometD or SOQL polling; a SIGKILLed listener misses nothing after a restart.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from simple_salesforce import Salesforce

from listener.app import Listener, Mode, build_listener
from listener.replay_store import ReplayStore
from shared.messages import AnyQueueMessage, Queue
from shared.queue_producer import peek_queue
from shared.settings import LeadfleetSettings, ListenerSettings, RedisSettings, SalesforceSettings
from simulator.testing import SimulatorHandle, running_simulator
from tests.integration.conftest import salesforce_for
from tests.integration.redis_databases import claimed_redis_url

pytestmark = pytest.mark.integration

REDIS_HOST = "127.0.0.1"
TOPICS = ("/data/LeadChangeEvent", "/data/TaskChangeEvent", "/data/EmailMessageChangeEvent")
OWN_WRITE = {"Sforce-Call-Options": "client=leadfleet"}
ROOT = Path(__file__).resolve().parents[2]
MessageKey = tuple[str, str, str | None]


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cdc_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorHandle]:
    """A simulator of our own: keepalives every 0.2 s and short CometD polls keep tests fast."""
    with running_simulator(
        tmp_path_factory.mktemp("cdc-sim"),
        pubsub_keepalive_seconds=0.2,
        cometd_timeout_seconds=1.0,
    ) as handle:
        yield handle


@pytest.fixture
def redis_url() -> Iterator[str]:
    with claimed_redis_url() as url:
        yield url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings_for(sim: SimulatorHandle, redis_url: str, **listener: Any) -> LeadfleetSettings:
    host, port = sim.pubsub_target.rsplit(":", 1)
    options: dict[str, Any] = {
        "pubsub_host": host,
        "pubsub_port": int(port),
        "http_port": 0,
        "poll_interval_seconds": 0.5,
        "reconnect_backoff_base_seconds": 0.1,
        "reconnect_backoff_cap_seconds": 0.5,
    }
    options.update(listener)
    return LeadfleetSettings(
        salesforce=SalesforceSettings(
            login_url=sim.login_url,
            consumer_key=sim.consumer_key,
            username=sim.username,
            private_key_path=sim.private_key_path,
            ca_bundle=sim.ca_bundle,
        ),
        redis=RedisSettings(url=redis_url, key_prefix=f"t-{uuid.uuid4().hex[:8]}"),
        listener=ListenerSettings(**options),
    )


def settings_env(settings: LeadfleetSettings) -> dict[str, str]:
    """The same settings as LEADFLEET_ environment variables, for a subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADFLEET_")}
    sf, rd, ls = settings.salesforce, settings.redis, settings.listener
    env.update(
        {
            "LEADFLEET_SALESFORCE__LOGIN_URL": sf.login_url,
            "LEADFLEET_SALESFORCE__CONSUMER_KEY": sf.consumer_key.get_secret_value(),
            "LEADFLEET_SALESFORCE__USERNAME": sf.username,
            "LEADFLEET_SALESFORCE__PRIVATE_KEY_PATH": str(sf.private_key_path),
            "LEADFLEET_SALESFORCE__CA_BUNDLE": str(sf.ca_bundle),
            "LEADFLEET_REDIS__URL": rd.url,
            "LEADFLEET_REDIS__KEY_PREFIX": rd.key_prefix,
            "LEADFLEET_LISTENER__PUBSUB_HOST": ls.pubsub_host,
            "LEADFLEET_LISTENER__PUBSUB_PORT": str(ls.pubsub_port),
            "LEADFLEET_LISTENER__HTTP_PORT": str(ls.http_port),
            "LEADFLEET_LISTENER__BATCH_SIZE": str(ls.batch_size),
            "LEADFLEET_LISTENER__RECONNECT_BACKOFF_BASE_SECONDS": "0.1",
            "LEADFLEET_LISTENER__RECONNECT_BACKOFF_CAP_SECONDS": "0.5",
        }
    )
    return env


def wait_until(predicate: Callable[[], bool], timeout: float = 60.0, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return predicate()


def queued(redis_url: str) -> list[AnyQueueMessage]:
    """Every message on every Celery queue of the database, read straight from Redis."""
    client = redis.Redis.from_url(redis_url)
    return [message for queue in Queue for message in peek_queue(client, queue)]


def key_of(message: AnyQueueMessage) -> MessageKey:
    """(queue, record id, lead id): what must match across modes (event ids may differ)."""
    record_id = getattr(message, "record_id", "")
    lead_id = getattr(message, "lead_id", record_id)
    return (message.queue.value, record_id, lead_id)


@contextmanager
def running(settings: LeadfleetSettings, mode: Mode = "grpc") -> Iterator[Listener]:
    listener = build_listener(settings, mode)
    listener.start()
    try:
        assert wait_until(lambda: ready(listener), timeout=30), f"{mode} listener never ready"
        yield listener
    finally:
        listener.stop(grace_seconds=5)


def ready(listener: Listener) -> bool:
    return listener.health is not None and listener.health.readiness().ready


# -- the burst -----------------------------------------------------------------------------


@dataclass
class Burst:
    """Records created for a test: what must give a message, and what must not."""

    expected: set[MessageKey] = field(default_factory=set)
    decoys: set[str] = field(default_factory=set)
    leads: list[str] = field(default_factory=list)


def create(
    sf: Salesforce, records: Sequence[dict[str, Any]], headers: dict[str, str] | None = None
) -> list[str]:
    """Insert records through sObject Collections, 200 per request."""
    ids: list[str] = []
    for start in range(0, len(records), 200):
        results = sf.restful(
            "composite/sobjects",
            method="POST",
            json={"allOrNone": True, "records": list(records[start : start + 200])},
            headers=headers or {},
        )
        ids += [str(result["id"]) for result in results]
    return ids


def rep_session(sim: SimulatorHandle) -> Salesforce:
    """simple-salesforce as an active sales rep (not the integration user leadfleet writes as)."""
    admin = salesforce_for(sim)
    users = admin.query("SELECT Id, Username FROM User WHERE IsActive = true")["records"]
    rep = next(u["Username"] for u in users if u["Username"] != sim.username)
    return salesforce_for(sim, sim.access_token(rep))


def lead(i: int, tag: str) -> dict[str, Any]:
    return {"attributes": {"type": "Lead"}, "LastName": f"{tag}{i}", "Company": f"Co {i}",
            "Email": f"{tag.lower()}{i}@example.com", "Country": "United States",
            "NumberOfEmployees": 50 + i}  # fmt: skip


def task(who: str, status: str = "Completed", kind: str = "Call") -> dict[str, Any]:
    return {"attributes": {"type": "Task"}, "WhoId": who, "Status": status, "Type": kind,
            "Subject": f"{kind} with lead"}  # fmt: skip


def email(related: str, *, incoming: bool) -> dict[str, Any]:
    return {"attributes": {"type": "EmailMessage"}, "RelatedToId": related, "Incoming": incoming,
            "Status": "3", "Subject": "Hello", "FromAddress": "rep@example.com",
            "ToAddress": "lead@example.com"}  # fmt: skip


def create_burst(sim: SimulatorHandle, *, leads: int, tasks: int, emails: int) -> Burst:
    """Decoys first, then the relevant records, so a topic drained of these is drained of those."""
    rep, own = rep_session(sim), salesforce_for(sim)
    burst = Burst()
    tag = uuid.uuid4().hex[:6]
    own_leads = create(own, [lead(i, f"Own{tag}") for i in range(10)], OWN_WRITE)
    burst.decoys |= set(own_leads)
    burst.leads = create(rep, [lead(i, f"Rep{tag}") for i in range(leads)])
    burst.expected |= {(Queue.LEAD_ROUTE.value, lid, lid) for lid in burst.leads}
    burst.decoys |= set(create(rep, [task(lid, status="Not Started") for lid in burst.leads[:20]]))
    burst.decoys |= set(create(own, [task(lid) for lid in burst.leads[:10]], OWN_WRITE))
    burst.decoys |= set(create(rep, [email(lid, incoming=True) for lid in burst.leads[:20]]))
    burst.decoys |= set(
        create(own, [email(lid, incoming=False) for lid in burst.leads[:10]], OWN_WRITE)
    )
    kinds = ("Call", "Email", "Meeting")
    whos = [burst.leads[i % leads] for i in range(tasks)]
    task_ids = create(rep, [task(who, kind=kinds[i % 3]) for i, who in enumerate(whos)])
    burst.expected |= {
        (Queue.FIRST_TOUCH_DETECT.value, tid, who) for tid, who in zip(task_ids, whos, strict=True)
    }
    related = burst.leads[:emails]
    email_ids = create(rep, [email(lid, incoming=False) for lid in related])
    burst.expected |= {
        (Queue.FIRST_TOUCH_DETECT.value, eid, lid)
        for eid, lid in zip(email_ids, related, strict=True)
    }
    return burst  # fmt: skip


def assert_exactly_once(messages: list[AnyQueueMessage], burst: Burst, mode: str) -> None:
    keys = Counter(key_of(m) for m in messages)
    mine = {
        key: n for key, n in keys.items() if key[1] in {k[1] for k in burst.expected} | burst.decoys
    }
    assert set(mine) == burst.expected, f"{mode}: messages differ from the relevant records"
    assert [key for key, n in mine.items() if n > 1] == [], f"{mode}: duplicated messages"
    assert not {key[1] for key in keys} & burst.decoys, f"{mode}: a decoy gave a message"  # fmt: skip


def drained(settings: LeadfleetSettings, sim: SimulatorHandle) -> bool:
    """Every topic's checkpoint reached the newest event (keepalives carry the global latest)."""
    store = ReplayStore(redis.Redis.from_url(settings.redis.url), settings.redis.key_prefix)
    latest = sim.change_log_position().to_bytes(8, "big") + b"\x00\x00"
    return all(store.get(topic) == latest for topic in TOPICS)


# -- tests ---------------------------------------------------------------------------------


def test_a_burst_gives_one_message_per_relevant_record_in_every_mode(
    cdc_sim: SimulatorHandle,
) -> None:
    """500 leads and 500 completed tasks (plus emails and decoys): the same messages over
    gRPC, CometD and polling, exactly once each, none for decoys or leadfleet's own writes."""
    with (
        claimed_redis_url() as grpc_db,
        claimed_redis_url() as cometd_db,
        claimed_redis_url() as poll_db,
    ):
        modes: dict[Mode, LeadfleetSettings] = {
            "grpc": settings_for(cdc_sim, grpc_db),
            "cometd": settings_for(cdc_sim, cometd_db),
            "poll": settings_for(cdc_sim, poll_db),
        }
        with (
            running(modes["grpc"], "grpc"),
            running(modes["cometd"], "cometd"),
            running(modes["poll"], "poll"),
        ):
            burst = create_burst(cdc_sim, leads=500, tasks=500, emails=50)
            for mode, settings in modes.items():
                url = settings.redis.url
                assert wait_until(
                    lambda url=url: burst.expected <= {key_of(m) for m in queued(url)}, timeout=90
                ), f"{mode}: not every relevant record was enqueued"
            assert wait_until(lambda: drained(modes["grpc"], cdc_sim), timeout=30)
        results = {mode: queued(settings.redis.url) for mode, settings in modes.items()}
    for mode, messages in results.items():
        assert_exactly_once(messages, burst, mode)
    grpc_keys = {key_of(m) for m in results["grpc"]}
    assert {key_of(m) for m in results["cometd"]} == grpc_keys
    assert {key_of(m) for m in results["poll"]} == grpc_keys
    assert {m.queue for m in results["grpc"]} == {Queue.LEAD_ROUTE, Queue.FIRST_TOUCH_DETECT}  # fmt: skip


def test_a_sigkilled_listener_misses_nothing_after_restart(
    cdc_sim: SimulatorHandle, redis_url: str
) -> None:
    """SIGKILL in the middle of a burst, restart: every relevant record is enqueued, and only
    events after the last stored checkpoint come twice."""
    settings = settings_for(cdc_sim, redis_url, http_port=free_port(), batch_size=5)
    env = settings_env(settings)
    store = ReplayStore(redis.Redis.from_url(redis_url), settings.redis.key_prefix)

    def start() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-m", "listener"], cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        url = f"http://127.0.0.1:{settings.listener.http_port}/readyz"
        assert wait_until(lambda: _ok(url), timeout=30), "the listener never became ready"
        return process

    process = start()
    try:
        burst = create_burst(cdc_sim, leads=300, tasks=200, emails=0)
        lead_queue = redis.Redis.from_url(redis_url)
        assert wait_until(
            lambda: lead_queue.llen(Queue.LEAD_ROUTE.value) >= 20, timeout=30, every=0.002
        )
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        killed_at = {topic: store.get(topic) for topic in TOPICS}
        enqueued_before = len(queued(redis_url))
        later = create_burst(cdc_sim, leads=50, tasks=50, emails=0)
        process = start()
        expected = burst.expected | later.expected
        assert wait_until(lambda: expected <= {key_of(m) for m in queued(redis_url)}, timeout=90)
        assert wait_until(lambda: drained(settings, cdc_sim), timeout=30)
    finally:
        process.send_signal(signal.SIGTERM)
        exit_code = process.wait(timeout=30)
    assert exit_code == 0, "SIGTERM did not stop the listener cleanly"
    messages = queued(redis_url)
    assert enqueued_before < len(burst.expected), "the kill came after the burst was done"
    assert {key_of(m) for m in messages} == expected
    counts = Counter(key_of(m) for m in messages)
    for message in messages:
        if counts[key_of(message)] > 1:
            checkpoint = killed_at[message.topic] or b""
            assert bytes.fromhex(getattr(message, "replay_id", "")) > checkpoint, (
                f"{message.event_id} came twice though it was before the checkpoint"
            )


def _ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def test_health_readiness_and_metrics_endpoints(cdc_sim: SimulatorHandle, redis_url: str) -> None:
    """/healthz answers, /readyz is 200 once streams are live, /metrics counts what happened."""
    settings = settings_for(cdc_sim, redis_url)
    with running(settings) as listener:
        assert listener.health is not None
        base = f"http://127.0.0.1:{listener.health.port}"
        rep = rep_session(cdc_sim)
        [lead_id] = create(rep, [lead(1, "Metrics")])
        create(salesforce_for(cdc_sim), [lead(2, "Own")], OWN_WRITE)
        assert wait_until(lambda: any(key_of(m)[1] == lead_id for m in queued(redis_url)))
        assert wait_until(lambda: drained(settings, cdc_sim), timeout=30)

        health = requests.get(f"{base}/healthz", timeout=5)
        readiness = requests.get(f"{base}/readyz", timeout=5)
        metrics = requests.get(f"{base}/metrics", timeout=5).text
    assert health.status_code == 200
    assert (readiness.status_code, readiness.json()["failing"]) == (200, [])
    lead_topic = 'topic="/data/LeadChangeEvent"'
    assert (
        f'leadfleet_listener_events_received_total{{change_type="CREATE",{lead_topic}}} 2.0'
        in metrics
    )
    assert (
        'leadfleet_listener_messages_dispatched_total{change_type="CREATE",queue="lead.route",'
        f"{lead_topic}}} 1.0"
    ) in metrics
    assert (
        f'leadfleet_listener_changes_dropped_total{{change_type="CREATE",reason="own_echo",{lead_topic}}} 1.0'
        in metrics
    )
    assert f"leadfleet_listener_checkpoint_age_seconds{{{lead_topic}}}" in metrics
    assert "leadfleet_listener_enqueue_latency_seconds_count 1.0" in metrics
    assert f"leadfleet_listener_stream_connected{{{lead_topic}}} 1.0" in metrics  # fmt: skip


def test_readyz_names_the_failing_checks(cdc_sim: SimulatorHandle) -> None:
    """With Redis unreachable the listener is alive but not ready, and says why."""
    settings = settings_for(cdc_sim, f"redis://127.0.0.1:{free_port()}/0")
    listener = build_listener(settings, "grpc")
    listener.start()
    try:
        assert listener.health is not None
        base = f"http://127.0.0.1:{listener.health.port}"
        health = requests.get(f"{base}/healthz", timeout=5)
        readiness = requests.get(f"{base}/readyz", timeout=10)
    finally:
        listener.stop(grace_seconds=5)
    assert health.status_code == 200
    assert readiness.status_code == 503
    assert "redis: unreachable" in readiness.json()["failing"]


def test_a_malformed_event_is_dead_lettered_and_the_pipeline_keeps_going(
    cdc_sim: SimulatorHandle, redis_url: str
) -> None:
    """Bad Avro and an unknown schema id (schemas from the real GetSchema) go to the dead-letter
    stream with raw bytes, topic, replay id and reason; the next good event is still enqueued."""
    import io

    import fastavro

    from listener.connection import GrpcPubSub, PubSubAuth, build_channel
    from listener.decode import EventDecoder
    from listener.metrics import ListenerMetrics
    from listener.pipeline import Pipeline, RawEvent
    from listener.recovery import Recovery, SalesforceRecordReader
    from shared.dead_letter import DeadLetterStream
    from shared.queue_producer import build_producer
    from shared.salesforce.auth import JwtBearerAuth
    from shared.salesforce.wire import build_http_session

    settings = settings_for(cdc_sim, redis_url)
    client = redis.Redis.from_url(redis_url)
    prefix = settings.redis.key_prefix
    http = build_http_session(settings.salesforce)
    auth = JwtBearerAuth(settings.salesforce, client, key_prefix=prefix, http=http)
    channel = build_channel(
        settings.listener.pubsub_host, settings.listener.pubsub_port,
        plaintext=False, ca_bundle=settings.salesforce.ca_bundle,
    )  # fmt: skip
    pubsub = GrpcPubSub(channel, PubSubAuth(auth, http=http), timeout=10)
    dead_letters = DeadLetterStream(client, prefix)
    producer = build_producer(settings.redis)
    pipeline = Pipeline(
        decoder=EventDecoder(pubsub), producer=producer, dead_letters=dead_letters,
        recovery=Recovery(SalesforceRecordReader(settings.salesforce, auth, http=http)),
        metrics=ListenerMetrics(), own_client="leadfleet", overflow_margin=timedelta(minutes=10),
    )  # fmt: skip
    topic = "/data/LeadChangeEvent"
    schema_id = pubsub.get_topic(topic).schema_id
    schema = pipeline.decoder.schema(schema_id)
    lead_id = rep_session(cdc_sim).Lead.create({"LastName": "Good", "Company": "Acme"})["id"]
    record: dict[str, Any] = {f["name"]: None for f in schema.schema["fields"]}
    record["ChangeEventHeader"] = {
        "entityName": "Lead", "recordIds": [lead_id], "changeType": "CREATE",
        "changeOrigin": "com/salesforce/api/rest/62.0", "transactionKey": "t", "sequenceNumber": 1,
        "commitTimestamp": int(time.time() * 1000), "commitNumber": 1,
        "commitUser": cdc_sim.user_id, "nulledFields": [], "diffFields": [], "changedFields": [],
    }  # fmt: skip
    good = io.BytesIO()
    fastavro.schemaless_writer(good, schema.parsed, record)
    try:
        outcomes = [
            pipeline.process(
                topic, RawEvent(schema_id, b"\x02\xff\xfe\xfd", b"\x00" * 9 + b"\x01")
            ),
            pipeline.process(
                topic, RawEvent("AAAAAAAAAAAAAAAAAAAAAA", b"\x00", b"\x00" * 9 + b"\x02")
            ),
            pipeline.process(topic, RawEvent(schema_id, good.getvalue(), b"\x00" * 9 + b"\x03")),
        ]
    finally:
        producer.close()
        pubsub.close()
    letters = dead_letters.list()
    payloads = [letter.original_payload() for letter in letters]
    assert [o.dead_lettered for o in outcomes] == [1, 1, 0]
    assert [p["replay_id"] for p in payloads] == ["00000000000000000001", "00000000000000000002"]  # type: ignore[index]
    assert payloads[0] == {
        "topic": topic, "replay_id": "00000000000000000001", "schema_id": schema_id,
        "event_id": "", "payload_base64": "Av/+/Q==",
    }  # fmt: skip
    assert "does not decode" in letters[0].reason
    assert "unknown schema id" in letters[1].reason
    assert [key_of(m) for m in queued(redis_url)] == [("lead.route", lead_id, lead_id)]


def test_gaps_overflows_and_an_expired_checkpoint_are_recovered_by_query(
    cdc_sim: SimulatorHandle, redis_url: str
) -> None:
    """GAP_CREATE re-reads its leads by id; GAP_OVERFLOW reconciles tasks over its window; a
    checkpoint past retention reconciles the lost window, then the stream resumes at LATEST."""
    settings = settings_for(cdc_sim, redis_url)
    own, rep = salesforce_for(cdc_sim), rep_session(cdc_sim)

    def event_ids() -> set[str]:
        return {m.event_id for m in queued(redis_url)}

    with running(settings):
        # Own writes give no message of their own, so what arrives comes from recovery.
        silent_leads = create(own, [lead(i, "Gap") for i in range(3)], OWN_WRITE)
        silent_tasks = create(
            own, [task(silent_leads[0]), task(silent_leads[1], kind="Meeting")], OWN_WRITE
        )
        cdc_sim.inject_gap("Lead", "GAP_CREATE", silent_leads[:2])
        cdc_sim.inject_gap_overflow("Task")
        reread = {f"reread:Lead:{lid}" for lid in silent_leads[:2]}
        reconciled = {f"reconcile:Task:{tid}" for tid in silent_tasks}
        assert wait_until(
            lambda: all(
                any(e.startswith(p + ":") for e in event_ids()) for p in reread | reconciled
            ),
            timeout=30,
        )
        assert wait_until(lambda: drained(settings, cdc_sim), timeout=30)
    messages = queued(redis_url)
    assert silent_leads[2] not in {key_of(m)[1] for m in messages}
    assert {key_of(m) for m in messages if m.event_id.startswith("reconcile:Task:")} >= {
        ("lead.first_touch_detect", silent_tasks[0], silent_leads[0]),
        ("lead.first_touch_detect", silent_tasks[1], silent_leads[1]),
    }

    [missed] = create(rep, [lead(1, "Expired")])
    cdc_sim.expire_events()
    with running(settings):
        assert wait_until(
            lambda: any(e.startswith(f"reconcile:Lead:{missed}") for e in event_ids()), timeout=30
        )
        [after] = create(rep, [lead(2, "AfterExpiry")])
        assert wait_until(lambda: after in {key_of(m)[1] for m in queued(redis_url)}, timeout=30)
