"""What the simulated Messages API counts: tokens, the prompt cache and the request log.

Tokens are estimated as one per four characters. A text block marked with cache_control caches
the prompt prefix up to it (tools first, then system blocks) when that prefix reaches the minimum
cacheable length; the entry lives for its ttl ("5m" unless "1h") after its last use. The first
request writes the prefix (cache_creation_input_tokens), later ones read it
(cache_read_input_tokens), and input_tokens counts only what is left, as Anthropic reports them.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

MIN_CACHE_TOKENS = 1024
CACHE_TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
# What an answer costs beyond its text: the tool_use framing the real API also bills.
_ANSWER_OVERHEAD_TOKENS = 8


def estimate_tokens(text: str) -> int:
    """Tokens a text costs, estimated as one per four characters."""
    return math.ceil(len(text) / 4) if text else 0


@dataclass(frozen=True)
class MessageRecord:
    """One answered /v1/messages request: status, model, tokens, duration and faults fired."""

    timestamp: str
    status: int
    model: str | None
    error_type: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    duration_ms: float = 0.0
    faults: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = asdict(self)
        data["faults"] = list(self.faults)
        return data


class Meter:
    """Token usage with a prompt cache, and the log of answered requests."""

    def __init__(self, min_cache_tokens: int = MIN_CACHE_TOKENS, capacity: int = 10_000) -> None:
        self.min_cache_tokens = min_cache_tokens
        self._cache: dict[str, float] = {}
        self._log: deque[MessageRecord] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def _cached(self, prefix: str, ttl: float) -> bool:
        """Whether the prefix was cached and is still alive; it is cached afresh either way."""
        key = hashlib.sha256(prefix.encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key, 0.0) > now
            self._cache[key] = now + ttl
        return hit

    def usage(
        self, tools: list[Any], system: list[dict[str, Any]], messages: list[Any], output: str
    ) -> dict[str, int]:
        """Token usage of one request, its cached prefix counted as a read or a write."""
        tools_text = json.dumps(tools, sort_keys=True)
        total = estimate_tokens(tools_text) + estimate_tokens(json.dumps(messages))
        total += sum(estimate_tokens(block["text"]) for block in system)
        read = created = 0
        marked = [i for i, block in enumerate(system) if block.get("cache_control")]
        if marked:
            upto = system[: marked[-1] + 1]
            prefix = tools_text + "\n".join(block["text"] for block in upto)
            prefix_tokens = estimate_tokens(tools_text) + sum(
                estimate_tokens(block["text"]) for block in upto
            )
            ttl = CACHE_TTL_SECONDS.get(str(upto[-1]["cache_control"].get("ttl", "5m")), 300.0)
            if prefix_tokens >= self.min_cache_tokens:
                if self._cached(prefix, ttl):
                    read = prefix_tokens
                else:
                    created = prefix_tokens
        return {
            "input_tokens": total - read - created,
            "output_tokens": estimate_tokens(output) + _ANSWER_OVERHEAD_TOKENS,
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": created,
        }

    def record(self, record: MessageRecord) -> None:
        """Log one answered request."""
        with self._lock:
            self._log.append(record)

    def records(self) -> list[MessageRecord]:
        """Every logged request, oldest first."""
        with self._lock:
            return list(self._log)

    def totals(self) -> dict[str, int]:
        """Requests and each kind of token over the log."""
        records = self.records()
        return {
            "requests": len(records),
            "input_tokens": sum(r.input_tokens for r in records),
            "output_tokens": sum(r.output_tokens for r in records),
            "cache_read_input_tokens": sum(r.cache_read_input_tokens for r in records),
            "cache_creation_input_tokens": sum(r.cache_creation_input_tokens for r in records),
        }

    def clear(self) -> None:
        """Forget the log and the prompt cache."""
        with self._lock:
            self._log.clear()
            self._cache.clear()
