"""The manager's side: portfolio with alerts, the customer 360, visits with GPS check-in, notes,
and the customer's way to their manager. Scoped by ``service.portfolio_condition``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Account, Customer
from backend.auth.guards import Caller
from backend.auth.models import User
from backend.errors import Conflict, Invalid, NotFound
from backend.errors import ErrorCode as E
from backend.field.geo import haversine_m
from backend.field.grids.models import Grid, OrgUnit
from backend.keyaccounts import rules
from backend.keyaccounts.models import (
    CustomerProfile,
    CustomerSegment,
    CustomerTag,
    ManagerCard,
    Note,
    Visit,
    VisitStatus,
)
from backend.keyaccounts.schemas import (
    AccountLine,
    Alert,
    AlertCode,
    CheckIn,
    Customer360,
    CustomerLine,
    DayWh,
    ManagerOut,
    MeterLine,
    NoteIn,
    NoteOut,
    OrderLine,
    OrgNode,
    PortfolioItem,
    PortfolioPage,
    SegmentationSettings,
    VisitIn,
    VisitOut,
)
from backend.keyaccounts.service import (
    customer_tags,
    get_settings,
    load_rules,
    portfolio_condition,
    profile_out,
    rule_input,
    segment_out,
    visible_customer,
)
from backend.metering.models import ConsumptionDaily, Meter
from backend.servicedesk.models import OutageNotice
from backend.servicedesk.orders.models import OrderStatus, WorkOrder
from backend.servicedesk.workflow.models import OrderKind
from protocols.contract import Quantity

TREND_DAYS = 30


def ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


async def daily_wh(
    session: AsyncSession, customer_ids: Sequence[int], first: date, last: date
) -> dict[int, dict[date, int]]:
    """Active energy imported per customer and local day, first..last inclusive (days with
    data only)."""
    rows = await session.execute(
        select(Meter.customer_id, ConsumptionDaily.day, func.sum(ConsumptionDaily.wh))
        .join(Meter, Meter.id == ConsumptionDaily.meter_pk)
        .where(
            Meter.customer_id.in_(customer_ids),
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


async def alerts_for(
    session: AsyncSession,
    customers: Sequence[Customer],
    cfg: SegmentationSettings,
    now: datetime,
    tz: ZoneInfo,
) -> dict[int, list[Alert]]:
    """Every alert of these customers at ``now``, in a fixed order (docs/key-accounts.md)."""
    ids = [c.id for c in customers]
    out: dict[int, list[Alert]] = {cid: [] for cid in ids}
    if not ids:
        return out
    today = now.astimezone(tz).date()
    recent_from = today - timedelta(days=cfg.recent_days)
    base_from = recent_from - timedelta(days=cfg.baseline_days)
    days = await daily_wh(session, ids, base_from, today - timedelta(days=1))
    for cid in ids:
        series = days.get(cid, {})
        baseline = [wh for d, wh in series.items() if d < recent_from]
        recent = [wh for d, wh in series.items() if d >= recent_from]
        change = rules.consumption_change(
            baseline, recent, cfg.min_baseline_days, cfg.drop_pct, cfg.jump_pct
        )
        if change:
            code = AlertCode.CONSUMPTION_DROP if change[0] == "drop" else AlertCode.CONSUMPTION_JUMP
            out[cid].append(Alert(code, {"recent_wh": change[1], "usual_wh": change[2]}))
    owed = await session.execute(
        select(Account.customer_id, func.sum(Account.balance_fen))
        .where(Account.customer_id.in_(ids), Account.balance_fen < 0)
        .group_by(Account.customer_id)
    )
    for cid, total in owed:
        out[cid].append(Alert(AlertCode.ARREARS, {"arrears_fen": -int(total)}))
    by_area: dict[int, list[int]] = defaultdict(list)
    for c in customers:
        if c.transformer_area_id:
            by_area[c.transformer_area_id].append(c.id)
    if by_area:
        outages = await session.scalars(
            select(OutageNotice).where(
                OutageNotice.transformer_area_id.in_(list(by_area)),
                OutageNotice.cancelled.is_(False),
                OutageNotice.ended_at.is_(None),
                OutageNotice.starts_at <= now,
            )
        )
        for o in outages:
            for cid in by_area[o.transformer_area_id or 0]:
                out[cid].append(Alert(AlertCode.OUTAGE, {"since_at": ms(o.starts_at)}))
    horizon = today + timedelta(days=cfg.contract_warning_days)
    expiring = await session.execute(
        select(CustomerProfile.customer_id, CustomerProfile.contract_expires_on).where(
            CustomerProfile.customer_id.in_(ids),
            CustomerProfile.contract_expires_on.is_not(None),
            CustomerProfile.contract_expires_on <= horizon,
        )
    )
    for cid, on in expiring:
        expires_on = on.isoformat() if on else ""
        out[cid].append(Alert(AlertCode.CONTRACT_EXPIRING, {"expires_on": expires_on}))
    for cid, alert in [*await unanswered(session, ids), *await open_complaints(session, ids)]:
        out[cid].append(alert)
    return out


async def unanswered(session: AsyncSession, ids: Sequence[int]) -> list[tuple[int, Alert]]:
    """One ``alert.customer_message`` per customer whose messages wait for a staff note."""
    rows = await session.execute(
        select(Note.customer_id, func.count())
        .where(Note.customer_id.in_(ids), Note.from_customer.is_(True), Note.answered.is_(False))
        .group_by(Note.customer_id)
    )
    return [(cid, Alert(AlertCode.CUSTOMER_MESSAGE, {"count": int(n)})) for cid, n in rows]


async def open_complaints(session: AsyncSession, ids: Sequence[int]) -> list[tuple[int, Alert]]:
    """One ``alert.open_complaint`` per customer with open complaint work orders (投诉)."""
    rows = await session.execute(
        select(WorkOrder.customer_id, func.count(), func.min(WorkOrder.created_at))
        .where(
            WorkOrder.customer_id.in_(ids),
            WorkOrder.kind == OrderKind.COMPLAINT,
            WorkOrder.status == OrderStatus.OPEN,
        )
        .group_by(WorkOrder.customer_id)
    )
    return [
        (cid, Alert(AlertCode.OPEN_COMPLAINT, {"count": int(n), "since_at": ms(first)}))
        for cid, n, first in rows
        if cid is not None
    ]


CHUNK = 500  # customers per round of alert queries (bounded IN lists)


async def _items(
    session: AsyncSession,
    customers: Sequence[Customer],
    cfg: SegmentationSettings,
    rule_set: dict[int, list[dict[str, Any]]],
    now: datetime,
    tz: ZoneInfo,
) -> list[PortfolioItem]:
    ids = [c.id for c in customers]
    profiles = {
        p.customer_id: p
        for p in await session.scalars(
            select(CustomerProfile).where(CustomerProfile.customer_id.in_(ids))
        )
    }
    segments = {
        s.customer_id: s
        for s in await session.scalars(
            select(CustomerSegment).where(CustomerSegment.customer_id.in_(ids))
        )
    }
    alerts = await alerts_for(session, customers, cfg, now, tz)
    tags: dict[int, list[str]] = defaultdict(list)
    order = {t: i for i, t in enumerate(rules.COMPUTED_TAGS)}
    for row in await session.scalars(select(CustomerTag).where(CustomerTag.customer_id.in_(ids))):
        tags[row.customer_id].append(row.tag)
    items = []
    for c in customers:
        p, s = profiles.get(c.id), segments.get(c.id)
        items.append(
            PortfolioItem(
                customer_id=c.id,
                number=c.number,
                name=c.name,
                grid_id=c.grid_id,
                key_account_classes=rules.key_account_classes(rule_input(p), rule_set),
                abc_class=s.abc_class if s else None,
                credit_rating=s.credit_rating if s else None,
                manager_id=p.manager_id if p else None,
                alerts=alerts[c.id],
                tags=sorted(set(tags[c.id]), key=lambda t: (order.get(t, len(order)), t)),
                service_level=s.service_level if s else None,
            )
        )
    return items


async def portfolio(
    session: AsyncSession,
    caller: Caller,
    *,
    manager_id: int | None,
    alerts_only: bool,
    tag: str | None = None,
    limit: int,
    offset: int,
    now: datetime,
    tz: ZoneInfo,
) -> PortfolioPage:
    """The caller's customers, key accounts first (then by number), each with its alerts.
    ``manager_id`` narrows the back office's view to one manager's portfolio. A page is read
    with LIMIT/OFFSET; ``alerts_only`` has to judge the whole portfolio, in chunks."""
    where = [portfolio_condition(caller)]
    if manager_id is not None:
        grids = select(Grid.id).where(Grid.inspector_id == manager_id)
        named = select(CustomerProfile.customer_id).where(CustomerProfile.manager_id == manager_id)
        where.append(Customer.grid_id.in_(grids) | Customer.id.in_(named))
    if tag is not None:  # a value tag, computed or a manager's label (R97)
        where.append(Customer.id.in_(select(CustomerTag.customer_id).where(CustomerTag.tag == tag)))
    query = (
        select(Customer)
        .where(*where)
        .order_by(
            Customer.key_account_class.is_(None),
            Customer.key_account_class,
            Customer.number,
            Customer.id,
        )
    )
    cfg = await get_settings(session)
    rule_set = await load_rules(session)
    if not alerts_only:
        total = await session.scalar(select(func.count()).select_from(Customer).where(*where))
        page = list(await session.scalars(query.limit(limit).offset(offset)))
        return PortfolioPage(await _items(session, page, cfg, rule_set, now, tz), int(total or 0))
    flagged: list[PortfolioItem] = []
    start = 0
    while True:
        chunk = list(await session.scalars(query.limit(CHUNK).offset(start)))
        flagged += [i for i in await _items(session, chunk, cfg, rule_set, now, tz) if i.alerts]
        if len(chunk) < CHUNK:
            break
        start += CHUNK
    return PortfolioPage(flagged[offset : offset + limit], len(flagged))


async def managers_of(session: AsyncSession, customer: Customer) -> list[ManagerOut]:
    """The named key-account manager first, then the grid's manager (once if the same)."""
    ids: list[tuple[int, str]] = []
    named = await session.scalar(
        select(CustomerProfile.manager_id).where(CustomerProfile.customer_id == customer.id)
    )
    if named is not None:
        ids.append((named, "key_account"))
    if customer.grid_id is not None:
        grid_manager = await session.scalar(
            select(Grid.inspector_id).where(Grid.id == customer.grid_id)
        )
        if grid_manager is not None and grid_manager != named:
            ids.append((grid_manager, "grid"))
    out = []
    for uid, kind in ids:
        user = await session.get(User, uid)
        if user is None or not user.active:
            continue
        card = await session.get(ManagerCard, uid)
        out.append(
            ManagerOut(uid, user.display_name or user.username, card.phone if card else "", kind)
        )
    return out


