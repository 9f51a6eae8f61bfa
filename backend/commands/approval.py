"""Who must agree before a manual disconnect goes out: one disconnect policy for every
disconnect (``backend.prepaid.policy.explain``, the same rules the prepaid engine obeys).

* every manual disconnect waits for a second person, not the requester (four-eyes);
* one the policy blocks (not in arrears, no warning delivered yet, outside the window, …) also
  needs an explicit override: a reason from the requester and ``override`` from the approver;
* a protected customer's (medical or critical load, key account class 1) needs that override
  from a supervisor (or an admin).

The verdict is taken when the disconnect is ordered and again when it is decided; the stricter
of the two applies (a customer who paid meanwhile makes it an override). The engine's own
disconnects are created only when the policy says due, so they need no approval.
"""

from __future__ import annotations

import enum
from datetime import datetime

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Account
from backend.auth.models import Role
from backend.commands.schemas import RuleVerdict, Verdict
from backend.metering.models import Meter
from backend.prepaid import engine
from backend.prepaid.policy import PolicyText, explain
from backend.settings import Settings

NO_ACCOUNT = "no_account"  # a meter without an account: no arrears the policy could judge


class Approval(enum.StrEnum):
    NONE = "none"  # goes out at once (reconnects, reads, the engine's due disconnects)
    FOUR_EYES = "four_eyes"  # a second operator approves
    OVERRIDE = "override"  # the policy blocks it: reason + a second operator's override
    SUPERVISOR_OVERRIDE = "supervisor_override"  # a protected customer: a supervisor's override

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def is_override(self) -> bool:
        return self.rank >= _RANK[Approval.OVERRIDE]


_RANK = {a: i for i, a in enumerate(Approval)}
SUPERVISORS = frozenset({Role.SUPERVISOR, Role.ADMIN})


def stricter(a: Approval, b: Approval) -> Approval:
    return a if a.rank >= b.rank else b


async def verdict_of(
    session: AsyncSession, meter: Meter, settings: Settings, now: datetime
) -> Verdict:
    """The policy's verdict on disconnecting ``meter``'s account now, as codes."""
    account = await session.get(Account, meter.account_id) if meter.account_id else None
    if account is None:
        rule = RuleVerdict(NO_ACCOUNT, False, PolicyText.NO_ACCOUNT.value)
        return Verdict(due=False, blocked_by=[NO_ACCOUNT], protected=False, balance_fen=None,
                       next_allowed_at=None, rules=[rule])  # fmt: skip
    facts = await engine.facts_of(session, account)
    return engine.verdict_of(facts, explain(facts, now, engine.policy_config(settings)))


def required(verdict: Verdict) -> Approval:
    """The approval a manual disconnect with this verdict needs."""
    if verdict.protected:
        return Approval.SUPERVISOR_OVERRIDE
    if not verdict.due:
        return Approval.OVERRIDE
    return Approval.FOUR_EYES


def encode_verdict(verdict: Verdict) -> str:
    return msgspec.json.encode(verdict).decode()


def decode_verdict(text: str | None) -> Verdict | None:
    return None if text is None else msgspec.json.decode(text, type=Verdict)
