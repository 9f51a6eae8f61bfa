"""Decoding raw registers to contract values, with every expected number worked out by hand."""

from __future__ import annotations

import pytest

from protocols.contract.quantities import Quantity
from protocols.modbus import (
    Decoded,
    Function,
    NoValue,
    NoValueReason,
    Reading,
    RegisterMap,
    RegisterTable,
    decode_register,
    encode_not_implemented,
    encode_value,
    load_map,
    parse_map,
)

SDM = load_map("sdm630")
SUNSPEC = load_map("sunspec_meter", base=0)  # model at 0 keeps the hand-written offsets readable
PREPAID = load_map("generic_prepaid")
Q = Quantity


def decode(which: tuple[RegisterMap, Quantity], table: RegisterTable) -> Decoded:
    register_map, quantity = which
    return decode_register(register_map.register(quantity), table)


def words_at(function: Function, start: int, *words: int) -> RegisterTable:
    return {function: {start + i: w for i, w in enumerate(words)}}


# ---- float32 (SDM630) -------------------------------------------------------------------------


def test_sdm630_voltage_230_5_v_as_0x43668000_is_230500_mv() -> None:
    table = words_at(Function.INPUT, 0x0000, 0x4366, 0x8000)
    assert decode((SDM, Q.VOLTAGE_A), table) == Reading(Q.VOLTAGE_A, 230_500)


def test_sdm630_voltage_230_1_v_is_exactly_230100_mv_despite_float32_noise() -> None:
    # 0x4366199A holds 230.100006103515625; the meter meant 230.1.
    table = words_at(Function.INPUT, 0x0002, 0x4366, 0x199A)
    assert decode((SDM, Q.VOLTAGE_B), table) == Reading(Q.VOLTAGE_B, 230_100)


def test_sdm630_import_energy_12345_67_kwh_is_12345670_wh() -> None:
    table = words_at(Function.INPUT, 0x0048, 0x4640, 0xE6AE)
    assert decode((SDM, Q.ENERGY_IMPORT), table) == Reading(Q.ENERGY_IMPORT, 12_345_670)


def test_sdm630_power_factor_minus_0_87_is_minus_870_thousandths() -> None:
    table = words_at(Function.INPUT, 0x003E, 0xBF5E, 0xB852)
    assert decode((SDM, Q.POWER_FACTOR), table) == Reading(Q.POWER_FACTOR, -870)


def test_a_float32_half_way_value_rounds_half_even_on_the_decimal_the_meter_meant() -> None:
    # 0.0125 A is stored as 0.012500000186…; naive binary maths would give 13 mA.
    table = words_at(Function.INPUT, 0x0006, 0x3C4C, 0xCCCD)
    assert decode((SDM, Q.CURRENT_A), table) == Reading(Q.CURRENT_A, 12)


def test_a_float32_nan_is_no_value_not_garbage() -> None:
    table = words_at(Function.INPUT, 0x0046, 0x7FC0, 0x0000)
    result = decode((SDM, Q.FREQUENCY), table)
    assert isinstance(result, NoValue)
    assert (result.quantity, result.reason) == (Q.FREQUENCY, NoValueReason.NAN)


def test_a_float32_infinity_is_no_value() -> None:
    table = words_at(Function.INPUT, 0x0046, 0xFF80, 0x0000)
    result = decode((SDM, Q.FREQUENCY), table)
    assert isinstance(result, NoValue)
    assert result.reason is NoValueReason.INFINITE


# ---- integers with SunSpec scale factors -------------------------------------------------------


def sunspec_table(**points: int) -> RegisterTable:
    offsets = {
        "AphA": 3, "A_SF": 6, "PhVphA": 8, "V_SF": 15, "Hz": 16, "Hz_SF": 17, "W": 18,
        "W_SF": 22, "PF": 33, "PF_SF": 37, "TotWhImp": 46, "TotWh_SF": 54,
    }  # fmt: skip
    cells: dict[int, int] = {}
    for name, word in points.items():
        cells[offsets[name.removesuffix("_lo")] + (1 if name.endswith("_lo") else 0)] = word
    return {Function.HOLDING: cells}


def test_sunspec_voltage_2305_with_sf_minus_1_is_230500_mv() -> None:
    table = sunspec_table(PhVphA=2305, V_SF=0xFFFF)
    assert decode((SUNSPEC, Q.VOLTAGE_A), table) == Reading(Q.VOLTAGE_A, 230_500)


