"""`leadfleet route --dry-run` prints one decision per input line, in order, and survives bad lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from cli.route import ROUTE_KEYS
from shared.policy import load_policy

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_POLICY = ROOT / "config" / "routing_policy.json"
ALT_POLICY = ROOT / "tests" / "fixtures" / "policies" / "small_mid_large.json"
POLICY = load_policy(DEFAULT_POLICY)
ALT = load_policy(ALT_POLICY)


def _run(stdin: str, *args: str) -> tuple[int, list[dict[str, Any]], str]:
    result = CliRunner().invoke(app, ["route", *args], input=stdin)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return result.exit_code, lines, result.stderr


def _jsonl(*records: object) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def test_one_object_per_line_with_exactly_the_documented_keys() -> None:
    """Each lead yields lead_id, segment, region, owner, reason, confidence, source, needs_review."""
    stdin = _jsonl(
        {
            "Id": "00Q1",
            "Company": "Acme",
            "Country": "U.K.",
            "NumberOfEmployees": 420,
            "Custom__c": 1,
        },
        {"Id": "00Q2", "Country": "Narnia", "NumberOfEmployees": "fifty"},
    )
    code, out, _ = _run(stdin, "--dry-run", "--policy", str(DEFAULT_POLICY), "--llm", "off", "-")
    assert code == 0
    assert [tuple(o) for o in out] == [ROUTE_KEYS, ROUTE_KEYS]
    assert out[0] == {
        "lead_id": "00Q1",
        "segment": "MM",
        "region": "EMEA",
        "owner": POLICY.owners["MM_EMEA"],
        "reason": "MM: 420 employees in 201–2000; EMEA: country 'U.K.' = GB; owner for MM_EMEA",
        "confidence": 0.9,
        "source": "rules",
        "needs_review": False,
    }
    assert out[1]["owner"] == POLICY.queues.default
    assert out[1]["segment"] is None and out[1]["region"] is None


def test_malformed_lines_are_reported_and_the_run_goes_on() -> None:
    """Bad JSON or a non-object prints {"line": N, "error": ...}; later leads are still routed; exit 1."""
    stdin = (
        _jsonl({"Id": "00Q1", "Country": "US", "NumberOfEmployees": 5000})
        + "{not json\n"
        + "\n"
        + "[1, 2]\n"
        + '{"Id": "00Q5", "Country": 44}\n'
        + _jsonl({"Id": "00Q6", "Country": "DE", "NumberOfEmployees": 10})
    )
    code, out, _ = _run(stdin, "--dry-run", "--policy", str(DEFAULT_POLICY), "-")
    assert code == 1
    assert [o.get("lead_id", o.get("line")) for o in out] == ["00Q1", 2, 4, 5, "00Q6"]
    assert out[1]["error"].startswith("invalid JSON")
    assert out[2]["error"] == "expected a JSON object, found list"
    assert "Country" in out[3]["error"]


def test_blank_lines_are_skipped_but_counted() -> None:
    """Blank lines produce no output, and line numbers still match the file."""
    stdin = "\n   \n" + "42\n"
    code, out, _ = _run(stdin, "--dry-run", "--policy", str(DEFAULT_POLICY), "-")
    assert code == 1
    assert out == [{"line": 3, "error": "expected a JSON object, found int"}]


def test_reads_a_file_and_routes_by_the_given_policy(tmp_path: Path) -> None:
    """FILE can be a path, and --policy changes segments, regions and owners entirely."""
    leads = tmp_path / "leads.jsonl"
    leads.write_text(
        _jsonl(
            {"Id": "a", "Country": "Japan", "NumberOfEmployees": 50},
            {"Id": "b", "Country": "japan", "NumberOfEmployees": "51"},
            {"Id": "c", "Country": "U.S.A.", "NumberOfEmployees": "1,000"},
            {"Id": "d", "Country": "Australia", "NumberOfEmployees": 999},
        ),
        encoding="utf-8",
    )
    code, out, _ = _run("", "--dry-run", "--policy", str(ALT_POLICY), str(leads))
    assert code == 0
    assert [(o["segment"], o["region"], o["owner"]) for o in out] == [
        ("Small", "Asia", ALT.owners["Small_Asia"]),
        ("Mid", "Asia", ALT.owners["Mid_Asia"]),
        ("Large", "Americas", ALT.owners["Large_Americas"]),
        ("Mid", None, ALT.queues.default),
    ]


def test_pool_state_carries_across_lines() -> None:
    """Round robin is visible in a dry run: successive pool leads go to reps by weight."""
    stdin = _jsonl(*({"Id": str(i), "Country": "USA", "NumberOfEmployees": 10} for i in range(6)))
    code, out, _ = _run(stdin, "--dry-run", "--policy", str(DEFAULT_POLICY), "-")
    assert code == 0
    members = [m.id for m in POLICY.pools["SMB_NA"].members]
    owners = [o["owner"] for o in out]
    # Weights 3, 2, 1: after six leads the shares are exactly 3, 2 and 1.
    assert [owners.count(m) for m in members] == [3, 2, 1]
    assert owners[0] == members[0] and owners[1] == members[1]


def test_capped_pool_overflows_during_a_run(tmp_path: Path) -> None:
    """Reps stop at their daily cap; once every active rep is capped, leads go to overflow."""
    data = json.loads(ALT_POLICY.read_text(encoding="utf-8"))
    data["pools"]["Mid_Europe"]["members"][2]["daily_cap"] = 1
    path = tmp_path / "capped.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    stdin = _jsonl(
        *({"Id": str(i), "Country": "France", "NumberOfEmployees": 60} for i in range(5))
    )
    code, out, _ = _run(stdin, "--dry-run", "--policy", str(path), "-")
    assert code == 0
    members = ALT.pools["Mid_Europe"].members
    owners = [o["owner"] for o in out]
    assert sorted(owners[:3]) == sorted([members[0].id, members[0].id, members[2].id])
    assert owners[3:] == [ALT.queues.overflow, ALT.queues.overflow]
    assert "nobody available" in out[4]["reason"]


def test_boolean_employee_count_is_not_one_employee() -> None:
    """A JSON true for NumberOfEmployees is reported as not a number, not read as 1."""
    stdin = _jsonl({"Id": "x", "Country": "DE", "NumberOfEmployees": True})
    code, out, _ = _run(stdin, "--dry-run", "--policy", str(DEFAULT_POLICY), "-")
    assert code == 0
    assert out[0]["segment"] is None
    assert "is not a number" in out[0]["reason"]


def test_without_dry_run_exits_2() -> None:
    """Writing owners is the worker fleet's job; the CLI says only --dry-run exists."""
    result = CliRunner().invoke(app, ["route", "-"], input="")
    assert result.exit_code == 2
    assert "only --dry-run" in result.stderr


