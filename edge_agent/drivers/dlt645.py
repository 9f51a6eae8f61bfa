"""DL/T 645-2007 over a serial line or a transparent TCP gateway, on the protocols codec.

One transaction at a time (the scheduler guarantees it): stale input is discarded, the request
goes out with FE wake-up bytes, and frames are decoded until the reply from the addressed meter
arrives or the timeout passes. Garbage on the line is counted (by kind) and skipped — the
decoder resynchronises — and our own request echoed by an RS-485 adapter is ignored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from edge_agent.config import Bus, Meter, PollGroup
from edge_agent.drivers.base import MeterReplyError, MeterTimeout
from edge_agent.drivers.link import LinkError, StreamLink
from edge_agent.secrets import RelayCredentials
from protocols import dlt645
from protocols.contract import CommandKind, Quality, RelayState, Value
from protocols.dlt645 import Frame, Function, MeterTime

log = logging.getLogger("edge_agent.dlt645")

STATUS_WORD_3 = 0x04000503  # 电表运行状态字3: relay state bits
METER_DATE = 0x04000101
METER_TIME = 0x04000102
FREEZE_TIME = 0x05060000  # | n: 上n次日冻结时间
LAST_POWER_DOWN = 0x03110001  # 上1次掉电记录: start and end
FROZEN_IMPORT = 0x05060100  # | n: 上n次日冻结正向有功电能数据
FROZEN_EXPORT = 0x05060200

_RELAY_ACTIONS = {
    CommandKind.DISCONNECT: dlt645.RelayAction.TRIP,
    CommandKind.RECONNECT: dlt645.RelayAction.CLOSE_DIRECT,
    CommandKind.ARM_RECONNECT: dlt645.RelayAction.CLOSE_PERMITTED,
}


_EXPECTED = {
    CommandKind.DISCONNECT: RelayState.DISCONNECTED,
    CommandKind.RECONNECT: RelayState.CONNECTED,
    CommandKind.ARM_RECONNECT: RelayState.READY_FOR_RECONNECTION,
}


def known_di(di: int) -> bool:
    return di in dlt645.TABLE


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Dlt645Driver:
    def __init__(
        self,
        bus: Bus,
        tz: ZoneInfo,
        credentials: dict[str, RelayCredentials],
        on_frame_error: Callable[[str], None] = lambda kind: None,
    ) -> None:
        self.bus = bus
        self.tz = tz
        self.credentials = credentials
        self.link = StreamLink(bus)
        self.timeout = bus.timeout_ms / 1000
        self.on_frame_error = on_frame_error

    async def close(self) -> None:
        await self.link.close()

    # --- transactions -------------------------------------------------------------------

    async def transact(self, request: Frame) -> tuple[Frame, int]:
        """Send ``request``, return (the meter's reply, ms when it was received)."""
        try:
            await self.link.open()
            if self.link.discard_input():
                self.on_frame_error("stale")
            await self.link.write(dlt645.encode_frame(request))
            decoder = dlt645.FrameDecoder()
            deadline = time.monotonic() + self.timeout
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise MeterTimeout(f"no reply from {request.address} in {self.timeout:g}s")
                chunk = await self.link.read_some(remaining)
                if chunk:
                    decoder.feed(chunk)
                while True:
                    try:
                        event = decoder.next_event()
                    except dlt645.FrameError as exc:
                        self.on_frame_error(type(exc).__name__)
                        continue
                    if event is dlt645.NEED_DATA:
                        break
                    assert isinstance(event, Frame)
                    if not event.is_reply:
                        continue  # our own request echoed back by the adapter
                    if event.address != request.address or event.function != request.function:
                        self.on_frame_error("foreign")  # a late reply or another meter
                        continue
                    return event, now_ms()
        except LinkError as exc:
            raise MeterTimeout(str(exc)) from None

    async def read_di(self, address: str, di: int) -> tuple[dlt645.Item, int]:
        reply, at = await self.transact(dlt645.read_request(address, di))
        try:
            parsed = dlt645.parse_read_reply(reply, di)
            return parsed.item(), at
        except dlt645.MeterRefused as exc:
            raise MeterReplyError(f"DI {di:08X}: {exc}") from None
        except dlt645.RemoteProtocolError as exc:
            self.on_frame_error(type(exc).__name__)
            raise MeterReplyError(f"DI {di:08X}: {exc}") from None

    async def gap(self) -> None:
        if self.bus.inter_frame_gap_ms:
            await asyncio.sleep(self.bus.inter_frame_gap_ms / 1000)

    # --- the Driver protocol -----------------------------------------------------------

    async def poll(self, meter: Meter, group: PollGroup) -> list[Value]:
        assert meter.address is not None
        values: list[Value] = []
        answered = False
        problems: list[str] = []
        for i, di_text in enumerate(group.dis):
            if i:
                await self.gap()
            di = int(di_text, 16)
            try:
                item, at = await self.read_di(meter.address, di)
            except MeterReplyError as exc:
                answered = True  # alive, but this DI is refused or unreadable
                problems.append(str(exc))
                continue
            answered = True
            values.extend(Value(meter.id, at, r.quantity, r.value) for r in item.readings)
        if not answered:
            raise MeterTimeout(f"meter {meter.id} ({meter.address}) did not answer")
        if not values and problems:
            raise MeterReplyError("; ".join(problems))
        return values

    async def relay(self, meter: Meter, kind: CommandKind, valid_s: int) -> RelayState:
        assert meter.address is not None
        creds = self.credentials.get(meter.id)
        if creds is None:
            raise MeterReplyError(f"meter {meter.id} has no relay_secret configured")
        valid_until = await self._valid_until(meter, valid_s)
        await self.gap()
        request = dlt645.relay_control(
            meter.address,
            _RELAY_ACTIONS[kind],
            dlt645.Password(level=creds.level, code=creds.password),
            creds.operator,
            valid_until,
        )
        reply, _ = await self.transact(request)
        try:
            dlt645.parse_ack(reply, Function.RELAY_CONTROL)
        except (dlt645.MeterRefused, dlt645.RemoteProtocolError) as exc:
            raise MeterReplyError(str(exc)) from None
        return _EXPECTED[kind]

    async def _valid_until(self, meter: Meter, valid_s: int) -> MeterTime:
        """The 1CH validity deadline, ``valid_s`` ahead on the meter's own clock.

        The meter compares the deadline with its clock, not ours: one that runs minutes fast
        (or, simulated, many times fast) would refuse a deadline taken from the agent's clock
        as already past ("OTHER"). A silent meter raises MeterTimeout before anything is sent.
        """
        try:
            drift = await self.clock_drift_ms(meter)
        except MeterReplyError as exc:
            log.warning("meter %s: clock unreadable, relay validity from ours: %s", meter.id, exc)
            drift = 0
        return self._meter_time(now_ms() + (drift or 0) + valid_s * 1000)

    async def relay_state(self, meter: Meter) -> RelayState:
        assert meter.address is not None
        item, _ = await self.read_di(meter.address, STATUS_WORD_3)
        record = item.record
        if not isinstance(record, dlt645.StatusWord) or record.relay_state is None:
            raise MeterReplyError("status word 3 did not decode to a relay state")
        return record.relay_state

    async def time_sync(self, meter: Meter) -> None:
        # 08H is a broadcast: every meter on this bus sets its clock; none replies.
        await self.link.write(
            dlt645.encode_frame(dlt645.broadcast_time(self._meter_time(now_ms())))
        )
        await self.gap()

    async def clock_drift_ms(self, meter: Meter) -> int | None:
        assert meter.address is not None
        date, _ = await self.read_di(meter.address, METER_DATE)
        await self.gap()
        clock, at = await self.read_di(meter.address, METER_TIME)
        d, t = date.record, clock.record
        if not isinstance(d, dlt645.Timestamp) or not isinstance(t, dlt645.Timestamp):
            raise MeterReplyError("meter clock did not decode")
        when = MeterTime(d.at.year, d.at.month, d.at.day, t.at.hour, t.at.minute, t.at.second)
        return self._utc_ms(when) - at

    async def last_power_down(self, meter: Meter) -> tuple[int, int | None] | None:
        """The latest power-down record (DI 03110001, 上1次掉电): start and end, meter time."""
        assert meter.address is not None
        await self.gap()
        item, _ = await self.read_di(meter.address, LAST_POWER_DOWN)
        record = item.record
        if not isinstance(record, dlt645.PowerFailure) or record.start.is_unset:
            return None
        end = None if record.end.is_unset else self._utc_ms(record.end)
        return self._utc_ms(record.start), end

    async def backfill(self, meter: Meter, since_ms: int) -> list[Value]:
        """Daily frozen energy (DI 0506xxnn) for each day frozen after ``since_ms``, newest
        first until a freeze at or before it; stamped with the freeze time, quality backfilled."""
        assert meter.address is not None
        values: list[Value] = []
        for n in range(1, meter.backfill_days + 1):
            await self.gap()
            try:
                stamp, _ = await self.read_di(meter.address, FREEZE_TIME | n)
            except MeterReplyError:
                break  # the meter holds fewer frozen days
            record = stamp.record
            if not isinstance(record, dlt645.Timestamp) or record.at.is_unset:
                break
            frozen_at = self._utc_ms(record.at)
            if frozen_at <= since_ms:
                break
            for base in (FROZEN_IMPORT, FROZEN_EXPORT):
                await self.gap()
                try:
                    item, _ = await self.read_di(meter.address, base | n)
                except MeterReplyError:
                    continue
                values.extend(
                    Value(meter.id, frozen_at, r.quantity, r.value, Quality.BACKFILLED)
                    for r in item.readings
                )
        return values

    # --- meter local time <-> UTC ms -------------------------------------------------------

    def _meter_time(self, ms: int) -> MeterTime:
        local = datetime.fromtimestamp(ms / 1000, self.tz)
        return MeterTime(
            local.year,
            local.month,
            local.day,
            local.hour,
            local.minute,
            local.second,
            weekday=(local.weekday() + 1) % 7,
        )

    def _utc_ms(self, t: MeterTime) -> int:
        try:
            local = datetime(
                t.year if t.year >= 100 else 2000 + t.year,
                t.month,
                t.day,
                t.hour,
                t.minute,
                t.second,
                tzinfo=self.tz,
            )
        except ValueError as exc:
            raise MeterReplyError(f"meter time {t.as_tuple()} is not a date: {exc}") from None
        return int(local.timestamp()) * 1000