def test_sunspec_current_1234_with_sf_minus_2_is_12340_ma() -> None:
    table = sunspec_table(AphA=1234, A_SF=0xFFFE)
    assert decode((SUNSPEC, Q.CURRENT_A), table) == Reading(Q.CURRENT_A, 12_340)


def test_sunspec_frequency_5001_with_sf_minus_2_is_50010_mhz() -> None:
    table = sunspec_table(Hz=5001, Hz_SF=0xFFFE)
    assert decode((SUNSPEC, Q.FREQUENCY), table) == Reading(Q.FREQUENCY, 50_010)


def test_sunspec_negative_power_with_a_positive_scale_factor() -> None:
    table = sunspec_table(W=0xFA24, W_SF=1)  # -1500 x 10^1 W: exporting 15 kW
    assert decode((SUNSPEC, Q.ACTIVE_POWER), table) == Reading(Q.ACTIVE_POWER, -15_000)


def test_sunspec_power_factor_in_per_cent_becomes_thousandths() -> None:
    table = sunspec_table(PF=0xD986, PF_SF=0xFFFE)  # -9850 x 10^-2 % = -98.50 %
    assert decode((SUNSPEC, Q.POWER_FACTOR), table) == Reading(Q.POWER_FACTOR, -985)


def test_sunspec_acc32_energy_with_a_kwh_scale_factor() -> None:
    table = sunspec_table(TotWhImp=0x0001, TotWhImp_lo=0xE240, TotWh_SF=3)  # 123456 x 10^3
    assert decode((SUNSPEC, Q.ENERGY_IMPORT), table) == Reading(Q.ENERGY_IMPORT, 123_456_000)


@pytest.mark.parametrize(
    ("table", "quantity", "reason"),
    [
        (sunspec_table(PhVphA=0x8000, V_SF=0xFFFF), Q.VOLTAGE_A, NoValueReason.NOT_IMPLEMENTED),
        (
            sunspec_table(PhVphA=2305, V_SF=0x8000),
            Q.VOLTAGE_A,
            NoValueReason.SCALE_FACTOR_NOT_IMPLEMENTED,
        ),
        (sunspec_table(PhVphA=2305, V_SF=11), Q.VOLTAGE_A, NoValueReason.SCALE_FACTOR_INVALID),
        (sunspec_table(PhVphA=2305), Q.VOLTAGE_A, NoValueReason.NOT_READ),
        (sunspec_table(V_SF=0xFFFF), Q.VOLTAGE_A, NoValueReason.NOT_READ),
        (
            sunspec_table(TotWhImp=0, TotWhImp_lo=0, TotWh_SF=0),
            Q.ENERGY_IMPORT,
            NoValueReason.NOT_IMPLEMENTED,
        ),
    ],
    ids=[
        "int16-0x8000",
        "sf-0x8000",
        "sf-out-of-range",
        "sf-not-read",
        "value-not-read",
        "acc32-0",
    ],
)
def test_sunspec_sentinels_and_missing_registers_are_no_value_with_the_reason(
    table: RegisterTable, quantity: Quantity, reason: NoValueReason
) -> None:
    result = decode((SUNSPEC, quantity), table)
    assert isinstance(result, NoValue)
    assert (result.quantity, result.reason) == (quantity, reason)


# ---- integers with fixed decimal scales (generic prepaid, CDAB) --------------------------------


def test_prepaid_energy_123456789_hundredths_kwh_low_word_first_is_1234567890_wh() -> None:
    table = words_at(Function.HOLDING, 0x0000, 0xCD15, 0x075B)  # 0x075BCD15, CDAB
    assert decode((PREPAID, Q.ENERGY_IMPORT), table) == Reading(Q.ENERGY_IMPORT, 1_234_567_890)


def test_prepaid_voltage_2205_tenths_is_220500_mv() -> None:
    table = words_at(Function.HOLDING, 0x0010, 2205)
    assert decode((PREPAID, Q.VOLTAGE_A), table) == Reading(Q.VOLTAGE_A, 220_500)


def test_prepaid_negative_int32_current_low_word_first() -> None:
    table = words_at(Function.HOLDING, 0x0013, 0xFA24, 0xFFFF)  # -1500 x 0.001 A
    assert decode((PREPAID, Q.CURRENT_A), table) == Reading(Q.CURRENT_A, -1500)


def test_prepaid_int16_power_factor_and_uint16_frequency() -> None:
    table = words_at(Function.HOLDING, 0x001D, 0xFC7C, 5002)  # -900 x 0.001; 5002 x 0.01 Hz
    assert decode((PREPAID, Q.POWER_FACTOR), table) == Reading(Q.POWER_FACTOR, -900)
    assert decode((PREPAID, Q.FREQUENCY), table) == Reading(Q.FREQUENCY, 50_020)