def test_llm_accepts_only_off() -> None:
    """--llm is an enumerated choice; unknown providers are a usage error."""
    result = CliRunner().invoke(app, ["route", "--dry-run", "--llm", "anthropic", "-"], input="")
    assert result.exit_code == 2


def test_bad_policy_exits_2_with_the_problems(tmp_path: Path) -> None:
    """An invalid policy stops the run before any lead is routed, naming file and key."""
    data = json.loads(DEFAULT_POLICY.read_text(encoding="utf-8"))
    data["regions"]["EMEA"][0] = "XX"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    code, out, err = _run(_jsonl({"Id": "1"}), "--dry-run", "--policy", str(path), "-")
    assert code == 2
    assert out == []
    assert f"{path}: $.regions.EMEA[0]" in err


def test_missing_input_file_exits_2(tmp_path: Path) -> None:
    """A FILE that does not exist is reported by name."""
    code, _out, err = _run(
        "", "--dry-run", "--policy", str(DEFAULT_POLICY), str(tmp_path / "nope.jsonl")
    )
    assert code == 2
    assert "nope.jsonl" in err


@pytest.mark.parametrize(
    ("employees", "segment"),
    [
        (0, None),
        (1, "SMB"),
        (200, "SMB"),
        (201, "MM"),
        (2000, "MM"),
        (2001, "Enterprise"),
        (10**9, "Enterprise"),
    ],
    ids=["0", "1", "200", "201", "2000", "2001", "1e9"],
)
def test_boundaries_through_the_cli(employees: int, segment: str | None) -> None:
    """The command applies inclusive ranges exactly as the policy states them."""
    code, out, _ = _run(
        _jsonl({"Id": "b", "Country": "Germany", "NumberOfEmployees": employees}),
        "--dry-run",
        "--policy",
        str(DEFAULT_POLICY),
        "-",
    )
    assert code == 0
    assert out[0]["segment"] == segment
    assert (out[0]["owner"] == POLICY.queues.default) is (segment is None)


def test_console_script_reads_stdin() -> None:
    """The installed `leadfleet` entry point routes from a pipe like the in-process runner."""
    script = Path(sys.executable).parent / "leadfleet"
    done = subprocess.run(
        [str(script), "route", "--dry-run", "--policy", str(DEFAULT_POLICY), "-"],
        input=_jsonl({"Id": "p", "Country": "Holland", "NumberOfEmployees": "2,500"}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    decision = json.loads(done.stdout)
    assert (decision["segment"], decision["region"]) == ("Enterprise", "EMEA")
