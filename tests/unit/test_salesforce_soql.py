"""SOQL literals are built safely: values are escaped, ids and domains validated, hostile input refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import InvalidInputError
from shared.salesforce.ids import to_18
from shared.salesforce.soql import (
    datetime_literal,
    domain_literal,
    field_name,
    id_list,
    id_literal,
    like_pattern,
    normalize_domain,
    quote,
)

LEAD_ID = to_18("00Q5g00000AbCdE")
USER_ID = to_18("0055g00000XyZab")
_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "%": "%", "_": "_"}


def read_literal(literal: str) -> tuple[str, str]:
    """Read one SOQL string literal the way the server does: (value, text after the literal)."""
    assert literal[0] == "'"
    out = []
    i = 1
    while i < len(literal):
        char = literal[i]
        if char == "\\":
            nxt = literal[i + 1]
            out.append(_UNESCAPE.get(nxt, nxt))
            assert nxt in _UNESCAPE or nxt in "'\"\\", f"undefined escape \\{nxt}"
            i += 2
        elif char == "'":
            return "".join(out), literal[i + 1 :]
        else:
            out.append(char)
            i += 1
    raise AssertionError("unterminated literal")


SAFE_TEXT = st.text(
    alphabet=st.characters(blacklist_characters="\x00\x01\x02\x03\x04\x05\x06\x07\x0b\x0e"
                           "\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c"
                           "\x1d\x1e\x1f\x7f", blacklist_categories=("Cs",))
)  # fmt: skip


@given(SAFE_TEXT)
def test_quote_is_one_literal_that_reads_back_as_the_value(value: str) -> None:
    """Whatever the text, the server reads exactly the value and nothing after the literal."""
    decoded, rest = read_literal(quote(value))
    assert decoded == value
    assert rest == ""


@given(SAFE_TEXT)
def test_like_pattern_matches_only_the_literal_text(value: str) -> None:
    """% and _ in the value are escaped, so the only wildcards are the ones the position adds."""
    literal = like_pattern(value, position="exact")
    decoded, rest = read_literal(literal)
    assert decoded == value
    assert rest == ""
    unescaped_wildcards = literal.replace("\\\\", "").replace("\\%", "").replace("\\_", "")
    assert "%" not in unescaped_wildcards
    assert "_" not in unescaped_wildcards


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("O'Brien", "'O\\'Brien'"),
        ("back\\slash", "'back\\\\slash'"),
        ('say "hi"', "'say \\\"hi\\\"'"),
        ("two\nlines\ttab\rcr", "'two\\nlines\\ttab\\rcr'"),
        ("00Q' OR Id != '", "'00Q\\' OR Id != \\''"),
        ("", "''"),
    ],
    ids=["quote", "backslash", "double-quote", "whitespace-controls", "injection", "empty"],
)
def test_quote_escapes(value: str, expected: str) -> None:
    """Quotes, backslashes and line breaks use SOQL's escape sequences."""
    assert quote(value) == expected


@pytest.mark.parametrize(
    "value",
    ["nul\x00", "bell\x07", "esc\x1b[0m", "del\x7f", "half\ud800pair"],
    ids=["nul", "bell", "escape", "del", "lone-surrogate"],
)
def test_characters_soql_cannot_express_are_refused(value: str) -> None:
    """Control characters without an escape sequence, and text that is not UTF-8, never reach a query."""
    with pytest.raises(InvalidInputError):
        quote(value)


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        ("contains", "'%50\\%\\_off%'"),
        ("startswith", "'50\\%\\_off%'"),
        ("endswith", "'%50\\%\\_off'"),
        ("exact", "'50\\%\\_off'"),
    ],
    ids=["contains", "startswith", "endswith", "exact"],
)
def test_like_pattern_positions(position: str, expected: str) -> None:
    """The position adds the wildcards; the value's own % and _ stay literal."""
    assert like_pattern("50%_off", position=position) == expected  # type: ignore[arg-type]


def test_id_literal_accepts_a_valid_id_of_the_right_kind() -> None:
    """A well-formed Lead id becomes a quoted literal unchanged."""
    assert id_literal(LEAD_ID, ("00Q",)) == f"'{LEAD_ID}'"
    assert id_literal(LEAD_ID[:15]) == f"'{LEAD_ID[:15]}'"


