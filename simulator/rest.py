"""sObject resources: versions, describe, record CRUD, query, queryAll and limits."""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import Any

from simulator.apierrors import ApiError, invalid_field, not_found
from simulator.dml import validate_record_id
from simulator.fieldvalues import to_json
from simulator.query import batch_size, next_batch, run_query
from simulator.routing import RELEASE_LABELS, SUPPORTED_VERSIONS, ApiCall, ApiResponse, Router
from simulator.schema import CATALOGUE, FieldSpec, SObjectSpec, sobject

_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}


def versions_document() -> list[dict[str, str]]:
    """GET /services/data/: every API version the simulator answers."""
    return [
        {"label": RELEASE_LABELS[v], "url": f"/services/data/v{v}", "version": v}
        for v in SUPPORTED_VERSIONS
    ]


def _spec(name: str) -> SObjectSpec:
    spec = sobject(name)
    if spec is None:
        raise not_found()
    return spec


def _urls(spec: SObjectSpec, version: str) -> dict[str, str]:
    base = f"/services/data/v{version}/sobjects/{spec.name}"
    return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}


def _object_summary(spec: SObjectSpec, version: str) -> dict[str, Any]:
    return {
        "name": spec.name,
        "label": spec.label,
        "labelPlural": spec.label_plural,
        "keyPrefix": spec.key_prefix,
        "custom": False,
        "createable": True,
        "updateable": True,
        "deletable": True,
        "queryable": True,
        "retrieveable": True,
        "searchable": True,
        "layoutable": True,
        "urls": _urls(spec, version),
    }


def _describe_field(field: FieldSpec) -> dict[str, Any]:
    return {
        "name": field.name,
        "label": field.label or field.name.removesuffix("__c").replace("_", " "),
        "type": field.type,
        "soapType": _SOAP_TYPES.get(field.type, "xsd:string"),
        "length": field.length,
        "byteLength": field.length * 3,
        "precision": field.precision,
        "scale": field.scale,
        "digits": 9 if field.type == "int" else 0,
        "nillable": field.nillable,
        "createable": field.createable,
        "updateable": field.updateable,
        "custom": field.custom,
        "calculated": field.derived,
        "defaultedOnCreate": field.default is not None or field.name in ("OwnerId", "Id"),
        "defaultValue": field.default if isinstance(field.default, (str, bool)) else None,
        "picklistValues": [
            {"active": True, "defaultValue": v == field.default, "label": v, "value": v}
            for v in field.picklist
        ],
        "restrictedPicklist": False,
        "referenceTo": list(field.reference_to),
        "relationshipName": field.name.removesuffix("Id") if field.type == "reference" else None,
        "compoundFieldName": field.compound,
        "filterable": True,
        "sortable": field.type != "textarea",
        "unique": False,
        "externalId": False,
        "idLookup": field.name == "Id",
    }


def _resources(call: ApiCall, _: dict[str, str]) -> ApiResponse:
    base = f"/services/data/v{call.version}"
    names = ("sobjects", "query", "queryAll", "composite", "limits", "actions")
    return ApiResponse(200, {name: f"{base}/{name}" for name in names})


def _global_describe(call: ApiCall, _: dict[str, str]) -> ApiResponse:
    return ApiResponse(
        200,
        {
            "encoding": "UTF-8",
            "maxBatchSize": 200,
            "sobjects": [_object_summary(spec, call.version) for spec in CATALOGUE.values()],
        },
    )


def _sobject_info(call: ApiCall, params: dict[str, str]) -> ApiResponse:
    spec = _spec(params["sobject"])
    return ApiResponse(
        200, {"objectDescribe": _object_summary(spec, call.version), "recentItems": []}
    )


def _describe(call: ApiCall, params: dict[str, str]) -> ApiResponse:
    spec = _spec(params["sobject"])
    return ApiResponse(
        200,
        {
            **_object_summary(spec, call.version),
            "fields": [_describe_field(f) for f in call.org.options.setup.fields(spec)],
            "childRelationships": [],
            "recordTypeInfos": [],
        },
    )


