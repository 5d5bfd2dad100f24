"""The routing policy: segments, regions, owners, pools and queues, validated whole at load.

Rules a policy must satisfy beyond its JSON types (each broken rule is reported with its JSON path):

- employee ranges are inclusive ``[lo, hi]``; sorted by ``lo`` the first starts at 1 (0 is accepted
  as the same start, since a count of 0 is treated as missing), each next ``lo`` is the previous
  ``hi + 1``, and only the last may leave ``hi`` open (null);
- every country is an ISO 3166-1 alpha-2 code and belongs to at most one region;
- every ``<segment>_<region>`` has an owner or a pool, and every owner or pool key names a known
  segment and region; a pool replaces the owner of its key;
- owners are users (005) or queues (00G), queues are 00G, pool members are users, all valid
  Salesforce ids; a pool has at least one active member and weights are at least 1.

Unknown top-level keys and unknown keys in ``routing_rules`` are ignored so a policy file can carry
notes; unknown keys anywhere else are rejected, because a misspelt ``daily_cap`` would silently
change who gets leads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from shared.config_files import json_path
from shared.errors import ConfigError, InvalidInputError
from shared.salesforce.ids import validate_id

USER_PREFIX = "005"
QUEUE_PREFIX = "00G"
_SHOWN_LIMIT = 60


def _id_of(prefixes: tuple[str, ...]) -> AfterValidator:
    """A validator accepting only well-formed Salesforce ids with one of the given key prefixes."""

    def check(value: str) -> str:
        try:
            return validate_id(value, prefixes=prefixes)
        except InvalidInputError as exc:
            raise ValueError(str(exc)) from None

    return AfterValidator(check)


def _alpha_2(value: str) -> str:
    """Accept an ISO 3166-1 alpha-2 code in either case and store it upper-case."""
    code = value.strip().upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"expected an ISO 3166-1 alpha-2 country code, found {value!r}")
    return code


UserId = Annotated[StrictStr, _id_of((USER_PREFIX,))]
QueueId = Annotated[StrictStr, _id_of((QUEUE_PREFIX,))]
OwnerId = Annotated[StrictStr, _id_of((USER_PREFIX, QUEUE_PREFIX))]
CountryCode = Annotated[StrictStr, AfterValidator(_alpha_2)]
OwnerKind = Literal["user", "queue"]


class Segment(BaseModel):
    """A company-size band: inclusive employee range, priority and first-response SLA."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    employee_range: tuple[
        Annotated[StrictInt, Field(ge=0)], Annotated[StrictInt, Field(ge=0)] | None
    ]
    priority: StrictInt
    sla_hours: Annotated[float, Field(gt=0, strict=True)]

    @field_validator("employee_range")
    @classmethod
    def _ordered(cls, value: tuple[int, int | None]) -> tuple[int, int | None]:
        lo, hi = value
        if hi is not None and hi < lo:
            raise ValueError(f"expected lo <= hi, found [{lo}, {hi}]")
        return value

    @property
    def lo(self) -> int:
        """Smallest employee count in the segment."""
        return self.employee_range[0]

    @property
    def hi(self) -> int | None:
        """Largest employee count in the segment, None when open-ended."""
        return self.employee_range[1]

    def contains(self, employees: int) -> bool:
        """Whether a count falls in this segment's inclusive range."""
        return self.lo <= employees and (self.hi is None or employees <= self.hi)

    def describe_range(self) -> str:
        """The range as a person writes it: 201–2000 or 2001+."""
        return f"{self.lo}+" if self.hi is None else f"{self.lo}–{self.hi}"


class PoolMember(BaseModel):
    """A rep in a round-robin pool."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: UserId
    weight: Annotated[StrictInt, Field(ge=1)] = 1
    active: StrictBool = True
    daily_cap: Annotated[StrictInt, Field(ge=0)] | None = None


class Pool(BaseModel):
    """Reps sharing the leads of one segment × region by weight."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    members: Annotated[list[PoolMember], Field(min_length=1)]

    @field_validator("members")
    @classmethod
    def _usable(cls, members: list[PoolMember]) -> list[PoolMember]:
        ids = [m.id for m in members]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(
                f"expected each rep once, found {', '.join(duplicates)} more than once"
            )
        if not any(m.active for m in members):
            raise ValueError("expected at least one active member, found none")
        return members


class Queues(BaseModel):
    """The queues leads fall back to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: QueueId
    overflow: QueueId
    technical: QueueId


class RoutingRules(BaseModel):
    """Industry and country lists that adjust a decision."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    high_priority_industries: list[StrictStr]
    auto_accept_countries: list[CountryCode]
    require_validation_countries: list[CountryCode]


