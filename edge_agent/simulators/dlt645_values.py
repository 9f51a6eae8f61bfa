"""What a simulated DL/T 645 meter answers for each data identifier (DI) of the codec's table.

The table in :mod:`protocols.dlt645.di_table` says which fields a DI carries; this module fills
them from the meter model, rounded to the field's resolution the way a meter display does
(energy truncated to 0.01 kWh, voltage to 0.1 V), and the codec encodes them. So every DI the
agent can read, the simulator can answer, by construction.
"""

from __future__ import annotations

from datetime import datetime

from edge_agent.simulators.meter import MeterModel, RelayRecord
from protocols.contract.quantities import Quantity
from protocols.dlt645 import MeterTime, decode_time, encode_time
from protocols.dlt645.di_table import TABLE, DataItem, Field, Kind, Record
from protocols.dlt645.items import FieldValue

UNSET = MeterTime(0, 0, 0)  # never-used record slots read as zeros, as on real meters
CUMULATIVE_UNITS = {"kWh", "kvarh"}


def meter_time(when: datetime | None) -> MeterTime:
    if when is None:
        return UNSET
    return MeterTime(
        when.year, when.month, when.day, when.hour, when.minute, when.second,
        weekday=(when.weekday() + 1) % 7,  # DL/T 645 counts 0 = Sunday
    )  # fmt: skip


def fit(field: Field, value: int) -> int:
    """``value`` (contract units) as the field can show it: a whole number of its steps, within
    its BCD digits. Energy is truncated like a register display; the rest is rounded."""
    digits = 2 * field.size
    limit = 8 * 10 ** (digits - 1) - 1 if field.signed else 10**digits - 1
    low = -limit if field.signed else 0
    if field.div != 1:
        steps = value * field.div
        return int(max(low, min(limit, steps)) // field.div)
    if field.unit in CUMULATIVE_UNITS:
        steps = value // field.mul
    else:
        steps = (value + field.mul // 2) // field.mul
    return int(max(low, min(limit, steps)) * field.mul)


def _relay_values(record: RelayRecord | None) -> dict[str, FieldValue]:
    if record is None:
        return {"at": UNSET, "operator": "00000000", "energy_import": 0, "energy_export": 0,
                "reactive_q1": 0, "reactive_q2": 0, "reactive_q3": 0, "reactive_q4": 0}  # fmt: skip
    q1, q2, q3, q4 = record.reactive_wh
    return {
        "at": meter_time(record.at), "operator": record.operator,
        "energy_import": record.import_wh // 10 * 10, "energy_export": record.export_wh // 10 * 10,
        "reactive_q1": q1 // 10 * 10, "reactive_q2": q2 // 10 * 10,
        "reactive_q3": q3 // 10 * 10, "reactive_q4": q4 // 10 * 10,
    }  # fmt: skip


def _nth(items: object, n: int) -> object:
    seq = list(items)  # type: ignore[call-overload]
    return seq[n - 1] if 1 <= n <= len(seq) else None


def item_values(model: MeterModel, di: int, now_ms: int) -> dict[str, FieldValue] | None:
    """Field values for ``di`` at ``now_ms``, or None if the meter has no such data. Times
    carry just what their layout shows (no seconds in YYMMDDhhmm, a weekday only in YYMMDDWW),
    so the values equal what the agent decodes."""
    item = TABLE.get(di)
    if item is None:
        return None
    values = _values(model, item, di, now_ms)
    for f in item.fields:
        if f.kind is Kind.TIME and f.name in values:
            values[f.name] = decode_time(encode_time(values[f.name], f.fmt), f.fmt)  # type: ignore[arg-type]
    return values


def _values(model: MeterModel, item: DataItem, di: int, now_ms: int) -> dict[str, FieldValue]:
    family, n = di >> 8, di & 0xFF
    events = model.events
    if item.record is Record.EVENT_COUNT:
        counts = {0x031100: events.power_failure_count, 0x1D0000: events.trip_count,
                  0x1E0000: events.close_count}  # fmt: skip
        return {"count": counts[family]}
    if item.record is Record.POWER_FAILURE:
        record = _nth(events.power_failures, n)
        if record is None:
            return {"start": UNSET, "end": UNSET}
        return {"start": meter_time(record.start), "end": meter_time(record.end)}  # type: ignore[attr-defined]
    if item.record is Record.RELAY_EVENT:
        kept = events.trips if di >> 24 == 0x1D else events.closes
        return _relay_values(_nth(kept, n))  # type: ignore[arg-type]
    if item.record is Record.STATUS_WORD:
        return {"word": model.status_word_3() if n == 3 else 0}
    if di == 0x040005FF:
        return {f"word{k}": model.status_word_3() if k == 3 else 0 for k in range(1, 8)}
    if di in (0x04000101, 0x04000102):
        return {"at": meter_time(model.meter_time(now_ms))}
    if di >> 16 == 0x0506:
        return _frozen(model, item, di, n)
    return _measured(model, item, now_ms)


def _frozen(model: MeterModel, item: DataItem, di: int, n: int) -> dict[str, FieldValue]:
    freeze = _nth(model.frozen, n)
    kind = (di >> 8) & 0xFF
    if kind == 0x00:
        return {"at": meter_time(freeze.at) if freeze else UNSET}  # type: ignore[attr-defined]
    registers = (freeze.import_wh if kind == 0x01 else freeze.export_wh) if freeze else (0,) * 5  # type: ignore[attr-defined]
    return {f.name: fit(f, registers[i]) for i, f in enumerate(item.fields)}


def _measured(model: MeterModel, item: DataItem, now_ms: int) -> dict[str, FieldValue]:
    readings = model.readings(now_ms)
    demand_at = {0: model.max_demand[0].at}
    demand_at.update({i: model.max_demand[i].at for i in range(1, 5)})
    values: dict[str, FieldValue] = {}
    for f in item.fields:
        if f.kind is Kind.TIME:  # a maximum demand's time: "at" or "<quantity>_at"
            quantity = Quantity(f.name.removesuffix("_at")) if f.name != "at" else None
            index = _demand_index(quantity or item.fields[0].quantity)
            values[f.name] = meter_time(demand_at[index])
        elif f.quantity is not None:
            values[f.name] = fit(f, readings.get(f.quantity, 0))
        else:
            values[f.name] = 0
    return values


def _demand_index(quantity: Quantity | None) -> int:
    if quantity is None or quantity is Quantity.MAX_DEMAND_IMPORT:
        return 0
    return int(quantity.value[-1])
