"""What a simulated DL/T 698.45 meter answers for each OAD of the codec's object table.

:mod:`protocols.dlt698.objects` says each attribute's type, scaler and contract quantities; this
module fills them from the same :class:`MeterModel` the DL/T 645 meter uses, rounded to the
attribute's resolution the way a meter display does (energy truncated to 0.01 kWh, the rest
rounded), and the codec encodes them. So every OAD the agent can read, the simulator answers.
"""

from __future__ import annotations

from datetime import datetime

from edge_agent.simulators.meter import MeterModel
from edge_agent.simulators.records import DailyFreeze, PowerFailureRecord
from protocols.contract.messages import RelayState
from protocols.contract.quantities import Quantity
from protocols.dlt698 import TABLE, Attribute, BitString, Data, DataType, DateTimeS
from protocols.dlt698 import data as d
from protocols.dlt698.objects import (
    ADDRESS,
    CLOCK,
    DAILY_FROZEN,
    EVENT_END,
    EVENT_NUMBER,
    EVENT_START,
    FREEZE_TIME,
    MONTHLY_FROZEN,
    STATUS_WORDS,
    index_of,
)

FREEZE_NUMBER = 0x20230200
_RANGES = {
    DataType.DOUBLE_LONG: (-(2**31), 2**31 - 1),
    DataType.DOUBLE_LONG_UNSIGNED: (0, 2**32 - 1),
    DataType.LONG: (-(2**15), 2**15 - 1),
    DataType.LONG_UNSIGNED: (0, 2**16 - 1),
}


def date_time_s(when: datetime) -> DateTimeS:
    return DateTimeS(when.year, when.month, when.day, when.hour, when.minute, when.second)


def raw_of(attribute: Attribute, value: int) -> int:
    """``value`` (contract units) as the attribute's raw integer, clamped to its type."""
    if attribute.div != 1:
        raw = value * attribute.div
    elif attribute.cumulative:
        raw = value // attribute.mul
    else:
        raw = (value + attribute.mul // 2) // attribute.mul
    kind = attribute.element or attribute.type
    low, high = _RANGES.get(kind, (-(2**63), 2**63 - 1))
    return max(low, min(high, raw))


def _number(attribute: Attribute, value: int) -> Data:
    return Data(attribute.element or attribute.type, raw_of(attribute, value))


def status_word(word: int) -> BitString:
    """A DL/T 645-style status word (bit n = 1 << n) as a 698 bit-string(16)."""
    return BitString.from_bits(16, [n for n in range(16) if word >> n & 1])


def _quantities(model: MeterModel, attribute: Attribute, now_ms: int) -> list[Data]:
    readings = model.readings(now_ms)
    return [_number(attribute, readings.get(q, 0)) if q else d.null() for q in attribute.quantities]


def _relay_bits(model: MeterModel) -> dict[int, Data]:
    opened = model.relay is not RelayState.CONNECTED
    commanded = model.relay is RelayState.DISCONNECTED
    return {
        0x80000200: d.structure([d.double_long_unsigned(0), d.long_unsigned(0)]),
        0x80000300: d.bit_string(BitString.from_bits(8, [0] if opened else [])),
        0x80000400: d.bit_string(BitString.from_bits(8, [0] if model.alarm else [])),
        0x80000500: d.bit_string(BitString.from_bits(8, [0] if commanded else [])),
    }


def attribute_value(model: MeterModel, address: str, oad: int, now_ms: int) -> Data | None:
    """The Data the meter answers for ``oad`` at ``now_ms``, or None (对象不存在)."""
    base = oad & ~0xFF
    index = index_of(oad)
    whole = _whole(model, address, base, now_ms)
    if whole is None or index == 0:
        return whole if index == 0 else None
    if whole.type is not DataType.ARRAY:
        return None
    assert isinstance(whole.value, tuple)
    items = whole.value
    return items[index - 1] if index <= len(items) else None  # type: ignore[return-value]


def _whole(model: MeterModel, address: str, oad: int, now_ms: int) -> Data | None:
    if oad == CLOCK:
        return d.date_time_s(date_time_s(model.meter_time(now_ms)))
    if oad == ADDRESS:
        return d.octet_string(bytes.fromhex(address))
    if oad == STATUS_WORDS:
        words = [0, 0, model.status_word_3(), 0, 0, 0, 0]
        return d.array([d.bit_string(status_word(w)) for w in words])
    if oad in (0x80000200, 0x80000300, 0x80000400, 0x80000500):
        return _relay_bits(model)[oad]
    attribute = TABLE.get(oad)
    if attribute is None or not attribute.quantities:
        return None
    values = _quantities(model, attribute, now_ms)
    return d.array(values) if attribute.is_array else values[0]


# --- frozen records ----------------------------------------------------------------------------


def frozen_rows(model: MeterModel, record: int) -> list[DailyFreeze]:
    """The freezes of ``record`` newest first: 5004 every daily freeze, 5006 those at the start
    of a month (a monthly freeze happens at 00:00 on the 1st)."""
    freezes = list(model.frozen)
    if record == MONTHLY_FROZEN:
        return [f for f in freezes if f.at.day == 1]
    return freezes if record == DAILY_FROZEN else []


def frozen_column(freeze: DailyFreeze, number: int, column: int) -> Data:
    """One column of a frozen record: the freeze time, its number or a frozen register."""
    if column == FREEZE_TIME:
        return d.date_time_s(date_time_s(freeze.at))
    if column == FREEZE_NUMBER:
        return d.double_long_unsigned(number)
    base, index = column & ~0xFF, index_of(column)
    registers = {0x00100200: freeze.import_wh, 0x00200200: freeze.export_wh}.get(base)
    if registers is None:
        return d.null()
    attribute = TABLE[base]
    values = [_number(attribute, wh) for wh in registers]
    if index == 0:
        return d.array(values)
    return values[index - 1] if index <= len(values) else d.null()


def frozen_quantities() -> frozenset[Quantity]:
    """What the frozen records carry, for the docs and the tests."""
    return frozenset(q for base in (0x00100200, 0x00200200) for q in TABLE[base].quantities if q)


# --- event records ---------------------------------------------------------------------------


def power_down_rows(model: MeterModel) -> list[tuple[int, PowerFailureRecord]]:
    """The meter's power-down records (3011 电能表掉电事件) newest first, each with its record
    number (事件记录序号: 1 the first failure the meter ever recorded)."""
    events = model.events
    return [(events.power_failure_count - i, r) for i, r in enumerate(events.power_failures)]


def event_column(record: PowerFailureRecord, number: int, column: int) -> Data:
    """One column of a power-down record: its number, start, end (null while it lasts)."""
    if column == EVENT_NUMBER:
        return d.double_long_unsigned(number)
    if column == EVENT_START:
        return d.date_time_s(date_time_s(record.start))
    if column == EVENT_END:
        return d.null() if record.end is None else d.date_time_s(date_time_s(record.end))
    return d.null()
