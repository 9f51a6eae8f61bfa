"""Relay control per the map: what the agent writes, what it expects, what the simulator hears."""

from __future__ import annotations

import pytest

from protocols.contract.messages import CommandKind, RelayState
from protocols.contract.quantities import Quantity
from protocols.modbus import (
    Function,
    NoValue,
    NoValueReason,
    Reading,
    ReadRequest,
    RelayWrite,
    UnsupportedCommand,
    decode_blocks,
    load_map,
    parse_map,
    plan_reads,
)
from protocols.relay import IllegalTransition

D, C, R = RelayState.DISCONNECTED, RelayState.CONNECTED, RelayState.READY_FOR_RECONNECTION
PREPAID = load_map("generic_prepaid")
assert PREPAID.relay is not None
RELAY = PREPAID.relay

COIL_MAP = parse_map(
    """
[meter]
name = "coil relay, arming mode"
[[register]]
quantity = "voltage_a"
function = "input"
type = "uint16"
address = 0
unit = "V"
[relay]
control_mode = 1
state = { function = "discrete_input", address = 3, values = { connected = 1, disconnected = 0 } }
disconnect = { function = "coil", address = 7, value = 0 }
reconnect = { function = "coil", address = 7, value = 1 }
""",
    "coil.toml",
)
assert COIL_MAP.relay is not None
COIL_RELAY = COIL_MAP.relay


def test_prepaid_disconnect_writes_1a_to_the_command_register_and_expects_disconnected() -> None:
    action = RELAY.action(CommandKind.DISCONNECT, C)
    assert action.write == RelayWrite(Function.HOLDING, 0x0101, (0x1A,))
    assert action.write.function_code == 6
    assert action.expected is D


def test_prepaid_reconnect_closes_directly_with_1c() -> None:
    action = RELAY.action(CommandKind.RECONNECT, D)
    assert (action.write.values, action.expected) == ((0x1C,), C)


def test_prepaid_arm_writes_1b_and_expects_ready_for_reconnection() -> None:
    action = RELAY.action(CommandKind.ARM_RECONNECT, D)
    assert (action.write.values, action.expected) == ((0x1B,), R)


def test_prepaid_arm_of_a_connected_relay_is_refused_before_any_write() -> None:
    with pytest.raises(IllegalTransition, match="needs a disconnected relay"):
        RELAY.action(CommandKind.ARM_RECONNECT, C)


def test_disconnecting_a_disconnected_relay_is_refused_so_the_agent_reports_it_as_done() -> None:
    with pytest.raises(IllegalTransition):
        RELAY.action(CommandKind.DISCONNECT, D)


def test_in_an_arming_mode_the_reconnect_coil_arms_and_a_direct_reconnect_is_refused() -> None:
    action = COIL_RELAY.action(CommandKind.ARM_RECONNECT, D)
    assert (action.write, action.expected) == (RelayWrite(Function.COIL, 7, (1,)), R)
    assert action.write.function_code == 5
    with pytest.raises(IllegalTransition, match="leads to ready_for_reconnection"):
        COIL_RELAY.action(CommandKind.RECONNECT, D)


def test_a_map_without_a_reconnect_write_cannot_reconnect() -> None:
    text = """
[meter]
name = "disconnect only"
[[register]]
quantity = "voltage_a"
function = "input"
type = "uint16"
address = 0
unit = "V"
[relay]
control_mode = 4
state = { function = "holding", address = 3, values = { connected = 1, disconnected = 0 } }
disconnect = { function = "holding", address = 4, value = [0xDEAD, 0x0000] }
"""
    relay = parse_map(text).relay
    assert relay is not None
    assert relay.disconnect.function_code == 16
    with pytest.raises(UnsupportedCommand, match="no write for reconnect"):
        relay.action(CommandKind.RECONNECT, D)


def test_a_read_now_command_does_not_operate_the_relay() -> None:
    with pytest.raises(UnsupportedCommand):
        RELAY.action(CommandKind.READ_NOW, C)


@pytest.mark.parametrize(
    ("function", "address", "values", "kind"),
    [
        (Function.HOLDING, 0x0101, [0x1A], CommandKind.DISCONNECT),
        (Function.HOLDING, 0x0101, [0x1C], CommandKind.RECONNECT),
        (Function.HOLDING, 0x0101, [0x1B], CommandKind.ARM_RECONNECT),
        (Function.HOLDING, 0x0101, [0x1D], None),
        (Function.HOLDING, 0x0010, [0x1A], None),
    ],
)
def test_the_simulator_recognises_the_relay_writes_it_receives(
    function: Function, address: int, values: list[int], kind: CommandKind | None
) -> None:
    assert RELAY.identify_write(function, address, values) == kind


def test_the_coil_meters_reconnect_write_is_recognised_as_an_arm() -> None:
    assert COIL_RELAY.identify_write(Function.COIL, 7, [1]) is CommandKind.ARM_RECONNECT


def test_the_relay_state_is_polled_and_decoded_to_its_contract_code() -> None:
    plan = plan_reads(PREPAID)
    assert plan[-1] == ReadRequest(1, Function.HOLDING, 0x0100, 1)
    results = decode_blocks(PREPAID, {plan[-1]: [2]})
    assert results[-1] == Reading(Quantity.RELAY_STATE, int(R))


def test_an_unlisted_relay_state_value_is_no_value_not_a_guess() -> None:
    plan = plan_reads(PREPAID)
    result = decode_blocks(PREPAID, {plan[-1]: [9]})[-1]
    assert isinstance(result, NoValue)
    assert (result.quantity, result.reason) == (Quantity.RELAY_STATE, NoValueReason.UNKNOWN_STATE)


def test_a_relay_state_read_from_a_discrete_input_is_planned_as_a_bit_read() -> None:
    plan = plan_reads(COIL_MAP, unit=3)
    assert plan == [
        ReadRequest(3, Function.INPUT, 0, 1),
        ReadRequest(3, Function.DISCRETE_INPUT, 3, 1),
    ]
    # pymodbus pads bits to a whole byte; the padding is ignored.
    results = decode_blocks(COIL_MAP, {plan[0]: [2301], plan[1]: [1, 0, 0, 0, 0, 0, 0, 0]})
    assert results == [Reading(Quantity.VOLTAGE_A, 2_301_000), Reading(Quantity.RELAY_STATE, 1)]
