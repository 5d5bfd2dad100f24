"""Business minutes follow each region's wall clock, working days and holidays."""

from __future__ import annotations

import copy
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.business_hours import (
    HolidayCalendar,
    RegionHours,
    business_minutes_between,
    load_business_hours,
)
from shared.errors import ConfigError, InvalidInputError

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config" / "business_hours.json"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")

NEW_YORK = RegionHours(
    time_zone="America/New_York",
    days=WEEKDAYS,
    start="09:00",
    end="17:30",
    holidays=HolidayCalendar(country="US"),
)
BERLIN = RegionHours(
    time_zone="Europe/Berlin",
    days=WEEKDAYS,
    start="09:00",
    end="17:30",
    holidays=HolidayCalendar(country="DE"),
)
RIYADH = RegionHours(
    time_zone="Asia/Riyadh", days=("sun", "mon", "tue", "wed", "thu"), start="09:00", end="17:00"
)
NEW_YORK_NO_HOLIDAYS = RegionHours(
    time_zone="America/New_York", days=WEEKDAYS, start="09:00", end="17:00"
)
NEW_YORK_COMPANY_DAY_OFF = NEW_YORK.model_copy(
    update={"holidays": HolidayCalendar(country="US", extra_dates=frozenset({date(2026, 11, 27)}))}
)
NEW_YORK_WORKS_COLUMBUS_DAY = NEW_YORK.model_copy(
    update={
        "holidays": HolidayCalendar(country="US", removed_dates=frozenset({date(2026, 10, 12)}))
    }
)


def at(text: str) -> datetime:
    """An aware instant from ISO-8601 text."""
    return datetime.fromisoformat(text)


# Every expectation is worked out by hand from local wall-clock times; the comment shows how.
@pytest.mark.parametrize(
    ("start", "end", "hours", "expected"),
    [
        # 09:00 to 10:30 EST on a Tuesday.
        ("2026-03-03T14:00Z", "2026-03-03T15:30Z", NEW_YORK, 90.0),
        # 05:00 to 21:00 EST covers the whole 09:00-17:30 window.
        ("2026-03-03T10:00Z", "2026-03-04T02:00Z", NEW_YORK, 510.0),
        # 18:00 EST to 08:00 EST next day: nothing open.
        ("2026-03-03T23:00Z", "2026-03-04T13:00Z", NEW_YORK, 0.0),
        ("2026-03-03T15:30Z", "2026-03-03T14:00Z", NEW_YORK, 0.0),
        ("2026-03-03T14:00Z", "2026-03-03T14:00Z", NEW_YORK, 0.0),
        # Same instants written in +09:00: 09:00 to 10:30 EST.
        ("2026-03-03T23:00+09:00", "2026-03-04T00:30+09:00", NEW_YORK, 90.0),
        # Fri 16:00-17:30 EST (90) + Mon 09:00-11:00 EDT (120); clocks went forward Sun 8 March.
        ("2026-03-06T21:00Z", "2026-03-09T15:00Z", NEW_YORK, 210.0),
        # Fri full day (510) + Mon 09:00-10:00 EDT (60): 14:00Z is 10:00 after the change.
        ("2026-03-06T14:00Z", "2026-03-09T14:00Z", NEW_YORK, 570.0),
        # Fri 16:30-17:30 EDT (60) + Mon 09:00-10:00 EST (60); clocks went back Sun 1 November.
        ("2026-10-30T20:30Z", "2026-11-02T15:00Z", NEW_YORK, 120.0),
        # Fri 16:30-17:30 CET (60) + Mon 09:00-10:00 CEST (60); Berlin changed Sun 29 March.
        ("2026-03-27T15:30Z", "2026-03-30T08:00Z", BERLIN, 120.0),
        # Wed 16:30-17:30 (60), Thanksgiving Thu off, Fri 09:00-10:00 (60).
        ("2026-11-25T21:30Z", "2026-11-27T15:00Z", NEW_YORK, 120.0),
        # Thu 24 Dec 16:00-17:30 (90), Christmas Fri off, weekend, Mon 09:00-10:00 (60).
        ("2026-12-24T21:00Z", "2026-12-28T15:00Z", NEW_YORK, 150.0),
        # As the Thanksgiving case, but the company also closes Fri 27 Nov: only Wed's 60.
        ("2026-11-25T21:30Z", "2026-11-27T15:00Z", NEW_YORK_COMPANY_DAY_OFF, 60.0),
        # Fri 17:00-17:30 EDT (30); Columbus Day Monday is a US public holiday.
        ("2026-10-09T21:00Z", "2026-10-12T14:00Z", NEW_YORK, 30.0),
        # The company works Columbus Day: Fri 30 + Mon 09:00-10:00 EDT (60).
        ("2026-10-09T21:00Z", "2026-10-12T14:00Z", NEW_YORK_WORKS_COLUMBUS_DAY, 90.0),
        # Thu 16:00-17:00 Riyadh (60), Fri and Sat off, Sun 09:00-10:00 (60).
        ("2026-03-05T13:00Z", "2026-03-08T07:00Z", RIYADH, 120.0),
        # Mon 1 Jun 09:00 EDT to Mon 31 Aug 09:00 EDT: 13 weeks x 5 days x 480 min.
        ("2026-06-01T13:00Z", "2026-08-31T13:00Z", NEW_YORK_NO_HOLIDAYS, 13 * 5 * 480.0),
    ],
    ids=[
        "inside-one-window",
        "window-inside-span",
        "overnight-closed",
        "end-before-start",
        "empty-span",
        "other-offset-input",
        "weekend-and-ny-spring-forward",
        "ny-spring-forward-shifts-utc-window",
        "ny-fall-back",
        "berlin-spring-forward",
        "thanksgiving",
        "christmas",
        "company-extra-holiday",
        "public-holiday-columbus-day",
        "removed-holiday-is-worked",
        "sun-thu-week",
        "three-month-span",
    ],
)
def test_business_minutes(start: str, end: str, hours: RegionHours, expected: float) -> None:
    """Only time inside the local working window on working, non-holiday days counts."""
    assert business_minutes_between(at(start), at(end), hours) == pytest.approx(expected)


