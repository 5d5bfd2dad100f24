"""The control API under /__sim/: loopback only, no auth, not counted against API limits."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulator.cdc_control import CdcControl, entry_json, parse_moment
from simulator.org import Org

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost", "testclient"})
AdminHandler = Callable[[Request, Any], Any]


def _problem(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _admin(handler: AdminHandler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        if request.client is None or request.client.host not in LOOPBACK:
            return _problem(403, "the control API answers loopback clients only")
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return _problem(400, "the body must be JSON")
        try:
            result = handler(request, body)
        except (ValueError, KeyError, TypeError) as exc:
            return _problem(400, str(exc))
        if isinstance(result, Response):
            return result
        return JSONResponse(result)

    return endpoint


def routes(
    org: Org, identity: Callable[[], dict[str, Any]], cdc: CdcControl | None = None
) -> list[Route]:
    """The admin routes bound to one org; `identity` gives the connection details document."""

    def add_fault(_: Request, body: dict[str, Any]) -> Response:
        rule = org.faults.add(
            str(body["route"]),
            str(body["kind"]),
            method=body.get("method"),
            probability=float(body.get("probability", 1.0)),
            count=None if body.get("count") is None else int(body["count"]),
            latency_ms=body.get("latency_ms"),
        )
        return JSONResponse(rule.to_json(), status_code=201)

    def clear_faults(_: Request, __: Any) -> dict[str, Any]:
        org.faults.clear()
        return {"faults": []}

    def revoke(_: Request, body: dict[str, Any]) -> dict[str, Any]:
        return {"revoked": org.tokens.revoke(body.get("token"))}

    def reset(_: Request, __: Any) -> dict[str, Any]:
        org.reset()
        return org.state()

    def set_rule(_: Request, body: dict[str, Any]) -> dict[str, Any]:
        rule = org.set_assignment_rule(
            enabled=bool(body.get("enabled", True)),
            default_owner_id=body.get("default_owner_id"),
            entries=body.get("entries"),
            on_update=bool(body.get("on_update", True)),
        )
        return rule.to_json()

    def set_limit(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        name = request.path_params["name"]
        org.limits.set_max(name, int(body["max"]))
        return org.limits.snapshot(org.storage_used_mb())[name]

    def shift_clock(_: Request, body: dict[str, Any]) -> dict[str, Any]:
        now = org.clock.shift(float(body["seconds"]))
        return {"now": now.isoformat(), "offset_seconds": org.clock.offset_seconds}

    def changes(request: Request, __: Any) -> dict[str, Any]:
        since = int(request.query_params.get("since", "0"))
        limit = request.query_params.get("limit")
        entries = org.changelog.read(since, int(limit) if limit else None)
        return {
            "latest_position": org.changelog.latest_position,
            "changes": [e.to_json() for e in entries],
        }

    def clear_changes(_: Request, __: Any) -> dict[str, Any]:
        org.changelog.clear()
        return {"latest_position": org.changelog.latest_position, "changes": []}

    def get(fn: Callable[[], Any]) -> AdminHandler:
        return lambda _request, _body: fn()

    return [
        *(_cdc_routes(cdc) if cdc is not None else []),
        Route("/__sim/identity", _admin(get(identity)), methods=["GET"]),
        Route("/__sim/state", _admin(get(org.state)), methods=["GET"]),
        Route(
            "/__sim/requests",
            _admin(get(lambda: [r.to_json() for r in org.requests.entries()])),
            methods=["GET"],
        ),
        Route("/__sim/requests", _admin(get(lambda: org.requests.clear())), methods=["DELETE"]),
        Route("/__sim/changes", _admin(changes), methods=["GET"]),
        Route("/__sim/changes", _admin(clear_changes), methods=["DELETE"]),
        Route(
            "/__sim/faults",
            _admin(get(lambda: [r.to_json() for r in org.faults.rules()])),
            methods=["GET"],
        ),
        Route("/__sim/faults", _admin(add_fault), methods=["POST"]),
        Route("/__sim/faults", _admin(clear_faults), methods=["DELETE"]),
        Route("/__sim/tokens/revoke", _admin(revoke), methods=["POST"]),
        Route("/__sim/reset", _admin(reset), methods=["POST"]),
        Route(
            "/__sim/assignment-rule",
            _admin(get(lambda: org.assignment_rule.to_json())),
            methods=["GET"],
        ),
        Route("/__sim/assignment-rule", _admin(set_rule), methods=["PUT"]),
        Route(
            "/__sim/limits",
            _admin(get(lambda: org.limits.snapshot(org.storage_used_mb()))),
            methods=["GET"],
        ),
        Route("/__sim/limits/{name}", _admin(set_limit), methods=["PUT"]),
        Route(
            "/__sim/clock",
            _admin(
                get(
                    lambda: {
                        "now": org.clock.now().isoformat(),
                        "offset_seconds": org.clock.offset_seconds,
                    }
                )
            ),
            methods=["GET"],
        ),
        Route("/__sim/clock/shift", _admin(shift_clock), methods=["POST"]),
    ]


def _cdc_routes(cdc: CdcControl) -> list[Route]:
    """Change event stream controls: gap and overflow events, Subscribe faults, retention."""

    def gap(_: Request, body: dict[str, Any]) -> Response:
        entry = cdc.inject_gap(
            str(body["entity"]), str(body["change_type"]), list(body["record_ids"])
        )
        return JSONResponse(entry_json(entry), status_code=201)

    def overflow(_: Request, body: dict[str, Any]) -> Response:
        return JSONResponse(entry_json(cdc.inject_overflow(str(body["entity"]))), status_code=201)

    def unavailable(_: Request, body: dict[str, Any]) -> dict[str, Any]:
        return {"subscribe_failures_pending": cdc.fail_subscribes(int(body.get("count", 1)))}

    def drop(_: Request, __: Any) -> dict[str, Any]:
        return {"dropped": cdc.drop_streams()}

    def expire(_: Request, body: dict[str, Any]) -> dict[str, Any]:
        cdc.expire_events(parse_moment(body.get("before")))
        return cdc.state()

    return [
        Route("/__sim/cdc", _admin(lambda _request, _body: cdc.state()), methods=["GET"]),
        Route("/__sim/cdc/gap", _admin(gap), methods=["POST"]),
        Route("/__sim/cdc/overflow", _admin(overflow), methods=["POST"]),
        Route("/__sim/cdc/expire", _admin(expire), methods=["POST"]),
        Route("/__sim/pubsub/unavailable", _admin(unavailable), methods=["POST"]),
        Route("/__sim/pubsub/drop", _admin(drop), methods=["POST"]),
    ]
