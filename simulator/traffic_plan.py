"""The traffic's plan: which leads arrive when, what they say, and how each one is answered.

A pure function of the seed, the lead count, the duration and the org's Account domains. Every
dimension (intent, headcount, country, email domain, response) is drawn from a quota, so a run
of at least a quota's length shows every value, and a seed always gives the same leads.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from simulator import traffic_data as data

ResponseKind = Literal["call", "outgoing_email", "incoming_only", "none"]
EmailKind = Literal["company", "account", "free_mail"]
RESPONSE_KINDS: tuple[ResponseKind, ...] = ("call", "outgoing_email", "incoming_only", "none")
# Most leads get a real response; some only hear from the prospect again; some never hear back.
RESPONSE_QUOTA: tuple[ResponseKind, ...] = (
    ("call",) * 4 + ("outgoing_email",) * 3 + ("incoming_only",) + ("none",) * 2
)
EMAIL_QUOTA: tuple[EmailKind, ...] = ("account",) * 5 + ("free_mail",) * 3 + ("company",) * 12
OPT_OUT_EVERY = 20
# Leads arrive over this share of the run; responses land in the rest.
ARRIVAL_SHARE = 0.75
RESPONSE_MAX_SHARE = 0.25
T = TypeVar("T")


@dataclass(frozen=True)
class ResponsePlan:
    """How a lead is answered and how long after it arrived."""

    kind: ResponseKind
    after_seconds: float
    rep_pick: int


@dataclass(frozen=True)
class LeadPlan:
    """One lead to create: its fields, when, and what it stands for."""

    index: int
    at_seconds: float
    fields: dict[str, Any]
    segment: str
    intent: str
    country_style: str
    email_kind: EmailKind
    opted_out: bool
    response: ResponsePlan


@dataclass(frozen=True)
class TrafficPlan:
    """Every lead of a run, in arrival order."""

    seed: int
    duration_seconds: float
    leads: tuple[LeadPlan, ...]

    def actions(self) -> list[tuple[float, str, LeadPlan]]:
        """(offset, "create" | "respond", lead) in the order they happen."""
        steps: list[tuple[float, int, str, LeadPlan]] = []
        for lead in self.leads:
            steps.append((lead.at_seconds, lead.index, "create", lead))
            if lead.response.kind != "none":
                steps.append(
                    (lead.at_seconds + lead.response.after_seconds, lead.index, "respond", lead)
                )
        steps.sort(key=lambda step: (step[0], step[2] != "create", step[1]))
        return [(at, kind, lead) for at, _, kind, lead in steps]


def _quota(rng: random.Random, pattern: Sequence[T], n: int) -> list[T]:
    """n values in which each value of the pattern appears in proportion (all of them once n is
    at least the pattern's length), in a seeded order."""
    shuffled = list(pattern)
    rng.shuffle(shuffled)
    values = (shuffled * (n // len(shuffled) + 1))[:n]
    rng.shuffle(values)
    return values


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum() or ch in "-.")


def _phone(rng: random.Random) -> str:
    return rng.choice(
        (
            f"+1 ({rng.randint(201, 989)}) 555-{rng.randint(1000, 9999)}",
            f"+44 20 7946 {rng.randint(1000, 9999)}",
            f"+49 30 {rng.randint(100000, 999999)}",
            f"0{rng.randint(10, 99)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
            f"+81-3-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}",
        )
    )


def _description(
    rng: random.Random, intent: str, company: str, headcount: data.HeadcountSample
) -> str:
    text = rng.choice(data.DESCRIPTIONS[intent]).format(company=company)
    if headcount.text is not None:
        text += " " + rng.choice(data.SIZE_SENTENCES).format(size=headcount.text)
    return text


def build_plan(
    seed: int, leads: int, minutes: float, account_domains: Sequence[str] = ()
) -> TrafficPlan:
    """The leads and responses of a run: the same arguments always give the same plan."""
    if leads < 1:
        raise ValueError("leads must be at least 1")
    if minutes <= 0:
        raise ValueError("minutes must be positive")
    rng = random.Random(f"traffic-{seed}")
    duration = minutes * 60.0
    domains = sorted(set(account_domains))
    intents = _quota(rng, data.INTENTS, leads)
    headcounts = _quota(rng, data.HEADCOUNTS, leads)
    countries = _quota(rng, data.COUNTRIES, leads)
    email_kinds = _quota(rng, EMAIL_QUOTA, leads)
    responses = _quota(rng, RESPONSE_QUOTA, leads)
    opted_out_slots = [slot == 0 for slot in _quota(rng, range(OPT_OUT_EVERY), leads)]
    slot = duration * ARRIVAL_SHARE / leads
    low = min(2.0, duration * 0.05)
    high = max(low, duration * RESPONSE_MAX_SHARE)
    planned: list[LeadPlan] = []
    for index in range(leads):
        first, last = rng.choice(data.FIRST_NAMES), rng.choice(data.LAST_NAMES)
        stem, suffix = rng.choice(data.COMPANY_STEMS), rng.choice(data.COMPANY_SUFFIXES)
        company = f"{stem} {suffix}{rng.choice(data.LEGAL_FORMS)}"
        company_domain = _ascii(stem + suffix) + rng.choice(data.COMPANY_TLDS)
        email_kind: EmailKind = email_kinds[index]
        if email_kind == "account" and not domains:
            email_kind = "company"
        if email_kind == "account":
            mail_domain = rng.choice(domains)
        elif email_kind == "free_mail":
            mail_domain = rng.choice(data.FREE_MAIL_DOMAINS)
        else:
            mail_domain = company_domain
        local = rng.choice((f"{first}.{last}", f"{first[0]}{last}", first, f"{first}{index}"))
        headcount, country = headcounts[index], countries[index]
        fields: dict[str, Any] = {
            "FirstName": first,
            "LastName": last,
            "Company": company,
            "Title": rng.choice(data.TITLES),
            "Email": f"{_ascii(local)}@{mail_domain}",
            "Phone": _phone(rng),
            "Industry": rng.choice(data.INDUSTRIES),
            "LeadSource": rng.choice(data.LEAD_SOURCES),
            "Product_Interest__c": rng.choice(data.PRODUCT_INTERESTS),
            "Description": _description(rng, intents[index], company, headcount),
        }
        if email_kind == "company" and rng.random() < 0.5:
            fields["Website"] = f"https://www.{company_domain}"
        if country.text is not None:
            fields["Country"] = country.text
        if headcount.value is not None:
            fields["NumberOfEmployees"] = headcount.value
        if opted_out_slots[index]:
            fields["HasOptedOutOfEmail"] = True
        fields = {name: value for name, value in fields.items() if value is not None}
        kind = responses[index]
        response = ResponsePlan(
            kind=kind,
            after_seconds=round(rng.uniform(low, high), 3) if kind != "none" else 0.0,
            rep_pick=rng.randrange(1_000_000),
        )
        planned.append(
            LeadPlan(
                index=index,
                at_seconds=round(slot * (index + rng.random()), 3),
                fields=fields,
                segment=headcount.segment,
                intent=intents[index],
                country_style=country.style,
                email_kind=email_kind,
                opted_out=opted_out_slots[index],
                response=response,
            )
        )
    return TrafficPlan(seed=seed, duration_seconds=duration, leads=tuple(planned))