def test_naive_datetimes_are_refused() -> None:
    """Without an offset the local working window cannot be placed, so it is an input error."""
    with pytest.raises(InvalidInputError):
        business_minutes_between(datetime(2026, 3, 3, 14), datetime(2026, 3, 3, 15), NEW_YORK)


def test_shipped_calendar_covers_every_region() -> None:
    """config/business_hours.json loads and names hours for each region of the policy."""
    calendar = load_business_hours(REPO_CONFIG)
    assert set(calendar.regions) >= {"NA", "EMEA", "APAC", "LATAM", "MEA"}
    assert calendar.for_region("NA").time_zone == "America/New_York"


@pytest.mark.parametrize("region", [None, "ANTARCTICA"], ids=["no-region", "unknown-region"])
def test_unknown_region_uses_default(region: str | None) -> None:
    """A lead without a known region is measured against the default hours."""
    calendar = load_business_hours(REPO_CONFIG)
    assert calendar.for_region(region) == calendar.default


VALID: dict[str, Any] = {
    "version": "t1",
    "default": {"time_zone": "UTC", "days": ["mon"], "start": "09:00", "end": "17:00"},
    "regions": {
        "NA": {
            "time_zone": "America/New_York",
            "days": ["mon", "tue"],
            "start": "09:00",
            "end": "17:30",
            "holidays": {"country": "US", "subdivision": None},
        }
    },
}


def _with(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A copy of VALID with one key replaced."""
    doc = copy.deepcopy(VALID)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            _with(("regions", "NA", "time_zone"), "America/Gotham"),
            "$.regions.NA.time_zone: Value error, expected an IANA time zone name",
        ),
        (
            _with(("regions", "NA", "start"), "9am"),
            "$.regions.NA.start: Value error, expected a 24-hour time HH:MM",
        ),
        (
            _with(("regions", "NA", "end"), "24:00"),
            "$.regions.NA.end: Value error, expected a 24-hour time HH:MM",
        ),
        (
            _with(("regions", "NA", "start"), "18:00"),
            "$.regions.NA: Value error, start 18:00 must be earlier than end 17:30",
        ),
        (
            _with(("regions", "NA", "days"), ["mon", "funday"]),
            "$.regions.NA.days[1]: Input should be 'mon', 'tue'",
        ),
        (
            _with(("regions", "NA", "holidays"), {"country": "XX"}),
            "$.regions.NA.holidays: Value error, country 'XX' is not an ISO 3166-1 alpha-2 code",
        ),
        (
            _with(("regions", "NA", "holidays"), {"country": "US", "subdivision": "ZZ"}),
            "$.regions.NA.holidays: Value error, subdivision 'ZZ' is not one of US's",
        ),
        (
            _with(("regions", "NA", "holidays"), {"country": "US", "extra_dates": ["2026-02-30"]}),
            "$.regions.NA.holidays.extra_dates[0]: Input should be a valid date",
        ),
        (
            {k: v for k, v in VALID.items() if k != "default"},
            "$.default: Field required",
        ),
    ],
    ids=[
        "bad-time-zone",
        "bad-start-time",
        "end-24-00",
        "start-after-end",
        "unknown-weekday",
        "unknown-holiday-country",
        "unknown-subdivision",
        "impossible-date",
        "no-default",
    ],
)
def test_invalid_calendar_names_file_and_key(
    tmp_path: Path, doc: dict[str, Any], expected: str
) -> None:
    """Each mistake is reported with the file, the JSON path and what was expected."""
    path = tmp_path / "business_hours.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ConfigError) as excinfo:
        load_business_hours(path)
    assert str(path) in str(excinfo.value)
    assert expected in str(excinfo.value)
