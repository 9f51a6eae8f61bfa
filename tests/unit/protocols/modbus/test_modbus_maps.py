"""Loading register maps: the shipped ones, a user's own file, and clear errors for bad ones."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from protocols.contract.quantities import Quantity, Unit
from protocols.modbus import DataType, Function, MapError, Order, load_map, parse_map, shipped_maps
from protocols.relay import ControlMode


def test_three_maps_ship_with_meterline() -> None:
    assert shipped_maps() == ["generic_prepaid", "sdm630", "sunspec_meter"]


@pytest.mark.parametrize("name", ["generic_prepaid", "sdm630", "sunspec_meter"])
def test_each_shipped_map_loads_and_maps_each_quantity_once(name: str) -> None:
    register_map = load_map(name)
    quantities = [r.quantity for r in register_map.registers]
    assert register_map.source == f"{name}.toml"
    assert len(quantities) == len(set(quantities)) >= 16


def test_the_sdm630_map_follows_the_eastron_input_register_table() -> None:
    sdm = load_map("sdm630")
    expected = {
        Quantity.VOLTAGE_A: 0x0000,
        Quantity.CURRENT_A: 0x0006,
        Quantity.ACTIVE_POWER_A: 0x000C,
        Quantity.ACTIVE_POWER: 0x0034,
        Quantity.FREQUENCY: 0x0046,
        Quantity.ENERGY_IMPORT: 0x0048,
        Quantity.ENERGY_EXPORT: 0x004A,
        Quantity.CURRENT_N: 0x00E0,
        Quantity.ENERGY_COMBINED: 0x0156,
    }
    assert {q: sdm.register(q).address for q in expected} == expected
    energy = sdm.register(Quantity.ENERGY_IMPORT)
    assert (energy.function, energy.data_type, energy.unit) == (
        Function.INPUT,
        DataType.FLOAT32,
        "kWh",
    )
    assert (energy.contract_unit, energy.factor) == (Unit.WH, Fraction(1000))
    assert sdm.max_registers == 80


def test_the_sunspec_map_sits_at_40069_unless_the_caller_moves_it() -> None:
    default = load_map("sunspec_meter")
    moved = load_map("sunspec_meter", base=40188)
    volts, moved_volts = default.register(Quantity.VOLTAGE_A), moved.register(Quantity.VOLTAGE_A)
    assert (volts.address, volts.scale_factor_address) == (40069 + 8, 40069 + 15)
    assert (moved_volts.address, moved_volts.scale_factor_address) == (40188 + 8, 40188 + 15)
    energy = moved.register(Quantity.ENERGY_IMPORT)
    assert (energy.address, energy.scale_factor_address) == (40188 + 46, 40188 + 54)
    assert energy.not_implemented == frozenset({0})  # acc32
    assert volts.not_implemented == frozenset({0x8000})


def test_the_generic_prepaid_map_has_relay_control_in_mode_2_with_an_arm_write() -> None:
    prepaid = load_map("generic_prepaid")
    relay = prepaid.relay
    assert relay is not None
    assert relay.control_mode is ControlMode.MODE_2
    assert relay.state.address == 0x0100
    assert [w.values for w in (relay.disconnect, relay.reconnect, relay.arm) if w] == [
        (0x1A,),
        (0x1C,),
        (0x1B,),
    ]
    assert prepaid.register(Quantity.ENERGY_IMPORT).word_order is Order.LITTLE


def test_a_users_own_map_loads_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "my_meter.toml"
    path.write_text(
        '[meter]\nname = "mine"\n\n[[register]]\nquantity = "voltage_a"\n'
        'function = "holding"\ntype = "uint16"\naddress = 40001\nunit = "V"\nscale = "0.1"\n',
        encoding="utf-8",
    )
    register_map = load_map(path)
    assert register_map.name == "mine"
    assert register_map.register(Quantity.VOLTAGE_A).scale == Fraction(1, 10)
    assert load_map(str(path)).source == str(path)


def test_an_unknown_shipped_name_lists_the_shipped_maps() -> None:
    with pytest.raises(MapError, match="no shipped map 'sdm999'; shipped: generic_prepaid, sdm630"):
        load_map("sdm999")


def test_a_missing_file_is_a_map_error_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(MapError, match="cannot read map file"):
        load_map(tmp_path / "absent.toml")


HEAD = '[meter]\nname = "broken"\n[defaults]\nfunction = "input"\ntype = "uint16"\n'
GOOD = '[[register]]\nquantity = "voltage_a"\naddress = 0\nunit = "V"\n'

BROKEN = [
    pytest.param(
        HEAD + GOOD + '[[register]]\nquantity = "voltage_b"\naddress = "two"\nunit = "V"\n',
        ["[[register]] #2 (voltage_b): field `address`", "Expected `int`, got `str`"],
        id="address-as-string",
    ),
    pytest.param(
        HEAD + '[[register]]\nquantity = "voltage_a"\naddress = 0\nunit = "V"\nscale_facter = 3\n',
        ["[[register]] #1 (voltage_a)", "unknown field `scale_facter`"],
        id="typo-in-a-key",
    ),
    pytest.param(
        HEAD + '[[register]]\nquantity = "voltage_x"\naddress = 0\nunit = "V"\n',
        ["[[register]] #1 (voltage_x): field `quantity`", "voltage_x"],
        id="unknown-quantity",
    ),
    pytest.param(
        HEAD + '[[register]]\nquantity = "energy_import"\naddress = 0\nunit = "V"\n',
        [
            "#1 (energy_import): field `unit`",
            "'V' converts to mV, but energy_import is reported in Wh",
        ],
        id="unit-does-not-fit-quantity",
    ),
    pytest.param(
        HEAD + '[[register]]\nquantity = "voltage_a"\naddress = 0\nunit = "volts"\n',
        ["#1 (voltage_a): field `unit`: unknown unit 'volts'"],
        id="unknown-unit",
    ),
    pytest.param(
        HEAD + '[[register]]\nquantity = "voltage_a"\naddress = 0\nunit = "V"\nscale = 0.1\n',
        ["#1 (voltage_a): field `scale`", 'write a scale as a string, e.g. scale = "0.1"'],
        id="scale-as-float",
    ),
    pytest.param(
        HEAD + '[[register]]\nquantity = "voltage_a"\naddress = 0\nunit = "V"\nscale = "zero"\n',
        ["#1 (voltage_a): field `scale`: 'zero' is not a decimal number"],
        id="scale-not-a-number",
    ),
    pytest.param(
        HEAD + GOOD + GOOD.replace("address = 0", "address = 1"),
        ["[[register]] #2 (voltage_a): quantity already mapped by [[register]] #1"],
        id="duplicate-quantity",
    ),
    pytest.param(
        '[meter]\nname = "x"\n' + GOOD,
        ["#1 (voltage_a): field `function`: missing (and no [defaults] function)"],
        id="no-function-anywhere",
    ),
    pytest.param(
        '[meter]\nname = "x"\nbase = 65535\n[defaults]\nfunction = "input"\ntype = "uint32"\n'
        + GOOD,
        ["#1 (voltage_a): field `address`: base 65535 + address 0 (+1) runs past"],
        id="address-past-65535",
    ),
    pytest.param(
        HEAD + GOOD.replace('unit = "V"', 'unit = "V"\nnot_implemented = [70000]'),
        ["#1 (voltage_a): field `not_implemented`: 70000 does not fit uint16"],
        id="sentinel-too-wide",
    ),
    pytest.param(
        GOOD,
        ["Object missing required field `meter`"],
        id="no-meter-table",
    ),
    pytest.param(
        HEAD + GOOD + "[relay\n",
        ["not valid TOML"],
        id="toml-syntax",
    ),
    pytest.param(
        HEAD
        + GOOD
        + "[relay]\ncontrol_mode = 1\n"
        + 'state = { function = "coil", address = 5, '
        + "values = { connected = 1, disconnected = 0 } }\n"
        + 'disconnect = { function = "coil", address = 5, value = 0 }\n'
        + 'reconnect = { function = "coil", address = 5, value = 1 }\n'
        + 'arm = { function = "coil", address = 6, value = 1 }\n',
        ["[relay.arm]: control_mode 1 already arms on a remote reconnect"],
        id="arm-write-in-an-arming-mode",
    ),
    pytest.param(
        HEAD
        + GOOD
        + "[relay]\ncontrol_mode = 2\n"
        + 'state = { function = "holding", address = 9, values = { closed = 1 } }\n'
        + 'disconnect = { function = "holding", address = 10, value = 1 }\n',
        ["[relay.state]: field `values`: unknown relay state 'closed'"],
        id="unknown-relay-state-name",
    ),
    pytest.param(
        HEAD
        + GOOD
        + "[relay]\ncontrol_mode = 2\n"
        + 'state = { function = "holding", address = 9, values = { connected = 1 } }\n'
        + 'disconnect = { function = "coil", address = 10, value = 7 }\n',
        ["[relay.disconnect]: field `value`: a coil write is 0 or 1"],
        id="coil-write-not-a-bit",
    ),
]


@pytest.mark.parametrize(("text", "fragments"), BROKEN)
def test_a_broken_map_file_names_the_file_the_register_and_the_field(
    tmp_path: Path, text: str, fragments: list[str]
) -> None:
    path = tmp_path / "broken_meter.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MapError) as caught:
        load_map(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert [f for f in fragments if f not in message] == [], message


def test_parse_map_works_on_text_without_touching_a_file() -> None:
    register_map = parse_map(HEAD + GOOD, "inline.toml")
    assert register_map.register(Quantity.VOLTAGE_A).function is Function.INPUT
    with pytest.raises(MapError, match=r"inline\.toml: base 70000 is outside"):
        parse_map(HEAD + GOOD, "inline.toml", base=70000)
