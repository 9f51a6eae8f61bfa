"""Simulated DL/T 698.45 meters sharing one bus (a pty / serial line, or a TCP gateway).

What they answer, from the same load model as the DL/T 645 meters: GET-Request Normal and
NormalList for every OAD of the codec's object table (and its elements), GET-Request Record on
5004 (daily) and 5006 (monthly) frozen data and on 3011 (power-down events, 电能表掉电事件)
with selectors 0, 1, 2 and 9, SET of the clock
(40000200), and ACTION on 8000 (trip 129, close 130, alarm 127/128) and 8001 (keep power
127/128) — the last two only inside a SECURITY-Request whose MAC verifies (the stand-in
:func:`protocols.dlt698.keyed_mac` keyed by a password the bus accepts; a real meter's ESAM is
out of scope). Broadcasts are carried out without a reply, wildcard addresses answer with the
meter's own. See docs/simulators.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from edge_agent.simulators.bus import BusServer, Reply, Request, Session, SimMeter
from edge_agent.simulators.clock import Clock
from edge_agent.simulators.dlt698_values import (
    FREEZE_NUMBER,
    attribute_value,
    event_column,
    frozen_column,
    frozen_rows,
    power_down_rows,
)
from edge_agent.simulators.faults import FaultKind
from edge_agent.simulators.meter import RelayRefused
from edge_agent.simulators.wire import Line, Timing
from protocols.dlt645 import Password
from protocols.dlt698 import (
    NEED_DATA,
    SERVER_RESPONSE,
    ActionNormal,
    ActionResponseNormal,
    AddressType,
    Apdu,
    Dar,
    Data,
    DataType,
    DateTimeS,
    DecodeError,
    ErrorKind,
    ErrorResponse,
    Frame,
    FrameDecoder,
    FrameError,
    GetNormal,
    GetNormalList,
    GetRecord,
    GetResponseNormal,
    GetResponseNormalList,
    GetResponseRecord,
    ResultNormal,
    ResultRecord,
    SecurityRequest,
    SecurityResponse,
    Selector1,
    Selector2,
    Selector9,
    SetNormal,
    SetResponseNormal,
    SidMac,
    TimeTag,
    decode_apdu,
    encode_apdu,
    encode_frame,
    keyed_mac,
    single,
)
from protocols.dlt698.commands import CloseCommand
from protocols.dlt698.objects import (
    CLOCK,
    EVENT_NUMBER,
    KEEP_POWER,
    KEEP_POWER_CLEAR,
    POWER_DOWN_EVENTS,
    REMOTE_ALARM,
    REMOTE_ALARM_CLEAR,
    REMOTE_CLOSE,
    REMOTE_TRIP,
)

TURNAROUND_S = 0.020
SECURED_METHODS = {REMOTE_TRIP, REMOTE_CLOSE, REMOTE_ALARM, REMOTE_ALARM_CLEAR, KEEP_POWER,
                   KEEP_POWER_CLEAR}  # fmt: skip


def dlt698_timing(baud: int | None, turnaround_s: float = TURNAROUND_S) -> Timing:
    if baud is None:
        return Timing()
    return Timing(Line(baud), gap_chars=0, turnaround_s=turnaround_s)


def mac_key(password: Password) -> bytes:
    """The stand-in MAC key of a relay password: its level and code, as the agent derives it."""
    return bytes.fromhex(f"{password.level:02X}{password.code}")


def matches(pattern: str, address: str) -> bool:
    """Wildcard match: an ``A`` nibble in the pattern matches any digit."""
    return len(pattern) == len(address) and all(
        p in ("A", a) for p, a in zip(pattern, address, strict=True)
    )


class _Session(Session):
    def __init__(self, server: Dlt698Server) -> None:
        self.decoder = FrameDecoder()
        self.server = server

    def feed(self, data: bytes) -> list[Request]:
        before = self.decoder.buffered
        self.decoder.feed(data)
        requests: list[Request] = []
        consumed_at = before + len(data)
        while True:
            try:
                event = self.decoder.next_event()
            except FrameError:
                self.server.stats["frame_errors"] += 1
                continue
            if event is NEED_DATA:
                return requests
            left = self.decoder.buffered
            requests.append(Request(event, consumed_at - left))
            consumed_at = left

    def buffered(self) -> int:
        return self.decoder.buffered

    def drop_partial(self) -> None:
        while self.decoder.abandon_partial():
            try:
                if self.decoder.next_event() is not NEED_DATA:
                    continue
            except FrameError:
                continue


class Dlt698Server(BusServer):
    """DL/T 698.45 meters by server address on one bus."""

    protocol = "dlt698"
    garbage_avoid = b"\x68"

    def __init__(
        self,
        meters: Sequence[SimMeter],
        clock: Clock,
        timing: Timing | None = None,
        *,
        seed: int = 0,
        preamble: int = 4,
        passwords: Iterable[Password] = (Password(2, "000000"), Password(4, "000000")),
    ) -> None:
        super().__init__(meters, clock, timing or Timing(), seed)
        self.preamble = preamble
        self.keys = [mac_key(p) for p in passwords]

    def session(self) -> Session:
        return _Session(self)

    def corrupt(self, data: bytes) -> bytes:
        return data[:-3] + bytes(((data[-3] + 1) & 0xFF,)) + data[-2:]

    def respond(self, request: object, now_ms: int) -> list[Reply]:
        assert isinstance(request, Frame)
        if request.from_server:
            self.stats["ignored"] += 1
            return []
        kind, pattern = request.server.kind, request.server.address
        replies = []
        for meter in self.meters.values():
            if kind is AddressType.BROADCAST:
                if meter.model.powered:
                    self._answer(meter, request, now_ms)  # carried out, never answered
                continue
            if kind is AddressType.GROUP or not matches(pattern, meter.meter_id):
                continue
            fault = meter.strike()
            if fault is not None and fault.kind is FaultKind.SILENT:
                continue
            apdu = self._answer(meter, request, now_ms)
            frame = Frame(single(meter.meter_id), apdu, SERVER_RESPONSE, request.client)
            replies.append(Reply(meter, encode_frame(frame, self.preamble), fault))
        if kind is AddressType.BROADCAST:
            self.stats["broadcasts"] += 1
        elif not replies:
            self.stats["ignored"] += 1
        return replies

    # --- services --------------------------------------------------------------------------------

    def _answer(self, meter: SimMeter, frame: Frame, now_ms: int) -> bytes:
        try:
            apdu = decode_apdu(frame.apdu)
        except DecodeError:
            self.stats["apdu_errors"] += 1
            return encode_apdu(ErrorResponse(0, ErrorKind.APDU_UNPARSABLE))
        if isinstance(apdu, SecurityRequest):
            return self._secured(meter, apdu, now_ms)
        return encode_apdu(self._service(meter, apdu, now_ms, secured=False))

    def _secured(self, meter: SimMeter, request: SecurityRequest, now_ms: int) -> bytes:
        key = self._key_for(request)
        if key is None or request.ciphered:
            self.stats["refused_security"] += 1
            return encode_apdu(SecurityResponse(None, Dar.ESAM_FAILURE))
        try:
            inner = decode_apdu(request.apdu)
        except DecodeError:
            return encode_apdu(SecurityResponse(None, Dar.OTHER))
        reply = encode_apdu(self._service(meter, inner, now_ms, secured=True))
        return encode_apdu(SecurityResponse(reply, mac=keyed_mac(key)(reply).mac))

    def _key_for(self, request: SecurityRequest) -> bytes | None:
        v = request.verification
        if not isinstance(v, SidMac):
            return None
        for key in self.keys:
            if keyed_mac(key, v.sid.ident, v.sid.extra)(request.apdu) == v:
                return key
        return None

    def _service(self, meter: SimMeter, apdu: Apdu, now_ms: int, *, secured: bool) -> Apdu:
        match apdu:
            case GetNormal(piid, oad):
                return GetResponseNormal(piid, self._result(meter, oad, now_ms))
            case GetNormalList(piid, oads):
                return GetResponseNormalList(
                    piid, tuple(self._result(meter, o, now_ms) for o in oads)
                )
            case GetRecord(piid, oad, rsd, rcsd):
                return GetResponseRecord(piid, self._records(meter, oad, rsd, rcsd))
            case SetNormal(piid, oad, value):
                return SetResponseNormal(piid, oad, self._set(meter, oad, value, now_ms))
            case ActionNormal(piid, omd, value, tag):
                if omd in SECURED_METHODS and not secured:
                    self.stats["refused_security"] += 1
                    return ActionResponseNormal(piid, omd, Dar.SECURITY_UNMATCHED)
                if tag is not None and not _in_time(tag, meter.model.meter_time(now_ms)):
                    self.stats["refused_expired"] += 1
                    return ActionResponseNormal(piid, omd, Dar.TIME_TAG_INVALID)
                return ActionResponseNormal(piid, omd, self._act(meter, omd, value, now_ms))
        return ErrorResponse(getattr(apdu, "piid", 0), ErrorKind.SERVICE_UNSUPPORTED)

    def _result(self, meter: SimMeter, oad: int, now_ms: int) -> ResultNormal:
        value = attribute_value(meter.model, meter.meter_id, oad, now_ms)
        if value is None:
            return ResultNormal(oad, None, Dar.OBJECT_UNAVAILABLE)
        return ResultNormal(oad, value)

    def _records(
        self, meter: SimMeter, oad: int, rsd: object, rcsd: tuple[object, ...]
    ) -> ResultRecord:
        columns = tuple(c for c in rcsd if isinstance(c, int))
        if len(columns) != len(rcsd) or not columns:
            return ResultRecord(oad, rcsd, None, Dar.TYPE_UNMATCHED)  # type: ignore[arg-type]
        if oad == POWER_DOWN_EVENTS:
            events = power_down_rows(meter.model)
            chosen = _chosen(rsd, [(n, r.start, r) for n, r in events], EVENT_NUMBER)
            rows = tuple(tuple(event_column(r, n, c) for c in columns) for n, r in chosen)
            return ResultRecord(oad, columns, rows)
        freezes = frozen_rows(meter.model, oad)
        numbered = [(len(freezes) - i, f.at, f) for i, f in enumerate(freezes)]  # 1 = the oldest
        picked = _chosen(rsd, numbered, FREEZE_NUMBER)
        rows = tuple(tuple(frozen_column(f, n, c) for c in columns) for n, f in picked)
        return ResultRecord(oad, columns, rows)

    def _set(self, meter: SimMeter, oad: int, value: Data, now_ms: int) -> int:
        if oad != CLOCK:
            return Dar.READ_WRITE_DENIED
        shown = value.value
        if value.type is not DataType.DATE_TIME_S or not isinstance(shown, DateTimeS):
            return Dar.TYPE_UNMATCHED
        try:
            when = naive_local(shown)
        except ValueError:
            return Dar.SCOPE_OF_ACCESS_VIOLATED
        meter.model.set_clock(now_ms, when)
        self.stats["clock_set"] += 1
        return Dar.SUCCESS

    def _act(self, meter: SimMeter, omd: int, value: Data, now_ms: int) -> int:
        model = meter.model
        try:
            if omd == REMOTE_TRIP:
                model.remote_disconnect(now_ms)
            elif omd == REMOTE_CLOSE:
                command = _close_command(value)
                if command is None:
                    return Dar.TYPE_UNMATCHED
                model.remote_reconnect(now_ms, arm=command is CloseCommand.PERMIT)
            elif omd in (REMOTE_ALARM, REMOTE_ALARM_CLEAR):
                model.alarm = omd == REMOTE_ALARM
            elif omd in (KEEP_POWER, KEEP_POWER_CLEAR):
                model.keep_power = omd == KEEP_POWER
            else:
                return Dar.OBJECT_UNDEFINED
        except RelayRefused:
            self.stats["refused_keep_power"] += 1
            return Dar.TEMPORARY_FAILURE
        return Dar.SUCCESS


def naive_local(shown: DateTimeS) -> datetime:
    """The meter's local time as the model keeps it (naive on purpose: the meter has no zone)."""
    return datetime(shown.year, shown.month, shown.day, shown.hour, shown.minute, shown.second)  # noqa: DTZ001


