"""Keyword rules read a lead's own words into an intent, deterministically."""

from __future__ import annotations

from typing import Any

import pytest

from shared.intent import detect_intent
from shared.models import Lead


@pytest.mark.parametrize(
    ("fields", "intent"),
    [
        ({"Description": "How much would 40 seats cost per year?"}, "pricing"),
        ({"Description": "Please send a quote for the annual plan"}, "pricing"),
        ({"Description": "Could we get a walkthrough for the team?"}, "demo"),
        ({"Description": "We would love to see it in action"}, "demo"),
        ({"Description": "Does it support SAML single sign-on and webhooks?"}, "technical"),
        ({"Title": "Integration Engineer", "Description": "Questions about the API"}, "technical"),
        ({"LeadSource": "Partner Referral"}, "partnership"),
        ({"Description": "We are a reseller in the Nordics"}, "partnership"),
        ({"Product_Interest__c": "Free Trial"}, "trial"),
        ({"Description": "Can we get a sandbox to try it?"}, "trial"),
        ({"Description": "Evaluating you vs. LeanData"}, "comparison"),
        ({"Description": "Looking for an alternative to Chili Piper"}, "comparison"),
        ({"Description": "switching from HubSpot workflows"}, "comparison"),
        ({"Description": "I have a few questions"}, "general"),
        ({"Description": "PRICING PLEASE"}, "pricing"),
    ],
    ids=[
        "pricing-how-much-cost",
        "pricing-quote",
        "demo-walkthrough",
        "demo-see-it-in-action",
        "technical-saml-webhooks",
        "technical-title-and-api",
        "partnership-lead-source",
        "partnership-reseller",
        "trial-product-interest",
        "trial-sandbox",
        "comparison-vs-competitor",
        "comparison-alternative-to",
        "comparison-switching-from",
        "general-question",
        "upper-case",
    ],
)
def test_intent_from_lead_text(fields: dict[str, Any], intent: str) -> None:
    """Phrases in Description, Product_Interest__c, Title, LeadSource or Industry set the intent."""
    assert detect_intent(Lead(**fields)).intent == intent


@pytest.mark.parametrize(
    "description",
    [
        "Our industry is logistics",
        "We keep bees; the apiary needs software",
        "Feel free to call me on Monday",
        "Ask the partnerofficer@example.com mailbox",
        "",
    ],
    ids=["try-inside-industry", "api-inside-apiary", "feel-free", "partner-inside-word", "empty"],
)
def test_words_inside_other_words_do_not_count(description: str) -> None:
    """Matching is by whole words, so near-misses fall back to general with low confidence."""
    guess = detect_intent(Lead(Description=description))
    assert (guess.intent, guess.matched) == ("general", [])
    assert guess.confidence <= 0.3


@pytest.mark.parametrize(
    ("description", "intent"),
    [
        ("pricing and a demo", "pricing"),
        ("a demo and a trial", "demo"),
        ("a trial, and how do you compare", "trial"),
        ("compare the API", "comparison"),
        ("API docs for partners", "technical"),
    ],
    ids=[
        "pricing-over-demo",
        "demo-over-trial",
        "trial-over-comparison",
        "comparison-over-technical",
        "technical-over-partnership",
    ],
)
def test_equal_scores_follow_priority(description: str, intent: str) -> None:
    """When two intents score the same, the one closer to a purchase wins."""
    assert detect_intent(Lead(Description=description)).intent == intent


def test_no_fields_at_all_is_general() -> None:
    """A lead with no text is a general enquiry, with low confidence."""
    guess = detect_intent(Lead(Id="00Q1"))
    assert guess.intent == "general"
    assert guess.confidence == 0.3


def test_matched_lists_the_phrases_found() -> None:
    """The guess shows the phrases that decided it, so a person can check it."""
    guess = detect_intent(Lead(Description="What does it cost? Need a quote and per seat prices."))
    assert set(guess.matched) == {"cost", "quote", "per seat", "prices"}


def test_more_evidence_means_more_confidence() -> None:
    """Several pricing phrases are surer than one; a competing intent makes it less sure."""
    one = detect_intent(Lead(Description="pricing"))
    many = detect_intent(Lead(Description="pricing, a quote and the cost per seat"))
    contested = detect_intent(Lead(Description="pricing and a demo"))
    assert many.confidence > one.confidence > contested.confidence


def test_same_lead_same_guess() -> None:
    """The rules are deterministic: the same lead always gets the same guess."""
    lead = Lead(Description="demo of the API vs LeanData", Title="CTO", Industry="Retail")
    assert detect_intent(lead) == detect_intent(lead.model_copy())
