"""Password rules (ASVS 2.1): length by role, the common-password list, not the username."""

from __future__ import annotations

import pytest

from backend.auth.models import Role
from backend.auth.policy import PasswordRejected, check_password, common_passwords


@pytest.mark.parametrize("role", [Role.INSPECTOR, Role.SUPERVISOR, Role.OPERATOR, Role.ADMIN])
def test_12345678_is_refused_for_staff(role: Role) -> None:
    with pytest.raises(PasswordRejected) as refused:
        check_password("12345678", role=role, username="zhang")
    assert refused.value.code == "too_short"
    assert refused.value.minimum == 10


def test_staff_need_ten_characters_and_customers_eight() -> None:
    check_password("tidal-fern", role=Role.OPERATOR, username="zhang")  # 10: fine
    with pytest.raises(PasswordRejected, match="at least 10"):
        check_password("tidal-fer", role=Role.OPERATOR, username="zhang")
    check_password("tidalfer", role=Role.CUSTOMER, username="zhang")  # 8: fine for a customer
    with pytest.raises(PasswordRejected, match="at least 8"):
        check_password("tidalfe", role=Role.CUSTOMER, username="zhang")


def test_length_counts_characters_so_a_chinese_passphrase_is_long_enough() -> None:
    check_password("西湖边的老电表房子", role=Role.CUSTOMER, username="li")  # 9 characters


@pytest.mark.parametrize(
    "password", ["12345678", "password", "Password1", "1qaz2wsx", "woaini1314", "iloveyou"]
)
def test_common_and_breached_passwords_are_refused_whatever_their_case(password: str) -> None:
    with pytest.raises(PasswordRejected) as refused:
        check_password(password, role=Role.CUSTOMER, username="li")
    assert refused.value.code == "common"


def test_the_shipped_list_is_large_and_has_no_entry_shorter_than_the_minimum() -> None:
    words = common_passwords()
    assert len(words) > 10_000
    assert min(len(w) for w in words) >= 8
    assert "qwertyuiop" in words


def test_a_password_that_is_the_username_is_refused() -> None:
    with pytest.raises(PasswordRejected) as refused:
        check_password("zhangwei-op", role=Role.OPERATOR, username="zhangwei-op")
    assert refused.value.code == "like_username"
    with pytest.raises(PasswordRejected):
        check_password("zhangwei-op1", role=Role.OPERATOR, username="zhangwei-op")
    check_password("a long phrase about zhangwei", role=Role.OPERATOR, username="zhangwei")


def test_an_overlong_password_is_refused() -> None:
    with pytest.raises(PasswordRejected) as refused:
        check_password("x" * 257, role=Role.ADMIN, username="root")
    assert refused.value.code == "too_long"