_TI_SECONDS = {0: 1, 1: 60, 2: 3600, 3: 86_400}


def _in_time(tag: TimeTag, meter_now: datetime) -> bool:
    """A time tag holds while the meter's clock is within [sent, sent + allowed delay]."""
    seconds = _TI_SECONDS.get(tag.allowed_delay.unit)
    try:
        sent = naive_local(tag.sent)
    except ValueError:
        return False
    if seconds is None:
        return False
    deadline = sent + timedelta(seconds=seconds * tag.allowed_delay.interval)
    return sent - timedelta(minutes=5) <= meter_now <= deadline


def _items(value: Data) -> tuple[Data, ...]:
    items = value.value
    if value.type not in (DataType.ARRAY, DataType.STRUCTURE) or not isinstance(items, tuple):
        return ()
    return tuple(i for i in items if isinstance(i, Data))


def _close_command(value: Data) -> CloseCommand | None:
    """The command of method 130's first {relay OAD, enum} item, or None if malformed."""
    first = _items(value)
    fields = _items(first[0]) if first else ()
    command = fields[1].value if len(fields) == 2 else None
    if not isinstance(command, int):
        return None
    try:
        return CloseCommand(command)
    except ValueError:
        return None


def _key(value: Data) -> object:
    """What a selector compares: an integer, or a date_time_s as a tuple."""
    if isinstance(value.value, DateTimeS):
        v = value.value
        return (v.year, v.month, v.day, v.hour, v.minute, v.second)
    return value.value


_T = TypeVar("_T")


def _chosen(
    rsd: object, numbered: list[tuple[int, datetime, _T]], number_oad: int
) -> list[tuple[int, _T]]:
    """The records (newest first, each with its number and time) that ``rsd`` selects."""
    if isinstance(rsd, Selector9):
        numbered = numbered[rsd.last - 1 : rsd.last] if rsd.last >= 1 else []
    elif isinstance(rsd, Selector1 | Selector2):
        numbered = [(n, at, r) for n, at, r in numbered if _selected(rsd, n, at, number_oad)]
    return [(n, r) for n, _at, r in numbered]


def _selected(rsd: Selector1 | Selector2, number: int, at: datetime, number_oad: int) -> bool:
    """Selector 1 (equal to) and 2 (in [start, end)) on the record's time or number."""
    key: object = (
        number
        if rsd.oad == number_oad
        else (at.year, at.month, at.day, at.hour, at.minute, at.second)
    )
    if isinstance(rsd, Selector1):
        return key == _key(rsd.value)
    low, high = _key(rsd.start), _key(rsd.end)
    try:
        return bool(low <= key < high)  # type: ignore[operator]
    except TypeError:  # a bound of another type than the column: nothing matches
        return False
