"""Raw Avro change events decode with a cached schema and normalize to REST-named JSON snapshots."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from listener.decode import DecodeError, EventDecoder, EventSchema
from listener.normalize import normalize, origin_client, rest_name

TOPIC = "/data/LeadChangeEvent"
REPLAY_ID = bytes([0, 0, 0, 0, 0, 16, 219, 77, 0, 0])
LEAD_IDS = ["00Q5e00000AbCdEAAV", "00Q5e00000AbCdFAAV", "00Q5e00000AbCdGAAV"]
USER_ID = "0055e000001AbCdAAE"
OWNER_ID = "0055e000001XyZwAAE"
COMMIT_MS = 1_714_555_800_123  # 2024-05-01T09:30:00.123Z
CREATED_MS = 1_714_555_800_000  # 2024-05-01T09:30:00.000Z


def _nullable(name: str, avro_type: Any = "string", doc: str | None = None) -> dict[str, Any]:
    field: dict[str, Any] = {"name": name, "type": ["null", avro_type], "default": None}
    if doc is not None:
        field["doc"] = doc
    return field


HEADER_SCHEMA: dict[str, Any] = {
    "name": "ChangeEventHeader",
    "type": {
        "type": "record",
        "name": "ChangeEventHeader",
        "fields": [
            {"name": "entityName", "type": "string"},
            {"name": "recordIds", "type": {"type": "array", "items": "string"}},
            {
                "name": "changeType",
                "type": {
                    "type": "enum",
                    "name": "ChangeType",
                    "symbols": [
                        "CREATE",
                        "UPDATE",
                        "DELETE",
                        "UNDELETE",
                        "GAP_CREATE",
                        "GAP_UPDATE",
                        "GAP_DELETE",
                        "GAP_UNDELETE",
                        "GAP_OVERFLOW",
                    ],
                },
            },
            {"name": "changeOrigin", "type": "string"},
            {"name": "transactionKey", "type": "string"},
            {"name": "sequenceNumber", "type": "int"},
            {"name": "commitTimestamp", "type": "long"},
            {"name": "commitNumber", "type": "long"},
            {"name": "commitUser", "type": "string"},
            {"name": "nulledFields", "type": {"type": "array", "items": "string"}},
            {"name": "diffFields", "type": {"type": "array", "items": "string"}},
            {"name": "changedFields", "type": {"type": "array", "items": "string"}},
        ],
    },
    "doc": "Data:ChangeEventHeader",
}

NAME_RECORD = {
    "type": "record",
    "name": "Name",
    "fields": [
        _nullable("Salutation"),
        _nullable("FirstName"),
        _nullable("LastName"),
    ],
}
ADDRESS_RECORD = {
    "type": "record",
    "name": "Address",
    "fields": [
        _nullable("Street"),
        _nullable("City"),
        _nullable("State"),
        _nullable("PostalCode"),
        _nullable("Country"),
        _nullable("Latitude", "double"),
        _nullable("Longitude", "double"),
        _nullable("GeocodeAccuracy"),
    ],
}

# Positions matter: bitmaps address fields by their index in this list.
LEAD_FIELDS: list[dict[str, Any]] = [
    HEADER_SCHEMA,  # 0
    _nullable("Name", NAME_RECORD, doc="Name:PersonName"),  # 1
    _nullable("Company", doc="Company:Text"),  # 2
    _nullable("Title", doc="Title:Text"),  # 3
    _nullable("Email", doc="Email:Email"),  # 4
    _nullable("Address", ADDRESS_RECORD, doc="Address:Address"),  # 5
    _nullable("NumberOfEmployees", "int", doc="NumberOfEmployees:Int"),  # 6
    _nullable("Industry", doc="Industry:Picklist"),  # 7
    _nullable("LeadSource", doc="LeadSource:Picklist"),  # 8
    _nullable("Status", doc="Status:Picklist"),  # 9
    _nullable("OwnerId", doc="Owner:EntityId"),  # 10
    _nullable("HasOptedOutOfEmail", "boolean", doc="HasOptedOutOfEmail:Boolean"),  # 11
    _nullable("EmailBouncedDate", "long"),  # 12
    _nullable("Product_Interest__c"),  # 13
    _nullable("First_Response_At__c", "long"),  # 14
    _nullable("ConvertedDate", "int", doc="ConvertedDate:Date"),  # 15
    _nullable("CreatedDate", "long", doc="CreatedDate:DateTime"),  # 16
    _nullable("CreatedById", doc="CreatedBy:EntityId"),  # 17
    _nullable("LastModifiedDate", "long", doc="LastModifiedDate:DateTime"),  # 18
    _nullable("LastModifiedById", doc="LastModifiedBy:EntityId"),  # 19
]
LEAD_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "LeadChangeEvent",
    "namespace": "com.sforce.eventbus",
    "fields": LEAD_FIELDS,
}
LEAD_SCHEMA_ID = "2fr-Hbmw3Qw3s3m0wCd2Ug"
_POSITIONS = {field["name"]: i for i, field in enumerate(LEAD_FIELDS)}
_CHILDREN = {
    "Name": [f["name"] for f in NAME_RECORD["fields"]],
    "Address": [f["name"] for f in ADDRESS_RECORD["fields"]],
}


def bitmap(*names: str) -> list[str]:
    """Encode field names as Salesforce does: upper-case even-length hex, p-0x.. for children."""
    top = 0
    nested: dict[int, int] = {}
    for name in names:
        parent, dot, child = name.partition(".")
        if dot:
            position = _POSITIONS[parent]
            nested[position] = nested.get(position, 0) | 1 << _CHILDREN[parent].index(child)
        else:
            top |= 1 << _POSITIONS[name]
    entries = [_hex(top)] if top or not nested else []
    entries += [f"{p}-{_hex(bits)}" for p, bits in sorted(nested.items())]
    return entries


def _hex(number: int) -> str:
    digits = format(number, "X")
    return "0x" + ("0" + digits if len(digits) % 2 else digits)


def _header(change_type: str, record_ids: list[str], **overrides: Any) -> dict[str, Any]:
    header = {
        "entityName": "Lead",
        "recordIds": record_ids,
        "changeType": change_type,
        "changeOrigin": "com/salesforce/api/rest/62.0;client=traffic-generator",
        "transactionKey": "0001c5d1-8b5c-4b6d-a3c1-9d2a3c1b2a10",
        "sequenceNumber": 1,
        "commitTimestamp": COMMIT_MS,
        "commitNumber": 11_794_849_201_301,
        "commitUser": USER_ID,
        "nulledFields": [],
        "diffFields": [],
        "changedFields": [],
    }
    header.update(overrides)
    return header


def _empty_body() -> dict[str, Any]:
    return {field["name"]: None for field in LEAD_FIELDS[1:]}


def _lead_create_body() -> dict[str, Any]:
    body = _empty_body()
    body.update(
        Name={"Salutation": "Ms.", "FirstName": "Ada", "LastName": "Lovelace"},
        Company="Analytical Engines Ltd",
        Email="ada@engines.example",
        Address={
            "Street": "12 St James's Square",
            "City": "London",
            "State": None,
            "PostalCode": "SW1Y 4JH",
            "Country": "United Kingdom",
            "Latitude": 51.5074,
            "Longitude": -0.1346,
            "GeocodeAccuracy": None,
        },
        NumberOfEmployees=250,
        Industry="Technology",
        LeadSource="Web",
        Status="Open - Not Contacted",
        OwnerId=OWNER_ID,
        HasOptedOutOfEmail=False,
        CreatedDate=CREATED_MS,
        CreatedById=USER_ID,
        LastModifiedDate=CREATED_MS,
        LastModifiedById=USER_ID,
    )
    return body


def encode(
    header: dict[str, Any], body: dict[str, Any], schema: dict[str, Any] = LEAD_SCHEMA
) -> bytes:
    """A raw Avro datum as Pub/Sub carries it: no container, no schema id prefix."""
    out = io.BytesIO()
    fastavro.schemaless_writer(
        out, fastavro.parse_schema(schema), {"ChangeEventHeader": header, **body}
    )
    return out.getvalue()


class FakeSchemaSource:
    """Serves schemas by id like GetSchema and counts the calls."""

    def __init__(self, schemas: dict[str, dict[str, Any]]) -> None:
        self.schemas = {schema_id: json.dumps(schema) for schema_id, schema in schemas.items()}
        self.requests: list[str] = []

    def get_schema(self, schema_id: str) -> str:
        self.requests.append(schema_id)
        return self.schemas[schema_id]


@pytest.fixture
def source() -> FakeSchemaSource:
    return FakeSchemaSource({LEAD_SCHEMA_ID: LEAD_SCHEMA})


def _decode_and_normalize(source: FakeSchemaSource, payload: bytes) -> list[Any]:
    decoded = EventDecoder(source).decode(LEAD_SCHEMA_ID, payload)
    return normalize(decoded.payload, decoded.schema, topic=TOPIC, replay_id=REPLAY_ID)


def test_lead_create_carries_every_field_in_rest_names(source: FakeSchemaSource) -> None:
    """A CREATE gives the whole lead: flat Name and Address, ISO times, empty fields as null."""
    changed = bitmap(*(f["name"] for f in LEAD_FIELDS[1:] if f["name"] not in ("Title",)))
    payload = encode(_header("CREATE", LEAD_IDS[:1], changedFields=changed), _lead_create_body())

    [change] = _decode_and_normalize(source, payload)

    assert change.record_id == LEAD_IDS[0]
    assert change.event_id == f"{TOPIC}:000000000010db4d0000:0"
    assert change.entity == "Lead"
    assert change.change_type == "CREATE"
    assert change.commit_timestamp == datetime(2024, 5, 1, 9, 30, 0, 123_000, tzinfo=UTC)
    assert change.origin_client == "traffic-generator"
    assert change.fields == {
        "Salutation": "Ms.",
        "FirstName": "Ada",
        "LastName": "Lovelace",
        "Company": "Analytical Engines Ltd",
        "Title": None,
        "Email": "ada@engines.example",
        "Street": "12 St James's Square",
        "City": "London",
        "State": None,
        "PostalCode": "SW1Y 4JH",
        "Country": "United Kingdom",
        "Latitude": 51.5074,
        "Longitude": -0.1346,
        "GeocodeAccuracy": None,
        "NumberOfEmployees": 250,
        "Industry": "Technology",
        "LeadSource": "Web",
        "Status": "Open - Not Contacted",
        "OwnerId": OWNER_ID,
        "HasOptedOutOfEmail": False,
        "EmailBouncedDate": None,
        "Product_Interest__c": None,
        "First_Response_At__c": None,
        "ConvertedDate": None,
        "CreatedDate": "2024-05-01T09:30:00.000Z",
        "CreatedById": USER_ID,
        "LastModifiedDate": "2024-05-01T09:30:00.000Z",
        "LastModifiedById": USER_ID,
    }
    assert json.loads(json.dumps(change.fields)) == change.fields


def test_lead_update_carries_only_what_changed(source: FakeSchemaSource) -> None:
    """An UPDATE keeps changed and nulled fields, drops unchanged ones, and names them in REST."""
    body = _empty_body()
    body.update(
        OwnerId=OWNER_ID,
        Address={"City": "Manchester"},
        First_Response_At__c=CREATED_MS + 42 * 60_000,
        LastModifiedDate=CREATED_MS + 3_600_000,
    )
    body["Address"] = {child: None for child in _CHILDREN["Address"]} | {"City": "Manchester"}
    header = _header(
        "UPDATE",
        LEAD_IDS[:1],
        changedFields=bitmap(
            "Title",
            "Address",
            "Address.City",
            "OwnerId",
            "First_Response_At__c",
            "LastModifiedDate",
        ),
        nulledFields=bitmap("Title"),
    )

    [change] = _decode_and_normalize(source, encode(header, body))

    assert change.fields == {
        "Title": None,
        "City": "Manchester",
        "OwnerId": OWNER_ID,
        "First_Response_At__c": "2024-05-01T10:12:00.000Z",
        "LastModifiedDate": "2024-05-01T10:30:00.000Z",
    }
    assert change.changed_fields == (
        "Title",
        "Address",
        "OwnerId",
        "First_Response_At__c",
        "LastModifiedDate",
        "City",
    )
    assert change.nulled_fields == ("Title",)


def test_compound_marked_changed_without_children_keeps_all_of_them(
    source: FakeSchemaSource,
) -> None:
    """Name flagged changed with no child entry: every Name part is in the snapshot."""
    body = _empty_body() | {"Name": {"Salutation": None, "FirstName": "Ada", "LastName": "King"}}
    header = _header("UPDATE", LEAD_IDS[:1], changedFields=bitmap("Name"))

    [change] = _decode_and_normalize(source, encode(header, body))

    assert change.fields == {"Salutation": None, "FirstName": "Ada", "LastName": "King"}


def test_merged_event_fans_out_one_change_per_record(source: FakeSchemaSource) -> None:
    """One event for three records gives three changes with their own stable event ids."""
    header = _header("UPDATE", LEAD_IDS, changedFields=bitmap("Status"))
    body = _empty_body() | {"Status": "Working - Contacted"}

    changes = _decode_and_normalize(source, encode(header, body))

    assert [c.record_id for c in changes] == LEAD_IDS
    assert [c.event_id for c in changes] == [f"{TOPIC}:000000000010db4d0000:{i}" for i in range(3)]
    assert all(c.fields == {"Status": "Working - Contacted"} for c in changes)
    assert all(c.record_ids == tuple(LEAD_IDS) for c in changes)


def test_gap_overflow_without_record_ids_gives_one_change(source: FakeSchemaSource) -> None:
    """GAP_OVERFLOW names no records, yet still yields a change so the entity gets reconciled."""
    [change] = _decode_and_normalize(source, encode(_header("GAP_OVERFLOW", []), _empty_body()))

    assert change.record_id is None
    assert change.change_type == "GAP_OVERFLOW"
    assert change.fields == {}


def test_schema_is_fetched_once_per_schema_id(source: FakeSchemaSource) -> None:
    """Many events of one schema ask the schema source once; a second id asks once more."""
    other_id = "nTowGbw-ipH4sznrGpeohg"
    source.schemas[other_id] = source.schemas[LEAD_SCHEMA_ID]
    decoder = EventDecoder(source)
    payload = encode(_header("CREATE", LEAD_IDS[:1]), _lead_create_body())

    for _ in range(5):
        decoder.decode(LEAD_SCHEMA_ID, payload)
    decoder.decode(other_id, payload)
    decoder.decode(other_id, payload)

    assert source.requests == [LEAD_SCHEMA_ID, other_id]


def _schema_without_header() -> dict[str, Any]:
    return {**LEAD_SCHEMA, "fields": LEAD_FIELDS[1:]}


@pytest.mark.parametrize(
    ("schema_id", "payload", "schemas", "reason"),
    [
        ("unknown-id", b"\x00", {}, "unknown schema id"),
        (LEAD_SCHEMA_ID, b"\x0aLead", {LEAD_SCHEMA_ID: LEAD_SCHEMA}, "does not decode"),
        (LEAD_SCHEMA_ID, b"", {LEAD_SCHEMA_ID: LEAD_SCHEMA}, "does not decode"),
        (
            LEAD_SCHEMA_ID,
            encode(_header("CREATE", LEAD_IDS[:1]), _lead_create_body()) + b"\x00\x01",
            {LEAD_SCHEMA_ID: LEAD_SCHEMA},
            "left over",
        ),
        ("no-header", b"\x00", {"no-header": _schema_without_header()}, "ChangeEventHeader"),
        ("not-a-record", b"\x00", {"not-a-record": {"type": "string"}}, "not a valid Avro schema"),
        (
            "bad-type",
            b"\x00",
            {"bad-type": {**LEAD_SCHEMA, "fields": [{"name": "x", "type": "nope"}]}},
            "not a valid",
        ),
    ],
    ids=[
        "unknown-schema-id",
        "truncated-avro",
        "empty-payload",
        "trailing-bytes",
        "schema-without-header",
        "schema-not-a-record",
        "schema-with-unknown-type",
    ],
)
def test_undecodable_payload_raises_decode_error_with_reason(
    schema_id: str, payload: bytes, schemas: dict[str, dict[str, Any]], reason: str
) -> None:
    """Every way a payload can be unreadable surfaces as DecodeError, ready for the dead letters."""
    with pytest.raises(DecodeError) as excinfo:
        EventDecoder(FakeSchemaSource(schemas)).decode(schema_id, payload)
    assert reason in excinfo.value.reason


def test_schema_source_outage_is_not_a_decode_error() -> None:
    """A failure to reach GetSchema propagates, so the event is retried, not dead-lettered."""

    class DownSource:
        def get_schema(self, schema_id: str) -> str:
            raise ConnectionError("GetSchema unavailable")

    with pytest.raises(ConnectionError):
        EventDecoder(DownSource()).decode(LEAD_SCHEMA_ID, b"\x00")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_the_decoder(payload: bytes) -> None:
    """Garbage either decodes or raises DecodeError; the listener never dies on a payload."""
    decoder = EventDecoder(FakeSchemaSource({LEAD_SCHEMA_ID: LEAD_SCHEMA}))
    try:
        decoded = decoder.decode(LEAD_SCHEMA_ID, payload)
        normalize(decoded.payload, decoded.schema, topic=TOPIC, replay_id=REPLAY_ID)
    except DecodeError:
        pass


@pytest.mark.parametrize(
    ("header_change", "reason"),
    [
        ({"changedFields": ["0x800000"]}, "bitmap does not match"),
        ({"changedFields": ["3-0x01"]}, "bitmap does not match"),
        ({"recordIds": []}, "names no record ids"),
        ({"commitTimestamp": 10**17}, "impossible date"),
    ],
    ids=[
        "bit-beyond-schema",
        "child-entry-on-plain-field",
        "create-without-ids",
        "absurd-commit-time",
    ],
)
def test_event_that_contradicts_its_schema_raises_decode_error(
    source: FakeSchemaSource, header_change: dict[str, Any], reason: str
) -> None:
    """A decodable event whose header makes no sense is a DecodeError too."""
    payload = encode(_header("CREATE", LEAD_IDS[:1], **header_change), _lead_create_body())
    with pytest.raises(DecodeError, match=reason):
        _decode_and_normalize(source, payload)


def test_missing_header_key_raises_decode_error() -> None:
    """A header without commitTimestamp cannot be normalized."""
    schema = EventSchema.from_json(LEAD_SCHEMA_ID, json.dumps(LEAD_SCHEMA))
    header = _header("CREATE", LEAD_IDS[:1])
    del header["commitTimestamp"]
    with pytest.raises(DecodeError, match="commitTimestamp"):
        normalize({"ChangeEventHeader": header}, schema, topic=TOPIC, replay_id=REPLAY_ID)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        (
            _nullable("Closed_On__c", "long", doc="Closed_On__c:DateTime"),
            CREATED_MS,
            "2024-05-01T09:30:00.000Z",
        ),
        (_nullable("Renewal__c", "int", doc="Renewal__c:Date"), 19_844, "2024-05-01"),
        (_nullable("Renewal__c", "long", doc="Renewal__c:Date"), CREATED_MS, "2024-05-01"),
        (_nullable("Review_Date__c", "long", doc="Review_Date__c:Double"), 17, 17),
        (_nullable("MessageDate", "long"), CREATED_MS, "2024-05-01T09:30:00.000Z"),
        (_nullable("CompletedDateTime", "long"), CREATED_MS, "2024-05-01T09:30:00.000Z"),
        (_nullable("Owner_Assigned_At__c", "long"), CREATED_MS, "2024-05-01T09:30:00.000Z"),
        (_nullable("SystemModstamp", "long"), CREATED_MS, "2024-05-01T09:30:00.000Z"),
        (_nullable("ActivityDate", "int"), 19_844, "2024-05-01"),
        (_nullable("NumberOfEmployees", "int"), 19_844, 19_844),
        (_nullable("Score__c", "long"), CREATED_MS, CREATED_MS),
        (
            _nullable("Seen", {"type": "long", "logicalType": "timestamp-millis"}),
            CREATED_MS,
            "2024-05-01T09:30:00.000Z",
        ),
        (_nullable("Due", {"type": "int", "logicalType": "date"}), 19_844, "2024-05-01"),
    ],
    ids=[
        "doc-datetime",
        "doc-date-int-days",
        "doc-date-long-ms",
        "doc-other-type-wins-over-name",
        "name-ends-date",
        "name-ends-datetime",
        "name-ends-at__c",
        "name-ends-stamp",
        "name-ends-date-int-days",
        "int-without-date-name",
        "long-without-date-name",
        "logical-timestamp",
        "logical-date",
    ],
)
def test_date_and_time_values_become_iso_strings(
    field: dict[str, Any], value: int, expected: object
) -> None:
    """Epoch numbers become ISO dates or UTC date-times by the documented rule, others stay."""
    schema_json = {**LEAD_SCHEMA, "fields": [HEADER_SCHEMA, field]}
    source = FakeSchemaSource({"s": schema_json})
    header = _header("CREATE", LEAD_IDS[:1])
    out = io.BytesIO()
    fastavro.schemaless_writer(
        out, fastavro.parse_schema(schema_json), {"ChangeEventHeader": header, field["name"]: value}
    )
    decoded = EventDecoder(source).decode("s", out.getvalue())

    [change] = normalize(decoded.payload, decoded.schema, topic=TOPIC, replay_id=REPLAY_ID)

    assert change.fields[field["name"]] == expected


@pytest.mark.parametrize(
    ("parent", "child", "expected"),
    [
        ("Name", "FirstName", "FirstName"),
        ("Address", "City", "City"),
        ("BillingAddress", "City", "BillingCity"),
        ("MailingAddress", "GeocodeAccuracy", "MailingGeocodeAccuracy"),
        ("Location__c", "Latitude", "Location__Latitude__s"),
    ],
    ids=["name", "lead-address", "billing-address", "mailing-geocode", "geolocation"],
)
def test_compound_children_get_their_rest_names(parent: str, child: str, expected: str) -> None:
    """Compound parts are named as the REST API names them."""
    assert rest_name(parent, child) == expected


@pytest.mark.parametrize(
    ("change_origin", "expected"),
    [
        ("com/salesforce/api/rest/62.0;client=leadfleet", "leadfleet"),
        ("com/salesforce/api/rest/62.0;client=LeadFleet", "LeadFleet"),
        ("com/salesforce/api/rest/62.0;client=leadfleet, defaultNamespace=acme", "leadfleet"),
        ("com/salesforce/api/soap/62.0", None),
        ("", None),
    ],
    ids=["rest-client", "case-kept", "with-other-options", "no-client", "empty"],
)
def test_origin_client_is_read_from_change_origin(change_origin: str, expected: str | None) -> None:
    """The Sforce-Call-Options client shows up in changeOrigin; it is what marks our echoes."""
    assert origin_client(change_origin) == expected
