"""Posting to the append-only ledger, keeping ``accounts.balance_fen`` in the same transaction.

Every posting bumps the cached balance with one ``UPDATE … SET balance_fen = balance_fen + x``
(row-locked on PostgreSQL, the database write lock on SQLite) and records the balance after it,
so the cache can never drift from the sum of the entries. Nothing here commits: the caller's
transaction decides, and a rollback takes entry and balance together.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Account
from backend.prepaid.models import BillingState, Charge, EntryKind, LedgerEntry
from backend.texts import Text, TextCode
from backend.types import utcnow


class MemoText(TextCode):
    """Memos the system writes, as codes for people (staff write their own words)."""

    CONSUMPTION = "memo.consumption"  # {meter, energy_wh}: one interval (entries before 0027)
    CONSUMPTION_ROUND = "memo.consumption_round"  # {intervals, energy_wh}: a billing round
    RERATED = "memo.rerated"  # a charge withdrawn because its readings changed
    TOP_UP = "memo.top_up"  # {channel, key}
    ROUNDING = "memo.rounding"  # the rounding remainder trued up after a re-rating


class LedgerError(ValueError):
    """A posting that breaks a ledger rule; the message says which."""


async def lock_account(session: AsyncSession, account_id: int) -> Account:
    """Take the account's write lock first, so that concurrent money work serialises per
    account instead of deadlocking (PostgreSQL: row lock; SQLite: the database write lock)."""
    if session.get_bind().dialect.name == "sqlite":
        await session.execute(
            update(Account).where(Account.id == account_id).values(balance_fen=Account.balance_fen)
        )
        account = await session.get(Account, account_id)
    else:
        account = (
            await session.execute(  # no key changes: see bulk.lock
                select(Account).where(Account.id == account_id).with_for_update(key_share=True)
            )
        ).scalar_one_or_none()
    if account is None:
        raise LedgerError(f"account {account_id} does not exist")
    return account


async def post(
    session: AsyncSession,
    account_id: int,
    kind: EntryKind,
    amount_fen: int,
    *,
    actor: str,
    memo: str = "",
    note: Text | None = None,
    exact_cny: Decimal | None = None,
    reverses_id: int | None = None,
) -> LedgerEntry:
    """Post one entry. ``memo`` is the words as written; ``note`` the same as a code for
    people when the system wrote it."""
    if not isinstance(amount_fen, int) or isinstance(amount_fen, bool):
        raise LedgerError(f"amount must be integer fen, not {type(amount_fen).__name__}")
    if kind is EntryKind.TOP_UP and amount_fen <= 0:
        raise LedgerError("a top-up must be positive")
    if kind is EntryKind.REFUND and amount_fen >= 0:
        raise LedgerError("a refund takes money out: negative amount")
    if kind is EntryKind.ADJUSTMENT and (amount_fen == 0 or not memo):
        raise LedgerError("an adjustment needs a non-zero amount and a memo")
    if kind is EntryKind.REVERSAL and reverses_id is None:
        raise LedgerError("a reversal names the entry it reverses")
    balance = (
        await session.execute(
            update(Account)
            .where(Account.id == account_id)
            .values(balance_fen=Account.balance_fen + amount_fen)
            .returning(Account.balance_fen)
        )
    ).scalar_one_or_none()
    if balance is None:
        raise LedgerError(f"account {account_id} does not exist")
    entry = LedgerEntry(
        account_id=account_id,
        kind=kind,
        amount_fen=amount_fen,
        balance_after_fen=balance,
        exact_cny=None if exact_cny is None else str(exact_cny),
        reverses_id=reverses_id,
        actor=actor,
        memo=memo,
        memo_code=note.code if note else None,
        memo_params=dict(note.params) if note else None,
        created_at=utcnow(),
    )
    session.add(entry)
    await session.flush()
    return entry


async def billing_state(session: AsyncSession, account_id: int) -> BillingState:
    state = await session.get(BillingState, account_id)
    if state is None:
        state = BillingState(account_id=account_id, exact_total_cny="0", posted_fen=0)
        session.add(state)
        await session.flush()
    return state


async def reverse(
    session: AsyncSession,
    entry_id: int,
    *,
    actor: str,
    memo: str,
    note: Text | None = None,
    rerating: bool = False,
) -> LedgerEntry:
    """Post the exact negation of an entry. A consumption charge's exact amount leaves the
    billing total too, and its charge row is marked reversed (re-rating does this)."""
    original = await session.get(LedgerEntry, entry_id)
    if original is None:
        raise LedgerError(f"ledger entry {entry_id} does not exist")
    if original.kind is EntryKind.REVERSAL:
        raise LedgerError("a reversal is not reversed again: post a new entry instead")
    if original.kind is EntryKind.CONSUMPTION_CHARGE and not rerating:
        raise LedgerError(
            "consumption charges follow the readings (re-rating); to waive one, post an adjustment"
        )
    already = await session.scalar(
        select(LedgerEntry.id).where(LedgerEntry.reverses_id == entry_id)
    )
    if already is not None:
        raise LedgerError(f"ledger entry {entry_id} was already reversed by entry {already}")
    exact = None if original.exact_cny is None else -Decimal(original.exact_cny)
    entry = await post(
        session,
        original.account_id,
        EntryKind.REVERSAL,
        -original.amount_fen,
        actor=actor,
        memo=memo,
        note=note,
        exact_cny=exact,
        reverses_id=original.id,
    )
    if original.kind is EntryKind.CONSUMPTION_CHARGE:
        # a charge is negative in the ledger (amount and exact alike); the billing state
        # counts what is owed, positive
        state = await billing_state(session, original.account_id)
        owed_exact = -Decimal(original.exact_cny or 0)
        state.exact_total_cny = str(Decimal(state.exact_total_cny) - owed_exact)
        state.posted_fen -= -original.amount_fen
        state.tier_counters = None  # its charges leave them: summed again when next needed
        await session.execute(
            update(Charge)
            .where(Charge.entry_id == original.id, Charge.reversed_at.is_(None))
            .values(reversed_at=utcnow())
        )
    return entry


async def ledger_sum(session: AsyncSession, account_id: int) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0)).where(
            LedgerEntry.account_id == account_id
        )
    )
    return int(total or 0)
