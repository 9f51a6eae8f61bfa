"""The object model: OI, OAD and OMD, and the table of the objects this codec knows.

DL/T 698.45 names everything an *object* (OI, 2 bytes: ``0010`` import active energy, ``2000``
voltage, ``4000`` clock, ``8000`` remote control ...). An OAD (object attribute descriptor,
4 bytes) picks one attribute of one object and optionally one element of it::

    00 10  02  00      OI 0010, attribute 2 (总及费率电能量, an array), index 0 = the whole array
    00 10  02  01      ... element 1 only: the total; 02 = tariff 1 (尖) ... 05 = tariff 4 (谷)
    OI     |   index
           attribute (bits 0-4) and feature (bits 5-7, usually 0)

An OMD names a method instead: ``80 00 81 00`` is object 8000, method 129 (trip), mode 0.

Values travel as raw integers with a *scaler* (换算, a power of ten) and a unit, both fixed by
the standard per attribute: ``00100200`` is ``double-long-unsigned`` kWh with scaler -2, so
``12345`` is 123.45 kWh. :data:`TABLE` records per attribute the data type, scaler and unit and,
per element, the contract :class:`Quantity` and the exact integer factor to the contract unit
(kWh×10⁻² → Wh is ×10; V×10⁻¹ → mV ×100; A×10⁻³ → mA ×1; W×10⁻¹ → W ÷10, the only lossy one,
rounded half away from zero). ``docs/protocols-dlt698.md`` explains how to add an object.
"""

from __future__ import annotations

import enum

import msgspec

from protocols.contract.messages import RelayState
from protocols.contract.quantities import Quantity as Q
from protocols.dlt698.data import BitString, Data, DataType
from protocols.dlt698.errors import DecodeError, LocalProtocolError


def make_oad(oi: int, attribute: int, index: int = 0, feature: int = 0) -> int:
    if not (0 <= oi <= 0xFFFF and 1 <= attribute <= 31 and 0 <= index <= 255 and 0 <= feature <= 7):
        raise LocalProtocolError(f"OAD {oi:04X}/{attribute}/{index} out of range")
    return oi << 16 | (feature << 5 | attribute) << 8 | index


def make_omd(oi: int, method: int, mode: int = 0) -> int:
    if not (0 <= oi <= 0xFFFF and 1 <= method <= 255 and 0 <= mode <= 255):
        raise LocalProtocolError(f"OMD {oi:04X}/{method} out of range")
    return oi << 16 | method << 8 | mode


def oi_of(oad: int) -> int:
    return oad >> 16


def attribute_of(oad: int) -> int:
    return (oad >> 8) & 0x1F


def index_of(oad: int) -> int:
    return oad & 0xFF


class Unit(enum.IntEnum):
    """The standard's unit enumeration (the ones the table uses)."""

    W = 27
    KW = 28
    VA = 29
    KVA = 30
    VAR = 31
    KVAR = 32
    KWH = 33
    KVAH = 34
    KVARH = 35
    A = 36
    V = 38
    HZ = 47
    PERCENT = 51
    NONE = 255


class Reading(msgspec.Struct, frozen=True, gc=False):
    quantity: Q
    value: int  # in the contract's unit for the quantity


class Attribute(msgspec.Struct, frozen=True):
    """One attribute of one object, as the standard defines it."""

    oad: int
    name: str
    type: DataType
    element: DataType | None = None  # for an array: the type of every element
    scaler: int = 0
    unit: Unit = Unit.NONE
    quantities: tuple[Q | None, ...] = ()  # per element (or one for a scalar)
    mul: int = 1  # raw × mul ÷ div = the contract's integer unit
    div: int = 1
    cumulative: bool = False  # energy registers: a simulator truncates, never rounds up

    @property
    def is_array(self) -> bool:
        return self.type is DataType.ARRAY


TABLE: dict[int, Attribute] = {}


def _add(attribute: Attribute) -> None:
    TABLE[attribute.oad] = attribute


_TARIFFS = ("", "_T1", "_T2", "_T3", "_T4")