def visit_out(v: Visit, customer_name: str) -> VisitOut:
    return VisitOut(
        id=v.id,
        client_id=v.client_id,
        customer_id=v.customer_id,
        customer_name=customer_name,
        manager_id=v.manager_id,
        planned_for=v.planned_for,
        purpose=v.purpose,
        status=v.status,
        checked_in_at=v.checked_in_at,
        latitude=v.latitude,
        longitude=v.longitude,
        accuracy_m=v.accuracy_m,
        distance_m=v.distance_m,
    )


async def _notes(session: AsyncSession, customer_id: int, limit: int = 20) -> list[NoteOut]:
    rows = await session.execute(
        select(Note, User.username)
        .join(User, User.id == Note.author_id)
        .where(Note.customer_id == customer_id)
        .order_by(Note.created_at.desc(), Note.id.desc())
        .limit(limit)
    )
    return [
        NoteOut(n.id, n.customer_id, author, n.from_customer, n.text, n.answered, n.created_at)
        for n, author in rows
    ]


async def customer_360(
    session: AsyncSession, caller: Caller, customer_id: int, now: datetime, tz: ZoneInfo
) -> Customer360:
    c = await visible_customer(session, caller, customer_id)
    profile = await session.get(CustomerProfile, c.id)
    segment = await session.get(CustomerSegment, c.id)
    accounts = list(
        await session.scalars(
            select(Account).where(Account.customer_id == c.id).order_by(Account.id)
        )
    )
    meters = list(
        await session.scalars(select(Meter).where(Meter.customer_id == c.id).order_by(Meter.id))
    )
    today = now.astimezone(tz).date()
    first = today - timedelta(days=TREND_DAYS)
    series = (await daily_wh(session, [c.id], first, today)).get(c.id, {})
    trend = [
        DayWh(first + timedelta(days=i), series.get(first + timedelta(days=i), 0))
        for i in range(TREND_DAYS + 1)
    ]
    visits = await session.scalars(
        select(Visit).where(Visit.customer_id == c.id).order_by(Visit.planned_for.desc()).limit(20)
    )
    cfg = await get_settings(session)
    return Customer360(
        customer=CustomerLine(
            c.id,
            c.number,
            c.name,
            c.phone,
            c.address,
            c.category.value,
            c.grid_id,
            c.latitude,
            c.longitude,
        ),
        profile=profile_out(profile) if profile else None,
        key_account_classes=rules.key_account_classes(
            rule_input(profile), await load_rules(session)
        ),
        segment=segment_out(segment) if segment else None,
        managers=await managers_of(session, c),
        accounts=[AccountLine(a.id, a.number, a.kind.value, a.balance_fen) for a in accounts],
        arrears_fen=-sum(min(0, a.balance_fen) for a in accounts),
        meters=[MeterLine(m.id, m.meter_id, m.status.value, m.online) for m in meters],
        trend=trend,
        alerts=(await alerts_for(session, [c], cfg, now, tz))[c.id],
        visits=[visit_out(v, c.name) for v in visits],
        notes=await _notes(session, c.id),
        work_orders=await _orders(session, c.id),
        tags=await customer_tags(session, c.id),
    )


