"""The data-identifier (DI, 数据标识) table: what each DI holds, as data rather than code.

A DI is four bytes DI3 DI2 DI1 DI0, written most significant first (``00010000`` = import
active energy, total) and sent low byte first. Each :class:`DataItem` lists its fields in wire
order; each :class:`Field` says how to read its bytes:

* ``NUMBER`` — BCD with ``fmt`` like ``XXXXXX.XX``; the integer of its digits is multiplied by
  ``mul`` and divided by ``div`` (rounded half away from zero) to reach the contract's integer
  unit. ``XXXXXX.XX kWh`` is 0.01 kWh = 10 Wh per step, so ``mul=10``; ``XX.XXXX kW`` is 0.1 W
  per step, so ``div=10``. A field with a ``quantity`` yields a contract reading.
* ``TIME`` — a BCD timestamp, ``fmt`` one of ``YYMMDDhhmm``, ``YYMMDDhhmmss``, ``YYMMDDWW``,
  ``hhmmss``; decodes to :class:`~protocols.dlt645.bcd.MeterTime`.
* ``BITS`` — a binary word, low byte first (status words); decodes to ``int``.
* ``CODE`` — an opaque identifier (operator code); decodes to its hex digits as written.

Block DIs (``FF`` in DI1 or DI0) concatenate the single items. An energy block lists the total
and then as many tariffs as the meter is configured for, so ``min_fields`` lets a two-tariff
meter's shorter answer decode; a longer block (more than four tariffs, which the contract
cannot name) is refused as an unexpected reply rather than silently cut.

To add a DI: append an entry below (or a loop generating a family), add a hand-checked example
to tests/unit/protocols/dlt645/test_dlt645_di_table.py, and regenerate the docs table with
``python -m protocols.dlt645.di_table``.
"""

from __future__ import annotations

import enum

import msgspec

from protocols.contract.quantities import Quantity

Q = Quantity


class Kind(enum.Enum):
    NUMBER = "number"
    TIME = "time"
    BITS = "bits"
    CODE = "code"


class Record(enum.Enum):
    """Which typed record :func:`~protocols.dlt645.items.decode_item` builds from the fields."""

    NONE = "none"
    MAX_DEMAND = "max_demand"
    TIMESTAMP = "timestamp"
    STATUS_WORD = "status_word"
    EVENT_COUNT = "event_count"
    RELAY_EVENT = "relay_event"
    POWER_FAILURE = "power_failure"


class Field(msgspec.Struct, frozen=True):
    name: str
    kind: Kind
    fmt: str
    size: int
    signed: bool = False
    unit: str = ""
    mul: int = 1
    div: int = 1
    quantity: Quantity | None = None


class DataItem(msgspec.Struct, frozen=True):
    di: int
    name: str
    fields: tuple[Field, ...]
    record: Record = Record.NONE
    min_fields: int = 0  # 0: all fields required; otherwise a shorter block is accepted

    @property
    def size(self) -> int:
        return sum(f.size for f in self.fields)


def _digits(fmt: str) -> int:
    return len(fmt.replace(".", ""))


def num(
    name: str | Quantity,
    fmt: str,
    unit: str,
    *,
    mul: int = 1,
    div: int = 1,
    signed: bool = False,
) -> Field:
    quantity = name if isinstance(name, Quantity) else None
    return Field(
        name=str(name.value if isinstance(name, Quantity) else name),
        kind=Kind.NUMBER,
        fmt=fmt,
        size=_digits(fmt) // 2,
        signed=signed,
        unit=unit,
        mul=mul,
        div=div,
        quantity=quantity,
    )