def _energy(oi: int, name: str, family: str, element: DataType, unit: Unit) -> None:
    _add(Attribute(
        make_oad(oi, 2), f"{name}, total and tariffs 1–4 (总及费率电能量)", DataType.ARRAY,
        element, -2, unit, tuple(Q[family + t] for t in _TARIFFS), mul=10, cumulative=True,
    ))  # fmt: skip


_DL, _DLU = DataType.DOUBLE_LONG, DataType.DOUBLE_LONG_UNSIGNED
for _oi, _name, _family, _type, _unit in (
    (0x0000, "combined active energy 组合有功", "ENERGY_COMBINED", _DL, Unit.KWH),
    (0x0010, "import active energy 正向有功", "ENERGY_IMPORT", _DLU, Unit.KWH),
    (0x0020, "export active energy 反向有功", "ENERGY_EXPORT", _DLU, Unit.KWH),
    (0x0030, "combined reactive energy 1 组合无功1", "REACTIVE_ENERGY_IMPORT", _DL, Unit.KVARH),
    (0x0040, "combined reactive energy 2 组合无功2", "REACTIVE_ENERGY_EXPORT", _DL, Unit.KVARH),
):
    _energy(_oi, _name, _family, _type, _unit)

_PHASES = (Q.VOLTAGE_A, Q.VOLTAGE_B, Q.VOLTAGE_C)
_add(Attribute(make_oad(0x2000, 2), "voltage 电压, phases A–C", DataType.ARRAY,
               DataType.LONG_UNSIGNED, -1, Unit.V, _PHASES, mul=100))  # fmt: skip
_add(Attribute(make_oad(0x2001, 2), "current 电流, phases A–C", DataType.ARRAY,
               _DL, -3, Unit.A, (Q.CURRENT_A, Q.CURRENT_B, Q.CURRENT_C)))  # fmt: skip
_add(Attribute(make_oad(0x2001, 4), "neutral current 零线电流", DataType.DOUBLE_LONG,
               None, -3, Unit.A, (Q.CURRENT_N,)))  # fmt: skip
for _oi, _name, _unit, _family in (
    (0x2004, "active power 有功功率", Unit.W, "ACTIVE_POWER"),
    (0x2005, "reactive power 无功功率", Unit.VAR, "REACTIVE_POWER"),
    (0x2006, "apparent power 视在功率", Unit.VA, "APPARENT_POWER"),
):
    _add(Attribute(
        make_oad(_oi, 2), f"{_name}, total and phases A–C", DataType.ARRAY, DataType.DOUBLE_LONG,
        -1, _unit, tuple(Q[_family + s] for s in ("", "_A", "_B", "_C")), div=10,
    ))  # fmt: skip
_add(Attribute(make_oad(0x200A, 2), "power factor 功率因数, total and phases A–C", DataType.ARRAY,
               DataType.LONG, -3, Unit.NONE,
               (Q.POWER_FACTOR, Q.POWER_FACTOR_A, Q.POWER_FACTOR_B, Q.POWER_FACTOR_C)))  # fmt: skip
_add(Attribute(make_oad(0x200F, 2), "grid frequency 电网频率", DataType.LONG_UNSIGNED, None, -2,
               Unit.HZ, (Q.FREQUENCY,), mul=10))  # fmt: skip
_add(Attribute(make_oad(0x2014, 2), "running status words 1–7 电能表运行状态字", DataType.ARRAY,
               DataType.BIT_STRING, 0, Unit.NONE, (None, None, Q.RELAY_STATE)))  # fmt: skip
_add(Attribute(make_oad(0x2021, 2), "data freeze time 数据冻结时间", DataType.DATE_TIME_S))
_add(Attribute(make_oad(0x2023, 2), "freeze record number 冻结记录序号",
               DataType.DOUBLE_LONG_UNSIGNED))  # fmt: skip
_add(Attribute(make_oad(0x201E, 2), "event start time 事件发生时间", DataType.DATE_TIME_S))
_add(Attribute(make_oad(0x2020, 2), "event end time 事件结束时间 (null while it lasts)",
               DataType.DATE_TIME_S))  # fmt: skip