def record_json(spec: SObjectSpec, row: dict[str, Any], version: str,
                fields: list[FieldSpec] | None = None) -> dict[str, Any]:  # fmt: skip
    """A stored row as the REST API returns a record."""
    record: dict[str, Any] = {
        "attributes": {
            "type": spec.name,
            "url": f"/services/data/v{version}/sobjects/{spec.name}/{row['Id']}",
        }
    }
    for field in fields or spec.fields:
        record[field.name] = to_json(field, row.get(field.name))
    return record


def _create(call: ApiCall, params: dict[str, str]) -> ApiResponse:
    spec = _spec(params["sobject"])
    call.org.options.setup.check_body(spec, call.body)
    record_id = call.org.writer.create(call.txn, spec, call.body, auto_assign=call.auto_assign)
    return ApiResponse(201, {"id": record_id, "success": True, "errors": []})


def _get_record(call: ApiCall, params: dict[str, str]) -> ApiResponse:
    spec = _spec(params["sobject"])
    record_id = validate_record_id(spec, params["id"])
    row = call.org.store.fetch(spec.name, record_id)
    if row is None or row["IsDeleted"]:
        raise not_found()
    setup = call.org.options.setup
    fields = list(setup.fields(spec))
    if call.query.get("fields"):
        fields = []
        for name in call.query["fields"].split(","):
            field = spec.field(name.strip())
            if field is None or not setup.has_field(spec, field):
                raise invalid_field(spec.name, name.strip())
            fields.append(field)
    return ApiResponse(200, record_json(spec, row, call.version, fields))


def _unmodified_since(call: ApiCall) -> Any:
    raw = call.header("if-unmodified-since")
    if not raw:
        return None
    try:
        return parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        raise ApiError(
            400, "INVALID_HEADER_TYPE", f"If-Unmodified-Since: invalid date: {raw}"
        ) from None


def _update_record(call: ApiCall, params: dict[str, str]) -> ApiResponse:
    spec = _spec(params["sobject"])
    record_id = validate_record_id(spec, params["id"])
    call.org.options.setup.check_body(spec, call.body)
    call.org.writer.update(
        call.txn,
        spec,
        record_id,
        call.body,
        auto_assign=call.auto_assign,
        unmodified_since=_unmodified_since(call),
    )
    return ApiResponse(204)


def _delete_record(call: ApiCall, params: dict[str, str]) -> ApiResponse:
    spec = _spec(params["sobject"])
    record_id = validate_record_id(spec, params["id"])
    call.org.writer.delete(call.txn, spec, record_id)
    return ApiResponse(204)


def _query(include_deleted: bool) -> Any:
    def handler(call: ApiCall, _: dict[str, str]) -> ApiResponse:
        soql = call.query.get("q")
        if soql is None:
            raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
        result = run_query(
            call.org.store,
            call.org.cursors,
            soql,
            version=call.version,
            now=call.txn.now,
            include_deleted=include_deleted,
            batch=batch_size(call.header("sforce-query-options")),
        )
        return ApiResponse(200, result)

    return handler


def _query_more(call: ApiCall, params: dict[str, str]) -> ApiResponse:
    return ApiResponse(200, next_batch(call.org.cursors, params["locator"], version=call.version))


def _limits(call: ApiCall, _: dict[str, str]) -> ApiResponse:
    return ApiResponse(200, call.org.limits.snapshot(call.org.storage_used_mb()))


def register(router: Router) -> None:
    """Add the sObject, query and limits resources."""
    router.add("/", {"GET": _resources})
    router.add("/sobjects", {"GET": _global_describe})
    router.add(r"/sobjects/(?P<sobject>\w+)", {"GET": _sobject_info, "POST": _create})
    router.add(r"/sobjects/(?P<sobject>\w+)/describe", {"GET": _describe})
    router.add(
        r"/sobjects/(?P<sobject>\w+)/(?P<id>[^/]+)",
        {"GET": _get_record, "PATCH": _update_record, "DELETE": _delete_record},
    )
    router.add("/query", {"GET": _query(include_deleted=False)})
    router.add("/queryAll", {"GET": _query(include_deleted=True)})
    router.add(r"/query/(?P<locator>[^/]+)", {"GET": _query_more})
    router.add(r"/queryAll/(?P<locator>[^/]+)", {"GET": _query_more})
    router.add("/limits", {"GET": _limits})
