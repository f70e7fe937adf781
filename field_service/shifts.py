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
    zone = ZoneInfo(time_zone)
    intervals = [
        (_at(day, start, zone), _at(day, end, zone))
        for start, end in ShiftPattern.objects.filter(
            user_id=user_id, weekday=day.weekday()
        ).values_list("start", "end")
    ]
    for kind, start, end in ShiftException.objects.filter(user_id=user_id, date=day).values_list(
        "kind", "start", "end"
    ):
        if kind == ShiftExceptionKind.ABSENCE:
            if start is None or end is None:
                return []
            intervals = _subtract(intervals, (_at(day, start, zone), _at(day, end, zone)))
        elif start is not None and end is not None:
            intervals.append((_at(day, start, zone), _at(day, end, zone)))
    return _merge(intervals)


def covers(intervals: list[Interval], start: dt.datetime, end: dt.datetime) -> bool:
    """Whether one working period holds the whole of [start, end]."""
    return any(begin <= start and end <= finish for begin, finish in intervals)