_add(Attribute(make_oad(0x2022, 2), "event record number 事件记录序号",
               DataType.DOUBLE_LONG_UNSIGNED))  # fmt: skip
_add(Attribute(make_oad(0x3011, 2), "meter power-down events 电能表掉电事件 (records)",
               DataType.ARRAY, DataType.STRUCTURE))  # fmt: skip
_add(Attribute(make_oad(0x4000, 2), "date and time 日期时间", DataType.DATE_TIME_S))
_add(Attribute(make_oad(0x4001, 2), "communication address 通信地址", DataType.OCTET_STRING))
_add(Attribute(make_oad(0x5004, 2), "daily frozen data 日冻结数据表 (records)", DataType.ARRAY,
               DataType.STRUCTURE))  # fmt: skip
_add(Attribute(make_oad(0x5006, 2), "monthly frozen data 月冻结数据表 (records)", DataType.ARRAY,
               DataType.STRUCTURE))  # fmt: skip
_add(Attribute(make_oad(0x8000, 2), "remote control configuration 配置参数", DataType.STRUCTURE))
_add(Attribute(make_oad(0x8000, 3), "relay output state 继电器输出状态", DataType.BIT_STRING))
_add(Attribute(make_oad(0x8000, 4), "alarm state 告警状态", DataType.BIT_STRING))
_add(Attribute(make_oad(0x8000, 5), "command state 命令状态", DataType.BIT_STRING))

CLOCK = make_oad(0x4000, 2)
ADDRESS = make_oad(0x4001, 2)
STATUS_WORDS = make_oad(0x2014, 2)
FREEZE_TIME = make_oad(0x2021, 2)
DAILY_FROZEN = make_oad(0x5004, 2)
MONTHLY_FROZEN = make_oad(0x5006, 2)
# Event objects (interface class 7): attribute 2 is the event record table, read like frozen
# data with GET-Request-Record; a row's columns are named by these OADs (事件记录单元).
EVENT_NUMBER = make_oad(0x2022, 2)  # 事件记录序号
EVENT_START = make_oad(0x201E, 2)  # 事件发生时间
EVENT_END = make_oad(0x2020, 2)  # 事件结束时间: null while the event lasts
POWER_DOWN_EVENTS = make_oad(0x3011, 2)  # 电能表掉电事件
RELAY_1 = 0xF2050201  # 继电器输出 F205, attribute 2, relay 1: the supply relay

# Methods (OMD without the mode byte's meaning: mode is 0).
CLOCK_BROADCAST = make_omd(0x4000, 127)  # 广播校时
REMOTE_ALARM = make_omd(0x8000, 127)  # 触发告警
REMOTE_ALARM_CLEAR = make_omd(0x8000, 128)  # 解除报警
REMOTE_TRIP = make_omd(0x8000, 129)  # 跳闸
REMOTE_CLOSE = make_omd(0x8000, 130)  # 合闸
KEEP_POWER = make_omd(0x8001, 127)  # 投入保电
KEEP_POWER_CLEAR = make_omd(0x8001, 128)  # 解除保电

METHODS: dict[int, str] = {
    CLOCK_BROADCAST: "broadcast time 广播校时 (date_time_s)",
    REMOTE_ALARM: "alarm 触发告警",
    REMOTE_ALARM_CLEAR: "clear alarm 解除报警",
    REMOTE_TRIP: "trip 跳闸: array of {relay OAD, alarm delay unsigned (min), "
    "trip duration long-unsigned (min, 0 = until closed), auto close bool}",
    REMOTE_CLOSE: "close 合闸: array of {relay OAD, command enum 合闸允许 (0) | 直接合闸 (1)}",
    KEEP_POWER: "keep power on 投入保电",
    KEEP_POWER_CLEAR: "lift keep-power 解除保电",
}


def lookup(oad: int) -> tuple[Attribute, int]:
    """The attribute ``oad`` reads and the element index (0 = the whole attribute)."""
    attribute = TABLE.get(oad)
    if attribute is not None:
        return attribute, 0
    attribute = TABLE.get(oad & ~0xFF)
    if attribute is None or not attribute.is_array:
        raise LocalProtocolError(f"OAD {oad:08X} is not in the object table")
    return attribute, index_of(oad)


