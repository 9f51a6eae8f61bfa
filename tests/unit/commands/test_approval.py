"""Which approval a manual disconnect needs, from the policy's verdict alone."""

from __future__ import annotations

from backend.commands.approval import Approval, required, stricter
from backend.commands.schemas import RuleVerdict, Verdict


def verdict(*, due: bool, protected: bool = False) -> Verdict:
    blocked = [] if due else ["warning"]
    return Verdict(due=due, blocked_by=blocked + (["protected"] if protected else []),
                   protected=protected, balance_fen=-5000, next_allowed_at=None,
                   rules=[RuleVerdict("warning", due)])  # fmt: skip


def test_a_disconnect_the_policy_says_is_due_needs_only_a_second_person() -> None:
    assert required(verdict(due=True)) is Approval.FOUR_EYES


def test_a_disconnect_the_policy_blocks_needs_an_override() -> None:
    assert required(verdict(due=False)) is Approval.OVERRIDE
    assert Approval.OVERRIDE.is_override
    assert not Approval.FOUR_EYES.is_override


def test_a_protected_customer_needs_a_supervisors_override_whatever_else_holds() -> None:
    assert required(verdict(due=True, protected=True)) is Approval.SUPERVISOR_OVERRIDE
    assert required(verdict(due=False, protected=True)) is Approval.SUPERVISOR_OVERRIDE


def test_the_stricter_of_two_approvals_wins_in_either_order() -> None:
    levels = list(Approval)
    for a in levels:
        for b in levels:
            assert stricter(a, b) is levels[max(levels.index(a), levels.index(b))]