async def _orders(session: AsyncSession, customer_id: int) -> list[OrderLine]:
    rows = await session.scalars(
        select(WorkOrder)
        .where(WorkOrder.customer_id == customer_id)
        .order_by(WorkOrder.created_at.desc(), WorkOrder.id.desc())
        .limit(20)
    )
    return [
        OrderLine(
            o.id,
            o.kind.value,
            o.status.value,
            ms(o.created_at),
            ms(o.closed_at) if o.closed_at else None,
        )
        for o in rows
    ]


# --- visits --------------------------------------------------------------------------------------

CHECK_IN_FAR_M = 500  # documented: a check-in further than this is shown as away from site


async def plan_visit(session: AsyncSession, caller: Caller, data: VisitIn) -> tuple[VisitOut, bool]:
    """A visit for the calling manager. The same client_id again is the same visit (True: a
    replay); with other content it is a 409."""
    existing = await session.scalar(select(Visit).where(Visit.client_id == data.client_id))
    if existing is None:
        c = await visible_customer(session, caller, data.customer_id)
        visit = Visit(
            client_id=data.client_id,
            customer_id=c.id,
            manager_id=caller.user_id,
            planned_for=data.planned_for,
            purpose=data.purpose,
            status=VisitStatus.PLANNED,
        )
        session.add(visit)
        try:
            await session.commit()
            return visit_out(visit, c.name), False
        except IntegrityError:
            await session.rollback()
            existing = await session.scalar(select(Visit).where(Visit.client_id == data.client_id))
            if existing is None:
                raise
    same = (existing.manager_id, existing.customer_id, existing.planned_for, existing.purpose) == (
        caller.user_id,
        data.customer_id,
        data.planned_for,
        data.purpose,
    )
    if existing.manager_id != caller.user_id:
        raise Conflict(E.CLIENT_ID_REUSED, "client_id already used", field="client_id")
    if not same:
        raise Conflict(E.CLIENT_ID_REUSED, "client_id used for another visit", field="client_id")
    c = await visible_customer(session, caller, existing.customer_id)
    return visit_out(existing, c.name), True


