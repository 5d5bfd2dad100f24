"""The LLM port: what the workloads ask a model, and the record of each exchange for the flywheel."""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from shared.errors import PermanentError, RetryableError
from shared.intent import Intent
from shared.models import Lead
from shared.policy import RoutingPolicy
from shared.routing import LlmRoutingVerdict
from shared.templates import TemplateCatalog


class LlmUnavailableError(RetryableError):
    """The model did not answer in time or answered 429/5xx/529; rules decide meanwhile."""


class LlmAnswerError(PermanentError):
    """The model answered, but not through the tool or with values outside the allowed enums."""


class LlmExchange(BaseModel):
    """One request and response in OpenAI chat format, as the flywheel records them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str
    model: str
    request: dict[str, Any]
    response: dict[str, Any]
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cache_read_tokens: int = Field(default=0, ge=0)
    cache_creation_tokens: int = Field(default=0, ge=0)
    latency_ms: float = Field(default=0.0, ge=0.0)


class RoutingAnswer(BaseModel):
    """The model's routing verdict (policy names only) and the exchange that produced it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    verdict: LlmRoutingVerdict
    exchange: LlmExchange


class TemplateAnswer(BaseModel):
    """The model's intent and template choice for a lead, with suggested variable values."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    intent: Intent
    template_id: str
    confidence: float = Field(ge=0.0, le=1.0)
    variable_suggestions: dict[str, str] = Field(default_factory=dict)
    exchange: LlmExchange


class LlmPort(Protocol):
    """A model that refines routing and picks templates; it may refine, never invent."""

    @property
    def name(self) -> str:
        """Provider name as recorded in the flywheel: 'anthropic' or 'offline'."""
        ...

    def route(self, lead: Lead, policy: RoutingPolicy, *, timeout: float) -> RoutingAnswer:
        """Segment and region for a lead, chosen among the policy's names."""
        ...

    def choose_template(
        self, lead: Lead, catalog: TemplateCatalog, *, timeout: float
    ) -> TemplateAnswer:
        """Intent and template for a lead, chosen among the catalogue's ids."""
        ...
