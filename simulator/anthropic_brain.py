"""How the simulated model fills a forced tool call: it reads the prompt like a careful model would.

It shares nothing with the product's own routing or intent rules, so tests against it check the
provider's plumbing rather than the product agreeing with itself. Routing: the lead's fields come
from the JSON between <lead> tags; the country is read with pycountry, a few aliases and city
names of its own and close spellings; the employee count from digits, number words, ranges
("50-100" by its midpoint), "k" and "+"; segment ranges and region country lists are read from
the system prompt's "- NAME: ..." lines when present, otherwise from general knowledge of how
sales teams name segments and regions. Every answer uses only the tool schema's enum values.
"""

from __future__ import annotations

import difflib
import json
import re
from functools import lru_cache
from typing import Any

import pycountry

_LEAD_BLOCK = re.compile(r"<lead>\s*(\{.*?\})\s*</lead>", re.DOTALL)
_ALIASES = {
    "uk": "GB", "u.k.": "GB", "england": "GB", "scotland": "GB", "britain": "GB",
    "great britain": "GB", "usa": "US", "u.s.a.": "US", "u.s.": "US", "america": "US",
    "deutschland": "DE", "holland": "NL", "the netherlands": "NL", "schweiz": "CH",
    "suisse": "CH", "espana": "ES", "españa": "ES", "brasil": "BR", "méxico": "MX",
    "uae": "AE", "emirates": "AE", "korea": "KR", "south korea": "KR", "russia": "RU",
    "turkey": "TR", "czech republic": "CZ", "vietnam": "VN", "taiwan": "TW", "ksa": "SA",
}  # fmt: skip
_CITIES = {
    "london": "GB", "manchester": "GB", "dublin": "IE", "paris": "FR", "berlin": "DE",
    "munich": "DE", "hamburg": "DE", "frankfurt": "DE", "amsterdam": "NL", "zurich": "CH",
    "madrid": "ES", "barcelona": "ES", "milan": "IT", "stockholm": "SE", "warsaw": "PL",
    "new york": "US", "san francisco": "US", "chicago": "US", "boston": "US", "toronto": "CA",
    "vancouver": "CA", "mexico city": "MX", "sao paulo": "BR", "são paulo": "BR",
    "buenos aires": "AR", "bogota": "CO", "tokyo": "JP", "osaka": "JP", "seoul": "KR",
    "shanghai": "CN", "beijing": "CN", "sydney": "AU", "melbourne": "AU", "mumbai": "IN",
    "bangalore": "IN", "dubai": "AE", "riyadh": "SA", "tel aviv": "IL", "lagos": "NG",
    "nairobi": "KE", "johannesburg": "ZA", "cape town": "ZA",
}  # fmt: skip
# General knowledge: where countries are, and what sales teams call those places.
_ZONES = {
    "north_america": "US CA PR",
    "latam": "MX GT BZ HN SV NI CR PA DO JM TT BS BB CO VE EC PE BO CL AR UY PY BR GY SR CU",
    "europe": "GB IE DE FR NL BE LU AT CH LI IT ES PT AD MC SM VA MT CY GR SE NO DK FI IS EE LV LT "
    "PL CZ SK HU SI HR RS BA ME MK AL RO BG MD UA BY RU TR GE AM AZ GI FO",
    "middle_east_africa": "AE SA QA KW BH OM IL JO LB IQ IR EG MA TN DZ NG GH CI SN CM KE ET TZ UG RW "
    "AO MZ ZM ZW BW NA ZA MU",
    "asia_pacific": "JP CN HK MO TW KR MN SG MY TH VN ID PH KH LA BN IN PK BD LK NP AU NZ FJ PG",
}
_ZONE_NAMES = {
    "north_america": ("na", "nam", "noram", "amer", "americas", "north america", "us"),
    "latam": ("latam", "la", "sa", "south america", "americas", "amer"),
    "europe": ("emea", "eu", "europe", "eur"),
    "middle_east_africa": ("mea", "emea", "middle east", "africa"),
    "asia_pacific": ("apac", "apj", "asia", "asia pacific", "anz"),
}
_SEGMENT_SIZES = (
    (("smb", "small", "sb", "startup"), (1, 200)),
    (("mm", "mid", "midmarket", "mid-market", "commercial"), (201, 2000)),
    (("enterprise", "ent", "large", "strategic"), (2001, None)),
)
_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1000, "k": 1000, "million": 1_000_000}
_STAFF = re.compile(
    r"(~?\d[\d,.]*\s*k?\+?)\s*(?:employees|people|staff|persons|workers|ftes?)", re.IGNORECASE
)
_INTENT_WORDS = {
    "pricing": ("price", "pricing", "quote", "cost", "budget", "licen", "discount", "seats"),
    "demo": ("demo", "walkthrough", "walk through", "show me", "see it", "presentation"),
    "trial": ("trial", "try it", "sandbox", "pilot", "proof of concept", "poc"),
    "comparison": (" vs", "versus", "compar", "alternative", "switch", "competitor", "hubspot"),
    "technical": ("api", "integrat", "sso", "saml", "scim", "webhook", "sdk", "security"),
    "partnership": ("partner", "resell", "agency", "affiliate", "referral", "white label"),
}
_LEGAL_SUFFIX = re.compile(r"[\s,]+(inc|ltd|llc|gmbh|corp|co|plc|sa|ag|bv)\.?$", re.IGNORECASE)


