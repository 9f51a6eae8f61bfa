"""What the simulator stores is what the agent reads: image -> plan -> decode_blocks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from protocols.contract.messages import RelayState
from protocols.contract.quantities import Quantity
from protocols.modbus import (
    DataType,
    Decoded,
    Reading,
    ReadRequest,
    Register,
    RegisterMap,
    RegisterTable,
    decode_blocks,
    decode_value,
    encode_value,
    load_map,
    plan_reads,
    register_image,
)

Q = Quantity


def poll(register_map: RegisterMap, table: RegisterTable) -> list[Decoded]:
    """What the agent's driver does, with the simulator's table standing in for the bus."""
    replies: dict[ReadRequest, Sequence[int]] = {}
    for request in plan_reads(register_map):
        cells = table.get(request.function, {})
        replies[request] = [cells.get(a, 0) for a in range(request.start, request.stop)]
    return decode_blocks(register_map, replies)


def readings(results: list[Decoded]) -> Mapping[Quantity, int]:
    return {r.quantity: r.value for r in results if isinstance(r, Reading)}


def test_a_simulated_sdm630_reads_back_every_value_it_was_given() -> None:
    sdm = load_map("sdm630")
    values = {reg.quantity: 1000 + i * 1237 for i, reg in enumerate(sdm.registers)}
    values[Q.VOLTAGE_A] = 230_500
    values[Q.ENERGY_IMPORT] = 12_345_670
    values[Q.POWER_FACTOR] = -870
    assert readings(poll(sdm, register_image(sdm, values))) == values


def test_a_simulated_sunspec_meter_reads_back_through_its_scale_factors() -> None:
    sunspec = load_map("sunspec_meter")
    base = sunspec.base
    sfs = {base + 6: -2, base + 15: -1, base + 17: -2, base + 22: 0, base + 27: 0}
    sfs |= {base + 32: 0, base + 37: -1, base + 54: 1}
    values = {
        Q.CURRENT_A: 12_340,
        Q.CURRENT_B: 12_350,
        Q.CURRENT_C: 0,
        Q.VOLTAGE_A: 230_500,
        Q.VOLTAGE_B: 229_800,
        Q.VOLTAGE_C: 231_000,
        Q.FREQUENCY: 50_010,
        Q.ACTIVE_POWER: -15_000,
        Q.POWER_FACTOR: -985,
        Q.ENERGY_IMPORT: 1_234_560,
        Q.ENERGY_EXPORT: 10,
    }
    table = register_image(sunspec, values, scale_factors=sfs)
    assert {q: v for q, v in readings(poll(sunspec, table)).items() if q in values} == values


def test_a_simulated_prepaid_meter_reports_its_relay_state() -> None:
    prepaid = load_map("generic_prepaid")
    values = {Q.ENERGY_IMPORT: 1_234_567_890, Q.VOLTAGE_A: 220_500, Q.CURRENT_A: -1500}
    table = register_image(prepaid, values, relay_state=RelayState.READY_FOR_RECONNECTION)
    got = readings(poll(prepaid, table))
    assert {q: got[q] for q in values} == values
    assert got[Q.RELAY_STATE] == int(RelayState.READY_FOR_RECONNECTION)


def _step(reg: Register, sf: int = 0) -> Fraction:
    """The contract-unit value of one raw count."""
    return reg.scale * Fraction(10) ** sf * reg.factor


PREPAID = load_map("generic_prepaid")
INTEGER_REGISTERS = [r for r in PREPAID.registers if r.data_type is not DataType.FLOAT32]


@st.composite
def representable(draw: st.DrawFn) -> tuple[Register, int]:
    """A register and a contract value that is a whole number of its raw steps."""
    reg = draw(st.sampled_from(INTEGER_REGISTERS))
    bits = reg.data_type.bits
    low, high = (
        (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if reg.data_type.signed else (0, 2**bits - 1)
    )
    raw = draw(st.integers(low, high))
    value = raw * _step(reg)
    assert value.denominator == 1  # every prepaid step is a whole number of contract units
    return reg, int(value)


@given(representable())
def test_integer_values_survive_encode_then_decode_exactly(case: tuple[Register, int]) -> None:
    reg, value = case
    assert decode_value(reg, encode_value(reg, value)) == Reading(reg.quantity, value)


SDM = load_map("sdm630")


@given(st.sampled_from(SDM.registers), st.integers(-999_999, 999_999))
def test_float32_values_of_up_to_six_digits_survive_encode_then_decode(
    reg: Register, value: int
) -> None:
    # x1000 units (V, A, kWh, Hz, PF) put six significant digits into the float32, which it
    # always represents unambiguously; W, VA, var are whole units and exact below 2**24.
    assert decode_value(reg, encode_value(reg, value)) == Reading(reg.quantity, value)


@given(st.integers(-32767, 32767), st.integers(-3, 3))
def test_sunspec_values_survive_encode_then_decode_at_every_scale_factor(raw: int, sf: int) -> None:
    reg = load_map("sunspec_meter").register(Q.VOLTAGE_A)
    value = raw * _step(reg, sf)  # 10**(sf + 3) mV per count: whole mV for sf >= -3
    assert value.denominator == 1
    words = encode_value(reg, int(value), scale_factor=sf)
    assert words == [raw & 0xFFFF]
    assert decode_value(reg, words, sf) == Reading(Q.VOLTAGE_A, int(value))
