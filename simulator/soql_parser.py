"""SOQL text to syntax tree: the lexer, the parser and the error every refused query raises.

The parser knows nothing of any org's schema; names stay as written and are
resolved by `simulator.soql.compile_query`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

MAX_OFFSET = 2000
MAX_LENGTH = 100_000  # Salesforce's limit on the length of a SOQL statement
MAX_NESTING = 25  # NOTs and parentheses; SQLite's parser (100 entries of stack) limits the depth


class SoqlError(Exception):
    """A query Salesforce refuses, carrying the errorCode and message the REST API answers with."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(f"{error_code}: {message}")
        self.error_code = error_code
        self.message = message


def _malformed(message: str) -> SoqlError:
    return SoqlError("MALFORMED_QUERY", message)


def _unsupported(feature: str) -> SoqlError:
    return _malformed(f"{feature} is not supported by the simulator's SOQL subset")


# --- values -----------------------------------------------------------------


@dataclass(frozen=True)
class StringValue:
    """A quoted string, escapes decoded."""

    value: str


@dataclass(frozen=True)
class LikePattern:
    """A LIKE pattern as SQLite reads it with ESCAPE '\\': escaped wildcards stay escaped."""

    pattern: str


@dataclass(frozen=True)
class NumberValue:
    """An unquoted number; `is_integer` is false when it was written with a decimal point."""

    value: Decimal
    is_integer: bool
    text: str


@dataclass(frozen=True)
class BooleanValue:
    """`true` or `false`, unquoted."""

    value: bool


@dataclass(frozen=True)
class NullValue:
    """The `null` keyword."""


@dataclass(frozen=True)
class DateTimeValue:
    """A date-time literal, converted to UTC."""

    value: datetime


@dataclass(frozen=True)
class DateValue:
    """A date literal (YYYY-MM-DD)."""

    value: date


@dataclass(frozen=True)
class RelativeDate:
    """A date literal relative to now (TODAY, LAST_N_DAYS:n, ...); `n` is None for fixed ones."""

    name: str
    n: int | None


Value = (
    StringValue
    | LikePattern
    | NumberValue
    | BooleanValue
    | NullValue
    | DateTimeValue
    | DateValue
    | RelativeDate
)

FIXED_DATE_LITERALS = frozenset({
    "YESTERDAY", "TODAY", "TOMORROW", "LAST_WEEK", "THIS_WEEK", "NEXT_WEEK", "LAST_MONTH",
    "THIS_MONTH", "NEXT_MONTH", "LAST_YEAR", "THIS_YEAR", "NEXT_YEAR", "LAST_90_DAYS", "NEXT_90_DAYS",
})  # fmt: skip
N_DATE_LITERALS = frozenset({
    "LAST_N_DAYS", "NEXT_N_DAYS", "N_DAYS_AGO", "LAST_N_HOURS", "NEXT_N_HOURS",
})  # fmt: skip
# Salesforce has more date literals (quarters, fiscal periods, N weeks/months/years);
# they are refused by name rather than misread as a stray token.
_OTHER_DATE_LITERAL = re.compile(r"^(?:LAST|THIS|NEXT|N)_[A-Z0-9_]+$")


# --- conditions and query ---------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """`field op value` with op one of = != < <= > >= (`<>` is read as `!=`)."""

    field: str
    operator: str
    value: Value


@dataclass(frozen=True)
class InList:
    """`field IN (...)` or, when negated, `field NOT IN (...)`."""

    field: str
    values: tuple[Value, ...]
    negated: bool


@dataclass(frozen=True)
class Like:
    """`field LIKE 'pattern'`; the value is a LikePattern unless the query got the type wrong."""

    field: str
    value: Value


@dataclass(frozen=True)
class Not:
    """`NOT condition`."""

    operand: Condition


@dataclass(frozen=True)
class And:
    """Conditions joined by AND at one level."""

    operands: tuple[Condition, ...]


@dataclass(frozen=True)
class Or:
    """Conditions joined by OR at one level."""

    operands: tuple[Condition, ...]


Condition = Comparison | InList | Like | Not | And | Or


@dataclass(frozen=True)
class OrderItem:
    """One ORDER BY key with its direction and where nulls go."""

    field: str
    descending: bool
    nulls_first: bool


