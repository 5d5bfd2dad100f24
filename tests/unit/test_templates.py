"""Templates are checked data; lead text fills them as plain strings and never runs as code."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from shared.errors import ConfigError, TemplateFillError
from shared.intent import INTENT_PRIORITY, IntentGuess
from shared.models import Lead
from shared.templates import (
    Template,
    choose_template,
    decide_template,
    fill_template,
    load_templates,
    variables_for,
)

REPO_TEMPLATES = Path(__file__).resolve().parents[2] / "config" / "templates.json"

GREETING = Template(
    id="greet",
    name="Greeting",
    intent="general",
    subject="Hello from {{sender_name}} to {{company}}",
    body="Hi {{first_name}}, about {{product}} at {{company}}.",
    variables=("first_name", "company", "product", "sender_name"),
    fallbacks={"first_name": "there", "product": "our platform"},
)


@pytest.mark.parametrize(
    ("values", "body", "fallbacks_used"),
    [
        (
            {"first_name": "Ana", "company": "Acme", "product": "Routing", "sender_name": "Jo"},
            "Hi Ana, about Routing at Acme.",
            [],
        ),
        (
            {"company": "Acme", "sender_name": "Jo"},
            "Hi there, about our platform at Acme.",
            ["first_name", "product"],
        ),
        (
            {"first_name": "  ", "company": "Acme", "product": "", "sender_name": "Jo"},
            "Hi there, about our platform at Acme.",
            ["first_name", "product"],
        ),
        (
            {"first_name": " Ana ", "company": "Acme", "sender_name": "Jo"},
            "Hi Ana, about our platform at Acme.",
            ["product"],
        ),
    ],
    ids=["all-values", "missing-uses-fallback", "blank-uses-fallback", "values-trimmed"],
)
def test_fill_uses_values_then_fallbacks(
    values: dict[str, str], body: str, fallbacks_used: list[str]
) -> None:
    """A value fills its variable; a missing or blank one takes the template's fallback."""
    filled = fill_template(GREETING, values)
    assert filled.body == body
    assert filled.fallbacks_used == fallbacks_used


@pytest.mark.parametrize(
    ("values", "variable"),
    [
        ({"first_name": "Ana", "product": "Routing", "sender_name": "Jo"}, "company"),
        ({"first_name": "Ana", "company": " ", "sender_name": "Jo"}, "company"),
        ({"first_name": "Ana", "company": "Acme"}, "sender_name"),
    ],
    ids=["missing-in-subject-and-body", "blank-without-fallback", "missing-in-subject-only"],
)
def test_missing_value_without_fallback_names_the_variable(
    values: dict[str, str], variable: str
) -> None:
    """Without a value or a fallback the fill fails with the template and variable named."""
    with pytest.raises(TemplateFillError) as excinfo:
        fill_template(GREETING, values)
    assert (excinfo.value.template_id, excinfo.value.variable) == ("greet", variable)
    assert variable in str(excinfo.value)


INJECTIONS = [
    "{{ ''.__class__ }}",
    "{{ config }}",
    "{% raw %}{{ x }}{% endraw %}",
    "{% for x in range(10) %}loop{% endfor %}",
    "{{ cycler.__init__.__globals__ }}",
]


@pytest.mark.parametrize("payload", INJECTIONS, ids=["class", "config", "raw", "for", "globals"])
@pytest.mark.parametrize("field", ["FirstName", "Company", "Product_Interest__c"])
def test_lead_text_comes_out_literally(field: str, payload: str) -> None:
    """Template syntax typed into a lead field reaches the email as the same characters."""
    lead = Lead(**{"Id": "00Q1", "Company": "Acme", field: payload})
    filled = fill_template(GREETING, variables_for(lead, {"sender_name": "Jo"}))
    assert payload in filled.body


