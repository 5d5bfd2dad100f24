"""The simulator's SOQL subset: a parsed query compiled to one parameterised SQLite SELECT.

Storage conventions the compiled SQL relies on: datetimes are TEXT
`YYYY-MM-DDTHH:MM:SS.mmm+0000` in UTC, dates TEXT `YYYY-MM-DD`, booleans
INTEGER 0/1, int INTEGER, double/currency/percent REAL, everything else TEXT;
ids are stored in their 18-character form (the case-sensitive 15-character id
first) under SQLite's default binary collation. Table and column names are the
canonical sobject and field names.

Semantics taken from Salesforce: names and keywords are case-insensitive; text
comparisons ignore case (ASCII only, as SQLite's NOCASE does); a 15-character id
matches case-sensitively and an 18-character id case-insensitively; null is a
value, so `!=` and `NOT IN` return rows whose field is null and no condition is
ever unknown; a boolean compared with null reads null as false.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from simulator.soql_parser import (
    And,
    BooleanValue,
    Comparison,
    Condition,
    DateTimeValue,
    DateValue,
    InList,
    Like,
    LikePattern,
    Not,
    NullValue,
    NumberValue,
    Or,
    Query,
    RelativeDate,
    SoqlError,
    StringValue,
    Value,
    parse,
)

__all__ = ["FieldType", "Query", "SoqlError", "SqlPlan", "compile_query", "parse", "plan"]

FieldType = Literal[
    "id", "reference", "string", "textarea", "picklist", "email", "phone", "url",
    "boolean", "int", "double", "currency", "percent", "date", "datetime",
]  # fmt: skip


@dataclass(frozen=True)
class SqlPlan:
    """One SQLite SELECT answering a SOQL query; values only ever travel in `params`."""

    sql: str
    params: tuple[object, ...]
    columns: tuple[str, ...]
    sobject: str
    is_count: bool


def plan(soql: str, schemas: Mapping[str, Mapping[str, FieldType]], *, now: datetime) -> SqlPlan:
    """Parse and compile a SOQL query against the org's schemas."""
    return compile_query(parse(soql), schemas, now=now)


def compile_query(
    query: Query, schemas: Mapping[str, Mapping[str, FieldType]], *, now: datetime
) -> SqlPlan:
    """Compile a parsed query; relative date literals are ranges around `now` (UTC if naive)."""
    sobject = _resolve_sobject(query.sobject, schemas)
    compiler = _Compiler(sobject, schemas[sobject], now)
    table = _quote(sobject)
    columns = tuple(compiler.field(name)[0] for name in query.fields)
    # Parameters are collected in the order their clauses appear in the SQL.
    where = f" WHERE {compiler.condition(query.where).text}" if query.where is not None else ""
    order = compiler.order_by(query)  # resolved even for COUNT(): unknown fields are refused
    paging = compiler.paging(query.limit, query.offset)
    # Identifiers in the SQL come only from the schema and every value is a `?` parameter,
    # so the string building below cannot carry query text into SQL.
    if query.is_count:
        counted = f"(SELECT 1 FROM {table}{where}{paging})" if paging else table + where  # noqa: S608
        sql = f"SELECT COUNT(*) FROM {counted}"  # noqa: S608
        return SqlPlan(sql, tuple(compiler.params), (), sobject, is_count=True)
    select = ", ".join(_quote(column) for column in columns)
    sql = f"SELECT {select} FROM {table}{where}{order}{paging}"  # noqa: S608
    return SqlPlan(sql, tuple(compiler.params), columns, sobject, is_count=False)


def _resolve_sobject(name: str, schemas: Mapping[str, Mapping[str, FieldType]]) -> str:
    for canonical in schemas:
        if canonical.lower() == name.lower():
            return canonical
    raise SoqlError(
        "INVALID_TYPE",
        f"sObject type '{name}' is not supported. If you are attempting to use a custom object, "
        "be sure to append the '__c' after the entity name. Please reference your WSDL or the "
        "describe call for the appropriate names.",
    )


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


_TEXT_TYPES = frozenset({"string", "textarea", "picklist", "email", "phone", "url"})
_ID_TYPES = frozenset({"id", "reference"})
# The type names Salesforce uses in "value of filter criterion" errors.
_TYPE_NAMES: dict[str, str] = {
    **dict.fromkeys(_TEXT_TYPES, "string"),
    **dict.fromkeys(_ID_TYPES, "id"),
    "boolean": "boolean",
    "int": "integer",
    "double": "double",
    "currency": "double",
    "percent": "double",
    "date": "date",
    "datetime": "dateTime",
}
_INT64 = (-(2**63), 2**63 - 1)
_ID_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_AFTER_ID_CHARACTERS = "\x7f"  # sorts after every character an id can hold
_CHUNK = 50


