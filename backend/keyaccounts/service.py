"""Profiles with history, segmentation rules and settings, and the segmentation run.

Scope: a customer manager (role inspector, 客户经理) sees their *portfolio*: the customers of the
grids they own and the key accounts named to them; the back office sees everyone; anyone else
nobody. Outside the portfolio a customer is not found (404).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import ColumnElement, delete, false, func, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from backend.accounts.models import Account, Customer
from backend.auth.guards import Caller
from backend.auth.models import Role, User
from backend.errors import Conflict, Forbidden, Invalid, NotFound
from backend.errors import ErrorCode as E
from backend.keyaccounts import rules
from backend.keyaccounts.models import (
    CustomerProfile,
    CustomerProfileVersion,
    CustomerSegment,
    CustomerTag,
    CustomerTagEvent,
    KeyAccountRule,
    SegmentationRun,
    TagSource,
)
from backend.keyaccounts.models import SegmentationSettings as SettingsRow
from backend.keyaccounts.schemas import (
    Condition,
    CustomerTags,
    ManagerAssign,
    MonthRun,
    Profile,
    ProfileIn,
    ProfileVersion,
    Recomputed,
    Rule,
    RuleIn,
    Segment,
    SegmentationSettings,
    SettingsIn,
    TagEventOut,
    TagIn,
    TagOut,
)
from backend.metering.models import ConsumptionDaily, Meter
from backend.prepaid.models import EntryKind, LedgerEntry, Notice, NoticeKind
from backend.types import utcnow
from protocols.contract import Quantity

PROFILE_FIELDS = tuple(f for f in ProfileIn.__struct_fields__ if f != "version")
YEAR = timedelta(days=365)


# --- scope ---------------------------------------------------------------------------------------


def portfolio_condition(caller: Caller) -> ColumnElement[bool]:
    """A WHERE condition on Customer: the caller's portfolio."""
    if caller.unscoped:
        return true()
    if caller.role == Role.INSPECTOR:
        named = select(CustomerProfile.customer_id).where(
            CustomerProfile.manager_id == caller.user_id
        )
        return or_(Customer.grid_id.in_(caller.grid_ids), Customer.id.in_(named))
    if caller.role != Role.CUSTOMER and caller.grid_ids:  # staff scoped to an org unit (R110)
        return Customer.grid_id.in_(caller.grid_ids)
    return false()


async def visible_customer(session: AsyncSession, caller: Caller, customer_id: int) -> Customer:
    customer = await session.scalar(
        select(Customer).where(Customer.id == customer_id, portfolio_condition(caller))
    )
    if customer is None:
        raise NotFound(
            E.CUSTOMER_NOT_FOUND,
            f"customer {customer_id} not found",
            field="customer_id",
            customer=customer_id,
        )
    return customer


# --- profiles ------------------------------------------------------------------------------------


def profile_out(p: CustomerProfile) -> Profile:
    return Profile(
        customer_id=p.customer_id,
        version=p.version,
        org_type=p.org_type,
        capacity_kva=p.capacity_kva,
        new_capacity_kva=p.new_capacity_kva,
        voltage_level=p.voltage_level,
        industry_code=p.industry_code,
        households=p.households,
        industrial_park=p.industrial_park,
        important=p.important,
        technical_contact=p.technical_contact,
        technical_phone=p.technical_phone,
        billing_contact=p.billing_contact,
        billing_phone=p.billing_phone,
        contract_expires_on=p.contract_expires_on,
        manager_id=p.manager_id,
        updated_by=p.updated_by,
        updated_at=p.updated_at,
    )


def rule_input(p: CustomerProfile | None) -> dict[str, Any]:
    """The profile as the rules see it (no profile: nothing matches but a zero threshold)."""
    if p is None:
        return {}
    return {
        "org_type": p.org_type.value,
        "capacity_kva": p.capacity_kva,
        "new_capacity_kva": p.new_capacity_kva,
        "households": p.households,
        "industry_code": p.industry_code,
        "important": p.important,
    }


def _snapshot(p: CustomerProfile) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(profile_out(p))
    return out


async def get_profile(session: AsyncSession, caller: Caller, customer_id: int) -> Profile | None:
    await visible_customer(session, caller, customer_id)
    p = await session.get(CustomerProfile, customer_id)
    return profile_out(p) if p else None


