"""Business-time arithmetic for SLA clocks: how much open time lies between two instants, and
when a given amount of open time will have elapsed. Pure Python: no models, no database.

Conventions the caller must know:

- Every instant is an aware ``datetime``; a naive one raises ``ValueError``. Instants returned
  are in UTC (convert with ``astimezone`` for display).
- A calendar's opening hours are local wall-clock times in the site's IANA time zone, per weekday
  (0 = Monday). ``END_OF_DAY`` (``time.max``) as the end of an interval means 24:00, the midnight
  that starts the next day; ``time(0)`` is only ever a start.
- Business time is real elapsed time. Each local interval of a date becomes one UTC interval and
  its length is what counts: an 08:00-17:00 day is 9 h on a DST change day too, while open hours
  that straddle the change count what really elapses (00:00-24:00 is 23 h on the spring-forward
  day and 25 h on the fall-back day).
- A wall time that does not exist (in a spring-forward gap) or exists twice (in a fall-back fold)
  is read with ``fold=0``, that is with the UTC offset in force before the transition: in Paris,
  02:30 on 2026-03-29 is 01:30 UTC (03:30 CEST) and 02:30 on 2026-10-25 is the first one,
  00:30 UTC (CEST). Where this makes two open intervals overlap in UTC, the union counts once.
- Holidays are local dates, fully closed; an interval belongs to the date on which it opens.
- Amounts are whole seconds; ``business_seconds`` floors the exact open time.
- A pause is ``(start, end)``, with ``end=None`` for a pause still running: the clock is stopped
  from ``start`` onward. Overlapping pauses count once; pauses before the clock starts are ignored.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from itertools import pairwise
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

END_OF_DAY = time.max

# [start, end) in UTC.
Interval = tuple[datetime, datetime]
# (start, end), end None while the pause is still running.
Pause = tuple[datetime, datetime | None]

_DAY = timedelta(days=1)
_SECOND = timedelta(seconds=1)
# Larger than any UTC offset plus any DST gap: no wall time on local date D maps to an instant
# earlier than D 00:00 UTC minus this, which bounds how far ahead the day-by-day scan must look.
_OFFSET_BOUND = timedelta(hours=26)
_FOREVER = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class BusinessCalendar:
    """When a site is open. ``hours`` maps a weekday (0 = Monday) to its open intervals in local
    wall-clock time, each ``(open, close)`` with ``open < close`` and ``close`` possibly
    ``END_OF_DAY``; a missing weekday is closed. ``holidays`` are local dates, fully closed.

    Intervals are stored sorted, with ``fold=0``; overlapping intervals in a day are refused.
    """

    time_zone: str
    hours: Mapping[int, tuple[tuple[time, time], ...]]
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone: {self.time_zone!r}") from error
        hours: dict[int, tuple[tuple[time, time], ...]] = {}
        for weekday, intervals in self.hours.items():
            if weekday not in range(7):
                raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), got {weekday!r}")
            if any(moment.tzinfo is not None for interval in intervals for moment in interval):
                raise ValueError("opening hours are wall-clock times: drop the tzinfo")
            ordered = tuple(
                sorted(
                    (open_at.replace(fold=0), close_at.replace(fold=0))
                    for open_at, close_at in intervals
                )
            )
            for open_at, close_at in ordered:
                if open_at >= close_at:
                    raise ValueError(f"weekday {weekday}: {open_at} is not before {close_at}")
            for (_, close_at), (open_at, _) in pairwise(ordered):
                if open_at < close_at:
                    raise ValueError(f"weekday {weekday}: intervals overlap at {open_at}")
            if ordered:
                hours[weekday] = ordered
        object.__setattr__(self, "hours", MappingProxyType(hours))
        object.__setattr__(self, "holidays", frozenset(self.holidays))

    @classmethod
    def weekdays(
        cls, start: time, end: time, tz: str, holidays: Iterable[date] = ()
    ) -> BusinessCalendar:
        """Monday to Friday, ``start`` to ``end`` (``END_OF_DAY`` for 24:00)."""
        return cls(tz, {weekday: ((start, end),) for weekday in range(5)}, frozenset(holidays))

    @classmethod
    def always(cls, tz: str) -> BusinessCalendar:
        """Open 24x7: business time is real elapsed time."""
        return cls(tz, {weekday: ((time(0), END_OF_DAY),) for weekday in range(7)})

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


class SlaState(StrEnum):
    """Equal to its plain string value: ``SlaState.WARNING == "warning"``."""

    OK = "ok"
    WARNING = "warning"
    BREACHED = "breached"
    PAUSED = "paused"


@dataclass(frozen=True)
class SlaStatus:
    """Where an SLA clock stands at a given instant. ``elapsed_s`` is business seconds run so
    far, ``remaining_s`` what is left of the target (never negative), ``share`` their ratio to
    the target (above 1 once overdue). ``deadline`` and ``warn_at`` are when the target and the
    warning share are (or were) reached, ``None`` when a pause still running stops the clock
    before then. ``state`` is, in order of precedence: breached, paused, warning, ok."""

    elapsed_s: int
    remaining_s: int
    deadline: datetime | None
    warn_at: datetime | None
    state: SlaState
    share: float


def open_intervals(
    calendar: BusinessCalendar, start: datetime, end: datetime
) -> Iterator[Interval]:
    """The calendar's open periods intersected with [start, end), in UTC, in order, disjoint."""
    start_utc, end_utc = _utc(start, "start"), _utc(end, "end")
    return _joined(_clipped(_open_from(calendar, start_utc, end_utc), end_utc))


