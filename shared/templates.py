"""The outreach template catalogue: loading and checking it, choosing a template, filling it in.

Templates are data: the only construct allowed is a plain `{{ name }}` variable, declared in
the template's `variables`. Lead text fills those variables as plain strings and is never
rendered itself, so a Company of `{{ ''.__class__ }}` reaches the email as those characters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2 import Template as CompiledTemplate
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field

from shared.config_files import load_json_model
from shared.errors import ConfigError, TemplateFillError
from shared.intent import INTENT_PRIORITY, Intent, IntentGuess
from shared.models import DecisionSource, Lead, TemplateSuggestion

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FORBIDDEN_TOKENS = {
    "block_begin": "a {% ... %} statement",
    "raw_begin": "a {% raw %} block",
    "comment_begin": "a {# ... #} comment",
    "line_statement_begin": "a line statement",
    "line_comment_begin": "a line comment",
}
# Salesforce stores this when a web form left a required field empty; it is not a name.
_PLACEHOLDERS = frozenset({"[not provided]"})

LEAD_VARIABLES: dict[str, str] = {
    "first_name": "FirstName",
    "last_name": "LastName",
    "company": "Company",
    "title": "Title",
    "product": "Product_Interest__c",
    "industry": "Industry",
    "country": "Country",
}


class Template(BaseModel):
    """One outreach email: subject and body with `{{ name }}` variables and their fallbacks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    intent: Intent
    subject: str = Field(min_length=1)
    body: str = Field(min_length=1)
    variables: tuple[str, ...] = ()
    fallbacks: dict[str, str] = Field(default_factory=dict)
    tags: tuple[str, ...] = ()


class TemplateCatalog(BaseModel):
    """Every template, in the order choose_template prefers them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1)
    templates: tuple[Template, ...] = Field(min_length=1)


class FilledTemplate(BaseModel):
    """A template with every variable replaced, and which variables fell back."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subject: str
    body: str
    fallbacks_used: list[str] = Field(default_factory=list)


@lru_cache(maxsize=1024)
def _parse(source: str) -> nodes.Template:
    """The template's syntax tree; raises TemplateSyntaxError."""
    return _ENV.parse(source)


@lru_cache(maxsize=1024)
def _compile(source: str) -> CompiledTemplate:
    """The compiled template, built once per distinct source text."""
    return _ENV.from_string(source)


@lru_cache(maxsize=1024)
def used_variables(source: str) -> tuple[str, ...]:
    """Variable names a template source uses, in order of first use."""
    seen: dict[str, None] = {}
    for name in _parse(source).find_all(nodes.Name):
        seen.setdefault(name.name, None)
    return tuple(seen)


def _construct_problems(source: str) -> list[str]:
    """What in a template source is not plain text or a plain `{{ name }}` variable."""
    try:
        tree = _parse(source)
    except TemplateSyntaxError as exc:
        return [f"template syntax error on line {exc.lineno}: {exc.message}"]
    problems = []
    for _, token, _value in _ENV.lex(source):
        if token in _FORBIDDEN_TOKENS:
            problems.append(
                f"expected only {{{{ name }}}} variables, found {_FORBIDDEN_TOKENS[token]}"
            )
    for node in tree.body:
        if not isinstance(node, nodes.Output):
            continue  # a statement, already reported from its {% token
        for part in node.nodes:
            if not isinstance(part, nodes.TemplateData | nodes.Name):
                problems.append(
                    "expected only {{ name }} variables, found "
                    f"{_describe_expression(part)} (filters, attribute or item access, calls "
                    "and literals are not allowed)"
                )
    return list(dict.fromkeys(problems))


def _describe_expression(node: nodes.Node) -> str:
    """A reader's name for a Jinja expression node."""
    kinds: dict[type[nodes.Node], str] = {
        nodes.Filter: "a filter",
        nodes.Getattr: "attribute access",
        nodes.Getitem: "item access",
        nodes.Call: "a call",
        nodes.Const: "a literal",
    }
    return kinds.get(type(node), f"an expression ({type(node).__name__})")