def lead_fields(user_text: str) -> dict[str, Any]:
    """The lead's fields from the user message: the JSON between <lead> tags, else Key: value lines."""
    block = _LEAD_BLOCK.search(user_text)
    if block is not None:
        try:
            data = json.loads(block.group(1))
        except ValueError:
            data = None
        if isinstance(data, dict):
            return data
    fields: dict[str, Any] = {}
    for line in user_text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and " " not in key.strip():
            fields[key.strip()] = value.strip()
    return fields


@lru_cache(maxsize=1)
def _country_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for country in pycountry.countries:
        for attr in ("name", "common_name", "official_name"):
            value = getattr(country, attr, None)
            if isinstance(value, str):
                names.setdefault(value.lower(), country.alpha_2)
    return names


def country_code(text: object) -> tuple[str | None, bool]:
    """An alpha-2 code for country text, and whether it had to be inferred (alias, city, spelling)."""
    if not isinstance(text, str) or not text.strip() or text.strip().lower() in ("n/a", "-"):
        return None, False
    key = text.strip().lower()
    try:
        return pycountry.countries.lookup(text.strip()).alpha_2, False
    except LookupError:
        pass
    if key in _ALIASES:
        return _ALIASES[key], True
    if key in _CITIES:
        return _CITIES[key], True
    for piece in re.split(r"[,/()]", text):
        if piece.strip() and piece.strip() != text.strip():
            code, _ = country_code(piece)
            if code is not None:
                return code, True
    known = {**_country_names(), **_ALIASES}
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.8)
    return (known[close[0]], True) if close else (None, False)


def _number(text: str) -> int | None:
    """Digits with k/m suffixes, or number words ("two hundred"), as an integer."""
    text = text.lower().replace(",", "").strip(" ~+")
    digits = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(k|m)?", text)
    if digits:
        scale = {"k": 1000, "m": 1_000_000}.get(digits.group(2) or "", 1)
        return round(float(digits.group(1)) * scale)
    total = current = 0
    for word in re.findall(r"[a-z]+", text):
        if word in _WORDS:
            current += _WORDS[word]
        elif word in _SCALES and (current or word != "k"):
            current = max(current, 1) * _SCALES[word]
            if _SCALES[word] >= 1000:
                total, current = total + current, 0
        elif word not in ("and", "a", "about"):
            return None
    return (total + current) or None


def employee_count(fields: dict[str, Any]) -> tuple[int | None, bool]:
    """The company's head count and whether it had to be inferred."""
    value = fields.get("NumberOfEmployees")
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return int(value), False
    if isinstance(value, str) and value.strip():
        text = value.lower().replace("–", "-").replace(" to ", "-")
        text = re.sub(r"\b(about|around|approx\.?|over|more than)\b", "", text).strip()
        parts = [p for p in text.split("-") if p.strip()]
        numbers = [_number(p) for p in parts]
        if numbers and all(n is not None for n in numbers):
            found = [n for n in numbers if n is not None]
            plain = len(found) == 1 and value.strip().isdigit()
            return sum(found) // len(found), not plain
    description = fields.get("Description")
    if isinstance(description, str):
        match = _STAFF.search(description)
        if match is not None:
            return _number(match.group(1)), True
    return None, False


def _listed_line(system: str, name: str) -> str | None:
    """The rest of a "- NAME: ..." line of the system prompt, when it has one."""
    match = re.search(rf"^[-*•]?\s*{re.escape(name)}\s*:(.*)$", system, re.MULTILINE)
    return match.group(1) if match else None