@pytest.mark.parametrize(
    ("value", "prefixes"),
    [
        ("00Q' OR Id != '", ("00Q",)),
        ("00Q5g00000AbCdE' OR Name != '", ("00Q",)),
        (LEAD_ID[:15] + "zzz", ("00Q",)),
        (USER_ID, ("00Q",)),
        ("00Q5g00000AbCd", None),
        ("00Q5g00000AbC%E", None),
        ("", None),
    ],
    ids=[
        "injection",
        "valid-prefix-then-injection",
        "bad-checksum",
        "wrong-kind",
        "short",
        "percent",
        "empty",
    ],
)
def test_id_literal_refuses_anything_but_a_valid_id(
    value: str, prefixes: tuple[str, ...] | None
) -> None:
    """Hostile or malformed ids fail before a query exists."""
    with pytest.raises(InvalidInputError):
        id_literal(value, prefixes)


def test_id_list_quotes_each_id_and_refuses_an_empty_list() -> None:
    """IN lists hold validated literals only, and at least one."""
    assert id_list([LEAD_ID, LEAD_ID[:15]]) == f"('{LEAD_ID}', '{LEAD_ID[:15]}')"
    with pytest.raises(InvalidInputError):
        id_list([])
    with pytest.raises(InvalidInputError):
        id_list([LEAD_ID, "x' OR '1'='1"])


def test_datetime_literal_is_utc_and_refuses_naive_values() -> None:
    """Aware datetimes convert to UTC with a Z; a naive one has no instant and is refused."""
    berlin = timezone(timedelta(hours=2))
    assert datetime_literal(datetime(2024, 5, 1, 14, 30, 15, 999, tzinfo=berlin)) == (
        "2024-05-01T12:30:15Z"
    )
    assert datetime_literal(datetime(2024, 1, 1, tzinfo=UTC)) == "2024-01-01T00:00:00Z"
    with pytest.raises(InvalidInputError):
        datetime_literal(datetime(2024, 1, 1))


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("acme.com", "acme.com"),
        ("ACME.Com", "acme.com"),
        ("mail.acme.co.uk", "mail.acme.co.uk"),
        ("acme.com.", "acme.com"),
        ("münchen.de", "xn--mnchen-3ya.de"),
        ("my-company.io", "my-company.io"),
        ("123.example", "123.example"),
    ],
    ids=["plain", "upper-case", "subdomain", "trailing-dot", "idna", "hyphen", "numeric-label"],
)
def test_valid_domains_normalise(domain: str, expected: str) -> None:
    """Domains become lower-case ASCII (IDNA) and enter a query as a quoted literal."""
    assert normalize_domain(domain) == expected
    assert domain_literal(domain) == f"'{expected}'"


@pytest.mark.parametrize(
    "domain",
    [
        "acme.com' OR Name != '",
        "acme.com'",
        'acme".com',
        "ac me.com",
        " acme.com",
        "acme%.com",
        "%",
        "acme_.com",
        "localhost",
        "",
        "-acme.com",
        "acme-.com",
        "a..com",
        "acme.123",
        ("a" * 64) + ".com",
        "acme.com/evil",
        "acme.com\n",
        "user@acme.com",
        "acme\\.com",
    ],
    ids=[
        "injection",
        "quote",
        "double-quote",
        "space",
        "leading-space",
        "percent",
        "only-wildcard",
        "underscore",
        "single-label",
        "empty",
        "leading-hyphen",
        "trailing-hyphen",
        "empty-label",
        "numeric-tld",
        "label-too-long",
        "path",
        "newline",
        "at-sign",
        "backslash",
    ],
)
def test_anything_but_a_dns_domain_is_refused(domain: str) -> None:
    """Quotes, spaces, wildcards and other non-DNS text never become part of a query."""
    with pytest.raises(InvalidInputError):
        normalize_domain(domain)


@pytest.mark.parametrize(
    "name",
    ["Email, Password__c", "Owner.Name", "1Field", "Email FROM User", ""],
    ids=["list", "relationship", "leading-digit", "clause", "empty"],
)
def test_field_names_are_plain_api_names(name: str) -> None:
    """Only a single API name passes; anything that could extend a field list is refused."""
    with pytest.raises(InvalidInputError):
        field_name(name)
    assert field_name("First_Response_At__c") == "First_Response_At__c"
