"""The simulator's SOQL subset answers like Salesforce, run against a real in-memory SQLite table."""

from __future__ import annotations

import contextlib
import operator
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.soql import FieldType, SoqlError, plan

NOW = datetime(2026, 11, 25, 15, 30, tzinfo=UTC)  # a Wednesday; the week began on Sunday the 22nd

SCHEMAS: dict[str, dict[str, FieldType]] = {
    "Lead": {
        "Id": "id",
        "Name": "string",
        "Email": "email",
        "Status": "picklist",
        "OwnerId": "reference",
        "HasOptedOutOfEmail": "boolean",
        "NumberOfEmployees": "int",
        "AnnualRevenue": "currency",
        "First_Response_At__c": "datetime",
        "LastActivityDate": "date",
    },
    "Task": {"Id": "id", "WhoId": "reference", "Status": "picklist"},
}
_SQL_TYPES = {"boolean": "INTEGER", "int": "INTEGER", "double": "REAL", "currency": "REAL"}

U1 = "0055e000003Ws1AAAS"
U2 = "0055e000003Ws1BAAS"
# Acme's and acme labs' ids differ only in letter case: distinct 15-character ids.
LEAD_COLUMNS = tuple(SCHEMAS["Lead"])
LEADS = [
    ("00Q5e00000AbCdEEAV", "Acme", "ops@acme.com", "Open", U1, 0, 50, 1000000.0,
     "2026-11-25T00:00:00.000+0000", "2026-11-25"),
    ("00Q5e00000aBcDeEAK", "acme labs", "LABS@ACME.COM", "Working", U1, 1, 500, 2500000.5,
     "2026-11-24T23:59:59.999+0000", "2026-11-24"),
    ("00Q5e00000Qx7LmEAJ", "O'Brien", "ob@example.org", "Open", U2, 0, 5, None,
     "2026-11-26T00:00:00.000+0000", "2026-11-26"),
    ("00Q5e00000Qx7LnEAJ", "100% Cotton", None, "Closed", U2, 0, None, 0.0,
     "2026-11-22T00:00:00.000+0000", None),
    ("00Q5e00000Rt9PqEAJ", "snake_case", "snake@example.org", None, None, 0, 10, 99.99,
     "2026-11-21T23:59:59.999+0000", "2026-11-21"),
    ("00Q5e00000Rt9PrEAJ", "back\\slash", "bs@example.org", "Working", U1, None, 10000, 5000.0,
     "2026-11-25T15:30:00.000+0000", "2026-12-01"),
    ("00Q5e00000Zz1AaEAJ", None, "anon@example.org", "Open", None, 0, 0, None, None, None),
]  # fmt: skip
TASKS = [
    ("00T5e00000Tk1AaEAJ", "00Q5e00000AbCdEEAV", "Completed"),
    ("00T5e00000Tk1AbEAJ", "00Q5e00000aBcDeEAK", "Not Started"),
]
ALL_NAMES = {row[1] for row in LEADS}
BACKSLASH = "back\\slash"


def create_tables(connection: sqlite3.Connection) -> None:
    """Create one table per sobject with the storage conventions the store uses."""
    for sobject, fields in SCHEMAS.items():
        columns = ", ".join(
            f'"{name}" {_SQL_TYPES.get(ftype, "TEXT")}' for name, ftype in fields.items()
        )
        connection.execute(f'CREATE TABLE "{sobject}" ({columns})')


@pytest.fixture
def db() -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(":memory:")
    create_tables(connection)
    connection.executemany(
        f'INSERT INTO "Lead" VALUES ({", ".join("?" * len(LEAD_COLUMNS))})', LEADS
    )
    connection.executemany('INSERT INTO "Task" VALUES (?, ?, ?)', TASKS)
    yield connection
    connection.close()


def run(db: sqlite3.Connection, soql: str) -> list[object]:
    """Plan the query, execute it, and return the first column of each row in order."""
    compiled = plan(soql, SCHEMAS, now=NOW)
    return [row[0] for row in db.execute(compiled.sql, compiled.params)]


def names_where(db: sqlite3.Connection, condition: str) -> set[object]:
    return set(run(db, f"SELECT Name FROM Lead WHERE {condition}"))


def others(*names: str | None) -> set[str | None]:
    return ALL_NAMES - set(names)


def table_is_intact(db: sqlite3.Connection) -> bool:
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return (
        tables == {"Lead", "Task"} and db.execute('SELECT COUNT(*) FROM "Lead"').fetchone()[0] == 7
    )


# --- comparison operators ---------------------------------------------------------------------

OPERATORS = [
    ("Name = 'Acme'", {"Acme"}, "equals"),
    ("Name = 'ACME'", {"Acme"}, "equals-ignores-case"),
    ("Name != 'Acme'", others("Acme"), "not-equals-includes-null"),
    ("Name <> 'Acme'", others("Acme"), "angle-not-equals"),
    ("Name < 'b'", {"Acme", "acme labs", "100% Cotton"}, "less-than-text-ignores-case"),
    ("Email = 'labs@acme.com'", {"acme labs"}, "email-ignores-case"),
    ("NumberOfEmployees < 50", {"O'Brien", "snake_case", None}, "less-than"),
    ("NumberOfEmployees <= 50", {"O'Brien", "snake_case", None, "Acme"}, "less-or-equal"),
    ("NumberOfEmployees > 500", {BACKSLASH}, "greater-than"),
    ("NumberOfEmployees >= 500", {"acme labs", BACKSLASH}, "greater-or-equal"),
    ("NumberOfEmployees > -1", others("100% Cotton"), "negative-literal"),
    ("AnnualRevenue > 2500000", {"acme labs"}, "currency-against-integer"),
    ("AnnualRevenue = 99.99", {"snake_case"}, "currency-decimal"),
    ("HasOptedOutOfEmail = true", {"acme labs"}, "boolean-true"),
    ("HasOptedOutOfEmail = FALSE", others("acme labs"), "boolean-false-includes-unset"),
    ("LastActivityDate = 2026-11-24", {"acme labs"}, "date-equals"),
    ("LastActivityDate > 2026-11-25", {"O'Brien", BACKSLASH}, "date-after"),
]


@pytest.mark.parametrize(
    ("condition", "expected"), [c[:2] for c in OPERATORS], ids=[c[2] for c in OPERATORS]
)
def test_comparison_operators_select_the_rows_salesforce_would(
    db: sqlite3.Connection, condition: str, expected: set[object]
) -> None:
    """Each operator returns exactly the matching rows, with text compared case-insensitively."""
    assert names_where(db, condition) == expected


