"""Every DI in the table decodes a hand-checked example; BCD and scaling round-trip."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.contract.messages import RelayState
from protocols.contract.quantities import Quantity as Q
from protocols.dlt645 import (
    TABLE,
    BcdError,
    LocalProtocolError,
    MeterTime,
    UnexpectedReply,
    bcd_to_int,
    decode_item,
    decode_number,
    decode_time,
    encode_item,
    int_to_bcd,
)
from protocols.dlt645.di_table import Kind
from protocols.dlt645.items import MaxDemand, PowerFailure, RelayEvent, StatusWord


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# (DI, data after the DI with 33H removed, low byte first, expected readings) — by hand.
NUMBERS: list[tuple[int, str, dict[Q, int]]] = [
    (0x00010000, "78 56 34 12", {Q.ENERGY_IMPORT: 123456780}),  # 123456.78 kWh -> Wh
    (0x00000000, "00 00 00 80", {Q.ENERGY_COMBINED: 0}),  # signed zero
    (0x00000000, "01 00 00 80", {Q.ENERGY_COMBINED: -10}),  # -0.01 kWh
    (0x00020100, "99 99 99 99", {Q.ENERGY_EXPORT_T1: 999999990}),
    (0x00030000, "50 00 00 80", {Q.REACTIVE_ENERGY_IMPORT: -500}),  # -0.50 kvarh
    (0x00040400, "00 01 00 00", {Q.REACTIVE_ENERGY_EXPORT_T4: 1000}),  # 1.00 kvarh
    (0x02010100, "01 22", {Q.VOLTAGE_A: 220100}),  # 220.1 V -> mV
    (0x02020300, "34 12 00", {Q.CURRENT_C: 1234}),  # 1.234 A -> mA
    (0x02020100, "34 12 80", {Q.CURRENT_A: -1234}),  # reverse current
    (0x02030000, "45 23 01", {Q.ACTIVE_POWER: 1235}),  # 1.2345 kW = 1234.5 W, half away from zero
    (0x02030100, "44 23 81", {Q.ACTIVE_POWER_A: -1234}),  # -1.2344 kW = -1234.4 W
    (0x02040200, "05 00 00", {Q.REACTIVE_POWER_B: 1}),  # 0.0005 kvar = 0.5 var -> 1
    (0x02050300, "00 00 20", {Q.APPARENT_POWER_C: 20000}),  # 20.0000 kVA
    (0x02060000, "95 89", {Q.POWER_FACTOR: -995}),  # -0.995
    (0x02800002, "98 49", {Q.FREQUENCY: 49980}),  # 49.98 Hz -> mHz
    (0x02800001, "00 05 00", {Q.CURRENT_N: 500}),
]


@pytest.mark.parametrize(("di", "data", "expected"), NUMBERS, ids=[f"{n[0]:08X}" for n in NUMBERS])
def test_number_di_decodes_its_hand_checked_example(di: int, data: str, expected: dict[Q, int]):
    item = decode_item(di, h(data))
    assert {r.quantity: r.value for r in item.readings} == expected


def test_energy_block_decodes_total_and_four_tariffs():
    data = h("00 10 00 00  00 01 00 00  00 02 00 00  00 03 00 00  00 04 00 00")
    item = decode_item(0x0001FF00, data)
    assert [(r.quantity, r.value) for r in item.readings] == [
        (Q.ENERGY_IMPORT, 10000),  # 10.00 kWh
        (Q.ENERGY_IMPORT_T1, 1000),
        (Q.ENERGY_IMPORT_T2, 2000),
        (Q.ENERGY_IMPORT_T3, 3000),
        (Q.ENERGY_IMPORT_T4, 4000),
    ]


def test_energy_block_from_a_two_tariff_meter_decodes_what_it_carries():
    item = decode_item(0x0000FF00, h("00 10 00 00  00 01 00 00  00 09 00 00"))
    assert [r.quantity for r in item.readings] == [
        Q.ENERGY_COMBINED,
        Q.ENERGY_COMBINED_T1,
        Q.ENERGY_COMBINED_T2,
    ]


def test_block_cut_inside_a_field_is_an_unexpected_reply():
    with pytest.raises(UnexpectedReply):
        decode_item(0x0001FF00, h("00 10 00 00 00 01"))


def test_voltage_block_decodes_three_phases():
    item = decode_item(0x0201FF00, h("01 22 00 23 99 21"))
    assert [r.value for r in item.readings] == [220100, 230000, 219900]


def test_max_demand_decodes_value_and_time():
    # 1.2345 kW (1234.5 W, rounds to 1235) at 2024-05-06 07:08;
    # the time YYMMDDhhmm is sent low byte first: 08 07 06 05 24.
    item = decode_item(0x01010000, h("45 23 01 08 07 06 05 24"))
    assert item.record == MaxDemand(demand=1235, at=MeterTime(2024, 5, 6, 7, 8))
    assert item.readings[0].quantity is Q.MAX_DEMAND_IMPORT


def test_max_demand_block_decodes_every_tariff_with_its_time():
    one = h("00 00 01 08 07 06 05 24")
    item = decode_item(0x0101FF00, one * 5)
    assert len(item.readings) == 5
    assert item.values["max_demand_import_t4_at"] == MeterTime(2024, 5, 6, 7, 8)


def test_meter_date_and_time_decode_to_structured_fields():
    date = decode_item(0x04000101, h("03 15 06 24"))  # YYMMDDWW 24-06-15, Wednesday
    clock = decode_item(0x04000102, h("59 30 23"))  # hhmmss 23:30:59
    assert date.values["at"] == MeterTime(2024, 6, 15, weekday=3)
    assert clock.values["at"] == MeterTime(0, 0, 0, 23, 30, 59)


@pytest.mark.parametrize(
    ("word", "state"),
    [
        (0x0000, RelayState.CONNECTED),
        (0x0050, RelayState.DISCONNECTED),  # bit4 open + bit6 trip command
        (0x0010, RelayState.READY_FOR_RECONNECTION),  # open, command lifted (合闸允许)
    ],
)
def test_status_word_3_yields_the_relay_state(word: int, state: RelayState):
    item = decode_item(0x04000503, word.to_bytes(2, "little"))
    assert item.record == StatusWord(3, word)
    assert [(r.quantity, r.value) for r in item.readings] == [(Q.RELAY_STATE, int(state))]


def test_status_word_3_names_pre_trip_alarm_and_keep_power():
    status = decode_item(0x04000503, h("80 10")).record
    assert isinstance(status, StatusWord)
    assert status.pre_trip_alarm
    assert status.keep_power
    assert not status.relay_open


@pytest.mark.parametrize("n", range(1, 8))
def test_each_status_word_decodes_its_bits(n: int):
    item = decode_item(0x04000500 + n, h("34 12"))
    assert item.values == {"word": 0x1234}


def test_status_word_block_decodes_seven_words():
    item = decode_item(0x040005FF, bytes(range(14)))
    assert item.values["word7"] == 0x0D0C


def test_daily_freeze_time_and_energy_for_n_days_back():
    at = decode_item(0x05060003, h("00 00 15 06 24"))
    energy = decode_item(0x05060103, h("00 10 00 00  00 01 00 00"))
    assert at.values["at"] == MeterTime(2024, 6, 15, 0, 0)
    assert [(r.quantity, r.value) for r in energy.readings] == [
        (Q.ENERGY_IMPORT, 10000),
        (Q.ENERGY_IMPORT_T1, 1000),
    ]


def test_relay_trip_record_decodes_time_operator_and_registers():
    data = h(
        "09 08 07 06 05 24"  # 2024-05-06 07:08:09
        " 78 56 34 12"  # operator 12345678
        " 00 10 00 00  00 00 00 00  01 00 00 00  00 00 00 00  00 00 00 00  00 00 00 00"
    )
    item = decode_item(0x1D000101, data)
    assert item.record == RelayEvent(
        at=MeterTime(2024, 5, 6, 7, 8, 9),
        operator="12345678",
        energy_import=10000,
        energy_export=0,
        reactive_q1=10,
        reactive_q2=0,
        reactive_q3=0,
        reactive_q4=0,
    )


def test_relay_close_count_and_power_failure_records():
    assert decode_item(0x1E000001, h("12 00 00")).values == {"count": 12}
    item = decode_item(0x03110001, h("00 00 08 06 05 24  30 15 08 06 05 24"))
    assert item.record == PowerFailure(
        start=MeterTime(2024, 5, 6, 8, 0, 0), end=MeterTime(2024, 5, 6, 8, 15, 30)
    )
    assert decode_item(0x03110000, h("07 00 00")).values == {"count": 7}


def test_never_used_event_record_decodes_as_unset_time():
    item = decode_item(0x03110005, bytes(12))
    assert isinstance(item.record, PowerFailure)
    assert item.record.start.is_unset


def test_every_di_in_the_table_round_trips_a_synthetic_example():
    # Complements the hand-checked examples above: no entry in the table is undecodable.
    for di, entry in TABLE.items():
        values: dict[str, int | str | MeterTime] = {}
        for field in entry.fields:
            if field.kind is Kind.NUMBER:
                negative = field.signed and field.div == 1
                values[field.name] = -7 * field.mul if negative else field.mul
            elif field.kind is Kind.TIME:
                values[field.name] = MeterTime(2024, 2, 29, 23, 59, 58, weekday=4)
            elif field.kind is Kind.BITS:
                values[field.name] = 0x0102
            else:
                values[field.name] = "0000ABCD"
        item = decode_item(di, encode_item(di, values))
        for name, value in values.items():
            got = item.values[name]
            if isinstance(value, MeterTime):
                assert isinstance(got, MeterTime)
                assert got.hour in (0, 23)
            else:
                assert got == value, (hex(di), name)


def test_non_bcd_nibble_from_the_meter_is_a_remote_bcd_error():
    with pytest.raises(BcdError):
        decode_item(0x00010000, h("FA 00 00 00"))
    with pytest.raises(BcdError):
        decode_time(h("00 0A 01 06 24"), "YYMMDDhhmm")


def test_month_thirteen_is_a_remote_error():
    with pytest.raises(BcdError):
        decode_time(h("00 00 01 13 24"), "YYMMDDhhmm")


def test_wrong_length_for_a_di_is_an_unexpected_reply():
    with pytest.raises(UnexpectedReply):
        decode_item(0x02010100, h("01 22 00"))


def test_unknown_di_is_a_local_error():
    with pytest.raises(LocalProtocolError):
        decode_item(0x7F7F7F7F, b"")


def test_value_too_large_for_its_field_is_a_local_error():
    with pytest.raises(LocalProtocolError):
        encode_item(0x02010100, {"voltage_a": 1_000_000_00})
    with pytest.raises(LocalProtocolError):
        encode_item(0x00010000, {"energy_import": 15})  # not a multiple of 10 Wh


def test_decode_number_fast_path_matches_decode_item():
    assert decode_number(0x00010000, h("78 56 34 12")) == 123456780


@given(st.integers(1, 6), st.data())
def test_bcd_round_trips_for_every_size(size: int, data: st.DataObject):
    signed = data.draw(st.booleans())
    limit = 8 * 10 ** (2 * size - 1) if signed else 10 ** (2 * size)
    value = data.draw(st.integers(-(limit - 1) if signed else 0, limit - 1))
    assert bcd_to_int(int_to_bcd(value, size, signed=signed), signed=signed) == value


@given(st.data())
def test_scaling_round_trips_for_every_single_number_di(data: st.DataObject):
    di = data.draw(
        st.sampled_from(
            [d for d, e in TABLE.items() if len(e.fields) == 1 and e.fields[0].kind is Kind.NUMBER]
        )
    )
    field = TABLE[di].fields[0]
    top = 10 ** (2 * field.size) if not field.signed else 8 * 10 ** (2 * field.size - 1)
    digits = data.draw(st.integers(-(top - 1) if field.signed else 0, top - 1))
    # contract values must be representable exactly: round the digits toward zero to a step
    digits = (abs(digits) // field.div * field.div) * (-1 if digits < 0 else 1)
    value = digits * field.mul // field.div
    assert decode_item(di, encode_item(di, {field.name: value})).values[field.name] == value


def test_the_documented_di_table_matches_the_code() -> None:
    from pathlib import Path

    from protocols.dlt645.di_table import markdown_table

    doc = (Path(__file__).resolve().parents[4] / "docs" / "protocols-dlt645.md").read_text()
    assert markdown_table() in doc, "docs/protocols-dlt645.md DI table is stale"
