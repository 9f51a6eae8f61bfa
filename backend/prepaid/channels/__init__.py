"""Notice channels that confirm delivery: Alibaba Cloud SMS, WeChat subscription / template
messages, and a simulated provider for the demo and tests. ``log`` (the default) only writes
notices to the log: they stay ``sent``, never ``delivered``, so they never satisfy the
disconnect-warning rule — and automatic disconnects refuse to start with it.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.prepaid.channels.base import load_config
from backend.prepaid.notices import LoggingProvider, NotificationProvider
from backend.settings import Settings, SettingsError

log = logging.getLogger("meterline.notices")
NAMES = ("log", "simulated", "aliyun_sms", "wechat")


def provider_for(
    settings: Settings, sessions: async_sessionmaker[AsyncSession] | None = None
) -> NotificationProvider:
    """The provider ``METERLINE_NOTIFICATION_PROVIDER`` names, configured from
    ``METERLINE_NOTIFICATION_CONFIG``. Raises SettingsError — a clear startup error — for
    automatic disconnects without a channel that confirms delivery."""
    name = settings.notification_provider
    config = load_config(settings.notification_config)
    provider: NotificationProvider
    if name == "log":
        provider = LoggingProvider()
    elif name == "simulated":
        from backend.prepaid.channels.simulated import Simulated

        provider = Simulated(config, sessions)
        log.warning("notices go to the simulated provider: no customer receives them")
    elif name == "aliyun_sms":
        from backend.prepaid.channels.aliyun_sms import AliyunSms

        provider = AliyunSms(config)
    elif name == "wechat":
        from backend.prepaid.channels.wechat import WeChat

        provider = WeChat(config)
    else:
        raise SettingsError(
            f"METERLINE_NOTIFICATION_PROVIDER: {name!r} is not one of {', '.join(NAMES)}"
        )
    if settings.prepaid_auto_disconnect and not getattr(provider, "delivers", False):
        raise SettingsError(
            "METERLINE_PREPAID_AUTO_DISCONNECT is on, but METERLINE_NOTIFICATION_PROVIDER "
            f"{name!r} cannot confirm that a disconnect warning reached the customer: choose "
            "aliyun_sms or wechat (the demo: simulated), or turn automatic disconnects off"
        )
    return provider
