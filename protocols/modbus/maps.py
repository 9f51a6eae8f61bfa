"""Register maps: a meter's registers as data, loaded from TOML and checked before first use.

A map is the whole of what meterline knows about a Modbus meter model, so a new meter is a new
file rather than new code. Every error names the file, the register and the field, because the
person reading it is an engineer at a substation with the vendor's PDF open, not a developer.

:func:`parse_map` is the pure core (text in, map out); :func:`load_map` reads a shipped map by
name or a user's file by path and hands the text to it.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from importlib import resources
from pathlib import Path

import msgspec

from protocols.contract.messages import RelayState
from protocols.contract.quantities import QUANTITIES, Quantity, Unit
from protocols.modbus import schema
from protocols.modbus.registers import DataType, Function, Order
from protocols.modbus.relay_control import RelayControl, RelayStateRegister, RelayWrite
from protocols.modbus.units import conversion
from protocols.relay import ControlMode, Reconnect, remote_reconnect

MODBUS_MAX_REGISTERS = 125  # the most FC3/FC4 may return in one response (250 data bytes)


class MapError(ValueError):
    """A register map that cannot be used; the message names the file, register and field."""


@dataclass(frozen=True, slots=True)
class Register:
    """One resolved register entry: defaults applied, base added, conversion worked out."""

    quantity: Quantity
    function: Function
    address: int  # absolute 0-based protocol address
    data_type: DataType
    word_order: Order
    byte_order: Order
    scale: Fraction  # exact multiplier applied to the raw value
    scale_factor_address: int | None  # absolute address of a SunSpec sunssf register
    unit: str  # source unit as written in the map
    contract_unit: Unit
    factor: Fraction  # exact source unit -> contract unit
    not_implemented: frozenset[int]  # raw unsigned patterns meaning "no value"
    name: str = ""

    @property
    def count(self) -> int:
        return self.data_type.words

    def label(self) -> str:
        return f"{self.quantity.value}" + (f" ({self.name})" if self.name else "")


@dataclass(frozen=True, slots=True)
class RegisterMap:
    name: str
    description: str
    source: str  # file name or "<string>", for messages
    base: int
    max_registers: int
    max_gap: int
    registers: tuple[Register, ...]
    relay: RelayControl | None = None

    def register(self, quantity: Quantity) -> Register:
        for reg in self.registers:
            if reg.quantity is quantity:
                return reg
        raise KeyError(f"{self.source}: no register for quantity {quantity.value}")


def shipped_maps() -> list[str]:
    """Names accepted by :func:`load_map` for the maps that ship with meterline."""
    folder = resources.files("protocols.modbus") / "maps"
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def load_map(name_or_path: str | Path, *, base: int | None = None) -> RegisterMap:
    """A shipped map by name (``"sdm630"``) or a user's TOML file by path.

    ``base`` overrides ``[meter] base``: SunSpec devices place the same model at different
    offsets, so one file serves them all.
    """
    path = Path(name_or_path)
    if isinstance(name_or_path, str) and path.suffix != ".toml" and len(path.parts) == 1:
        resource = resources.files("protocols.modbus") / "maps" / f"{name_or_path}.toml"
        if not resource.is_file():
            raise MapError(f"no shipped map {name_or_path!r}; shipped: {', '.join(shipped_maps())}")
        return parse_map(resource.read_text(encoding="utf-8"), f"{name_or_path}.toml", base=base)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MapError(f"{path}: cannot read map file: {exc.strerror or exc}") from None
    return parse_map(text, str(path), base=base)


def parse_map(text: str, source: str = "<string>", *, base: int | None = None) -> RegisterMap:
    """Validate TOML text into a RegisterMap, or raise MapError naming file, register, field."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MapError(f"{source}: not valid TOML: {exc}") from None
    try:
        raw = msgspec.convert(document, schema.MapFile)
    except msgspec.ValidationError as exc:
        raise MapError(f"{source}: {_locate(str(exc), document)}") from None
    if base is not None:
        if not 0 <= base <= 0xFFFF:
            raise MapError(f"{source}: base {base} is outside the address space 0..65535")
        raw.meter.base = base
    return _Resolver(source, raw).resolve()