class _PolicyShape(BaseModel):
    """The policy's JSON types, without the rules that relate one part to another."""

    model_config = ConfigDict(extra="ignore", frozen=True, coerce_numbers_to_str=True)

    version: Annotated[str, Field(min_length=1)]
    segments: Annotated[dict[str, Segment], Field(min_length=1)]
    regions: Annotated[dict[str, list[CountryCode]], Field(min_length=1)]
    owners: dict[str, OwnerId]
    queues: Queues
    routing_rules: RoutingRules
    pools: dict[str, Pool] = Field(default_factory=dict)


class RoutingPolicy(_PolicyShape):
    """A whole, consistent routing policy; constructing one runs every check."""

    _region_of: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> RoutingPolicy:
        problems = _range_problems({name: s.employee_range for name, s in self.segments.items()})
        problems += _region_problems(self.regions, self.routing_rules)
        problems += _coverage_problems(
            list(self.segments), list(self.regions), list(self.owners), list(self.pools)
        )
        if problems:
            raise ValueError("; ".join(problems))
        self._region_of = {code: name for name, codes in self.regions.items() for code in codes}
        return self

    def segment_for(self, employees: int) -> str | None:
        """The segment whose inclusive range holds the count, None when none does."""
        for name, segment in self.segments.items():
            if segment.contains(employees):
                return name
        return None

    def region_for(self, alpha_2: str) -> str | None:
        """The region listing an alpha-2 code, None when no region does."""
        return self._region_of.get(alpha_2.upper())

    @staticmethod
    def owner_key(segment: str, region: str) -> str:
        """The owners/pools key of a segment × region."""
        return f"{segment}_{region}"

    @staticmethod
    def owner_kind(owner_id: str) -> OwnerKind:
        """Queue for a Group id (00G), user otherwise; policy owners are only ever these two."""
        return "queue" if owner_id.startswith(QUEUE_PREFIX) else "user"

    def all_owner_ids(self) -> set[str]:
        """Every id a decision can assign: owners, pool members and queues."""
        ids = set(self.owners.values())
        ids.update(m.id for pool in self.pools.values() for m in pool.members)
        ids.update((self.queues.default, self.queues.overflow, self.queues.technical))
        return ids


Range = tuple[int, int | None]


def _range_problems(ranges: dict[str, Range]) -> list[str]:
    """Gaps, overlaps, a wrong start and open ends anywhere but last, in range order."""
    problems: list[str] = []
    ordered = sorted(ranges.items(), key=lambda item: (item[1][0], item[0]))
    previous: tuple[str, Range] | None = None
    for name, (lo, hi) in ordered:
        lo_path = json_path(("segments", name, "employee_range", 0))
        if previous is None:
            if lo not in (0, 1):
                problems.append(
                    f"{lo_path}: expected the smallest range to start at 1, found {lo} "
                    f"(counts 1–{lo - 1} would match no segment)"
                )
        else:
            prev_name, (_, prev_hi) = previous
            if prev_hi is None:
                problems.append(
                    f"{json_path(('segments', prev_name, 'employee_range', 1))}: expected an upper "
                    f"bound because segment {name!r} starts at {lo}, found null "
                    "(only the last range may be open)"
                )
            elif lo <= prev_hi:
                problems.append(
                    f"{lo_path}: expected {prev_hi + 1} (segment {prev_name!r} ends at {prev_hi}), "
                    f"found {lo}: overlaps {prev_name!r}"
                )
            elif lo > prev_hi + 1:
                problems.append(
                    f"{lo_path}: expected {prev_hi + 1} (segment {prev_name!r} ends at {prev_hi}), "
                    f"found {lo}: counts {prev_hi + 1}–{lo - 1} match no segment"
                )
        previous = (name, (lo, hi))
    return problems


