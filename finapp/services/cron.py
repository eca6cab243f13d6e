"""Cron expressions: validation with the failing field named, descriptions, and fire times.

One engine for everything: cronsim, which reads cron like cron does (0 and 7 are Sunday,
`1-5` is Monday–Friday, names, steps, lists) and fires once on DST days (a 02:30 job runs at
03:00 on the spring-forward day and once on the fall-back day). APScheduler 3's own CronTrigger
numbers weekdays from Monday=0 and fires twice at fall-back, so it is not used: `CronTrigger`
below adapts cronsim to APScheduler, and the preview, catch-up and the scheduler all use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from cronsim import CronSim, CronSimError

from finapp.services.errors import InvalidInput

FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
ALLOWED = {
    "minute": "0-59",
    "hour": "0-23",
    "day-of-month": "1-31",
    "month": "1-12 or jan-dec",
    "day-of-week": "0-7 (0 and 7 are Sunday) or sun-sat",
}
ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
MAX_LENGTH = 120


class InvalidCron(InvalidInput):
    """A schedule we cannot run; the message names the field and what it allows."""


def parse_cron(expression: str) -> str:
    """The normalised 5-field expression, or InvalidCron saying which field is wrong."""
    text = " ".join((expression or "").split())
    if not text:
        raise InvalidCron("The schedule is empty: give 5 cron fields, e.g. '0 2 * * *'.")
    if len(text) > MAX_LENGTH:
        raise InvalidCron(f"The schedule is longer than {MAX_LENGTH} characters.")
    text = ALIASES.get(text.lower(), text)
    if text.startswith("@"):
        raise InvalidCron(f"Unknown shortcut {text!r}; use one of {', '.join(ALIASES)}.")
    parts = text.split(" ")
    if len(parts) != len(FIELDS):
        raise InvalidCron(
            f"A schedule has 5 fields (minute hour day-of-month month day-of-week); "
            f"got {len(parts)}: {text!r}."
        )
    try:
        CronSim(text, datetime.now(ZoneInfo("UTC")))
    except CronSimError as exc:
        raise InvalidCron(_explain_error(str(exc), parts)) from None
    return text


def _explain_error(message: str, parts: list[str]) -> str:
    if "day-of-month" in message.lower() and _parses(f"0 0 {parts[2]} * *"):
        # Each field is fine on its own; together they name no real date (Feb 30, Apr 31).
        return (
            f"The day-of-month {parts[2]!r} never occurs in month {parts[3]!r}, so this "
            "schedule would never run."
        )
    for index, name in enumerate(FIELDS):
        if name.replace("-", " ") in message.lower().replace("-", " "):
            return (
                f"The {name} field {parts[index]!r} is not valid "
                f"(allowed: {ALLOWED[name]}, with *, lists, ranges and /steps)."
            )
    return f"The schedule is not valid: {message}."


def _parses(expression: str) -> bool:
    try:
        CronSim(expression, datetime.now(ZoneInfo("UTC")))
    except CronSimError:
        return False
    return True


def parse_timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo((name or "").strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"Unknown time zone {name!r}; use an IANA name like Europe/Berlin."
        ) from None


def describe(expression: str) -> str:
    """'0 9 * * 1-5' -> 'At 09:00 on Monday through Friday'."""
    return CronSim(parse_cron(expression), datetime.now(ZoneInfo("UTC"))).explain()


class CronTrigger(BaseTrigger):
    """APScheduler trigger computing fire times with cronsim in the job's time zone."""

    def __init__(self, expression: str, timezone: str) -> None:
        self.expression = parse_cron(expression)
        self.timezone = parse_timezone(timezone)

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        start = (
            previous_fire_time
            if previous_fire_time is not None
            else now - timedelta(microseconds=1)
        )
        return next(CronSim(self.expression, start.astimezone(self.timezone)))

    def after(self, moment: datetime) -> Iterator[datetime]:
        """Fire times strictly after `moment`, in the job's zone."""
        return CronSim(self.expression, moment.astimezone(self.timezone))

    def latest_at_or_before(self, moment: datetime) -> datetime:
        return next(
            CronSim(
                self.expression,
                (moment + timedelta(microseconds=1)).astimezone(self.timezone),
                reverse=True,
            )
        )

    def __str__(self) -> str:
        return f"cron[{self.expression} {self.timezone.key}]"


def next_runs(
    expression: str, timezone: str, count: int = 5, after: datetime | None = None
) -> list[datetime]:
    trigger = CronTrigger(expression, timezone)
    moments = trigger.after(after or datetime.now(trigger.timezone))
    return [next(moments) for _ in range(count)]


def fire_times_between(
    trigger: CronTrigger, start: datetime, end: datetime, limit: int = 10_000
) -> list[datetime]:
    """Fire times in (start, end]; at most `limit` (the most recent are what matter)."""
    found: list[datetime] = []
    for moment in trigger.after(start):
        if moment > end:
            break
        found.append(moment)
        if len(found) > limit:
            found.pop(0)
    return found