NULLS = [
    ("Email = null", {"100% Cotton"}, "equals-null"),
    ("Email != null", others("100% Cotton"), "not-equals-null"),
    ("Status = NULL", {"snake_case"}, "picklist-null"),
    ("HasOptedOutOfEmail = null", others("acme labs"), "boolean-null-reads-as-false"),
    ("HasOptedOutOfEmail != null", {"acme labs"}, "boolean-not-null-reads-as-true"),
    ("NumberOfEmployees > null", set(), "ordering-against-null-matches-nothing"),
    (
        "NOT NumberOfEmployees > 10",
        {"O'Brien", "snake_case", "100% Cotton", None},
        "not-includes-null",
    ),
    (
        "Status NOT IN ('Open')",
        {"acme labs", "100% Cotton", "snake_case", BACKSLASH},
        "not-in-includes-null",
    ),
    ("Email LIKE '%'", others("100% Cotton"), "like-skips-null"),
]


@pytest.mark.parametrize(
    ("condition", "expected"), [c[:2] for c in NULLS], ids=[c[2] for c in NULLS]
)
def test_null_is_a_value_and_no_condition_is_unknown(
    db: sqlite3.Connection, condition: str, expected: set[object]
) -> None:
    """`= null` finds blanks, and negations return rows whose field is null, as in Salesforce."""
    assert names_where(db, condition) == expected


IN_LISTS = [
    ("Status IN ('Open', 'Closed')", {"Acme", "O'Brien", "100% Cotton", None}, "in"),
    ("Status IN ('open')", {"Acme", "O'Brien", None}, "in-ignores-case"),
    ("Status NOT IN ('Open', 'Working')", {"100% Cotton", "snake_case"}, "not-in"),
    ("Status IN ('Closed', null)", {"100% Cotton", "snake_case"}, "in-with-null"),
    (
        "Status NOT IN ('Closed', null)",
        {"Acme", "acme labs", "O'Brien", BACKSLASH, None},
        "not-in-with-null",
    ),
    ("NumberOfEmployees IN (5, 10)", {"O'Brien", "snake_case"}, "in-integers"),
    (
        "LastActivityDate IN (2026-11-21, TOMORROW)",
        {"snake_case", "O'Brien"},
        "in-dates-and-literals",
    ),
    ("Id IN ('00Q5e00000AbCdE', '00Q5e00000Qx7LmEAJ')", {"Acme", "O'Brien"}, "in-mixed-id-lengths"),
    ("HasOptedOutOfEmail IN (true)", {"acme labs"}, "in-booleans"),
    (f"OwnerId NOT IN ('{U1[:15]}', '{U2}')", {"snake_case", None}, "not-in-ids-includes-null"),
]


@pytest.mark.parametrize(
    ("condition", "expected"), [c[:2] for c in IN_LISTS], ids=[c[2] for c in IN_LISTS]
)
def test_in_and_not_in(db: sqlite3.Connection, condition: str, expected: set[object]) -> None:
    """IN matches any listed value; NOT IN returns everything else, nulls included."""
    assert names_where(db, condition) == expected


LIKES = [
    (r"Name LIKE 'acme%'", {"Acme", "acme labs"}, "prefix-ignores-case"),
    (r"Name LIKE '%COTTON'", {"100% Cotton"}, "suffix"),
    (r"Name LIKE 'O_Brien'", {"O'Brien"}, "underscore-is-one-character"),
    (r"Name LIKE 'acme_labs'", {"acme labs"}, "underscore-matches-space"),
    (r"Name LIKE 'acme\_labs'", set(), "escaped-underscore-is-literal"),
    (r"Name LIKE 'snake\_case'", {"snake_case"}, "escaped-underscore-matches-underscore"),
    (r"Name LIKE '100\% Cotton'", {"100% Cotton"}, "escaped-percent-is-literal"),
    (r"Name LIKE '1\%%'", set(), "escaped-percent-then-wildcard-no-match"),
    (r"Name LIKE '100\%%'", {"100% Cotton"}, "escaped-percent-then-wildcard"),
    (r"Name LIKE 'back\\slash'", {BACKSLASH}, "escaped-backslash"),
    (r"Name LIKE 'O\'%'", {"O'Brien"}, "escaped-quote"),
    (r"NOT Name LIKE 'acme%'", others("Acme", "acme labs"), "not-like-includes-null"),
]


@pytest.mark.parametrize(
    ("condition", "expected"), [c[:2] for c in LIKES], ids=[c[2] for c in LIKES]
)
def test_like_wildcards_and_escapes(
    db: sqlite3.Connection, condition: str, expected: set[object]
) -> None:
    """% and _ are wildcards, \\% and \\_ are the characters themselves, matching ignores case."""
    assert names_where(db, condition) == expected