def readable(oad: int) -> bool:
    """Whether ``oad`` is in the table and gives contract readings (a poll can use it)."""
    try:
        attribute, index = lookup(oad)
    except LocalProtocolError:
        return False
    if not attribute.quantities or index > len(attribute.quantities):
        return False
    return index == 0 or attribute.quantities[index - 1] is not None


def scale(attribute: Attribute, raw: int) -> int:
    """A raw integer of ``attribute`` in the contract's unit (exact, or rounded half away from
    zero where the contract unit is coarser)."""
    value = raw * attribute.mul
    if attribute.div == 1:
        return value
    q, r = divmod(abs(value), attribute.div)
    if 2 * r >= attribute.div:
        q += 1
    return q if value >= 0 else -q


def relay_state(word3: BitString) -> RelayState:
    """Status word 3 (运行状态字3) → relay state, as for DL/T 645: bit 4 relay open (继电器状态),
    bit 6 trip command in force (继电器命令状态). Open without the command is 合闸允许: the
    meter waits for the customer's button."""
    if word3.length < 7:
        raise DecodeError(f"status word 3 has {word3.length} bits, fewer than 7")
    if not word3.bit(4):
        return RelayState.CONNECTED
    return RelayState.DISCONNECTED if word3.bit(6) else RelayState.READY_FOR_RECONNECTION


def _element(attribute: Attribute, value: Data, quantity: Q, oad: int) -> Reading:
    if value.type is not attribute.element and attribute.is_array:
        raise DecodeError(f"{oad:08X}: element is {value.type.name}, not {attribute.element}")
    if quantity is Q.RELAY_STATE:
        assert isinstance(value.value, BitString)
        return Reading(quantity, int(relay_state(value.value)))
    if type(value.value) is not int:
        raise DecodeError(f"{oad:08X}: {value.type.name} is not a number")
    return Reading(quantity, scale(attribute, value.value))


def readings(oad: int, value: Data) -> list[Reading]:
    """The contract readings in ``value``, the answer for ``oad``. Elements beyond the table
    (a fifth tariff) are skipped; a value of the wrong type is the meter's fault."""
    attribute, index = lookup(oad)
    if not attribute.quantities:
        return []
    if attribute.is_array and index == 0:
        if value.type is not DataType.ARRAY:
            raise DecodeError(f"{oad:08X}: expected an array, got {value.type.name}")
        assert isinstance(value.value, tuple)
        return [
            _element(attribute, item, quantity, oad)  # type: ignore[arg-type]
            for item, quantity in zip(value.value, attribute.quantities, strict=False)
            if quantity is not None
        ]
    if attribute.is_array:
        if index > len(attribute.quantities) or attribute.quantities[index - 1] is None:
            return []
        quantity = attribute.quantities[index - 1]
        assert quantity is not None
        return [_element(attribute, value, quantity, oad)]
    if value.type is not attribute.type:
        raise DecodeError(f"{oad:08X}: expected {attribute.type.name}, got {value.type.name}")
    quantity = attribute.quantities[0]
    assert quantity is not None
    return [_element(attribute, value, quantity, oad)]


def markdown_table() -> str:
    """The object table as Markdown, for docs/protocols-dlt698.md (a test keeps them equal)."""
    lines = ["| OAD | name | type | scaler, unit | contract quantities |", "|---|---|---|---|---|"]
    for oad, a in TABLE.items():
        kind = a.type.name.lower().replace("_", "-")
        if a.element is not None:
            kind += f" of {a.element.name.lower().replace('_', '-')}"
        unit = f"{a.scaler}, {a.unit.name}" if a.unit is not Unit.NONE or a.scaler else ""
        factor = f" ×{a.mul}" if a.mul != 1 else (f" ÷{a.div}" if a.div != 1 else "")
        names = ", ".join(f"`{q.value}`" if q else "—" for q in a.quantities)
        lines.append(f"| `{oad:08X}` | {a.name} | {kind} | {unit} | {names}{factor} |")
    return "\n".join(lines)
