"""Decoding a DI's data to contract readings and typed records, and encoding it back.

The agent calls :func:`decode_item` on the data of a read reply; the simulator calls
:func:`encode_item` to answer a read with the same table, so both sides agree by construction.
Every value is an ``int`` in the contract's unit, a :class:`MeterTime`, or (for an operator
code) a string of hex digits: no float is ever produced.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import msgspec

from protocols.contract.messages import RelayState
from protocols.contract.quantities import Quantity
from protocols.dlt645.bcd import MeterTime, bcd_to_int, decode_time, encode_time, int_to_bcd
from protocols.dlt645.di_table import TABLE, DataItem, Field, Kind, Record
from protocols.dlt645.errors import BcdError, LocalProtocolError, UnexpectedReply

FieldValue = int | str | MeterTime


class Reading(msgspec.Struct, frozen=True):
    """One contract value: the quantity and its integer in the quantity's unit."""

    quantity: Quantity
    value: int


class MaxDemand(msgspec.Struct, frozen=True):
    demand: int  # W
    at: MeterTime


class Timestamp(msgspec.Struct, frozen=True):
    at: MeterTime


class EventCount(msgspec.Struct, frozen=True):
    count: int


class PowerFailure(msgspec.Struct, frozen=True):
    """掉电记录: when supply was lost and when it came back (meter local time)."""

    start: MeterTime
    end: MeterTime


class RelayEvent(msgspec.Struct, frozen=True):
    """跳闸/合闸记录: when, who (operator code), and the registers at that moment."""

    at: MeterTime
    operator: str
    energy_import: int  # Wh
    energy_export: int  # Wh
    reactive_q1: int  # varh, quadrants I..IV
    reactive_q2: int
    reactive_q3: int
    reactive_q4: int


class StatusWord(msgspec.Struct, frozen=True):
    """A running status word (电表运行状态字). Bits of word 3, per DL/T 645-2007 appendix C
    and the State Grid prepaid-meter amendment, are exposed as properties."""

    number: int
    word: int

    @property
    def relay_open(self) -> bool:
        """Word 3 bit 4, 继电器状态: the line is actually cut (1) or conducting (0)."""
        return self.number == 3 and bool(self.word & 0x0010)

    @property
    def relay_command_trip(self) -> bool:
        """Word 3 bit 6, 继电器命令状态: a remote trip command is in force."""
        return self.number == 3 and bool(self.word & 0x0040)

    @property
    def pre_trip_alarm(self) -> bool:
        """Word 3 bit 7, 预跳闸报警状态: low credit or a remote alarm command."""
        return self.number == 3 and bool(self.word & 0x0080)

    @property
    def keep_power(self) -> bool:
        """Word 3 bit 12, 保电状态 (2013 amendment): trips are refused while set."""
        return self.number == 3 and bool(self.word & 0x1000)

    @property
    def relay_state(self) -> RelayState | None:
        """Word 3 mapped to the contract: open with the trip command still in force is
        DISCONNECTED; open after the command was lifted (合闸允许, waiting for the customer's
        button) is READY_FOR_RECONNECTION; closed is CONNECTED. None for other words."""
        if self.number != 3:
            return None
        if not self.relay_open:
            return RelayState.CONNECTED
        if self.relay_command_trip:
            return RelayState.DISCONNECTED
        return RelayState.READY_FOR_RECONNECTION


RecordValue = MaxDemand | Timestamp | EventCount | PowerFailure | RelayEvent | StatusWord

_RECORD_TYPES: dict[Record, type[RecordValue]] = {
    Record.MAX_DEMAND: MaxDemand,
    Record.TIMESTAMP: Timestamp,
    Record.EVENT_COUNT: EventCount,
    Record.POWER_FAILURE: PowerFailure,
    Record.RELAY_EVENT: RelayEvent,
}


class Item(msgspec.Struct, frozen=True):
    """A decoded DI: the contract readings it carries, every field by name, and a typed record
    where the DI is one (demand with its time, an event record, a status word...)."""

    di: int
    readings: tuple[Reading, ...]
    values: dict[str, FieldValue]
    record: RecordValue | None = None


def lookup(di: int) -> DataItem:
    """The table entry for ``di``; an unknown DI is the caller's mistake (local error)."""
    try:
        return TABLE[di]
    except KeyError:
        raise LocalProtocolError(f"DI {di:08X} is not in the DL/T 645 table") from None


def _scale(digits: int, field: Field) -> int:
    value = digits * field.mul
    if field.div == 1:
        return value
    magnitude = (abs(value) * 2 + field.div) // (2 * field.div)  # half away from zero
    return -magnitude if value < 0 else magnitude