async def profile_history(
    session: AsyncSession, caller: Caller, customer_id: int
) -> list[ProfileVersion]:
    await visible_customer(session, caller, customer_id)
    rows = await session.scalars(
        select(CustomerProfileVersion)
        .where(CustomerProfileVersion.customer_id == customer_id)
        .order_by(CustomerProfileVersion.version.desc())
    )
    return [ProfileVersion(r.version, r.snapshot, r.changed_by, r.changed_at) for r in rows]


async def _save(
    session: AsyncSession, customer_id: int, expected: int, values: dict[str, Any], actor: str
) -> CustomerProfile:
    """Compare-and-set on ``version``: the old state goes to history, or 409 if it moved."""
    now = utcnow()
    current = await session.get(CustomerProfile, customer_id)
    if current is None:
        if expected != 0:
            raise Conflict(E.PROFILE_CHANGED, "no profile yet: save over version 0", version=0)
        profile = CustomerProfile(
            customer_id=customer_id, version=1, updated_by=actor, updated_at=now, **values
        )
        session.add(profile)
        try:
            await session.flush()
        except IntegrityError:
            await session.rollback()
            raise Conflict(E.PROFILE_CHANGED, "saved by someone else first", version=1) from None
    else:
        if current.version != expected:
            raise Conflict(
                E.PROFILE_CHANGED,
                f"profile is at version {current.version}",
                version=current.version,
            )
        session.add(
            CustomerProfileVersion(
                customer_id=customer_id,
                version=current.version,
                snapshot=_snapshot(current),
                changed_by=actor,
                changed_at=now,
            )
        )
        moved = await session.execute(
            update(CustomerProfile)
            .where(CustomerProfile.customer_id == customer_id, CustomerProfile.version == expected)
            .values(version=expected + 1, updated_by=actor, updated_at=now, **values)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            await session.rollback()
            raise Conflict(E.PROFILE_CHANGED, "saved by someone else first", version=expected + 1)
        try:
            await session.flush()
        except IntegrityError:  # the history row of this version exists: a parallel save won
            await session.rollback()
            raise Conflict(
                E.PROFILE_CHANGED, "saved by someone else first", version=expected + 1
            ) from None
        await session.refresh(current)
        profile = current
    # the derived class number others read (prepaid protection, inspection tasks)
    classes = rules.key_account_classes(rule_input(profile), await load_rules(session))
    customer = await session.get(Customer, customer_id)
    assert customer is not None
    customer.key_account_class = classes[0] if classes else None
    await session.commit()
    return profile


# what makes a customer class 1 or 5, and so protected from automatic disconnection (and given
# a safety inspection): the back office's decision, not the manager's
BACK_OFFICE_FIELDS = ("org_type", "important")


async def save_profile(
    session: AsyncSession, caller: Caller, customer_id: int, data: ProfileIn
) -> Profile:
    await visible_customer(session, caller, customer_id)
    values = {f: getattr(data, f) for f in PROFILE_FIELDS}
    if caller.role == Role.INSPECTOR:
        current = await session.get(CustomerProfile, customer_id)
        for f in BACK_OFFICE_FIELDS:
            before = getattr(current, f) if current else getattr(ProfileIn(version=0), f)
            if values[f] != before:
                raise Forbidden(E.FORBIDDEN, f"{f} is set by the back office", field=f)
    return profile_out(await _save(session, customer_id, data.version, values, caller.username))


async def assign_manager(
    session: AsyncSession, caller: Caller, customer_id: int, data: ManagerAssign
) -> Profile:
    """Name a customer manager (an active user of role inspector) for a key account."""
    await visible_customer(session, caller, customer_id)
    if data.manager_id is not None:
        user = await session.get(User, data.manager_id)
        if user is None or user.role != Role.INSPECTOR or not user.active:
            raise NotFound(
                E.INSPECTOR_NOT_FOUND,
                f"no manager {data.manager_id}",
                field="manager_id",
                inspector=data.manager_id,
            )
    current = await session.get(CustomerProfile, customer_id)
    expected = current.version if current else 0
    return profile_out(
        await _save(
            session, customer_id, expected, {"manager_id": data.manager_id}, caller.username
        )
    )


# --- rules and settings --------------------------------------------------------------------------


async def load_rules(session: AsyncSession) -> dict[int, list[dict[str, Any]]]:
    rows = (await session.scalars(select(KeyAccountRule))).all()
    if not rows:
        return dict(rules.DEFAULT_RULES)
    return {r.klass: list(r.conditions) for r in rows if r.active}


async def list_rules(session: AsyncSession) -> list[Rule]:
    rows = {r.klass: r for r in (await session.scalars(select(KeyAccountRule))).all()}
    out = []
    for klass in range(1, 7):
        row = rows.get(klass)
        conds = row.conditions if row else rules.DEFAULT_RULES[klass]
        out.append(
            Rule(
                klass=klass,
                conditions=msgspec.convert(conds, list[Condition]),
                active=row.active if row else True,
                updated_by=row.updated_by if row else "",
            )
        )
    return out


async def save_rule(session: AsyncSession, caller: Caller, klass: int, data: RuleIn) -> Rule:
    if not 1 <= klass <= 6:
        raise NotFound(E.NOT_FOUND, f"no key-account class {klass}", field="klass")
    conditions: list[dict[str, Any]] = msgspec.to_builtins(data.conditions)
    try:
        rules.check_conditions(conditions)
    except rules.RuleError as e:
        raise Invalid(
            E.RULE_INVALID, str(e), field="conditions", klass=klass, reason=e.reason, name=e.field
        ) from None
    row = await session.get(KeyAccountRule, klass)
    if row is None:
        row = KeyAccountRule(klass=klass)
        session.add(row)
    row.conditions, row.active, row.updated_by = conditions, data.active, caller.username
    row.updated_at = utcnow()
    await session.commit()
    return Rule(klass, data.conditions, data.active, caller.username)


def _defaults() -> dict[str, Any]:
    return {
        "a_share_bp": rules.DEFAULT_A_SHARE_BP,
        "b_share_bp": rules.DEFAULT_B_SHARE_BP,
        **rules.DEFAULT_ALERTS,
    }


async def get_settings(session: AsyncSession) -> SegmentationSettings:
    row = await session.get(SettingsRow, 1)
    values = {**_defaults(), **(row.values if row else {})}
    return msgspec.convert(values, SegmentationSettings)


async def save_settings(
    session: AsyncSession, caller: Caller, data: SettingsIn
) -> SegmentationSettings:
    if data.b_share_bp < data.a_share_bp:
        raise Invalid(E.END_BEFORE_START, "b_share_bp below a_share_bp", field="b_share_bp")
    if data.recent_days >= data.baseline_days:
        raise Invalid(
            E.END_BEFORE_START, "recent_days must be below baseline_days", field="recent_days"
        )
    values: dict[str, Any] = msgspec.to_builtins(data)
    row = await session.get(SettingsRow, 1)
    if row is None:
        row = SettingsRow(id=1, values=values)
        session.add(row)
    row.values, row.updated_by = values, caller.username
    row.updated_at = utcnow()
    await session.commit()
    return msgspec.convert(values, SegmentationSettings)


# --- the segmentation run (monthly, or on demand) ------------------------------------------------


async def annual_revenue(session: AsyncSession, since: datetime) -> dict[int, int]:
    """Fen charged per customer since ``since``: consumption charges net of their reversals."""
    charged = await session.execute(
        select(Account.customer_id, func.sum(LedgerEntry.amount_fen))
        .join(Account, Account.id == LedgerEntry.account_id)
        .where(LedgerEntry.kind == EntryKind.CONSUMPTION_CHARGE, LedgerEntry.created_at >= since)
        .group_by(Account.customer_id)
    )
    out = {cid: -int(total or 0) for cid, total in charged}
    reversed_charge = aliased(LedgerEntry)
    reversals = await session.execute(
        select(Account.customer_id, func.sum(LedgerEntry.amount_fen))
        .join(Account, Account.id == LedgerEntry.account_id)
        .join(reversed_charge, reversed_charge.id == LedgerEntry.reverses_id)
        .where(
            LedgerEntry.kind == EntryKind.REVERSAL,
            reversed_charge.kind == EntryKind.CONSUMPTION_CHARGE,
            LedgerEntry.created_at >= since,
        )
        .group_by(Account.customer_id)
    )
    for cid, total in reversals:
        out[cid] = out.get(cid, 0) - int(total or 0)
    return out


async def credit_inputs(session: AsyncSession, since: datetime) -> dict[int, dict[str, int]]:
    """Per customer: arrears now (fen owed), late payments (disconnect warnings: the balance
    ran out before they paid) and disconnections, over the last 12 months."""
    out: dict[int, dict[str, int]] = {}

    def slot(cid: int) -> dict[str, int]:
        return out.setdefault(cid, {"arrears_fen": 0, "late_payments": 0, "disconnections": 0})

    owed = await session.execute(
        select(Account.customer_id, func.sum(Account.balance_fen))
        .where(Account.balance_fen < 0)
        .group_by(Account.customer_id)
    )
    for cid, total in owed:
        slot(cid)["arrears_fen"] = -int(total or 0)
    counted = await session.execute(
        select(Account.customer_id, Notice.kind, func.count())
        .join(Account, Account.id == Notice.account_id)
        .where(
            Notice.created_at >= since,
            Notice.kind.in_([NoticeKind.DISCONNECT_WARNING, NoticeKind.DISCONNECTED]),
        )
        .group_by(Account.customer_id, Notice.kind)
    )
    for cid, kind, n in counted:
        key = "late_payments" if kind == NoticeKind.DISCONNECT_WARNING else "disconnections"
        slot(cid)[key] = int(n)
    return out


async def energy(session: AsyncSession, first: date, last: date) -> dict[int, dict[date, int]]:
    """Active energy imported per customer and local day, first..last (days with data only)."""
    rows = await session.execute(
        select(Meter.customer_id, ConsumptionDaily.day, func.sum(ConsumptionDaily.wh))
        .join(Meter, Meter.id == ConsumptionDaily.meter_pk)
        .where(
            Meter.customer_id.is_not(None),
            ConsumptionDaily.quantity == Quantity.ENERGY_IMPORT.value,
            ConsumptionDaily.day >= first,
            ConsumptionDaily.day <= last,
        )
        .group_by(Meter.customer_id, ConsumptionDaily.day)
    )
    out: dict[int, dict[date, int]] = defaultdict(dict)
    for cid, day, wh in rows:
        if cid is not None:
            out[cid][day] = int(wh or 0)
    return out


RUN_ACTOR = "segmentation"  # who the history names for what the run computed


async def _sync_computed_tags(
    session: AsyncSession, wanted: dict[int, list[str]], now: datetime
) -> tuple[int, int]:
    """Make each customer's computed tags the wanted ones; history for each change only, so a
    second run with the same data writes nothing. (added, removed)."""
    have: dict[int, set[str]] = defaultdict(set)
    for cid, tag in await session.execute(
        select(CustomerTag.customer_id, CustomerTag.tag).where(
            CustomerTag.source == TagSource.COMPUTED
        )
    ):
        have[cid].add(tag)
    added = removed = 0
    for cid, tags in wanted.items():
        new, old = set(tags), have.get(cid, set())
        for tag in sorted(new - old):
            session.add(
                CustomerTag(
                    customer_id=cid,
                    source=TagSource.COMPUTED,
                    tag=tag,
                    added_by=RUN_ACTOR,
                    added_at=now,
                )
            )
            session.add(_event(cid, TagSource.COMPUTED, tag, True, RUN_ACTOR, now))
            added += 1
        for tag in sorted(old - new):
            await session.execute(
                delete(CustomerTag).where(
                    CustomerTag.customer_id == cid,
                    CustomerTag.source == TagSource.COMPUTED,
                    CustomerTag.tag == tag,
                )
            )
            session.add(_event(cid, TagSource.COMPUTED, tag, False, RUN_ACTOR, now))
            removed += 1
    return added, removed


def _event(
    cid: int, source: TagSource, tag: str, added: bool, actor: str, at: datetime
) -> CustomerTagEvent:
    return CustomerTagEvent(
        customer_id=cid, source=source, tag=tag, added=added, actor=actor, at=at
    )


async def recompute(session: AsyncSession, now: datetime, tz: ZoneInfo | None = None) -> Recomputed:
    """Classes from profiles, ABC from the last year's ledger, credit from payment history,
    value tags and the service level, for every customer with an account; one transaction."""
    return (await _recompute(session, now, tz or ZoneInfo("UTC")))[0]


async def _recompute(
    session: AsyncSession, now: datetime, tz: ZoneInfo
) -> tuple[Recomputed, int, int]:
    cfg = await get_settings(session)
    rule_set = await load_rules(session)
    since = now - YEAR
    customer_ids = list(await session.scalars(select(Account.customer_id).distinct()))
    revenue = await annual_revenue(session, since)
    abc = rules.abc_classes(
        {c: revenue.get(c, 0) for c in customer_ids}, cfg.a_share_bp, cfg.b_share_bp
    )
    credit = await credit_inputs(session, since)
    today = now.astimezone(tz).date()
    days = await energy(session, today - timedelta(days=365), today - timedelta(days=1))
    levels = rules.consumption_levels({c: sum(days.get(c, {}).values()) for c in customer_ids})
    split = today - timedelta(days=rules.GROWTH_WINDOW_DAYS)
    first = split - timedelta(days=rules.GROWTH_WINDOW_DAYS)
    profiles = {p.customer_id: p for p in await session.scalars(select(CustomerProfile))}
    existing = {s.customer_id: s for s in await session.scalars(select(CustomerSegment))}
    key_accounts = 0
    wanted: dict[int, list[str]] = {}
    for cid in customer_ids:
        classes = rules.key_account_classes(rule_input(profiles.get(cid)), rule_set)
        key_accounts += bool(classes)
        inputs = credit.get(cid, {"arrears_fen": 0, "late_payments": 0, "disconnections": 0})
        score = rules.credit_score(**inputs)
        rating = rules.credit_rating(score)
        series = days.get(cid, {})
        trend = rules.growth(
            [wh for d, wh in series.items() if first <= d < split],
            [wh for d, wh in series.items() if d >= split],
        )
        wanted[cid] = rules.computed_tags(
            classes=classes, abc=abc[cid], rating=rating, inputs=inputs, level=levels[cid],
            trend=trend,
        )  # fmt: skip
        seg = existing.get(cid) or CustomerSegment(customer_id=cid)
        seg.key_account_classes = classes
        seg.abc_class = abc[cid]
        seg.annual_revenue_fen = revenue.get(cid, 0)
        seg.credit_score = score
        seg.credit_rating = rating
        seg.credit_inputs = inputs
        seg.service_level = rules.service_level(classes, abc[cid], rating)
        seg.computed_at = now
        session.add(seg)
        if cid in profiles:  # without a profile, the class set at import stands
            await session.execute(
                update(Customer)
                .where(Customer.id == cid)
                .values(key_account_class=classes[0] if classes else None)
            )
    added, removed = await _sync_computed_tags(session, wanted, now)
    await session.commit()
    counts = {k: sum(1 for v in abc.values() if v == k) for k in "ABC"}
    result = Recomputed(len(customer_ids), counts["A"], counts["B"], counts["C"], key_accounts)
    return result, added, removed


# --- the monthly run ---------------------------------------------------------------------------


def month_end(month: str, tz: ZoneInfo) -> datetime:
    """The first instant (local) of the month after ``month`` (YYYY-MM), in UTC."""
    try:
        year, mon = (int(x) for x in month.split("-"))
        if len(month) != 7 or month[4] != "-":
            raise ValueError(month)
        first = date(year, mon, 1)
    except ValueError:
        raise Invalid(E.BAD_DATE, f"{month!r} is not a month YYYY-MM", field="month") from None
    nxt = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return datetime(nxt.year, nxt.month, 1, tzinfo=tz).astimezone(UTC)


def last_closed_month(now: datetime, tz: ZoneInfo) -> str:
    local = now.astimezone(tz).date().replace(day=1) - timedelta(days=1)
    return f"{local.year:04d}-{local.month:02d}"


async def run_month(
    session: AsyncSession, month: str, tz: ZoneInfo, actor: str, now: datetime | None = None
) -> MonthRun:
    """Segments, credit and tags as of the end of ``month`` (or ``now`` if that is earlier),
    recorded in ``segmentation_runs``. Running a month again computes the same and records it
    once."""
    at = month_end(month, tz)
    if now is not None and now < at:
        at = now
    result, added, removed = await _recompute(session, at, tz)
    run = await session.get(SegmentationRun, month)
    if run is None:
        session.add(SegmentationRun(month=month, customers=result.customers, ran_by=actor))
    else:
        run.customers, run.ran_by, run.ran_at = result.customers, actor, utcnow()
    try:
        await session.commit()
    except IntegrityError:  # the same month recorded at the same moment elsewhere
        await session.rollback()
    return MonthRun(month, result, added, removed)


async def monthly_due(session: AsyncSession, now: datetime, tz: ZoneInfo) -> MonthRun | None:
    """The leader's job: run the month that last closed, once (None if it was run)."""
    month = last_closed_month(now, tz)
    if await session.get(SegmentationRun, month) is not None:
        return None
    return await run_month(session, month, tz, "leader", now)


# --- value tags (R97) ----------------------------------------------------------------------------


def tag_out(t: CustomerTag) -> TagOut:
    return TagOut(t.tag, t.source, t.added_by, t.added_at)


async def customer_tags(session: AsyncSession, customer_id: int) -> list[TagOut]:
    rows = await session.scalars(
        select(CustomerTag)
        .where(CustomerTag.customer_id == customer_id)
        .order_by(CustomerTag.source, CustomerTag.tag)
    )
    order = {t: i for i, t in enumerate(rules.COMPUTED_TAGS)}
    out = [tag_out(t) for t in rows]
    return sorted(out, key=lambda t: (t.source != TagSource.COMPUTED, order.get(t.tag, 0), t.tag))


async def get_tags(session: AsyncSession, caller: Caller, customer_id: int) -> CustomerTags:
    await visible_customer(session, caller, customer_id)
    events = await session.scalars(
        select(CustomerTagEvent)
        .where(CustomerTagEvent.customer_id == customer_id)
        .order_by(CustomerTagEvent.at.desc(), CustomerTagEvent.id.desc())
        .limit(200)
    )
    return CustomerTags(
        await customer_tags(session, customer_id),
        [TagEventOut(e.tag, e.source, e.added, e.actor, e.at) for e in events],
    )


async def add_tag(
    session: AsyncSession, caller: Caller, customer_id: int, data: TagIn
) -> tuple[TagOut, bool]:
    """A manager's label on a customer of their portfolio: (the tag, True) when added now,
    (the same tag, False) when the customer already carries it."""
    await visible_customer(session, caller, customer_id)
    key = (customer_id, TagSource.MANUAL, data.tag)
    found = await session.get(CustomerTag, key)
    if found is not None:
        return tag_out(found), False
    now = utcnow()
    row = CustomerTag(
        customer_id=customer_id,
        source=TagSource.MANUAL,
        tag=data.tag,
        added_by=caller.username,
        added_at=now,
    )
    session.add(row)
    session.add(_event(customer_id, TagSource.MANUAL, data.tag, True, caller.username, now))
    try:
        await session.commit()
    except IntegrityError:  # the same label at the same moment: the other request added it
        await session.rollback()
        found = await session.get(CustomerTag, key)
        assert found is not None
        return tag_out(found), False
    return tag_out(row), True


async def remove_tag(session: AsyncSession, caller: Caller, customer_id: int, tag: str) -> None:
    """Remove a manual label (computed tags follow the data: 404 here)."""
    await visible_customer(session, caller, customer_id)
    gone = await session.execute(
        delete(CustomerTag).where(
            CustomerTag.customer_id == customer_id,
            CustomerTag.source == TagSource.MANUAL,
            CustomerTag.tag == tag,
        )
    )
    if gone.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        raise NotFound(E.NOT_FOUND, f"no label {tag!r} on customer {customer_id}", field="tag")
    session.add(_event(customer_id, TagSource.MANUAL, tag, False, caller.username, utcnow()))
    await session.commit()


async def deadline_pct(session: AsyncSession, customer_id: int) -> int:
    """The share (percent) of a work-order deadline the customer's service level gives: the
    level of the last segmentation run, standard (100) without one."""
    level = await session.scalar(
        select(CustomerSegment.service_level).where(CustomerSegment.customer_id == customer_id)
    )
    return rules.DEADLINE_PCT.get(level or "standard", 100)


def segment_out(s: CustomerSegment) -> Segment:
    return Segment(
        s.abc_class,
        s.annual_revenue_fen,
        s.credit_score,
        s.credit_rating,
        s.credit_inputs,
        s.computed_at,
        s.service_level,
    )