# ---- 64-bit types, byte order and rounding on a small inline map -----------------------------

INLINE = parse_map(
    """
[meter]
name = "inline"
[defaults]
function = "holding"
[[register]]
quantity = "energy_import"
address = 0
type = "uint64"
unit = "Wh"
[[register]]
quantity = "energy_export"
address = 4
type = "int64"
word_order = "little"
unit = "Wh"
[[register]]
quantity = "current_a"
address = 8
type = "int16"
scale = "0.0001"
unit = "A"
[[register]]
quantity = "voltage_a"
address = 9
type = "float32"
byte_order = "little"
unit = "V"
[[register]]
quantity = "voltage_b"
address = 11
type = "uint16"
unit = "V"
not_implemented = [0xFFFF, 0]
""",
    "inline.toml",
)


def test_uint64_big_endian_two_to_the_32_wh() -> None:
    table = words_at(Function.HOLDING, 0, 0x0000, 0x0001, 0x0000, 0x0000)
    assert decode((INLINE, Q.ENERGY_IMPORT), table) == Reading(Q.ENERGY_IMPORT, 2**32)


def test_int64_low_word_first_minus_two() -> None:
    table = words_at(Function.HOLDING, 4, 0xFFFE, 0xFFFF, 0xFFFF, 0xFFFF)
    assert decode((INLINE, Q.ENERGY_EXPORT), table) == Reading(Q.ENERGY_EXPORT, -2)


def test_byte_swapped_float32_230_5_v() -> None:
    table = words_at(Function.HOLDING, 9, 0x6643, 0x0080)  # BADC of 0x43668000
    assert decode((INLINE, Q.VOLTAGE_A), table) == Reading(Q.VOLTAGE_A, 230_500)


@pytest.mark.parametrize(
    ("raw", "milliamps"),
    [(5, 0), (15, 2), (25, 2), (35, 4), (-5, 0), (-15, -2), (12, 1), (18, 2)],
)
def test_integer_conversion_is_exact_and_rounds_half_to_even_once(raw: int, milliamps: int) -> None:
    table = words_at(Function.HOLDING, 8, raw & 0xFFFF)  # raw x 0.0001 A = raw / 10 mA
    assert decode((INLINE, Q.CURRENT_A), table) == Reading(Q.CURRENT_A, milliamps)


def test_explicit_sentinels_each_mean_not_implemented() -> None:
    for word in (0xFFFF, 0):
        result = decode((INLINE, Q.VOLTAGE_B), words_at(Function.HOLDING, 11, word))
        assert isinstance(result, NoValue)
        assert result.reason is NoValueReason.NOT_IMPLEMENTED


# ---- encoding, for the simulator ----------------------------------------------------------------


def test_encoding_230500_mv_for_the_sdm630_gives_0x43668000() -> None:
    assert encode_value(SDM.register(Q.VOLTAGE_A), 230_500) == [0x4366, 0x8000]


def test_encoding_with_a_scale_factor_gives_the_integer_the_meter_would_hold() -> None:
    assert encode_value(SUNSPEC.register(Q.VOLTAGE_A), 230_500, scale_factor=-1) == [2305]


def test_encoding_low_word_first_for_the_prepaid_meter() -> None:
    assert encode_value(PREPAID.register(Q.ENERGY_IMPORT), 1_234_567_890) == [0xCD15, 0x075B]


def test_encoding_a_value_too_large_for_the_register_is_a_simulator_bug() -> None:
    with pytest.raises(ValueError, match="does not fit in uint16"):
        encode_value(PREPAID.register(Q.VOLTAGE_A), 7_000_000)


def test_encoding_onto_a_sentinel_is_refused() -> None:
    with pytest.raises(ValueError, match="not-implemented pattern"):
        encode_value(SUNSPEC.register(Q.VOLTAGE_A), -3_276_800, scale_factor=-1)


def test_the_simulator_can_store_not_implemented() -> None:
    assert encode_not_implemented(SUNSPEC.register(Q.VOLTAGE_A)) == [0x8000]
    assert encode_not_implemented(SDM.register(Q.VOLTAGE_A)) == [0x7FC0, 0x0000]
    with pytest.raises(ValueError, match="declares no not-implemented value"):
        encode_not_implemented(PREPAID.register(Q.VOLTAGE_A))
