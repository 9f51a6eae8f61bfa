"""Money of the synthetic utility: charges as continuous billing posts them, and payments.

Pure: a customer's readings in, its charges, ledger entries, top-ups and billing state out.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from backend.accounts.models import AccountKind
from backend.metering.consumption_rules import Point
from backend.prepaid.ledger import MemoText
from backend.prepaid.models import Channel, EntryKind
from backend.seed import profiles as P
from backend.seed.service import (
    DAY_MS,
    HOUR_MS,
    Counters,
    Ids,
    SeedCustomer,
    SeedSpec,
    pick,
    rng_for,
)
from backend.tariffs.rating import Schedule, rate_interval, round_fen

NO_CYCLE_ANCHOR = date(2000, 1, 1)  # billing.anchor_of: calendar years when none is set
_lines = msgspec.json.Encoder()
TOP_UP, CHARGE = EntryKind.TOP_UP.value, EntryKind.CONSUMPTION_CHARGE.value
ENTRY_COLUMNS = ("id", "account_id", "kind", "amount_fen", "balance_after_fen", "exact_cny",
                 "reverses_id", "actor", "memo", "memo_code", "memo_params",
                 "created_at")  # fmt: skip
CHARGE_COLUMNS = ("id", "account_id", "meter_pk", "start_ms", "end_ms", "wh", "exact_cny",
                  "lines", "entry_id", "reversed_at", "created_at")  # fmt: skip


@dataclass
class Money:
    """An account's charges, ledger, top-ups and billing state."""

    charges: list[tuple[Any, ...]] = field(default_factory=list)  # CHARGE_COLUMNS
    entries: list[tuple[Any, ...]] = field(default_factory=list)  # ENTRY_COLUMNS
    topups: list[dict[str, Any]] = field(default_factory=list)
    state: dict[str, Any] | None = None
    balance_fen: int = 0


# how customers pay, by share of top-ups
CHANNELS = [(Channel.WECHAT, 0.35), (Channel.ALIPAY, 0.30), (Channel.APP, 0.15),
            (Channel.BANK, 0.10), (Channel.COUNTER, 0.10)]  # fmt: skip
Bill = tuple[int, int, int, int, Decimal, str]  # start, end, wh, fen, exact, lines


def _json(params: dict[str, Any]) -> str:
    """A memo's parameters as the JSON text both drivers store in the JSON column."""
    return msgspec.json.encode(params).decode()


def _bills(
    points: list[Point], schedule: Schedule, tz: ZoneInfo
) -> tuple[list[Bill], Decimal, int]:
    """Every interval rated as continuous billing does: consecutive reads in time order
    against the cycle's tier counters, the exact total rounded once with the remainder
    carried. Returns the bills, the exact total and the fen posted."""
    counters_wh: dict[date, int] = {}
    exact_total, posted = Decimal(0), 0
    bills: list[Bill] = []
    for p0, p1 in itertools.pairwise(points):
        if p1.value <= p0.value:
            continue
        lines = rate_interval(schedule, tz, NO_CYCLE_ANCHOR, p0.ts, p1.ts, p1.value - p0.value,
                              counters_wh)  # fmt: skip
        exact = sum((ln.amount for ln in lines), Decimal(0))
        fen = round_fen(exact_total + exact) - posted
        exact_total += exact
        posted += fen
        bills.append((p0.ts, p1.ts, p1.value - p0.value, fen, exact, _lines.encode(lines).decode()))
    return bills, exact_total, posted


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def money(
    spec: SeedSpec,
    ids: Ids,
    counters: Counters,
    c: SeedCustomer,
    points: list[Point],
    schedule: Schedule,
) -> Money:
    """Bill every interval as continuous billing does (``backend.prepaid.billing``: consecutive
    reads, rated in time order against the cycle's tier counters, the exact total rounded once
    with the remainder carried), and pay as the customer would: a prepaid customer tops up
    when the balance runs low; a postpaid one pays the bill by the 10th; a customer in arrears
    stops paying near the end."""
    r, tz = rng_for(spec.seed, 4, c.i), spec.tz
    aid, mid, cid = ids.account + c.i, ids.meter + c.i, ids.customer + c.i
    out = Money()
    bills, exact_total, posted = _bills(points, schedule, spec.tz)
    if not points:
        return out
    daily_fen = max(100, int(P.DAILY_KWH[c.category] * c.scale * 60))  # ~¥0.60/kWh
    low = P.LOW_BALANCE_DAYS * daily_fen
    end_ms = points[-1].ts
    remaining = sum(b[3] for b in bills)
    balance = 0
    stopped = False
    paid_month: tuple[int, int] | None = None

    def pay(ms: int, amount: int, channel: Channel) -> None:
        nonlocal balance
        balance += amount
        eid, tid = counters.ledger, counters.topup
        counters.ledger += 1
        counters.topup += 1
        at = _at(ms)
        receipt = f"R{at.astimezone(tz):%Y%m%d}{tid:08d}"
        out.entries.append((eid, aid, TOP_UP, amount, balance, None, None, "seed",
                            f"{channel.value} top-up, receipt {receipt}", MemoText.TOP_UP.value,
                            _json({"channel": channel.value}), at))  # fmt: skip
        out.topups.append({
            "id": tid, "customer_id": cid, "account_id": aid, "idempotency_key": None,
            "request_hash": "", "status": "completed", "channel": channel.value,
            "amount_fen": amount, "actor": "seed", "entry_id": eid, "receipt_number": receipt,
            "response_status": 201, "response": None, "started_at": at, "completed_at": at,
        })  # fmt: skip

    prepaid = c.kind is AccountKind.PREPAID
    for start, end, wh, fen, exact, encoded in bills:
        pay_at = end - r.randint(1, 20) * HOUR_MS // 4
        if prepaid and not stopped and balance - fen < low:
            late = end > end_ms - P.ARREARS_WINDOW_DAYS * DAY_MS
            if c.arrears and late and remaining > balance:
                stopped = True  # from here on the balance only falls: it ends below zero
            else:
                days = r.randint(*P.TOPUP_DAYS)
                amount = max(days * daily_fen, fen - balance + low)
                pay(pay_at, -(-amount // 1000) * 1000, pick(r, CHANNELS))  # whole ¥10s
        if not prepaid:
            local = datetime.fromtimestamp(end / 1000, tz)
            month = (local.year, local.month)
            if local.day >= P.POSTPAID_PAY_DAY and month != paid_month:
                paid_month = month
                if balance < 0:
                    pay(pay_at, -balance, Channel.BANK)
        balance -= fen
        remaining -= fen
        eid, chid = counters.ledger, counters.charge
        counters.ledger += 1
        counters.charge += 1
        at = _at(end)
        out.entries.append((eid, aid, CHARGE, -fen, balance, str(-exact), None, "billing",
                            f"meter {mid}: {wh} Wh", MemoText.CONSUMPTION.value,
                            _json({"meter": mid, "energy_wh": wh}), at))  # fmt: skip
        out.charges.append((chid, aid, mid, start, end, wh, str(exact), encoded, eid, None, at))
    out.balance_fen = balance
    out.state = {
        "account_id": aid, "exact_total_cny": str(exact_total), "posted_fen": posted,
        "billed_through_ms": max((b[1] for b in bills), default=None), "updated_at": spec.clock,
    }  # fmt: skip
    return out
