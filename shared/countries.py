"""Country text as orgs really type it, normalised to an ISO 3166-1 alpha-2 code.

Matching is exact after folding (case, accents, dots, apostrophes, punctuation, spacing, a leading
"the", "St" for "Saint", "&" for "and"); there is no fuzzy matching, so a misspelling is unknown
rather than guessed. Order: alpha-2 code, alpha-3 code, a pycountry name (name, official name,
common name), then the alias table below; text that matches nothing is tried once more without a
bracketed part ("Germany (DE)"). "N/A"-style placeholders are unknown, but a bare "NA" is
Namibia's ISO code and is read as such.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import pycountry

MatchedBy = Literal["alpha_2", "alpha_3", "name", "alias"]

# What people type for a country that ISO does not spell that way; keys are folded like input.
ALIASES: dict[str, str] = {
    # United Kingdom and its nations
    "UK": "GB",
    "U.K.": "GB",
    "Great Britain": "GB",
    "Britain": "GB",
    "England": "GB",
    "Scotland": "GB",
    "Wales": "GB",
    "Northern Ireland": "GB",
    "United Kingdom of Great Britain": "GB",
    # United States
    "U.S.A.": "US",
    "U.S.": "US",
    "United States of America": "US",
    "America": "US",
    "The States": "US",
    # Europe, in local spellings
    "Deutschland": "DE",
    "Allemagne": "DE",
    "Alemania": "DE",
    "Germania": "DE",
    "Holland": "NL",
    "Nederland": "NL",
    "The Netherlands": "NL",
    "Pays-Bas": "NL",
    "España": "ES",
    "Espanya": "ES",
    "Schweiz": "CH",
    "Suisse": "CH",
    "Svizzera": "CH",
    "Confoederatio Helvetica": "CH",
    "Österreich": "AT",
    "Oesterreich": "AT",
    "Italia": "IT",
    "Belgique": "BE",
    "België": "BE",
    "Belgien": "BE",
    "Sverige": "SE",
    "Norge": "NO",
    "Danmark": "DK",
    "Suomi": "FI",
    "Polska": "PL",
    "Česko": "CZ",
    "Czech Republic": "CZ",
    "Czech Rep.": "CZ",
    "Slovak Republic": "SK",
    "Hellas": "GR",
    "Ellada": "GR",
    "Éire": "IE",
    "Republic of Ireland": "IE",
    "Luxemburg": "LU",
    "Magyarország": "HU",
    "Türkiye": "TR",
    "Turkey": "TR",
    "Russia": "RU",
    "Macedonia": "MK",
    "Moldavia": "MD",
    "Vatican": "VA",
    "Vatican City": "VA",
    # Americas
    "Brasil": "BR",
    "México": "MX",
    "Perú": "PE",
    "Trinidad": "TT",
    # Asia and Pacific
    "Republic of Korea": "KR",
    "South Korea": "KR",
    "Korea": "KR",
    "Korea South": "KR",
    "Korea, Rep.": "KR",
    "ROK": "KR",
    "North Korea": "KP",
    "Nippon": "JP",
    "Nihon": "JP",
    "PRC": "CN",
    "People's Republic of China": "CN",
    "Mainland China": "CN",
    "Hong Kong": "HK",
    "Hongkong": "HK",
    "Hong Kong SAR": "HK",
    "Hong Kong SAR China": "HK",
    "Taiwan": "TW",
    "Taiwan ROC": "TW",
    "Macau": "MO",
    "Macau SAR": "MO",
    "Macao SAR": "MO",
    "Viet Nam": "VN",
    "Vietnam": "VN",
    "Burma": "MM",
    "Bharat": "IN",
    "Brunei": "BN",
    "Laos": "LA",
    "Aotearoa": "NZ",
    "Micronesia": "FM",
    "East Timor": "TL",
    # Middle East and Africa
    "UAE": "AE",
    "U.A.E.": "AE",
    "Emirates": "AE",
    "KSA": "SA",
    "Saudi": "SA",
    "Palestine": "PS",
    "Ivory Coast": "CI",
    "Côte d'Ivoire": "CI",
    "Cape Verde": "CV",
    "Swaziland": "SZ",
    "DRC": "CD",
    "DR Congo": "CD",
    "Democratic Republic of Congo": "CD",
    "Democratic Republic of the Congo": "CD",
    "Congo-Kinshasa": "CD",
    "Republic of Congo": "CG",
    "Republic of the Congo": "CG",
    "Congo-Brazzaville": "CG",
    "Iran": "IR",
    "Syria": "SY",
    "Tanzania": "TZ",
}

# Placeholders that fold to a real code ("N/A" would become Namibia's "NA").
_PLACEHOLDERS = frozenset({"n/a", "n.a.", "n.a", "n\\a", "#n/a", "n/a."})
_PARENTHESISED = re.compile(r"\([^()]*\)")
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_DROPPED = re.compile(r"[.'’`´]")
# Only an ampersand between words means "and"; a lone "&" must not become Andorra's code.
_AMPERSAND = re.compile(r"(?<=\w)\s*&\s*(?=\w)")


@dataclass(frozen=True)
class CountryMatch:
    """A recognised country: its ISO alpha-2 code, its ISO name and how the text was matched."""

    alpha_2: str
    name: str
    matched_by: MatchedBy
    text: str


def fold(text: str) -> str:
    """The comparison form of country text: lower case, no accents, dots or stray punctuation."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    plain = _DROPPED.sub("", _AMPERSAND.sub(" and ", plain))
    tokens = _NON_ALNUM.sub(" ", plain).split()
    if tokens and tokens[0] == "the" and len(tokens) > 1:
        tokens = tokens[1:]
    tokens = ["saint" if t == "st" else t for t in tokens]
    # "U. S. A." and "U K" are abbreviations written letter by letter.
    if len(tokens) > 1 and all(len(t) == 1 for t in tokens):
        return "".join(tokens)
    return " ".join(tokens)


