"""Simulated DL/T 645-2007 meters sharing one bus (a pty / serial line, or a TCP gateway).

What they answer: read data (11H) for every DI in the codec's table, read address (13H) when
addressed by the wildcard (two meters answering at once collide, as on a real bus), broadcast
time (08H, no reply), write (14H) of the meter clock, and relay control (1CH) with password,
operator and validity checks. Frames for other addresses are ignored. Replies carry the FE
wake-up preamble. See docs/simulators.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from edge_agent.simulators.bus import BusServer, Reply, Request, Session, SimMeter
from edge_agent.simulators.clock import Clock
from edge_agent.simulators.dlt645_values import item_values
from edge_agent.simulators.faults import FaultKind
from edge_agent.simulators.meter import RelayRefused
from edge_agent.simulators.wire import Line, Timing
from protocols.dlt645 import (
    BROADCAST_ADDRESS,
    NEED_DATA,
    ErrorFlag,
    Frame,
    FrameDecoder,
    FrameError,
    Function,
    Password,
    RelayAction,
    abnormal_reply,
    ack_reply,
    decode_time,
    encode_frame,
    encode_item,
    read_reply,
)
from protocols.dlt645.errors import Dlt645Error
from protocols.dlt645.frame import address_to_wire

DEFAULT_PASSWORDS = (Password(2, "000000"), Password(4, "000000"))
TURNAROUND_S = 0.020  # DL/T 645-2007: a meter answers 20 ms to 500 ms after a request
BROADCAST_LIMIT_S = 300  # meters refuse a broadcast correction of more than ±5 min


def dlt645_timing(baud: int | None, turnaround_s: float = TURNAROUND_S) -> Timing:
    """Wire timing of a DL/T 645 bus at ``baud`` (8E1), or none when ``baud`` is None."""
    if baud is None:
        return Timing()
    return Timing(Line(baud), gap_chars=0, turnaround_s=turnaround_s)


def matches(pattern: str, address: str) -> bool:
    """Address match with the AA wildcard in any byte (通配 / 缩位寻址)."""
    return all(pattern[i : i + 2] in ("AA", address[i : i + 2]) for i in range(0, 12, 2))


class _Dlt645Session(Session):
    def __init__(self, server: Dlt645Server) -> None:
        self.decoder = FrameDecoder()
        self.server = server

    def feed(self, data: bytes) -> list[Request]:
        before = self.decoder.buffered
        self.decoder.feed(data)
        requests = []
        consumed_at = before + len(data)
        while True:
            try:
                event = self.decoder.next_event()
            except FrameError:
                self.server.stats["frame_errors"] += 1
                continue
            if event is NEED_DATA:
                break
            left = self.decoder.buffered
            requests.append(Request(event, consumed_at - left))
            consumed_at = left
        return requests

    def buffered(self) -> int:
        return self.decoder.buffered

    def drop_partial(self) -> None:
        while self.decoder.abandon_partial():
            try:
                if self.decoder.next_event() is not NEED_DATA:
                    continue
            except FrameError:
                continue


class Dlt645Server(BusServer):
    """DL/T 645 meters by address on one bus."""

    protocol = "dlt645"
    garbage_avoid = b"\x68"

    def __init__(
        self,
        meters: Sequence[SimMeter],
        clock: Clock,
        timing: Timing | None = None,
        *,
        seed: int = 0,
        preamble: int = 4,
        passwords: Iterable[Password] = DEFAULT_PASSWORDS,
        operators: Iterable[str] | None = None,
        broadcast_limit_s: float | None = BROADCAST_LIMIT_S,
    ) -> None:
        super().__init__(meters, clock, timing or Timing(), seed)
        self.preamble = preamble
        self.passwords = {p.to_wire() for p in passwords}
        self.operators = None if operators is None else {o.upper() for o in operators}
        self.broadcast_limit_s = broadcast_limit_s

    def session(self) -> Session:
        return _Dlt645Session(self)

    def corrupt(self, data: bytes) -> bytes:
        return data[:-2] + bytes(((data[-2] + 1) & 0xFF,)) + data[-1:]

    def respond(self, request: object, now_ms: int) -> list[Reply]:
        assert isinstance(request, Frame)
        if request.is_reply:
            self.stats["ignored"] += 1  # another slave's answer on the line
            return []
        if request.address == BROADCAST_ADDRESS:
            self._broadcast(request, now_ms)
            return []
        replies = []
        for meter in self.meters.values():
            if not matches(request.address, meter.meter_id):
                continue
            fault = meter.strike()
            if fault is not None and fault.kind is FaultKind.SILENT:
                continue
            frame = self._answer(meter, request, now_ms)
            if frame is not None:
                replies.append(Reply(meter, encode_frame(frame, self.preamble), fault))
        if not replies:
            self.stats["ignored"] += 1
        return replies

    def _broadcast(self, request: Frame, now_ms: int) -> None:
        self.stats["broadcasts"] += 1
        if request.function != Function.BROADCAST_TIME or len(request.data) != 6:
            return
        try:
            shown = decode_time(request.data, "YYMMDDhhmmss")
            when = datetime(*shown.as_tuple())  # noqa: DTZ001 - meter local time
        except (Dlt645Error, ValueError):
            return
        for meter in self.meters.values():
            if not meter.model.powered:
                continue
            error = abs((when - meter.model.meter_time(now_ms)).total_seconds())
            if self.broadcast_limit_s is not None and error > self.broadcast_limit_s:
                self.stats["broadcast_time_refused"] += 1
                continue
            meter.model.set_clock(now_ms, when)

    def _answer(self, meter: SimMeter, request: Frame, now_ms: int) -> Frame | None:
        address = meter.meter_id
        function = request.function
        if function == Function.READ_DATA:
            return self._read(meter, request.data, now_ms)
        if function == Function.READ_ADDRESS:
            return ack_reply(address, function, address_to_wire(address))
        if function == Function.RELAY_CONTROL:
            return self._relay(meter, request.data, now_ms)
        if function == Function.WRITE_DATA:
            return self._write(meter, request.data, now_ms)
        return abnormal_reply(address, function, ErrorFlag.OTHER)

    def _read(self, meter: SimMeter, data: bytes, now_ms: int) -> Frame:
        if len(data) < 4:
            return abnormal_reply(meter.meter_id, Function.READ_DATA, ErrorFlag.OTHER)
        di = int.from_bytes(data[:4], "little")
        values = item_values(meter.model, di, now_ms)
        if values is None:
            return abnormal_reply(meter.meter_id, Function.READ_DATA, ErrorFlag.NO_DATA)
        return read_reply(meter.meter_id, di, encode_item(di, values))

    def _authorised(self, password: bytes, operator: bytes) -> bool:
        if password not in self.passwords:
            return False
        return self.operators is None or operator[::-1].hex().upper() in self.operators

    def _relay(self, meter: SimMeter, data: bytes, now_ms: int) -> Frame:
        address, function = meter.meter_id, Function.RELAY_CONTROL
        if len(data) != 16:
            return abnormal_reply(address, function, ErrorFlag.OTHER)
        if not self._authorised(data[0:4], data[4:8]):
            self.stats["refused_password"] += 1
            return abnormal_reply(address, function, ErrorFlag.UNAUTHORISED)
        operator = data[4:8][::-1].hex().upper()
        model = meter.model
        try:
            valid = decode_time(data[10:16], "YYMMDDhhmmss")
            valid_until = datetime(*valid.as_tuple())  # noqa: DTZ001 - meter local time
            action = RelayAction(data[8])
        except (Dlt645Error, ValueError):
            return abnormal_reply(address, function, ErrorFlag.OTHER)
        if valid_until < model.meter_time(now_ms):
            self.stats["refused_expired"] += 1
            return abnormal_reply(address, function, ErrorFlag.OTHER)
        try:
            if action is RelayAction.TRIP:
                model.remote_disconnect(now_ms, operator)
            elif action is RelayAction.CLOSE_PERMITTED:
                model.remote_reconnect(now_ms, operator, arm=True)
            elif action is RelayAction.CLOSE_DIRECT:
                model.remote_reconnect(now_ms, operator, arm=False)
            elif action in (RelayAction.ALARM, RelayAction.ALARM_CLEAR):
                model.alarm = action is RelayAction.ALARM
            else:
                model.keep_power = action is RelayAction.KEEP_POWER
        except RelayRefused:
            self.stats["refused_keep_power"] += 1
            return abnormal_reply(address, function, ErrorFlag.OTHER)
        return ack_reply(address, function)

    def _write(self, meter: SimMeter, data: bytes, now_ms: int) -> Frame:
        address, function = meter.meter_id, Function.WRITE_DATA
        if len(data) < 12:
            return abnormal_reply(address, function, ErrorFlag.OTHER)
        if not self._authorised(data[4:8], data[8:12]):
            self.stats["refused_password"] += 1
            return abnormal_reply(address, function, ErrorFlag.UNAUTHORISED)
        di = int.from_bytes(data[:4], "little")
        payload = data[12:]
        model = meter.model
        shown = model.meter_time(now_ms)
        try:
            if di == 0x04000101 and len(payload) == 4:
                day = decode_time(payload, "YYMMDDWW")
                model.set_clock(
                    now_ms,
                    shown.replace(year=day.year, month=day.month, day=day.day, microsecond=0),
                )
            elif di == 0x04000102 and len(payload) == 3:
                clock = decode_time(payload, "hhmmss")
                model.set_clock(
                    now_ms,
                    shown.replace(
                        hour=clock.hour, minute=clock.minute, second=clock.second, microsecond=0
                    ),
                )
            else:
                return abnormal_reply(address, function, ErrorFlag.OTHER)
        except (Dlt645Error, ValueError):
            return abnormal_reply(address, function, ErrorFlag.OTHER)
        return ack_reply(address, function)
