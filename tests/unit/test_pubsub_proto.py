"""The generated Pub/Sub API modules carry Salesforce's exact wire format (eventbus.v1)."""

from __future__ import annotations

import pytest
from google.protobuf.descriptor import FieldDescriptor

from shared.pubsub import pubsub_api_pb2, pubsub_api_pb2_grpc

_T = FieldDescriptor
STRING, BYTES, BOOL, INT32, INT64 = (
    _T.TYPE_STRING,
    _T.TYPE_BYTES,
    _T.TYPE_BOOL,
    _T.TYPE_INT32,
    _T.TYPE_INT64,
)
ENUM, MESSAGE = _T.TYPE_ENUM, _T.TYPE_MESSAGE

# (field name, number, type, repeated) per message, as Salesforce's pubsub_api.proto defines them.
MESSAGES: dict[str, list[tuple[str, int, int, bool]]] = {
    "TopicRequest": [("topic_name", 1, STRING, False)],
    "TopicInfo": [
        ("topic_name", 1, STRING, False),
        ("tenant_guid", 2, STRING, False),
        ("can_publish", 3, BOOL, False),
        ("can_subscribe", 4, BOOL, False),
        ("schema_id", 5, STRING, False),
        ("rpc_id", 6, STRING, False),
    ],
    "EventHeader": [("key", 1, STRING, False), ("value", 2, BYTES, False)],
    "ProducerEvent": [
        ("id", 1, STRING, False),
        ("schema_id", 2, STRING, False),
        ("payload", 3, BYTES, False),
        ("headers", 4, MESSAGE, True),
    ],
    "ConsumerEvent": [("event", 1, MESSAGE, False), ("replay_id", 2, BYTES, False)],
    "PublishResult": [
        ("replay_id", 1, BYTES, False),
        ("error", 2, MESSAGE, False),
        ("correlation_key", 3, STRING, False),
    ],
    "Error": [("code", 1, ENUM, False), ("msg", 2, STRING, False)],
    "FetchRequest": [
        ("topic_name", 1, STRING, False),
        ("replay_preset", 2, ENUM, False),
        ("replay_id", 3, BYTES, False),
        ("num_requested", 4, INT32, False),
        ("auth_refresh", 5, STRING, False),
    ],
    "FetchResponse": [
        ("events", 1, MESSAGE, True),
        ("latest_replay_id", 2, BYTES, False),
        ("rpc_id", 3, STRING, False),
        ("pending_num_requested", 4, INT32, False),
    ],
    "SchemaRequest": [("schema_id", 1, STRING, False)],
    "SchemaInfo": [
        ("schema_json", 1, STRING, False),
        ("schema_id", 2, STRING, False),
        ("rpc_id", 3, STRING, False),
    ],
    "PublishRequest": [
        ("topic_name", 1, STRING, False),
        ("events", 2, MESSAGE, True),
        ("auth_refresh", 3, STRING, False),
    ],
    "PublishResponse": [
        ("results", 1, MESSAGE, True),
        ("schema_id", 2, STRING, False),
        ("rpc_id", 3, STRING, False),
    ],
    "ManagedFetchRequest": [
        ("subscription_id", 1, STRING, False),
        ("developer_name", 2, STRING, False),
        ("num_requested", 3, INT32, False),
        ("auth_refresh", 4, STRING, False),
        ("commit_replay_id_request", 5, MESSAGE, False),
    ],
    "ManagedFetchResponse": [
        ("events", 1, MESSAGE, True),
        ("latest_replay_id", 2, BYTES, False),
        ("rpc_id", 3, STRING, False),
        ("pending_num_requested", 4, INT32, False),
        ("commit_response", 5, MESSAGE, False),
    ],
    "CommitReplayRequest": [
        ("commit_request_id", 1, STRING, False),
        ("replay_id", 2, BYTES, False),
    ],
    "CommitReplayResponse": [
        ("commit_request_id", 1, STRING, False),
        ("replay_id", 2, BYTES, False),
        ("error", 3, MESSAGE, False),
        ("process_time", 4, INT64, False),
    ],
}


@pytest.mark.parametrize("message", sorted(MESSAGES), ids=str)
def test_message_fields_match_salesforce_numbers_and_types(message: str) -> None:
    """Every field has Salesforce's number and type, so bytes on the wire mean the same thing."""
    descriptor = pubsub_api_pb2.DESCRIPTOR.message_types_by_name[message]
    actual = [
        (f.name, f.number, f.type, f.is_repeated)
        for f in sorted(descriptor.fields, key=lambda f: f.number)
    ]
    assert actual == MESSAGES[message]


def test_package_enums_and_no_extra_messages() -> None:
    """Package eventbus.v1, the two enums with their values, and nothing Salesforce lacks."""
    file = pubsub_api_pb2.DESCRIPTOR
    assert file.package == "eventbus.v1"
    assert set(file.message_types_by_name) == set(MESSAGES)
    assert {v.name: v.number for v in file.enum_types_by_name["ReplayPreset"].values} == {
        "LATEST": 0,
        "EARLIEST": 1,
        "CUSTOM": 2,
    }
    assert {v.name: v.number for v in file.enum_types_by_name["ErrorCode"].values} == {
        "UNKNOWN": 0,
        "PUBLISH": 1,
        "COMMIT": 2,
    }


def test_service_methods_and_streaming_shape() -> None:
    """PubSub has the six RPCs with Salesforce's request, response and streaming directions."""
    service = pubsub_api_pb2.DESCRIPTOR.services_by_name["PubSub"]
    shape = {
        m.name: (m.input_type.name, m.output_type.name, m.client_streaming, m.server_streaming)
        for m in service.methods
    }
    assert shape == {
        "Subscribe": ("FetchRequest", "FetchResponse", True, True),
        "GetSchema": ("SchemaRequest", "SchemaInfo", False, False),
        "GetTopic": ("TopicRequest", "TopicInfo", False, False),
        "Publish": ("PublishRequest", "PublishResponse", False, False),
        "PublishStream": ("PublishRequest", "PublishResponse", True, True),
        "ManagedSubscribe": ("ManagedFetchRequest", "ManagedFetchResponse", True, True),
    }
    assert hasattr(pubsub_api_pb2_grpc, "PubSubStub")
    assert hasattr(pubsub_api_pb2_grpc, "add_PubSubServicer_to_server")


def test_fetch_request_bytes_round_trip_with_a_ten_byte_replay_id() -> None:
    """A CUSTOM FetchRequest with a real-shaped replay id survives serialisation."""
    replay_id = bytes([0, 0, 0, 0, 0, 16, 219, 77, 0, 0])
    request = pubsub_api_pb2.FetchRequest(
        topic_name="/data/LeadChangeEvent",
        replay_preset=pubsub_api_pb2.CUSTOM,
        replay_id=replay_id,
        num_requested=100,
    )
    parsed = pubsub_api_pb2.FetchRequest.FromString(request.SerializeToString())
    assert parsed.replay_id == replay_id
    assert parsed.replay_preset == pubsub_api_pb2.CUSTOM
    assert parsed.num_requested == 100
