"""The shape of a register map file, as msgspec Structs that TOML is validated into.

These Structs mirror the file one to one (see docs/protocols-modbus.md) and reject unknown keys,
so a typo such as ``scale_facter`` is an error naming the key rather than a silently ignored
line. Cross-field rules (units that fit the quantity, addresses that fit the address space)
are checked afterwards in :mod:`protocols.modbus.maps`, which builds the resolved objects.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from protocols.contract.quantities import Quantity
from protocols.modbus.registers import DataType, Function, Order

Address = Annotated[int, msgspec.Meta(ge=0, le=0xFFFF)]
# "none": no sentinel; "sunspec": the SunSpec pattern of the type; or explicit raw values.
NotImplementedSpec = Literal["none", "sunspec"] | list[int]


class MeterSection(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    description: str = ""
    base: Address = 0  # added to every address in the file (SunSpec: the model's start)
    max_registers: Annotated[int, msgspec.Meta(ge=1, le=125)] = 125
    max_gap: Annotated[int, msgspec.Meta(ge=0, le=124)] = 0  # unrequested registers read across


class DefaultsSection(msgspec.Struct, forbid_unknown_fields=True):
    function: Function | None = None
    type: DataType | None = None
    word_order: Order = Order.BIG
    byte_order: Order = Order.BIG
    not_implemented: NotImplementedSpec = "none"


class RegisterEntry(msgspec.Struct, forbid_unknown_fields=True):
    quantity: Quantity
    address: Address  # 0-based protocol address, relative to [meter] base
    unit: str  # the unit the value is in after scaling, e.g. "V", "kWh", "%"
    name: str = ""  # the vendor's name, for people and error messages
    function: Function | None = None
    type: DataType | None = None
    word_order: Order | None = None
    byte_order: Order | None = None
    scale: str | int = 1  # exact decimal as a string ("0.01"), never a TOML float
    scale_factor: Address | None = None  # address of a SunSpec sunssf (int16 power of ten)
    not_implemented: NotImplementedSpec | None = None


class RelayStateEntry(msgspec.Struct, forbid_unknown_fields=True):
    function: Function
    address: Address
    values: dict[str, int]  # relay state name -> raw value
    type: DataType = DataType.UINT16
    word_order: Order | None = None
    byte_order: Order | None = None


class RelayWriteEntry(msgspec.Struct, forbid_unknown_fields=True):
    function: Literal["coil", "holding"]
    address: Address
    value: int | list[int]  # coil: 0 or 1; holding: one word (FC6) or several (FC16)


class RelaySection(msgspec.Struct, forbid_unknown_fields=True):
    control_mode: Annotated[int, msgspec.Meta(ge=0, le=6)]
    state: RelayStateEntry
    disconnect: RelayWriteEntry
    reconnect: RelayWriteEntry | None = None
    arm: RelayWriteEntry | None = None


class MapFile(msgspec.Struct, forbid_unknown_fields=True):
    meter: MeterSection
    defaults: DefaultsSection = msgspec.field(default_factory=DefaultsSection)
    register: list[RegisterEntry] = msgspec.field(default_factory=list)
    relay: RelaySection | None = None
