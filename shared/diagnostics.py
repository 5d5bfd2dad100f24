"""What `leadfleet doctor` concludes from what it read: pure checks, each with a fix hint.

Also the product's contract with an org: the Lead custom fields leadfleet reads and writes
(`PRODUCT_FIELDS`, which salesforce/ deploys and the simulator serves), the objects it must read
or update, and the objects whose change events it needs. Each ``assess_*`` function takes what
shared/doctor.py gathered and returns one `CheckResult`; none does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shared.policy import RoutingPolicy
from shared.salesforce.port import OrgLimits

__all__ = [
    "ASSIGN_HINT",
    "CDC_CHANNEL",
    "CDC_OBJECTS",
    "DEPLOY_HINT",
    "OBJECT_ACCESS",
    "PERMISSION_SET",
    "PRODUCT_FIELDS",
    "CheckResult",
    "FieldRequirement",
    "TopicProbe",
    "assess_api_headroom",
    "assess_api_version",
    "assess_cdc_selection",
    "assess_fields",
    "assess_object_access",
    "assess_owners",
    "assess_stream",
    "jwt_fix",
    "required_owner_ids",
]

Status = Literal["pass", "fail", "warn", "skip"]

PERMISSION_SET = "Leadfleet_Integration"
CDC_CHANNEL = "ChangeEvents"
CDC_OBJECTS: tuple[str, ...] = ("Lead", "Task", "EmailMessage")
DEPLOY_HINT = (
    "deploy the metadata: cd salesforce && sf project deploy start --source-dir force-app "
    "--target-org <alias>"
)
ASSIGN_HINT = (
    f"assign the {PERMISSION_SET} permission set to the integration user: sf org assign "
    f"permset --name {PERMISSION_SET} --on-behalf-of <username> --target-org <alias>"
)
# What leadfleet does with each object: read it (queryable) and, for Lead, write it (updateable).
OBJECT_ACCESS: Mapping[str, tuple[str, ...]] = {
    "Lead": ("queryable", "updateable"),
    "Task": ("queryable",),
    "EmailMessage": ("queryable",),
}

# Descriptions of the token endpoint's invalid_grant and what usually fixes each.
_JWT_FIXES: tuple[tuple[str, str], ...] = (
    ("user hasn't approved", "in the connected app's policies choose 'Admin approved users are "
     "pre-authorized' and give the integration user a profile or permission set it permits"),
    ("audience", "set LEADFLEET_SALESFORCE__LOGIN_URL to https://login.salesforce.com "
     "(production) or https://test.salesforce.com (sandbox)"),
    ("client identifier", "set LEADFLEET_SALESFORCE__CONSUMER_KEY to the connected app's "
     "consumer key"),
    ("invalid_client", "set LEADFLEET_SALESFORCE__CONSUMER_KEY to the connected app's "
     "consumer key"),
    ("signature", "upload the certificate of LEADFLEET_SALESFORCE__PRIVATE_KEY_PATH's key to "
     "the connected app (Use digital signatures)"),
    ("user", "set LEADFLEET_SALESFORCE__USERNAME to the integration user's username; the user "
     "must be active"),
)  # fmt: skip


class CheckResult(BaseModel):
    """One check's verdict: what was found, and how to fix it when it failed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    check: str
    status: Status
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class FieldRequirement:
    """A Lead custom field as leadfleet uses it: describe types accepted, minimum text length."""

    name: str
    label: str
    types: tuple[str, ...]
    written: bool
    min_length: int = 0

    @property
    def shown_type(self) -> str:
        """The type as Setup names it (DateTime, Text(255), Number, Picklist)."""
        names = {"datetime": "DateTime", "double": "Number", "picklist": "Picklist"}
        if self.types[0] == "string":
            return f"Text({self.min_length})"
        return names.get(self.types[0], self.types[0])


PRODUCT_FIELDS: tuple[FieldRequirement, ...] = (
    FieldRequirement("First_Response_At__c", "First Response At", ("datetime",), True),
    FieldRequirement("First_Response_User__c", "First Response User", ("string",), True, 255),
    FieldRequirement("First_Response_Source__c", "First Response Source", ("string",), True, 255),
    FieldRequirement("Time_to_First_Response__c", "Time to First Response", ("double",), True),
    FieldRequirement(
        "Business_Minutes_to_First_Response__c",
        "Business Minutes to First Response",
        ("double",),
        True,
    ),
    FieldRequirement("Routing_Reason__c", "Routing Reason", ("string",), True, 255),
    FieldRequirement("Routing_Confidence__c", "Routing Confidence", ("double",), True),
    FieldRequirement("Suggested_Template__c", "Suggested Template", ("string",), True, 255),
    FieldRequirement("Owner_Assigned_At__c", "Owner Assigned At", ("datetime",), True),
    # Read for intent and templates; an org may keep it as a picklist or as text.
    FieldRequirement("Product_Interest__c", "Product Interest", ("picklist", "string"), False),
)


