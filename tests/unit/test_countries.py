"""Country text as orgs type it becomes one ISO alpha-2 code, or nothing."""

from __future__ import annotations

import pycountry
import pytest

from shared.countries import ALIASES, fold, normalize_country


@pytest.mark.parametrize(
    ("alias", "code"), sorted(ALIASES.items()), ids=[a for a, _ in sorted(ALIASES.items())]
)
def test_every_alias_resolves_to_its_country(alias: str, code: str) -> None:
    """Each spelling in the alias table is recognised as the country it stands for."""
    match = normalize_country(alias)
    assert match is not None
    assert match.alpha_2 == code


@pytest.mark.parametrize(
    ("alias", "code"), sorted(ALIASES.items()), ids=[a for a, _ in sorted(ALIASES.items())]
)
def test_no_alias_contradicts_an_iso_code_or_name(alias: str, code: str) -> None:
    """An alias never shadows an ISO code or name that means a different country."""
    key = fold(alias)
    by_code = None
    if len(key) == 2:
        by_code = pycountry.countries.get(alpha_2=key.upper())
    elif len(key) == 3:
        by_code = pycountry.countries.get(alpha_3=key.upper())
    assert by_code is None or by_code.alpha_2 == code


@pytest.mark.parametrize(
    ("text", "code", "matched_by"),
    [
        ("US", "US", "alpha_2"),
        ("us", "US", "alpha_2"),
        ("U.S.", "US", "alpha_2"),
        ("U. S. A.", "US", "alpha_3"),
        ("  usa  ", "US", "alpha_3"),
        ("United States", "US", "name"),
        ("united states of america", "US", "name"),
        ("IN", "IN", "alpha_2"),
        ("GE", "GE", "alpha_2"),
        ("CA", "CA", "alpha_2"),
        ("NA", "NA", "alpha_2"),
        ("GBR", "GB", "alpha_3"),
        ("United Kingdom", "GB", "name"),
        ("UK", "GB", "alias"),
        ("u.k.", "GB", "alias"),
        ("U.K", "GB", "alias"),
        ("(UK)", "GB", "alias"),
        ("great  britain", "GB", "alias"),
        ("DEUTSCHLAND.", "DE", "alias"),
        ("germany", "DE", "name"),
        ("'Germany'", "DE", "name"),
        ("Korea, Republic of", "KR", "name"),
        ("Korea (South)", "KR", "alias"),
        ("korea", "KR", "alias"),
        ("Türkiye", "TR", "name"),
        ("Turkiye", "TR", "name"),
        ("turkey", "TR", "alias"),
        ("Côte d’Ivoire", "CI", "name"),
        ("Cote d'Ivoire", "CI", "name"),
        ("México", "MX", "name"),
        ("Mexico", "MX", "name"),
        ("St. Lucia", "LC", "name"),
        ("Trinidad & Tobago", "TT", "name"),
        ("Bosnia & Herzegovina", "BA", "name"),
        ("the Netherlands", "NL", "name"),
        ("The Bahamas", "BS", "name"),
        ("Guinea Bissau", "GW", "name"),
        ("Réunion", "RE", "name"),
        ("Georgia", "GE", "name"),
        ("Macao", "MO", "name"),
        ("Macau", "MO", "alias"),
        ("Hong Kong", "HK", "name"),
        ("Taiwan", "TW", "name"),
        ("Russian Federation", "RU", "name"),
        ("Czechia", "CZ", "name"),
        ("österreich", "AT", "alias"),
        ("Germany (DE)", "DE", "name"),
        ("Great Britain (UK)", "GB", "alias"),
        ("Korea, Rep.", "KR", "alias"),
    ],
    ids=lambda v: str(v),
)
def test_messy_spellings(text: str, code: str, matched_by: str) -> None:
    """Case, accents, dots, spacing and punctuation do not change which country is meant."""
    match = normalize_country(text)
    assert match is not None
    assert (match.alpha_2, match.matched_by) == (code, matched_by)
    assert match.text == text


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "   ",
        "-",
        "--",
        "?",
        "N/A",
        "n/a",
        "N.A.",
        "#N/A",
        "Unknown",
        "none",
        "Narnia",
        "Europe",
        "EU",
        "XX",
        "Germny",
        "California",
        "ROC",
        "123",
        "🇩🇪",
        "(Narnia)",
        "Narnia (N/A)",
    ],
    ids=[
        "none",
        "empty",
        "spaces",
        "dash",
        "double-dash",
        "question-mark",
        "N/A",
        "n/a",
        "N.A.",
        "#N/A",
        "unknown",
        "none-word",
        "narnia",
        "continent",
        "eu",
        "unassigned-code",
        "misspelt",
        "state",
        "ambiguous-roc",
        "digits",
        "flag-emoji",
        "only-brackets",
        "brackets-around-placeholder",
    ],
)
def test_unknown_text_is_none(text: str | None) -> None:
    """Placeholders, regions, misspellings and made-up places are not guessed at."""
    assert normalize_country(text) is None


def test_never_raises_on_odd_input() -> None:
    """Control characters, very long text and non-strings give None instead of an exception."""
    for text in ["\x00", "a" * 10_000, "\u200b", "..", "&", 42, b"DE"]:
        assert normalize_country(text) is None  # type: ignore[arg-type]


def test_match_carries_the_iso_name() -> None:
    """A match says which country it found by name, for reasons a person reads."""
    match = normalize_country("Holland")
    assert match is not None
    assert match.name == "Netherlands"
