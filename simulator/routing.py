"""The REST API's internal request/response shapes and router.

Top-level requests and composite subrequests go through the same router, so a subrequest is
answered exactly as the same request on its own would be (inside the caller's transaction).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from simulator.apierrors import ApiError, method_not_allowed, not_found

if TYPE_CHECKING:
    from simulator.org import Org
    from simulator.transaction import Transaction

SUPPORTED_VERSIONS: tuple[str, ...] = tuple(f"{v}.0" for v in range(59, 67))
RELEASE_LABELS: dict[str, str] = {
    "59.0": "Winter '24",
    "60.0": "Spring '24",
    "61.0": "Summer '24",
    "62.0": "Winter '25",
    "63.0": "Spring '25",
    "64.0": "Summer '25",
    "65.0": "Winter '26",
    "66.0": "Spring '26",
}
_VERSIONED = re.compile(r"^/services/data/v(?P<version>\d+\.\d)(?P<rest>/.*)?$")


@dataclass
class ApiCall:
    """One REST request (or composite subrequest) in the context of the caller's transaction."""

    org: Org
    router: Router
    txn: Transaction
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: Any
    version: str
    user_id: str
    subrequest: bool = False

    def header(self, name: str) -> str | None:
        """A request header by case-insensitive name."""
        return self.headers.get(name.lower())

    @property
    def auto_assign(self) -> bool:
        """False only when the caller sent `Sforce-Auto-Assign: FALSE`."""
        value = (self.header("sforce-auto-assign") or "TRUE").strip().lower()
        return value not in ("false", "0")

    def sub(self, method: str, path: str, query: Mapping[str, str], body: Any,
            headers: Mapping[str, str]) -> ApiCall:  # fmt: skip
        """A subrequest sharing this call's transaction, user and top-level headers."""
        return replace(
            self,
            method=method.upper(),
            path=path,
            query=query,
            body=body,
            headers={**self.headers, **{k.lower(): v for k, v in headers.items()}},
            subrequest=True,
        )


@dataclass
class ApiResponse:
    """A status, a JSON body (None for no content) and extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def error(cls, exc: ApiError) -> ApiResponse:
        """The error array response of an ApiError."""
        return cls(exc.status, exc.body(), dict(exc.headers))


Handler = Callable[[ApiCall, dict[str, str]], ApiResponse]


def split_versioned(path: str) -> tuple[str, str] | None:
    """(version, rest-of-path) of a /services/data/vNN.N/... path, or None."""
    match = _VERSIONED.match(path)
    if match is None:
        return None
    return match["version"], match["rest"] or "/"


class Router:
    """Regex routes to per-method handlers; unknown paths 404, known paths with other methods 405."""

    def __init__(self) -> None:
        self._routes: list[tuple[re.Pattern[str], dict[str, Handler]]] = []

    def add(self, pattern: str, handlers: dict[str, Handler]) -> None:
        """Route a path pattern (a regex with named groups, anchored) to handlers by method."""
        self._routes.append((re.compile(f"^{pattern}/?$"), handlers))

    def dispatch(self, call: ApiCall) -> ApiResponse:
        """Answer a call; ApiErrors become their error arrays."""
        for pattern, handlers in self._routes:
            match = pattern.match(call.path)
            if match is None:
                continue
            method = "GET" if call.method == "HEAD" else call.method
            handler = handlers.get(method)
            try:
                if handler is None:
                    allowed = list(handlers)
                    if "GET" in allowed:
                        allowed = ["HEAD", *allowed]
                    raise method_not_allowed(call.method, allowed)
                return handler(call, match.groupdict())
            except ApiError as exc:
                return ApiResponse.error(exc)
        return ApiResponse.error(not_found())