LOGIC = [
    ("Status = 'Open' AND NumberOfEmployees > 10", {"Acme"}, "and"),
    ("Status = 'Open' OR NumberOfEmployees > 1000", {"Acme", "O'Brien", None, BACKSLASH}, "or"),
    ("Status = 'Open' AND Name != null AND NumberOfEmployees > 1", {"Acme", "O'Brien"}, "and-chain"),
    ("(Status = 'Open' OR Status = 'Working') AND HasOptedOutOfEmail = false",
     {"Acme", "O'Brien", BACKSLASH, None}, "or-inside-and"),
    ("Status = 'Open' AND (NumberOfEmployees < 10 OR Email LIKE '%acme%')",
     {"Acme", "O'Brien", None}, "and-with-nested-or"),
    ("NOT (Status = 'Open' OR Status = 'Working')", {"100% Cotton", "snake_case"}, "not-group"),
    ("NOT NOT Status = 'Closed'", {"100% Cotton"}, "double-not"),
    ("((Name = 'Acme'))", {"Acme"}, "redundant-parentheses"),
    ("NOT Status = 'Open' AND NOT Status = 'Working'", {"100% Cotton", "snake_case"}, "not-binds-tightly"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("condition", "expected"), [c[:2] for c in LOGIC], ids=[c[2] for c in LOGIC]
)
def test_and_or_not_nesting(db: sqlite3.Connection, condition: str, expected: set[object]) -> None:
    """AND, OR, NOT and parentheses combine conditions as written."""
    assert names_where(db, condition) == expected


DATETIMES = [
    ("= 2026-11-25T00:00:00Z", {"Acme"}, "zulu"),
    ("= 2026-11-25T00:00:00.000Z", {"Acme"}, "zulu-millis"),
    ("= 2026-11-25T01:00:00+01:00", {"Acme"}, "positive-offset"),
    ("= 2026-11-24T18:59:59.999-05:00", {"acme labs"}, "negative-offset-millis"),
    ("= 2026-11-25T05:30:00.000+0530", {"Acme"}, "offset-without-colon"),
    ("= 2026-11-25T00:00:00.000+0000", {"Acme"}, "storage-form"),
    ("> 2026-11-25T15:29:59Z", {BACKSLASH, "O'Brien"}, "after"),
    ("< 2026-11-22T00:00:00Z", {"snake_case"}, "before"),
]


@pytest.mark.parametrize(
    ("clause", "expected"), [c[:2] for c in DATETIMES], ids=[c[2] for c in DATETIMES]
)
def test_datetime_literals_in_every_form_compare_in_utc(
    db: sqlite3.Connection, clause: str, expected: set[object]
) -> None:
    """A date-time literal with any offset denotes the same UTC instant the row stores."""
    assert names_where(db, f"First_Response_At__c {clause}") == expected


RELATIVE = [
    ("First_Response_At__c = TODAY", {"Acme", BACKSLASH}, "today"),
    ("First_Response_At__c = YESTERDAY", {"acme labs"}, "yesterday"),
    ("First_Response_At__c = TOMORROW", {"O'Brien"}, "tomorrow"),
    ("First_Response_At__c > TODAY", {"O'Brien"}, "after-today"),
    ("First_Response_At__c >= TODAY", {"Acme", BACKSLASH, "O'Brien"}, "from-today"),
    ("First_Response_At__c < TODAY", {"acme labs", "100% Cotton", "snake_case"}, "before-today"),
    ("First_Response_At__c <= TODAY", others("O'Brien", None), "up-to-end-of-today"),
    ("First_Response_At__c != TODAY", {"acme labs", "O'Brien", "100% Cotton", "snake_case", None},
     "not-today-includes-null"),
    ("First_Response_At__c = LAST_N_DAYS:3", {"Acme", "acme labs", "100% Cotton", BACKSLASH},
     "last-n-days-includes-today"),
    ("First_Response_At__c = NEXT_N_DAYS:1", {"O'Brien"}, "next-n-days-starts-tomorrow"),
    ("First_Response_At__c = N_DAYS_AGO:3", {"100% Cotton"}, "n-days-ago"),
    ("First_Response_At__c = THIS_WEEK", others("snake_case", None), "this-week-from-sunday"),
    ("First_Response_At__c = LAST_WEEK", {"snake_case"}, "last-week"),
    ("First_Response_At__c = LAST_N_HOURS:1", {BACKSLASH}, "last-n-hours"),
    ("First_Response_At__c = THIS_MONTH", others(None), "this-month"),
    ("First_Response_At__c = LAST_MONTH", set(), "last-month"),
    ("LastActivityDate = TODAY", {"Acme"}, "date-today"),
    ("LastActivityDate < TODAY", {"acme labs", "snake_case"}, "date-before-today"),
    ("LastActivityDate > TODAY", {"O'Brien", BACKSLASH}, "date-after-today"),
    ("LastActivityDate = NEXT_N_DAYS:7", {"O'Brien", BACKSLASH}, "date-next-n-days"),
    ("LastActivityDate = LAST_N_DAYS:1", {"Acme", "acme labs"}, "date-last-n-days"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("condition", "expected"), [c[:2] for c in RELATIVE], ids=[c[2] for c in RELATIVE]
)
def test_relative_date_literals_are_ranges_around_now(
    db: sqlite3.Connection, condition: str, expected: set[object]
) -> None:
    """TODAY and friends are UTC day ranges: = inside, < before the start, > after the end."""
    assert names_where(db, condition) == expected


ORDERS = [
    ("NumberOfEmployees", ["100% Cotton", None, "O'Brien", "snake_case", "Acme", "acme labs", BACKSLASH],
     "asc-nulls-first-by-default"),
    ("NumberOfEmployees DESC", [BACKSLASH, "acme labs", "Acme", "snake_case", "O'Brien", None, "100% Cotton"],
     "desc-nulls-last-by-default"),
    ("NumberOfEmployees ASC NULLS LAST",
     [None, "O'Brien", "snake_case", "Acme", "acme labs", BACKSLASH, "100% Cotton"], "asc-nulls-last"),
    ("NumberOfEmployees DESC NULLS FIRST",
     ["100% Cotton", BACKSLASH, "acme labs", "Acme", "snake_case", "O'Brien", None], "desc-nulls-first"),
    ("Name", [None, "100% Cotton", "Acme", "acme labs", BACKSLASH, "O'Brien", "snake_case"],
     "text-ignores-case"),
    ("Status, Name DESC",
     ["snake_case", "100% Cotton", "O'Brien", "Acme", None, BACKSLASH, "acme labs"], "two-keys"),
]  # fmt: skip


@pytest.mark.parametrize(("order", "expected"), [c[:2] for c in ORDERS], ids=[c[2] for c in ORDERS])
def test_order_by_directions_nulls_and_keys(
    db: sqlite3.Connection, order: str, expected: list[object]
) -> None:
    """ORDER BY follows Salesforce's null placement defaults unless NULLS FIRST/LAST says otherwise."""
    assert run(db, f"SELECT Name FROM Lead ORDER BY {order}") == expected


PAGES = [
    ("LIMIT 2", ["100% Cotton", None], "limit"),
    ("LIMIT 2 OFFSET 2", ["O'Brien", "snake_case"], "limit-offset"),
    ("OFFSET 5", ["acme labs", BACKSLASH], "offset-alone"),
    ("LIMIT 0", [], "limit-zero"),
    ("LIMIT 100 OFFSET 6", [BACKSLASH], "offset-near-end"),
    ("OFFSET 2000", [], "offset-at-maximum"),
    ("LIMIT 99999999999999999999", ["100% Cotton", None, "O'Brien", "snake_case", "Acme", "acme labs",
                                    BACKSLASH], "huge-limit"),
]  # fmt: skip


@pytest.mark.parametrize(("paging", "expected"), [c[:2] for c in PAGES], ids=[c[2] for c in PAGES])
def test_limit_and_offset(db: sqlite3.Connection, paging: str, expected: list[object]) -> None:
    """LIMIT caps and OFFSET skips rows of the ordered result."""
    assert run(db, f"SELECT Name FROM Lead ORDER BY NumberOfEmployees {paging}") == expected


COUNTS = [
    ("SELECT COUNT() FROM Lead", 7, "all"),
    ("SELECT COUNT() FROM Lead WHERE Status = 'Open'", 3, "filtered"),
    ("SELECT COUNT() FROM Lead WHERE Status = 'Open' LIMIT 2", 2, "capped-by-limit"),
    ("SELECT COUNT() FROM Lead OFFSET 5", 2, "after-offset"),
    ("select count() from task where whoid = '00Q5e00000AbCdE'", 1, "other-sobject"),
]


@pytest.mark.parametrize(("soql", "expected"), [c[:2] for c in COUNTS], ids=[c[2] for c in COUNTS])
def test_count_returns_one_number(db: sqlite3.Connection, soql: str, expected: int) -> None:
    """SELECT COUNT() plans a single count the server reports as totalSize."""
    compiled = plan(soql, SCHEMAS, now=NOW)
    assert compiled.is_count
    assert compiled.columns == ()
    assert db.execute(compiled.sql, compiled.params).fetchall() == [(expected,)]


def test_names_resolve_to_canonical_case() -> None:
    """Keywords, sobject and field names are case-insensitive and come back canonical."""
    compiled = plan("select name, ID, first_response_at__c from lead", SCHEMAS, now=NOW)
    assert compiled.sobject == "Lead"
    assert compiled.columns == ("Name", "Id", "First_Response_At__c")
    assert not compiled.is_count


CASES = [
    ("select name from lead where status = 'Open' order by name", [None, "Acme", "O'Brien"], "lower-case"),
    ("SeLeCt NAME FrOm LEAD wHeRe STATUS in ('OPEN') OrDeR bY nAmE dEsC nUlLs FiRsT",
     [None, "O'Brien", "Acme"], "mixed-case"),
    ("SELECT Name FROM Lead WHERE first_response_at__c = today AND hasoptedoutofemail = False ORDER BY Name",
     ["Acme", BACKSLASH], "fields-literals-and-date-literals"),
]  # fmt: skip


@pytest.mark.parametrize(("soql", "expected"), [c[:2] for c in CASES], ids=[c[2] for c in CASES])
def test_keywords_fields_and_objects_ignore_case(
    db: sqlite3.Connection, soql: str, expected: list[object]
) -> None:
    """A query written in any letter case returns the same rows."""
    assert run(db, soql) == expected


IDS = [
    ("Id = '00Q5e00000AbCdE'", {"Acme"}, "15-char-matches-18-char-stored"),
    ("Id = '00Q5e00000aBcDe'", {"acme labs"}, "15-char-is-case-sensitive"),
    ("Id = '00Q5e00000AbCdEEAV'", {"Acme"}, "18-char"),
    ("Id = '00q5E00000aBCDeEAV'", {"Acme"}, "18-char-in-any-case"),
    ("Id = '00Q5E00000ABCDEEAK'", {"acme labs"}, "18-char-suffix-restores-case"),
    ("OwnerId = '0055e000003Ws1A'", {"Acme", "acme labs", BACKSLASH}, "reference-15-char"),
    (
        "OwnerId != '0055e000003Ws1AAAS'",
        {"O'Brien", "100% Cotton", "snake_case", None},
        "reference-not-equals",
    ),
    ("Id > '00Q5e00000Rt9Pq'", {BACKSLASH, None, "acme labs"}, "ids-order-as-base62"),
]


@pytest.mark.parametrize(("condition", "expected"), [c[:2] for c in IDS], ids=[c[2] for c in IDS])
def test_fifteen_and_eighteen_character_ids(
    db: sqlite3.Connection, condition: str, expected: set[object]
) -> None:
    """15-character ids match case-sensitively, 18-character ids in any case, as Salesforce does."""
    assert names_where(db, condition) == expected


# --- errors ------------------------------------------------------------------------------------


def no_such_column(name: str) -> str:
    return (
        f"No such column '{name}' on entity 'Lead'. If you are attempting to use a custom field, be "
        "sure to append the '__c' after the custom field name. Please reference your WSDL or the "
        "describe call for the appropriate names."
    )


def wrong_type(field: str, type_name: str, *, quoted: bool) -> str:
    return (
        f"value of filter criterion for field '{field}' must be of type {type_name} and should "
        f"{'' if quoted else 'not '}be enclosed in quotes"
    )


def unsupported(feature: str) -> str:
    return f"{feature} is not supported by the simulator's SOQL subset"


def illegal_escape(literal: str, sequence: str) -> str:
    return f"Invalid string literal '{literal}'. Illegal character sequence '{sequence}' in string literal."


MALFORMED = "MALFORMED_QUERY"
FILTER = "INVALID_QUERY_FILTER_OPERATOR"
RANGE = "NUMBER_OUTSIDE_VALID_RANGE"
W = "SELECT Id FROM Lead WHERE "
ERRORS = [
    ("SELECT Id FROM Foo", "INVALID_TYPE",
     "sObject type 'Foo' is not supported. If you are attempting to use a custom object, be sure to "
     "append the '__c' after the entity name. Please reference your WSDL or the describe call for the "
     "appropriate names.", "unknown-sobject"),
    ("SELECT Foo FROM Lead", "INVALID_FIELD", no_such_column("Foo"), "unknown-selected-field"),
    ("SELECT Id FROM lead WHERE Foo__c = 'x'", "INVALID_FIELD", no_such_column("Foo__c"),
     "unknown-filter-field"),
    ("SELECT COUNT() FROM Lead ORDER BY Bar", "INVALID_FIELD", no_such_column("Bar"), "unknown-sort-field"),
    ("SELECT Id, Name, name FROM Lead", MALFORMED, "duplicate field selected: name", "duplicate-field"),
    (W + "Name = 'a' AND Status = 'Open' OR Status = 'Closed'", MALFORMED, "unexpected token: 'OR'",
     "and-then-or-without-parentheses"),
    (W + "Name = 'a' OR Status = 'Open' AND Status = 'Closed'", MALFORMED, "unexpected token: 'AND'",
     "or-then-and-without-parentheses"),
    (W + "NumberOfEmployees = '5'", MALFORMED, wrong_type("NumberOfEmployees", "integer", quoted=False),
     "quoted-integer"),
    (W + "NumberOfEmployees = 5.5", MALFORMED, wrong_type("NumberOfEmployees", "integer", quoted=False),
     "decimal-for-integer"),
    (W + "AnnualRevenue = '5'", MALFORMED, wrong_type("AnnualRevenue", "double", quoted=False),
     "quoted-currency"),
    (W + "First_Response_At__c = '2026-11-25T00:00:00Z'", MALFORMED,
     wrong_type("First_Response_At__c", "dateTime", quoted=False), "quoted-datetime"),
    (W + "First_Response_At__c = 2026-11-25", MALFORMED,
     wrong_type("First_Response_At__c", "dateTime", quoted=False), "date-for-datetime"),
    (W + "LastActivityDate = 2026-11-25T00:00:00Z", MALFORMED,
     wrong_type("LastActivityDate", "date", quoted=False), "datetime-for-date"),
    (W + "HasOptedOutOfEmail = 'true'", MALFORMED, wrong_type("HasOptedOutOfEmail", "boolean", quoted=False),
     "quoted-boolean"),
    (W + "HasOptedOutOfEmail = 1", MALFORMED, wrong_type("HasOptedOutOfEmail", "boolean", quoted=False),
     "number-for-boolean"),
    (W + "Name = 5", MALFORMED, wrong_type("Name", "string", quoted=True), "unquoted-string"),
    (W + "OwnerId = 5", MALFORMED, wrong_type("OwnerId", "id", quoted=True), "unquoted-id"),
    (W + "Name LIKE 5", MALFORMED, wrong_type("Name", "string", quoted=True), "unquoted-like-pattern"),
    (W + "Id = '00Q5e00000AbCd'", FILTER, "invalid ID field: 00Q5e00000AbCd", "id-of-14-characters"),
    (W + "Id = '00Q5e00000AbCdE999'", FILTER, "invalid ID field: 00Q5e00000AbCdE999",
     "id-with-impossible-suffix"),
    (W + "Id LIKE '00Q%'", FILTER, "invalid operator on id field", "like-on-id"),
    (W + "NumberOfEmployees LIKE '5%'", FILTER, "invalid operator on integer field", "like-on-integer"),
    (W + "HasOptedOutOfEmail > false", FILTER, "invalid operator on boolean field", "ordering-a-boolean"),
    ("SELECT Id FROM Lead OFFSET 2001", RANGE, "Maximum SOQL offset allowed is 2000", "offset-over-2000"),
    (W + "NumberOfEmployees = 99999999999999999999", RANGE,
     "value 99999999999999999999 is outside the valid range for field 'NumberOfEmployees'", "huge-integer"),
    (W + "LastActivityDate = LAST_N_DAYS:99999999", RANGE,
     "date literal LAST_N_DAYS:99999999 is outside the valid range", "huge-date-literal"),
    ("SELECT Status FROM Lead GROUP BY Status", MALFORMED, unsupported("GROUP BY"), "group-by"),
    ("SELECT Id, (SELECT Id FROM Tasks) FROM Lead", MALFORMED, unsupported("a subquery"), "subquery"),
    (W + "Id IN (SELECT WhoId FROM Task)", MALFORMED, unsupported("a semi-join subquery"), "semi-join"),
    ("SELECT Id, Owner.Name FROM Lead", MALFORMED, unsupported("the relationship field Owner.Name"),
     "relationship-field"),
    ("SELECT MAX(NumberOfEmployees) FROM Lead", MALFORMED, unsupported("the function MAX()"), "aggregate"),
    ("SELECT COUNT(Id) FROM Lead", MALFORMED, unsupported("COUNT(field)"), "count-of-field"),
    ("SELECT FIELDS(ALL) FROM Lead", MALFORMED, unsupported("the function FIELDS()"), "fields-all"),
    (W + "Status INCLUDES ('Open')", MALFORMED, unsupported("INCLUDES"), "includes"),
    (W + "LastActivityDate = THIS_QUARTER", MALFORMED, unsupported("the date literal THIS_QUARTER"),
     "quarter-literal"),
    ("SELECT Id FROM Lead FOR VIEW", MALFORMED, unsupported("FOR VIEW/REFERENCE/UPDATE"), "for-view"),
    ("SELECT Id FROM Lead WITH SECURITY_ENFORCED", MALFORMED, unsupported("WITH"), "with"),
    ("SELECT FROM Lead", MALFORMED, "unexpected token: 'FROM'", "no-fields"),
    (W, MALFORMED, "unexpected token: '<EOF>'", "dangling-where"),
    ("", MALFORMED, "unexpected token: '<EOF>'", "empty"),
    ("SELECT Id Lead", MALFORMED, "unexpected token: 'Lead'", "missing-from"),
    ("SELECT Id FROM Lead l", MALFORMED, "unexpected token: 'l'", "alias"),
    ("SELECT Id FROM Lead LIMIT -1", MALFORMED, "unexpected token: '-1'", "negative-limit"),
    ("SELECT * FROM Lead", MALFORMED, "line 1:7 no viable alternative at character '*'", "star"),
    (W + "Name NOT LIKE 'a%'", MALFORMED, "unexpected token: 'NOT'", "not-like"),
    (W + "(Name = 'a'", MALFORMED, "unexpected token: '<EOF>'", "unclosed-parenthesis"),
    (W + "Name IN ()", MALFORMED, "unexpected token: ')'", "empty-in-list"),
    (W + r"Name = 'a\qb'", MALFORMED, illegal_escape(r"a\qb", r"\q"), "unknown-escape"),
    (W + r"Name = '100\%'", MALFORMED, illegal_escape(r"100\%", r"\%"), "percent-escape-outside-like"),
    (W + r"Name = 'a\u00'", MALFORMED, illegal_escape(r"a\u00", r"\u"), "short-unicode-escape"),
    (W + "Name = 'a\x00b'", MALFORMED, "Invalid string literal 'a\x00b'. NUL characters are not allowed.",
     "nul-character"),
    (W + "LastActivityDate = 2026-02-30", MALFORMED, "invalid date: '2026-02-30'", "impossible-date"),
    (W + "First_Response_At__c = 2026-11-25T25:00:00Z", MALFORMED,
     "invalid date-time: '2026-11-25T25:00:00Z'", "impossible-time"),
    (W + "First_Response_At__c = 2026-11-25T21:41:00", MALFORMED,
     "unexpected token: '2026-11-25T21:41:00'", "datetime-without-zone"),
    (W + "LastActivityDate = LAST_N_DAYS", MALFORMED, "unexpected token: '<EOF>'", "n-literal-without-n"),
    (W + "Name = unquoted", MALFORMED, "unexpected token: 'unquoted'", "bare-word-value"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("soql", "code", "message"), [c[:3] for c in ERRORS], ids=[c[3] for c in ERRORS]
)
def test_refused_queries_carry_salesforce_error_code_and_message(
    soql: str, code: str, message: str
) -> None:
    """Every refusal names the errorCode and the text the REST API would answer with."""
    with pytest.raises(SoqlError) as caught:
        plan(soql, SCHEMAS, now=NOW)
    assert (caught.value.error_code, caught.value.message) == (code, message)


# --- hostile input -----------------------------------------------------------------------------

HOSTILE: list[tuple[str, list[object] | None, str]] = [
    ("SELECT Name FROM Lead WHERE Name = '' OR 1=1 --'", None, "or-1-equals-1"),
    (r"SELECT Name FROM Lead WHERE Name = '\' OR 1=1 --'", [], "or-1-equals-1-escaped"),
    ("SELECT Name FROM Lead WHERE Name = ''; DROP TABLE Lead; --'", None, "drop-table"),
    (r"SELECT Name FROM Lead WHERE Name = '\'; DROP TABLE Lead; --'", [], "drop-table-escaped"),
    ("SELECT Name FROM Lead WHERE Name = 'unbalanced", None, "unbalanced-quote"),
    (r"SELECT Name FROM Lead WHERE Name = 'trailing backslash\'", None, "escaped-closing-quote"),
    ("SELECT Name FROM Lead WHERE Name = 'x'' OR ''='", None, "doubled-quotes"),
    ('SELECT Name FROM Lead WHERE Name = "Acme"', None, "double-quoted"),
    (
        "SELECT Name FROM Lead WHERE Name = 'Acme' UNION SELECT name FROM sqlite_master",
        None,
        "union",
    ),
    ("SELECT Name FROM Lead/**/WHERE Name = 'Acme'", None, "comment"),
    ("SELECT Name FROM Lead WHERE Name = 'Acme'; DELETE FROM Lead", None, "stacked-delete"),
    (r"SELECT Name FROM Lead WHERE Name LIKE '%\' OR Name LIKE \'%'", [], "like-injection-escaped"),
    (r"SELECT Name FROM Lead WHERE Name = '\u0027) OR (1=1'", [], "unicode-escaped-quote"),
    (
        'SELECT Name FROM Lead WHERE Name = \'"); DROP TABLE "Lead"; --\'',
        [],
        "double-quote-identifier-break",
    ),
]


@pytest.mark.parametrize(
    ("soql", "expected"), [c[:2] for c in HOSTILE], ids=[c[2] for c in HOSTILE]
)
def test_hostile_input_is_refused_or_read_as_a_plain_literal(
    db: sqlite3.Connection, soql: str, expected: list[object] | None
) -> None:
    """Injection attempts either fail as MALFORMED_QUERY or match nothing, and the table survives."""
    if expected is None:
        with pytest.raises(SoqlError) as caught:
            plan(soql, SCHEMAS, now=NOW)
        assert caught.value.error_code == "MALFORMED_QUERY"
    else:
        compiled = plan(soql, SCHEMAS, now=NOW)
        assert "1=1" not in compiled.sql and "DROP" not in compiled.sql
        assert [row[0] for row in db.execute(compiled.sql, compiled.params)] == expected
    assert table_is_intact(db)


def test_a_table_name_from_the_query_never_reaches_sql() -> None:
    """Only sobjects in the schema can be queried, so SQLite's own tables are out of reach."""
    with pytest.raises(SoqlError) as caught:
        plan("SELECT name FROM sqlite_master", SCHEMAS, now=NOW)
    assert caught.value.error_code == "INVALID_TYPE"


# --- properties --------------------------------------------------------------------------------

_SOQL_ESCAPES = {"\\": "\\\\", "'": "\\'", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t",
                 "\b": "\\b", "\f": "\\f"}  # fmt: skip
_LIKE_ESCAPES = {**_SOQL_ESCAPES, "%": "\\%", "_": "\\_"}
_ASCII_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
STORED_TEXT = st.text(max_size=12)
# Queries refuse NUL (see the nul-character error case); stored text may hold anything.
# Lone surrogates cannot be stored as UTF-8; the parser rejects them (see test below).
QUERY_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)


def soql_literal(value: str, escapes: dict[str, str]) -> str:
    return "'" + "".join(escapes.get(char, char) for char in value) + "'"


def fold(value: str) -> str:
    """Salesforce text equality ignores case; the simulator folds ASCII letters as SQLite's NOCASE does."""
    return value.translate(_ASCII_FOLD)


def matching_names(names: list[str], soql: str) -> list[str]:
    connection = sqlite3.connect(":memory:")
    try:
        connection.execute('CREATE TABLE "Lead" ("Id" TEXT, "Name" TEXT)')
        connection.executemany(
            'INSERT INTO "Lead" VALUES (?, ?)', [(f"00Q{i:015d}", n) for i, n in enumerate(names)]
        )
        compiled = plan(soql, {"Lead": {"Id": "id", "Name": "string"}}, now=NOW)
        return sorted(row[0] for row in connection.execute(compiled.sql, compiled.params))
    finally:
        connection.close()


@settings(deadline=None)
@given(names=st.lists(STORED_TEXT, max_size=8), data=st.data())
def test_equality_on_any_escaped_text_returns_exactly_the_equal_rows(
    names: list[str], data: st.DataObject
) -> None:
    """Whatever the text, `Name = '<escaped>'` finds exactly the rows whose Name equals it."""
    candidates = [name.replace("\x00", "") for name in names]
    value = data.draw(st.sampled_from(candidates) | QUERY_TEXT if candidates else QUERY_TEXT)
    soql = f"SELECT Name FROM Lead WHERE Name = {soql_literal(value, _SOQL_ESCAPES)}"
    assert matching_names(names, soql) == sorted(
        name for name in names if fold(name) == fold(value)
    )


@settings(deadline=None)
@given(names=st.lists(QUERY_TEXT, max_size=8), data=st.data())
def test_like_with_every_wildcard_escaped_is_equality(
    names: list[str], data: st.DataObject
) -> None:
    """A LIKE pattern whose % and _ are escaped matches the same rows as `=` would."""
    value = data.draw(st.sampled_from(names) | QUERY_TEXT if names else QUERY_TEXT)
    soql = f"SELECT Name FROM Lead WHERE Name LIKE {soql_literal(value, _LIKE_ESCAPES)}"
    assert matching_names(names, soql) == sorted(
        name for name in names if fold(name) == fold(value)
    )


@pytest.mark.parametrize(
    ("soql", "expected"),
    [
        ("SELECT Id FROM Group", "Group"),
        ("select Id from group where Type = 'Queue'", "Group"),
    ],
    ids=["capitalised", "lower-case-with-where"],
)
def test_group_is_an_object_not_group_by(soql: str, expected: str) -> None:
    """Queues are Group records: FROM Group is a query on that object, as in Salesforce."""
    schemas: dict[str, dict[str, FieldType]] = {"Group": {"Id": "id", "Type": "picklist"}}
    assert plan(soql, schemas, now=NOW).sobject == expected


def test_order_is_an_object_not_order_by() -> None:
    """FROM Order names the Order object; ORDER BY after it still sorts."""
    schemas: dict[str, dict[str, FieldType]] = {"Order": {"Id": "id", "Status": "picklist"}}
    connection = sqlite3.connect(":memory:")
    try:
        connection.execute('CREATE TABLE "Order" ("Id" TEXT, "Status" TEXT)')
        connection.executemany('INSERT INTO "Order" VALUES (?, ?)', [("1", "b"), ("2", "A")])
        compiled = plan("SELECT Status FROM Order ORDER BY Status", schemas, now=NOW)
        assert [row[0] for row in connection.execute(compiled.sql, compiled.params)] == ["A", "b"]
    finally:
        connection.close()


def test_group_by_is_still_unsupported() -> None:
    """GROUP BY after an object name stays outside the subset, with a clear error."""
    with pytest.raises(SoqlError) as excinfo:
        plan("SELECT Status FROM Lead GROUP BY Status", SCHEMAS, now=NOW)
    assert excinfo.value.error_code == "MALFORMED_QUERY"
    assert "GROUP BY" in excinfo.value.message


def test_lone_surrogate_is_malformed() -> None:
    """A string literal that cannot be stored as UTF-8 is MALFORMED_QUERY, not a crash."""
    with pytest.raises(SoqlError) as excinfo:
        plan("SELECT Id FROM Lead WHERE Name = '\ud800'", SCHEMAS, now=NOW)
    assert excinfo.value.error_code == "MALFORMED_QUERY"


# --- size and depth ----------------------------------------------------------------------------


def test_an_in_list_of_thousands_of_ids_runs(db: sqlite3.Connection) -> None:
    """A client fetching records by id in large batches gets them, not a SQLite depth error."""
    ids = [f"00Q5e{n:010d}" for n in range(3000)] + ["00Q5e00000AbCdE", "00Q5e00000Qx7LmEAJ"]
    quoted = ", ".join(f"'{record_id}'" for record_id in ids)
    assert names_where(db, f"Id IN ({quoted})") == {"Acme", "O'Brien"}


def test_a_long_and_chain_runs(db: sqlite3.Connection) -> None:
    """Thousands of conditions joined by AND stay within SQLite's expression limits."""
    condition = " AND ".join(f"Name != 'nobody {n}'" for n in range(3000))
    assert names_where(db, condition) == ALL_NAMES


def alternating(levels: int, *, negated: bool) -> str:
    """Conditions nested `levels` deep, alternating AND and OR, optionally under NOTs."""
    condition = "Status IN ('Open', null)"
    for level in range(levels):
        joiner = " AND " if level % 2 else " OR "
        condition = f"({joiner.join([condition, 'Name != null', 'NumberOfEmployees > 1'])})"
        condition = f"NOT {condition}" if negated else condition
    return condition


@pytest.mark.parametrize(
    ("levels", "negated"), [(25, False), (12, True)], ids=["parentheses", "not"]
)
def test_nesting_up_to_the_limit_runs(db: sqlite3.Connection, levels: int, negated: bool) -> None:
    """Conditions nested to the limit compile to SQL SQLite's parser accepts."""
    assert run(db, f"SELECT COUNT() FROM Lead WHERE {alternating(levels, negated=negated)}")


SIZE_ERRORS = [
    (f"SELECT Id FROM Lead WHERE {alternating(26, negated=False)}", "parentheses-over-the-limit"),
    (f"SELECT Id FROM Lead WHERE {alternating(13, negated=True)}", "not-over-the-limit"),
    ("SELECT Id FROM Lead WHERE " + "NOT " * 5000 + "Name = 'a'", "thousands-of-nots"),
    (
        "SELECT Id FROM Lead WHERE " + "(" * 5000 + "Name = 'a'" + ")" * 5000,
        "thousands-of-parentheses",
    ),
]


@pytest.mark.parametrize("soql", [c[0] for c in SIZE_ERRORS], ids=[c[1] for c in SIZE_ERRORS])
def test_nesting_past_the_limit_is_malformed(soql: str) -> None:
    """Deeper nesting is refused with MALFORMED_QUERY instead of overflowing a stack."""
    with pytest.raises(SoqlError) as caught:
        plan(soql, SCHEMAS, now=NOW)
    assert (caught.value.error_code, caught.value.message) == (
        "MALFORMED_QUERY",
        "conditions nested more than 25 levels deep",
    )


def test_a_statement_over_100000_characters_is_malformed() -> None:
    """Salesforce's limit on statement length applies before anything is parsed."""
    with pytest.raises(SoqlError) as caught:
        plan("SELECT Id FROM Lead WHERE Name = '" + "x" * 100_000 + "'", SCHEMAS, now=NOW)
    assert (caught.value.error_code, caught.value.message) == (
        "MALFORMED_QUERY",
        "SOQL statements cannot be longer than 100000 characters",
    )


def test_unicode_escapes_spell_characters_outside_the_basic_plane() -> None:
    """`\\uD83D\\uDE00` is one character, as in Salesforce's Java strings."""
    soql = r"SELECT Name FROM Lead WHERE Name = '\uD83D\uDE00'"
    assert matching_names(["\U0001f600", "x"], soql) == ["\U0001f600"]


# --- differential: random condition trees against a reference evaluation --------------------

Row = dict[str, object]
Predicate = Callable[[Row], bool]
ROWS: list[Row] = [dict(zip(LEAD_COLUMNS, row, strict=True)) for row in LEADS]
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt,
    "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}  # fmt: skip


def comparison(field: str, op: str, literal: object) -> Predicate:
    """Salesforce's reading of `field op literal`: null is a value, text ignores case."""

    def key(value: object) -> object:
        return fold(value) if isinstance(value, str) else value

    def test(row: Row) -> bool:
        value = row[field]
        if literal is None:
            return {"=": value is None, "!=": value is not None}.get(op, False)
        if value is None:
            return op == "!="
        return _COMPARE[op](key(value), key(literal))

    return test


def membership(field: str, literals: tuple[object, ...], *, negated: bool) -> Predicate:
    folded = {fold(v) if isinstance(v, str) else v for v in literals}
    return lambda row: negated != ((fold(v) if isinstance(v := row[field], str) else v) in folded)


def flag(op: str, meaning: bool) -> Predicate:
    """HasOptedOutOfEmail compared with true, false or null; unset reads as false."""
    return lambda row: (bool(row["HasOptedOutOfEmail"]) == meaning) == (op == "=")


def soql_value(literal: object) -> str:
    if literal is None:
        return "null"
    return soql_literal(literal, _SOQL_ESCAPES) if isinstance(literal, str) else str(literal)


def _leaves() -> list[tuple[str, Predicate]]:
    leaves = [
        (f"{field} {op} {soql_value(literal)}", comparison(field, op, literal))
        for field, literals in (
            ("Name", ("Acme", "acme LABS", "O'Brien", "b", "", None)),
            ("NumberOfEmployees", (0, 5, 10, 50, None)),
        )
        for op in _COMPARE
        for literal in literals
    ]
    for values in (("Open",), ("open", "Closed"), ("Working", None)):
        listed = ", ".join(soql_value(v) for v in values)
        leaves.append((f"Status IN ({listed})", membership("Status", values, negated=False)))
        leaves.append((f"Status NOT IN ({listed})", membership("Status", values, negated=True)))
    for word, negated in (("IN", False), ("NOT IN", True)):
        # A 15- and an 18-character id; relative and absolute dates.
        owners = membership("OwnerId", (U1, U2), negated=negated)
        leaves.append((f"OwnerId {word} ('{U1[:15]}', '{U2}')", owners))
        days = membership("LastActivityDate", ("2026-11-21", "2026-11-26"), negated=negated)
        leaves.append((f"LastActivityDate {word} (2026-11-21, TOMORROW)", days))
    for literal, meaning in (("true", True), ("false", False), ("null", False)):
        for op in ("=", "!="):
            leaves.append((f"HasOptedOutOfEmail {op} {literal}", flag(op, meaning)))
    leaves.append(
        ("Name LIKE 'a%'", lambda r: isinstance(r["Name"], str) and fold(r["Name"]).startswith("a"))
    )
    leaves.append(
        (
            "Email LIKE '%example%'",
            lambda r: isinstance(r["Email"], str) and "example" in r["Email"],
        )
    )
    return leaves


Node = tuple[str, Predicate, bool]  # SOQL text, reference meaning, whether it needs parentheses


def _group(joiner: str, children: list[Node]) -> Node:
    text = f" {joiner} ".join(f"({t})" if compound else t for t, _, compound in children)
    tests = [test for _, test, _ in children]
    meaning: Predicate = (
        (lambda r: all(t(r) for t in tests))
        if joiner == "AND"
        else (lambda r: any(t(r) for t in tests))
    )
    return text, meaning, True


def _negation(child: Node) -> Node:
    text, test, compound = child
    return f"NOT ({text})" if compound else f"NOT {text}", lambda r: not test(r), False


CONDITIONS = st.recursive(
    st.sampled_from([(text, test, False) for text, test in _leaves()]),
    lambda children: st.one_of(
        st.lists(children, min_size=2, max_size=4).map(lambda c: _group("AND", c)),
        st.lists(children, min_size=2, max_size=4).map(lambda c: _group("OR", c)),
        children.map(_negation),
    ),
    max_leaves=30,
)


@settings(deadline=None, max_examples=300)
@given(CONDITIONS)
def test_random_conditions_match_a_reference_evaluation(condition: Node) -> None:
    """Any mix of operators, nulls, NOT and parentheses selects the rows Salesforce's rules select."""
    text, test, _ = condition
    connection = sqlite3.connect(":memory:")
    try:
        create_tables(connection)
        connection.executemany(
            f'INSERT INTO "Lead" VALUES ({", ".join("?" * len(LEAD_COLUMNS))})', LEADS
        )
        assert names_where(connection, text) == {row["Name"] for row in ROWS if test(row)}
    finally:
        connection.close()


_VOCABULARY = [
    "SELECT", "Id", "Name", ",", "FROM", "Lead", "Task", "WHERE", "AND", "OR", "NOT", "(", ")",
    "=", "!=", "<>", "<", ">=", "IN", "LIKE", "null", "true", "'x'", "'%\\_'", "5", "-2.5",
    "NumberOfEmployees", "HasOptedOutOfEmail", "OwnerId", "'0055e000003Ws1A'", "LastActivityDate",
    "First_Response_At__c", "TODAY", "LAST_N_DAYS", ":", "3", "2026-11-25", "2026-11-25T00:00:00Z",
    "ORDER", "BY", "DESC", "NULLS", "LAST", "LIMIT", "OFFSET", "COUNT", "()", "GROUP", "'",
]  # fmt: skip


@settings(deadline=None, max_examples=300)
@given(st.lists(st.sampled_from(_VOCABULARY), max_size=25))
def test_any_token_sequence_is_refused_or_runs(tokens: list[str]) -> None:
    """Whatever is sent, the answer is a SoqlError or SQL that SQLite runs: never a crash."""
    connection = sqlite3.connect(":memory:")
    try:
        create_tables(connection)
        for prefix in ("", "SELECT Id FROM Lead WHERE "):
            try:
                compiled = plan(prefix + " ".join(tokens), SCHEMAS, now=NOW)
            except SoqlError:
                continue
            connection.execute(compiled.sql, compiled.params).fetchall()
    finally:
        connection.close()


@settings(deadline=None)
@given(st.text())
def test_any_text_is_refused_or_planned(text: str) -> None:
    """Arbitrary text, alone or as a condition, never raises anything but SoqlError."""
    for soql in (text, f"SELECT Id FROM Lead WHERE Name = '{text}'", f"SELECT Id FROM Lead {text}"):
        with contextlib.suppress(SoqlError):
            plan(soql, SCHEMAS, now=NOW)
