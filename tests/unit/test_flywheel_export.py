"""Export for NVIDIA's data-flywheel blueprint and its validation, through the CLI on a local store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from shared.flywheel.export import (
    EXPORT_KEYS,
    MAX_TOOL_PARAMETERS,
    MIN_RECORDS,
    to_nvidia,
    validate_export,
)
from shared.flywheel.local import LocalStore
from shared.flywheel.record import to_record
from shared.llm.offline import OfflineProvider
from shared.models import Lead
from shared.policy import load_policy
from shared.settings import CONFIG_DIR, get_settings
from tests.unit.test_flywheel_buffer import raw_record

POLICY = load_policy(CONFIG_DIR / "routing_policy.json")


def stored(raw: dict[str, Any]) -> dict[str, Any]:
    """A workload dict as it is stored (JSON of its record)."""
    return json.loads(to_record(raw).to_json_line())


def llm_route(index: int) -> dict[str, Any]:
    lead = Lead(Id=f"00Q{index:015d}", Company=f"Co {index}", NumberOfEmployees=50 + index)
    exchange = OfflineProvider().route(lead, POLICY, timeout=1.0).exchange
    return stored(raw_record(index, source="llm", llm_exchange=exchange.model_dump(mode="json")))


def test_an_export_line_has_exactly_the_five_keys_with_metadata_inside_request() -> None:
    """Strict five keys, epoch-second timestamp, the metadata folded into the request."""
    record = stored(raw_record(1))

    line = to_nvidia(record)

    assert line is not None
    assert set(line) == EXPORT_KEYS
    assert line["timestamp"] == 1772442001
    assert line["request"]["metadata"] == record["metadata"]


def test_a_rules_routing_becomes_a_route_lead_call_with_few_parameters() -> None:
    """Routing is a function call the blueprint can score by name and arguments."""
    line = to_nvidia(stored(raw_record(1)))

    assert line is not None
    [tool] = line["request"]["tools"]
    assert tool["function"]["name"] == "route_lead"
    assert len(tool["function"]["parameters"]["properties"]) <= MAX_TOOL_PARAMETERS
    [call] = line["response"]["choices"][0]["message"]["tool_calls"]
    assert call["type"] == "function"
    assert json.loads(call["function"]["arguments"])["owner_id"] == "005000000000001AAA"
    assert line["request"]["model"] == "rules-v1"


def test_a_model_answer_is_exported_as_the_model_gave_it() -> None:
    """Teacher data is not rewritten: the model's own tool call goes out unchanged."""
    record = llm_route(2)

    line = to_nvidia(record)

    assert line is not None
    assert line["response"] == record["response"]
    assert {k: v for k, v in line["request"].items() if k != "metadata"} == record["request"]


@pytest.mark.parametrize(
    ("overrides", "llm_only", "exported"),
    [
        ({"outcome": "duplicate", "decision": None}, False, False),
        ({}, True, False),
        ({}, False, True),
    ],
    ids=["no-decision", "rules-with-llm-only", "rules-by-default"],
)
def test_which_records_are_exported(
    overrides: dict[str, Any], llm_only: bool, exported: bool
) -> None:
    """Runs that made no decision teach nothing; --llm-only keeps teacher data only."""
    assert (
        to_nvidia(stored(raw_record(1, **overrides)), llm_only=llm_only) is not None
    ) is exported


@pytest.mark.parametrize(
    ("count", "meets"),
    [(MIN_RECORDS - 1, False), (MIN_RECORDS, True)],
    ids=["one-short", "exactly-the-minimum"],
)
def test_the_fifty_record_minimum(count: int, meets: bool) -> None:
    """The blueprint refuses a workload with fewer than 50 usable records."""
    lines = [to_nvidia(stored(raw_record(i))) for i in range(count)]
    [check] = validate_export([line for line in lines if line is not None])
    assert (check.records, check.usable, check.meets_minimum) == (count, count, meets)