@dataclass(frozen=True)
class _Range:
    """A literal that stands for the half-open interval [low, high): a relative date or an id."""

    low: str
    high: str


_Bound = object  # a SQLite parameter, a _Range, or None for the null keyword

# How loosely a WHERE fragment's top operator binds, loosest first.
_OR, _AND, _NOT, _ATOM = range(4)


@dataclass(frozen=True)
class _Sql:
    """A WHERE fragment and how loosely its top operator binds."""

    text: str
    level: int

    def at(self, level: int) -> str:
        """The text, in parentheses only where it would bind looser than its context."""
        return self.text if self.level >= level else f"({self.text})"


_FALSE = _Sql("0", _ATOM)


class _Compiler:
    def __init__(self, sobject: str, fields: Mapping[str, FieldType], now: datetime) -> None:
        self._sobject = sobject
        self._fields = {name.lower(): (name, ftype) for name, ftype in fields.items()}
        self._now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
        self.params: list[object] = []

    def field(self, name: str) -> tuple[str, FieldType]:
        found = self._fields.get(name.lower())
        if found is None:
            raise SoqlError(
                "INVALID_FIELD",
                f"No such column '{name}' on entity '{self._sobject}'. If you are attempting to "
                "use a custom field, be sure to append the '__c' after the custom field name. "
                "Please reference your WSDL or the describe call for the appropriate names.",
            )
        if found[1] not in _TYPE_NAMES:
            raise ValueError(f"unknown field type {found[1]!r} for {self._sobject}.{found[0]}")
        return found

    def paging(self, limit: int | None, offset: int | None) -> str:
        if limit is None and offset is None:
            return ""
        # SQLite needs a LIMIT before OFFSET; -1 means no limit.
        self.params.append(-1 if limit is None else min(limit, _INT64[1]))
        if offset is None:
            return " LIMIT ?"
        self.params.append(offset)
        return " LIMIT ? OFFSET ?"

    def order_by(self, query: Query) -> str:
        keys = []
        for item in query.order_by:
            expression, _ = _operand(*self.field(item.field))
            direction = "DESC" if item.descending else "ASC"
            nulls = "FIRST" if item.nulls_first else "LAST"
            keys.append(f"{expression} {direction} NULLS {nulls}")
        return f" ORDER BY {', '.join(keys)}" if keys else ""

    def condition(self, node: Condition) -> _Sql:
        if isinstance(node, And | Or):
            kind = type(node)
            operands: list[Condition] = []
            for operand in node.operands:
                # `a AND (b AND c)` is one chain; nesting in SQL text costs parser stack.
                operands.extend(operand.operands if isinstance(operand, kind) else (operand,))
            # The deepest operands go last, where a left-deep chain keeps them near its root.
            operands.sort(key=_nesting)
            level = _AND if kind is And else _OR
            return _chain(level, [self.condition(operand) for operand in operands])
        if isinstance(node, Not):
            return _negate(self.condition(node.operand))
        if isinstance(node, Comparison):
            return self._comparison(node)
        if isinstance(node, InList):
            return self._in_list(node)
        return self._like(node)

    def _comparison(self, node: Comparison) -> _Sql:
        name, ftype = self.field(node.field)
        if ftype == "boolean" and node.operator not in ("=", "!="):
            raise SoqlError("INVALID_QUERY_FILTER_OPERATOR", "invalid operator on boolean field")
        bound = self._bound(name, ftype, node.value)
        if bound is None:
            return _null_test(name, ftype, node.operator)
        if node.operator == "!=":
            return _negate(self._match(name, ftype, "=", bound))
        return self._match(name, ftype, node.operator, bound)

    def _match(self, name: str, ftype: FieldType, operator: str, bound: _Bound) -> _Sql:
        """A test that is never null, so NOT around it keeps Salesforce's two-valued logic."""
        expression, guard = _operand(name, ftype)
        level = _AND if guard else _ATOM
        if not isinstance(bound, _Range):
            self.params.append(bound)
            return _Sql(f"{guard}{expression} {operator} ?", level)
        # A range literal: `=` means inside it, `<` before it, `>` after it.
        if operator == "=":
            self.params.extend((bound.low, bound.high))
            return _Sql(f"{guard}{expression} >= ? AND {expression} < ?", _AND)
        edge_operator, edge = {
            "<": ("<", bound.low),
            "<=": ("<", bound.high),
            ">": (">=", bound.high),
            ">=": (">=", bound.low),
        }[operator]
        self.params.append(edge)
        return _Sql(f"{guard}{expression} {edge_operator} ?", level)

    def _in_list(self, node: InList) -> _Sql:
        name, ftype = self.field(node.field)
        expression, guard = _operand(name, ftype)
        bounds = [self._bound(name, ftype, value) for value in node.values]
        with_null = None in bounds
        if with_null and ftype == "boolean":
            bounds, with_null = [0 if bound is None else bound for bound in bounds], False
        scalars = [bound for bound in bounds if bound is not None and not isinstance(bound, _Range)]
        tests = []
        if scalars:
            self.params.extend(scalars)
            tests.append(_Sql(f"{expression} IN ({', '.join('?' * len(scalars))})", _ATOM))
        for bound in bounds:
            if isinstance(bound, _Range):
                self.params.extend((bound.low, bound.high))
                tests.append(_Sql(f"{expression} >= ? AND {expression} < ?", _AND))
        matched = _FALSE
        if tests:
            alternatives = _chain(_OR, tests)
            matched = _Sql(guard + alternatives.at(_AND), _AND) if guard else alternatives
        if with_null:
            matched = _chain(_OR, [_Sql(f"{_quote(name)} IS NULL", _ATOM), matched])
        return _negate(matched) if node.negated else matched

    def _like(self, node: Like) -> _Sql:
        name, ftype = self.field(node.field)
        if ftype not in _TEXT_TYPES:
            raise SoqlError(
                "INVALID_QUERY_FILTER_OPERATOR", f"invalid operator on {_TYPE_NAMES[ftype]} field"
            )
        if isinstance(node.value, NullValue):
            return _FALSE
        if not isinstance(node.value, LikePattern):
            raise _type_error(name, ftype)
        self.params.append(node.value.pattern)
        column = _quote(name)
        return _Sql(f"{column} IS NOT NULL AND {column} LIKE ? ESCAPE '\\'", _AND)

    def _bound(self, name: str, ftype: FieldType, value: Value) -> _Bound:
        """Convert a literal to the storage form of the field's type, or refuse it."""
        if isinstance(value, NullValue):
            return None
        if ftype in _TEXT_TYPES and isinstance(value, StringValue):
            return value.value
        if ftype in _ID_TYPES and isinstance(value, StringValue):
            # Stored ids are 18 characters; the literal stands for every id sharing its
            # 15-character case-sensitive prefix, a range an index on the column can serve.
            prefix = _id15(value.value)
            return _Range(prefix, prefix + _AFTER_ID_CHARACTERS)
        if ftype == "boolean" and isinstance(value, BooleanValue):
            return int(value.value)
        if ftype == "int" and isinstance(value, NumberValue) and value.is_integer:
            if not _INT64[0] <= value.value <= _INT64[1]:
                raise SoqlError(
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    f"value {value.text} is outside the valid range for field '{name}'",
                )
            return int(value.value)
        if ftype in ("double", "currency", "percent") and isinstance(value, NumberValue):
            return float(value.value)
        if ftype == "date" and isinstance(value, DateValue):
            return value.value.isoformat()
        if ftype == "datetime" and isinstance(value, DateTimeValue):
            return _storage_datetime(value.value)
        if ftype in ("date", "datetime") and isinstance(value, RelativeDate):
            try:
                low, high = _relative_range(value, self._now)
            except (OverflowError, ValueError):
                raise SoqlError(
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    f"date literal {value.name}:{value.n} is outside the valid range",
                ) from None
            if ftype == "datetime":
                return _Range(_storage_datetime(low), _storage_datetime(high))
            return _Range(low.date().isoformat(), _ceil_date(high).isoformat())
        raise _type_error(name, ftype)


