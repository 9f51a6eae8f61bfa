"""Notices are worded on the server, from their code, in the customer's language."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from backend.prepaid.notices import DEFAULT_LANGUAGE, NoticeText, language_of, word
from backend.texts import Text

TZ = ZoneInfo("Asia/Shanghai")
OFF_AT = int(datetime(2026, 5, 6, 2, 5, tzinfo=UTC).timestamp() * 1000)  # 10:05 in Shanghai
OWED = Text(NoticeText.DISCONNECTED_OWED, {"meter": "M-7", "off_at": OFF_AT, "owed_fen": 1234})


def test_a_notice_is_worded_in_chinese_with_money_and_local_time() -> None:
    assert word(OWED, "zh-CN", TZ) == (
        "您的电表 M-7 已于 2026-05-06 10:05 停电，欠费 ¥12.34，缴费后将自动复电。"
    )


def test_the_same_code_is_worded_in_english() -> None:
    assert word(OWED, "en", TZ) == (
        "The supply of your meter M-7 was cut at 2026-05-06 10:05. You owe ¥12.34; "
        "the supply comes back by itself once you pay."
    )


def test_a_language_without_a_catalogue_gets_chinese() -> None:
    assert word(OWED, "fr", TZ) == word(OWED, "zh-CN", TZ)


def test_customers_are_written_to_in_chinese_until_they_can_choose() -> None:
    assert language_of(None) == DEFAULT_LANGUAGE == "zh-CN"
