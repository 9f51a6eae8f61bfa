"""The satisfaction index: (score − 1) / 4 × 100, in tenths, rounded half up."""

from __future__ import annotations

from backend.keyaccounts.surveys.service import mean_tenths, satisfaction_tenths


def test_one_is_zero_and_five_is_a_hundred() -> None:
    assert satisfaction_tenths([1]) == 0
    assert satisfaction_tenths([5]) == 1000
    assert satisfaction_tenths([3]) == 500


def test_the_index_of_a_response_is_the_mean_of_its_scores() -> None:
    assert satisfaction_tenths([5, 4]) == 875  # (100 + 75) / 2
    assert satisfaction_tenths([4, 4, 5]) == 833  # 83.33… → 83.3
    assert satisfaction_tenths([5, 5, 4]) == 917  # 91.66… → 91.7


def test_no_scores_no_index() -> None:
    assert satisfaction_tenths([]) is None
    assert mean_tenths([]) is None


def test_a_groups_index_is_the_mean_of_its_responses() -> None:
    assert mean_tenths([875, 500]) == 68.8  # 68.75 rounded half up
