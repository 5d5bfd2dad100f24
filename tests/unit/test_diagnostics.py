"""The doctor's judgments: from what it read in an org to a verdict a person can act on."""

from __future__ import annotations

from typing import Any

import pytest

from shared.diagnostics import (
    PRODUCT_FIELDS,
    TopicProbe,
    assess_api_headroom,
    assess_api_version,
    assess_cdc_selection,
    assess_fields,
    assess_object_access,
    assess_owners,
    assess_stream,
    jwt_fix,
)
from shared.salesforce.port import Limit, OrgLimits


def described(**changes: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Lead describe fields as a set-up org reports them, with some changed or (None) removed."""
    fields = []
    for req in PRODUCT_FIELDS:
        field: dict[str, Any] | None = {
            "name": req.name,
            "type": req.types[0],
            "length": req.min_length,
            "updateable": True,
        }
        if req.name in changes:
            change = changes[req.name]
            field = None if change is None else {**field, **change}
        if field is not None:
            fields.append(field)
    return fields


@pytest.mark.parametrize(
    ("fields", "status", "detail"),
    [
        (described(), "pass", "all 10 custom fields on Lead are right"),
        (
            described(Routing_Reason__c=None),
            "fail",
            "missing on Lead: Routing_Reason__c (Text(255))",
        ),
        (
            described(Routing_Confidence__c={"type": "string"}),
            "fail",
            "Routing_Confidence__c is string, expected Number",
        ),
        (
            described(Routing_Reason__c={"length": 80}),
            "fail",
            "Routing_Reason__c holds 80 characters, needs 255",
        ),
        (
            described(Owner_Assigned_At__c={"updateable": False}),
            "fail",
            "not writable by the integration user: Owner_Assigned_At__c",
        ),
        (described(Product_Interest__c={"type": "string", "updateable": False}), "pass", ""),
    ],
    ids=["all-right", "missing", "wrong-type", "too-short", "read-only", "read-field-as-text"],
)
def test_fields_verdict(fields: list[dict[str, Any]], status: str, detail: str) -> None:
    """Missing, mistyped, too-short and read-only fields are each named."""
    result = assess_fields(fields)
    assert result.status == status
    assert detail in result.detail


def test_a_missing_field_points_at_the_deployment() -> None:
    """The fix for a missing field is the sf deploy command; for a read-only one the permission set."""
    assert "sf project deploy start" in assess_fields(described(Routing_Reason__c=None)).fix
    read_only = assess_fields(described(Routing_Reason__c={"updateable": False}))
    assert "sf org assign permset --name Leadfleet_Integration" in read_only.fix


def member(entity: str, channel: str = "ChangeEvents", name: str | None = None) -> dict[str, str]:
    """A PlatformEventChannelMember record."""
    return {
        "EventChannel": channel,
        "DeveloperName": name or f"ChangeEvents_{entity}ChangeEvent",
        "SelectedEntity": f"{entity}ChangeEvent",
    }


@pytest.mark.parametrize(
    ("members", "status", "detail"),
    [
        ([member("Lead"), member("Task"), member("EmailMessage")], "pass", "on for Lead"),
        ([member("Lead"), member("EmailMessage")], "fail", "off for Task"),
        ([], "fail", "off for Lead, Task, EmailMessage"),
        (
            [member("Lead"), member("Task"), member("EmailMessage", "MyChannel__chn", "Mine")],
            "fail",
            "off for EmailMessage",
        ),
        (
            [member("Lead", "0YL000000000001AAA"), member("Task"), member("EmailMessage")],
            "pass",
            "",
        ),
    ],
    ids=["all-on", "task-off", "none", "custom-channel-only", "channel-given-as-id"],
)
def test_cdc_verdict(members: list[dict[str, str]], status: str, detail: str) -> None:
    """Only the standard ChangeEvents channel counts; its members are known by channel or name."""
    result = assess_cdc_selection(members)
    assert result.status == status
    assert detail in result.detail


@pytest.mark.parametrize(
    ("used", "email_left", "sends", "status"),
    [
        (100, 10, False, "pass"),
        (700, 10, False, "warn"),
        (900, 10, False, "fail"),
        (100, 0, True, "warn"),
        (100, 0, False, "pass"),
    ],
    ids=["plenty", "past-alert-share", "past-fleet-share", "no-email-left", "no-email-not-sending"],
)
def test_api_headroom_verdict(used: int, email_left: int, sends: bool, status: str) -> None:
    """The fleet's own ceiling fails, the alert threshold warns, spent email warns when sending."""
    limits = OrgLimits(
        limits={
            "DailyApiRequests": Limit(Max=1000, Remaining=1000 - used),
            "SingleEmail": Limit(Max=100, Remaining=email_left),
        }
    )
    result = assess_api_headroom(limits, fleet_share=0.8, alert_share=0.6, sends_email=sends)
    assert result.status == status


def test_api_version_and_owners_and_stream_name_what_is_wrong() -> None:
    """An unserved version names the newest served; an absent owner names where the policy has it;
    an unreachable topic is named with its error."""
    version = assess_api_version(["60.0", "61.0"], "62.0")
    assert version.status == "fail"
    assert "LEADFLEET_SALESFORCE__API_VERSION" in version.fix
    assert "61.0" in version.fix
    owners = assess_owners(
        {"005000000000001AAA": "owners.MM_NA", "00G000000000001AAA": "queues.default"},
        active_users=[],
        queues=["00G000000000001AAA"],
    )
    assert owners.status == "fail"
    assert "005000000000001AAA (owners.MM_NA)" in owners.detail
    stream = assess_stream([TopicProbe("/data/LeadChangeEvent", False, "UNAUTHENTICATED")])
    assert stream.detail == "/data/LeadChangeEvent: UNAUTHENTICATED"


def test_object_access_names_the_missing_permission() -> None:
    """A Lead that is not updateable, or a Task the user cannot see, fails naming the object."""
    result = assess_object_access(
        {"Lead": {"queryable": True, "updateable": False}, "Task": None, "EmailMessage": {}}
    )
    assert result.status == "fail"
    assert "Lead is not updateable" in result.detail
    assert "Task is not visible" in result.detail
    assert "EmailMessage is not queryable" in result.detail


@pytest.mark.parametrize(
    ("error", "description", "expected"),
    [
        ("invalid_grant", "user hasn't approved this consumer", "Admin approved users"),
        ("invalid_grant", "audience is invalid", "LEADFLEET_SALESFORCE__LOGIN_URL"),
        ("invalid_client_id", "client identifier invalid", "CONSUMER_KEY"),
        ("invalid_grant", "invalid assertion signature", "Use digital signatures"),
        ("invalid_grant", "user is inactive", "LEADFLEET_SALESFORCE__USERNAME"),
        ("invalid_grant", "something new", "check the connected app"),
    ],
    ids=["not-approved", "audience", "consumer-key", "signature", "user", "unknown"],
)
def test_jwt_refusals_get_the_usual_fix(error: str, description: str, expected: str) -> None:
    """Each refusal of the token endpoint points at the setting or Setup page that fixes it."""
    assert expected in jwt_fix(error, description)