@lru_cache(maxsize=1)
def _names() -> dict[str, str]:
    """Folded pycountry name, official name and common name -> alpha-2 code."""
    index: dict[str, str] = {}
    for country in pycountry.countries:
        for attr in ("name", "official_name", "common_name"):
            value = getattr(country, attr, None)
            if isinstance(value, str):
                index.setdefault(fold(value), country.alpha_2)
    return index


@lru_cache(maxsize=1)
def _aliases() -> dict[str, str]:
    """The alias table keyed by folded spelling."""
    return {fold(alias): code for alias, code in ALIASES.items()}


def _iso_name(alpha_2: str) -> str:
    """pycountry's preferred short name for a code."""
    country = pycountry.countries.get(alpha_2=alpha_2)
    return str(getattr(country, "common_name", None) or getattr(country, "name", alpha_2))


def normalize_country(text: str | None) -> CountryMatch | None:
    """Recognise free-text country input; None for blanks, placeholders and unknown text. Never raises."""
    if not isinstance(text, str):
        return None
    match = _match(text, text)
    if match is None and _PARENTHESISED.search(text):
        # "Germany (DE)", "Great Britain (UK)": the words outside the brackets name the country.
        match = _match(_PARENTHESISED.sub(" ", text), text)
    return match


def _match(candidate: str, text: str) -> CountryMatch | None:
    """Match one candidate spelling, reporting the original text in the result."""
    if "".join(candidate.split()).casefold() in _PLACEHOLDERS:
        return None
    key = fold(candidate)
    if not key:
        return None
    matched_by: MatchedBy
    code: str | None = None
    if len(key) == 2 and key.isalpha():
        country = pycountry.countries.get(alpha_2=key.upper())
        code, matched_by = (country.alpha_2 if country else None), "alpha_2"
    elif len(key) == 3 and key.isalpha():
        country = pycountry.countries.get(alpha_3=key.upper())
        code, matched_by = (country.alpha_2 if country else None), "alpha_3"
    if code is None:
        code, matched_by = _names().get(key), "name"
    if code is None:
        code, matched_by = _aliases().get(key), "alias"
    if code is None:
        return None
    return CountryMatch(alpha_2=code, name=_iso_name(code), matched_by=matched_by, text=text)
