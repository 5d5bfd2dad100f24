"""The Tooling API query resource, as far as Change Data Capture selections need it.

`GET /services/data/vNN.0/tooling/query?q=SELECT ... FROM PlatformEventChannelMember [WHERE
Field = 'value' [AND ...]] [LIMIT n]` answers one record per object selected on the standard
ChangeEvents channel (DeveloperName `ChangeEvents_LeadChangeEvent`, EventChannel
`ChangeEvents`, SelectedEntity `LeadChangeEvent`). Other Tooling objects are not served.
"""

from __future__ import annotations

import re
from typing import Any

from simulator.apierrors import ApiError
from simulator.ids import to_18
from simulator.org_setup import STANDARD_CHANNEL
from simulator.routing import ApiCall, ApiResponse, Router

MEMBER_OBJECT = "PlatformEventChannelMember"
MEMBER_PREFIX = "0v8"
MEMBER_FIELDS = ("Id", "DeveloperName", "MasterLabel", "EventChannel", "SelectedEntity",
                 "FilterExpression")  # fmt: skip
_QUERY = re.compile(
    r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<object>\w+)"
    r"(?:\s+WHERE\s+(?P<where>.+?))?(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_CONDITION = re.compile(r"^\s*(?P<field>\w+)\s*=\s*'(?P<value>[^'\\]*)'\s*$")
_AND = re.compile(r"\s+AND\s+", re.IGNORECASE)


def _malformed(message: str) -> ApiError:
    return ApiError(400, "MALFORMED_QUERY", message)


def _field(name: str) -> str:
    canonical = next((f for f in MEMBER_FIELDS if f.lower() == name.lower()), None)
    if canonical is None:
        raise ApiError(400, "INVALID_FIELD", f"No such column '{name}' on entity '{MEMBER_OBJECT}'")
    return canonical


def _members(call: ApiCall) -> list[dict[str, Any]]:
    records = []
    for index, entity in enumerate(call.org.options.setup.cdc_selected(), start=1):
        record_id = to_18(f"{MEMBER_PREFIX}{index:012d}") or ""
        event = f"{entity}ChangeEvent"
        records.append(
            {
                "attributes": {
                    "type": MEMBER_OBJECT,
                    "url": f"/services/data/v{call.version}/tooling/sobjects/{MEMBER_OBJECT}/"
                    f"{record_id}",
                },
                "Id": record_id,
                "DeveloperName": f"{STANDARD_CHANNEL}_{event}",
                "MasterLabel": f"{STANDARD_CHANNEL}_{event}",
                "EventChannel": STANDARD_CHANNEL,
                "SelectedEntity": event,
                "FilterExpression": None,
            }
        )
    return records


def _query(call: ApiCall, _: dict[str, str]) -> ApiResponse:
    soql = call.query.get("q")
    if not soql:
        raise _malformed("A query string has to be specified")
    match = _QUERY.match(soql)
    if match is None:
        raise _malformed(f"unexpected query: {soql}")
    if match["object"].lower() != MEMBER_OBJECT.lower():
        raise ApiError(400, "INVALID_TYPE", f"sObject type '{match['object']}' is not supported.")
    fields = [_field(name.strip()) for name in match["fields"].split(",")]
    conditions: list[tuple[str, str]] = []
    if match["where"]:
        for clause in _AND.split(match["where"]):
            condition = _CONDITION.match(clause)
            if condition is None:
                raise _malformed(f"unsupported condition: {clause.strip()}")
            conditions.append((_field(condition["field"]), condition["value"]))
    records = [r for r in _members(call) if all(r[name] == value for name, value in conditions)]
    if match["limit"]:
        records = records[: int(match["limit"])]
    shown = [{"attributes": r["attributes"], **{name: r[name] for name in fields}} for r in records]
    return ApiResponse(
        200,
        {
            "size": len(shown),
            "totalSize": len(shown),
            "done": True,
            "queryLocator": None,
            "entityTypeName": MEMBER_OBJECT,
            "records": shown,
        },
    )


def register(router: Router) -> None:
    """Add the Tooling API query resource."""
    router.add("/tooling/query", {"GET": _query})
