"""Cron expressions: cron-faithful fire times (cronsim), errors naming the field, DST, and the
APScheduler adapter computing the same times as the preview."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from finapp.services import cron
from finapp.services.cron import CronTrigger, InvalidCron
from finapp.services.errors import InvalidInput

BERLIN = ZoneInfo("Europe/Berlin")
# A Sunday noon in Berlin: every "next" below starts from here, so the results never depend
# on the day the tests run.
SUNDAY_NOON = datetime(2026, 5, 3, 12, 0, tzinfo=BERLIN)
MONDAY, FRIDAY, SATURDAY, SUNDAY = 0, 4, 5, 6


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


# -- weekdays, names, steps, lists, aliases -------------------------------------------------------


def test_weekdays_1_to_5_fire_monday_to_friday_at_0900_in_the_jobs_zone() -> None:
    assert SUNDAY_NOON.weekday() == SUNDAY
    runs = cron.next_runs("0 9 * * 1-5", "Europe/Berlin", count=10, after=SUNDAY_NOON)
    assert [r.weekday() for r in runs] == [0, 1, 2, 3, 4] * 2  # two full weeks, no weekend
    assert {(r.hour, r.minute, r.second) for r in runs} == {(9, 0, 0)}
    assert {r.utcoffset() for r in runs} == {timedelta(hours=2)}  # Berlin summer time
    assert [r.date() for r in runs] == [
        date(2026, 5, d) for d in (4, 5, 6, 7, 8, 11, 12, 13, 14, 15)
    ]
    # 09:00 Berlin in May is 07:00 UTC, not 09:00 UTC: the job's zone is used.
    assert utc(runs[0]) == datetime(2026, 5, 4, 7, 0, tzinfo=UTC)


def test_the_same_expression_in_another_zone_fires_at_that_zones_0900() -> None:
    runs = cron.next_runs("0 9 * * 1-5", "America/New_York", count=5, after=SUNDAY_NOON)
    assert [r.weekday() for r in runs] == [0, 1, 2, 3, 4]
    assert utc(runs[0]) == datetime(2026, 5, 4, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize("expression", ["0 0 * * 0", "0 0 * * 7", "0 0 * * sun", "@weekly"])
def test_day_of_week_0_and_7_and_sun_all_mean_sunday(expression: str) -> None:
    runs = cron.next_runs(expression, "Europe/Berlin", count=3, after=SUNDAY_NOON)
    assert [r.weekday() for r in runs] == [SUNDAY] * 3
    assert [r.date() for r in runs] == [date(2026, 5, 10), date(2026, 5, 17), date(2026, 5, 24)]
    assert {(r.hour, r.minute) for r in runs} == {(0, 0)}


def test_weekday_and_month_names_are_accepted_case_insensitively() -> None:
    assert cron.next_runs("0 9 * * mon-fri", "UTC", 10, SUNDAY_NOON) == cron.next_runs(
        "0 9 * * 1-5", "UTC", 10, SUNDAY_NOON
    )
    assert cron.parse_cron("0 9 * * MON-FRI") == "0 9 * * MON-FRI"
    runs = cron.next_runs("0 9 1 jan *", "UTC", count=2, after=SUNDAY_NOON)
    assert runs == [
        datetime(2027, 1, 1, 9, tzinfo=ZoneInfo("UTC")),
        datetime(2028, 1, 1, 9, tzinfo=ZoneInfo("UTC")),
    ]


def test_minute_step_fires_every_15_minutes() -> None:
    runs = cron.next_runs("*/15 * * * *", "UTC", count=6, after=SUNDAY_NOON)
    assert [(r.hour, r.minute) for r in runs] == [
        (10, 15),  # SUNDAY_NOON is 10:00 UTC; "after" is strict
        (10, 30),
        (10, 45),
        (11, 0),
        (11, 15),
        (11, 30),
    ]


def test_lists_and_ranges_combine() -> None:
    runs = cron.next_runs("0,30 9-10 * * 1,3", "Europe/Berlin", count=8, after=SUNDAY_NOON)
    assert [(r.weekday(), r.hour, r.minute) for r in runs] == [
        (MONDAY, 9, 0),
        (MONDAY, 9, 30),
        (MONDAY, 10, 0),
        (MONDAY, 10, 30),
        (2, 9, 0),
        (2, 9, 30),
        (2, 10, 0),
        (2, 10, 30),
    ]


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@DAILY", "0 0 * * *"),
    ],
)
def test_aliases_expand_to_their_five_field_meaning(alias: str, expected: str) -> None:
    assert cron.parse_cron(alias) == expected


def test_alias_fire_times() -> None:
    hourly = cron.next_runs("@hourly", "UTC", 3, SUNDAY_NOON)
    assert [utc(r) for r in hourly] == [datetime(2026, 5, 3, h, tzinfo=UTC) for h in (11, 12, 13)]
    daily = cron.next_runs("@daily", "Europe/Berlin", 2, SUNDAY_NOON)
    assert [(r.date(), r.hour) for r in daily] == [(date(2026, 5, 4), 0), (date(2026, 5, 5), 0)]
    monthly = cron.next_runs("@monthly", "Europe/Berlin", 2, SUNDAY_NOON)
    assert [r.date() for r in monthly] == [date(2026, 6, 1), date(2026, 7, 1)]


def test_whitespace_is_normalised() -> None:
    assert cron.parse_cron("  0   9 *\t* 1-5 ") == "0 9 * * 1-5"


# -- invalid expressions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "field"),
    [
        ("60 * * * *", "minute"),
        ("-1 * * * *", "minute"),
        ("*/0 * * * *", "minute"),
        ("a * * * *", "minute"),
        ("0 24 * * *", "hour"),
        ("0 9-7 * * *", "hour"),
        ("0 0 32 * *", "day-of-month"),
        ("0 0 0 * *", "day-of-month"),
        ("0 0 ? * *", "day-of-month"),
        ("0 0 * 13 *", "month"),
        ("0 0 * foo *", "month"),
        ("0 0 * * 8", "day-of-week"),
        ("0 0 * * mon-xyz", "day-of-week"),
    ],
)
def test_invalid_field_raises_invalid_cron_naming_the_field(expression: str, field: str) -> None:
    with pytest.raises(InvalidCron) as error:
        cron.parse_cron(expression)
    message = str(error.value)
    assert f"The {field} field" in message
    others = [f for f in cron.FIELDS if f != field and f not in field]
    assert not any(f"The {other} field" in message for other in others)
    assert cron.ALLOWED[field] in message  # says what is allowed


@pytest.mark.parametrize("expression", ["0 0 31 2 *", "0 0 30 feb *", "0 0 31 4,6 *"])
def test_an_impossible_date_is_explained_as_such(expression: str) -> None:
    with pytest.raises(InvalidCron) as error:
        cron.parse_cron(expression)
    message = str(error.value)
    parts = expression.split()
    assert f"The day-of-month {parts[2]!r} never occurs in month {parts[3]!r}" in message
    assert "allowed: 1-31" not in message  # the value *is* within 1-31: the date is the problem


def test_a_day_that_exists_in_some_listed_month_is_accepted() -> None:
    runs = cron.next_runs("0 0 31 2,3 *", "UTC", count=2, after=SUNDAY_NOON)
    assert [r.date() for r in runs] == [date(2027, 3, 31), date(2028, 3, 31)]


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("* * * *", "got 4"),
        ("0 9 * * 1-5 *", "got 6"),  # 6 fields (seconds or years) are refused, not guessed
        ("0 0 9 * * 1-5", "got 6"),
        ("*", "got 1"),
        ("@reboot", "Unknown shortcut"),
        ("@every 5m", "Unknown shortcut"),
        ("x" * 121, "longer than 120"),
    ],
)
def test_wrong_shape_raises_invalid_cron(expression: str, words: str) -> None:
    with pytest.raises(InvalidCron, match=words):
        cron.parse_cron(expression)


def test_invalid_cron_is_an_invalid_input() -> None:
    assert issubclass(InvalidCron, InvalidInput)


@pytest.mark.parametrize("zone", ["", "Europe/Nowhere", "europe/berlin", "../../etc/passwd"])
def test_unknown_time_zone_is_rejected(zone: str) -> None:
    with pytest.raises(InvalidInput, match="Unknown time zone"):
        cron.parse_timezone(zone)
    with pytest.raises(InvalidInput, match="Unknown time zone"):
        CronTrigger("0 9 * * *", zone)
    with pytest.raises(InvalidInput, match="Unknown time zone"):
        cron.next_runs("0 9 * * *", zone)


def test_known_zone_is_accepted_with_surrounding_spaces() -> None:
    assert cron.parse_timezone(" Europe/Berlin ") == BERLIN


# -- descriptions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "text"),
    [
        ("0 9 * * 1-5", "At 09:00 on Monday through Friday"),
        ("0 9 * * mon-fri", "At 09:00 on Monday through Friday"),
        ("0 0 * * 0", "At 00:00 on Sunday"),
        ("0 0 * * 7", "At 00:00 on Sunday"),
        ("@daily", "At 00:00 every day"),
        ("@hourly", "At the start of every hour"),
        ("@monthly", "At 00:00 on the first day of every month"),
        ("*/15 * * * *", "Every 15th minute of every hour"),
    ],
)
def test_describe_gives_readable_text(expression: str, text: str) -> None:
    assert cron.describe(expression) == text


def test_describe_validates_first() -> None:
    with pytest.raises(InvalidCron, match="hour"):
        cron.describe("0 25 * * *")


# -- daylight saving time (Europe/Berlin) ---------------------------------------------------------


def test_spring_forward_0230_fires_exactly_once_at_0300_local() -> None:
    # 2026-03-29: clocks jump from 02:00 to 03:00, so 02:30 does not exist. cronsim (like cron)
    # runs the job once, at 03:00 local (01:00 UTC) — APScheduler 3's own trigger picks 03:30.
    runs = cron.next_runs(
        "30 2 * * *", "Europe/Berlin", count=3, after=datetime(2026, 3, 28, 12, tzinfo=BERLIN)
    )
    that_day = [r for r in runs if r.date() == date(2026, 3, 29)]
    assert len(that_day) == 1
    assert (that_day[0].hour, that_day[0].minute) == (3, 0)
    assert utc(that_day[0]) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    # The days around it are the normal 02:30.
    assert [utc(r) for r in runs] == [
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        datetime(2026, 3, 30, 0, 30, tzinfo=UTC),
        datetime(2026, 3, 31, 0, 30, tzinfo=UTC),
    ]


def test_fall_back_0230_fires_exactly_once_at_the_first_0230() -> None:
    # 2026-10-25: 02:00–03:00 happens twice. cron fires once, at the first (summer-time) 02:30.
    runs = cron.next_runs(
        "30 2 * * *", "Europe/Berlin", count=3, after=datetime(2026, 10, 24, 12, tzinfo=BERLIN)
    )
    that_day = [r for r in runs if r.date() == date(2026, 10, 25)]
    assert len(that_day) == 1
    assert utc(that_day[0]) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    assert [utc(r) for r in runs] == [
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        datetime(2026, 10, 26, 1, 30, tzinfo=UTC),
        datetime(2026, 10, 27, 1, 30, tzinfo=UTC),
    ]


def test_fall_back_0230_through_the_apscheduler_trigger_chain_fires_once() -> None:
    # What APScheduler does: ask again with the previous fire time each time.
    trigger = CronTrigger("30 2 * * *", "Europe/Berlin")
    now = datetime(2026, 10, 24, 12, tzinfo=UTC)
    fires, previous = [], None
    for _ in range(3):
        previous = trigger.get_next_fire_time(previous, now)
        fires.append(utc(previous))
    assert [f for f in fires if f.date() == date(2026, 10, 25)] == [
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    ]


def test_hourly_over_fall_back_fires_once_per_utc_hour_without_duplicates() -> None:
    start = datetime(2026, 10, 25, 0, 0, tzinfo=UTC)
    end = datetime(2026, 10, 25, 4, 0, tzinfo=UTC)
    trigger = CronTrigger("0 * * * *", "Europe/Berlin")
    # Inclusive of the start: begin one microsecond before it.
    fires = cron.fire_times_between(trigger, start - timedelta(microseconds=1), end)
    instants = [utc(f) for f in fires]
    assert instants == [start + timedelta(hours=h) for h in range(5)]  # 00,01,02,03,04 UTC
    assert len(set(instants)) == len(instants)  # no two fires at the same instant
    # Local 02:00 legitimately occurs twice (CEST then CET): two different hours, one fire each.
    # NB: Python compares datetimes sharing a tzinfo by wall time, so fires[0] == fires[1]
    # is True even though they are an hour apart — compare in UTC.
    assert [(f.hour, f.utcoffset()) for f in fires[:2]] == [
        (2, timedelta(hours=2)),
        (2, timedelta(hours=1)),
    ]
    # The same through the APScheduler chain.
    chain, previous = [], None
    for _ in range(5):
        previous = trigger.get_next_fire_time(previous, start - timedelta(minutes=1))
        chain.append(utc(previous))
    assert chain == instants


# -- the APScheduler adapter ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "zone"),
    [("0 9 * * 1-5", "Europe/Berlin"), ("0 0 * * 0", "America/New_York"), ("*/15 * * * *", "UTC")],
)
def test_trigger_next_fire_time_equals_first_of_next_runs(expression: str, zone: str) -> None:
    trigger = CronTrigger(expression, zone)
    now = datetime(2026, 5, 3, 10, 7, 13, tzinfo=UTC)
    expected = cron.next_runs(expression, zone, count=5, after=now)
    assert trigger.get_next_fire_time(None, now) == expected[0]
    chain, previous = [], None
    for _ in range(5):
        previous = trigger.get_next_fire_time(previous, now)
        chain.append(previous)
    assert chain == expected


def test_apscheduler_schedules_the_job_at_the_previewed_time() -> None:
    clock = BackgroundScheduler(timezone="UTC")
    clock.start(paused=True)
    try:
        for _ in range(3):  # retry in the unlikely case a fire time passes between the two calls
            job = clock.add_job(
                print,
                trigger=CronTrigger("0 9 * * 1-5", "Europe/Berlin"),
                id="x",
                replace_existing=True,
            )
            expected = cron.next_runs("0 9 * * 1-5", "Europe/Berlin", count=1)[0]
            if job.next_run_time == expected:
                break
        assert job.next_run_time == expected
        assert job.next_run_time.weekday() < SATURDAY
        assert (job.next_run_time.astimezone(BERLIN).hour, job.next_run_time.minute) == (9, 0)
    finally:
        clock.shutdown(wait=False)


def test_next_fire_time_is_the_fire_time_itself_when_now_is_exactly_on_it() -> None:
    trigger = CronTrigger("0 9 * * *", "Europe/Berlin")
    on_time = datetime(2026, 5, 4, 9, 0, tzinfo=BERLIN)
    assert trigger.get_next_fire_time(None, on_time) == on_time
    assert trigger.get_next_fire_time(on_time, on_time) == on_time + timedelta(days=1)


def test_latest_at_or_before_returns_the_fire_time_when_called_exactly_at_it() -> None:
    trigger = CronTrigger("0 9 * * *", "Europe/Berlin")
    on_time = datetime(2026, 5, 4, 9, 0, tzinfo=BERLIN)
    assert trigger.latest_at_or_before(on_time) == on_time
    assert trigger.latest_at_or_before(utc(on_time)) == on_time  # any zone in
    assert trigger.latest_at_or_before(on_time + timedelta(seconds=30)) == on_time
    assert trigger.latest_at_or_before(on_time - timedelta(microseconds=1)) == on_time - timedelta(
        days=1
    )


def test_latest_at_or_before_tells_the_two_fall_back_hours_apart() -> None:
    trigger = CronTrigger("0 * * * *", "Europe/Berlin")
    first = datetime(2026, 10, 25, 0, 0, tzinfo=UTC)  # 02:00 CEST
    second = datetime(2026, 10, 25, 1, 0, tzinfo=UTC)  # 02:00 CET
    assert utc(trigger.latest_at_or_before(first + timedelta(seconds=5))) == first
    assert utc(trigger.latest_at_or_before(second + timedelta(seconds=5))) == second


def test_fire_times_between_is_exclusive_of_start_and_inclusive_of_end() -> None:
    trigger = CronTrigger("0 * * * *", "UTC")
    start = datetime(2026, 5, 3, 10, tzinfo=UTC)
    fires = cron.fire_times_between(trigger, start, start + timedelta(hours=3))
    assert [utc(f) for f in fires] == [start + timedelta(hours=h) for h in (1, 2, 3)]


def test_fire_times_between_keeps_the_most_recent_when_limited() -> None:
    trigger = CronTrigger("0 * * * *", "UTC")
    start = datetime(2026, 5, 3, 0, tzinfo=UTC)
    fires = cron.fire_times_between(trigger, start, start + timedelta(hours=10), limit=3)
    assert [f.hour for f in fires] == [8, 9, 10]


def test_trigger_str_names_expression_and_zone() -> None:
    assert str(CronTrigger("@daily", "Europe/Berlin")) == "cron[0 0 * * * Europe/Berlin]"