def business_seconds(
    calendar: BusinessCalendar,
    start: datetime,
    end: datetime,
    pauses: Iterable[Pause] = (),
) -> int:
    """Whole business seconds in [start, end) outside the pauses (a running pause counts up to
    ``end``); 0 when ``end <= start``."""
    start_utc, end_utc = _utc(start, "start"), _utc(end, "end")
    return _business_seconds(calendar, start_utc, end_utc, _merge_pauses(pauses))


def add_business_seconds(
    calendar: BusinessCalendar,
    start: datetime,
    seconds: int,
    pauses: Iterable[Pause] = (),
) -> datetime | None:
    """The earliest instant (UTC) by which ``seconds`` business seconds outside the pauses have
    elapsed since ``start``: ``start`` itself for 0, otherwise an instant in open, unpaused time
    (a closing time when the amount runs out exactly there). ``None`` when a running pause stops
    the clock before the amount is reached."""
    start_utc = _utc(start, "start")
    if seconds < 0:
        raise ValueError(f"seconds must not be negative, got {seconds}")
    return _add_business_seconds(calendar, start_utc, seconds, _merge_pauses(pauses))


def sla_status(
    calendar: BusinessCalendar,
    started_at: datetime,
    target_seconds: int,
    now: datetime,
    pauses: Iterable[Pause] = (),
    warn_share: float = 0.8,
) -> SlaStatus:
    """An SLA clock started at ``started_at`` with a target of ``target_seconds`` business
    seconds, read at ``now``. It is breached once elapsed >= target and warns once elapsed >=
    ``warn_share`` x target, that threshold rounded up to a whole second. It is paused while
    ``now`` lies in a pause, unless already breached."""
    started_utc, now_utc = _utc(started_at, "started_at"), _utc(now, "now")
    if target_seconds <= 0:
        raise ValueError(f"target_seconds must be positive, got {target_seconds}")
    if not 0 < warn_share <= 1:
        raise ValueError(f"warn_share must be in (0, 1], got {warn_share}")
    merged = _merge_pauses(pauses)
    warn_s = math.ceil(Decimal(repr(warn_share)) * target_seconds)
    elapsed = _business_seconds(calendar, started_utc, now_utc, merged)
    if elapsed >= target_seconds:
        state = SlaState.BREACHED
    elif any(pause_start <= now_utc < pause_end for pause_start, pause_end in merged):
        state = SlaState.PAUSED
    elif elapsed >= warn_s:
        state = SlaState.WARNING
    else:
        state = SlaState.OK
    return SlaStatus(
        elapsed_s=elapsed,
        remaining_s=max(target_seconds - elapsed, 0),
        deadline=_add_business_seconds(calendar, started_utc, target_seconds, merged),
        warn_at=_add_business_seconds(calendar, started_utc, warn_s, merged),
        state=state,
        share=elapsed / target_seconds,
    )


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def _merge_pauses(pauses: Iterable[Pause]) -> list[Interval]:
    """Pauses in UTC as a sorted list of disjoint intervals; a running one ends at ``_FOREVER``."""
    spans: list[Interval] = []
    for index, (pause_start, pause_end) in enumerate(pauses):
        start = _utc(pause_start, f"pause {index} start")
        end = _FOREVER if pause_end is None else _utc(pause_end, f"pause {index} end")
        if end < start:
            raise ValueError(f"pause {index} ends before it starts")
        spans.append((start, end))
    merged: list[Interval] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        elif start < end:
            merged.append((start, end))
    return merged


