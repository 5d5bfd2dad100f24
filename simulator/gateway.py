"""The HTTP front door: faults and the request log around every route, the data API's checks
(version, session, daily limit), one transaction per request, and the OAuth endpoints.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from simulator.apierrors import ApiError, invalid_session, not_found, request_limit_exceeded
from simulator.clock import format_datetime
from simulator.org import Org
from simulator.requestlog import RequestRecord
from simulator.rest import versions_document
from simulator.routing import SUPPORTED_VERSIONS, ApiCall, ApiResponse, Router, split_versioned
from simulator.transaction import change_origin

logger = logging.getLogger(__name__)
Endpoint = Callable[[Request], Awaitable[Response]]
JSON_TYPE = "application/json;charset=UTF-8"


def call_options_client(header: str | None) -> str | None:
    """The `client=` value of a Sforce-Call-Options header."""
    if not header:
        return None
    for part in header.replace(";", ",").split(","):
        name, _, value = part.partition("=")
        if name.strip().lower() == "client" and value.strip():
            return value.strip()
    return None


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer with Salesforce's content type; no body for 204."""
    if status == 204 or body is None:
        return Response(status_code=status, headers=headers)
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        headers=headers,
        media_type=JSON_TYPE,
    )


def guarded(org: Org, endpoint: Endpoint) -> Endpoint:
    """Apply injected faults (latency, then an error answer) and log every request."""

    async def wrapper(request: Request) -> Response:
        started = time.perf_counter()
        path = request.url.path
        outcome = org.faults.outcome(request.method, path)
        if outcome.delay_seconds:
            await asyncio.sleep(outcome.delay_seconds)
        if outcome.error is not None:
            response = json_response(
                outcome.error.status, outcome.error.body(), outcome.error.headers
            )
        else:
            try:
                response = await endpoint(request)
            except Exception:
                # A simulator bug must still look like Salesforce to the client under test.
                logger.exception("unhandled error answering %s %s", request.method, path)
                response = json_response(
                    500,
                    [
                        {
                            "errorCode": "UNKNOWN_EXCEPTION",
                            "message": "An unexpected error occurred.",
                        }
                    ],
                )
        org.requests.add(
            RequestRecord(
                method=request.method,
                path=path,
                status=response.status_code,
                timestamp=format_datetime(org.clock.now()),
                client=call_options_client(request.headers.get("sforce-call-options")),
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
                faults=outcome.kinds,
            )
        )
        return response

    return wrapper


class _Rollback(Exception):
    def __init__(self, response: ApiResponse) -> None:
        super().__init__(response.status)
        self.response = response


def _bearer(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and token.strip():
        return token.strip()
    return None


def handle_data(org: Org, router: Router, request: Request, raw_body: bytes) -> ApiResponse:
    """Answer one /services/data request: version, session, daily limit, then the resource."""
    path = request.url.path
    if path.rstrip("/") == "/services/data":
        return ApiResponse(200, versions_document())
    versioned = split_versioned(path)
    if versioned is None or versioned[0] not in SUPPORTED_VERSIONS:
        return ApiResponse.error(not_found())
    version, rest = versioned
    token = _bearer(request)
    session = org.tokens.validate(token) if token else None
    if session is None:
        return ApiResponse.error(invalid_session())
    if not org.limits.try_consume("DailyApiRequests"):
        return ApiResponse.error(request_limit_exceeded())
    body: Any = None
    if raw_body.strip():
        try:
            body = json.loads(raw_body)
        except ValueError as exc:
            return ApiResponse.error(ApiError(400, "JSON_PARSER_ERROR", f"Malformed JSON: {exc}"))
    headers = {k.lower(): v for k, v in request.headers.items()}
    origin = change_origin(version, call_options_client(headers.get("sforce-call-options")))
    try:
        with org.transaction(session.user_id, origin) as txn:
            call = ApiCall(
                org=org,
                router=router,
                txn=txn,
                method=request.method.upper(),
                path=rest,
                query=dict(request.query_params),
                headers=headers,
                body=body,
                version=version,
                user_id=session.user_id,
            )
            response = router.dispatch(call)
            if response.status >= 400:
                raise _Rollback(response)
    except _Rollback as rollback:
        response = rollback.response
    return response


def data_endpoint(org: Org, router: Router) -> Endpoint:
    """The /services/data/... endpoint."""

    async def endpoint(request: Request) -> Response:
        raw_body = await request.body()
        response = handle_data(org, router, request, raw_body)
        headers = dict(response.headers)
        if response.status != 401 and request.url.path.rstrip("/") != "/services/data":
            headers["Sforce-Limit-Info"] = org.limits.api_usage_header()
        if request.method == "HEAD":
            return Response(status_code=response.status, headers=headers)
        return json_response(response.status, response.body, headers)

    return endpoint


async def _form(request: Request) -> dict[str, str]:
    """A url-encoded form body (OAuth endpoints take nothing else)."""
    raw = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(raw, keep_blank_values=True))


def token_endpoint(org: Org) -> Endpoint:
    """POST /services/oauth2/token (JWT bearer grant)."""

    async def endpoint(request: Request) -> Response:
        fields = await _form(request)
        status, body = org.oauth.token(fields)
        return JSONResponse(body, status_code=status)

    return endpoint


def userinfo_endpoint(org: Org) -> Endpoint:
    """GET/POST /services/oauth2/userinfo."""

    async def endpoint(request: Request) -> Response:
        token = _bearer(request)
        session = org.tokens.validate(token) if token else None
        user = org.user(session.user_id) if session else None
        if user is None:
            return Response("Bad_OAuth_Token", status_code=403, media_type="text/plain")
        return JSONResponse(org.oauth.userinfo(user))

    return endpoint


def revoke_endpoint(org: Org) -> Endpoint:
    """POST /services/oauth2/revoke: revoke one access token."""

    async def endpoint(request: Request) -> Response:
        token = (await _form(request)).get("token") or request.query_params.get("token")
        if not token or not org.tokens.revoke(token):
            return JSONResponse(
                {
                    "error": "unsupported_token_type",
                    "error_description": "this token type is not supported",
                },
                status_code=400,
            )
        return Response(status_code=200)

    return endpoint