def _result(check: str, status: Status, detail: str, fix: str = "") -> CheckResult:
    return CheckResult(check=check, status=status, detail=detail, fix=fix)


def assess_api_version(served: Sequence[str], wanted: str) -> CheckResult:
    """The configured REST API version is one the org serves."""
    check = "salesforce.api_version"
    if wanted in served:
        return _result(check, "pass", f"v{wanted} is served (newest v{max(served, key=float)})")
    newest = max(served, key=float) if served else "none"
    return _result(
        check,
        "fail",
        f"v{wanted} is not served; the org serves {', '.join(served) or 'nothing'}",
        f"set LEADFLEET_SALESFORCE__API_VERSION to a served version, e.g. {newest}",
    )


def assess_fields(
    described: Iterable[Mapping[str, Any]],
    requirements: Sequence[FieldRequirement] = PRODUCT_FIELDS,
    sobject: str = "Lead",
) -> CheckResult:
    """Every custom field exists with an accepted type and length, and is writable if written."""
    check = "salesforce.fields"
    by_name = {str(f.get("name", "")).lower(): f for f in described}
    missing: list[str] = []
    wrong: list[str] = []
    read_only: list[str] = []
    for req in requirements:
        field = by_name.get(req.name.lower())
        if field is None:
            missing.append(f"{req.name} ({req.shown_type})")
            continue
        kind = str(field.get("type", ""))
        if kind not in req.types:
            wrong.append(f"{req.name} is {kind}, expected {req.shown_type}")
        elif kind == "string" and int(field.get("length") or 0) < req.min_length:
            wrong.append(
                f"{req.name} holds {field.get('length')} characters, needs {req.min_length}"
            )
        if req.written and not field.get("updateable", False):
            read_only.append(req.name)
    if not (missing or wrong or read_only):
        return _result(
            check, "pass", f"all {len(requirements)} custom fields on {sobject} are right"
        )
    parts = []
    if missing:
        parts.append(f"missing on {sobject}: {', '.join(missing)}")
    if wrong:
        parts.append("; ".join(wrong))
    if read_only:
        parts.append(f"not writable by the integration user: {', '.join(read_only)}")
    fix = DEPLOY_HINT if missing or wrong else ASSIGN_HINT
    if wrong:
        fix += "; a field of the wrong type must be deleted or changed in Setup first"
    return _result(check, "fail", "; ".join(parts), fix)


def assess_object_access(describes: Mapping[str, Mapping[str, Any] | None]) -> CheckResult:
    """The integration user can read Lead, Task and EmailMessage and update Lead."""
    check = "salesforce.access"
    problems: list[str] = []
    for sobject, flags in OBJECT_ACCESS.items():
        described = describes.get(sobject)
        if described is None:
            problems.append(f"{sobject} is not visible to the integration user")
            continue
        lacking = [flag for flag in flags if not described.get(flag, False)]
        if lacking:
            problems.append(f"{sobject} is not {' or '.join(lacking)}")
    if problems:
        return _result(check, "fail", "; ".join(problems), ASSIGN_HINT)
    shown = ", ".join(f"{o} ({'/'.join(f)})" for o, f in OBJECT_ACCESS.items())
    return _result(check, "pass", f"the integration user can use {shown}")


def assess_cdc_selection(
    members: Iterable[Mapping[str, Any]], objects: Sequence[str] = CDC_OBJECTS
) -> CheckResult:
    """Each object is selected for Change Data Capture on the standard ChangeEvents channel."""
    check = "salesforce.cdc"
    selected: set[str] = set()
    for member in members:
        channel = str(member.get("EventChannel") or "")
        developer_name = str(member.get("DeveloperName") or "")
        # The standard channel's members are named ChangeEvents_<Entity>ChangeEvent.
        if channel == CDC_CHANNEL or developer_name.startswith(f"{CDC_CHANNEL}_"):
            selected.add(str(member.get("SelectedEntity") or ""))
    off = [o for o in objects if f"{o}ChangeEvent" not in selected]
    if off:
        return _result(
            check,
            "fail",
            f"Change Data Capture is off for {', '.join(off)}",
            f"select {', '.join(off)} in Setup > Change Data Capture, or {DEPLOY_HINT} "
            "(platformEventChannelMembers)",
        )
    return _result(check, "pass", f"change events are on for {', '.join(objects)}")


