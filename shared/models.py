"""Records read from Salesforce and the pure decisions made about them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Lead(BaseModel):
    """A Salesforce Lead as the API returns it; orgs add fields, so unknown ones are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    Id: str | None = None
    FirstName: str | None = None
    LastName: str | None = None
    Company: str | None = None
    Title: str | None = None
    Email: str | None = None
    Phone: str | None = None
    Website: str | None = None
    Country: str | None = None
    State: str | None = None
    # Kept as typed by the org or the caller: a decision explains a missing or non-numeric count.
    NumberOfEmployees: bool | int | float | str | None = None
    Industry: str | None = None
    LeadSource: str | None = None
    Product_Interest__c: str | None = None
    Description: str | None = None
    OwnerId: str | None = None
    CreatedDate: datetime | None = None
    HasOptedOutOfEmail: bool | None = None
    EmailBouncedDate: datetime | None = None
    First_Response_At__c: datetime | None = None


OwnerKind = Literal["user", "queue"]
DecisionSource = Literal["rules", "llm", "degraded"]


class RoutingDecision(BaseModel):
    """Who owns a lead, and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lead_id: str | None
    segment: str | None
    region: str | None
    owner: str
    owner_kind: OwnerKind
    reason: str
    confidence: float = Field(ge=0.0, le=1.0)
    source: DecisionSource
    policy_version: str
    needs_review: bool = False


ResponseSource = Literal["Task", "EmailMessage"]


class FirstTouchDecision(BaseModel):
    """The earliest response to a lead and whether it should be written back."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lead_id: str
    first_response_at: datetime | None
    first_response_user: str | None
    source: ResponseSource | None
    source_record_id: str | None
    ttfr_minutes: float | None
    business_minutes: float | None
    should_write: bool
    sla_hours: float | None
    breached_60_minutes: bool | None
    breached_segment_sla: bool | None
    reason: str


class TemplateSuggestion(BaseModel):
    """The outreach template chosen for a lead, filled in."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lead_id: str | None
    template_id: str
    intent: str
    confidence: float = Field(ge=0.0, le=1.0)
    subject: str
    body: str
    fallbacks_used: list[str] = Field(default_factory=list)
    source: DecisionSource
    reason: str


class AccountOwnerMatch(BaseModel):
    """An existing Account whose Website domain matches a lead's email domain, with its owner."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account_id: str
    owner_id: str
    owner_active: bool
    domain: str
