"""What messy lead fields still say about size and place when the routing rules cannot read them.

Employee counts: words ("two hundred"), ranges ("50-100", "between 50 and 100"), approximations
("about 3k", "~250"), open ends ("10k+", "over 500", "under 50") and the same inside a description
next to a word like "employees". Places: pieces of the country text ("Berlin, Germany"), a close
spelling of a country name ("Germnay"), a well-known city, a state or province, the phone's
international prefix, and the country-code domain of the email address or website. Each hint
carries every country it could mean; the caller accepts it only when they all share one region.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
import pycountry
from text_to_num import alpha2digit

from shared.countries import ALIASES, fold, normalize_country
from shared.models import Lead


@dataclass(frozen=True)
class EmployeeHint:
    """An employee count read as an inclusive range (hi None when open-ended) and how it was read."""

    lo: int
    hi: int | None
    evidence: str

    @property
    def typical(self) -> int:
        """One count standing for the range: its midpoint, or its lower end when open-ended."""
        return self.lo if self.hi is None else (self.lo + self.hi) // 2


@dataclass(frozen=True)
class PlaceHint:
    """Countries (ISO alpha-2) a lead field points to, how sure that reading is and why."""

    codes: frozenset[str]
    confidence: float
    evidence: str


_MULTIPLIERS = {
    "k": 1_000,
    "thousand": 1_000,
    "m": 1_000_000,
    "mm": 1_000_000,
    "million": 1_000_000,
}
# A decimal small enough to scale without overflowing a float.
_DECIMAL = r"(?<!\d)(\d{1,9}(?:\.\d{1,6})?)"
_SCALED = re.compile(_DECIMAL + r"\s*(k|thousand|million|mm|m)(?![a-z])")
_SCALED_RANGE = re.compile(
    _DECIMAL + r"\s*-\s*" + _DECIMAL + r"\s*(k|thousand|million|mm|m)(?![a-z])"
)
_SPACE_GROUPED = re.compile(r"\s*\d{1,3}(?:[ \u00a0\u202f]\d{3})+\s*")
_GROUPED = re.compile(r"(?<![\d.,])\d{1,3}(?:[,.'\u00a0\u202f]\d{3})+(?![\d])")
_FEW = re.compile(r"\b(?:a few|few|several)\s+(100|1000)\b")
_BETWEEN = re.compile(r"\bbetween\s+(.+?)\s+and\s+(.+)")
_RANGE = re.compile(r"(\d{1,12})\s*(?:-|to|/)\s*(\d{1,12})(?!\d)")
_NUMBER = re.compile(r"\d{1,12}(?!\d)")
_OVER = re.compile(r"(?:\bover|\bmore than|\babove|\bat least|\bmin(?:imum)?\.?|>=?)\s*$")
_UNDER = re.compile(
    r"(?:\bunder|\bless than|\bbelow|\bfewer than|\bup to|\bat most|\bmax(?:imum)?\.?|<=?)\s*$"
)
_PLUS_AFTER = re.compile(r"^\s*(?:\+|plus\b|or more\b)")
_SOLO = re.compile(r"\b(?:self[- ]employed|sole trader|solo|freelancer?|just me|one[- ]person)\b")
_STAFF_NOUNS = r"(?:employees|employee|staff|people|persons|workers|ftes?|team members|colleagues)"
# One count as written in prose: digits with separators, a k/thousand/million suffix, a plus.
_COUNT = r"\d[\d.,']{0,12}\s?(?:k|thousand|million)?\+?"
_APPROX = (
    r"(?:about|approx\.?|approximately|around|roughly|nearly|almost|over|more than|under"
    r"|less than|~|>|<)"
)
_IN_TEXT = re.compile(
    rf"((?:{_APPROX}\s*)?{_COUNT}(?:\s*(?:-|to)\s*{_COUNT})?)\s*{_STAFF_NOUNS}\b", re.IGNORECASE
)
_HEADCOUNT = re.compile(
    rf"\b(?:headcount|team of)\s*(?:is|:)?\s*((?:{_APPROX}\s*)?{_COUNT})", re.IGNORECASE
)
# No company employs more; a larger number is a typo or not a head count.
MAX_EMPLOYEES = 5_000_000
# Only the start of a field is read: a count is written early, and long text costs time.
_READ_LIMIT = 2000


def _scaled(text: str) -> str:
    """Text with "5-10k" as "5000-10000" and "1.5k", "3 thousand" as digits."""
    text = _SCALED_RANGE.sub(
        lambda m: "-".join(
            str(round(float(m.group(i)) * _MULTIPLIERS[m.group(3)])) for i in (1, 2)
        ),
        text,
    )
    return _SCALED.sub(lambda m: str(round(float(m.group(1)) * _MULTIPLIERS[m.group(2)])), text)


def _ungrouped(text: str) -> str:
    """Text with thousands separators removed: 1,500 / 1.500 / 10 000 -> 1500 / 1500 / 10000."""
    if _SPACE_GROUPED.fullmatch(text):
        return re.sub(r"\s", "", text)
    return _GROUPED.sub(lambda m: re.sub(r"\D", "", m.group(0)), text)


def _digits(text: str) -> str:
    """Text with number words, thousands separators and k/million suffixes turned into digits."""
    text = _scaled(_ungrouped(text.lower().replace("–", "-").replace("—", "-")))
    if between := _BETWEEN.search(text):
        text = f"{text[: between.start()]}{between.group(1)} to {between.group(2)}"
    # Converting each side of "to" alone keeps "fifty to one hundred" from becoming one number.
    text = " to ".join(alpha2digit(part, "en") for part in text.split(" to "))
    text = _scaled(_ungrouped(text))
    return _FEW.sub(lambda m: str(3 * int(m.group(1))), text)


def read_employee_count(value: object) -> EmployeeHint | None:
    """An employee count from text the rules reject, or None when it holds no plausible count."""
    hint = _read(value)
    if hint is None or max(hint.lo, hint.hi or 0) > MAX_EMPLOYEES:
        return None
    return hint


def _read(value: object) -> EmployeeHint | None:
    """read_employee_count before the plausibility check."""
    if isinstance(value, float) and math.isfinite(value) and value >= 1:
        return EmployeeHint(round(value), round(value), f"{value:g} rounded")
    if not isinstance(value, str) or not value.strip():
        return None
    # Lone surrogates (possible after JSON decoding) cannot cross into the number parser.
    value = value[:_READ_LIMIT].encode("utf-8", "replace").decode("utf-8")
    shown = value.strip()[:40]
    text = _digits(value)
    if _SOLO.search(text):
        return EmployeeHint(1, 1, f"'{shown}' is one person")
    if ranged := _RANGE.search(text):
        lo, hi = int(ranged.group(1)), int(ranged.group(2))
        if 0 < lo <= hi:
            return EmployeeHint(lo, hi, f"'{shown}' read as {lo}–{hi}")
    found = _NUMBER.search(text)
    if found is None:
        return None
    number = int(found.group(0))
    if number <= 0:
        return None
    before, after = text[: found.start()], text[found.end() :]
    if _UNDER.search(before):
        return EmployeeHint(1, max(number - 1, 1), f"'{shown}' read as under {number}")
    if _OVER.search(before) or _PLUS_AFTER.match(after):
        return EmployeeHint(number, None, f"'{shown}' read as {number} or more")
    return EmployeeHint(number, number, f"'{shown}' read as {number}")


def employees_in_text(text: str | None) -> EmployeeHint | None:
    """An employee count stated in free text ("a team of 300 people"), or None."""
    if not text:
        return None
    text = text[:_READ_LIMIT]
    for pattern in (_IN_TEXT, _HEADCOUNT):
        for match in pattern.finditer(text):
            hint = read_employee_count(match.group(1))
            if hint is not None:
                return EmployeeHint(
                    hint.lo, hint.hi, f"description says '{match.group(0).strip()}'"
                )
    return None


# Cities people type where a country belongs; only unambiguous names of large business hubs.
CITIES: dict[str, str] = {
    "london": "GB", "manchester": "GB", "birmingham": "GB", "edinburgh": "GB", "glasgow": "GB",
    "dublin": "IE", "paris": "FR", "lyon": "FR", "marseille": "FR", "berlin": "DE",
    "munich": "DE", "munchen": "DE", "hamburg": "DE", "frankfurt": "DE", "cologne": "DE",
    "koln": "DE", "stuttgart": "DE", "dusseldorf": "DE", "amsterdam": "NL", "rotterdam": "NL",
    "brussels": "BE", "antwerp": "BE", "zurich": "CH", "geneva": "CH", "vienna": "AT",
    "wien": "AT", "milan": "IT", "milano": "IT", "rome": "IT", "roma": "IT", "madrid": "ES",
    "barcelona": "ES", "lisbon": "PT", "lisboa": "PT", "stockholm": "SE", "oslo": "NO",
    "copenhagen": "DK", "helsinki": "FI", "warsaw": "PL", "krakow": "PL", "prague": "CZ",
    "budapest": "HU", "athens": "GR", "istanbul": "TR", "moscow": "RU", "kyiv": "UA",
    "kiev": "UA", "new york": "US", "nyc": "US", "san francisco": "US", "los angeles": "US",
    "chicago": "US", "boston": "US", "seattle": "US", "austin": "US", "atlanta": "US",
    "toronto": "CA", "vancouver": "CA", "montreal": "CA", "mexico city": "MX",
    "sao paulo": "BR", "rio de janeiro": "BR", "buenos aires": "AR", "bogota": "CO",
    "lima": "PE", "tokyo": "JP", "osaka": "JP", "seoul": "KR", "beijing": "CN",
    "shanghai": "CN", "shenzhen": "CN", "sydney": "AU", "melbourne": "AU", "auckland": "NZ",
    "mumbai": "IN", "bangalore": "IN", "bengaluru": "IN", "new delhi": "IN", "delhi": "IN",
    "dubai": "AE", "abu dhabi": "AE", "riyadh": "SA", "doha": "QA", "tel aviv": "IL",
    "cairo": "EG", "lagos": "NG", "nairobi": "KE", "johannesburg": "ZA", "cape town": "ZA",
    "kuala lumpur": "MY", "bangkok": "TH", "jakarta": "ID", "manila": "PH", "hanoi": "VN",
    "ho chi minh city": "VN", "taipei": "TW",
}  # fmt: skip

# Countries whose state or province is commonly written as its short code in a CRM.
_STATE_CODE_COUNTRIES = ("US", "CA", "AU", "BR", "IN")
# Country-code domains sold as generic names (.io, .ai, .co ...): they say nothing about place.
_GENERIC_CCTLDS = frozenset(
    {"ac", "ai", "co", "cc", "fm", "gg", "io", "la", "ly", "me", "nu", "sh", "to", "tv", "ws"}
)
_PIECE_SEPARATORS = re.compile(r"[,;/|()\[\]]|\s-\s")


@lru_cache(maxsize=1)
def _country_names() -> dict[str, str]:
    """Folded country names, official names, common names and aliases -> alpha-2 code."""
    index = {fold(alias): code for alias, code in ALIASES.items()}
    for country in pycountry.countries:
        for attr in ("name", "official_name", "common_name"):
            value = getattr(country, attr, None)
            if isinstance(value, str):
                index.setdefault(fold(value), country.alpha_2)
    return index


@lru_cache(maxsize=1)
def _subdivisions() -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    """Folded subdivision names -> countries, and short state codes -> countries."""
    names: dict[str, set[str]] = {}
    codes: dict[str, set[str]] = {}
    for sub in pycountry.subdivisions:
        names.setdefault(fold(sub.name), set()).add(sub.country_code)
        if sub.country_code in _STATE_CODE_COUNTRIES:
            codes.setdefault(sub.code.split("-", 1)[1].lower(), set()).add(sub.country_code)
    return (
        {key: frozenset(value) for key, value in names.items()},
        {key: frozenset(value) for key, value in codes.items()},
    )


def _pieces(text: str) -> list[str]:
    """The parts of a field split at commas, slashes, brackets and dashes, each stripped."""
    return [part.strip() for part in _PIECE_SEPARATORS.split(text) if part.strip()]


def _from_text(text: str, where: str, *, states: bool) -> Iterator[PlaceHint]:
    """Country, city, state and close-spelling readings of one field, strongest first."""
    pieces = _pieces(text)
    for piece in pieces:
        match = normalize_country(piece)
        if match is not None:
            yield PlaceHint(
                frozenset({match.alpha_2}), 0.85, f"{where} '{piece}' = {match.alpha_2}"
            )
    for piece in pieces:
        code = CITIES.get(fold(piece))
        if code is not None:
            yield PlaceHint(frozenset({code}), 0.75, f"{where} '{piece}' is a city in {code}")
    if states:
        names, codes = _subdivisions()
        for piece in pieces:
            key = fold(piece)
            found = names.get(key) or (codes.get(key) if len(key) in (2, 3) else None)
            if found:
                listed = "/".join(sorted(found))
                yield PlaceHint(found, 0.7, f"{where} '{piece}' is a state or province of {listed}")
    index = _country_names()
    for piece in pieces:
        close = difflib.get_close_matches(fold(piece), list(index), n=3, cutoff=0.85)
        found = frozenset(index[name] for name in close)
        if found:
            listed = "/".join(sorted(found))
            yield PlaceHint(found, 0.7, f"{where} '{piece}' looks like a misspelling of {listed}")


def _from_phone(phone: str) -> PlaceHint | None:
    """The country of a phone number written with its international prefix."""
    text = phone.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text.startswith("+"):
        return None
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    exact = phonenumbers.region_code_for_number(number)
    if exact:
        codes: tuple[str, ...] = (exact,)
    elif number.country_code:
        codes = tuple(phonenumbers.region_codes_for_country_code(number.country_code))
    else:
        return None
    found = frozenset(code for code in codes if code and code != "001")
    if not found:
        return None
    return PlaceHint(
        found, 0.65, f"phone prefix +{number.country_code} = {'/'.join(sorted(found))}"
    )


def _country_domain(host: str) -> str | None:
    """The country a host's top-level domain names (uk -> GB), None for generic domains."""
    label = host.strip().rstrip(".").rsplit(".", 1)[-1].lower()
    if len(label) != 2 or label in _GENERIC_CCTLDS:
        return None
    code = "GB" if label == "uk" else label.upper()
    return code if pycountry.countries.get(alpha_2=code) is not None else None


def _host(url: str) -> str:
    """The host name of a URL written with or without a scheme."""
    rest = url.strip().split("://", 1)[-1]
    return re.split(r"[/:?#]", rest, maxsplit=1)[0]


def place_hints(lead: Lead) -> Iterator[PlaceHint]:
    """Every reading of where a lead is, from its fields other than a clean country, strongest first."""
    if lead.Country and lead.Country.strip():
        yield from _from_text(lead.Country, "country", states=True)
    if lead.State and lead.State.strip():
        yield from _from_text(lead.State, "state", states=True)
    if lead.Phone:
        hint = _from_phone(lead.Phone)
        if hint is not None:
            yield hint
    for where, host in (
        ("email", lead.Email.rpartition("@")[2] if lead.Email and "@" in lead.Email else None),
        ("website", _host(lead.Website) if lead.Website else None),
    ):
        code = _country_domain(host) if host else None
        if code is not None:
            yield PlaceHint(frozenset({code}), 0.6, f"{where} domain '{host}' = {code}")
