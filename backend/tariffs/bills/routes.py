"""Issued bills under /api: an account's issued bills and one bill (the customer and staff in
scope; another customer's bill is 404), and the arrears list with ageing (staff, within their
scope)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from litestar import Response, get
from litestar.datastructures import State
from litestar.params import FromQuery
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts import service as accounts
from backend.accounts.models import Account, Customer, Language
from backend.auth.guards import (
    EVERYONE,
    STAFF,
    ApiController,
    Caller,
    CallerDep,
    DbSession,
    requires_role,
)
from backend.auth.scope import account_scope
from backend.controllers import now_ms
from backend.errors import ErrorCode, NotFound
from backend.paging import Id, Limit, Offset
from backend.prepaid.notices import language_of
from backend.tariffs.bills import service
from backend.tariffs.bills.models import IssuedBill
from backend.tariffs.bills.pdf import PrintedBill, render
from backend.tariffs.bills.schemas import (
    Ageing,
    ArrearsGroup,
    ArrearsOut,
    ArrearsRow,
    IssuedBillOut,
    IssuedBillsOut,
)


def _today(state: State) -> date:
    return datetime.fromtimestamp(now_ms(state) / 1000, ZoneInfo(state.settings.timezone)).date()


def _out(st: service.BillState, totals: dict[tuple[str, int], int]) -> IssuedBillOut:
    b = st.bill
    previous = totals.get((b.month, b.revision - 1)) if b.revision > 0 else None
    return IssuedBillOut(
        id=b.id, number=b.number, account_id=b.account_id, month=b.month, revision=b.revision,
        lines=service.decode_lines(b), exact_cny=b.exact_cny, total_fen=b.total_fen,
        energy_wh=b.energy_wh, due_on=b.due_on, issued_at=b.issued_at, paid_fen=st.paid_fen,
        owed_fen=st.owed_fen, paid=st.owed_fen <= 0, late_fee_fen=st.late_fee_fen,
        previous_fen=previous,
    )  # fmt: skip


async def _scoped(
    session: AsyncSession, caller: Caller, bill_id: int
) -> tuple[IssuedBill, IssuedBillOut]:
    """The bill if the caller may see its account (another customer's bill is 404)."""
    row = await session.scalar(select(IssuedBill).where(IssuedBill.id == bill_id))
    if row is None:
        raise NotFound(ErrorCode.BILL_NOT_FOUND, f"bill {bill_id} not found", bill=bill_id)
    try:
        await accounts.get_account(session, caller, row.account_id)
    except NotFound:
        raise NotFound(
            ErrorCode.BILL_NOT_FOUND, f"bill {bill_id} not found", bill=bill_id
        ) from None
    totals = await service.totals(session, row.account_id)
    for st in await service.bill_states(session, row.account_id):
        if st.bill.id == row.id:
            return row, _out(st, totals)
    # an earlier revision: shown as issued; what is owed is owed on the latest revision
    out = _out(service.BillState(row, 0, 0, None), totals)
    out.owed_fen, out.superseded = 0, True
    return row, out


def _ageing(buckets: dict[str, int], late_fee_fen: int) -> Ageing:
    a = Ageing(**buckets, late_fee_fen=late_fee_fen)
    a.total_fen = a.d0_30_fen + a.d31_60_fen + a.d61_90_fen + a.over_90_fen + late_fee_fen
    return a


def _add(into: Ageing, a: Ageing) -> None:
    for f in Ageing.__struct_fields__:
        setattr(into, f, getattr(into, f) + getattr(a, f))


class IssuedBillController(ApiController):
    path = "/api"
    tags = ("bills",)

    @get(
        "/accounts/{account_id:int}/issued-bills",
        guards=[requires_role(*EVERYONE)],
        summary="Issued bills of an account",
    )
    async def list_bills(
        self, caller: CallerDep, db_session: DbSession, account_id: Id
    ) -> IssuedBillsOut:
        """The account's issued monthly bills (latest revision of each month), newest first,
        each with what is paid (payments go to the oldest bill first), owed and late fees."""
        account = await accounts.get_account(db_session, caller, account_id)
        states = await service.bill_states(db_session, account.id)
        totals = await service.totals(db_session, account.id)
        items = [_out(st, totals) for st in reversed(states)]
        return IssuedBillsOut(
            items, sum(max(0, i.owed_fen) for i in items), sum(i.late_fee_fen for i in items)
        )

    @get(
        "/accounts/{account_id:int}/bill-revisions", guards=[requires_role(*STAFF)],
        summary="Every revision of an account's bills",
    )  # fmt: skip
    async def revisions(
        self, caller: CallerDep, db_session: DbSession, account_id: Id
    ) -> IssuedBillsOut:
        """Staff (in scope): every issued bill of the account and every revision of it, newest
        month and revision first; a replaced revision is ``superseded`` with nothing owed on it
        (what is owed is owed on the latest), a revision names the total it replaced."""
        account = await accounts.get_account(db_session, caller, account_id)
        states = {st.bill.id: st for st in await service.bill_states(db_session, account.id)}
        totals = await service.totals(db_session, account.id)
        items = []
        for row in await service.all_revisions(db_session, account.id):
            st = states.get(row.id)
            out = _out(st or service.BillState(row, 0, 0, None), totals)
            if st is None:
                out.owed_fen, out.superseded = 0, True
            items.append(out)
        return IssuedBillsOut(
            items, sum(max(0, i.owed_fen) for i in items), sum(i.late_fee_fen for i in items)
        )

    @get("/issued-bills/{bill_id:int}", guards=[requires_role(*EVERYONE)], summary="Issued bill")
    async def one(self, caller: CallerDep, db_session: DbSession, bill_id: Id) -> IssuedBillOut:
        """One issued bill (any revision) with its lines; another customer's bill is 404."""
        _row, out = await _scoped(db_session, caller, bill_id)
        return out

    @get(
        "/issued-bills/{bill_id:int}/pdf", guards=[requires_role(*EVERYONE)],
        media_type="application/pdf", summary="Issued bill as PDF",
    )  # fmt: skip
    async def pdf(
        self, caller: CallerDep, db_session: DbSession, bill_id: Id,
        lang: FromQuery[Language | None] = None,
    ) -> Response[bytes]:  # fmt: skip
        """The bill printed (A4, one page for a usual bill): number, period, account, every line
        explained, total, due date, late fees, what is owed; in ``lang`` or the customer's
        language. Scoped like the bill: another customer's bill is 404."""
        row, out = await _scoped(db_session, caller, bill_id)
        account = await db_session.get(Account, row.account_id)
        assert account is not None
        customer = await db_session.get(Customer, account.customer_id)
        printed = PrintedBill(
            number=out.number, month=out.month, revision=out.revision,
            account_number=account.number, customer_name=customer.name if customer else "",
            lines=out.lines, total_fen=out.total_fen, energy_wh=out.energy_wh,
            due_on=out.due_on, late_fee_fen=out.late_fee_fen, owed_fen=out.owed_fen,
            superseded=out.superseded,
        )  # fmt: skip
        language = lang.value if lang is not None else language_of(customer)
        return Response(
            render(printed, language), media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{out.number}.pdf"'},
        )  # fmt: skip

    @get("/arrears", guards=[requires_role(*STAFF)], summary="Postpaid arrears with ageing")
    async def arrears(
        self, caller: CallerDep, db_session: DbSession, state: State,
        limit: Limit = 50, offset: Offset = 0,
    ) -> ArrearsOut:  # fmt: skip
        """欠费: every postpaid account in the caller's scope with a bill unpaid past its due
        date, longest overdue first, its unpaid amounts aged 1–30, 31–60, 61–90 and over 90
        days past due and its late fees; totals per grid and per transformer area."""
        today = _today(state)
        lines = await service.arrears(db_session, account_scope(caller), today)
        rows = [
            ArrearsRow(
                a.account.id, a.account.number, a.customer.name, a.customer.grid_id,
                a.customer.transformer_area_id, a.oldest_due_on,
                (today - a.oldest_due_on).days, _ageing(a.buckets, a.late_fee_fen),
            )
            for a in lines
        ]  # fmt: skip
        total = Ageing()
        grids: dict[int | None, ArrearsGroup] = {}
        areas: dict[int | None, ArrearsGroup] = {}
        for r in rows:
            _add(total, r.ageing)
            for key, groups in ((r.grid_id, grids), (r.transformer_area_id, areas)):
                g = groups.setdefault(key, ArrearsGroup(key, 0, Ageing()))
                g.accounts += 1
                _add(g.ageing, r.ageing)
        order = lambda g: (g.id is None, g.id or 0)  # noqa: E731
        return ArrearsOut(
            today, rows[offset : offset + limit], len(rows), limit, offset,
            sorted(grids.values(), key=order), sorted(areas.values(), key=order), total,
        )  # fmt: skip
