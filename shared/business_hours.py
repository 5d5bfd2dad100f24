"""Working hours, time zones and holiday calendars per region, and business time between instants."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from shared.config_files import load_json_model
from shared.errors import InvalidInputError

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _time_zone_name(name: str) -> str:
    """An IANA time zone name that zoneinfo can load."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("expected an IANA time zone name such as 'Europe/Berlin'") from None
    return name


def _clock_time(text: str) -> str:
    """A wall-clock time written HH:MM on a 24-hour clock."""
    if not _CLOCK.match(text):
        raise ValueError("expected a 24-hour time HH:MM such as '09:00'")
    return text


def _parse_clock(text: str) -> time:
    """The time of day of an HH:MM string already checked by _clock_time."""
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


@lru_cache(maxsize=256)
def _country_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    """Public holidays of one country (and subdivision) in one year, computed once per process."""
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year).keys())


class HolidayCalendar(BaseModel):
    """A country's public holidays from the holidays library, adjusted by the company's own list."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    country: str | None = Field(
        default=None, description="ISO 3166-1 alpha-2 code known to the holidays library."
    )
    subdivision: str | None = Field(default=None, description="State or province code, if any.")
    extra_dates: frozenset[date] = Field(
        default_factory=frozenset, description="Company holidays on top of the public ones."
    )
    removed_dates: frozenset[date] = Field(
        default_factory=frozenset, description="Public holidays the company works through."
    )

    @model_validator(mode="after")
    def _known_country(self) -> HolidayCalendar:
        """The country and subdivision must be ones the holidays library can compute."""
        if self.country is None:
            if self.subdivision is not None:
                raise ValueError("a subdivision needs a country")
            return self
        supported = holidays.list_supported_countries()
        if self.country not in supported:
            raise ValueError(
                f"country {self.country!r} is not an ISO 3166-1 alpha-2 code supported by "
                "the holidays library"
            )
        if self.subdivision is not None and self.subdivision not in supported[self.country]:
            known = ", ".join(supported[self.country]) or "none"
            raise ValueError(
                f"subdivision {self.subdivision!r} is not one of {self.country}'s ({known})"
            )
        return self

    def is_holiday(self, day: date) -> bool:
        """Whether the day is a holiday: a company extra, or a public holiday not worked through."""
        if day in self.extra_dates:
            return True
        if self.country is None or day in self.removed_dates:
            return False
        return day in _country_holidays(self.country, self.subdivision, day.year)


class RegionHours(BaseModel):
    """One region's working week: time zone, working days, daily window and holidays."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    time_zone: Annotated[str, AfterValidator(_time_zone_name)]
    days: tuple[Weekday, ...] = Field(min_length=1)
    start: Annotated[str, AfterValidator(_clock_time)] = "09:00"
    end: Annotated[str, AfterValidator(_clock_time)] = "17:30"
    holidays: HolidayCalendar = Field(default_factory=HolidayCalendar)

    @model_validator(mode="after")
    def _start_before_end(self) -> RegionHours:
        """The working window is one stretch within a day; overnight shifts are not modelled."""
        if self.start >= self.end:
            raise ValueError(f"start {self.start} must be earlier than end {self.end}")
        return self

    @property
    def zone(self) -> ZoneInfo:
        """The region's time zone."""
        return ZoneInfo(self.time_zone)

    def is_working_day(self, day: date) -> bool:
        """Whether the local calendar day is a working day that is not a holiday."""
        return WEEKDAYS[day.weekday()] in self.days and not self.holidays.is_holiday(day)

    def window(self, day: date) -> tuple[datetime, datetime]:
        """The day's working window as UTC instants, from local wall-clock times (so DST applies)."""
        zone = self.zone
        opens = datetime.combine(day, _parse_clock(self.start), tzinfo=zone)
        closes = datetime.combine(day, _parse_clock(self.end), tzinfo=zone)
        return opens.astimezone(UTC), closes.astimezone(UTC)


class BusinessCalendar(BaseModel):
    """Working hours of every region, with a default for leads whose region is unknown."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1)
    default: RegionHours
    regions: dict[str, RegionHours]

    def for_region(self, region: str | None) -> RegionHours:
        """The region's hours, or the default ones when the region is missing or unknown."""
        if region is None:
            return self.default
        return self.regions.get(region, self.default)


def load_business_hours(path: Path) -> BusinessCalendar:
    """Load and validate config/business_hours.json; ConfigError names the file and JSON path."""
    return load_json_model(path, BusinessCalendar)


def business_minutes_between(start: datetime, end: datetime, hours: RegionHours) -> float:
    """Working minutes between two aware instants in the region's calendar; 0 when end <= start."""
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInputError("business minutes need time-zone-aware datetimes")
    if end <= start:
        return 0.0
    zone = hours.zone
    day = start.astimezone(zone).date()
    last = end.astimezone(zone).date()
    total = timedelta()
    while day <= last:
        if hours.is_working_day(day):
            opens, closes = hours.window(day)
            overlap = min(closes, end) - max(opens, start)
            if overlap > timedelta():
                total += overlap
        day += timedelta(days=1)
    return total.total_seconds() / 60.0
