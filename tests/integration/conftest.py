"""Fixtures shared by integration tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real Argon2id, with test-sized cost: the production cost (~1 s a login on two busy
    cores) would dominate the suite. The parameters travel in each hash, so nothing else
    changes."""
    from argon2 import PasswordHasher

    from backend.auth import passwords

    monkeypatch.setattr(
        passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