async def _own_visit(
    session: AsyncSession, caller: Caller, visit_id: int
) -> tuple[Visit, Customer]:
    row = (
        await session.execute(
            select(Visit, Customer)
            .join(Customer, Customer.id == Visit.customer_id)
            .where(Visit.id == visit_id, Visit.manager_id == caller.user_id)
        )
    ).first()
    if row is None:
        raise NotFound(E.VISIT_NOT_FOUND, f"visit {visit_id} not found", visit=visit_id)
    return row[0], row[1]


async def check_in(
    session: AsyncSession, caller: Caller, visit_id: int, data: CheckIn, now: datetime
) -> VisitOut:
    """Compare-and-set planned → done with the GPS fix and its distance from the customer's
    registered position; checking in again answers the first check-in unchanged."""
    visit, customer = await _own_visit(session, caller, visit_id)
    if visit.status == VisitStatus.CANCELLED:
        raise Conflict(E.VISIT_CLOSED, "the visit was cancelled", visit=visit_id)
    if visit.status == VisitStatus.PLANNED:
        distance = (
            round(haversine_m(data.latitude, data.longitude, customer.latitude, customer.longitude))
            if customer.latitude is not None and customer.longitude is not None
            else None
        )
        await session.execute(
            update(Visit)
            .where(Visit.id == visit_id, Visit.status == VisitStatus.PLANNED)
            .values(
                status=VisitStatus.DONE,
                checked_in_at=now,
                latitude=data.latitude,
                longitude=data.longitude,
                accuracy_m=data.accuracy_m,
                distance_m=distance,
            )
            .execution_options(synchronize_session=False)
        )
        await session.commit()
        await session.refresh(visit)
    return visit_out(visit, customer.name)


