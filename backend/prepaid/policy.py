"""The disconnect policy (R31), pure and explainable.

``explain(facts, now, config)`` answers, for any account, whether an automatic disconnect is
due now, every rule's verdict (a code with parameters for people, and the same in English for
logs), and the earliest moment it could be due. One small function per rule:

* the balance is below zero, or below minus the credit limit (friendly / emergency credit
  accrues as debt until then);
* the customer is not protected (medical or critical loads, key-account class 1, R90);
* the supply is still on (nothing to do otherwise);
* a disconnect warning was delivered at least ``warning_lead_hours`` ago;
* today is a working day (weekends and public holidays are not, make-up days 调休 are) and
  tomorrow is not a public holiday, so a customer is never left dark over a holiday;
* the local time is inside the window (default 09:00-16:00), so that a same-day top-up still
  brings same-day reconnection.

No clock and no database here: ``now`` and the facts are arguments.
"""

from __future__ import annotations

import tomllib
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec

from backend.texts import Params, TextCode

DEFAULT_CALENDAR = Path(__file__).with_name("policy_calendar_cn_2026.toml")


class PolicyError(ValueError):
    """A policy setting or calendar file that cannot be used."""


class HolidayCalendar(msgspec.Struct, frozen=True):
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()  # 调休: weekend days worked

    @classmethod
    def load(cls, path: str | Path = "") -> HolidayCalendar:
        p = Path(path) if path else DEFAULT_CALENDAR
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise PolicyError(f"holiday calendar {p}: {exc}") from None
        out: dict[str, frozenset[date]] = {}
        for key in ("holidays", "workdays"):
            values = data.get(key, [])
            bad = [v for v in values if not isinstance(v, date) or isinstance(v, datetime)]
            if not isinstance(values, list) or bad:
                raise PolicyError(f"holiday calendar {p}: {key} must be a list of dates")
            out[key] = frozenset(values)
        unknown = set(data) - {"holidays", "workdays"}
        if unknown:
            raise PolicyError(f"holiday calendar {p}: unknown key(s) {', '.join(sorted(unknown))}")
        return cls(holidays=out["holidays"], workdays=out["workdays"])

    def is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays


class PolicyConfig(msgspec.Struct, frozen=True):
    tz: str = "Asia/Shanghai"
    window_start: time = time(9, 0)
    window_end: time = time(16, 0)
    warning_lead_hours: int = 24
    calendar: HolidayCalendar = HolidayCalendar()

    @staticmethod
    def parse_window(text: str) -> tuple[time, time]:
        try:
            a, b = (time.fromisoformat(x.strip()) for x in text.split("-"))
        except ValueError:
            raise PolicyError(f"disconnect window {text!r} is not HH:MM-HH:MM") from None
        if b <= a:
            raise PolicyError(f"disconnect window {text!r} ends before it starts")
        return a, b


class AccountFacts(msgspec.Struct, frozen=True):
    account_id: int
    balance_fen: int
    credit_limit_fen: int = 0
    protected: bool = False
    key_account_class: int | None = None
    supply_on: bool = True  # some meter of the account is still connected
    warning_delivered_at: datetime | None = None  # this episode's disconnect warning


class PolicyText(TextCode):
    """What each rule says, for people (the PWA words it; ``message`` is the English)."""

    ARREARS_BELOW = "policy.arrears_below"  # {balance_fen, threshold_fen}
    ARREARS_BELOW_CREDIT = "policy.arrears_below_credit"  # … and {credit_limit_fen}
    ARREARS_NOT_BELOW = "policy.arrears_not_below"
    ARREARS_NOT_BELOW_CREDIT = "policy.arrears_not_below_credit"
    PROTECTED = "policy.protected"
    NOT_PROTECTED = "policy.not_protected"
    SUPPLY_ON = "policy.supply_on"
    SUPPLY_OFF = "policy.supply_off"
    NO_WARNING = "policy.no_warning"
    WARNED_LONG_AGO = "policy.warned_long_ago"  # {warned_at, hours}
    WARNED_RECENTLY = "policy.warned_recently"  # {warned_at, hours}
    WORKING_DAY = "policy.working_day"  # {day}
    MAKE_UP_DAY = "policy.make_up_day"  # {day}
    PUBLIC_HOLIDAY = "policy.public_holiday"  # {day}
    WEEKEND = "policy.weekend"  # {day}
    HOLIDAY_EVE = "policy.holiday_eve"
    NOT_HOLIDAY_EVE = "policy.not_holiday_eve"
    IN_HOURS = "policy.in_hours"  # {local_time, window_start, window_end}
    OUT_OF_HOURS = "policy.out_of_hours"  # {local_time, window_start, window_end}
    NO_ACCOUNT = "policy.no_account"  # a meter of no account: no arrears to judge


class Reason(msgspec.Struct, frozen=True):
    rule: str  # arrears, protected, supply, warning, working_day, holiday_eve, hours
    ok: bool  # True: this rule allows the disconnect
    message: str  # English, for logs and the audit trail
    code: PolicyText  # the same, for people: the PWA words it with ``params``
    params: Params = msgspec.field(default_factory=dict)


class Decision(msgspec.Struct, frozen=True):
    due: bool
    reasons: list[Reason]
    next_allowed_at: datetime | None  # earliest time all rules could allow it; None: never


