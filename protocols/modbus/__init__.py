"""Modbus meters as data: register maps, a block-read planner, exact decoding.

The transport is the edge agent's job (its own Modbus TCP client on the frames of
:mod:`protocols.modbus.tcp`, pymodbus for RTU). This package says what to read
(:func:`plan_reads`), what the words mean (:func:`decode_blocks`), what to write to operate the
relay (:class:`RelayControl`), and, for the simulator, which words a meter holding given values
would answer with (:func:`register_image`). See docs/protocols-modbus.md.

Addresses are 0-based protocol addresses throughout, as on the wire and in pymodbus. Vendor
tables often print 1-based "register numbers" with the table's digit in front: 30001 is input
register 0, 40001 is holding register 0. Subtract 30001 (input) or 40001 (holding).
"""

from protocols.modbus.decode import (
    Decoded,
    NoValue,
    NoValueReason,
    Reading,
    RegisterTable,
    decode_blocks,
    decode_register,
    decode_relay_state,
    decode_value,
    encode_not_implemented,
    encode_value,
    float32_scaled,
    register_image,
    value_multiplier,
)
from protocols.modbus.maps import (
    MODBUS_MAX_REGISTERS,
    MapError,
    Register,
    RegisterMap,
    load_map,
    parse_map,
    shipped_maps,
)
from protocols.modbus.planner import PlanError, ReadRequest, needed_spans, plan_reads, plan_spans
from protocols.modbus.registers import DataType, Function, Order
from protocols.modbus.relay_control import (
    RelayAction,
    RelayControl,
    RelayStateRegister,
    RelayWrite,
    UnsupportedCommand,
)

__all__ = [
    "MODBUS_MAX_REGISTERS",
    "DataType",
    "Decoded",
    "Function",
    "MapError",
    "NoValue",
    "NoValueReason",
    "Order",
    "PlanError",
    "ReadRequest",
    "Reading",
    "Register",
    "RegisterMap",
    "RegisterTable",
    "RelayAction",
    "RelayControl",
    "RelayStateRegister",
    "RelayWrite",
    "UnsupportedCommand",
    "decode_blocks",
    "decode_register",
    "decode_relay_state",
    "decode_value",
    "encode_not_implemented",
    "encode_value",
    "float32_scaled",
    "load_map",
    "needed_spans",
    "parse_map",
    "plan_reads",
    "plan_spans",
    "register_image",
    "shipped_maps",
    "value_multiplier",
]