def _nesting(node: Condition) -> int:
    if isinstance(node, Not):
        return 1 + _nesting(node.operand)
    if isinstance(node, And | Or):
        return 1 + max(_nesting(operand) for operand in node.operands)
    return 0


def _chain(level: int, parts: list[_Sql]) -> _Sql:
    """Join fragments with AND or OR, cutting long chains into parenthesised chunks."""
    if len(parts) == 1:
        return parts[0]
    joiner = " AND " if level == _AND else " OR "
    texts = [part.at(level) for part in parts]
    # SQLite refuses expressions nested 1000 deep, and a chain is one level per term. The
    # last term, where compound operands sort, stays outside the chunks: every parenthesis
    # around it would cost SQLite parser stack, which is only 100 entries deep.
    while len(texts) > _CHUNK:
        head = texts[:-1]
        chunks = [f"({joiner.join(head[i : i + _CHUNK])})" for i in range(0, len(head), _CHUNK)]
        texts = [*chunks, texts[-1]]
    return _Sql(joiner.join(texts), level)


def _negate(sql: _Sql) -> _Sql:
    return _Sql(f"NOT {sql.at(_NOT)}", _NOT)


def _operand(name: str, ftype: FieldType) -> tuple[str, str]:
    """The column as compared and the guard that keeps a null column from matching.

    Text ignores case; a boolean is never null (null reads as false), so it needs no guard.
    """
    column = _quote(name)
    guard = f"{column} IS NOT NULL AND "
    if ftype in _TEXT_TYPES:
        return f"{column} COLLATE NOCASE", guard
    if ftype == "boolean":
        return f"IFNULL({column}, 0)", ""
    return column, guard