_PATH = re.compile(r"^(?P<message>.*) - at `\$(?P<path>[^`]*)`$", re.DOTALL)
_ITEM = re.compile(r"^\.(?P<table>register)\[(?P<index>\d+)\](?P<rest>.*)$")


def _locate(message: str, document: dict[str, object]) -> str:
    """Turn msgspec's ``… - at `$.register[3].address``` into words a map author can act on."""
    match = _PATH.match(message)
    if match is None:
        return message
    detail, path = match["message"], match["path"]
    if path.endswith(".scale") and "float" in detail:
        detail += ' (write a scale as a string, e.g. scale = "0.1", so it stays exact)'
    item = _ITEM.match(path)
    if item is None:
        return f"`{path.lstrip('.')}`: {detail}"
    index = int(item["index"])
    entries = document.get("register")
    quantity = "?"
    if isinstance(entries, list) and index < len(entries) and isinstance(entries[index], dict):
        quantity = str(entries[index].get("quantity", "?"))
    where = f"[[register]] #{index + 1} ({quantity})"
    field = item["rest"].lstrip(".")
    return f"{where}: field `{field}`: {detail}" if field else f"{where}: {detail}"


class _Resolver:
    """Applies defaults and cross-field checks; one instance per parse."""

    def __init__(self, source: str, raw: schema.MapFile) -> None:
        self.source = source
        self.raw = raw
        self.base = raw.meter.base

    def fail(self, where: str, message: str) -> MapError:
        return MapError(f"{self.source}: {where}: {message}")

    def resolve(self) -> RegisterMap:
        seen: dict[Quantity, int] = {}
        registers = []
        for index, entry in enumerate(self.raw.register):
            where = f"[[register]] #{index + 1} ({entry.quantity.value})"
            if entry.quantity in seen:
                raise self.fail(
                    where, f"quantity already mapped by [[register]] #{seen[entry.quantity]}"
                )
            seen[entry.quantity] = index + 1
            registers.append(self.register(entry, where))
        if not registers:
            raise self.fail("[[register]]", "a map needs at least one register")
        meter = self.raw.meter
        return RegisterMap(
            name=meter.name,
            description=meter.description,
            source=self.source,
            base=self.base,
            max_registers=meter.max_registers,
            max_gap=meter.max_gap,
            registers=tuple(registers),
            relay=self.relay(self.raw.relay) if self.raw.relay is not None else None,
        )

    def absolute(self, where: str, field: str, address: int, count: int) -> int:
        absolute = self.base + address
        if absolute + count - 1 > 0xFFFF:
            raise self.fail(
                where,
                f"field `{field}`: base {self.base} + address {address} (+{count - 1}) "
                "runs past the last Modbus address 65535",
            )
        return absolute

    def register(self, entry: schema.RegisterEntry, where: str) -> Register:
        defaults = self.raw.defaults
        function = entry.function or defaults.function
        data_type = entry.type or defaults.type
        if function is None:
            raise self.fail(where, "field `function`: missing (and no [defaults] function)")
        if function.is_bits:
            raise self.fail(
                where, "field `function`: quantities live in holding or input registers"
            )
        if data_type is None:
            raise self.fail(where, "field `type`: missing (and no [defaults] type)")
        if data_type.words > self.raw.meter.max_registers:
            raise self.fail(where, "field `type`: wider than [meter] max_registers")
        converted = conversion(entry.unit)
        if converted is None:
            raise self.fail(where, f"field `unit`: unknown unit {entry.unit!r}")
        contract_unit, factor = converted
        wanted = QUANTITIES[entry.quantity].unit
        if contract_unit is not wanted:
            raise self.fail(
                where,
                f"field `unit`: {entry.unit!r} converts to {contract_unit.value}, "
                f"but {entry.quantity.value} is reported in {wanted.value}",
            )
        sf_address = None
        if entry.scale_factor is not None:
            sf_address = self.absolute(where, "scale_factor", entry.scale_factor, 1)
        return Register(
            quantity=entry.quantity,
            function=function,
            address=self.absolute(where, "address", entry.address, data_type.words),
            data_type=data_type,
            word_order=entry.word_order or defaults.word_order,
            byte_order=entry.byte_order or defaults.byte_order,
            scale=self.scale(where, entry.scale),
            scale_factor_address=sf_address,
            unit=entry.unit,
            contract_unit=contract_unit,
            factor=factor,
            not_implemented=self.sentinels(
                where,
                entry.not_implemented
                if entry.not_implemented is not None
                else defaults.not_implemented,
                data_type,
            ),
            name=entry.name,
        )

    def scale(self, where: str, scale: str | int) -> Fraction:
        try:
            value = Decimal(scale)
        except InvalidOperation:
            raise self.fail(where, f"field `scale`: {scale!r} is not a decimal number") from None
        if not value.is_finite() or value == 0:
            raise self.fail(where, f"field `scale`: {scale!r} must be a finite non-zero number")
        return Fraction(value)

    def sentinels(
        self, where: str, spec: schema.NotImplementedSpec, data_type: DataType
    ) -> frozenset[int]:
        if spec == "none":
            return frozenset()
        if spec == "sunspec":
            sentinel = data_type.sunspec_sentinel
            return frozenset() if sentinel is None else frozenset({sentinel})
        bits = data_type.bits
        patterns = set()
        for value in spec:
            if not -(1 << (bits - 1)) <= value < (1 << bits):
                raise self.fail(
                    where, f"field `not_implemented`: {value} does not fit {data_type.value}"
                )
            patterns.add(value & ((1 << bits) - 1))  # a negative value means its two's complement
        return frozenset(patterns)

    def relay(self, section: schema.RelaySection) -> RelayControl:
        mode = ControlMode(section.control_mode)
        if mode is ControlMode.NONE:
            raise self.fail("[relay]", "control_mode 0 means no disconnect control; drop [relay]")
        if section.arm is not None and remote_reconnect(mode) is Reconnect.ARM:
            raise self.fail(
                "[relay.arm]",
                f"control_mode {int(mode)} already arms on a remote reconnect; "
                "a separate arm write only fits a direct mode (2 or 4)",
            )
        return RelayControl(
            control_mode=mode,
            state=self.relay_state(section.state),
            disconnect=self.relay_write("[relay.disconnect]", section.disconnect),
            reconnect=self.relay_write("[relay.reconnect]", section.reconnect)
            if section.reconnect is not None
            else None,
            arm=self.relay_write("[relay.arm]", section.arm) if section.arm is not None else None,
        )

    def relay_state(self, entry: schema.RelayStateEntry) -> RelayStateRegister:
        where = "[relay.state]"
        values: dict[int, RelayState] = {}
        for state_name, raw in entry.values.items():
            try:
                state = RelayState[state_name.upper()]
            except KeyError:
                names = ", ".join(s.name.lower() for s in RelayState)
                raise self.fail(
                    where, f"field `values`: unknown relay state {state_name!r} (one of {names})"
                ) from None
            if raw in values:
                raise self.fail(where, f"field `values`: raw value {raw} is given twice")
            limit = 1 if entry.function.is_bits else (1 << entry.type.bits) - 1
            if not 0 <= raw <= limit:
                raise self.fail(where, f"field `values`: raw value {raw} is outside 0..{limit}")
            values[raw] = state
        count = 1 if entry.function.is_bits else entry.type.words
        return RelayStateRegister(
            function=entry.function,
            address=self.absolute(where, "address", entry.address, count),
            data_type=entry.type,
            word_order=entry.word_order or self.raw.defaults.word_order,
            byte_order=entry.byte_order or self.raw.defaults.byte_order,
            values=values,
        )

    def relay_write(self, where: str, entry: schema.RelayWriteEntry) -> RelayWrite:
        values = tuple(entry.value) if isinstance(entry.value, list) else (entry.value,)
        function = Function(entry.function)
        if function is Function.COIL and values not in ((0,), (1,)):
            raise self.fail(where, "field `value`: a coil write is 0 or 1")
        if not 1 <= len(values) <= 123:
            raise self.fail(where, "field `value`: FC16 writes 1 to 123 registers")
        if any(not 0 <= v <= 0xFFFF for v in values):
            raise self.fail(where, "field `value`: register values are 0..65535")
        address = self.absolute(where, "address", entry.address, len(values))
        return RelayWrite(function=function, address=address, values=values)
