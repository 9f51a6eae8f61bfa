"""Delivery receipts over HTTP: a provider's push (authenticated by its own means) marks the
notice delivered, so the disconnect-warning rule can count it; anything else is refused. And
the API does not start with automatic disconnects but no channel that confirms delivery."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.app import create_app
from backend.db import session_factory
from backend.prepaid import notices
from backend.prepaid.channels.wechat import push_signature
from backend.prepaid.models import Notice, NoticeChannel, NoticeKind, NoticeStatus
from backend.settings import SettingsError, load_settings
from tests.support.prepaid_data import make_account

CONFIG = """
[aliyun_sms]
access_key_id = "a"
access_key_secret = "b"
sign_name = "c"
receipt_token = "callback-secret"
[aliyun_sms.templates]
disconnect_warning = "SMS_1"
[wechat]
app_id = "wx1"
app_secret = "s"
token = "push-token"
[wechat.templates]
disconnect_warning = "T1"
"""


@pytest.fixture
async def client(
    database_url: str, tmp_path: Path, engine: AsyncEngine
) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    config = tmp_path / "channels.toml"
    config.write_text(CONFIG)
    settings = load_settings(
        env={}, database_url=database_url, data_dir=str(tmp_path), ingest=False,
        prepaid_sweep_seconds=0, prepaid_notify_seconds=0, idempotency_purge_hours=0,
        notification_config=str(config),
    )  # fmt: skip
    async with AsyncTestClient(create_app(settings)) as c:
        yield c


async def _sent_warning(engine: AsyncEngine, channel: NoticeChannel, ref: str) -> int:
    async with session_factory(engine)() as s:
        _, account, _ = await make_account(s)
        n = Notice(account_id=account.id, episode=1, kind=NoticeKind.DISCONNECT_WARNING,
                   channel=channel, recipient="13800000000", text="warning", balance_fen=-100,
                   status=NoticeStatus.SENT, provider_ref=ref,
                   created_at=datetime(2026, 5, 5, tzinfo=UTC))  # fmt: skip
        s.add(n)
        ep = await notices.open_episode(s, account.id, datetime(2026, 5, 5, tzinfo=UTC))
        ep.episode = 1
        await s.commit()
        return account.id


async def test_an_sms_report_marks_the_warning_delivered_and_the_rule_counts_it(
    client: AsyncTestClient,  # type: ignore[type-arg]
    engine: AsyncEngine,
) -> None:
    account = await _sent_warning(engine, NoticeChannel.SMS, "900^1")
    async with session_factory(engine)() as s:
        assert await notices.warning_delivered_at(s, account) is None  # sent is not delivered
    report = [{"biz_id": "900^1", "success": True, "report_time": "2026-05-05 10:00:00",
               "err_code": "DELIVERED", "phone_number": "13800000000"}]  # fmt: skip
    forged = await client.post("/api/notices/receipts/aliyun-sms?token=guess", json=report)
    assert forged.status_code == 401
    assert forged.json()["code"] == "error.receipt_not_genuine"
    r = await client.post("/api/notices/receipts/aliyun-sms?token=callback-secret", json=report)
    assert r.status_code == 200
    assert r.json() == {"code": 0, "msg": "成功", "applied": 1}
    async with session_factory(engine)() as s:
        assert await notices.warning_delivered_at(s, account) == datetime(2026, 5, 5, 2, tzinfo=UTC)


async def test_a_wechat_event_with_a_valid_signature_marks_the_notice_delivered(
    client: AsyncTestClient,  # type: ignore[type-arg]
    engine: AsyncEngine,
) -> None:
    account = await _sent_warning(engine, NoticeChannel.WECHAT, "1700000000001")
    item = {"MsgID": "1700000000001", "ErrorCode": "0", "ErrorStatus": "success"}
    event = {"Event": "subscribe_msg_sent_event", "CreateTime": 1778000000, "List": [item]}
    bad = await client.post(
        "/api/notices/receipts/wechat?signature=00&timestamp=1&nonce=n", json=event
    )
    assert bad.status_code == 401
    assert bad.json()["code"] == "error.receipt_not_genuine"
    sig = push_signature("push-token", "1778000000", "n1")
    ok = await client.post(
        f"/api/notices/receipts/wechat?signature={sig}&timestamp=1778000000&nonce=n1", json=event
    )
    assert (ok.status_code, ok.text) == (200, "success")
    async with session_factory(engine)() as s:
        assert await notices.warning_delivered_at(s, account) is not None


async def test_the_api_refuses_to_start_auto_disconnect_with_the_log_provider(
    database_url: str, tmp_path: Path
) -> None:
    settings = load_settings(
        env={}, database_url=database_url, data_dir=str(tmp_path), ingest=False,
        prepaid_auto_disconnect=True,
    )  # fmt: skip
    with pytest.raises(BaseExceptionGroup) as caught:  # the lifespan's task group raises it
        async with AsyncTestClient(create_app(settings)):
            pass
    assert caught.group_contains(SettingsError, match="METERLINE_PREPAID_AUTO_DISCONNECT is on")


async def test_a_push_to_a_channel_this_deployment_has_not_configured_is_404(
    database_url: str, tmp_path: Path
) -> None:
    settings = load_settings(
        env={}, database_url=database_url, data_dir=str(tmp_path), ingest=False,
        prepaid_sweep_seconds=0, prepaid_notify_seconds=0, idempotency_purge_hours=0,
    )  # fmt: skip
    async with AsyncTestClient(create_app(settings)) as c:
        r = await c.post("/api/notices/receipts/aliyun-sms?token=x", json=[])
    assert r.status_code == 404
    assert r.json()["detail"] == "no aliyun_sms channel is configured here"
    assert r.json()["code"] == "error.receipt_channel_not_configured"