def _null_test(name: str, ftype: FieldType, operator: str) -> _Sql:
    if ftype == "boolean":
        # Salesforce reads a boolean compared with null as false.
        return _Sql(f"IFNULL({_quote(name)}, 0) = {0 if operator == '=' else 1}", _ATOM)
    if operator in ("=", "!="):
        return _Sql(f"{_quote(name)} IS {'NULL' if operator == '=' else 'NOT NULL'}", _ATOM)
    return _FALSE


def _type_error(name: str, ftype: FieldType) -> SoqlError:
    quoted = ftype in _TEXT_TYPES or ftype in _ID_TYPES
    return SoqlError(
        "MALFORMED_QUERY",
        f"value of filter criterion for field '{name}' must be of type {_TYPE_NAMES[ftype]} "
        f"and should {'' if quoted else 'not '}be enclosed in quotes",
    )


def _id15(value: str) -> str:
    """The case-sensitive 15-character form of an id literal; an 18-char id's suffix restores case."""
    invalid = SoqlError("INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {value}")
    if len(value) not in (15, 18) or not (value.isascii() and value.isalnum()):
        raise invalid
    if len(value) == 15:
        return value
    chars = []
    for chunk in range(3):
        bits = _ID_SUFFIX_ALPHABET.find(value[15 + chunk].upper())
        if bits < 0:
            raise invalid
        for offset, char in enumerate(value[chunk * 5 : chunk * 5 + 5]):
            upper = bool(bits >> offset & 1)
            if upper and not char.isalpha():
                raise invalid
            chars.append(char.upper() if upper else char.lower())
    return "".join(chars)


def _storage_datetime(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def _ceil_date(moment: datetime) -> date:
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return moment.date() if moment == midnight else moment.date() + timedelta(days=1)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _month_start(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _relative_range(literal: RelativeDate, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of a relative date literal in UTC; weeks start on Sunday (en_US locale)."""
    today = now.date()
    n = literal.n or 0
    day = timedelta(days=1)
    hour = now.replace(minute=0, second=0, microsecond=0)
    week = today - timedelta(days=(today.weekday() + 1) % 7)
    days: dict[str, tuple[date, date]] = {
        "YESTERDAY": (today - day, today),
        "TODAY": (today, today + day),
        "TOMORROW": (today + day, today + 2 * day),
        "LAST_WEEK": (week - 7 * day, week),
        "THIS_WEEK": (week, week + 7 * day),
        "NEXT_WEEK": (week + 7 * day, week + 14 * day),
        "LAST_MONTH": (_month_start(today, -1), _month_start(today, 0)),
        "THIS_MONTH": (_month_start(today, 0), _month_start(today, 1)),
        "NEXT_MONTH": (_month_start(today, 1), _month_start(today, 2)),
        "LAST_YEAR": (date(today.year - 1, 1, 1), date(today.year, 1, 1)),
        "THIS_YEAR": (date(today.year, 1, 1), date(today.year + 1, 1, 1)),
        "NEXT_YEAR": (date(today.year + 1, 1, 1), date(today.year + 2, 1, 1)),
        # The LAST_ literals include today: LAST_N_DAYS:1 is yesterday and today.
        "LAST_90_DAYS": (today - 90 * day, today + day),
        "NEXT_90_DAYS": (today + day, today + 91 * day),
        "LAST_N_DAYS": (today - n * day, today + day),
        "NEXT_N_DAYS": (today + day, today + (n + 1) * day),
        "N_DAYS_AGO": (today - n * day, today - (n - 1) * day),
    }
    if literal.name in days:
        start, end = days[literal.name]
        return _midnight(start), _midnight(end)
    if literal.name == "LAST_N_HOURS":
        return hour - timedelta(hours=n), hour + timedelta(hours=1)
    return hour + timedelta(hours=1), hour + timedelta(hours=n + 1)