def _business_seconds(
    calendar: BusinessCalendar, start: datetime, end: datetime, pauses: list[Interval]
) -> int:
    running = _clipped(_running(calendar, start, pauses, end), end)
    total = sum((span_end - span_start for span_start, span_end in running), timedelta())
    return total // _SECOND


def _add_business_seconds(
    calendar: BusinessCalendar, start: datetime, seconds: int, pauses: list[Interval]
) -> datetime | None:
    remaining = timedelta(seconds=seconds)
    if not remaining:
        return start
    if not calendar.hours:
        raise ValueError("the calendar is never open")
    for span_start, span_end in _running(calendar, start, pauses, None):
        if span_end - span_start >= remaining:
            return span_start + remaining
        remaining -= span_end - span_start
    return None


def _joined(spans: Iterator[Interval]) -> Iterator[Interval]:
    """Sorted disjoint intervals with touching ones joined (a finite stream only)."""
    current: Interval | None = None
    for span_start, span_end in spans:
        if current is not None and span_start == current[1]:
            current = (current[0], span_end)
            continue
        if current is not None:
            yield current
        current = (span_start, span_end)
    if current is not None:
        yield current


def _clipped(spans: Iterator[Interval], end: datetime) -> Iterator[Interval]:
    for span_start, span_end in spans:
        if span_start >= end:
            return
        yield span_start, min(span_end, end)


def _running(
    calendar: BusinessCalendar, start: datetime, pauses: list[Interval], until: datetime | None
) -> Iterator[Interval]:
    """Open time from ``start`` minus the pauses (sorted, disjoint); ends at a running pause."""
    index = 0
    for span_start, span_end in _open_from(calendar, start, until):
        cursor = span_start
        while cursor < span_end:
            while index < len(pauses) and pauses[index][1] <= cursor:
                index += 1
            if index == len(pauses) or pauses[index][0] >= span_end:
                yield cursor, span_end
                break
            pause_start, pause_end = pauses[index]
            if pause_start > cursor:
                yield cursor, pause_start
            if pause_end == _FOREVER:
                return
            cursor = pause_end


def _open_from(
    calendar: BusinessCalendar, start: datetime, until: datetime | None
) -> Iterator[Interval]:
    """Open time from ``start`` onward, in UTC, sorted and disjoint, scanning day by day.
    Touching intervals are not joined, so that a 24x7 calendar still yields day by day. With
    ``until``, the scan stops once no later interval can start before it (intervals starting
    at or after ``until`` may still be yielded); without it, it never stops."""
    zone = calendar.zone
    # Two days back, a margin: read with fold=0, a wall time in a DST gap lands past the gap, so
    # an earlier date's interval can end later than its wall-clock times say.
    day = start.astimezone(zone).date() - 2 * _DAY
    pending: list[Interval] = []  # a heap: local order and UTC order can differ around a gap
    current: Interval | None = None
    while True:
        for interval in _day_intervals(calendar, zone, day):
            heapq.heappush(pending, interval)
        day += _DAY
        # No interval of ``day`` or later starts before this.
        horizon = datetime.combine(day, time(0), tzinfo=UTC) - _OFFSET_BOUND
        while pending and pending[0][0] < horizon:
            span_start, span_end = heapq.heappop(pending)
            if current is not None and span_start < current[1]:  # touching ones stay apart
                current = (current[0], max(current[1], span_end))
                continue
            if current is not None and current[1] > start:
                yield max(current[0], start), current[1]
            current = (span_start, span_end)
        if current is not None and current[1] <= horizon:
            if current[1] > start:
                yield max(current[0], start), current[1]
            current = None
        if until is not None and horizon >= until:
            if current is not None and current[1] > start:
                yield max(current[0], start), current[1]
            return


def _day_intervals(calendar: BusinessCalendar, zone: ZoneInfo, day: date) -> list[Interval]:
    """The open intervals of one local date, in UTC, in local order (empty ones dropped)."""
    if day in calendar.holidays:
        return []
    intervals: list[Interval] = []
    for open_at, close_at in calendar.hours.get(day.weekday(), ()):
        opens = datetime.combine(day, open_at, tzinfo=zone).astimezone(UTC)
        if close_at == END_OF_DAY:
            closes = datetime.combine(day + _DAY, time(0), tzinfo=zone).astimezone(UTC)
        else:
            closes = datetime.combine(day, close_at, tzinfo=zone).astimezone(UTC)
        if opens < closes:
            intervals.append((opens, closes))
    return intervals