def _region_problems(regions: dict[str, list[str]], rules: RoutingRules | None) -> list[str]:
    """A country listed twice, or both auto-accepted and requiring validation."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    for region, codes in regions.items():
        for index, code in enumerate(codes):
            if code not in seen:
                seen[code] = region
                continue
            first = seen[code]
            already = "earlier in this region" if first == region else f"in region {first!r}"
            problems.append(
                f"{json_path(('regions', region, index))}: expected each country in one region, "
                f"found {code} already {already}"
            )
    if rules is not None:
        validating = set(rules.require_validation_countries)
        for index, code in enumerate(rules.auto_accept_countries):
            if code in validating:
                problems.append(
                    f"{json_path(('routing_rules', 'auto_accept_countries', index))}: expected a "
                    f"country either auto-accepted or requiring validation, found {code} in both"
                )
    return problems


def _coverage_problems(
    segments: list[str], regions: list[str], owner_keys: list[str], pool_keys: list[str]
) -> list[str]:
    """Every segment × region has an owner or a pool, and every key names a real combination."""
    problems: list[str] = []
    combos: dict[str, tuple[str, str]] = {}
    for segment in segments:
        for region in regions:
            key = RoutingPolicy.owner_key(segment, region)
            if key in combos:
                problems.append(
                    f"{json_path(('owners', key))}: expected one segment × region per key, found "
                    f"{key!r} meaning both {combos[key]} and {(segment, region)}; rename one"
                )
            combos[key] = (segment, region)
    for section, keys in (("owners", owner_keys), ("pools", pool_keys)):
        for key in keys:
            if key not in combos:
                problems.append(
                    f"{json_path((section, key))}: expected <segment>_<region> with segment one of "
                    f"{segments} and region one of {regions}, found {key!r} "
                    "(unknown segment or region)"
                )
    covered = set(owner_keys) | set(pool_keys)
    for key in combos:
        if key not in covered:
            problems.append(
                f"{json_path(('owners', key))}: expected an owner or a pool, found neither"
            )
    return problems


def _shown(value: object) -> str:
    """A short form of a found value: type name for containers, repr for scalars."""
    if isinstance(value, dict | list):
        return type(value).__name__
    text = repr(value)
    return text if len(text) <= _SHOWN_LIMIT else text[:_SHOWN_LIMIT] + "…"


def _type_problems(exc: ValidationError) -> list[str]:
    """Pydantic errors as lines of JSON path, expectation and what was found."""
    lines = []
    for err in exc.errors():
        where = json_path(tuple(p for p in err["loc"] if p not in ("function-after",)))
        kind = err["type"]
        if kind == "missing":
            lines.append(f"{where}: expected this key, found it missing")
        elif kind == "extra_forbidden":
            lines.append(f"{where}: unknown key (found {_shown(err.get('input'))})")
        elif kind == "value_error":
            lines.append(f"{where}: {str(err['msg']).removeprefix('Value error, ')}")
        else:
            lines.append(f"{where}: {err['msg']} (found {_shown(err.get('input'))})")
    return lines


def _well_typed(model: type[BaseModel], value: object) -> BaseModel | None:
    """The value as the model, or None when it does not validate (its errors are reported elsewhere)."""
    try:
        return model.model_validate(value)
    except ValidationError:
        return None


def _cross_check(data: dict[str, Any]) -> list[str]:
    """The relational checks on whatever parts of a possibly broken policy are well-typed."""
    raw_segments = data.get("segments")
    raw_regions = data.get("regions")
    raw_owners = data.get("owners")
    raw_pools = data.get("pools", {})
    segments = raw_segments if isinstance(raw_segments, dict) else {}
    regions = raw_regions if isinstance(raw_regions, dict) else {}
    problems: list[str] = []
    ranges: dict[str, Range] = {}
    for name, raw in segments.items():
        parsed = _well_typed(Segment, raw)
        if isinstance(parsed, Segment):
            ranges[name] = parsed.employee_range
    # One unreadable range would make its neighbours look gapped; its own error says enough.
    if len(ranges) == len(segments):
        problems += _range_problems(ranges)
    codes: dict[str, list[str]] = {}
    for name, raw_codes in regions.items():
        codes[name] = []
        for code in raw_codes if isinstance(raw_codes, list) else []:
            try:
                codes[name].append(_alpha_2(code))
            except (ValueError, AttributeError):
                continue
    rules = _well_typed(RoutingRules, data.get("routing_rules"))
    problems += _region_problems(codes, rules if isinstance(rules, RoutingRules) else None)
    if isinstance(raw_owners, dict) and isinstance(raw_pools, dict) and segments and regions:
        problems += _coverage_problems(
            list(segments), list(regions), list(raw_owners), list(raw_pools)
        )
    return problems


def check_policy(data: object, source: str) -> list[str]:
    """Every problem with a parsed policy document, each as "source: $.json.path: what is wrong"."""
    if not isinstance(data, dict):
        return [f"{source}: $: expected a JSON object, found {_shown(data)}"]
    problems: list[str] = []
    try:
        _PolicyShape.model_validate(data)
    except ValidationError as exc:
        problems.extend(_type_problems(exc))
    problems.extend(_cross_check(data))
    return [f"{source}: {p}" for p in problems]


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build a JSON object, refusing a key given twice (JSON would keep only the last silently)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} appears twice in one object")
        out[key] = value
    return out


def parse_policy(text: str, source: str) -> RoutingPolicy:
    """Parse and check policy JSON text, raising ConfigError(source, problems) listing every problem."""
    try:
        data = json.loads(text, object_pairs_hook=_reject_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            source, [f"{source}: line {exc.lineno} column {exc.colno}: invalid JSON ({exc.msg})"]
        ) from None
    except ValueError as exc:
        raise ConfigError(source, [f"{source}: invalid JSON ({exc})"]) from None
    problems = check_policy(data, source)
    if problems:
        raise ConfigError(source, problems)
    return RoutingPolicy.model_validate(data)


def load_policy(path: Path) -> RoutingPolicy:
    """Read, parse and check a policy file, raising ConfigError naming the file and every problem."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(str(path), [f"{path}: cannot read file: {exc.strerror}"]) from None
    return parse_policy(text, str(path))
