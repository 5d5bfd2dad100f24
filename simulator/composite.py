"""Composite (`/composite`) and sObject Collections (`/composite/sobjects`).

A whole composite or collection request is one transaction and one API call. Each subrequest or
record runs in a savepoint: with allOrNone a failure rolls everything back, otherwise only the
failing part.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from simulator.apierrors import ApiError
from simulator.dml import validate_record_id
from simulator.rest import record_json
from simulator.routing import ApiCall, ApiResponse, Router, split_versioned
from simulator.schema import sobject, sobject_for_id

MAX_SUBREQUESTS = 25
MAX_QUERY_OR_COLLECTION = 5
MAX_COLLECTION_RECORDS = 200
_REFERENCE_ID = re.compile(r"^[A-Za-z0-9_]+$")
_REFERENCE = re.compile(r"@\{([^}]+)\}")
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
ROLLED_BACK = ApiError(
    400,
    "PROCESSING_HALTED",
    "The transaction was rolled back since another operation in the same transaction failed.",
)


class _Halt(Exception):
    """Unwinds an allOrNone composite after its first failure."""


def _lookup(results: dict[str, Any], expression: str) -> Any:
    ref, _, path = expression.partition(".")
    if ref not in results:
        raise KeyError(expression)
    value: Any = results[ref]
    for name, index in _PATH_PART.findall(path):
        if index:
            value = value[int(index)]
        elif isinstance(value, dict) and name in value:
            value = value[name]
        else:
            raise KeyError(expression)
    return value


def _resolve(node: Any, results: dict[str, Any]) -> Any:
    if isinstance(node, str):
        whole = _REFERENCE.fullmatch(node)
        if whole:
            return _lookup(results, whole.group(1))
        return _REFERENCE.sub(lambda m: str(_lookup(results, m.group(1))), node)
    if isinstance(node, list):
        return [_resolve(item, results) for item in node]
    if isinstance(node, dict):
        return {key: _resolve(value, results) for key, value in node.items()}
    return node


def _bad_request(message: str, code: str = "INVALID_API_INPUT") -> ApiError:
    return ApiError(400, code, message)


def _is_query_or_collection(url: str) -> bool:
    rest = urlsplit(url).path
    return bool(re.search(r"/(query|queryAll)(/|$)|/composite/sobjects", rest))


def _composite(call: ApiCall, _: dict[str, str]) -> ApiResponse:
    body = call.body if isinstance(call.body, dict) else None
    if body is None or not isinstance(body.get("compositeRequest"), list):
        raise _bad_request("compositeRequest is required", "JSON_PARSER_ERROR")
    requests: list[Any] = body["compositeRequest"]
    all_or_none = bool(body.get("allOrNone", False))
    if not requests:
        raise _bad_request("compositeRequest must contain at least one subrequest")
    if len(requests) > MAX_SUBREQUESTS:
        raise _bad_request(
            f"Composite requests cannot have more than {MAX_SUBREQUESTS} subrequests.",
            "LIMIT_EXCEEDED",
        )
    seen: set[str] = set()
    heavy = 0
    for sub in requests:
        if not isinstance(sub, dict) or not {"method", "url", "referenceId"} <= sub.keys():
            raise _bad_request("Each subrequest needs method, url and referenceId")
        ref = str(sub["referenceId"])
        if not _REFERENCE_ID.match(ref):
            raise _bad_request(
                f"Invalid reference id: {ref}. Reference ids may only contain letters, "
                "numbers and underscores."
            )
        if ref in seen:
            raise _bad_request(f"Duplicate reference id: {ref}")
        seen.add(ref)
        heavy += _is_query_or_collection(str(sub["url"]))
    if heavy > MAX_QUERY_OR_COLLECTION:
        raise _bad_request(
            f"A composite request can contain up to {MAX_QUERY_OR_COLLECTION} query or "
            "sObject Collections subrequests.",
            "LIMIT_EXCEEDED",
        )
    results: dict[str, Any] = {}
    responses: list[dict[str, Any]] = []
    failed_at: int | None = None
    try:
        with call.txn.savepoint():
            for index, sub in enumerate(requests):
                response = _run_subrequest(call, sub, results)
                responses.append(_sub_json(sub["referenceId"], response))
                if 200 <= response.status < 300:
                    results[sub["referenceId"]] = response.body
                elif all_or_none:
                    failed_at = index
                    raise _Halt
    except _Halt:
        halted = ApiResponse.error(ROLLED_BACK)
        for index, sub in enumerate(requests):
            if index != failed_at:
                responses_index = _sub_json(sub["referenceId"], halted)
                if index < len(responses):
                    responses[index] = responses_index
                else:
                    responses.append(responses_index)
    return ApiResponse(200, {"compositeResponse": responses})


def _sub_json(reference_id: str, response: ApiResponse) -> dict[str, Any]:
    return {
        "body": response.body,
        "httpHeaders": response.headers,
        "httpStatusCode": response.status,
        "referenceId": reference_id,
    }


def _run_subrequest(call: ApiCall, sub: dict[str, Any], results: dict[str, Any]) -> ApiResponse:
    try:
        url = _resolve(str(sub["url"]), results)
        body = _resolve(sub.get("body"), results)
    except (KeyError, IndexError, TypeError) as exc:
        missing = exc.args[0] if exc.args else "reference"
        return ApiResponse.error(
            ApiError(
                400,
                "PROCESSING_HALTED",
                f"Invalid reference specified. No value for {missing} found in a previous "
                "subrequest's response.",
            )
        )
    parts = urlsplit(url)
    versioned = split_versioned(parts.path)
    if versioned is None or versioned[0] != call.version:
        return ApiResponse.error(
            ApiError(
                400, "INVALID_API_INPUT", f"The url must start with /services/data/v{call.version}"
            )
        )
    headers = sub.get("httpHeaders") or {}
    subcall = call.sub(
        str(sub["method"]), versioned[1], dict(parse_qsl(parts.query)), body, headers
    )
    if subcall.path.startswith("/composite") and not subcall.path.startswith("/composite/sobjects"):
        return ApiResponse.error(
            ApiError(400, "INVALID_API_INPUT", "A composite request cannot contain composite")
        )
    try:
        with call.txn.savepoint():
            response = call.router.dispatch(subcall)
            if response.status >= 400:
                raise _SubFailed(response)
    except _SubFailed as failed:
        return failed.response
    if response.status == 201 and isinstance(response.body, dict) and "id" in response.body:
        spec_name = versioned[1].strip("/").split("/")[1] if "/sobjects/" in versioned[1] else ""
        spec = sobject(spec_name)
        if spec is not None:
            response.headers["Location"] = (
                f"/services/data/v{call.version}/sobjects/{spec.name}/{response.body['id']}"
            )
    return response


class _SubFailed(Exception):
    def __init__(self, response: ApiResponse) -> None:
        super().__init__(response.status)
        self.response = response


def _collection_records(call: ApiCall) -> list[Any]:
    body = call.body if isinstance(call.body, dict) else None
    if body is None or not isinstance(body.get("records"), list):
        raise _bad_request("records is required", "JSON_PARSER_ERROR")
    records: list[Any] = body["records"]
    if len(records) > MAX_COLLECTION_RECORDS:
        raise _bad_request(
            f"Exceeded max limit of sObject Collections records: {MAX_COLLECTION_RECORDS}",
            "EXCEEDED_ID_LIMIT",
        )
    for record in records:
        attributes = record.get("attributes") if isinstance(record, dict) else None
        if not isinstance(attributes, dict) or not attributes.get("type"):
            raise _bad_request(
                "When creating or updating a record, you must specify the type in attributes",
                "INVALID_TYPE",
            )
    return records


_ALL_OR_NONE_ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was "
    "using AllOrNone header",
    "fields": [],
}


def _save_all(call: ApiCall, items: list[Any], write: Any) -> ApiResponse:
    """Run `write(item) -> id` per item; SaveResults in input order, allOrNone honoured."""
    all_or_none = bool(call.body.get("allOrNone", False)) if isinstance(call.body, dict) else False
    if call.method == "DELETE":
        all_or_none = call.query.get("allOrNone", "false").lower() == "true"
    results: list[dict[str, Any]] = []
    failed = False
    try:
        with call.txn.savepoint():
            for item in items:
                try:
                    with call.txn.savepoint():
                        record_id = write(item)
                    results.append({"id": record_id, "success": True, "errors": []})
                except ApiError as exc:
                    failed = True
                    result: dict[str, Any] = {"success": False, "errors": [exc.save_error()]}
                    if isinstance(item, str):
                        result["id"] = item
                    elif isinstance(item, dict) and item.get("id"):
                        result["id"] = item["id"]
                    results.append(result)
            if failed and all_or_none:
                raise _Halt
    except _Halt:
        for result in results:
            if result["success"]:
                result["success"] = False
                result["errors"] = [dict(_ALL_OR_NONE_ROLLED_BACK)]
            if call.method == "POST":
                result.pop("id", None)
    return ApiResponse(200, results)


def _spec_of(record: dict[str, Any]) -> Any:
    spec = sobject(str(record["attributes"]["type"]))
    if spec is None:
        raise ApiError(
            400,
            "INVALID_TYPE",
            f"sObject type '{record['attributes']['type']}' is not supported.",
            [],
        )
    return spec


def _collection_create(call: ApiCall, _: dict[str, str]) -> ApiResponse:
    records = _collection_records(call)

    def write(record: dict[str, Any]) -> str:
        if any(key.lower() == "id" for key in record):
            raise ApiError(400, "INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
        return call.org.writer.create(
            call.txn, _spec_of(record), record, auto_assign=call.auto_assign
        )

    return _save_all(call, records, write)


def _collection_update(call: ApiCall, _: dict[str, str]) -> ApiResponse:
    records = _collection_records(call)

    def write(record: dict[str, Any]) -> str:
        spec = _spec_of(record)
        raw_id = next((v for k, v in record.items() if k.lower() == "id"), None)
        if not raw_id:
            raise ApiError(400, "MISSING_ARGUMENT", "Id not specified in an update call", [])
        record_id = validate_record_id(spec, str(raw_id))
        fields = {k: v for k, v in record.items() if k.lower() != "id"}
        call.org.writer.update(call.txn, spec, record_id, fields, auto_assign=call.auto_assign)
        return record_id

    return _save_all(call, records, write)


def _collection_delete(call: ApiCall, _: dict[str, str]) -> ApiResponse:
    raw = call.query.get("ids", "")
    ids = [i for i in raw.split(",") if i]
    if not ids:
        raise _bad_request("ids is required", "MISSING_ARGUMENT")
    if len(ids) > MAX_COLLECTION_RECORDS:
        raise _bad_request("Exceeded max limit of ids: 200", "EXCEEDED_ID_LIMIT")

    def write(raw_id: str) -> str:
        spec = sobject_for_id(raw_id)
        if spec is None:
            raise ApiError(400, "MALFORMED_ID", f"malformed id {raw_id}", [])
        record_id = validate_record_id(spec, raw_id)
        call.org.writer.delete(call.txn, spec, record_id)
        return record_id

    return _save_all(call, ids, write)


def _collection_get(call: ApiCall, params: dict[str, str]) -> ApiResponse:
    spec = sobject(params["sobject"])
    if spec is None:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    names = [n for n in call.query.get("fields", "").split(",") if n]
    if not names:
        raise _bad_request("fields is required", "MISSING_ARGUMENT")
    fields = []
    for name in names:
        field = spec.field(name)
        if field is None:
            raise ApiError(
                400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {spec.name}"
            )
        fields.append(field)
    records: list[Any] = []
    for raw_id in [i for i in call.query.get("ids", "").split(",") if i]:
        record_id = validate_record_id(spec, raw_id)
        row = call.org.store.fetch(spec.name, record_id)
        records.append(
            None
            if row is None or row["IsDeleted"]
            else record_json(spec, row, call.version, fields)
        )
    return ApiResponse(200, records)


def register(router: Router) -> None:
    """Add the composite resources."""
    router.add("/composite", {"GET": _composite_index, "POST": _composite})
    router.add(
        "/composite/sobjects",
        {"POST": _collection_create, "PATCH": _collection_update, "DELETE": _collection_delete},
    )
    router.add(r"/composite/sobjects/(?P<sobject>\w+)", {"GET": _collection_get})


def _composite_index(call: ApiCall, _: dict[str, str]) -> ApiResponse:
    base = f"/services/data/v{call.version}/composite"
    return ApiResponse(200, {"sobjects": f"{base}/sobjects"})
