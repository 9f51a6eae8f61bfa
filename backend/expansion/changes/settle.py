"""What approving a closure (销户) or a transfer of ownership (过户) does to the account, in the
approver's transaction: the final bill, the settlement of the balance (a refund entry, a pair
of adjustment entries, or the credit carried), the meters removed or passed on. Nothing here
commits; ``service.approve`` does, with the change's work order closed in the same
transaction."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Account, Customer
from backend.errors import Conflict, Unprocessable
from backend.errors import ErrorCode as E
from backend.expansion.changes.models import AccountChange, ChangeText, Settlement
from backend.metering.intervals import ACCEPTED_QUALITIES
from backend.metering.models import Meter, MeterStatus, Reading
from backend.prepaid import billing, ledger
from backend.prepaid.models import EntryKind
from backend.tariffs.model import TariffError
from backend.texts import Text
from backend.types import local_day, to_epoch_ms
from protocols.contract import Quantity


async def final_reading(session: AsyncSession, meter_pk: int) -> Reading | None:
    return await session.scalar(
        select(Reading)
        .where(
            Reading.meter_pk == meter_pk,
            Reading.quantity == Quantity.ENERGY_IMPORT,
            Reading.quality.in_(ACCEPTED_QUALITIES),
        )
        .order_by(Reading.ts.desc())
        .limit(1)
    )


async def apply_closure(
    session: AsyncSession,
    account: Account,
    row: AccountChange,
    now: datetime,
    tz: ZoneInfo,
    *,
    bill: bool,
    wanted: dict[str, object] | None = None,
    refund_note: Text | None = None,
) -> None:
    """``wanted``: the settlement asked for when it is not the row's own ``after`` (a move
    names the account it opens); ``refund_note``: the refund's memo (a closure's by default)."""
    wanted = dict(row.after) if wanted is None else wanted
    if bill:  # the final bill: every reading that arrived is charged before settling
        try:
            await billing.bill_account(session, account.id, tz)
        except TariffError as exc:
            raise Unprocessable(
                E.TARIFF_NOT_IN_FORCE,
                str(exc),
                field="account_id",
                schedule="",
                day=local_day(to_epoch_ms(now), tz).isoformat(),
            ) from None
    balance = await session.scalar(select(Account.balance_fen).where(Account.id == account.id))
    assert balance is not None
    if balance < 0:
        raise Conflict(
            E.ACCOUNT_IN_ARREARS,
            f"account {account.id} owes {-balance} fen",
            account=account.id,
            balance_fen=balance,
        )
    settlement = Settlement(str(wanted["settlement"]))
    target_id = wanted.get("transfer_to_account_id")
    if balance > 0 and settlement is Settlement.REFUND:
        await ledger.post(
            session,
            account.id,
            EntryKind.REFUND,
            -balance,
            actor="closure",
            memo=f"closure {row.id}: refund",
            note=refund_note or Text(ChangeText.REFUND, {"change": row.id}),
        )
    elif balance > 0:
        assert isinstance(target_id, int)
        target = await session.get(Account, target_id)
        if target is None or target.closed_at is not None:
            raise Conflict(E.ACCOUNT_CLOSED, f"account {target_id} is closed", account=target_id)
        await ledger.post(
            session,
            account.id,
            EntryKind.ADJUSTMENT,
            -balance,
            actor="closure",
            memo=f"closure {row.id}: to account {target.number}",
            note=Text(ChangeText.TRANSFER_OUT, {"account": target.number}),
        )
        await ledger.post(
            session,
            target.id,
            EntryKind.ADJUSTMENT,
            balance,
            actor="closure",
            memo=f"closure {row.id}: from account {account.number}",
            note=Text(ChangeText.TRANSFER_IN, {"account": account.number}),
        )
    after: dict[str, object] = {**wanted, "settled_fen": balance}
    meters = list(
        await session.scalars(
            select(Meter).where(Meter.account_id == account.id).order_by(Meter.id)
        )
    )
    for i, m in enumerate(meters):
        final = await final_reading(session, m.id)
        if i == 0:
            after |= {
                "meter_id": m.meter_id,
                "final_reading_wh": final.value if final else None,
                "final_reading_at": final.ts if final else None,
            }
        m.status, m.removed_at = MeterStatus.REMOVED, now
    after["meters"] = len(meters)
    await session.execute(
        update(AccountChange)
        .where(AccountChange.id == row.id)
        .values(after=after)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Account)
        .where(Account.id == account.id)
        .values(closed_at=now)
        .execution_options(synchronize_session=False)
    )


async def apply_ownership(
    session: AsyncSession, account: Account, row: AccountChange, now: datetime, tz: ZoneInfo,
    *, bill: bool,
) -> None:  # fmt: skip
    """过户: what arrived is billed to the old holder; their credit is refunded or carried (a
    debt is refused: the new holder does not take it on); a new customer holds the account
    and its meters from now, the old one keeps its history (its work orders, the change)."""
    if bill:
        try:
            await billing.bill_account(session, account.id, tz)
        except TariffError as exc:
            raise Unprocessable(
                E.TARIFF_NOT_IN_FORCE, str(exc), field="account_id", schedule="",
                day=local_day(to_epoch_ms(now), tz).isoformat(),
            ) from None  # fmt: skip
    balance = await session.scalar(select(Account.balance_fen).where(Account.id == account.id))
    assert balance is not None
    if balance < 0:
        raise Conflict(E.ACCOUNT_IN_ARREARS, f"account {account.id} owes {-balance} fen",
                       account=account.id, balance_fen=balance)  # fmt: skip
    refunded = 0
    if balance > 0 and row.after.get("settlement") == "refund":
        await ledger.post(session, account.id, EntryKind.REFUND, -balance, actor="ownership",
                          memo=f"ownership {row.id}: refund to the old holder",
                          note=Text(ChangeText.OWNERSHIP_REFUND, {"change": row.id}))  # fmt: skip
        refunded = balance
    old = await session.get(Customer, account.customer_id)
    assert old is not None
    new = Customer(
        number=f"{old.number[:20]}-{row.id}", name=str(row.after["holder_name"]),
        phone=str(row.after.get("holder_phone") or ""), category=old.category,
        address=old.address, latitude=old.latitude, longitude=old.longitude,
        grid_id=old.grid_id, transformer_area_id=old.transformer_area_id,
        created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(new)
    await session.flush()
    await session.execute(
        update(Account).where(Account.id == account.id).values(customer_id=new.id)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    await session.execute(
        update(Meter).where(Meter.account_id == account.id).values(customer_id=new.id)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    after = {**row.after, "customer_id": new.id, "customer_number": new.number,
             "settled_fen": refunded, "carried_fen": balance - refunded}  # fmt: skip
    await session.execute(
        update(AccountChange).where(AccountChange.id == row.id).values(after=after)
        .execution_options(synchronize_session=False)
    )  # fmt: skip


async def apply_move(
    session: AsyncSession, account: Account, row: AccountChange, now: datetime, tz: ZoneInfo,
    *, bill: bool,
) -> None:  # fmt: skip
    """迁出/迁入: the same customer at a new address. A new account is opened there (the old
    one's kind and credit limit, number ``{old}-M{change}``); the old one is closed by the
    closure path (final bill, each meter's reading at this moment as its final reading,
    the credit moved to the new account as a pair of entries or refunded, meters removed);
    the customer's address becomes the new one, the old kept in the change's ``before``."""
    opened = Account(
        number=f"{account.number[:20]}-M{row.id}", customer_id=account.customer_id,
        kind=account.kind, balance_fen=0, credit_limit_fen=account.credit_limit_fen,
        opened_at=now,
    )  # fmt: skip
    session.add(opened)
    await session.flush()
    new_id, new_number, customer_id = opened.id, opened.number, account.customer_id
    address, settlement = str(row.after["address"]), str(row.after["settlement"])
    wanted: dict[str, object] = {
        "address": address, "settlement": settlement,
        "transfer_to_account_id": new_id if settlement == "transfer" else None,
        "new_account_id": new_id, "new_account_number": new_number,
    }  # fmt: skip
    await apply_closure(
        session, account, row, now, tz, bill=bill, wanted=wanted,
        refund_note=Text(ChangeText.MOVE_REFUND, {"change": row.id}),
    )  # fmt: skip
    await session.execute(
        update(Customer).where(Customer.id == customer_id).values(address=address, updated_at=now)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