def _decode_field(field: Field, raw: bytes) -> FieldValue:
    kind = field.kind
    if kind is Kind.NUMBER:
        return _scale(bcd_to_int(raw, signed=field.signed), field)
    if kind is Kind.TIME:
        return decode_time(raw, field.fmt)
    if kind is Kind.BITS:
        return int.from_bytes(raw, "little")
    return raw[::-1].hex().upper()


def _number(field: Field, raw: bytes) -> int:
    """BCD digits to the contract integer (bcd_to_int + scaling, flattened)."""
    text = raw[::-1].hex()
    negative = False
    if field.signed and raw[-1] & 0x80:
        negative = True
        text = f"{raw[-1] & 0x7F:02x}{text[2:]}"
    if not text.isdigit():
        raise BcdError(f"non-BCD byte in {field.name}: {raw.hex(' ').upper()}")
    value = int(text) * field.mul
    if field.div != 1:
        value = (value * 2 + field.div) // (2 * field.div)  # half away from zero
    return -value if negative else value


# Per DI, a precomputed plan: one flat tuple per field, so the per-value loop does tuple
# unpacking instead of attribute and enum lookups (measured: ~3x faster on a 5-tariff block).
_Step = tuple[int, int, bool, bool, int, int, "Quantity | None", str, Field]
_Plan = tuple[tuple[_Step, ...], int, DataItem, bool]
_PLANS: dict[int, _Plan] = {}


def _plan(di: int) -> _Plan:
    plan = _PLANS.get(di)
    if plan is None:
        item = lookup(di)
        steps: list[_Step] = []
        offset = 0
        for f in item.fields:
            end = offset + f.size
            steps.append(
                (offset, end, f.kind is Kind.NUMBER, f.signed, f.mul, f.div, f.quantity, f.name, f)
            )
            offset = end
        plan = _PLANS[di] = (tuple(steps), offset, item, item.record is not Record.NONE)
    return plan


# Fast path. Most reads ask for one number (energy, a voltage, a current, a power...) that
# arrives BCD-clean and non-negative: for such a DI a closure made once turns the data into an
# Item with one hex of the reversed bytes and one int() — which refuses a hex letter, so a
# non-BCD nibble cannot slip through — and none of the general loop's bookkeeping. Anything
# else (a nibble above 9, a set sign bit, a wrong length) returns None and the general path
# decides, with its precise errors. Blocks gain little this way (the objects they build cost
# more than the loop) and go the general way.
_Fast = Callable[[bytes], "Item | None"]
_FAST: dict[int, tuple[int, _Fast] | None] = {}


def _fast_decoder(di: int) -> tuple[int, _Fast] | None:
    item = lookup(di)
    if len(item.fields) != 1 or item.record is not Record.NONE:
        return None
    field = item.fields[0]
    quantity, name, mul, div = field.quantity, field.name, field.mul, field.div
    if field.kind is not Kind.NUMBER or quantity is None:
        return None
    # Digits at or above this have the sign bit set (最高位为符号位): negative, general path.
    negative = 8 * 10 ** (2 * field.size - 1) if field.signed else 10 ** (2 * field.size)

    def one(data: bytes) -> Item | None:
        try:
            digits = int(data[::-1].hex())
        except ValueError:
            return None
        if digits >= negative:
            return None
        value = digits * mul if div == 1 else (digits * mul * 2 + div) // (2 * div)
        return Item(di, (Reading(quantity, value),), {name: value})

    return field.size, one


def decode_item(di: int, data: bytes) -> Item:
    """Decode the data that follows the DI in a read reply.

    Raises :class:`UnexpectedReply` if the length does not fit the DI, :class:`BcdError` if a
    BCD field holds a non-decimal nibble; both are the meter's fault.
    """
    try:
        fast = _FAST[di]
    except KeyError:
        fast = _FAST[di] = _fast_decoder(di)  # raises LocalProtocolError for an unknown DI
    if fast is not None and len(data) == fast[0]:
        item = fast[1](data)
        if item is not None:
            return item
    return _decode_general(di, data)


def _decode_general(di: int, data: bytes) -> Item:
    plan = _PLANS.get(di) or _plan(di)
    steps, size, item, has_record = plan
    if len(data) != size:
        # A block may stop early (fewer tariffs configured), but only at a field boundary.
        count = sum(1 for step in steps if step[1] <= len(data))
        if not item.min_fields or count < item.min_fields or steps[count - 1][1] != len(data):
            raise UnexpectedReply(f"DI {di:08X} carries {size} bytes, the reply has {len(data)}")
        steps = steps[:count]
    values: dict[str, FieldValue] = {}
    readings: list[Reading] = []
    for start, end, is_number, signed, mul, div, quantity, name, field in steps:
        raw = data[start:end]
        if not is_number:
            values[name] = _decode_field(field, raw)
            continue
        text = raw[::-1].hex()
        negative = signed and raw[-1] & 0x80
        if negative:
            text = f"{raw[-1] & 0x7F:02x}{text[2:]}"
        if not text.isdigit():
            raise BcdError(f"non-BCD byte in {name}: {raw.hex(' ').upper()}")
        value = int(text) * mul
        if div != 1:
            value = (value * 2 + div) // (2 * div)  # half away from zero
        if negative:
            value = -value
        values[name] = value
        if quantity is not None:
            readings.append(Reading(quantity, value))
    record = _record(item, di, values, readings) if has_record else None
    return Item(di, tuple(readings), values, record)