def _template_problems(index: int, template: Template) -> list[str]:
    """Every problem of one template, each prefixed with its JSON path."""
    at = f"$.templates[{index}]"
    problems = [
        f"{at}.variables[{k}]: expected a variable name (letters, digits, underscore), got {v!r}"
        for k, v in enumerate(template.variables)
        if not _IDENTIFIER.match(v)
    ]
    declared = set(template.variables)
    for field in ("subject", "body"):
        source = getattr(template, field)
        found = _construct_problems(source)
        problems += [f"{at}.{field}: {p}" for p in found]
        if found:
            continue
        problems += [
            f"{at}.{field}: variable {name!r} is used but not declared in variables"
            for name in used_variables(source)
            if name not in declared
        ]
    for name, value in template.fallbacks.items():
        if name not in declared:
            problems.append(
                f"{at}.fallbacks.{name}: fallback for {name!r}, which is not declared in variables"
            )
        elif not value.strip():
            problems.append(f"{at}.fallbacks.{name}: expected a non-blank fallback")
    return problems


def catalog_problems(catalog: TemplateCatalog) -> list[str]:
    """Every rule the catalogue breaks beyond its JSON shape, each naming its JSON path."""
    problems: list[str] = []
    first_seen: dict[str, int] = {}
    for index, template in enumerate(catalog.templates):
        if template.id in first_seen:
            problems.append(
                f"$.templates[{index}].id: duplicate id {template.id!r} "
                f"(first at $.templates[{first_seen[template.id]}])"
            )
        else:
            first_seen[template.id] = index
        problems += _template_problems(index, template)
    covered = {t.intent for t in catalog.templates}
    problems += [
        f"$.templates: no template for intent {intent!r}; expected at least one per intent"
        for intent in INTENT_PRIORITY
        if intent not in covered
    ]
    return problems


def load_templates(path: Path) -> TemplateCatalog:
    """Load and check config/templates.json; ConfigError names the file, JSON path and rule."""
    catalog = load_json_model(path, TemplateCatalog)
    problems = catalog_problems(catalog)
    if problems:
        raise ConfigError(str(path), problems)
    return catalog


def _usable(value: object) -> str | None:
    """A stripped, non-blank string, or None for missing, blank or placeholder values."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    return text if text and text.lower() not in _PLACEHOLDERS else None


def variables_for(lead: Lead, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Template variables from the lead's fields (see LEAD_VARIABLES), overridden by extra."""
    values = {
        name: text
        for name, field in LEAD_VARIABLES.items()
        if (text := _usable(getattr(lead, field))) is not None
    }
    if extra:
        values.update(extra)
    return values


def fill_template(template: Template, values: Mapping[str, str]) -> FilledTemplate:
    """Render subject and body; a missing or blank value takes the fallback or raises."""
    resolved: dict[str, str] = {}
    fallbacks_used: list[str] = []
    for name in used_variables(template.subject) + used_variables(template.body):
        if name in resolved:
            continue
        value = _usable(values.get(name))
        if value is None:
            value = _usable(template.fallbacks.get(name))
            if value is None:
                raise TemplateFillError(template.id, name)
            fallbacks_used.append(name)
        resolved[name] = value
    # A line break from lead text must not split a subject line.
    one_line = {name: " ".join(value.split()) for name, value in resolved.items()}
    return FilledTemplate(
        subject=_compile(template.subject).render(one_line),
        body=_compile(template.body).render(resolved),
        fallbacks_used=fallbacks_used,
    )


def choose_template(catalog: TemplateCatalog, intent: str) -> Template:
    """The first template for the intent, or the first 'general' one for an intent without one."""
    for wanted in (intent, "general"):
        for template in catalog.templates:
            if template.intent == wanted:
                return template
    raise ConfigError("templates", [f"no template for intent {intent!r} and none for 'general'"])


def decide_template(
    lead: Lead,
    catalog: TemplateCatalog,
    intent_guess: IntentGuess,
    *,
    source: DecisionSource,
    extra: Mapping[str, str] | None = None,
) -> TemplateSuggestion:
    """Choose the template for the guessed intent and fill it from the lead; raises on a gap."""
    template = choose_template(catalog, intent_guess.intent)
    filled = fill_template(template, variables_for(lead, extra))
    evidence = (
        f"matched {', '.join(repr(m) for m in intent_guess.matched)}"
        if intent_guess.matched
        else "no intent phrases matched"
    )
    fallbacks = (
        f"; fallbacks used for {', '.join(filled.fallbacks_used)}" if filled.fallbacks_used else ""
    )
    return TemplateSuggestion(
        lead_id=lead.Id,
        template_id=template.id,
        intent=intent_guess.intent,
        confidence=intent_guess.confidence,
        subject=filled.subject,
        body=filled.body,
        fallbacks_used=filled.fallbacks_used,
        source=source,
        reason=(
            f"intent {intent_guess.intent} ({evidence}; confidence {intent_guess.confidence:.2f}) "
            f"-> template {template.id} ({template.name}){fallbacks}"
        ),
    )
