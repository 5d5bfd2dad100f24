"""What a lead wants, guessed from its own words by keyword rules when no LLM is available.

Each intent has a table of phrases with weights (2 for an unambiguous phrase, 1 for a word
that also appears in unrelated sentences). Phrases match whole words, case-insensitively, in
Description, Product_Interest__c, Title, LeadSource and Industry. An intent's score is the sum
of the weights of its distinct phrases found; the highest score wins, and equal scores go to
the first intent in INTENT_PRIORITY (closest to a purchase first). No match at all means
'general' with low confidence.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.models import Lead

Intent = Literal["pricing", "demo", "technical", "general", "partnership", "trial", "comparison"]

INTENT_PRIORITY: tuple[Intent, ...] = (
    "pricing",
    "demo",
    "trial",
    "comparison",
    "technical",
    "partnership",
    "general",
)
INTENTS: frozenset[str] = frozenset(INTENT_PRIORITY)

COMPETITORS = (
    "leandata",
    "chili piper",
    "distribution engine",
    "traction complete",
    "salesloft",
    "hubspot",
    "ringlead",
)

_PHRASES: dict[Intent, dict[str, int]] = {
    "pricing": {
        "pricing": 2,
        "price": 2,
        "prices": 2,
        "how much": 2,
        "quote": 2,
        "quotes": 2,
        "quotation": 2,
        "cost": 2,
        "costs": 2,
        "budget": 1,
        "per seat": 2,
        "per user": 2,
        "licensing": 1,
        "license": 1,
        "discount": 2,
        "invoice": 1,
        "proposal": 1,
    },
    "demo": {
        "demo": 2,
        "demos": 2,
        "demonstration": 2,
        "walkthrough": 2,
        "walk through": 1,
        "see it in action": 2,
        "show me": 1,
        "book a call": 1,
        "schedule a call": 1,
        "presentation": 1,
    },
    "technical": {
        "api": 2,
        "apis": 2,
        "integration": 2,
        "integrations": 2,
        "integrate": 2,
        "sso": 2,
        "saml": 2,
        "oauth": 2,
        "scim": 2,
        "webhook": 2,
        "webhooks": 2,
        "sdk": 2,
        "documentation": 1,
        "security review": 2,
        "architecture": 1,
        "developer": 1,
        "engineer": 1,
    },
    "partnership": {
        "partner": 2,
        "partners": 2,
        "partnership": 2,
        "partnerships": 2,
        "reseller": 2,
        "resell": 2,
        "referral": 2,
        "affiliate": 2,
        "channel": 1,
        "agency": 1,
        "white label": 2,
    },
    "trial": {
        "trial": 2,
        "trials": 2,
        "free trial": 2,
        "free": 1,
        "try": 1,
        "try it": 2,
        "sandbox": 2,
        "pilot": 1,
        "proof of concept": 2,
        "poc": 2,
        "sign up": 1,
    },
    "comparison": {
        "vs": 2,
        "versus": 2,
        "compared to": 2,
        "compare": 2,
        "comparison": 2,
        "alternative to": 2,
        "alternatives": 1,
        "switching from": 2,
        "switch from": 2,
        "replace": 1,
        "replacing": 1,
        "migrate from": 2,
        **dict.fromkeys(COMPETITORS, 2),
    },
    "general": {
        "information": 1,
        "info": 1,
        "learn more": 1,
        "question": 1,
        "questions": 1,
        "contact me": 1,
        "get in touch": 1,
    },
}

# Phrases that contain an intent word without the intent: "feel free to call" is not a trial.
_NOT_SIGNALS = ("feel free",)

_FIELDS = ("Description", "Product_Interest__c", "Title", "LeadSource", "Industry")


def _pattern(phrase: str) -> re.Pattern[str]:
    """Whole-word, case-insensitive match of a phrase, any run of spaces between its words."""
    words = r"\s+".join(re.escape(word) for word in phrase.split())
    return re.compile(rf"(?<!\w){words}(?!\w)", re.IGNORECASE)


_COMPILED: dict[Intent, tuple[tuple[str, int, re.Pattern[str]], ...]] = {
    intent: tuple((phrase, weight, _pattern(phrase)) for phrase, weight in phrases.items())
    for intent, phrases in _PHRASES.items()
}
_NOT_SIGNAL_PATTERNS = tuple(_pattern(phrase) for phrase in _NOT_SIGNALS)


class IntentGuess(BaseModel):
    """An intent with how sure the rules are and the phrases that decided it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    intent: Intent
    confidence: float = Field(ge=0.0, le=1.0)
    matched: list[str] = Field(default_factory=list)


def _lead_text(lead: Lead) -> str:
    """The lead's free-text fields joined, with phrases that only look like signals removed."""
    parts = [value for field in _FIELDS if isinstance(value := getattr(lead, field), str)]
    # A line break between fields keeps a phrase from spanning two of them.
    text = "\n".join(parts)
    for pattern in _NOT_SIGNAL_PATTERNS:
        text = pattern.sub(" ", text)
    return text


def _confidence(top: int, runner_up: int) -> float:
    """More evidence raises confidence; a close second intent lowers it."""
    base = min(0.9, 0.4 + 0.15 * top)
    margin = (top - runner_up) / top
    return round(base * (0.5 + 0.5 * margin), 2)


def detect_intent(lead: Lead) -> IntentGuess:
    """The lead's most likely intent from keyword tables; 'general' at 0.3 when nothing matches."""
    text = _lead_text(lead)
    scores: dict[Intent, int] = {}
    matches: dict[Intent, list[str]] = {}
    for intent in INTENT_PRIORITY:
        found = [(phrase, weight) for phrase, weight, rx in _COMPILED[intent] if rx.search(text)]
        if found:
            scores[intent] = sum(weight for _, weight in found)
            matches[intent] = [phrase for phrase, _ in found]
    if not scores:
        return IntentGuess(intent="general", confidence=0.3, matched=[])
    ranked = sorted(scores, key=lambda i: (-scores[i], INTENT_PRIORITY.index(i)))
    winner = ranked[0]
    runner_up = scores[ranked[1]] if len(ranked) > 1 else 0
    return IntentGuess(
        intent=winner,
        confidence=_confidence(scores[winner], runner_up),
        matched=matches[winner],
    )
