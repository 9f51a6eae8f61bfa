"""DL/T 698.45 over a serial line or a transparent TCP gateway, on the protocols codec.

One transaction at a time (the scheduler guarantees it). Each meter has a
:class:`protocols.dlt698.Connection`, which numbers requests and pairs answers by PIID: a late
answer to a request that timed out is counted ("UnexpectedReply") and never taken for the next
answer; our own request echoed by an RS-485 adapter is skipped; garbage is counted by kind and
the decoder resynchronises. A poll group's OADs go out as one GET-Request-NormalList.

Relay control is ACTION 8000 (129 trip, 130 close) inside a SECURITY-Request (明文 + SID_MAC)
with a time tag whose validity is counted on the meter's own clock. The MAC comes from the
meter's relay secret through :func:`protocols.dlt698.keyed_mac`, a stand-in: a production
deployment replaces :func:`relay_mac` with its ESAM or security gateway (out of scope here).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import msgspec

from edge_agent.config import Bus, Meter, PollGroup
from edge_agent.drivers.base import MeterReplyError, MeterTimeout
from edge_agent.drivers.link import LinkError, StreamLink
from edge_agent.secrets import RelayCredentials
from protocols import dlt698
from protocols.contract import CommandKind, Quality, Quantity, RelayState, Value
from protocols.dlt698 import Answer, Connection, DateTimeS, Request, commands
from protocols.dlt698.errors import dar_name
from protocols.dlt698.objects import (
    CLOCK,
    DAILY_FROZEN,
    FREEZE_TIME,
    POWER_DOWN_EVENTS,
    STATUS_WORDS,
    readable,
)

log = logging.getLogger("edge_agent.dlt698")

FROZEN_COLUMNS = (FREEZE_TIME, 0x00100200, 0x00200200)  # time, import and export energy

_ACTIONS = {
    CommandKind.DISCONNECT: commands.trip(),
    CommandKind.RECONNECT: commands.close(command=commands.CloseCommand.DIRECT),
    CommandKind.ARM_RECONNECT: commands.close(command=commands.CloseCommand.PERMIT),
}
_EXPECTED = {
    CommandKind.DISCONNECT: RelayState.DISCONNECTED,
    CommandKind.RECONNECT: RelayState.CONNECTED,
    CommandKind.ARM_RECONNECT: RelayState.READY_FOR_RECONNECTION,
}


def known_oad(oad: int) -> bool:
    """An OAD the driver can turn into contract readings."""
    return readable(oad)


def relay_mac(creds: RelayCredentials) -> dlt698.MacFunction:
    """The SID_MAC for secured requests: the stand-in keyed by the relay secret's level and
    password, with the operator code as the SID's additional data (recorded by the meter)."""
    key = bytes.fromhex(f"{creds.level:02X}{creds.password}")
    return dlt698.keyed_mac(key, extra=bytes.fromhex(creds.operator))


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Dlt698Driver:
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
        self._connections: dict[str, Connection] = {}

    async def close(self) -> None:
        await self.link.close()

    def connection(self, meter: Meter) -> Connection:
        conn = self._connections.get(meter.id)
        if conn is None:
            assert meter.address is not None
            creds = self.credentials.get(meter.id)
            mac = relay_mac(creds) if creds is not None else None
            conn = Connection(dlt698.single(meter.address), mac=mac)
            self._connections[meter.id] = conn
        return conn

    # --- transactions -------------------------------------------------------------------

    async def exchange(
        self, meter: Meter, request: Request, *, secure: bool = False
    ) -> tuple[Answer, int]:
        """Send ``request``; return (the paired answer, ms when it was received)."""
        conn = self.connection(meter)
        try:
            await self.link.open()
            if self.link.discard_input():
                self.on_frame_error("stale")
            await self.link.write(conn.send(request, secure=secure))
            deadline = time.monotonic() + self.timeout
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    conn.forget()
                    raise MeterTimeout(f"no answer from {meter.address} in {self.timeout:g}s")
                chunk = await self.link.read_some(remaining)
                if chunk:
                    conn.receive_data(chunk)
                answer = self._drain(conn)
                if answer is not None:
                    return answer, now_ms()
        except LinkError as exc:
            conn.forget()
            raise MeterTimeout(str(exc)) from None

    def _drain(self, conn: Connection) -> Answer | None:
        while True:
            try:
                event = conn.next_event()
            except dlt698.RemoteProtocolError as exc:
                self.on_frame_error(type(exc).__name__)
                continue
            if event is dlt698.NEED_DATA:
                return None
            assert isinstance(event, Answer)
            return event

    async def get(self, meter: Meter, oad: int) -> tuple[dlt698.Data, int]:
        answer, at = await self.exchange(meter, commands.get(oad))
        response = answer.response
        if not isinstance(response, dlt698.GetResponseNormal):
            raise MeterReplyError(f"{oad:08X}: the meter answered {type(response).__name__}")
        try:
            return commands.value_of(response.result), at
        except dlt698.MeterRefused as exc:
            raise MeterReplyError(str(exc)) from None

    async def gap(self) -> None:
        if self.bus.inter_frame_gap_ms:
            await asyncio.sleep(self.bus.inter_frame_gap_ms / 1000)

    # --- the Driver protocol -----------------------------------------------------------

    async def poll(self, meter: Meter, group: PollGroup) -> list[Value]:
        oads = [int(text, 16) for text in group.oads]
        answer, at = await self.exchange(meter, commands.get_list(oads))
        response = answer.response
        if not isinstance(response, dlt698.GetResponseNormalList):
            raise MeterReplyError(f"the meter answered {type(response).__name__} to a list read")
        values: list[Value] = []
        problems: list[str] = []
        for result in response.results:
            try:
                readings = dlt698.readings(result.oad, commands.value_of(result))
            except (dlt698.MeterRefused, dlt698.DecodeError) as exc:
                problems.append(str(exc))
                continue
            values.extend(Value(meter.id, at, r.quantity, r.value) for r in readings)
        if not values and problems:
            raise MeterReplyError("; ".join(problems))
        return values

    async def relay(self, meter: Meter, kind: CommandKind, valid_s: int) -> RelayState:
        if meter.id not in self.credentials:
            raise MeterReplyError(f"meter {meter.id} has no relay_secret configured")
        sent = await self._meter_now(meter)
        await self.gap()
        tag = dlt698.TimeTag(sent, dlt698.Ti(0, valid_s))  # TI unit 0: seconds
        request = msgspec.structs.replace(_ACTIONS[kind], time_tag=tag)
        answer, _ = await self.exchange(meter, request, secure=True)
        if answer.response is None:
            raise MeterReplyError(f"the meter's security layer refused: {dar_name(answer.dar)}")
        response = answer.response
        if not isinstance(response, dlt698.ActionResponseNormal):
            raise MeterReplyError(f"the meter answered {type(response).__name__} to ACTION")
        try:
            commands.check_done(response)
        except dlt698.MeterRefused as exc:
            raise MeterReplyError(str(exc)) from None
        return _EXPECTED[kind]

    async def relay_state(self, meter: Meter) -> RelayState:
        value, _ = await self.get(meter, STATUS_WORDS)
        try:
            readings = dlt698.readings(STATUS_WORDS, value)
        except dlt698.DecodeError as exc:
            raise MeterReplyError(str(exc)) from None
        states = [r.value for r in readings if r.quantity is Quantity.RELAY_STATE]
        if not states:
            raise MeterReplyError("status word 3 is missing from 20140200")
        return RelayState(states[0])

    async def time_sync(self, meter: Meter) -> None:
        """SET 40000200 to the agent's time in the meter's zone; the meter confirms."""
        answer, _ = await self.exchange(meter, commands.set_clock(self._local(now_ms())))
        response = answer.response
        if not isinstance(response, dlt698.SetResponseNormal):
            raise MeterReplyError(f"the meter answered {type(response).__name__} to SET")
        try:
            commands.check_done(response)
        except dlt698.MeterRefused as exc:
            raise MeterReplyError(str(exc)) from None

    async def clock_drift_ms(self, meter: Meter) -> int | None:
        value, at = await self.get(meter, CLOCK)
        if not isinstance(value.value, DateTimeS):
            raise MeterReplyError(f"40000200 is {value.type.name}, not date_time_s")
        return self._utc_ms(value.value) - at

    async def last_power_down(self, meter: Meter) -> tuple[int, int | None] | None:
        """The latest power-down event record (3011 电能表掉电事件, Selector 9: the 1st back):
        start and end (None while it lasts), meter time."""
        await self.gap()
        answer, _ = await self.exchange(meter, commands.get_event(1, POWER_DOWN_EVENTS))
        response = answer.response
        if not isinstance(response, dlt698.GetResponseRecord):
            raise MeterReplyError(f"3011: the meter answered {type(response).__name__}")
        try:
            record = commands.event_of(response.result)
        except dlt698.MeterRefused as exc:
            raise MeterReplyError(str(exc)) from None
        except dlt698.DecodeError as exc:
            self.on_frame_error("DecodeError")
            raise MeterReplyError(str(exc)) from None
        if record is None:
            return None
        end = None if record.end is None else self._utc_ms(record.end)
        return self._utc_ms(record.start), end

    async def backfill(self, meter: Meter, since_ms: int) -> list[Value]:
        """Daily frozen energy (5004, selector 9: the n-th freeze back) for each day frozen
        after ``since_ms``, newest first; stamped with the freeze time, quality backfilled."""
        values: list[Value] = []
        for n in range(1, meter.backfill_days + 1):
            await self.gap()
            request = commands.get_frozen(n, FROZEN_COLUMNS, DAILY_FROZEN)
            try:
                answer, _ = await self.exchange(meter, request)
            except MeterTimeout:
                break
            response = answer.response
            if not isinstance(response, dlt698.GetResponseRecord) or not response.result.rows:
                break  # the meter holds fewer frozen days (or refused)
            row = response.result.rows[0]
            frozen_at_value = row[0].value
            if not isinstance(frozen_at_value, DateTimeS):
                break
            frozen_at = self._utc_ms(frozen_at_value)
            if frozen_at <= since_ms:
                break
            for column, value in zip(FROZEN_COLUMNS[1:], row[1:], strict=False):
                try:
                    readings = dlt698.readings(column, value)
                except dlt698.DecodeError:
                    self.on_frame_error("DecodeError")
                    continue
                values.extend(
                    Value(meter.id, frozen_at, r.quantity, r.value, Quality.BACKFILLED)
                    for r in readings
                )
        return values

    # --- meter local time <-> UTC ms -------------------------------------------------------

    async def _meter_now(self, meter: Meter) -> DateTimeS:
        """The meter's own clock now (a time tag is judged against it, not against ours)."""
        try:
            drift = await self.clock_drift_ms(meter)
        except MeterReplyError as exc:
            log.warning("meter %s: clock unreadable, time tag from ours: %s", meter.id, exc)
            drift = 0
        return self._local(now_ms() + (drift or 0))

    def _local(self, ms: int) -> DateTimeS:
        t = datetime.fromtimestamp(ms / 1000, self.tz)
        return DateTimeS(t.year, t.month, t.day, t.hour, t.minute, t.second)

    def _utc_ms(self, t: DateTimeS) -> int:
        try:
            local = datetime(t.year, t.month, t.day, t.hour, t.minute, t.second, tzinfo=self.tz)
        except ValueError as exc:
            raise MeterReplyError(f"meter time {t} is not a date: {exc}") from None
        return int(local.timestamp()) * 1000