def _fen(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}¥{abs(fen) // 100}.{abs(fen) % 100:02d}"


def _day_allowed(cal: HolidayCalendar, day: date) -> bool:
    return cal.is_working_day(day) and (day + timedelta(days=1)) not in cal.holidays


def earliest_allowed(config: PolicyConfig, after: datetime) -> datetime | None:
    """The first instant at or after ``after`` inside an allowed day's window (60 days ahead)."""
    tz = ZoneInfo(config.tz)
    local = after.astimezone(tz)
    for offset in range(60):
        day = local.date() + timedelta(days=offset)
        if not _day_allowed(config.calendar, day):
            continue
        start = datetime.combine(day, config.window_start, tz)
        end = datetime.combine(day, config.window_end, tz)
        if local < end:
            return max(local, start)
    return None


def _arrears(facts: AccountFacts) -> Reason:
    threshold = -facts.credit_limit_fen
    arrears = facts.balance_fen < threshold
    message = (
        f"balance {_fen(facts.balance_fen)} is "
        + ("below" if arrears else "not below")
        + f" the disconnect threshold {_fen(threshold)}"
        + (f" (credit limit {_fen(facts.credit_limit_fen)})" if facts.credit_limit_fen else "")
    )
    params: Params = {"balance_fen": facts.balance_fen, "threshold_fen": threshold}
    if facts.credit_limit_fen:
        params["credit_limit_fen"] = facts.credit_limit_fen
        code = PolicyText.ARREARS_BELOW_CREDIT if arrears else PolicyText.ARREARS_NOT_BELOW_CREDIT
    else:
        code = PolicyText.ARREARS_BELOW if arrears else PolicyText.ARREARS_NOT_BELOW
    return Reason("arrears", arrears, message, code, params)


def _protected(facts: AccountFacts) -> Reason:
    if facts.protected or facts.key_account_class == 1:
        return Reason(
            "protected",
            False,
            "protected customer (medical or critical load, key account class 1): "
            "never disconnected automatically",
            PolicyText.PROTECTED,
        )
    return Reason("protected", True, "not a protected customer", PolicyText.NOT_PROTECTED)


def _supply(facts: AccountFacts) -> Reason:
    if facts.supply_on:
        return Reason("supply", True, "supply is on", PolicyText.SUPPLY_ON)
    return Reason("supply", False, "supply is already off: nothing to do", PolicyText.SUPPLY_OFF)


def _warning(facts: AccountFacts, now: datetime, config: PolicyConfig) -> Reason:
    warned = facts.warning_delivered_at
    if warned is None:
        return Reason(
            "warning", False, "no disconnect warning delivered yet", PolicyText.NO_WARNING
        )
    hours = config.warning_lead_hours
    ok = now >= warned + timedelta(hours=hours)
    local = warned.astimezone(ZoneInfo(config.tz))
    return Reason(
        "warning",
        ok,
        f"disconnect warning delivered {local:%Y-%m-%d %H:%M}, "
        + (f"at least {hours} h ago" if ok else f"less than {hours} h ago"),
        PolicyText.WARNED_LONG_AGO if ok else PolicyText.WARNED_RECENTLY,
        {"warned_at": int(warned.timestamp() * 1000), "hours": hours},
    )


def _working_day(cal: HolidayCalendar, today: date) -> Reason:
    if today in cal.workdays:
        kind, code = "a make-up working day (调休)", PolicyText.MAKE_UP_DAY
    elif today in cal.holidays:
        kind, code = "a public holiday", PolicyText.PUBLIC_HOLIDAY
    elif today.weekday() >= 5:
        kind, code = "a weekend day", PolicyText.WEEKEND
    else:
        kind, code = "a working day", PolicyText.WORKING_DAY
    day = today.isoformat()
    return Reason("working_day", cal.is_working_day(today), f"{day} is {kind}", code, {"day": day})


def _holiday_eve(cal: HolidayCalendar, today: date) -> Reason:
    if (today + timedelta(days=1)) in cal.holidays:
        return Reason(
            "holiday_eve",
            False,
            "tomorrow is a public holiday: no disconnects the day before",
            PolicyText.HOLIDAY_EVE,
        )
    return Reason(
        "holiday_eve", True, "tomorrow is not a public holiday", PolicyText.NOT_HOLIDAY_EVE
    )


def _hours(config: PolicyConfig, local: datetime) -> Reason:
    start, end = f"{config.window_start:%H:%M}", f"{config.window_end:%H:%M}"
    in_hours = config.window_start <= local.time() < config.window_end
    return Reason(
        "hours",
        in_hours,
        f"{local:%H:%M} local is "
        + ("inside" if in_hours else "outside")
        + f" the disconnect window {start}-{end}",
        PolicyText.IN_HOURS if in_hours else PolicyText.OUT_OF_HOURS,
        {"local_time": f"{local:%H:%M}", "window_start": start, "window_end": end},
    )


def explain(facts: AccountFacts, now: datetime, config: PolicyConfig) -> Decision:
    """Every rule's verdict on an automatic disconnect of this account now, and the earliest
    moment all of them could allow it (None: a rule that time does not change forbids it)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    local = now.astimezone(ZoneInfo(config.tz))
    reasons = [
        _arrears(facts),
        _protected(facts),
        _supply(facts),
        _warning(facts, now, config),
        _working_day(config.calendar, local.date()),
        _holiday_eve(config.calendar, local.date()),
        _hours(config, local),
    ]
    due = all(r.ok for r in reasons)
    if not all(r.ok for r in reasons[:3]):  # arrears, not protected, supply on
        return Decision(due=False, reasons=reasons, next_allowed_at=None)
    lead = timedelta(hours=config.warning_lead_hours)
    after = max(now, (facts.warning_delivered_at or now) + lead)
    return Decision(
        due=due, reasons=reasons, next_allowed_at=now if due else earliest_allowed(config, after)
    )
