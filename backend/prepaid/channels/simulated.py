"""A simulated provider for the demo and the tests: answers like the real ones (an id per
accepted message, a refusal for a recipient it is told to refuse) and reports delivery a
moment later through the same receipt path as a real provider's push. No customer receives
anything: never use it where customers should."""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.prepaid.channels.base import Receipt, apply_receipts
from backend.prepaid.models import Notice, NoticeChannel
from backend.prepaid.notices import Delivery
from backend.types import utcnow

log = logging.getLogger("meterline.notices")


class Simulated:
    """``[simulated]``: ``undeliverable`` recipients (their messages are reported failed),
    ``receipt_delay_ms`` (default 200)."""

    name = "simulated"
    delivers = True

    def __init__(
        self, config: dict[str, Any], sessions: async_sessionmaker[AsyncSession] | None = None
    ) -> None:
        c = config.get("simulated", {})
        self.undeliverable = {str(r) for r in c.get("undeliverable", [])}
        self.delay_s = int(c.get("receipt_delay_ms", 200)) / 1000
        self.sessions = sessions
        self._ids = itertools.count(1)
        self.reports: list[tuple[NoticeChannel, Receipt]] = []  # waiting to be reported
        self._tasks: set[asyncio.Task[None]] = set()

    async def send(self, notice: Notice) -> Delivery:
        ref = f"sim-{notice.channel.value}-{next(self._ids)}-{notice.id}"
        ok = notice.recipient not in self.undeliverable
        # received the moment it was queued: the demo's and the tests' clocks may not be ours
        at = notice.created_at or utcnow()
        self.reports.append((notice.channel, Receipt(ref, ok, at, None if ok else "UNDELIVERABLE")))
        if self.sessions is not None:
            task = asyncio.create_task(self._report_later())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return Delivery(False, ref=ref)

    async def report(self, session: AsyncSession) -> int:
        """Push the receipts due, as the provider's callback would; those whose notice is not
        committed yet stay for the next call (a real provider retries its push too)."""
        waiting, self.reports = self.reports, []
        changed = 0
        for channel, receipt in waiting:
            n = await apply_receipts(session, channel, [receipt])
            if n == 0:
                self.reports.append((channel, receipt))
            changed += n
        return changed

    async def _report_later(self) -> None:
        assert self.sessions is not None
        for _ in range(50):  # the notice is committed right after the delivery round
            await asyncio.sleep(self.delay_s)
            async with self.sessions() as s:
                await self.report(s)
                await s.commit()
            if not self.reports:
                return
        log.warning("simulated provider: %d receipts found no notice", len(self.reports))