@dataclass(frozen=True)
class Query:
    """A parsed SELECT; `fields` is empty and `is_count` true for SELECT COUNT()."""

    sobject: str
    fields: tuple[str, ...]
    is_count: bool
    where: Condition | None
    order_by: tuple[OrderItem, ...]
    limit: int | None
    offset: int | None


# --- lexer ------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # string, datetime, date, number, word, op, punct, eof
    text: str
    pos: int


_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r\n\f]+)
    |(?P<datetime>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.+\-Z]*)
    |(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})
    |(?P<number>-?[0-9]+(?:\.[0-9]+)?)
    |(?P<word>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<op>!=|<>|<=|>=|=|<|>)
    |(?P<punct>[(),:.])
    """,
    re.VERBOSE,
)
_DATETIME = re.compile(
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:(Z)|([+-])([0-9]{2}):?([0-9]{2}))$"
)


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        if text[pos] == "'":
            end = _string_end(text, pos)
            tokens.append(_Token("string", text[pos : end + 1], pos))
            pos = end + 1
            continue
        match = _TOKEN.match(text, pos)
        if match is None:
            line, col = _line_col(text, pos)
            raise _malformed(f"line {line}:{col} no viable alternative at character '{text[pos]}'")
        kind = match.lastgroup
        assert kind is not None
        if kind != "ws":
            tokens.append(_Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(_Token("eof", "<EOF>", len(text)))
    return tokens


def _string_end(text: str, start: int) -> int:
    pos = start + 1
    while pos < len(text):
        if text[pos] == "\\":
            pos += 2
        elif text[pos] == "'":
            return pos
        else:
            pos += 1
    line, col = _line_col(text, len(text))
    raise _malformed(f"line {line}:{col} mismatched character '<EOF>' expecting '''")


_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")


def _decode_string(token: str, *, like: bool) -> str:
    """Decode a quoted literal by SOQL's escape rules; in LIKE mode keep `\\%` `\\_` escaped."""
    raw = token[1:-1]
    out: list[str] = []
    pos = 0
    while pos < len(raw):
        char = raw[pos]
        pos += 1
        if char != "\\":
            out.append(char)
            continue
        code = raw[pos]
        pos += 1
        if code.lower() in _ESCAPES:
            decoded = _ESCAPES[code.lower()]
        elif code == "u" and _HEX4.fullmatch(raw, pos, pos + 4):
            decoded = chr(int(raw[pos : pos + 4], 16))
            pos += 4
        elif code in "%_" and like:
            out.append("\\" + code)
            continue
        else:
            raise _malformed(
                f"Invalid string literal '{raw}'. "
                f"Illegal character sequence '\\{code}' in string literal."
            )
        out.append("\\" + decoded if like and decoded in "%_\\" else decoded)
    try:
        # \u escapes may spell a character outside the BMP as a UTF-16 surrogate pair.
        value = "".join(out).encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeDecodeError:
        raise _malformed(f"Invalid string literal '{raw}'. Unpaired surrogate character.") from None
    # SQLite's NOCASE comparison stops at NUL, so a NUL could make distinct values equal.
    if "\x00" in value:
        raise _malformed(f"Invalid string literal '{raw}'. NUL characters are not allowed.")
    return value


def _parse_datetime(text: str) -> DateTimeValue:
    match = _DATETIME.match(text)
    if match is None:
        raise _malformed(f"unexpected token: '{text}'")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zulu, sign, off_h, off_m = match.groups()[6:]
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        offset = timedelta(0)
        if not zulu:
            offset = timedelta(hours=int(off_h), minutes=int(off_m))
            offset = -offset if sign == "-" else offset
        local = datetime(year, month, day, hour, minute, second, micro, timezone(offset))
        return DateTimeValue(local.astimezone(UTC))
    except (ValueError, OverflowError):
        raise _malformed(f"invalid date-time: '{text}'") from None


def _parse_date(text: str) -> DateValue:
    try:
        return DateValue(date.fromisoformat(text))
    except ValueError:
        raise _malformed(f"invalid date: '{text}'") from None


# --- parser -----------------------------------------------------------------