def _record(
    item: DataItem, di: int, values: dict[str, FieldValue], readings: list[Reading]
) -> RecordValue:
    if item.record is Record.STATUS_WORD:
        word = values["word"]
        if not isinstance(word, int):
            raise LocalProtocolError(f"DI {di:08X} is not laid out as a status word")
        status = StatusWord(di & 0xFF, word)
        if status.relay_state is not None:
            readings.append(Reading(Quantity.RELAY_STATE, int(status.relay_state)))
        return status
    if item.record is Record.MAX_DEMAND:
        demand, at = values[item.fields[0].name], values["at"]
        if not isinstance(demand, int) or not isinstance(at, MeterTime):
            raise LocalProtocolError(f"DI {di:08X} is not laid out as demand + time")
        return MaxDemand(demand=demand, at=at)
    return msgspec.convert(values, _RECORD_TYPES[item.record], from_attributes=False)


def decode_number(di: int, data: bytes) -> int:
    """Fast path for the common single-number DIs (energy, voltage...): the scaled integer."""
    item = lookup(di)
    if len(item.fields) != 1 or item.fields[0].kind is not Kind.NUMBER:
        raise LocalProtocolError(f"DI {di:08X} is not a single number")
    field = item.fields[0]
    if len(data) != field.size:
        raise UnexpectedReply(f"DI {di:08X} carries {field.size} bytes, the reply has {len(data)}")
    return _number(field, data)


def _unscale(value: int, field: Field) -> int:
    scaled = value * field.div
    if scaled % field.mul:
        raise LocalProtocolError(
            f"{field.name}={value} is not a multiple of the field's step ({field.mul})"
        )
    return scaled // field.mul


def _encode_field(field: Field, value: FieldValue) -> bytes:
    if field.kind is Kind.NUMBER:
        if not isinstance(value, int):
            raise LocalProtocolError(f"{field.name} needs an int, got {value!r}")
        return int_to_bcd(_unscale(value, field), field.size, signed=field.signed)
    if field.kind is Kind.TIME:
        if not isinstance(value, MeterTime):
            raise LocalProtocolError(f"{field.name} needs a MeterTime, got {value!r}")
        return encode_time(value, field.fmt)
    if field.kind is Kind.BITS:
        if not isinstance(value, int) or not 0 <= value < 1 << (8 * field.size):
            raise LocalProtocolError(f"{field.name}={value!r} does not fit {field.size} bytes")
        return value.to_bytes(field.size, "little")
    if not isinstance(value, str) or len(value) != 2 * field.size:
        raise LocalProtocolError(f"{field.name} needs {2 * field.size} hex digits")
    try:
        return bytes.fromhex(value)[::-1]
    except ValueError:
        raise LocalProtocolError(f"{field.name}={value!r} is not hex") from None


def encode_item(di: int, values: Mapping[str, FieldValue]) -> bytes:
    """Encode field values (named as in the table; quantity fields by ``Quantity.value``) to the
    data a meter sends after the DI. A block may be given only its leading fields when the
    table allows a shorter block (fewer tariffs)."""
    item = lookup(di)
    out = bytearray()
    for index, field in enumerate(item.fields):
        if field.name not in values:
            if item.min_fields and index >= item.min_fields:
                break
            raise LocalProtocolError(f"DI {di:08X} needs a value for {field.name!r}")
        out += _encode_field(field, values[field.name])
    unknown = set(values) - {f.name for f in item.fields}
    if unknown:
        raise LocalProtocolError(f"DI {di:08X} has no field(s) {sorted(unknown)}")
    return bytes(out)


def encode_readings(di: int, readings: Mapping[Quantity, int]) -> bytes:
    """Convenience for the simulator: encode a DI whose fields are all quantities."""
    return encode_item(di, {q.value: v for q, v in readings.items()})


__all__ = [
    "BcdError",
    "EventCount",
    "FieldValue",
    "Item",
    "MaxDemand",
    "PowerFailure",
    "Reading",
    "RecordValue",
    "RelayEvent",
    "StatusWord",
    "Timestamp",
    "decode_item",
    "decode_number",
    "encode_item",
    "encode_readings",
    "lookup",
]
