"""Record writes with Salesforce's validation: field access, types, lengths, references, owners.

The server sets system fields and derived fields, runs the Lead assignment rule unless the caller
opted out, and notes every change on the transaction for the change log.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from email.utils import format_datetime as http_date
from typing import Any

from simulator.apierrors import ApiError, invalid_field, malformed_id, not_found
from simulator.assignment import AssignmentRule
from simulator.changelog import PendingChange
from simulator.fieldvalues import parse_datetime, to_json, to_storage
from simulator.ids import KEY_PREFIXES, IdAllocator, to_18
from simulator.schema import CATALOGUE, FieldSpec, SObjectSpec
from simulator.store import Store
from simulator.transaction import Transaction

CLOSED_TASK_STATUSES = frozenset({"Completed"})


def validate_record_id(spec: SObjectSpec, raw: str) -> str:
    """The 18-character id of a record of this sobject, or MALFORMED_ID."""
    record_id = to_18(raw)
    if record_id is None or record_id[:3] != spec.key_prefix:
        raise malformed_id(raw)
    return record_id


def _not_writable(names: list[str]) -> ApiError:
    return ApiError(
        400,
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        f"Unable to create/update fields: {', '.join(names)}. Please check the security settings "
        "of this field and verify that it is read/write for your profile or permission set.",
        names,
    )


def _required_missing(names: list[str]) -> ApiError:
    return ApiError(
        400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(names)}]", names
    )


class RecordWriter:
    """Creates, updates and deletes records inside a transaction."""

    def __init__(
        self, store: Store, ids: IdAllocator, assignment_rule: Callable[[], AssignmentRule]
    ) -> None:
        self._store = store
        self._ids = ids
        self._rule = assignment_rule

    def _fields(
        self, spec: SObjectSpec, body: Any, *, creating: bool, record_id: str | None = None
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        resolved: dict[str, Any] = {}
        locked: list[str] = []
        for key, raw in body.items():
            if key == "attributes":
                continue
            field = spec.field(key)
            if field is None:
                raise invalid_field(spec.name, key)
            if field.name == "Id" and not creating and record_id and to_18(str(raw)) == record_id:
                continue
            if not (field.createable if creating else field.updateable):
                locked.append(field.name)
                continue
            resolved[field.name] = raw
        if locked:
            raise _not_writable(locked)
        stored = {
            name: to_storage(spec.by_lower[name.lower()], raw) for name, raw in resolved.items()
        }
        for name, value in stored.items():
            field = spec.by_lower[name.lower()]
            if field.type == "reference" and value is not None:
                stored[name] = self._check_reference(spec, field, value)
        return stored

    def _check_reference(self, spec: SObjectSpec, field: FieldSpec, raw: str) -> str:
        label = field.label or field.name
        value = to_18(raw)
        targets = [CATALOGUE.get(t) for t in field.reference_to]
        prefixes = {t.key_prefix for t in targets if t} | _foreign_prefixes(field)
        if value is None or value[:3] not in prefixes:
            raise malformed_id(raw, label)
        target = next((t for t in targets if t and t.key_prefix == value[:3]), None)
        if target is None:
            return value
        row = self._store.fetch(target.name, value)
        if row is None or row["IsDeleted"]:
            raise ApiError(
                400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [field.name]
            )
        if field.name == "OwnerId":
            if target.name == "User" and not row["IsActive"]:
                raise ApiError(
                    400,
                    "INACTIVE_OWNER_OR_USER",
                    f"operation performed with inactive user [{value}] as owner of "
                    f"{spec.name.lower()}",
                    [],
                )
            if target.name == "Group" and row["Type"] != "Queue":
                raise ApiError(
                    400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [field.name]
                )
        return value

    def _derive(self, spec: SObjectSpec, row: dict[str, Any], txn: Transaction) -> None:
        if spec.field("Name") and spec.by_lower["name"].derived:
            row["Name"] = " ".join(p for p in (row.get("FirstName"), row.get("LastName")) if p)
        if spec.name == "Task":
            closed = row.get("Status") in CLOSED_TASK_STATUSES
            if closed and not row.get("IsClosed"):
                row["CompletedDateTime"] = txn.timestamp
            if not closed:
                row["CompletedDateTime"] = None
            row["IsClosed"] = int(closed)

    def _assign(
        self, spec: SObjectSpec, row: dict[str, Any], auto_assign: bool, creating: bool
    ) -> None:
        if spec.name != "Lead" or not auto_assign:
            return
        rule = self._rule()
        if not creating and not rule.on_update:
            return
        owner = rule.owner_for(row)
        if owner:
            row["OwnerId"] = owner

    def create(
        self, txn: Transaction, spec: SObjectSpec, body: Any, *, auto_assign: bool = True
    ) -> str:
        """Insert a record and return its id."""
        row = self._fields(spec, body, creating=True)
        for field in spec.fields:
            if field.name not in row and field.default is not None:
                row[field.name] = to_storage(field, field.default)
        if spec.field("OwnerId") and row.get("OwnerId") is None:
            row["OwnerId"] = txn.user_id
        missing = [f.name for f in spec.fields if f.required and row.get(f.name) is None]
        if missing:
            raise _required_missing(missing)
        self._assign(spec, row, auto_assign, creating=True)
        self._derive(spec, row, txn)
        record_id = self._ids.new_id(spec.key_prefix)
        row.update(
            Id=record_id,
            CreatedDate=txn.timestamp,
            CreatedById=txn.user_id,
            LastModifiedDate=txn.timestamp,
            LastModifiedById=txn.user_id,
            SystemModstamp=txn.timestamp,
            IsDeleted=0,
        )
        self._store.insert(spec.name, row)
        values = {f.name: to_json(f, row.get(f.name)) for f in spec.fields if f.in_change_events}
        txn.record(PendingChange(spec.name, record_id, "CREATE", values=values))
        return record_id

    def _live(self, spec: SObjectSpec, record_id: str) -> dict[str, Any]:
        row = self._store.fetch(spec.name, record_id)
        if row is None:
            raise not_found()
        if row["IsDeleted"]:
            raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        return row

    def update(
        self,
        txn: Transaction,
        spec: SObjectSpec,
        record_id: str,
        body: Any,
        *,
        auto_assign: bool = True,
        unmodified_since: datetime | None = None,
    ) -> None:
        """Change some fields of a live record."""
        current = self._live(spec, record_id)
        if unmodified_since is not None:
            modified = parse_datetime(current["LastModifiedDate"]).replace(microsecond=0)
            if modified > unmodified_since:
                raise ApiError(
                    412,
                    "PRECONDITION_FAILED",
                    "The requested resource has been modified since "
                    f"{http_date(unmodified_since, usegmt=True)}",
                )
        changes = self._fields(spec, body, creating=False, record_id=record_id)
        missing = [
            name
            for name, value in changes.items()
            if value is None and not spec.by_lower[name.lower()].nillable
        ]
        if missing:
            raise _required_missing(missing)
        row = {**current, **changes}
        self._assign(spec, row, auto_assign, creating=False)
        self._derive(spec, row, txn)
        changed = [
            f.name
            for f in spec.fields
            if f.in_change_events and row.get(f.name) != current.get(f.name)
        ]
        row.update(
            LastModifiedDate=txn.timestamp,
            LastModifiedById=txn.user_id,
            SystemModstamp=txn.timestamp,
        )
        new_values = {k: v for k, v in row.items() if row.get(k) != current.get(k)}
        self._store.update(spec.name, record_id, new_values)
        changed.append("LastModifiedDate")
        if current["LastModifiedById"] != txn.user_id:
            changed.append("LastModifiedById")
        values = {name: to_json(spec.by_lower[name.lower()], row[name]) for name in changed}
        nulled = [name for name in changed if row[name] is None]
        txn.record(
            PendingChange(
                spec.name,
                record_id,
                "UPDATE",
                values=values,
                changed_fields=changed,
                nulled_fields=nulled,
            )
        )

    def delete(self, txn: Transaction, spec: SObjectSpec, record_id: str) -> None:
        """Move a live record to the recycle bin (IsDeleted = true)."""
        self._live(spec, record_id)
        self._store.update(
            spec.name,
            record_id,
            {
                "IsDeleted": 1,
                "LastModifiedDate": txn.timestamp,
                "LastModifiedById": txn.user_id,
                "SystemModstamp": txn.timestamp,
            },
        )
        txn.record(PendingChange(spec.name, record_id, "DELETE"))


def _foreign_prefixes(field: FieldSpec) -> set[str]:
    """Key prefixes of reference targets the simulator does not store (e.g. Case)."""
    return {KEY_PREFIXES[t] for t in field.reference_to if t not in CATALOGUE and t in KEY_PREFIXES}
