"""The routing policy is rejected, with every problem named by file and JSON path, unless consistent."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from shared.errors import ConfigError
from shared.policy import RoutingPolicy, check_policy, load_policy, parse_policy
from shared.salesforce.ids import is_valid_id, to_18

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_POLICY = ROOT / "config" / "routing_policy.json"
ALT_POLICY = ROOT / "tests" / "fixtures" / "policies" / "small_mid_large.json"
LEAD_ID = to_18("00Q000000000001")
USER_ID = to_18("005Zz0000000001")
QUEUE_ID = to_18("00GZz0000000001")

Mutation = Callable[[dict[str, Any]], None]


def default_data() -> dict[str, Any]:
    """A fresh copy of the product's default policy document."""
    data: dict[str, Any] = json.loads(DEFAULT_POLICY.read_text(encoding="utf-8"))
    return copy.deepcopy(data)


def _set(path: tuple[str | int, ...], value: object) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return mutate


def _delete(path: tuple[str | int, ...]) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]

    return mutate


def _append(path: tuple[str, ...], value: object) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        for part in path:
            target = target[part]
        target.append(value)

    return mutate


def _all_inactive(data: dict[str, Any]) -> None:
    for member in data["pools"]["SMB_NA"]["members"]:
        member["active"] = False


def _bad_checksum(data: dict[str, Any]) -> None:
    good = data["owners"]["MM_NA"]
    data["owners"]["MM_NA"] = good[:15] + ("AAB" if good[15:] != "AAB" else "AAC")


INVALID = [
    ("missing-top-key", _delete(("queues",)), "$.queues: expected this key, found it missing"),
    ("missing-nested-key", _delete(("segments", "MM", "sla_hours")), "$.segments.MM.sla_hours"),
    ("wrong-type", _set(("segments", "MM", "priority"), "high"), "$.segments.MM.priority"),
    ("bool-as-number", _set(("segments", "MM", "priority"), True), "$.segments.MM.priority"),
    ("unknown-nested-key", _set(("segments", "MM", "sla"), 4), "$.segments.MM.sla: unknown key"),
    ("no-segments", _set(("segments",), {}), "$.segments"),
    (
        "overlap",
        _set(("segments", "MM", "employee_range"), [150, 2000]),
        "$.segments.MM.employee_range[0]: expected 201",
    ),
    (
        "gap",
        _set(("segments", "MM", "employee_range"), [250, 2000]),
        "counts 201–249 match no segment",
    ),
    (
        "first-range-not-at-1",
        _set(("segments", "SMB", "employee_range"), [10, 200]),
        "$.segments.SMB.employee_range[0]: expected the smallest range to start at 1",
    ),
    (
        "open-range-not-last",
        _set(("segments", "MM", "employee_range"), [201, None]),
        "$.segments.MM.employee_range[1]: expected an upper bound",
    ),
    (
        "lo-above-hi",
        _set(("segments", "Enterprise", "employee_range"), [2001, 1500]),
        "$.segments.Enterprise.employee_range: expected lo <= hi",
    ),
    (
        "range-too-long",
        _set(("segments", "MM", "employee_range"), [201, 2000, 3000]),
        "$.segments.MM.employee_range",
    ),
    (
        "not-a-country",
        _set(("regions", "EMEA", 2), "XX"),
        "$.regions.EMEA[2]: expected an ISO 3166-1 alpha-2 country code, found 'XX'",
    ),
    (
        "alpha-3-not-alpha-2",
        _set(("regions", "EMEA", 2), "DEU"),
        "$.regions.EMEA[2]: expected an ISO 3166-1 alpha-2",
    ),
    (
        "country-in-two-regions",
        _append(("regions", "APAC"), "GB"),
        "expected each country in one region, found GB already in region 'EMEA'",
    ),
    (
        "country-twice-in-one-region",
        _append(("regions", "NA"), "US"),
        "found US already earlier in this region",
    ),
    (
        "no-owner-nor-pool",
        _delete(("owners", "MM_EMEA")),
        "$.owners.MM_EMEA: expected an owner or a pool, found neither",
    ),
    (
        "owner-unknown-segment",
        _set(("owners", "Mega_NA"), USER_ID),
        "$.owners.Mega_NA: expected <segment>_<region>",
    ),
    (
        "pool-unknown-region",
        _set(("pools", "SMB_Mars"), {"members": [{"id": USER_ID, "weight": 1}]}),
        "$.pools.SMB_Mars: expected <segment>_<region>",
    ),
    ("id-bad-checksum", _bad_checksum, "does not match; expected 'IAI'"),
    ("id-wrong-length", _set(("owners", "MM_NA"), "005Lf0000"), "15 or 18 characters"),
    (
        "id-with-quote",
        _set(("owners", "MM_NA"), "005Lf00000'1RpI"),
        '$.owners.MM_NA: "005Lf00000\'1RpI" is not a Salesforce id: expected only the characters',
    ),
    (
        "owner-is-a-lead",
        _set(("owners", "MM_NA"), LEAD_ID),
        "expected an id starting with 005 or 00G, found prefix '00Q'",
    ),
    (
        "queue-is-a-user",
        _set(("queues", "default"), USER_ID),
        "expected an id starting with 00G, found prefix '005'",
    ),
    (
        "pool-member-is-a-queue",
        _set(("pools", "SMB_NA", "members", 0, "id"), QUEUE_ID),
        "expected an id starting with 005, found prefix '00G'",
    ),
    ("pool-without-active-member", _all_inactive, "$.pools.SMB_NA.members: expected at least one"),
    (
        "pool-empty",
        _set(("pools", "SMB_NA", "members"), []),
        "$.pools.SMB_NA.members",
    ),
    (
        "weight-zero",
        _set(("pools", "SMB_NA", "members", 1, "weight"), 0),
        "$.pools.SMB_NA.members[1].weight",
    ),
    (
        "pool-member-misspelt-key",
        _set(("pools", "SMB_NA", "members", 1, "dailycap"), 5),
        "$.pools.SMB_NA.members[1].dailycap: unknown key",
    ),
    (
        "pool-member-twice",
        _append(("pools", "SMB_NA", "members"), {"id": "005Lf00000021RpIAI", "weight": 1}),
        "$.pools.SMB_NA.members: expected each rep once",
    ),
    (
        "validation-country-invalid",
        _append(("routing_rules", "require_validation_countries"), "Russia"),
        "$.routing_rules.require_validation_countries[4]",
    ),
    (
        "auto-accept-and-validate",
        _append(("routing_rules", "auto_accept_countries"), "RU"),
        "$.routing_rules.auto_accept_countries[8]: expected a country either",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "expected"), [(m, e) for _, m, e in INVALID], ids=[i for i, _, _ in INVALID]
)
def test_each_invalidity_is_named_by_file_and_key(mutate: Mutation, expected: str) -> None:
    """Breaking one rule of the default policy yields a problem naming the file and JSON path."""
    data = default_data()
    mutate(data)
    problems = check_policy(data, "policy.json")
    assert problems, "expected the mutated policy to be rejected"
    assert all(p.startswith("policy.json: $") for p in problems)
    assert any(expected in p for p in problems), problems
    with pytest.raises(ConfigError):
        parse_policy(json.dumps(data), "policy.json")