_RESERVED = frozenset({
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "LIMIT", "OFFSET",
    "NULL", "TRUE", "FALSE", "GROUP", "HAVING", "WITH", "USING", "INCLUDES", "EXCLUDES",
})  # fmt: skip
_UNSUPPORTED_CLAUSES = {
    "GROUP": "GROUP BY",
    "HAVING": "HAVING",
    "WITH": "WITH",
    "USING": "USING SCOPE",
    "FOR": "FOR VIEW/REFERENCE/UPDATE",
    "UPDATE": "UPDATE TRACKING/VIEWSTAT",
    "TYPEOF": "TYPEOF",
}
_COMPARISON_OPERATORS = {
    "=": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=",
}  # fmt: skip


class _Parser:
    def __init__(self, text: str) -> None:
        if len(text) > MAX_LENGTH:
            raise _malformed(f"SOQL statements cannot be longer than {MAX_LENGTH} characters")
        self._tokens = _tokenize(text)
        self._index = 0
        self._depth = 0

    def _peek(self, ahead: int = 0) -> _Token:
        return self._tokens[min(self._index + ahead, len(self._tokens) - 1)]

    def _advance(self) -> _Token:
        token = self._peek()
        self._index += 1
        return token

    def _at(self, *keywords: str) -> bool:
        token = self._peek()
        return token.kind == "word" and token.text.upper() in keywords

    def _at_punct(self, text: str, ahead: int = 0) -> bool:
        token = self._peek(ahead)
        return token.kind == "punct" and token.text == text

    def _expect_keyword(self, keyword: str) -> None:
        if not self._at(keyword):
            raise self._unexpected()
        self._advance()

    def _expect_punct(self, text: str) -> None:
        if not self._at_punct(text):
            raise self._unexpected()
        self._advance()

    def _unexpected(self) -> SoqlError:
        return _malformed(f"unexpected token: '{self._peek().text}'")

    def query(self) -> Query:
        self._expect_keyword("SELECT")
        fields, is_count = self._select_list()
        self._expect_keyword("FROM")
        sobject = self._sobject_name()
        where = None
        if self._at("WHERE"):
            self._advance()
            where = self._condition()
        order_by: tuple[OrderItem, ...] = ()
        if self._at("ORDER"):
            self._advance()
            self._expect_keyword("BY")
            order_by = self._order_list()
        limit = self._count_clause("LIMIT")
        offset = self._count_clause("OFFSET")
        if offset is not None and offset > MAX_OFFSET:
            raise SoqlError(
                "NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}"
            )
        token = self._peek()
        if token.kind == "word" and token.text.upper() in _UNSUPPORTED_CLAUSES:
            raise _unsupported(_UNSUPPORTED_CLAUSES[token.text.upper()])
        if token.kind != "eof":
            raise self._unexpected()
        return Query(sobject, fields, is_count, where, order_by, limit, offset)

    def _select_list(self) -> tuple[tuple[str, ...], bool]:
        if self._at("COUNT") and self._at_punct("(", 1):
            self._advance()
            self._advance()
            if not self._at_punct(")"):
                raise _unsupported("COUNT(field)")
            self._advance()
            return (), True
        fields = [self._field()]
        while self._at_punct(","):
            self._advance()
            fields.append(self._field())
        seen: set[str] = set()
        for name in fields:
            if name.lower() in seen:
                raise _malformed(f"duplicate field selected: {name}")
            seen.add(name.lower())
        return tuple(fields), False

    def _sobject_name(self) -> str:
        # Group (queues, public groups) and Order are objects unless BY follows.
        if self._at("GROUP", "ORDER") and not (
            self._peek(1).kind == "word" and self._peek(1).text.upper() == "BY"
        ):
            return self._advance().text
        return self._name()

    def _name(self) -> str:
        token = self._peek()
        if token.kind != "word" or token.text.upper() in _RESERVED:
            raise self._unexpected()
        return self._advance().text

    def _field(self) -> str:
        if self._at_punct("("):
            raise _unsupported("a subquery")
        if self._at("TYPEOF"):
            raise _unsupported("TYPEOF")
        name = self._name()
        if self._at_punct("("):
            raise _unsupported(f"the function {name.upper()}()")
        if self._at_punct("."):
            path = name
            while self._at_punct(".") and self._peek(1).kind == "word":
                self._advance()
                path += "." + self._advance().text
            raise _unsupported(f"the relationship field {path}")
        return name

    def _order_list(self) -> tuple[OrderItem, ...]:
        items = [self._order_item()]
        while self._at_punct(","):
            self._advance()
            items.append(self._order_item())
        return tuple(items)

    def _order_item(self) -> OrderItem:
        field = self._field()
        descending = False
        if self._at("ASC", "DESC"):
            descending = self._advance().text.upper() == "DESC"
        # Salesforce's defaults: ascending puts nulls first, descending puts them last.
        nulls_first = not descending
        if self._at("NULLS"):
            self._advance()
            if not self._at("FIRST", "LAST"):
                raise self._unexpected()
            nulls_first = self._advance().text.upper() == "FIRST"
        return OrderItem(field, descending, nulls_first)

    def _count_clause(self, keyword: str) -> int | None:
        if not self._at(keyword):
            return None
        self._advance()
        token = self._peek()
        if token.kind != "number" or not token.text.isdigit():
            raise self._unexpected()
        return int(self._advance().text)

    def _condition(self) -> Condition:
        operands = [self._unary()]
        joiner: str | None = None
        while self._at("AND", "OR"):
            word = self._peek().text.upper()
            # Salesforce requires parentheses whenever AND and OR meet at one level.
            if joiner is not None and word != joiner:
                raise self._unexpected()
            joiner = word
            self._advance()
            operands.append(self._unary())
        if joiner is None:
            return operands[0]
        return And(tuple(operands)) if joiner == "AND" else Or(tuple(operands))

    def _unary(self) -> Condition:
        if not (self._at("NOT") or self._at_punct("(")):
            return self._predicate()
        self._depth += 1
        if self._depth > MAX_NESTING:
            raise _malformed(f"conditions nested more than {MAX_NESTING} levels deep")
        opener = self._advance()
        if opener.kind == "word":
            inner: Condition = Not(self._unary())
        elif self._at("SELECT"):
            raise _unsupported("a subquery")
        else:
            inner = self._condition()
            self._expect_punct(")")
        self._depth -= 1
        return inner

    def _predicate(self) -> Condition:
        field = self._field()
        token = self._peek()
        if token.kind == "op":
            self._advance()
            return Comparison(field, _COMPARISON_OPERATORS[token.text], self._value(like=False))
        if self._at("IN"):
            self._advance()
            return InList(field, self._value_list(), negated=False)
        if self._at("NOT") and self._peek(1).kind == "word" and self._peek(1).text.upper() == "IN":
            self._advance()
            self._advance()
            return InList(field, self._value_list(), negated=True)
        if self._at("LIKE"):
            self._advance()
            return Like(field, self._value(like=True))
        if self._at("INCLUDES", "EXCLUDES"):
            raise _unsupported(token.text.upper())
        raise self._unexpected()

    def _value_list(self) -> tuple[Value, ...]:
        self._expect_punct("(")
        if self._at("SELECT"):
            raise _unsupported("a semi-join subquery")
        values = [self._value(like=False)]
        while self._at_punct(","):
            self._advance()
            values.append(self._value(like=False))
        self._expect_punct(")")
        return tuple(values)

    def _value(self, *, like: bool) -> Value:
        token = self._peek()
        if token.kind == "string":
            self._advance()
            decoded = _decode_string(token.text, like=like)
            return LikePattern(decoded) if like else StringValue(decoded)
        if token.kind == "number":
            self._advance()
            return NumberValue(Decimal(token.text), "." not in token.text, token.text)
        if token.kind == "datetime":
            self._advance()
            return _parse_datetime(token.text)
        if token.kind == "date":
            self._advance()
            return _parse_date(token.text)
        if token.kind == "word":
            return self._word_value()
        raise self._unexpected()

    def _word_value(self) -> Value:
        word = self._peek().text.upper()
        if word in ("TRUE", "FALSE"):
            self._advance()
            return BooleanValue(word == "TRUE")
        if word == "NULL":
            self._advance()
            return NullValue()
        if word in FIXED_DATE_LITERALS:
            self._advance()
            return RelativeDate(word, None)
        if word in N_DATE_LITERALS:
            self._advance()
            self._expect_punct(":")
            token = self._peek()
            if token.kind != "number" or not token.text.isdigit():
                raise self._unexpected()
            return RelativeDate(word, int(self._advance().text))
        if _OTHER_DATE_LITERAL.match(word):
            raise _unsupported(f"the date literal {word}")
        raise self._unexpected()


def parse(soql: str) -> Query:
    """Parse one SOQL SELECT of the supported subset; anything else raises SoqlError."""
    return _Parser(soql).query()
