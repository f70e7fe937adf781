"""When a technician works on a date: the weekly pattern, less absences, plus extra shifts,
as aware intervals in a time zone (the job site's)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from field_service.models import ShiftException, ShiftExceptionKind, ShiftPattern

Interval = tuple[dt.datetime, dt.datetime]


def _at(day: dt.date, moment: dt.time, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, moment, tzinfo=zone)


def _subtract(intervals: list[Interval], cut: Interval) -> list[Interval]:
    kept: list[Interval] = []
    for start, end in intervals:
        if cut[1] <= start or cut[0] >= end:
            kept.append((start, end))
            continue
        if start < cut[0]:
            kept.append((start, cut[0]))
        if cut[1] < end:
            kept.append((cut[1], end))
    return kept


def _merge(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def working_intervals(user_id: int, day: dt.date, time_zone: str) -> list[Interval]:
    """The technician's working periods on ``day`` (local to ``time_zone``), merged and in
    order."""
    return working_intervals_of([user_id], day, time_zone).get(user_id, [])


def working_intervals_of(
    user_ids: Iterable[int], day: dt.date, time_zone: str
) -> dict[int, list[Interval]]:
    """``working_intervals`` of many technicians in two queries (technicians who do not
    work that day are left out)."""
    zone = ZoneInfo(time_zone)
    ids = list(user_ids)
    intervals: dict[int, list[Interval]] = {}
    for user_id, start, end in ShiftPattern.objects.filter(
        user_id__in=ids, weekday=day.weekday()
    ).values_list("user_id", "start", "end"):
        intervals.setdefault(user_id, []).append((_at(day, start, zone), _at(day, end, zone)))
    absent: set[int] = set()
    # Extra shifts first, so that an absence cuts into them too.
    for user_id, kind, begin, finish in (
        ShiftException.objects.filter(user_id__in=ids, date=day)
        .order_by("-kind")
        .values_list("user_id", "kind", "start", "end")
    ):
        if kind == ShiftExceptionKind.ABSENCE:
            if begin is None or finish is None:
                absent.add(user_id)
            else:
                cut = (_at(day, begin, zone), _at(day, finish, zone))
                intervals[user_id] = _subtract(intervals.get(user_id, []), cut)
        elif begin is not None and finish is not None:
            intervals.setdefault(user_id, []).append(
                (_at(day, begin, zone), _at(day, finish, zone))
            )
    return {
        user_id: merged
        for user_id, periods in intervals.items()
        if user_id not in absent and (merged := _merge(periods))
    }


def covers(intervals: list[Interval], start: dt.datetime, end: dt.datetime) -> bool:
    """Whether one working period holds the whole of [start, end]."""
    return any(begin <= start and end <= finish for begin, finish in intervals)
