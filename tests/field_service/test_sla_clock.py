"""field_service.sla_clock against a hand-built oracle.

Every expected instant and amount is a literal worked out by hand in the comment beside it, never
computed by the code under test. Pure tests: no database.

Dates used (2026 unless said): Tue 9 June, Fri 12 June, Mon 15 June; Fri 22 May, Whit Monday
25 May; Wed 24 and Wed 31 December 2025. Paris is CET (+1) in winter and CEST (+2) in summer,
changing on Sun 29 March (02:00 CET -> 03:00 CEST) and Sun 25 October (03:00 CEST -> 02:00 CET).
New York is EST (-5) / EDT (-4), changing on Sun 8 March (02:00 -> 03:00) and Sun 1 November
(02:00 -> 01:00). Kolkata is +05:30 all year.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from field_service.sla_clock import (
    END_OF_DAY,
    BusinessCalendar,
    SlaState,
    SlaStatus,
    add_business_seconds,
    business_seconds,
    open_intervals,
    sla_status,
)

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
HOUR = 3600

OFFICE_PARIS = BusinessCalendar.weekdays(time(8), time(17), "Europe/Paris")
OFFICE_NEW_YORK = BusinessCalendar.weekdays(time(8), time(17), "America/New_York")
OFFICE_KOLKATA = BusinessCalendar.weekdays(time(8), time(17), "Asia/Kolkata")
LUNCH_PARIS = BusinessCalendar(
    "Europe/Paris", {weekday: ((time(8), time(12)), (time(13), time(17))) for weekday in range(5)}
)
HOLIDAYS_PARIS = BusinessCalendar.weekdays(
    time(8),
    time(17),
    "Europe/Paris",
    holidays={date(2025, 12, 25), date(2026, 1, 1), date(2026, 5, 25)},
)
EVERY_DAY_PARIS = BusinessCalendar(
    "Europe/Paris", {weekday: ((time(8), time(17)),) for weekday in range(7)}
)
ALWAYS_PARIS = BusinessCalendar.always("Europe/Paris")
ALWAYS_NEW_YORK = BusinessCalendar.always("America/New_York")


def at(zone: ZoneInfo, text: str) -> datetime:
    """A local wall-clock instant. Never used for a time inside a DST gap or fold: those are
    written in UTC with ``utc``."""
    return datetime.fromisoformat(text).replace(tzinfo=zone)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def every_day(tz: str, *intervals: tuple[time, time]) -> BusinessCalendar:
    return BusinessCalendar(tz, {weekday: intervals for weekday in range(7)})


# --- within a day, overnight, lunch, weekend ---------------------------------------------------


def test_same_day_within_hours() -> None:
    start = at(PARIS, "2026-06-09 09:00")
    # 09:00 + 2 h, all open.
    deadline = add_business_seconds(OFFICE_PARIS, start, 2 * HOUR)
    assert deadline == at(PARIS, "2026-06-09 11:00")
    assert deadline is not None and deadline.tzinfo is UTC
    # 09:00 -> 11:30 is 2.5 h = 9000 s.
    assert business_seconds(OFFICE_PARIS, start, at(PARIS, "2026-06-09 11:30")) == 9000


def test_start_before_opening_waits_for_opening() -> None:
    start = at(PARIS, "2026-06-09 06:30")
    # The clock starts at 08:00: 08:00 + 2 h = 10:00.
    assert add_business_seconds(OFFICE_PARIS, start, 2 * HOUR) == at(PARIS, "2026-06-09 10:00")
    assert business_seconds(OFFICE_PARIS, start, at(PARIS, "2026-06-09 10:00")) == 7200


def test_start_after_closing_runs_overnight() -> None:
    # Tue 16:00 + 4 h: 16:00-17:00 is 1 h, then Wed 08:00 + 3 h = Wed 11:00.
    tuesday_16 = at(PARIS, "2026-06-09 16:00")
    assert add_business_seconds(OFFICE_PARIS, tuesday_16, 4 * HOUR) == at(PARIS, "2026-06-10 11:00")
    assert business_seconds(OFFICE_PARIS, tuesday_16, at(PARIS, "2026-06-10 11:00")) == 14400
    # Opened at Tue 20:00, closed: Wed 08:00 + 1 h = Wed 09:00.
    assert add_business_seconds(OFFICE_PARIS, at(PARIS, "2026-06-09 20:00"), HOUR) == at(
        PARIS, "2026-06-10 09:00"
    )


def test_amount_running_out_at_closing_time_is_due_at_closing_time() -> None:
    # Tue 08:00 + 9 h = Tue 17:00, the closing time, not Wed 08:00.
    assert add_business_seconds(OFFICE_PARIS, at(PARIS, "2026-06-09 08:00"), 9 * HOUR) == at(
        PARIS, "2026-06-09 17:00"
    )


def test_lunch_break_is_not_business_time() -> None:
    # 11:00 + 2 h: 11:00-12:00 is 1 h, then 13:00 + 1 h = 14:00.
    assert add_business_seconds(LUNCH_PARIS, at(PARIS, "2026-06-09 11:00"), 2 * HOUR) == at(
        PARIS, "2026-06-09 14:00"
    )
    # 10:00 + 2 h ends exactly at the break: 12:00, not 13:00.
    assert add_business_seconds(LUNCH_PARIS, at(PARIS, "2026-06-09 10:00"), 2 * HOUR) == at(
        PARIS, "2026-06-09 12:00"
    )
    # Opened during lunch at 12:15: 13:00 + 1 h = 14:00.
    assert add_business_seconds(LUNCH_PARIS, at(PARIS, "2026-06-09 12:15"), HOUR) == at(
        PARIS, "2026-06-09 14:00"
    )
    # 11:30 -> 13:30 is 30 min before lunch + 30 min after = 3600 s.
    assert (
        business_seconds(LUNCH_PARIS, at(PARIS, "2026-06-09 11:30"), at(PARIS, "2026-06-09 13:30"))
        == 3600
    )
    # Tuesday in CEST (+2): 08:00-12:00 is 06:00-10:00 UTC, 13:00-17:00 is 11:00-15:00 UTC.
    day = list(
        open_intervals(LUNCH_PARIS, at(PARIS, "2026-06-09 00:00"), at(PARIS, "2026-06-10 00:00"))
    )
    assert day == [
        (utc("2026-06-09 06:00"), utc("2026-06-09 10:00")),
        (utc("2026-06-09 11:00"), utc("2026-06-09 15:00")),
    ]


def test_open_intervals_are_clipped_to_the_window() -> None:
    # [09:30, 14:00) local = [07:30, 12:00) UTC cuts both intervals.
    window = list(
        open_intervals(LUNCH_PARIS, at(PARIS, "2026-06-09 09:30"), at(PARIS, "2026-06-09 14:00"))
    )
    assert window == [
        (utc("2026-06-09 07:30"), utc("2026-06-09 10:00")),
        (utc("2026-06-09 11:00"), utc("2026-06-09 12:00")),
    ]


def test_weekend_is_closed() -> None:
    # Fri 15:00 + 4 h: Fri 15:00-17:00 is 2 h, Sat and Sun closed, Mon 08:00 + 2 h = Mon 10:00.
    friday_15 = at(PARIS, "2026-06-12 15:00")
    assert add_business_seconds(OFFICE_PARIS, friday_15, 4 * HOUR) == at(PARIS, "2026-06-15 10:00")
    assert business_seconds(OFFICE_PARIS, friday_15, at(PARIS, "2026-06-15 10:00")) == 14400
    # Opened on Saturday: Mon 08:00 + 1 h.
    assert add_business_seconds(OFFICE_PARIS, at(PARIS, "2026-06-13 10:00"), HOUR) == at(
        PARIS, "2026-06-15 09:00"
    )
    # A whole week: 5 days x 9 h = 45 h = 162000 s.
    week = business_seconds(
        OFFICE_PARIS, at(PARIS, "2026-06-08 00:00"), at(PARIS, "2026-06-15 00:00")
    )
    assert week == 162000


def test_end_of_day_means_midnight() -> None:
    evenings = BusinessCalendar.weekdays(time(20), END_OF_DAY, "Europe/Paris")
    # Tue 23:00 + 2 h: 23:00-24:00 is 1 h, then Wed 20:00 + 1 h = Wed 21:00.
    assert add_business_seconds(evenings, at(PARIS, "2026-06-09 23:00"), 2 * HOUR) == at(
        PARIS, "2026-06-10 21:00"
    )
    # Tue 20:00-24:00 is 18:00-22:00 UTC.
    assert list(
        open_intervals(evenings, at(PARIS, "2026-06-09 00:00"), at(PARIS, "2026-06-10 12:00"))
    ) == [(utc("2026-06-09 18:00"), utc("2026-06-09 22:00"))]


def test_always_open_days_join_into_one_interval() -> None:
    assert list(open_intervals(ALWAYS_PARIS, utc("2026-06-08 10:00"), utc("2026-06-11 10:00"))) == [
        (utc("2026-06-08 10:00"), utc("2026-06-11 10:00"))
    ]


def test_a_year_of_office_hours() -> None:
    # 2026 starts on a Thursday and has 365 days = 52 weeks + one Thursday: 261 weekdays.
    # 261 x 9 h = 2349 h = 8456400 s.
    year = business_seconds(
        OFFICE_PARIS, at(PARIS, "2026-01-01 00:00"), at(PARIS, "2027-01-01 00:00")
    )
    assert year == 8456400


# --- holidays ----------------------------------------------------------------------------------


def test_monday_holiday_pushes_to_tuesday() -> None:
    friday_16 = at(PARIS, "2026-05-22 16:00")
    # Fri 16:00-17:00 is 1 h; Mon 25 May is Whit Monday: Tue 08:00 + 2 h = Tue 10:00.
    assert add_business_seconds(HOLIDAYS_PARIS, friday_16, 3 * HOUR) == at(
        PARIS, "2026-05-26 10:00"
    )
    # Without the holiday: Mon 10:00.
    assert add_business_seconds(OFFICE_PARIS, friday_16, 3 * HOUR) == at(PARIS, "2026-05-25 10:00")


def test_christmas_and_new_year_in_paris() -> None:
    # Wed 24 Dec 16:00 + 10 h: 1 h on Wed, Thu 25 closed, Fri 26 08:00-17:00 is 9 h: Fri 17:00.
    assert add_business_seconds(HOLIDAYS_PARIS, at(PARIS, "2025-12-24 16:00"), 10 * HOUR) == at(
        PARIS, "2025-12-26 17:00"
    )
    # Wed 31 Dec 15:00 + 12 h: 2 h on Wed, Thu 1 Jan closed, Fri 2 Jan 9 h (11 h), weekend,
    # Mon 5 Jan 08:00 + 1 h = 09:00.
    assert add_business_seconds(HOLIDAYS_PARIS, at(PARIS, "2025-12-31 15:00"), 12 * HOUR) == at(
        PARIS, "2026-01-05 09:00"
    )
    # Wed 24 Dec to Mon 5 Jan: open on 24, 26, 29, 30, 31 Dec and 2 Jan = 6 x 9 h = 194400 s.
    fortnight = business_seconds(
        HOLIDAYS_PARIS, at(PARIS, "2025-12-24 00:00"), at(PARIS, "2026-01-05 00:00")
    )
    assert fortnight == 194400


# --- pauses ------------------------------------------------------------------------------------


def test_pause_stops_the_clock() -> None:
    start = at(PARIS, "2026-06-09 09:00")
    on_hold = [(at(PARIS, "2026-06-09 10:00"), at(PARIS, "2026-06-09 14:00"))]
    # 09:00-10:00 is 1 h, on hold until 14:00, then 14:00 + 3 h = 17:00.
    assert add_business_seconds(OFFICE_PARIS, start, 4 * HOUR, on_hold) == at(
        PARIS, "2026-06-09 17:00"
    )
    assert business_seconds(OFFICE_PARIS, start, at(PARIS, "2026-06-09 17:00"), on_hold) == 14400
    # Up to 12:00, only 09:00-10:00 ran.
    assert business_seconds(OFFICE_PARIS, start, at(PARIS, "2026-06-09 12:00"), on_hold) == 3600


def test_pause_spanning_the_night() -> None:
    start = at(PARIS, "2026-06-09 15:00")
    on_hold = [(at(PARIS, "2026-06-09 16:00"), at(PARIS, "2026-06-10 10:00"))]
    # Tue 15:00-16:00 is 1 h, on hold until Wed 10:00, then + 3 h = Wed 13:00.
    assert add_business_seconds(OFFICE_PARIS, start, 4 * HOUR, on_hold) == at(
        PARIS, "2026-06-10 13:00"
    )
    # Without the pause: Tue 2 h, Wed 08:00 + 2 h = Wed 10:00.
    assert add_business_seconds(OFFICE_PARIS, start, 4 * HOUR) == at(PARIS, "2026-06-10 10:00")


def test_running_pause_leaves_no_deadline() -> None:
    start = at(PARIS, "2026-06-09 09:00")
    on_hold = [(at(PARIS, "2026-06-09 10:00"), None)]
    # 1 h ran before the pause; the other 3 h never come.
    assert add_business_seconds(OFFICE_PARIS, start, 4 * HOUR, on_hold) is None
    # 1 h is reached at 10:00, as the pause starts.
    assert add_business_seconds(OFFICE_PARIS, start, HOUR, on_hold) == at(PARIS, "2026-06-09 10:00")
    # Measured up to 15:00, the running pause counts up to 15:00: 09:00-10:00 only.
    assert business_seconds(OFFICE_PARIS, start, at(PARIS, "2026-06-09 15:00"), on_hold) == 3600


def test_overlapping_pauses_are_subtracted_once() -> None:
    start = at(PARIS, "2026-06-09 09:00")
    on_hold = [
        (at(PARIS, "2026-06-09 10:00"), at(PARIS, "2026-06-09 12:00")),
        (at(PARIS, "2026-06-09 13:00"), at(PARIS, "2026-06-09 13:30")),
        (at(PARIS, "2026-06-09 11:00"), at(PARIS, "2026-06-09 14:00")),
        (at(PARIS, "2026-06-09 11:00"), at(PARIS, "2026-06-09 14:00")),
    ]
    # Union 10:00-14:00. 09:00-17:00 is 8 h - 4 h = 4 h (subtracting each would leave 0 h).
    assert business_seconds(OFFICE_PARIS, start, at(PARIS, "2026-06-09 17:00"), on_hold) == 14400
    assert add_business_seconds(OFFICE_PARIS, start, 4 * HOUR, on_hold) == at(
        PARIS, "2026-06-09 17:00"
    )


def test_pauses_in_closed_time_or_before_the_start_change_nothing() -> None:
    start = at(PARIS, "2026-06-09 06:30")
    on_hold = [
        (at(PARIS, "2026-06-08 10:00"), at(PARIS, "2026-06-09 07:00")),  # ends before opening
        (at(PARIS, "2026-06-09 12:00"), at(PARIS, "2026-06-09 13:00")),  # over lunch
    ]
    # 08:00-12:00 is 4 h, lunch, 13:00 + 1 h = 14:00, as without the pauses.
    assert add_business_seconds(LUNCH_PARIS, start, 5 * HOUR, on_hold) == at(
        PARIS, "2026-06-09 14:00"
    )


def test_pause_ending_before_it_starts_is_refused() -> None:
    backwards = [(at(PARIS, "2026-06-09 12:00"), at(PARIS, "2026-06-09 11:00"))]
    with pytest.raises(ValueError, match="ends before it starts"):
        business_seconds(
            OFFICE_PARIS, at(PARIS, "2026-06-09 09:00"), at(PARIS, "2026-06-09 17:00"), backwards
        )


# --- time zones --------------------------------------------------------------------------------


def test_same_instant_means_different_hours_at_different_sites() -> None:
    instant = utc("2026-06-09 13:00")  # Tue: 15:00 in Paris, 09:00 in New York, 18:30 in Kolkata
    # Paris: 15:00-17:00 is 2 h, Wed 08:00 + 2 h = Wed 10:00 CEST = 08:00 UTC.
    assert add_business_seconds(OFFICE_PARIS, instant, 4 * HOUR) == utc("2026-06-10 08:00")
    # New York: 09:00 + 4 h = 13:00 EDT = 17:00 UTC, the same day.
    assert add_business_seconds(OFFICE_NEW_YORK, instant, 4 * HOUR) == utc("2026-06-09 17:00")
    # Kolkata: closed at 18:30; Wed 08:00 + 4 h = 12:00 IST = 06:30 UTC.
    assert add_business_seconds(OFFICE_KOLKATA, instant, 4 * HOUR) == utc("2026-06-10 06:30")
    # 13:00-20:00 UTC: Paris 15:00-22:00 (2 h open), New York 09:00-16:00 (7 h), Kolkata
    # 18:30-01:30 (closed).
    later = utc("2026-06-09 20:00")
    assert business_seconds(OFFICE_PARIS, instant, later) == 7200
    assert business_seconds(OFFICE_NEW_YORK, instant, later) == 25200
    assert business_seconds(OFFICE_KOLKATA, instant, later) == 0


def test_kolkata_half_hour_offset() -> None:
    # 08:00-17:00 IST is 02:30-11:30 UTC.
    assert list(
        open_intervals(OFFICE_KOLKATA, utc("2026-06-09 00:00"), utc("2026-06-10 00:00"))
    ) == [(utc("2026-06-09 02:30"), utc("2026-06-09 11:30"))]
    # Tue 16:00 IST + 2 h: 1 h, then Wed 08:00 + 1 h = 09:00 IST = 03:30 UTC.
    assert add_business_seconds(OFFICE_KOLKATA, at(KOLKATA, "2026-06-09 16:00"), 2 * HOUR) == (
        utc("2026-06-10 03:30")
    )


# --- daylight saving time ----------------------------------------------------------------------


def test_paris_spring_forward_day_is_23_hours_around_the_clock() -> None:
    # Sun 29 Mar 00:00 CET = Sat 23:00 UTC; Mon 30 Mar 00:00 CEST = Sun 22:00 UTC: 23 h.
    assert business_seconds(ALWAYS_PARIS, utc("2026-03-28 23:00"), utc("2026-03-29 22:00")) == (
        82800
    )
    # Sat 12:00 CET (11:00 UTC) + 24 h = Sun 11:00 UTC = 13:00 CEST.
    assert add_business_seconds(ALWAYS_PARIS, utc("2026-03-28 11:00"), 24 * HOUR) == utc(
        "2026-03-29 11:00"
    )


def test_paris_fall_back_day_is_25_hours_around_the_clock() -> None:
    # Sun 25 Oct 00:00 CEST = Sat 22:00 UTC; Mon 26 Oct 00:00 CET = Sun 23:00 UTC: 25 h.
    assert business_seconds(ALWAYS_PARIS, utc("2026-10-24 22:00"), utc("2026-10-25 23:00")) == (
        90000
    )


def test_paris_change_days_keep_nine_office_hours() -> None:
    # Sun 29 Mar: 08:00-17:00 CEST = 06:00-15:00 UTC; the day before, CET: 07:00-16:00 UTC.
    assert list(
        open_intervals(EVERY_DAY_PARIS, utc("2026-03-28 00:00"), utc("2026-03-30 00:00"))
    ) == [
        (utc("2026-03-28 07:00"), utc("2026-03-28 16:00")),
        (utc("2026-03-29 06:00"), utc("2026-03-29 15:00")),
    ]
    # Sun 25 Oct: 08:00-17:00 CET = 07:00-16:00 UTC: 9 h.
    assert business_seconds(EVERY_DAY_PARIS, utc("2026-10-25 00:00"), utc("2026-10-26 00:00")) == (
        32400
    )
    # Fri 27 Mar 16:00 CET (15:00 UTC) + 2 h: 1 h, Mon 30 Mar 08:00 + 1 h = 09:00 CEST = 07:00 UTC.
    assert add_business_seconds(OFFICE_PARIS, utc("2026-03-27 15:00"), 2 * HOUR) == utc(
        "2026-03-30 07:00"
    )
    # Fri 23 Oct 16:00 CEST (14:00 UTC) + 2 h: 1 h, Mon 26 Oct 09:00 CET = 08:00 UTC.
    assert add_business_seconds(OFFICE_PARIS, utc("2026-10-23 14:00"), 2 * HOUR) == utc(
        "2026-10-26 08:00"
    )


def test_open_hours_straddling_the_change_count_real_time() -> None:
    nights = every_day("Europe/Paris", (time(1), time(5)))
    # 29 Mar: 01:00 CET = 00:00 UTC to 05:00 CEST = 03:00 UTC: 3 h, not 4.
    assert list(open_intervals(nights, utc("2026-03-28 12:00"), utc("2026-03-29 12:00"))) == [
        (utc("2026-03-29 00:00"), utc("2026-03-29 03:00"))
    ]
    # 25 Oct: 01:00 CEST = 24 Oct 23:00 UTC to 05:00 CET = 04:00 UTC: 5 h.
    assert business_seconds(nights, utc("2026-10-24 12:00"), utc("2026-10-25 12:00")) == 18000


def test_nonexistent_and_ambiguous_wall_times_are_read_with_fold_0() -> None:
    late = every_day("Europe/Paris", (time(2, 30), time(4)))
    # 29 Mar 02:30 does not exist; read with CET (+1) it is 01:30 UTC (03:30 CEST).
    # 04:00 CEST = 02:00 UTC: 30 min.
    assert list(open_intervals(late, utc("2026-03-28 12:00"), utc("2026-03-29 12:00"))) == [
        (utc("2026-03-29 01:30"), utc("2026-03-29 02:00"))
    ]
    # 25 Oct 02:30 happens twice; the first, CEST (+2), is 00:30 UTC. 04:00 CET = 03:00 UTC.
    assert list(open_intervals(late, utc("2026-10-24 12:00"), utc("2026-10-25 12:00"))) == [
        (utc("2026-10-25 00:30"), utc("2026-10-25 03:00"))
    ]


def test_intervals_overlapping_after_a_gap_count_once() -> None:
    split = every_day("Europe/Paris", (time(1), time(2, 45)), (time(3), time(4)))
    # 29 Mar: 01:00 CET = 00:00 UTC to 02:45 read as CET = 01:45 UTC; 03:00 CEST = 01:00 UTC to
    # 04:00 CEST = 02:00 UTC. The union is 00:00-02:00 UTC: 2 h, not 2 h 45.
    assert list(open_intervals(split, utc("2026-03-28 12:00"), utc("2026-03-29 12:00"))) == [
        (utc("2026-03-29 00:00"), utc("2026-03-29 02:00"))
    ]
    assert business_seconds(split, utc("2026-03-28 12:00"), utc("2026-03-29 12:00")) == 7200
    # A week earlier (CET): 00:00-01:45 and 02:00-03:00 UTC.
    assert list(open_intervals(split, utc("2026-03-21 12:00"), utc("2026-03-22 12:00"))) == [
        (utc("2026-03-22 00:00"), utc("2026-03-22 01:45")),
        (utc("2026-03-22 02:00"), utc("2026-03-22 03:00")),
    ]


def test_new_york_spring_forward() -> None:
    # Sat 7 Mar 12:00 EST (17:00 UTC) + 24 h = Sun 8 Mar 17:00 UTC = 13:00 EDT.
    assert add_business_seconds(ALWAYS_NEW_YORK, utc("2026-03-07 17:00"), 24 * HOUR) == utc(
        "2026-03-08 17:00"
    )
    # Sun 8 Mar 00:00 EST = 05:00 UTC; Mon 9 Mar 00:00 EDT = 04:00 UTC: 23 h.
    assert business_seconds(ALWAYS_NEW_YORK, utc("2026-03-08 05:00"), utc("2026-03-09 04:00")) == (
        82800
    )
    # Fri 6 Mar 16:00 EST (21:00 UTC) + 2 h: 1 h, Mon 9 Mar 09:00 EDT = 13:00 UTC.
    assert add_business_seconds(OFFICE_NEW_YORK, utc("2026-03-06 21:00"), 2 * HOUR) == utc(
        "2026-03-09 13:00"
    )


def test_new_york_fall_back() -> None:
    # Sat 31 Oct 12:00 EDT (16:00 UTC) + 24 h = Sun 1 Nov 16:00 UTC = 11:00 EST.
    assert add_business_seconds(ALWAYS_NEW_YORK, utc("2026-10-31 16:00"), 24 * HOUR) == utc(
        "2026-11-01 16:00"
    )
    # Sun 1 Nov 00:00 EDT = 04:00 UTC; Mon 2 Nov 00:00 EST = 05:00 UTC: 25 h.
    assert business_seconds(ALWAYS_NEW_YORK, utc("2026-11-01 04:00"), utc("2026-11-02 05:00")) == (
        90000
    )
    # Fri 30 Oct 16:00 EDT (20:00 UTC) + 2 h: 1 h, Mon 2 Nov 09:00 EST = 14:00 UTC.
    assert add_business_seconds(OFFICE_NEW_YORK, utc("2026-10-30 20:00"), 2 * HOUR) == utc(
        "2026-11-02 14:00"
    )


# --- the SLA clock: warning, breach, pause -----------------------------------------------------

# Started Tue 08:00 with a 10 h target: warning at 0.8 x 10 h = 8 h, Tue 16:00; breach after
# Tue's 9 h and 1 h on Wednesday, Wed 09:00.
STARTED = at(PARIS, "2026-06-09 08:00")


@pytest.mark.parametrize(
    ("now", "elapsed_s", "state"),
    [
        ("2026-06-09 08:00", 0, SlaState.OK),
        ("2026-06-09 15:59:59", 28799, SlaState.OK),
        ("2026-06-09 16:00", 28800, SlaState.WARNING),
        ("2026-06-09 20:00", 32400, SlaState.WARNING),  # closed: stays at 9 h
        ("2026-06-10 08:59:59", 35999, SlaState.WARNING),
        ("2026-06-10 09:00", 36000, SlaState.BREACHED),
        ("2026-06-11 08:00", 64800, SlaState.BREACHED),  # Tue 9 h + Wed 9 h
    ],
)
def test_state_goes_ok_warning_breached(now: str, elapsed_s: int, state: SlaState) -> None:
    status = sla_status(OFFICE_PARIS, STARTED, 10 * HOUR, at(PARIS, now))
    assert status.state == state
    assert status.elapsed_s == elapsed_s
    assert status.remaining_s == max(36000 - elapsed_s, 0)
    assert status.share == elapsed_s / 36000
    assert status.warn_at == at(PARIS, "2026-06-09 16:00")
    assert status.deadline == at(PARIS, "2026-06-10 09:00")


def test_state_values_are_the_plain_strings() -> None:
    status = sla_status(OFFICE_PARIS, STARTED, 10 * HOUR, at(PARIS, "2026-06-09 16:00"))
    assert status.state == "warning"
    assert status.share == 0.8


def test_warning_threshold_rounds_up_to_a_whole_second() -> None:
    # 0.333 x 7200 s = 2397.6 s -> 2398 s = 39 min 58 s: 08:39:58.
    def status_at(now: str) -> SlaState:
        return sla_status(OFFICE_PARIS, STARTED, 7200, at(PARIS, now), warn_share=0.333).state

    assert sla_status(OFFICE_PARIS, STARTED, 7200, STARTED, warn_share=0.333).warn_at == at(
        PARIS, "2026-06-09 08:39:58"
    )
    assert status_at("2026-06-09 08:39:57") == SlaState.OK
    assert status_at("2026-06-09 08:39:58") == SlaState.WARNING
    # A share of 1 warns at the deadline, 08:00 + 2 h.
    whole = sla_status(OFFICE_PARIS, STARTED, 7200, STARTED, warn_share=1)
    assert whole.warn_at == whole.deadline == at(PARIS, "2026-06-09 10:00")


def test_on_hold_clock_is_paused_without_deadline() -> None:
    started = at(PARIS, "2026-06-09 09:00")
    on_hold = [(at(PARIS, "2026-06-09 10:00"), None)]
    status = sla_status(OFFICE_PARIS, started, 4 * HOUR, at(PARIS, "2026-06-09 15:00"), on_hold)
    # 09:00-10:00 ran; the 0.8 x 4 h = 3.2 h warning is never reached either.
    assert status.state == SlaState.PAUSED
    assert (status.elapsed_s, status.remaining_s, status.share) == (3600, 10800, 0.25)
    assert status.deadline is None
    assert status.warn_at is None


def test_resumed_clock_has_a_deadline_again() -> None:
    started = at(PARIS, "2026-06-09 09:00")
    on_hold = [(at(PARIS, "2026-06-09 10:00"), at(PARIS, "2026-06-09 14:00"))]

    def status_at(now: str) -> SlaStatus:
        return sla_status(OFFICE_PARIS, started, 4 * HOUR, at(PARIS, now), on_hold)

    # Warning at 3.2 h = 11520 s: 1 h before the pause, then 14:00 + 2.2 h = 16:12.
    # Deadline: 14:00 + 3 h = 17:00.
    during = status_at("2026-06-09 12:00")
    assert (during.state, during.elapsed_s) == (SlaState.PAUSED, 3600)
    assert during.deadline == at(PARIS, "2026-06-09 17:00")
    assert during.warn_at == at(PARIS, "2026-06-09 16:12")
    after = status_at("2026-06-09 14:30")
    assert (after.state, after.elapsed_s) == (SlaState.OK, 5400)
    assert status_at("2026-06-09 16:12").state == SlaState.WARNING
    assert status_at("2026-06-09 17:00").state == SlaState.BREACHED


def test_breach_outranks_pause() -> None:
    started = at(PARIS, "2026-06-09 09:00")
    on_hold = [(at(PARIS, "2026-06-09 11:00"), None)]
    status = sla_status(OFFICE_PARIS, started, HOUR, at(PARIS, "2026-06-09 15:00"), on_hold)
    # 09:00-11:00 ran: 2 h of a 1 h target, breached at 10:00, warned at 0.8 h = 09:48.
    assert status.state == SlaState.BREACHED
    assert (status.elapsed_s, status.remaining_s, status.share) == (7200, 0, 2.0)
    assert status.deadline == at(PARIS, "2026-06-09 10:00")
    assert status.warn_at == at(PARIS, "2026-06-09 09:48")


def test_warned_then_paused_keeps_warn_at() -> None:
    on_hold = [(at(PARIS, "2026-06-09 12:00"), None)]
    status = sla_status(OFFICE_PARIS, STARTED, 5 * HOUR, at(PARIS, "2026-06-09 14:00"), on_hold)
    # 0.8 x 5 h = 4 h: reached at 12:00, as the pause starts; the 5 h never are.
    assert status.state == SlaState.PAUSED
    assert status.warn_at == at(PARIS, "2026-06-09 12:00")
    assert status.deadline is None


# --- refused input -----------------------------------------------------------------------------

NAIVE = datetime(2026, 6, 9, 9, 0)  # noqa: DTZ001
AWARE = at(PARIS, "2026-06-09 09:00")


@pytest.mark.parametrize(
    "call",
    [
        lambda: business_seconds(OFFICE_PARIS, NAIVE, AWARE),
        lambda: business_seconds(OFFICE_PARIS, AWARE, NAIVE),
        lambda: business_seconds(OFFICE_PARIS, AWARE, AWARE, [(NAIVE, None)]),
        lambda: business_seconds(OFFICE_PARIS, AWARE, AWARE, [(AWARE, NAIVE)]),
        lambda: add_business_seconds(OFFICE_PARIS, NAIVE, 60),
        lambda: open_intervals(OFFICE_PARIS, NAIVE, AWARE),
        lambda: sla_status(OFFICE_PARIS, NAIVE, 60, AWARE),
        lambda: sla_status(OFFICE_PARIS, AWARE, 60, NAIVE),
    ],
)
def test_naive_datetimes_are_refused(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="aware datetime"):
        call()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: BusinessCalendar("Mars/Olympus", {}), "unknown time zone"),
        (lambda: BusinessCalendar("UTC", {7: ((time(8), time(9)),)}), "weekday"),
        (lambda: BusinessCalendar("UTC", {0: ((time(9), time(8)),)}), "not before"),
        (
            lambda: BusinessCalendar("UTC", {0: ((time(8), time(12)), (time(11), time(13)))}),
            "overlap",
        ),
        (lambda: BusinessCalendar("UTC", {0: ((time(8, tzinfo=UTC), time(9)),)}), "wall-clock"),
        (
            lambda: BusinessCalendar(
                "UTC", {0: ((time(8), time(9)), (time(10, tzinfo=UTC), time(11)))}
            ),
            "wall-clock",
        ),
    ],
)
def test_bad_calendars_are_refused(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_amounts_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_business_seconds(OFFICE_PARIS, AWARE, -1)
    with pytest.raises(ValueError, match="target_seconds"):
        sla_status(OFFICE_PARIS, AWARE, 0, AWARE)
    with pytest.raises(ValueError, match="warn_share"):
        sla_status(OFFICE_PARIS, AWARE, 60, AWARE, warn_share=0)
    with pytest.raises(ValueError, match="warn_share"):
        sla_status(OFFICE_PARIS, AWARE, 60, AWARE, warn_share=1.5)


def test_never_open_calendar() -> None:
    closed = BusinessCalendar("Europe/Paris", {})
    assert business_seconds(closed, AWARE, AWARE + timedelta(days=30)) == 0
    with pytest.raises(ValueError, match="never open"):
        add_business_seconds(closed, AWARE, 60)


def test_zero_seconds_is_the_start_itself() -> None:
    saturday = at(PARIS, "2026-06-13 10:00")
    assert add_business_seconds(OFFICE_PARIS, saturday, 0) == saturday
    assert business_seconds(OFFICE_PARIS, saturday, saturday - timedelta(hours=1)) == 0


# --- properties --------------------------------------------------------------------------------

PROPERTY_CALENDARS = [
    BusinessCalendar(
        "Europe/Paris",
        LUNCH_PARIS.hours,
        frozenset({date(2026, 3, 30), date(2026, 5, 1), date(2026, 12, 25)}),
    ),
    OFFICE_NEW_YORK,
    BusinessCalendar.always("Asia/Kolkata"),
    every_day("Europe/Paris", (time(1), time(2, 45)), (time(3), time(4)), (time(22), END_OF_DAY)),
]
# The Fridays before the 2026 DST changes in New York and Paris, and Christmas 2025.
CHANGE_WEEKENDS = [
    utc("2026-03-06 00:00"),
    utc("2026-03-27 00:00"),
    utc("2026-10-23 00:00"),
    utc("2026-10-30 00:00"),
    utc("2025-12-23 00:00"),
]
STEP = timedelta(minutes=5)
# Whole five-minute steps, mostly around the DST changes.
STEP_INSTANTS = st.builds(
    lambda base, steps: base + steps * STEP,
    st.sampled_from(CHANGE_WEEKENDS),
    st.integers(0, 4 * 288),
)
INSTANTS = st.one_of(
    st.datetimes(
        min_value=datetime(2026, 1, 1),  # noqa: DTZ001
        max_value=datetime(2026, 12, 31),  # noqa: DTZ001
        timezones=st.sampled_from([UTC, PARIS, NEW_YORK]),
    ),
    STEP_INSTANTS,
)
PAUSE_SPECS = st.lists(
    st.tuples(
        st.integers(-86400, 10 * 86400),  # start, seconds from the clock's start
        st.none() | st.integers(0, 3 * 86400),  # length, None while running
    ),
    min_size=1,
    max_size=3,
)
PROPERTY_SETTINGS = settings(max_examples=50, deadline=None)


def assert_round_trip(
    calendar: BusinessCalendar,
    start: datetime,
    seconds: int,
    pauses: list[tuple[datetime, datetime | None]],
) -> None:
    deadline = add_business_seconds(calendar, start, seconds, pauses)
    if deadline is None:
        # Only a running pause can stop the clock short of the amount.
        assert any(end is None for _, end in pauses)
        assert business_seconds(calendar, start, start + timedelta(days=60), pauses) < seconds
        return
    assert business_seconds(calendar, start, deadline, pauses) == seconds
    if seconds:
        # And it is the earliest such instant.
        before = deadline - timedelta(microseconds=1)
        assert business_seconds(calendar, start, before, pauses) == seconds - 1


@PROPERTY_SETTINGS
@given(
    calendar=st.sampled_from(PROPERTY_CALENDARS),
    start=INSTANTS,
    seconds=st.integers(0, 200_000),
)
def test_adding_then_measuring_round_trips(
    calendar: BusinessCalendar, start: datetime, seconds: int
) -> None:
    assert_round_trip(calendar, start, seconds, [])


@PROPERTY_SETTINGS
@given(
    calendar=st.sampled_from(PROPERTY_CALENDARS),
    start=INSTANTS,
    seconds=st.integers(0, 200_000),
    pause_specs=PAUSE_SPECS,
)
def test_adding_then_measuring_round_trips_with_pauses(
    calendar: BusinessCalendar,
    start: datetime,
    seconds: int,
    pause_specs: list[tuple[int, int | None]],
) -> None:
    # Offsets in real time: adding to a local wall-clock time near a DST gap is not.
    base = start.astimezone(UTC)
    pauses = [
        (
            base + timedelta(seconds=offset),
            None if length is None else base + timedelta(seconds=offset + length),
        )
        for offset, length in pause_specs
    ]
    assert_round_trip(calendar, start, seconds, pauses)


# Calendars without open hours at a DST gap, where a wall-clock reading is unambiguous.
COUNTED_CALENDARS = [
    PROPERTY_CALENDARS[0],
    OFFICE_NEW_YORK,
    HOLIDAYS_PARIS,
    ALWAYS_PARIS,
    BusinessCalendar.weekdays(time(20), END_OF_DAY, "America/New_York"),
]


def counted_seconds(
    calendar: BusinessCalendar,
    start: datetime,
    end: datetime,
    pauses: list[tuple[datetime, datetime]],
) -> int:
    """An independent oracle: walk [start, end) in five-minute steps (all boundaries here are
    whole steps) and count a step when its local wall-clock time is open and it is not paused."""
    zone = ZoneInfo(calendar.time_zone)
    steps = 0
    instant = start
    while instant < end:
        local = instant.astimezone(zone)
        is_open = local.date() not in calendar.holidays and any(
            open_at <= local.time() < close_at
            for open_at, close_at in calendar.hours.get(local.weekday(), ())
        )
        is_paused = any(pause_start <= instant < pause_end for pause_start, pause_end in pauses)
        steps += is_open and not is_paused
        instant += STEP
    return steps * 300


@PROPERTY_SETTINGS
@given(
    calendar=st.sampled_from(COUNTED_CALENDARS),
    start=STEP_INSTANTS,
    length_steps=st.integers(0, 3 * 288),
    pause_steps=st.lists(st.tuples(st.integers(-288, 3 * 288), st.integers(0, 288)), max_size=3),
)
def test_measuring_matches_counting_steps(
    calendar: BusinessCalendar,
    start: datetime,
    length_steps: int,
    pause_steps: list[tuple[int, int]],
) -> None:
    end = start + length_steps * STEP
    pauses = [
        (start + offset * STEP, start + (offset + length) * STEP) for offset, length in pause_steps
    ]
    assert business_seconds(calendar, start, end, pauses) == counted_seconds(
        calendar, start, end, pauses
    )