async def my_visits(
    session: AsyncSession, caller: Caller, first: date | None, last: date | None
) -> list[VisitOut]:
    query = (
        select(Visit, Customer.name)
        .join(Customer, Customer.id == Visit.customer_id)
        .where(Visit.manager_id == caller.user_id)
        .order_by(Visit.planned_for, Visit.id)
        .limit(500)
    )
    if first is not None:
        query = query.where(Visit.planned_for >= first)
    if last is not None:
        query = query.where(Visit.planned_for <= last)
    return [visit_out(v, name) for v, name in await session.execute(query)]


# --- notes and the customer's messages -----------------------------------------------------------


async def add_note(
    session: AsyncSession, caller: Caller, customer_id: int, data: NoteIn
) -> NoteOut:
    """A staff note; it answers the customer's waiting messages."""
    c = await visible_customer(session, caller, customer_id)
    text = data.text.strip()
    if not text:
        raise Invalid(E.INVALID_REQUEST, "text is blank", field="text")
    note = Note(customer_id=c.id, author_id=caller.user_id, text=text)
    session.add(note)
    await session.execute(
        update(Note)
        .where(Note.customer_id == c.id, Note.from_customer.is_(True), Note.answered.is_(False))
        .values(answered=True)
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    return NoteOut(note.id, c.id, caller.username, False, text, False, note.created_at)


async def _own_customer(session: AsyncSession, caller: Caller) -> Customer:
    customer = (
        await session.get(Customer, caller.customer_id) if caller.customer_id is not None else None
    )
    if customer is None:
        raise NotFound(E.CUSTOMER_NOT_FOUND, "no customer for this user")
    return customer


async def my_managers(session: AsyncSession, caller: Caller) -> list[ManagerOut]:
    return await managers_of(session, await _own_customer(session, caller))


async def message_manager(session: AsyncSession, caller: Caller, data: NoteIn) -> NoteOut:
    customer = await _own_customer(session, caller)
    if not await managers_of(session, customer):
        raise NotFound(E.NO_MANAGER, "no manager to write to")
    text = data.text.strip()
    if not text:
        raise Invalid(E.INVALID_REQUEST, "text is blank", field="text")
    note = Note(customer_id=customer.id, author_id=caller.user_id, from_customer=True, text=text)
    session.add(note)
    await session.commit()
    return NoteOut(note.id, customer.id, caller.username, True, text, False, note.created_at)


async def org_tree(session: AsyncSession, caller: Caller) -> list[OrgNode]:
    """Province → city → district → grid (R110), each with the grids, customers and key
    accounts below it that the caller sees; units with nothing visible below are left out
    unless the caller sees everything. Parents come before their children."""
    visible = portfolio_condition(caller)
    counted = await session.execute(
        select(
            Customer.grid_id,
            func.count(),
            func.count(Customer.key_account_class),
        )
        .where(visible, Customer.grid_id.is_not(None))
        .group_by(Customer.grid_id)
    )
    per_grid = {gid: (int(n), int(k)) for gid, n, k in counted}
    grid_query = select(Grid, User.display_name, User.username).outerjoin(
        User, User.id == Grid.inspector_id
    )
    if not caller.unscoped:
        grid_query = grid_query.where(Grid.id.in_(caller.grid_ids))
    grids = (await session.execute(grid_query.order_by(Grid.code))).all()
    units = {u.id: u for u in await session.scalars(select(OrgUnit))}
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    leaves: list[OrgNode] = []
    for g, display, username in grids:
        n, k = per_grid.get(g.id, (0, 0))
        leaves.append(
            OrgNode(
                f"grid:{g.id}",
                f"unit:{g.org_unit_id}" if g.org_unit_id in units else None,
                "grid",
                g.code,
                g.name,
                (display or username) if username else None,
                1,
                n,
                k,
            )
        )
        uid = g.org_unit_id
        while uid is not None and uid in units:  # roll up to the province
            t = totals[uid]
            t[0], t[1], t[2] = t[0] + 1, t[1] + n, t[2] + k
            uid = units[uid].parent_id
    depth = {"province": 0, "city": 1, "district": 2}
    shown = [u for u in units.values() if caller.unscoped or u.id in totals]
    shown.sort(key=lambda u: (depth.get(u.level.value, 3), u.code))
    nodes = [
        OrgNode(
            f"unit:{u.id}",
            f"unit:{u.parent_id}" if u.parent_id is not None else None,
            u.level.value,
            u.code,
            u.name,
            None,
            *totals.get(u.id, [0, 0, 0]),
        )
        for u in shown
    ]
    return nodes + leaves
