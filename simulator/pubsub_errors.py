"""Pub/Sub API errors: each failure's gRPC status, `error-code` trailer and message.

Every failed call ends with a gRPC status whose message ends in ` rpcId: <uuid>` and whose
trailing metadata carries `error-code: sfdc.platform.eventbus.grpc.<code>` (and `rpc-id`).
Clients branch on the error code, so the codes are Salesforce's; `schema.not.found` follows
`topic.not.found` by analogy, as no public source names the unknown-schema code.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import NoReturn

import grpc

ERROR_CODE_PREFIX = "sfdc.platform.eventbus.grpc."


@dataclass(frozen=True)
class PubSubError:
    """One kind of Pub/Sub failure: its gRPC status, error code suffix and message."""

    status: grpc.StatusCode
    code: str | None
    message: str


AUTH_ERROR = PubSubError(
    grpc.StatusCode.UNAUTHENTICATED,
    "service.auth.error",
    "An authentication exception occurred. Provide valid authentication via metadata headers.",
)
AUTH_HEADERS_INVALID = PubSubError(
    grpc.StatusCode.UNAUTHENTICATED,
    "service.auth.headers.invalid",
    "The accesstoken, instanceurl and tenantid headers are required and can't be blank. "
    "Provide valid authentication via metadata headers.",
)
SERVICE_UNAVAILABLE = PubSubError(
    grpc.StatusCode.UNAVAILABLE,
    "service.unavailable",
    "The service is unavailable. Try again later.",
)
REQUESTED_EVENTS_INVALID = PubSubError(
    grpc.StatusCode.INVALID_ARGUMENT,
    "subscription.fetch.requested.events.invalid",
    "The requested number of events in a fetch request must be greater than zero.",
)
REPLAY_ID_CORRUPTED = PubSubError(
    grpc.StatusCode.INVALID_ARGUMENT,
    "subscription.fetch.replayid.corrupted",
    "The replay ID validation failed. Ensure that the replay ID is valid and within the "
    "retention window.",
)
REPLAY_ID_MISSING = PubSubError(
    grpc.StatusCode.INVALID_ARGUMENT,
    "subscription.fetch.replayid.validation.failed",
    "A replay ID is required when the replay preset is CUSTOM.",
)
TOPIC_MISMATCH = PubSubError(
    grpc.StatusCode.INVALID_ARGUMENT,
    "subscription.fetch.topic.mismatch",
    "The topic name in a fetch request must match the topic of the subscription.",
)
TOPIC_EMPTY = PubSubError(
    grpc.StatusCode.INVALID_ARGUMENT,
    "topic.validation.empty",
    "The topic name can't be blank.",
)
# Change events are published by the org itself; no error code is documented for trying.
PUBLISH_UNSUPPORTED = PubSubError(
    grpc.StatusCode.UNIMPLEMENTED,
    None,
    "Publishing to change data capture channels isn't supported; they can only be subscribed to.",
)
MANAGED_UNSUPPORTED = PubSubError(
    grpc.StatusCode.UNIMPLEMENTED,
    None,
    "Managed subscriptions aren't available in this org.",
)
SCHEMA_EMPTY = PubSubError(
    grpc.StatusCode.INVALID_ARGUMENT,
    "schema.validation.failed",
    "The schema ID can't be blank.",
)


def topic_not_found(topic: str) -> PubSubError:
    """The topic does not exist, or is not one this org streams."""
    return PubSubError(
        grpc.StatusCode.NOT_FOUND,
        "topic.not.found",
        f"The topic {topic} doesn't exist or you don't have access to it.",
    )


def schema_not_found(schema_id: str) -> PubSubError:
    """No schema has this id."""
    return PubSubError(
        grpc.StatusCode.NOT_FOUND,
        "schema.not.found",
        f"The schema {schema_id} doesn't exist or you don't have access to it.",
    )


def new_rpc_id() -> str:
    """A fresh id for one call, quoted in its errors."""
    return str(uuid.uuid4())


def fail(context: grpc.ServicerContext, error: PubSubError, rpc_id: str) -> NoReturn:
    """End the call with the error's status, message (with rpcId) and error-code trailer."""
    trailers = [("rpc-id", rpc_id)]
    if error.code:
        trailers.insert(0, ("error-code", ERROR_CODE_PREFIX + error.code))
    context.set_trailing_metadata(tuple(trailers))
    context.abort(error.status, f"{error.message} rpcId: {rpc_id}")
