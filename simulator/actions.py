"""Invocable standard actions: `emailSimple` (send an email, log it as an outgoing EmailMessage)."""

from __future__ import annotations

import re
from typing import Any

from simulator.apierrors import ApiError, not_found
from simulator.ids import to_18
from simulator.routing import ApiCall, ApiResponse, Router
from simulator.schema import CATALOGUE

ACTION = "emailSimple"
MAX_RECIPIENTS = 150
_EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")
_INPUTS: tuple[tuple[str, str, bool, str], ...] = (
    ("emailAddresses", "STRING", False, "Comma-separated recipient addresses."),
    ("emailAddressesArray", "STRING", False, "Recipient addresses as a collection."),
    ("recipientAddresses", "STRING", False, "Recipient addresses (API 65.0 and later)."),
    ("emailSubject", "STRING", True, "The email's subject."),
    ("emailBody", "TEXTAREA", True, "The email's body, plain text unless sendRichBody."),
    ("senderType", "STRING", False, "CurrentUser, DefaultWorkflowUser or OrgWideEmailAddress."),
    ("senderAddress", "STRING", False, "Org-wide address when senderType is OrgWideEmailAddress."),
    ("recipientId", "REFERENCE", False, "A Lead, Contact or User to send to."),
    ("relatedRecordId", "REFERENCE", False, "The record the email is logged against."),
    ("logEmailOnSend", "BOOLEAN", False, "Log the email as an EmailMessage (default here: true)."),
    ("sendRichBody", "BOOLEAN", False, "Treat emailBody as HTML."),
)


def _describe(call: ApiCall, _: dict[str, str]) -> ApiResponse:
    return ApiResponse(
        200,
        {
            "name": ACTION,
            "label": "Send Email",
            "type": "EMAILSIMPLE",
            "category": "Email",
            "standard": True,
            "inputs": [
                {"name": n, "type": t, "required": r, "description": d, "maxOccurs": 1}
                for n, t, r, d in _INPUTS
            ],
            "outputs": [],
        },
    )


def _index(call: ApiCall, _: dict[str, str]) -> ApiResponse:
    base = f"/services/data/v{call.version}/actions/standard"
    return ApiResponse(
        200,
        {
            "actions": [
                {
                    "name": ACTION,
                    "label": "Send Email",
                    "type": "EMAILSIMPLE",
                    "url": f"{base}/{ACTION}",
                }
            ]
        },
    )


def _recipients(inputs: dict[str, Any]) -> list[str]:
    addresses: list[str] = []
    for key in ("emailAddresses", "recipientAddresses"):
        raw = inputs.get(key)
        if isinstance(raw, str):
            addresses += [a.strip() for a in raw.split(",") if a.strip()]
        elif isinstance(raw, list):
            addresses += [str(a).strip() for a in raw if str(a).strip()]
    array = inputs.get("emailAddressesArray")
    if isinstance(array, list):
        addresses += [str(a).strip() for a in array if str(a).strip()]
    return addresses


def _lead(call: ApiCall, raw: object) -> dict[str, Any] | None:
    record_id = to_18(str(raw)) if raw else None
    if record_id is None or record_id[:3] != CATALOGUE["Lead"].key_prefix:
        return None
    row = call.org.store.fetch("Lead", record_id)
    return row if row and not row["IsDeleted"] else None


def _send_one(call: ApiCall, inputs: Any) -> str | None:
    """Send one email; returns the logged EmailMessage id, or raises ApiError."""
    if not isinstance(inputs, dict):
        raise ApiError(400, "INVALID_INPUT", "Each input must be a JSON object", [])
    recipients = _recipients(inputs)
    lead_recipient = _lead(call, inputs.get("recipientId"))
    if lead_recipient is not None and lead_recipient.get("Email"):
        recipients.append(str(lead_recipient["Email"]))
    for name in ("emailSubject", "emailBody"):
        if not inputs.get(name):
            raise ApiError(
                400, "REQUIRED_FIELD_MISSING", f"Missing required input parameter: {name}", [name]
            )
    if not recipients:
        raise ApiError(
            400,
            "REQUIRED_FIELD_MISSING",
            "Missing required input parameter: emailAddresses",
            ["emailAddresses"],
        )
    if len(recipients) > MAX_RECIPIENTS:
        raise ApiError(400, "LIMIT_EXCEEDED", f"Too many recipients (max {MAX_RECIPIENTS})", [])
    bad = [a for a in recipients if not _EMAIL.match(a)]
    if bad:
        raise ApiError(
            400, "INVALID_EMAIL_ADDRESS", f"Email address is invalid: {bad[0]}", ["emailAddresses"]
        )
    for raw in (inputs.get("recipientId"), inputs.get("relatedRecordId")):
        lead = _lead(call, raw)
        if lead is not None and lead["HasOptedOutOfEmail"]:
            raise ApiError(
                400,
                "EMAIL_OPTED_OUT",
                f"The recipient has opted out of email: {lead['Id']}",
                ["recipientId"],
            )
    if not call.org.limits.try_consume("SingleEmail", len(recipients)):
        raise ApiError(
            400,
            "SINGLE_EMAIL_LIMIT_EXCEEDED",
            "Failed to send email: the daily limit for the org on emails sent through Apex or the "
            "API has been reached.",
            [],
        )
    call.org.emails_sent += 1
    if inputs.get("logEmailOnSend") in (False, "false"):
        return None
    related = inputs.get("relatedRecordId") or inputs.get("recipientId")
    sender = call.org.user(call.user_id) or {}
    message = {
        "Subject": str(inputs["emailSubject"])[:3000],
        "TextBody": str(inputs["emailBody"]),
        "FromAddress": sender.get("Email"),
        "ToAddress": "; ".join(recipients),
        "Incoming": False,
        "MessageDate": call.txn.timestamp,
        "Status": "3",
    }
    if related and to_18(str(related)):
        message["RelatedToId"] = related
    return call.org.writer.create(call.txn, CATALOGUE["EmailMessage"], message)


def _invoke(call: ApiCall, _: dict[str, str]) -> ApiResponse:
    body = call.body if isinstance(call.body, dict) else None
    if body is None or not isinstance(body.get("inputs"), list) or not body["inputs"]:
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body must have a list of inputs")
    results: list[dict[str, Any]] = []
    for inputs in body["inputs"]:
        try:
            with call.txn.savepoint():
                _send_one(call, inputs)
            results.append(
                {"actionName": ACTION, "errors": None, "isSuccess": True, "outputValues": None}
            )
        except ApiError as exc:
            results.append(
                {
                    "actionName": ACTION,
                    "errors": [exc.save_error()],
                    "isSuccess": False,
                    "outputValues": None,
                }
            )
    status = 200 if all(r["isSuccess"] for r in results) else 400
    return ApiResponse(status, results)


def _unknown_action(call: ApiCall, _: dict[str, str]) -> ApiResponse:
    raise not_found()


def register(router: Router) -> None:
    """Add the standard actions resource."""
    router.add(
        "/actions",
        {
            "GET": lambda call, _: ApiResponse(
                200, {"standard": f"/services/data/v{call.version}/actions/standard"}
            )
        },
    )
    router.add("/actions/standard", {"GET": _index})
    router.add(f"/actions/standard/{ACTION}", {"GET": _describe, "POST": _invoke})
    router.add(r"/actions/standard/\w+", {"GET": _unknown_action, "POST": _unknown_action})
