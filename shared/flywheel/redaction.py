"""PII redaction: emails, phone numbers and person names replaced before a record leaves a worker.

What is found, in prompts, model answers and decision fields (tool definitions and ids are not
personal data and are left alone):

- an email address becomes ``[EMAIL]``;
- a phone number becomes ``[PHONE]``: an international number (``+`` or ``00`` then 7 to 15
  digits) or a national one written in two or three groups with 8 to 15 digits, so employee
  counts, ranges such as 500-1000, dates and grouped amounts (1.000.000) stay;
- a name becomes ``[NAME]``: the lead's own FirstName and LastName wherever they appear as whole
  words (any case), and the capitalised words after ``Name:``, ``my name is`` or a sign-off
  (``Regards,``, ``Thanks,``, ``Best,``, ``Cheers,``).

Replacements contain no quote or backslash, so a tool call's JSON arguments stay valid JSON.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from shared.flywheel.record import FlywheelRecord

__all__ = ["EMAIL", "NAME", "PHONE", "Redactor", "names_of", "redact_record"]

EMAIL = "[EMAIL]"
PHONE = "[PHONE]"
NAME = "[NAME]"

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_INTERNATIONAL = re.compile(r"(?<![\w+])(?:\+|00)\d[\d \t().\-/]{5,}\d(?![\w])")
_NATIONAL = re.compile(
    r"(?<![\w.\-/])\(?\d{2,5}\)?[ \t.\-/]?\d{2,5}(?:[ \t.\-/]?\d{2,5})?(?![\w\-/]|\.\d)"
)
# Shapes a national-number match can take that are not phone numbers.
_NOT_PHONE = re.compile(
    r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}|\d{1,3}(?:[.,]\d{3})+"
)
_NAME_WORD = r"[A-Z][\w'’\-]+"
_CUE = re.compile(
    r"(?P<cue>(?:\b[Nn]ame\s*[:=]\s*|\b[Mm]y name is\s+|"
    r"\b(?:[Rr]egards|[Tt]hanks|[Bb]est|[Cc]heers),?(?:\s|\\n)*))"
    rf"(?P<name>{_NAME_WORD}(?:[ \t]+{_NAME_WORD}){{0,2}})"
)
_MIN_NAME = 2


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def _national(match: re.Match[str]) -> str:
    found = match.group()
    if not 8 <= _digits(found) <= 15 or _NOT_PHONE.fullmatch(found):
        return found
    return PHONE


def names_of(lead: Mapping[str, Any] | None) -> list[str]:
    """The lead's first and last name, where known: the names redaction looks for."""
    if not lead:
        return []
    names = []
    for key in ("FirstName", "LastName"):
        value = lead.get(key)
        if isinstance(value, str) and len(value.strip()) >= _MIN_NAME:
            names.append(value.strip())
    return names


class Redactor:
    """Replaces emails, phone numbers and the given names in text."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        words = sorted({n for n in names if len(n) >= _MIN_NAME}, key=len, reverse=True)
        self._names = (
            re.compile(
                r"(?<!\w)(?:" + "|".join(re.escape(w) for w in words) + r")(?!\w)", re.IGNORECASE
            )
            if words
            else None
        )

    def text(self, value: str) -> str:
        """The text with every email, phone number and name replaced."""
        value = _EMAIL.sub(EMAIL, value)
        value = _INTERNATIONAL.sub(
            lambda m: PHONE if 7 <= _digits(m.group()) <= 15 else m.group(), value
        )
        value = _NATIONAL.sub(_national, value)
        value = _CUE.sub(lambda m: m.group("cue") + NAME, value)
        if self._names is not None:
            value = self._names.sub(NAME, value)
        return value

    def value(self, value: Any) -> Any:
        """Every string inside a JSON value redacted, structure kept."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if isinstance(value, dict):
            return {key: self.value(item) for key, item in value.items()}
        return value


def _redact_message(redactor: Redactor, message: dict[str, Any]) -> None:
    if isinstance(message.get("content"), str):
        message["content"] = redactor.text(message["content"])
    for call in message.get("tool_calls") or ():
        call["function"]["arguments"] = redactor.text(call["function"]["arguments"])


def redact_record(record: FlywheelRecord, names: Iterable[str] = ()) -> FlywheelRecord:
    """The record with PII removed from its messages, answers and decision fields."""
    redactor = Redactor(names)
    data = record.model_dump(mode="json")
    for message in data["request"]["messages"]:
        _redact_message(redactor, message)
    for choice in data["response"]["choices"]:
        _redact_message(redactor, choice["message"])
    metadata = data["metadata"]
    if metadata.get("decision") is not None:
        metadata["decision"] = redactor.value(metadata["decision"])
    return FlywheelRecord.model_validate(data)