def time(name: str, layout: str) -> Field:
    return Field(name=name, kind=Kind.TIME, fmt=layout, size=len(layout) // 2)


def bits(name: str, size: int) -> Field:
    return Field(name=name, kind=Kind.BITS, fmt="X" * 2 * size, size=size)


def code(name: str, size: int) -> Field:
    return Field(name=name, kind=Kind.CODE, fmt="N" * 2 * size, size=size)


TABLE: dict[int, DataItem] = {}


def _add(
    di: int, name: str, *fields: Field, record: Record = Record.NONE, min_fields: int = 0
) -> None:
    if di in TABLE:
        raise ValueError(f"DI {di:08X} defined twice")
    TABLE[di] = DataItem(di, name, tuple(fields), record, min_fields)


# --- 电能量 energy, class 00: XXXXXX.XX kWh/kvarh, current settlement period (DI0 = 00) --------
_ENERGY: list[tuple[int, str, str, tuple[Quantity, ...], bool]] = [
    (0x0000, "combined active energy 组合有功", "kWh",
     (Q.ENERGY_COMBINED, Q.ENERGY_COMBINED_T1, Q.ENERGY_COMBINED_T2, Q.ENERGY_COMBINED_T3,
      Q.ENERGY_COMBINED_T4), True),
    (0x0001, "import active energy 正向有功", "kWh",
     (Q.ENERGY_IMPORT, Q.ENERGY_IMPORT_T1, Q.ENERGY_IMPORT_T2, Q.ENERGY_IMPORT_T3,
      Q.ENERGY_IMPORT_T4), False),
    (0x0002, "export active energy 反向有功", "kWh",
     (Q.ENERGY_EXPORT, Q.ENERGY_EXPORT_T1, Q.ENERGY_EXPORT_T2, Q.ENERGY_EXPORT_T3,
      Q.ENERGY_EXPORT_T4), False),
    (0x0003, "combined reactive energy 1 组合无功1", "kvarh",
     (Q.REACTIVE_ENERGY_IMPORT, Q.REACTIVE_ENERGY_IMPORT_T1, Q.REACTIVE_ENERGY_IMPORT_T2,
      Q.REACTIVE_ENERGY_IMPORT_T3, Q.REACTIVE_ENERGY_IMPORT_T4), True),
    (0x0004, "combined reactive energy 2 组合无功2", "kvarh",
     (Q.REACTIVE_ENERGY_EXPORT, Q.REACTIVE_ENERGY_EXPORT_T1, Q.REACTIVE_ENERGY_EXPORT_T2,
      Q.REACTIVE_ENERGY_EXPORT_T3, Q.REACTIVE_ENERGY_EXPORT_T4), True),
]  # fmt: skip
_TARIFF = ("total", "tariff 1 尖", "tariff 2 峰", "tariff 3 平", "tariff 4 谷")

for _base, _name, _unit, _qs, _signed in _ENERGY:
    _fields = [num(q, "XXXXXX.XX", _unit, mul=10, signed=_signed) for q in _qs]
    for _i, _field in enumerate(_fields):
        _add(_base << 16 | _i << 8, f"{_name}, {_TARIFF[_i]}", _field)
    _add(_base << 16 | 0xFF00, f"{_name}, block total + tariffs", *_fields, min_fields=1)

# --- 最大需量 maximum demand, class 01: XX.XXXX kW + YYMMDDhhmm -----------------------------
_DEMAND = (Q.MAX_DEMAND_IMPORT, Q.MAX_DEMAND_IMPORT_T1, Q.MAX_DEMAND_IMPORT_T2,
           Q.MAX_DEMAND_IMPORT_T3, Q.MAX_DEMAND_IMPORT_T4)  # fmt: skip
for _i, _q in enumerate(_DEMAND):
    _add(0x01010000 | _i << 8, f"import active maximum demand, {_TARIFF[_i]}",
         num(_q, "XX.XXXX", "kW", div=10), time("at", "YYMMDDhhmm"),
         record=Record.MAX_DEMAND)  # fmt: skip
_add(0x0101FF00, "import active maximum demand, block",
     *(f for i, q in enumerate(_DEMAND)
       for f in (num(q, "XX.XXXX", "kW", div=10), time(f"{q.value}_at", "YYMMDDhhmm"))),
     min_fields=2)  # fmt: skip

# --- 变量 instantaneous values, class 02 -------------------------------------------------------
_PHASES = "ABC"
_V = (Q.VOLTAGE_A, Q.VOLTAGE_B, Q.VOLTAGE_C)
_I = (Q.CURRENT_A, Q.CURRENT_B, Q.CURRENT_C)
_P = (Q.ACTIVE_POWER, Q.ACTIVE_POWER_A, Q.ACTIVE_POWER_B, Q.ACTIVE_POWER_C)
_QV = (Q.REACTIVE_POWER, Q.REACTIVE_POWER_A, Q.REACTIVE_POWER_B, Q.REACTIVE_POWER_C)
_S = (Q.APPARENT_POWER, Q.APPARENT_POWER_A, Q.APPARENT_POWER_B, Q.APPARENT_POWER_C)
_PF = (Q.POWER_FACTOR, Q.POWER_FACTOR_A, Q.POWER_FACTOR_B, Q.POWER_FACTOR_C)

_PHASE_ITEMS: list[tuple[int, str, tuple[Quantity, ...], str, str, int, int, bool, int]] = [
    # DI3DI2, name, quantities, fmt, unit, mul, div, signed, first DI1
    (0x0201, "voltage 电压", _V, "XXX.X", "V", 100, 1, False, 1),
    (0x0202, "current 电流", _I, "XXX.XXX", "A", 1, 1, True, 1),
    (0x0203, "active power 有功功率", _P, "XX.XXXX", "kW", 1, 10, True, 0),
    (0x0204, "reactive power 无功功率", _QV, "XX.XXXX", "kvar", 1, 10, True, 0),
    (0x0205, "apparent power 视在功率", _S, "XX.XXXX", "kVA", 1, 10, True, 0),
    (0x0206, "power factor 功率因数", _PF, "X.XXX", "", 1, 1, True, 0),
]
for _base, _name, _qs, _fmt, _unit, _mul, _div, _signed, _first in _PHASE_ITEMS:
    _fields = [num(q, _fmt, _unit, mul=_mul, div=_div, signed=_signed) for q in _qs]
    for _i, _field in enumerate(_fields):
        _which = "total" if _first + _i == 0 else f"phase {_PHASES[_first + _i - 1]}"
        _add(_base << 16 | (_first + _i) << 8, f"{_name}, {_which}", _field)
    _add(_base << 16 | 0xFF00, f"{_name}, block", *_fields)

_add(0x02800001, "neutral current 零线电流", num(Q.CURRENT_N, "XXX.XXX", "A", signed=True))
_add(0x02800002, "grid frequency 电网频率", num(Q.FREQUENCY, "XX.XX", "Hz", mul=10))

# --- 事件记录 events, class 03 (power failure) and 1D/1E (relay trip / close) -----------------
_add(0x03110000, "power failures, total count 掉电总次数", num("count", "XXXXXX", ""),
     record=Record.EVENT_COUNT)  # fmt: skip
for _n in range(1, 11):
    _add(0x03110000 | _n, f"power failure record, {_n} back 上{_n}次掉电",
         time("start", "YYMMDDhhmmss"), time("end", "YYMMDDhhmmss"),
         record=Record.POWER_FAILURE)  # fmt: skip

_RELAY_EVENT_FIELDS = (
    time("at", "YYMMDDhhmmss"),
    code("operator", 4),
    num("energy_import", "XXXXXX.XX", "kWh", mul=10),
    num("energy_export", "XXXXXX.XX", "kWh", mul=10),
    *(num(f"reactive_q{k}", "XXXXXX.XX", "kvarh", mul=10) for k in range(1, 5)),
)
for _base, _what in ((0x1D, "trip 跳闸"), (0x1E, "close 合闸")):
    _add(_base << 24 | 0x0001, f"relay {_what} events, total count", num("count", "XXXXXX", ""),
         record=Record.EVENT_COUNT)  # fmt: skip
    for _n in range(1, 11):
        _add(_base << 24 | 0x0100 | _n, f"relay {_what} record, {_n} back",
             *_RELAY_EVENT_FIELDS, record=Record.RELAY_EVENT)  # fmt: skip

# --- 参变量 parameters, class 04: meter clock and running status words ------------------------
_add(0x04000101, "meter date and weekday 日期及星期", time("at", "YYMMDDWW"),
     record=Record.TIMESTAMP)  # fmt: skip
_add(0x04000102, "meter time 时间", time("at", "hhmmss"), record=Record.TIMESTAMP)
for _n in range(1, 8):
    _add(0x04000500 | _n, f"running status word {_n} 电表运行状态字{_n}", bits("word", 2),
         record=Record.STATUS_WORD)  # fmt: skip
_add(0x040005FF, "running status words 1–7, block", *(bits(f"word{n}", 2) for n in range(1, 8)))

# --- 冻结量 frozen values, class 05: daily freeze (日冻结), N = 1..62 days back ------------------
_FROZEN = (
    (0x01, "import", (Q.ENERGY_IMPORT, Q.ENERGY_IMPORT_T1, Q.ENERGY_IMPORT_T2,
                      Q.ENERGY_IMPORT_T3, Q.ENERGY_IMPORT_T4)),
    (0x02, "export", (Q.ENERGY_EXPORT, Q.ENERGY_EXPORT_T1, Q.ENERGY_EXPORT_T2,
                      Q.ENERGY_EXPORT_T3, Q.ENERGY_EXPORT_T4)),
)  # fmt: skip
for _n in range(1, 63):
    _add(0x05060000 | _n, f"daily freeze time, {_n} days back 上{_n}次日冻结时间",
         time("at", "YYMMDDhhmm"), record=Record.TIMESTAMP)  # fmt: skip
    for _di1, _what, _qs in _FROZEN:
        _add(0x05060000 | _di1 << 8 | _n, f"daily frozen {_what} active energy, {_n} days back",
             *(num(q, "XXXXXX.XX", "kWh", mul=10) for q in _qs), min_fields=1)  # fmt: skip


def markdown_table() -> str:
    """The DI table as Markdown, for docs/protocols-dlt645.md (families collapsed)."""
    rows = ["| DI | name | fields (wire order) |", "|---|---|---|"]
    for item in TABLE.values():
        if item.di >> 16 in (0x0506, 0x1D00, 0x1E00, 0x0311) and item.di & 0xFF > 1:
            continue  # families: only the first of each N is listed
        parts = []
        for f in item.fields:
            scale = f" ×{f.mul}" if f.mul != 1 else ""
            scale += f" ÷{f.div}" if f.div != 1 else ""
            sign = " signed" if f.signed else ""
            target = f" → `{f.quantity.value}`" if f.quantity else ""
            parts.append(f"{f.name}: {f.fmt} {f.unit}{sign}{scale}{target}".replace("  ", " "))
        rows.append(f"| `{item.di:08X}` | {item.name} | {'; '.join(parts)} |")
    return "\n".join(rows)
