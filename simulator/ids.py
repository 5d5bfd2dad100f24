"""Salesforce record ids: key prefixes, 15-to-18 character checksums and deterministic allocation."""

from __future__ import annotations

import threading

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_COUNTER_WIDTH = 9

KEY_PREFIXES: dict[str, str] = {
    "Organization": "00D",
    "User": "005",
    "Group": "00G",
    "Account": "001",
    "Contact": "003",
    "Lead": "00Q",
    "Task": "00T",
    "EmailMessage": "02s",
    "Case": "500",
    "Opportunity": "006",
    "UserRole": "00E",
}
QUERY_LOCATOR_PREFIX = "01g"


def checksum_suffix(id15: str) -> str:
    """The three characters that make a 15-character id case-insensitive (one per 5-char chunk)."""
    suffix = ""
    for start in (0, 5, 10):
        bits = 0
        for offset, char in enumerate(id15[start : start + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << offset
        suffix += _SUFFIX_ALPHABET[bits]
    return suffix


def to_18(raw: str) -> str | None:
    """The canonical 18-character form of an id, or None when it is not a well-formed id."""
    if len(raw) == 15 and all(c in BASE62 for c in raw):
        return raw + checksum_suffix(raw)
    if len(raw) == 18 and all(c in BASE62 for c in raw[:15]):
        id15 = raw[:15]
        # The suffix only encodes case, so an 18-char id typed in the wrong case still resolves.
        if raw[15:].upper() == checksum_suffix(id15):
            return id15 + checksum_suffix(id15)
    return None


def encode_base62(number: int, width: int) -> str:
    """Fixed-width base-62 digits of a non-negative number."""
    digits = []
    for _ in range(width):
        number, rem = divmod(number, 62)
        digits.append(BASE62[rem])
    if number:
        raise ValueError("number too large for the id counter")
    return "".join(reversed(digits))


class IdAllocator:
    """Hands out new ids per key prefix: prefix + pod + '0' + a base-62 counter + checksum."""

    def __init__(self, pod: str) -> None:
        if len(pod) != 2 or any(c not in BASE62 for c in pod):
            raise ValueError("pod must be two base-62 characters")
        self._pod = pod
        self._counters: dict[str, int] = {}
        self._lock = threading.Lock()

    def new_id(self, prefix: str) -> str:
        """The next id for a key prefix."""
        with self._lock:
            counter = self._counters.get(prefix, 0) + 1
            self._counters[prefix] = counter
        id15 = prefix + self._pod + "0" + encode_base62(counter + 1_000_000, _COUNTER_WIDTH)
        return id15 + checksum_suffix(id15)

    def reset(self, pod: str | None = None) -> None:
        """Start every counter again (optionally for another pod), so a re-seed gives the same ids."""
        with self._lock:
            self._counters.clear()
            if pod is not None:
                self._pod = pod
