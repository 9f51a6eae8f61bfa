"""Billing's rounds are cut by accounts: up to ``ACCOUNTS_PER_TRANSACTION`` of them a round,
an account's meters never split between two rounds (on PostgreSQL two rounds run at once)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.prepaid import billing


@given(
    meters=st.lists(st.integers(1, 4), max_size=40),  # meters per account
    per_round=st.integers(1, 6),
)
def test_rounds_keep_each_accounts_meters_together_and_every_pair_once(
    meters: list[int], per_round: int
) -> None:
    work = [(a, a * 10 + m) for a, n in enumerate(meters, start=1) for m in range(n)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(billing, "ACCOUNTS_PER_TRANSACTION", per_round)
        rounds = billing._by_accounts(work)
    assert [pair for r in rounds for pair in r] == work  # every pair once, in order
    accounts = [{a for a, _ in r} for r in rounds]
    assert all(1 <= len(a) <= per_round for a in accounts)
    assert all(len(a) == per_round for a in accounts[:-1])  # only the last round is short
    seen: set[int] = set()
    for a in accounts:
        assert not a & seen  # no account in two rounds
        seen |= a


def test_an_account_of_several_meters_is_not_split_at_a_rounds_edge() -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(billing, "ACCOUNTS_PER_TRANSACTION", 2)
        got = billing._by_accounts([(1, 10), (2, 20), (2, 21), (2, 22), (3, 30)])
    assert got == [[(1, 10), (2, 20), (2, 21), (2, 22)], [(3, 30)]]