def test_every_problem_is_reported_not_just_the_first() -> None:
    """Several unrelated mistakes come back together, so one run of the check fixes them all."""
    data = default_data()
    _set(("regions", "EMEA", 0), "XX")(data)
    _delete(("owners", "MM_APAC"))(data)
    _set(("segments", "MM", "employee_range"), [300, 2000])(data)
    _set(("pools", "SMB_NA", "members", 0, "weight"), 0)(data)
    _set(("queues", "overflow"), "nope")(data)
    problems = check_policy(data, "p.json")
    joined = "\n".join(problems)
    for path in (
        "$.regions.EMEA[0]",
        "$.owners.MM_APAC",
        "$.segments.MM.employee_range[0]",
        "$.pools.SMB_NA.members[0].weight",
        "$.queues.overflow",
    ):
        assert path in joined


def test_an_unreadable_range_does_not_invent_gaps_around_it() -> None:
    """A segment whose range cannot be read is reported once, not as gaps in its neighbours too."""
    data = default_data()
    _set(("segments", "MM", "employee_range"), "201-2000")(data)
    problems = check_policy(data, "p.json")
    assert len(problems) == 1
    assert "$.segments.MM.employee_range" in problems[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{not json", "line 1 column 2: invalid JSON"),
        ("[]", "$: expected a JSON object, found list"),
        ('{"version": "1", "version": "2"}', "key 'version' appears twice"),
    ],
    ids=["bad-json", "not-an-object", "duplicate-key"],
)
def test_unparseable_files_are_rejected(tmp_path: Path, text: str, expected: str) -> None:
    """A file that is not one JSON object is a ConfigError naming the file."""
    path = tmp_path / "policy.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as excinfo:
        load_policy(path)
    assert str(path) in str(excinfo.value)
    assert expected in str(excinfo.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """A policy path that does not exist fails with the path, not a traceback."""
    with pytest.raises(ConfigError, match="cannot read file"):
        load_policy(tmp_path / "absent.json")


def test_notes_at_the_top_level_are_allowed() -> None:
    """Unknown top-level keys (comments, descriptions) do not make a policy invalid."""
    data = default_data()
    data["_comment"] = "reviewed by sales ops"
    data["description"] = "default routing"
    assert check_policy(data, "p.json") == []


def test_lower_case_country_codes_are_accepted_as_upper_case() -> None:
    """A region written with lower-case codes still routes those countries."""
    data = default_data()
    data["regions"]["NA"] = ["us", "ca"]
    policy = parse_policy(json.dumps(data), "p.json")
    assert policy.region_for("US") == "NA"


def test_default_policy_is_valid_and_complete() -> None:
    """The shipped policy loads, covers 5 regions × 3 segments, and names only valid ids."""
    policy = load_policy(DEFAULT_POLICY)
    assert list(policy.segments) == ["SMB", "MM", "Enterprise"]
    assert set(policy.regions) == {"NA", "EMEA", "APAC", "LATAM", "MEA"}
    for segment in policy.segments:
        for region in policy.regions:
            key = policy.owner_key(segment, region)
            assert key in policy.owners or key in policy.pools
    assert all(is_valid_id(i) and len(i) == 18 for i in policy.all_owner_ids())
    kinds = {policy.owner_kind(o) for o in policy.owners.values()}
    assert kinds == {"user", "queue"}
    assert policy.pools


@pytest.mark.parametrize(
    ("employees", "segment"),
    [(1, "SMB"), (200, "SMB"), (201, "MM"), (2000, "MM"), (2001, "Enterprise"), (0, None)],
    ids=["1", "200", "201", "2000", "2001", "0"],
)
def test_segment_for_uses_inclusive_ranges(employees: int, segment: str | None) -> None:
    """Both ends of a range belong to it."""
    assert load_policy(DEFAULT_POLICY).segment_for(employees) == segment


def test_model_helpers() -> None:
    """Regions, owner keys and owner kinds come from the policy's data."""
    policy = load_policy(DEFAULT_POLICY)
    assert policy.region_for("GB") == "EMEA"
    assert policy.region_for("gb") == "EMEA"
    assert policy.region_for("CU") is None
    assert policy.owner_key("MM", "EMEA") == "MM_EMEA"
    assert policy.owner_kind(policy.queues.default) == "queue"
    assert policy.owner_kind(policy.owners["MM_EMEA"]) == "user"
    ids = policy.all_owner_ids()
    assert policy.queues.overflow in ids
    assert all(m.id in ids for m in policy.pools["SMB_NA"].members)


def test_constructing_an_inconsistent_policy_fails() -> None:
    """RoutingPolicy itself refuses a policy whose parts disagree, not only the file loader."""
    data = default_data()
    del data["owners"]["MM_EMEA"]
    with pytest.raises(ValueError, match=r"\$\.owners\.MM_EMEA"):
        RoutingPolicy.model_validate(data)


def test_policy_check_cli_summarises_a_valid_policy() -> None:
    """`leadfleet policy check` exits 0 and says what the policy holds."""
    result = CliRunner().invoke(app, ["policy", "check", str(ALT_POLICY)])
    assert result.exit_code == 0
    assert "alt-7" in result.stdout
    assert "Small 1–50" in result.stdout
    assert "Mid_Europe" in result.stdout


def test_policy_check_cli_uses_the_configured_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a path the check reads the policy named by LEADFLEET_CONFIG__ROUTING_POLICY."""
    monkeypatch.setenv("LEADFLEET_CONFIG__ROUTING_POLICY", str(ALT_POLICY))
    result = CliRunner().invoke(app, ["policy", "check"])
    assert result.exit_code == 0
    assert "alt-7" in result.stdout


def test_policy_check_cli_lists_every_problem(tmp_path: Path) -> None:
    """An invalid policy exits 2 with one stderr line per problem, each naming file and key."""
    data = default_data()
    _append(("regions", "APAC"), "GB")(data)
    _delete(("owners", "MM_EMEA"))(data)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    result = CliRunner().invoke(app, ["policy", "check", str(path)])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith(str(path) + ": $")]
    assert len(lines) == 2
    assert any("$.regions.APAC" in line for line in lines)
    assert any("$.owners.MM_EMEA" in line for line in lines)
