"""The Salesforce DX project in salesforce/ deploys what the product needs: the Lead fields it
reads and writes (as the simulator serves them and `leadfleet doctor` expects them), a permission
set that lets the integration user use them, and change events for Lead, Task and EmailMessage."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from shared.diagnostics import (
    CDC_CHANNEL,
    CDC_OBJECTS,
    PERMISSION_SET,
    PRODUCT_FIELDS,
    FieldRequirement,
)
from shared.settings import SalesforceSettings
from simulator.schema import LEAD
from workers.route import REASON_LIMIT
from workers.template_suggest import SUGGESTION_LIMIT

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "salesforce"
SOURCE = PROJECT / "force-app" / "main" / "default"
FIELDS = SOURCE / "objects" / "Lead" / "fields"
NS = "{http://soap.sforce.com/2006/04/metadata}"
# Metadata field types as describe reports them.
DESCRIBE_TYPE = {
    "DateTime": "datetime",
    "Text": "string",
    "Number": "double",
    "Picklist": "picklist",
}
# Whole custom field names in string literals (not suffixes such as "At__c").
_FIELD_LITERAL = re.compile(r"[\"']([A-Z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+__c)[\"']")
PRODUCT_PACKAGES = ("shared", "workers", "listener", "analytics", "cli")


def parse(path: Path) -> ET.Element:
    """A metadata file's root element, checked to be in the Metadata API namespace."""
    root = ET.parse(path).getroot()
    assert root.tag.startswith(NS), path
    return root


def text(element: ET.Element, name: str) -> str:
    """The text of a direct child (empty when absent)."""
    child = element.find(NS + name)
    return (child.text or "") if child is not None else ""


def deployed_fields() -> dict[str, ET.Element]:
    """Every Lead field file by its full name."""
    return {path.name.removesuffix(".field-meta.xml"): parse(path) for path in FIELDS.iterdir()}


def permission_set() -> ET.Element:
    """The integration user's permission set."""
    return parse(SOURCE / "permissionsets" / f"{PERMISSION_SET}.permissionset-meta.xml")


def test_every_metadata_file_parses() -> None:
    """Every *-meta.xml is well-formed XML in the Metadata API namespace."""
    files = sorted(SOURCE.rglob("*-meta.xml"))
    assert len(files) == len(PRODUCT_FIELDS) + 1 + len(CDC_OBJECTS)
    for path in files:
        parse(path)


def test_project_deploys_from_force_app_at_the_configured_api_version() -> None:
    """sfdx-project.json points at force-app and uses the API version leadfleet calls."""
    project = json.loads((PROJECT / "sfdx-project.json").read_text(encoding="utf-8"))
    directories = [d["path"] for d in project["packageDirectories"]]
    assert directories == ["force-app"]
    assert (PROJECT / "force-app").is_dir()
    assert project["sourceApiVersion"] == SalesforceSettings().api_version


def test_fields_are_exactly_what_the_doctor_expects() -> None:
    """One file per field in the product's contract, named as its fullName, of an accepted type."""
    fields = deployed_fields()
    assert set(fields) == {req.name for req in PRODUCT_FIELDS}
    for req in PRODUCT_FIELDS:
        field = fields[req.name]
        assert text(field, "fullName") == req.name
        assert text(field, "label") == req.label
        assert DESCRIBE_TYPE[text(field, "type")] == req.types[0]
        if text(field, "type") == "Text":
            assert int(text(field, "length")) == req.min_length


@pytest.mark.parametrize("requirement", PRODUCT_FIELDS, ids=lambda r: r.name)
def test_field_matches_the_simulated_org(requirement: FieldRequirement) -> None:
    """The deployed field has the simulator's type, length, precision, scale and picklist."""
    name = requirement.name
    field = deployed_fields()[name]
    spec = LEAD.field(name)
    assert spec is not None and spec.custom
    assert DESCRIBE_TYPE[text(field, "type")] == spec.type
    if spec.type == "string":
        assert int(text(field, "length")) == spec.length
    if spec.type == "double":
        assert (int(text(field, "precision")), int(text(field, "scale"))) == (
            spec.precision,
            spec.scale,
        )
    if spec.type == "picklist":
        values = [text(v, "fullName") for v in field.iter(NS + "value")]
        assert tuple(values) == spec.picklist


def test_every_custom_field_the_product_names_is_deployed() -> None:
    """A field the product's code reads or writes cannot be left out of the deployment."""
    named: set[str] = set()
    for package in PRODUCT_PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            named |= set(_FIELD_LITERAL.findall(path.read_text(encoding="utf-8")))
    assert named
    assert named <= set(deployed_fields())


def test_text_fields_hold_what_the_workers_write() -> None:
    """Routing reasons and template ids are cut to lengths the fields hold."""
    fields = deployed_fields()
    assert int(text(fields["Routing_Reason__c"], "length")) >= REASON_LIMIT
    assert int(text(fields["Suggested_Template__c"], "length")) >= SUGGESTION_LIMIT


def test_permission_set_lets_the_integration_user_do_its_job() -> None:
    """Edit on every written field, read on the rest, Lead read/edit/view all, and the user
    permissions for the API, CDC on Task and EmailMessage, the Tooling query, sending and owner
    changes."""
    permissions = permission_set()
    field_access = {
        text(p, "field"): (text(p, "readable"), text(p, "editable"))
        for p in permissions.iter(NS + "fieldPermissions")
    }
    for req in PRODUCT_FIELDS:
        expected = ("true", "true") if req.written else ("true", "false")
        assert field_access.get(f"Lead.{req.name}") == expected, req.name
    assert {name.removeprefix("Lead.") for name in field_access} == set(deployed_fields())
    objects = {text(p, "object"): p for p in permissions.iter(NS + "objectPermissions")}
    lead = objects["Lead"]
    for flag in ("allowRead", "allowEdit", "viewAllRecords"):
        assert text(lead, flag) == "true", flag
    assert text(lead, "allowDelete") == "false"
    enabled = {
        text(p, "name")
        for p in permissions.iter(NS + "userPermissions")
        if text(p, "enabled") == "true"
    }
    # ViewAllData: Task and EmailMessage have no per-object View All, and CDC needs it.
    assert {"ApiEnabled", "ViewAllData", "ViewSetup", "EmailSingle", "TransferAnyLead"} <= enabled
    assert text(permissions, "label")


@pytest.mark.parametrize("sobject", CDC_OBJECTS)
def test_change_events_are_selected_on_the_standard_channel(sobject: str) -> None:
    """Lead, Task and EmailMessage each have a ChangeEvents channel member."""
    name = f"{CDC_CHANNEL}_{sobject}ChangeEvent"
    path = SOURCE / "platformEventChannelMembers" / f"{name}.platformEventChannelMember-meta.xml"
    member = parse(path)
    assert text(member, "eventChannel") == CDC_CHANNEL
    assert text(member, "selectedEntity") == f"{sobject}ChangeEvent"