def _segment_for(count: int, names: list[str], system: str) -> str | None:
    """The segment whose range (from the prompt, else the usual sizes) holds the count."""
    for name in names:
        line = _listed_line(system, name)
        bounds = re.match(r"\s*(\d[\d,]*)\s*(?:[–-]\s*(\d[\d,]*)|\+)", line or "")
        if bounds is not None:
            lo = int(bounds.group(1).replace(",", ""))
            hi = int(bounds.group(2).replace(",", "")) if bounds.group(2) else None
            if lo <= count and (hi is None or count <= hi):
                return name
    for name in names:
        for words, (lo, hi) in _SEGMENT_SIZES:
            if name.lower() in words and lo <= count and (hi is None or count <= hi):
                return name
    return None


def _region_for(code: str, names: list[str], system: str) -> str | None:
    """The region listing the country in the prompt, else the one its zone is usually called."""
    for name in names:
        line = _listed_line(system, name)
        if line is not None and code in re.findall(r"\b[A-Z]{2}\b", line):
            return name
    for zone, codes in _ZONES.items():
        if code in codes.split():
            for name in names:
                if name.lower() in _ZONE_NAMES[zone]:
                    return name
    return None


def _enum(properties: dict[str, Any], key: str) -> list[Any]:
    values = properties.get(key, {}).get("enum")
    return list(values) if isinstance(values, list) else []


def route(fields: dict[str, Any], properties: dict[str, Any], system: str) -> dict[str, Any]:
    """segment, region, confidence and reason for a routing tool."""
    segments = [v for v in _enum(properties, "segment") if isinstance(v, str)]
    regions = [v for v in _enum(properties, "region") if isinstance(v, str)]
    count, count_inferred = employee_count(fields)
    code, code_inferred = country_code(fields.get("Country"))
    segment = _segment_for(count, segments, system) if count is not None else None
    region = _region_for(code, regions, system) if code is not None else None
    reasons = [
        f"about {count} employees" if count is not None else "size not stated",
        f"country reads as {code}" if code is not None else "country not stated",
    ]
    if segment is None and region is None:
        confidence = 0.2
    elif (segment is None or count_inferred) or (region is None or code_inferred):
        confidence = 0.7
    else:
        confidence = 0.92
    return {
        "segment": segment,
        "region": region,
        "confidence": confidence,
        "reason": "; ".join(reasons) + ".",
    }


def _template_for(intent: str, ids: list[str], system: str) -> str | None:
    """The template the catalogue in the prompt gives the intent, else one named after it."""
    for template_id in ids:
        line = _listed_line(system, template_id)
        if line is not None and re.search(rf"\bintent:?\s+{re.escape(intent)}\b", line):
            return template_id
    return next((template_id for template_id in ids if intent in template_id), None)


def choose(fields: dict[str, Any], properties: dict[str, Any], system: str) -> dict[str, Any]:
    """intent, template_id, confidence and variable_suggestions for a template tool."""
    intents = [v for v in _enum(properties, "intent") if isinstance(v, str)]
    ids = [v for v in _enum(properties, "template_id") if isinstance(v, str)]
    text = " ".join(
        str(fields.get(key) or "")
        for key in ("Description", "Product_Interest__c", "Title", "LeadSource")
    ).lower()
    scores = {
        intent: sum(word in text for word in words)
        for intent, words in _INTENT_WORDS.items()
        if intent in intents
    }
    best = max(scores, key=lambda intent: scores[intent], default=None)
    if best is None or scores[best] == 0:
        best = "general" if "general" in intents else (intents[0] if intents else "general")
    template_id = _template_for(best, ids, system) or (ids[0] if ids else "")
    hits = scores.get(best, 0)
    suggestions: dict[str, str] = {}
    company = fields.get("Company")
    allowed = properties.get("variable_suggestions", {}).get("properties", {})
    if "company" in allowed and isinstance(company, str) and _LEGAL_SUFFIX.search(company):
        suggestions["company"] = _LEGAL_SUFFIX.sub("", company).strip().title()
    return {
        "intent": best,
        "template_id": template_id,
        "confidence": 0.88 if hits >= 2 else 0.72 if hits == 1 else 0.35,
        "variable_suggestions": suggestions,
    }


def _placeholder(schema: dict[str, Any]) -> Any:
    """A value a schema accepts: its first enum value, else an empty value of its type."""
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    return {"string": "", "number": 0.5, "integer": 0, "boolean": False, "array": []}.get(
        str(schema.get("type")), {}
    )


def answer(tool: dict[str, Any], system: str, user_text: str) -> dict[str, Any]:
    """The tool input the simulated model writes for the request's last user message."""
    schema = tool.get("input_schema") or {}
    properties = schema.get("properties") or {}
    fields = lead_fields(user_text)
    if "segment" in properties or "region" in properties:
        return route(fields, properties, system)
    if "template_id" in properties:
        return choose(fields, properties, system)
    return {key: _placeholder(properties.get(key, {})) for key in schema.get("required", [])}