def test_validate_counts_duplicate_prompts_and_invalid_records() -> None:
    """Same user prompt twice counts once; a function with nine parameters is rejected."""
    lines = [to_nvidia(llm_route(i)) for i in range(3)]
    twin = to_nvidia(llm_route(0))
    too_wide = to_nvidia(llm_route(9))
    assert twin is not None and too_wide is not None
    twin["request"]["metadata"]["record_id"] = "another"
    too_wide["request"]["tools"][0]["function"]["parameters"]["properties"] = {
        f"p{i}": {"type": "string"} for i in range(MAX_TOOL_PARAMETERS + 1)
    }
    extra_key = dict(twin, lead_id="00Q")

    [check] = validate_export([*lines, twin, too_wide, extra_key])  # type: ignore[list-item]

    assert check.tool_calling is True
    assert (check.records, check.duplicate_prompts, check.invalid, check.usable) == (6, 1, 2, 3)
    assert check.problems == {
        "a function with more than 8 parameters": 1,
        "not exactly the five keys": 1,
    }


@pytest.fixture
def local_flywheel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStore]:
    """Settings pointing the flywheel at a local folder holding stored records."""
    monkeypatch.setenv("LEADFLEET_FLYWHEEL__SINK", "local")
    monkeypatch.setenv("LEADFLEET_FLYWHEEL__LOCAL_DIR", str(tmp_path / "flywheel"))
    get_settings.cache_clear()
    yield LocalStore(tmp_path / "flywheel")
    get_settings.cache_clear()


def test_cli_export_and_validate_on_a_local_store(
    local_flywheel: LocalStore, tmp_path: Path
) -> None:
    """60 routing decisions, stored twice and with a no-decision run: 60 lines out, all valid."""
    lines = [to_record(raw_record(i)).to_json_line() for i in range(60)]
    day = date(2026, 3, 2)
    local_flywheel.write("lead.route", day, lines)
    local_flywheel.write("lead.route", day, lines[:10])
    local_flywheel.write(
        "lead.route",
        day,
        [to_record(raw_record(99, outcome="duplicate", decision=None)).to_json_line()],
    )
    out = tmp_path / "export" / "route.jsonl"
    runner = CliRunner()

    exported = runner.invoke(
        app,
        ["flywheel", "export", "--format", "nvidia", "--workload", "lead.route", str(out)],
    )

    assert exported.exit_code == 0, exported.output
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(written) == 60
    assert all(set(line) == EXPORT_KEYS for line in written)

    validated = runner.invoke(app, ["flywheel", "validate", "--since", "2026-03-02"])
    assert validated.exit_code == 0, validated.output
    report = json.loads(validated.stdout.splitlines()[0])
    assert report["workload_id"] == "lead.route"
    assert (report["records"], report["duplicate_prompts"], report["meets_minimum"]) == (
        60,
        0,
        True,
    )

    from_file = runner.invoke(app, ["flywheel", "validate", "--file", str(out)])
    assert json.loads(from_file.stdout.splitlines()[0])["records"] == 60


def test_cli_export_of_days_outside_the_range_is_empty(
    local_flywheel: LocalStore, tmp_path: Path
) -> None:
    """--since after the records' day exports nothing."""
    local_flywheel.write("lead.route", date(2026, 3, 2), [to_record(raw_record(1)).to_json_line()])
    out = tmp_path / "route.jsonl"

    result = CliRunner().invoke(
        app, ["flywheel", "export", "--workload", "lead.route", "--since", "2026-03-03", str(out)]
    )

    assert result.exit_code == 0, result.output
    assert out.read_text() == ""


def test_cli_export_refuses_an_unknown_workload(local_flywheel: LocalStore) -> None:
    """A misspelt workload is an error, not an empty file."""
    result = CliRunner().invoke(app, ["flywheel", "export", "--workload", "lead.rout", "-"])
    assert result.exit_code == 2