def test_injection_in_description_does_not_break_suggestion() -> None:
    """A Description full of template code is only read for intent, never rendered."""
    catalog = load_templates(REPO_TEMPLATES)
    lead = Lead(Id="00Q1", Description="pricing {{ ''.__class__.__mro__ }} {% raw %}")
    guess = IntentGuess(intent="pricing", confidence=0.9, matched=["pricing"])
    suggestion = decide_template(lead, catalog, guess, source="rules")
    assert "__mro__" not in suggestion.body
    assert suggestion.intent == "pricing"


def test_line_breaks_in_lead_text_stay_out_of_the_subject() -> None:
    """A subject stays on one line whatever the lead typed."""
    filled = fill_template(GREETING, {"company": "Acme\r\nBcc: x@example.com", "sender_name": "Jo"})
    assert "\n" not in filled.subject
    assert "\r" not in filled.subject
    assert filled.subject == "Hello from Jo to Acme Bcc: x@example.com"


def test_variables_come_from_lead_fields_and_extra() -> None:
    """Lead fields map to template variables; placeholders are missing; extra adds the sender."""
    lead = Lead(
        FirstName="Ana",
        LastName="[not provided]",
        Company="Acme",
        Product_Interest__c="Routing",
        Industry="Retail",
    )
    values = variables_for(lead, {"sender_name": "Jo"})
    assert values == {
        "first_name": "Ana",
        "company": "Acme",
        "product": "Routing",
        "industry": "Retail",
        "sender_name": "Jo",
    }


def test_shipped_catalogue_covers_every_intent() -> None:
    """config/templates.json loads, has a template per intent, each 60 to 150 words."""
    catalog = load_templates(REPO_TEMPLATES)
    assert {t.intent for t in catalog.templates} == set(INTENT_PRIORITY)
    for template in catalog.templates:
        assert 60 <= len(template.body.split()) <= 150, template.id


def test_shipped_templates_fill_from_an_empty_lead() -> None:
    """Every shipped template can be sent to a lead that gave nothing but an email address."""
    catalog = load_templates(REPO_TEMPLATES)
    for template in catalog.templates:
        filled = fill_template(template, variables_for(Lead(Email="a@example.com")))
        assert "{{" not in filled.subject + filled.body, template.id


@pytest.mark.parametrize(
    ("intent", "template_intent"),
    [(intent, intent) for intent in INTENT_PRIORITY] + [("unheard-of", "general")],
    ids=[*INTENT_PRIORITY, "unknown-intent-falls-back-to-general"],
)
def test_choose_template_by_intent(intent: str, template_intent: str) -> None:
    """Each intent gets its own template; an intent without one gets a general template."""
    catalog = load_templates(REPO_TEMPLATES)
    assert choose_template(catalog, intent).intent == template_intent


def test_decide_template_fills_and_explains() -> None:
    """A suggestion carries the lead, the chosen template, the filled text and a reason."""
    catalog = load_templates(REPO_TEMPLATES)
    lead = Lead(Id="00Q1", FirstName="Ana", Company="Acme", Product_Interest__c="Routing")
    guess = IntentGuess(intent="demo", confidence=0.7, matched=["demo"])
    suggestion = decide_template(lead, catalog, guess, source="rules", extra={"sender_name": "Jo"})
    assert suggestion.lead_id == "00Q1"
    assert suggestion.template_id == "demo-tailored"
    assert suggestion.body.startswith("Hi Ana,")
    assert "Acme" in suggestion.body
    assert suggestion.body.rstrip().endswith("Jo")
    assert suggestion.fallbacks_used == ["meeting_link"]
    assert "demo" in suggestion.reason
    assert "demo-tailored" in suggestion.reason


def _template(**changes: Any) -> dict[str, Any]:
    """A valid template entry with some keys changed."""
    base = {
        "id": "t-general",
        "name": "General",
        "intent": "general",
        "subject": "Hello {{company}}",
        "body": "Hi {{first_name}}",
        "variables": ["company", "first_name"],
        "fallbacks": {"first_name": "there"},
        "tags": [],
    }
    return {**base, **changes}


