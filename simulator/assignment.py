"""The org's active Lead assignment rule: ordered criteria entries, then a default owner."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RuleEntry:
    """Leads whose field equals the value (case-insensitively) go to the owner."""

    field: str
    value: str
    owner_id: str


@dataclass(frozen=True)
class AssignmentRule:
    """What Salesforce runs on a Lead write unless the caller sends Sforce-Auto-Assign: FALSE."""

    enabled: bool = True
    default_owner_id: str | None = None
    entries: tuple[RuleEntry, ...] = field(default_factory=tuple)
    on_update: bool = True

    def owner_for(self, lead: dict[str, Any]) -> str | None:
        """The owner the rule gives a lead, or None when the rule leaves the owner alone."""
        if not self.enabled:
            return None
        for entry in self.entries:
            value = lead.get(entry.field)
            if value is not None and str(value).lower() == entry.value.lower():
                return entry.owner_id
        return self.default_owner_id

    def to_json(self) -> dict[str, Any]:
        """The rule as the admin API shows it."""
        return {
            "enabled": self.enabled,
            "default_owner_id": self.default_owner_id,
            "on_update": self.on_update,
            "entries": [
                {"field": e.field, "value": e.value, "owner_id": e.owner_id} for e in self.entries
            ],
        }
