"""Top-ups with idempotency keys (R28, R36-R39).

A client sends ``Idempotency-Key`` with each top-up. The key is unique per customer, enforced
by the database (unique (customer_id, idempotency_key)), never by read-then-write:

* first request: the key row is inserted and committed as ``in_progress``; then, in one
  transaction, the ledger entry is posted and the row completed with the exact response;
* same key, same body: the stored response, byte for byte (however many arrive at once);
* same key, another body: 422;
* same key while the first is still running: 409 (retry later). A run that died (no commit
  within ``STALE_AFTER``) is taken over atomically, so a key is never stuck.

Keys are kept at least ``settings.idempotency_retention_days`` (7) days after completion;
``purge_keys`` then forgets the key and stored response, never the payment itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.accounts.models import Account
from backend.prepaid import ledger
from backend.prepaid.models import Channel, EntryKind, TopUp, TopUpStatus
from backend.texts import Text
from backend.types import utcnow

STALE_AFTER = timedelta(seconds=60)
# Top-ups of one account queue here, in the process, instead of each holding a database
# connection while it waits for the account's row lock: 100 at once for one account then use
# one connection, and the pool stays free for everyone else.
_account_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()


def account_lock(account_id: int) -> asyncio.Lock:
    lock = _account_locks.get(account_id)
    if lock is None:
        lock = _account_locks[account_id] = asyncio.Lock()
    return lock


MAX_TOPUP_FEN = 10_000_000  # ¥100,000 in one payment

Key = Annotated[str, msgspec.Meta(min_length=8, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]


class TopUpIn(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    amount_fen: Annotated[int, msgspec.Meta(gt=0, le=MAX_TOPUP_FEN)]
    channel: Channel = Channel.APP


class Receipt(msgspec.Struct, frozen=True):
    """The customer's receipt (购电凭证)."""

    receipt_number: str
    account_id: int
    account_number: str
    amount_fen: int
    channel: Channel
    paid_at: datetime
    balance_after_fen: int


class KeyReused(ValueError):
    """422: this key was used for a different request."""


class KeyInProgress(RuntimeError):
    """409: the first request with this key is still running."""


class AccountClosed(RuntimeError):
    """409: the account was closed (销户) while the top-up waited for its lock."""


def request_hash(account_id: int, body: TopUpIn) -> str:
    canon = msgspec.json.encode({"account_id": account_id, **msgspec.to_builtins(body)})
    return hashlib.sha256(canon).hexdigest()


async def _claim(
    sessions: async_sessionmaker[AsyncSession], account: Account, key: str, body: TopUpIn,
    digest: str, actor: str,
) -> tuple[int | None, tuple[int, bytes] | None]:  # fmt: skip
    """Insert the key row, or find the earlier one. Returns (row id to run, stored answer)."""
    async with sessions() as s:
        row = TopUp(
            customer_id=account.customer_id, account_id=account.id, idempotency_key=key,
            request_hash=digest, status=TopUpStatus.IN_PROGRESS, channel=body.channel,
            amount_fen=body.amount_fen, actor=actor, started_at=utcnow(),
        )  # fmt: skip
        s.add(row)
        try:
            await s.commit()
            return row.id, None
        except IntegrityError:
            await s.rollback()
    async with sessions() as s:
        found = await s.scalar(
            select(TopUp).where(
                TopUp.customer_id == account.customer_id, TopUp.idempotency_key == key
            )
        )
        if found is None:  # purged between the two statements: vanishingly rare, retry
            raise KeyInProgress("idempotency key changed state; retry")
        if found.request_hash != digest:
            raise KeyReused(
                "Idempotency-Key was already used for a different top-up; use a new key"
            )
        if found.status is not TopUpStatus.IN_PROGRESS:
            assert found.response is not None
            assert found.response_status is not None
            return None, (found.response_status, found.response.encode())
        if found.started_at > utcnow() - STALE_AFTER:
            raise KeyInProgress("a top-up with this Idempotency-Key is still being processed")
        took = await s.execute(
            update(TopUp)
            .where(TopUp.id == found.id, TopUp.status == TopUpStatus.IN_PROGRESS,
                   TopUp.started_at == found.started_at)
            .values(started_at=utcnow())
        )  # fmt: skip
        await s.commit()
        if took.rowcount != 1:  # type: ignore[attr-defined]
            raise KeyInProgress("a top-up with this Idempotency-Key is still being processed")
        return found.id, None


async def top_up(
    sessions: async_sessionmaker[AsyncSession],
    account: Account,
    key: str,
    body: TopUpIn,
    *,
    actor: str,
    tz: ZoneInfo,
) -> tuple[int, bytes, bool]:
    """Returns (HTTP status, response body, replayed). Raises KeyReused / KeyInProgress."""
    async with account_lock(account.id):
        return await _top_up(sessions, account, key, body, actor=actor, tz=tz)


async def _top_up(
    sessions: async_sessionmaker[AsyncSession], account: Account, key: str, body: TopUpIn, *,
    actor: str, tz: ZoneInfo,
) -> tuple[int, bytes, bool]:  # fmt: skip
    digest = request_hash(account.id, body)
    row_id, stored = await _claim(sessions, account, key, body, digest, actor)
    if stored is not None:
        return stored[0], stored[1], True
    assert row_id is not None
    async with sessions() as s:
        row = await s.get(TopUp, row_id)
        assert row is not None
        locked = await ledger.lock_account(s, account.id)
        await s.refresh(locked, ["closed_at"])
        if locked.closed_at is not None:  # closed after the route looked: no money in
            await s.rollback()
            await s.execute(delete(TopUp).where(TopUp.id == row_id))  # the key is free again
            await s.commit()
            raise AccountClosed(f"account {account.id} is closed")
        entry = await ledger.post(
            s, account.id, EntryKind.TOP_UP, body.amount_fen, actor=actor,
            memo=f"{body.channel.value} top-up, receipt for key {key}",
            note=Text(ledger.MemoText.TOP_UP, {"channel": body.channel.value, "key": key}),
        )  # fmt: skip
        paid_at = entry.created_at
        number = f"R{paid_at.astimezone(tz):%Y%m%d}{row.id:08d}"
        receipt = Receipt(
            receipt_number=number, account_id=account.id, account_number=account.number,
            amount_fen=body.amount_fen, channel=body.channel, paid_at=paid_at,
            balance_after_fen=entry.balance_after_fen,
        )  # fmt: skip
        response = msgspec.json.encode(receipt)
        row.entry_id = entry.id
        row.receipt_number = number
        row.status = TopUpStatus.COMPLETED
        row.response_status = 201
        row.response = response.decode()
        row.completed_at = utcnow()
        await s.commit()
    return 201, response, False


async def purge_keys(session: AsyncSession, now: datetime, retention_days: int) -> int:
    """Forget idempotency keys (and stored answers) completed more than retention_days ago."""
    cutoff = now - timedelta(days=max(retention_days, 7))
    result = await session.execute(
        update(TopUp)
        .where(TopUp.completed_at < cutoff, TopUp.idempotency_key.is_not(None))
        .values(idempotency_key=None, response=None, request_hash="")
    )
    await session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
