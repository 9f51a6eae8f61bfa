"""Delivery receipts pushed by the providers, under /api/notices/receipts.

The providers are not users: each push is authenticated by its provider's own means — a secret
token in Alibaba's callback URL, WeChat's signature of token, timestamp and nonce — and a push
that fails it is 401. The bodies are the providers' formats, bounded like every body.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from litestar import MediaType, Response, post
from litestar.datastructures import State as AppState
from litestar.params import JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK

from backend.auth.guards import ApiController, DbSession
from backend.controllers import answers
from backend.errors import ErrorCode as E
from backend.errors import NotFound, Unauthorised
from backend.prepaid.channels import aliyun_sms, wechat
from backend.prepaid.channels.base import apply_receipts, load_config, section
from backend.prepaid.channels.schemas import AliyunReport, ReceiptAnswer
from backend.prepaid.models import NoticeChannel
from backend.settings import SettingsError

Param = Annotated[str, QueryParameter(max_length=200)]


def _config(state: AppState, name: str, *keys: str) -> dict[str, Any]:
    """The provider's section; a push to a channel this deployment has not configured is 404."""
    try:
        return section(load_config(state.settings.notification_config), name, *keys)
    except SettingsError:
        raise NotFound(
            E.RECEIPT_CHANNEL_NOT_CONFIGURED, f"no {name} channel is configured here", channel=name
        ) from None


class ReceiptController(ApiController):
    path = "/api/notices/receipts"
    tags = ("notices",)

    @post("/aliyun-sms", status_code=HTTP_200_OK, exclude_from_auth=True,
          responses=answers(Unauthorised, NotFound),
          summary="Alibaba Cloud SMS delivery reports (SmsReport push)")  # fmt: skip
    async def aliyun(
        self, data: JSONBody[list[AliyunReport]], db_session: DbSession, state: AppState,
        token: Param,
    ) -> ReceiptAnswer:  # fmt: skip
        """Configure the callback URL with ``?token=`` the ``receipt_token`` of the config."""
        expected = str(_config(state, "aliyun_sms", "receipt_token")["receipt_token"])
        if not hmac.compare_digest(token, expected):
            raise Unauthorised(
                E.RECEIPT_NOT_GENUINE, "receipt token does not match", channel="aliyun_sms"
            )
        receipts = aliyun_sms.receipts_from([{f: getattr(r, f) for f in r.__struct_fields__}
                                             for r in data])  # fmt: skip
        n = await apply_receipts(db_session, NoticeChannel.SMS, receipts)
        await db_session.commit()
        return ReceiptAnswer(0, "成功", n)

    @post("/wechat", status_code=HTTP_200_OK, exclude_from_auth=True,
          responses=answers(Unauthorised, NotFound),
          summary="WeChat message delivery events (JSON push)")  # fmt: skip
    async def wechat(
        self, data: JSONBody[dict[str, Any]], db_session: DbSession, state: AppState,
        signature: Param, timestamp: Param, nonce: Param,
    ) -> Response[str]:  # fmt: skip
        """Answers the plain text ``success`` WeChat expects (errors are JSON, as elsewhere)."""
        token = str(_config(state, "wechat", "token")["token"])
        if not wechat.push_is_genuine(token, signature, timestamp, nonce):
            raise Unauthorised(
                E.RECEIPT_NOT_GENUINE, "WeChat signature does not match", channel="wechat"
            )
        await apply_receipts(db_session, NoticeChannel.WECHAT, wechat.receipts_from(data))
        await db_session.commit()
        return Response("success", media_type=MediaType.TEXT)
