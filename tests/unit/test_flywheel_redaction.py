"""PII redaction: emails, phone numbers and names go; numbers that are not phones stay."""

from __future__ import annotations

import json

import pytest

from shared.flywheel.record import to_record
from shared.flywheel.redaction import Redactor, redact_record
from shared.llm.offline import OfflineProvider
from shared.models import Lead
from shared.policy import load_policy
from shared.settings import CONFIG_DIR

POLICY = load_policy(CONFIG_DIR / "routing_policy.json")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to ada.lovelace@example.co.uk today", "write to [EMAIL] today"),
        ("call +44 20 7946 0958", "call [PHONE]"),
        ("call (415) 555-2671 or 415.555.2671", "call [PHONE] or [PHONE]"),
        ("Tel: 0049 30 1234567", "Tel: [PHONE]"),
        ("030 12345678 in Berlin", "[PHONE] in Berlin"),
        ("we are 12000 people", "we are 12000 people"),
        ("500-1000 employees", "500-1000 employees"),
        ("since 2024-05-01 and 01/05/2024", "since 2024-05-01 and 01/05/2024"),
        ("budget 1,000,000 or 10.000.000", "budget 1,000,000 or 10.000.000"),
        ("at 2026-03-02T09:00:00.000Z", "at 2026-03-02T09:00:00.000Z"),
        ("lead 00Q000000000001AAA", "lead 00Q000000000001AAA"),
        ("Name: Grace Hopper, CTO", "Name: [NAME], CTO"),
        ("my name is Alan Turing.", "my name is [NAME]."),
        ("Thanks,\\nKatherine Johnson", "Thanks,\\n[NAME]"),
        ("Regards, Emmy", "Regards, [NAME]"),
        ("ADA asked, and ada agreed", "[NAME] asked, and [NAME] agreed"),
        ("Adams is not Ada", "Adams is not [NAME]"),
        ("Lovelace Ltd wants a demo", "[NAME] Ltd wants a demo"),
    ],
    ids=[
        "email",
        "phone-international",
        "phone-us-formats",
        "phone-00-prefix",
        "phone-national",
        "headcount",
        "range",
        "dates",
        "grouped-amounts",
        "timestamp",
        "salesforce-id",
        "name-cue",
        "my-name-is",
        "sign-off-escaped-newline",
        "sign-off-single-name",
        "known-name-any-case",
        "known-name-whole-word",
        "known-last-name",
    ],
)
def test_redaction_table(text: str, expected: str) -> None:
    """Each kind of personal data is replaced by its marker; look-alikes are kept."""
    assert Redactor(["Ada", "Lovelace"]).text(text) == expected


def test_a_record_is_redacted_in_prompt_answer_and_decision_and_stays_valid() -> None:
    """The lead's name, email and phone leave no trace; tool-call arguments stay JSON."""
    lead = Lead(
        Id="00Q000000000001AAA",
        FirstName="Ada",
        LastName="Lovelace",
        Company="Engines",
        Country="UK",
        NumberOfEmployees=420,
        Description="Ada here, call me on +44 20 7946 0958 or ada@engines.example.com",
    )
    exchange = OfflineProvider().route(lead, POLICY, timeout=1.0).exchange
    record = to_record(
        {
            "timestamp": "2026-03-02T09:00:00+00:00",
            "client_id": "c",
            "workload_id": "outreach.template_suggest",
            "lead_id": lead.Id,
            "source": "llm",
            "decision": {"template_id": "demo", "subject": "Hi Ada, your demo"},
            "llm_exchange": exchange.model_dump(mode="json"),
        }
    )
    assert "Ada" in record.to_json_line()

    redacted = redact_record(record, ["Ada", "Lovelace"])

    line = redacted.to_json_line()
    for secret in ("Ada", "Lovelace", "7946", "engines.example.com"):
        assert secret not in line
    assert "[NAME]" in line and "[PHONE]" in line and "[EMAIL]" in line
    assert redacted.metadata.decision == {"template_id": "demo", "subject": "Hi [NAME], your demo"}
    for choice in redacted.response.choices:
        for call in choice.message.tool_calls or ():
            json.loads(call.function.arguments)
    assert redacted.record_id == record.record_id
    assert redacted.request.tools == record.request.tools
