"""Request builders for what a master asks of a meter, and the checks of their answers.

The builders leave the PIID at 0: :meth:`protocols.dlt698.connection.Connection.send` numbers
each request as it goes out. Nothing here knows the time; a clock setting takes the moment, in
the meter's local time, as a :class:`DateTimeS`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

import msgspec

from protocols.dlt698.apdu import (
    ActionNormal,
    ActionResponseNormal,
    GetNormal,
    GetNormalList,
    GetRecord,
    ResultNormal,
    SetNormal,
    SetResponseNormal,
)
from protocols.dlt698.data import (
    Data,
    DataType,
    DateTimeS,
    array,
    boolean,
    date_time_s,
    enumerated,
    long_unsigned,
    oad,
    structure,
    unsigned,
)
from protocols.dlt698.errors import DecodeError, MeterRefused
from protocols.dlt698.objects import (
    CLOCK,
    DAILY_FROZEN,
    EVENT_END,
    EVENT_NUMBER,
    EVENT_START,
    FREEZE_TIME,
    POWER_DOWN_EVENTS,
    RELAY_1,
    REMOTE_CLOSE,
    REMOTE_TRIP,
)
from protocols.dlt698.records import ResultRecord, Selector9


class CloseCommand(enum.IntEnum):
    """The 命令 of method 130 (合闸). The numbering is best knowledge of the standard's text
    (合闸允许 0, 直接合闸 1), not yet confirmed by a capture: check a meter's answer before
    relying on it in the field."""

    PERMIT = 0  # 合闸允许: armed; supply returns when the customer presses the button
    DIRECT = 1  # 直接合闸


def get(oad_: int) -> GetNormal:
    return GetNormal(0, oad_)


def get_list(oads: Iterable[int]) -> GetNormalList:
    return GetNormalList(0, tuple(oads))


def get_frozen(
    last: int, columns: Iterable[int], record: int = DAILY_FROZEN, *, with_time: bool = True
) -> GetRecord:
    """The ``last``-th frozen record back (Selector 9) of ``record`` (5004 daily by default),
    with the freeze time (20210200) as the first column unless ``with_time`` is False."""
    wanted = tuple(columns)
    if with_time and FREEZE_TIME not in wanted:
        wanted = (FREEZE_TIME, *wanted)
    return GetRecord(0, record, Selector9(last), wanted)


EVENT_COLUMNS = (EVENT_NUMBER, EVENT_START, EVENT_END)


def get_event(last: int = 1, record: int = POWER_DOWN_EVENTS) -> GetRecord:
    """The ``last``-th event record back (Selector 9; 1 = the latest) of an event object's
    record table (3011 电能表掉电事件 by default): its number, start and end time."""
    return GetRecord(0, record, Selector9(last), EVENT_COLUMNS)


class EventRecord(msgspec.Struct, frozen=True, gc=False):
    """One row of an event record table, meter local time; ``end`` None while it lasts."""

    number: int
    start: DateTimeS
    end: DateTimeS | None


def event_of(result: ResultRecord) -> EventRecord | None:
    """The first row of an answer to :func:`get_event`, found by the columns the answer names;
    None when the meter holds no record (no rows, or a row whose start is null). A DAR is
    MeterRefused; a column missing or of the wrong type is the meter's fault (DecodeError)."""
    rows = rows_of(result)
    if not rows:
        return None
    row = dict(zip(result.rcsd, rows[0], strict=True))
    missing = [f"{c:08X}" for c in EVENT_COLUMNS if c not in row]
    if missing:
        raise DecodeError(f"event record {result.oad:08X} lacks column(s) {', '.join(missing)}")
    number, start, end = (row[c] for c in EVENT_COLUMNS)
    if start.type is DataType.NULL:
        return None
    if not isinstance(start.value, DateTimeS):
        raise DecodeError(f"event start is {start.type.name}, not date_time_s")
    if end.type is not DataType.NULL and not isinstance(end.value, DateTimeS):
        raise DecodeError(f"event end is {end.type.name}, not date_time_s or null")
    if type(number.value) is not int:
        raise DecodeError(f"event record number is {number.type.name}, not a number")
    finished = end.value if isinstance(end.value, DateTimeS) else None
    return EventRecord(number.value, start.value, finished)


def set_clock(when: DateTimeS) -> SetNormal:
    """Set the meter clock (40000200) to ``when``, the meter's local time."""
    return SetNormal(0, CLOCK, date_time_s(when))


def trip(
    relay: int = RELAY_1,
    *,
    alarm_delay_min: int = 0,
    duration_min: int = 0,
    auto_close: bool = False,
) -> ActionNormal:
    """8000 method 129 (跳闸): open ``relay``. ``duration_min`` 0 keeps it open until closed;
    ``auto_close`` closes it again when the duration ends."""
    item = structure(
        [oad(relay), unsigned(alarm_delay_min), long_unsigned(duration_min), boolean(auto_close)]
    )
    return ActionNormal(0, REMOTE_TRIP, array([item]))


def close(relay: int = RELAY_1, command: CloseCommand = CloseCommand.DIRECT) -> ActionNormal:
    """8000 method 130 (合闸): close ``relay`` now, or only permit the customer to."""
    return ActionNormal(0, REMOTE_CLOSE, array([structure([oad(relay), enumerated(int(command))])]))


def value_of(result: ResultNormal) -> Data:
    """The Data of a normal result, or MeterRefused with its DAR."""
    if result.value is None:
        raise MeterRefused(f"reading {result.oad:08X}", result.dar)
    return result.value


def rows_of(result: ResultRecord) -> tuple[tuple[Data, ...], ...]:
    if result.rows is None:
        raise MeterRefused(f"records of {result.oad:08X}", result.dar)
    return result.rows


def check_done(response: SetResponseNormal | ActionResponseNormal) -> None:
    """Raise MeterRefused unless the SET or ACTION succeeded."""
    if response.dar:
        target = response.oad if isinstance(response, SetResponseNormal) else response.omd
        raise MeterRefused(f"{type(response).__name__} {target:08X}", response.dar)
