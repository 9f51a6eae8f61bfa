"""The disconnect policy (R31), pure and explainable.

``explain(facts, now, config)`` answers, for any account, whether an automatic disconnect is
due now, every rule's verdict in words, and the earliest moment it could be due. Rules:

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


class Reason(msgspec.Struct, frozen=True):
    rule: str  # arrears, protected, supply, warning, working_day, holiday_eve, hours
    ok: bool  # True: this rule allows the disconnect
    message: str


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


def explain(facts: AccountFacts, now: datetime, config: PolicyConfig) -> Decision:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    tz = ZoneInfo(config.tz)
    local = now.astimezone(tz)
    today = local.date()
    cal = config.calendar
    threshold = -facts.credit_limit_fen
    reasons: list[Reason] = []

    arrears = facts.balance_fen < threshold
    reasons.append(
        Reason(
            "arrears",
            arrears,
            f"balance {_fen(facts.balance_fen)} is "
            + ("below" if arrears else "not below")
            + f" the disconnect threshold {_fen(threshold)}"
            + (f" (credit limit {_fen(facts.credit_limit_fen)})" if facts.credit_limit_fen else ""),
        )
    )
    protected = facts.protected or facts.key_account_class == 1
    reasons.append(
        Reason(
            "protected",
            not protected,
            "protected customer (medical or critical load, key account class 1): "
            "never disconnected automatically"
            if protected
            else "not a protected customer",
        )
    )
    reasons.append(
        Reason(
            "supply",
            facts.supply_on,
            "supply is on" if facts.supply_on else "supply is already off: nothing to do",
        )
    )
    lead = timedelta(hours=config.warning_lead_hours)
    warned = facts.warning_delivered_at
    if warned is None:
        reasons.append(Reason("warning", False, "no disconnect warning delivered yet"))
    else:
        ok = now >= warned + lead
        reasons.append(
            Reason(
                "warning",
                ok,
                f"disconnect warning delivered {warned.astimezone(tz):%Y-%m-%d %H:%M}, "
                + (
                    f"at least {config.warning_lead_hours} h ago"
                    if ok
                    else f"less than {config.warning_lead_hours} h ago"
                ),
            )
        )
    working = cal.is_working_day(today)
    kind = (
        "a make-up working day (调休)"
        if today in cal.workdays
        else "a public holiday"
        if today in cal.holidays
        else "a weekend day"
        if today.weekday() >= 5
        else "a working day"
    )
    reasons.append(Reason("working_day", working, f"{today.isoformat()} is {kind}"))
    eve = (today + timedelta(days=1)) in cal.holidays
    reasons.append(
        Reason(
            "holiday_eve",
            not eve,
            "tomorrow is a public holiday: no disconnects the day before"
            if eve
            else "tomorrow is not a public holiday",
        )
    )
    in_hours = config.window_start <= local.time() < config.window_end
    reasons.append(
        Reason(
            "hours",
            in_hours,
            f"{local:%H:%M} local is "
            + ("inside" if in_hours else "outside")
            + f" the disconnect window {config.window_start:%H:%M}-{config.window_end:%H:%M}",
        )
    )
    due = all(r.ok for r in reasons)
    if not (arrears and not protected and facts.supply_on):
        return Decision(due=False, reasons=reasons, next_allowed_at=None)
    after = max(now, (warned or now) + lead)
    nxt = earliest_allowed(config, after)
    return Decision(due=due, reasons=reasons, next_allowed_at=now if due else nxt)