@dataclass(frozen=True)
class TopicProbe:
    """What a short subscription to one topic found."""

    topic: str
    reached: bool
    detail: str


def assess_stream(probes: Sequence[TopicProbe]) -> CheckResult:
    """Every topic the listener subscribes to could be subscribed to."""
    check = "pubsub.stream"
    failed = [p for p in probes if not p.reached]
    if not probes:
        return _result(check, "fail", "no topics configured", "set LEADFLEET_LISTENER__TOPICS")
    if failed:
        return _result(
            check,
            "fail",
            "; ".join(f"{p.topic}: {p.detail}" for p in failed),
            "check LEADFLEET_LISTENER__PUBSUB_HOST/PORT and that the integration user may "
            f"subscribe (View All Data for Task and EmailMessage events: {ASSIGN_HINT})",
        )
    return _result(
        check, "pass", "subscribed to " + ", ".join(f"{p.topic} ({p.detail})" for p in probes)
    )


def assess_api_headroom(
    limits: OrgLimits, *, fleet_share: float, alert_share: float, sends_email: bool
) -> CheckResult:
    """Enough of the daily API allowance is left for the fleet (and email capacity if sending)."""
    check = "salesforce.limits"
    daily = limits.limits.get("DailyApiRequests")
    if daily is None or daily.Max <= 0:
        return _result(check, "warn", "the org reports no DailyApiRequests limit")
    share = daily.used / daily.Max
    detail = f"{daily.used} of {daily.Max} daily API requests used ({share:.0%})"
    if share >= fleet_share:
        return _result(
            check,
            "fail",
            detail + f"; the fleet stops calling at {fleet_share:.0%}",
            "wait for the 24-hour window to roll, buy more API calls, or raise "
            "LEADFLEET_RATELIMIT__SALESFORCE_DAILY_SHARE",
        )
    email = limits.limits.get("SingleEmail")
    if sends_email and email is not None and email.Remaining <= 0:
        return _result(
            check,
            "warn",
            detail + "; no single emails left today, so sending is blocked",
            "sends resume when the org's SingleEmail allowance resets",
        )
    if share >= alert_share:
        return _result(check, "warn", detail + f"; alerts fire from {alert_share:.0%}")
    return _result(check, "pass", detail)


def required_owner_ids(policy: RoutingPolicy) -> dict[str, str]:
    """Every id a routing decision can assign, with where the policy names it."""
    where: dict[str, str] = {}
    for key, owner in policy.owners.items():
        where.setdefault(owner, f"owners.{key}")
    for key, pool in policy.pools.items():
        for member in pool.members:
            if member.active:
                where.setdefault(member.id, f"pools.{key}")
    for name in ("default", "overflow", "technical"):
        where.setdefault(getattr(policy.queues, name), f"queues.{name}")
    return where


def assess_owners(
    owners: Mapping[str, str], active_users: Iterable[str], queues: Iterable[str]
) -> CheckResult:
    """Every user the policy assigns to is active, and every queue exists, in the org."""
    check = "config.owners"
    found = set(active_users) | set(queues)
    absent = [
        f"{owner_id} ({where})" for owner_id, where in owners.items() if owner_id not in found
    ]
    if absent:
        return _result(
            check,
            "fail",
            f"not an active user or queue in the org: {', '.join(sorted(absent))}",
            "put ids of active users and existing queues in config/routing_policy.json "
            "(or mark a pool member active: false), then run leadfleet policy check",
        )
    return _result(check, "pass", f"all {len(owners)} owners and queues exist and are active")


def jwt_fix(error: str | None, description: str | None) -> str:
    """What usually fixes a refused JWT bearer exchange, from the token endpoint's answer."""
    text = f"{error or ''} {description or ''}".lower()
    for needle, hint in _JWT_FIXES:
        if needle in text:
            return hint
    return "check the connected app, the consumer key, the username and the login URL"