def _catalog(first: dict[str, Any]) -> dict[str, Any]:
    """A catalogue whose first template is `first`, plus one valid template per other intent."""
    others = [
        _template(id=f"t-{intent}", intent=intent)
        for intent in INTENT_PRIORITY
        if intent != "general"
    ]
    return {"version": "t1", "templates": [first, *others, _template(id="t-general-2")]}


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (_catalog(_template(intent="refund")), "$.templates[0].intent: Input should be 'pricing'"),
        (
            _catalog(_template(id="t-demo")),
            "$.templates[2].id: duplicate id 't-demo' (first at $.templates[0])",
        ),
        (
            _catalog(_template(body="Hi {{name}}")),
            "$.templates[0].body: variable 'name' is used but not declared",
        ),
        (
            _catalog(_template(subject="Hi {{title}}")),
            "$.templates[0].subject: variable 'title' is used but not declared",
        ),
        (
            _catalog(_template(fallbacks={"title": "friend"})),
            "$.templates[0].fallbacks.title: fallback for 'title', which is not declared",
        ),
        (
            _catalog(_template(fallbacks={"first_name": " "})),
            "$.templates[0].fallbacks.first_name: expected a non-blank fallback",
        ),
        (
            _catalog(_template(body="Hi {{first_name}")),
            "$.templates[0].body: template syntax error on line 1",
        ),
        (
            _catalog(_template(body="{% if first_name %}Hi{% endif %}")),
            "$.templates[0].body: expected only {{ name }} variables, found a {% ... %} statement",
        ),
        (
            _catalog(_template(body="{% raw %}{{x}}{% endraw %}")),
            "$.templates[0].body: expected only {{ name }} variables, found a {% raw %} block",
        ),
        (
            _catalog(_template(body="Hi {# note #}{{first_name}}")),
            "$.templates[0].body: expected only {{ name }} variables, found a {# ... #} comment",
        ),
        (
            _catalog(_template(body="Hi {{ first_name|upper }}")),
            "$.templates[0].body: expected only {{ name }} variables, found a filter",
        ),
        (
            _catalog(_template(body="Hi {{ first_name.__class__ }}")),
            "$.templates[0].body: expected only {{ name }} variables, found attribute access",
        ),
        (
            _catalog(_template(body="Hi {{ first_name[0] }}")),
            "$.templates[0].body: expected only {{ name }} variables, found item access",
        ),
        (
            _catalog(_template(body="Hi {{ 'x' }}")),
            "$.templates[0].body: expected only {{ name }} variables, found a literal",
        ),
        (
            _catalog(_template(variables=["company", "first_name", "first-name"])),
            "$.templates[0].variables[2]: expected a variable name",
        ),
        (
            {"version": "t1", "templates": [_template()]},
            "$.templates: no template for intent 'pricing'",
        ),
        (
            _catalog(_template(colour="blue")),
            "$.templates[0].colour: Extra inputs are not permitted",
        ),
    ],
    ids=[
        "unknown-intent",
        "duplicate-id",
        "undeclared-in-body",
        "undeclared-in-subject",
        "fallback-for-undeclared",
        "blank-fallback",
        "syntax-error",
        "block-statement",
        "raw-block",
        "comment",
        "filter",
        "attribute-access",
        "item-access",
        "literal",
        "bad-variable-name",
        "intent-without-template",
        "unknown-key",
    ],
)
def test_invalid_catalogue_names_file_and_key(
    tmp_path: Path, doc: dict[str, Any], expected: str
) -> None:
    """Each kind of mistake is reported with the file, the JSON path and the rule broken."""
    path = tmp_path / "templates.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ConfigError) as excinfo:
        load_templates(path)
    assert str(path) in str(excinfo.value)
    assert expected in str(excinfo.value)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    """An operator fixing the file sees all problems in one run, not one per run."""
    doc = _catalog(_template(body="{{ a|b }}", fallbacks={"zzz": "x"}))
    doc["templates"].append(copy.deepcopy(doc["templates"][0]))
    path = tmp_path / "templates.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ConfigError) as excinfo:
        load_templates(path)
    assert len(excinfo.value.problems) == 5
