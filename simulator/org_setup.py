"""How a simulated org's setup can fall short: custom fields not deployed, objects not selected
for Change Data Capture.

A fully set-up org is the default. `leadfleet doctor` is tested against orgs started with
`--missing-field Lead.Routing_Reason__c` or `--cdc-off Task`: a missing field is absent from
describe and refused (INVALID_FIELD) by single-record reads and writes, as an undeployed field
is; an object with CDC off has no PlatformEventChannelMember on the ChangeEvents channel.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from simulator.apierrors import invalid_field
from simulator.cdc_schema import CDC_ENTITIES
from simulator.schema import FieldSpec, SObjectSpec, sobject

STANDARD_CHANNEL = "ChangeEvents"


@dataclass(frozen=True)
class OrgSetup:
    """The custom fields left out of the org and the objects whose change events are off."""

    missing_fields: frozenset[tuple[str, str]] = frozenset()
    cdc_disabled: frozenset[str] = frozenset()

    @classmethod
    def parse(
        cls, missing_fields: Iterable[str] = (), cdc_disabled: Iterable[str] = ()
    ) -> OrgSetup:
        """From `Object.Field__c` names and object names; ValueError names an unknown one."""
        missing: set[tuple[str, str]] = set()
        for qualified in missing_fields:
            object_name, _, field_name = qualified.partition(".")
            spec = sobject(object_name)
            field = spec.field(field_name) if spec is not None else None
            if spec is None or field is None or not field.custom:
                raise ValueError(f"{qualified!r} is not a custom field of the simulated org")
            missing.add((spec.name, field.name))
        disabled: set[str] = set()
        for name in cdc_disabled:
            entity = next((e for e in CDC_ENTITIES if e.lower() == name.lower()), None)
            if entity is None:
                raise ValueError(f"{name!r} is not an object with change events ({CDC_ENTITIES})")
            disabled.add(entity)
        return cls(frozenset(missing), frozenset(disabled))

    def has_field(self, spec: SObjectSpec, field: FieldSpec) -> bool:
        """Whether the field is deployed in this org."""
        return (spec.name, field.name) not in self.missing_fields

    def fields(self, spec: SObjectSpec) -> tuple[FieldSpec, ...]:
        """The object's deployed fields, in describe order."""
        return tuple(f for f in spec.fields if self.has_field(spec, f))

    def check_names(self, spec: SObjectSpec, names: Iterable[str]) -> None:
        """INVALID_FIELD for the first name that is a field this org lacks."""
        for name in names:
            field = spec.field(name)
            if field is not None and not self.has_field(spec, field):
                raise invalid_field(spec.name, name)

    def check_body(self, spec: SObjectSpec, body: Any) -> None:
        """INVALID_FIELD when a record body sets a field this org lacks."""
        if isinstance(body, Mapping):
            self.check_names(spec, (str(key) for key in body))

    def cdc_selected(self) -> tuple[str, ...]:
        """The objects selected for Change Data Capture on the standard channel."""
        return tuple(e for e in CDC_ENTITIES if e not in self.cdc_disabled)
