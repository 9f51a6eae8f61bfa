"""APDUs both ways, the object table's readings, and the decoder's failure mode on APDUs."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.contract import Quantity, RelayState
from protocols.dlt698 import (
    ActionNormal,
    ActionResponseNormal,
    BitString,
    DataType,
    DateTimeS,
    DecodeError,
    ErrorResponse,
    GetNormalList,
    GetRecord,
    GetResponseNormalList,
    GetResponseRecord,
    LocalProtocolError,
    MeterRefused,
    Reading,
    ResultNormal,
    ResultRecord,
    SecurityRequest,
    SecurityResponse,
    Selector1,
    Selector2,
    Selector9,
    SetNormal,
    SetResponseNormal,
    Sid,
    SidMac,
    commands,
    decode_apdu,
    encode_apdu,
    readings,
)
from protocols.dlt698 import data as d
from protocols.dlt698.objects import markdown_table, relay_state


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# (APDU, bytes): laid out by hand from the ASN.1 of the services, byte by byte in the comment.
HAND = [
    (
        GetNormalList(3, (0x00100200, 0x20000200)),
        # 05 GET-Request, 02 NormalList, PIID 03, 2 OADs, no time tag
        h("05 02 03 02 00 10 02 00 20 00 02 00 00"),
    ),
    (
        GetRecord(4, 0x50040200, Selector9(1), (0x20210200, 0x00100200)),
        # 05 03 PIID 04, OAD 50040200, RSD choice 9 last 1, RCSD of 2 CSDs (00 = OAD), no tag
        h("05 03 04 50 04 02 00 09 01 02 00 20 21 02 00 00 00 10 02 00 00"),
    ),
    (
        GetRecord(
            5,
            0x50040200,
            Selector2(
                0x20210200,
                d.date_time_s(DateTimeS(2024, 3, 1)),
                d.date_time_s(DateTimeS(2024, 3, 4)),
                d.null(),
            ),
            (0x20210200,),
        ),
        # RSD choice 2: OAD 20210200, from date_time_s 2024-03-01, to 2024-03-04, interval null
        h(
            "05 03 05 50 04 02 00 02 20 21 02 00 1C 07 E8 03 01 00 00 00 "
            "1C 07 E8 03 04 00 00 00 00 01 00 20 21 02 00 00"
        ),
    ),
    (
        SetNormal(6, 0x40000200, d.date_time_s(DateTimeS(2024, 3, 1, 12, 0, 5))),
        # 06 SET-Request, 01 Normal, PIID 06, OAD 40000200, date_time_s 2024-03-01 12:00:05
        h("06 01 06 40 00 02 00 1C 07 E8 03 01 0C 00 05 00"),
    ),
    (
        ActionNormal(
            7,
            0x80008200,
            d.array([d.structure([d.oad(0xF2050201), d.enumerated(1)])]),
        ),
        # 07 ACTION-Request, 01 Normal, PIID 07, OMD 8000 method 130 (82H) mode 0,
        # array of 1 structure of 2: relay OAD F2050201, enum 1 (直接合闸), no time tag
        h("07 01 07 80 00 82 00 01 01 02 02 51 F2 05 02 01 16 01 00"),
    ),
    (
        GetResponseNormalList(
            3,
            (
                ResultNormal(0x00100200, d.array([d.double_long_unsigned(12345)])),
                ResultNormal(0x20000200, None, 6),
            ),
        ),
        # 85 02 PIID 03, 2 results: 00100200 Data(array[dlu 12345]); 20000200 DAR 6
        # (对象不存在); no follow report, no time tag
        h("85 02 03 02 00 10 02 00 01 01 01 06 00 00 30 39 20 00 02 00 00 06 00 00"),
    ),
    (
        GetResponseRecord(
            4,
            ResultRecord(
                0x50040200,
                (0x20210200, 0x00100200),
                ((d.date_time_s(DateTimeS(2024, 3, 1)), d.array([d.double_long_unsigned(1)])),),
            ),
        ),
        # 85 03 PIID 04, OAD, RCSD (2 OADs), choice 1 rows, 1 row: date_time_s, array[dlu 1]
        h(
            "85 03 04 50 04 02 00 02 00 20 21 02 00 00 00 10 02 00 01 01 "
            "1C 07 E8 03 01 00 00 00 01 01 06 00 00 00 01 00 00"
        ),
    ),
    (
        SetResponseNormal(6, 0x40000200, 0),
        h("86 01 06 40 00 02 00 00 00 00"),
    ),
    (
        ActionResponseNormal(7, 0x80008100, 20),
        # 87 01 PIID 07, OMD 80008100, DAR 20 (安全认证不匹配), no data, no follow, no tag
        h("87 01 07 80 00 81 00 14 00 00 00"),
    ),
    # EE ERROR-Response, PIID-ACD 09, 异常类型 2 (服务不支持), then like every server APDU
    # the optional follow report and time tag, both absent
    (ErrorResponse(9, 2), h("EE 09 02 00 00")),
    (
        SecurityRequest(
            h("07 01 07 80 00 81 00 00 00"), SidMac(Sid(0x81000000, b""), h("01020304"))
        ),
        # 10 SECURITY-Request, 00 明文, octet-string of 9 bytes (the ACTION), 00 SID_MAC:
        # SID 81000000 with no additional data (00), MAC octet-string 4 bytes
        h("10 00 09 07 01 07 80 00 81 00 00 00 00 81 00 00 00 00 04 01 02 03 04"),
    ),
    (
        SecurityResponse(h("87 01 07 80 00 81 00 00 00 00 00"), mac=h("0A0B0C0D")),
        # 90 SECURITY-Response, 00 明文 of 11 bytes, 01 verification present, 00 MAC, 4 bytes
        h("90 00 0B 87 01 07 80 00 81 00 00 00 00 00 01 00 04 0A 0B 0C 0D"),
    ),
    (SecurityResponse(None, 20), h("90 02 14 00")),
    (
        GetRecord(8, 0x30110200, Selector9(1), (0x20220200, 0x201E0200, 0x20200200)),
        # 05 03 PIID 08, OAD 3011 attribute 2 (电能表掉电事件, the event record table), RSD
        # choice 9 last 1 (上1次), RCSD of 3 CSDs: 事件记录序号 2022, 事件发生时间 201E,
        # 事件结束时间 2020; no time tag
        h("05 03 08 30 11 02 00 09 01 03 00 20 22 02 00 00 20 1E 02 00 00 20 20 02 00 00"),
    ),
    (
        GetResponseRecord(
            8,
            ResultRecord(
                0x30110200,
                (0x20220200, 0x201E0200, 0x20200200),
                (
                    (
                        d.double_long_unsigned(5),
                        d.date_time_s(DateTimeS(2024, 6, 5, 8, 0, 0)),
                        d.date_time_s(DateTimeS(2024, 6, 5, 8, 21, 48)),
                    ),
                ),
            ),
        ),
        # 85 03 PIID 08, OAD 30110200, RCSD (3 OADs), choice 1 rows, 1 row: dlu 5 (06 00 00
        # 00 05), date_time_s 2024-06-05 08:00:00 (1C 07E8 06 05 08 00 00), date_time_s
        # 2024-06-05 08:21:48 (... 08 15 30); no follow report, no time tag
        h(
            "85 03 08 30 11 02 00 03 00 20 22 02 00 00 20 1E 02 00 00 20 20 02 00 01 01 "
            "06 00 00 00 05 1C 07 E8 06 05 08 00 00 1C 07 E8 06 05 08 15 30 00 00"
        ),
    ),
    (
        GetResponseRecord(
            9,
            ResultRecord(
                0x30110200,
                (0x20220200, 0x201E0200, 0x20200200),
                (
                    (
                        d.double_long_unsigned(6),
                        d.date_time_s(DateTimeS(2024, 6, 6, 23, 59, 59)),
                        d.null(),
                    ),
                ),
            ),
        ),
        # a power-down still lasting as the meter sees it: 事件结束时间 is null (00)
        h(
            "85 03 09 30 11 02 00 03 00 20 22 02 00 00 20 1E 02 00 00 20 20 02 00 01 01 "
            "06 00 00 00 06 1C 07 E8 06 06 17 3B 3B 00 00 00"
        ),
    ),
]


@pytest.mark.parametrize(("apdu", "wire"), HAND)
def test_a_hand_laid_apdu_encodes_and_decodes(apdu: object, wire: bytes) -> None:
    assert encode_apdu(apdu) == wire  # type: ignore[arg-type]
    assert decode_apdu(wire) == apdu


def test_builders_make_the_requests_the_standard_describes() -> None:
    assert encode_apdu(commands.trip()) == h(
        "07 01 00 80 00 81 00 01 01 02 04 51 F2 05 02 01 11 00 12 00 00 03 00 00"
    )
    assert commands.close(command=commands.CloseCommand.PERMIT).value == d.array(
        [d.structure([d.oad(0xF2050201), d.enumerated(0)])]
    )
    frozen = commands.get_frozen(2, [0x00100200])
    assert frozen.rcsd == (0x20210200, 0x00100200)
    assert frozen.rsd == Selector9(2)


def test_the_power_down_event_request_and_its_row_read_as_start_and_end() -> None:
    request = commands.get_event()
    assert encode_apdu(request) == h(
        "05 03 00 30 11 02 00 09 01 03 00 20 22 02 00 00 20 1E 02 00 00 20 20 02 00 00"
    )
    closed, lasting = (decode_apdu(w) for a, w in HAND if getattr(a, "piid", None) in (8, 9)
                       and isinstance(a, GetResponseRecord))  # fmt: skip
    assert isinstance(closed, GetResponseRecord)
    assert isinstance(lasting, GetResponseRecord)
    assert commands.event_of(closed.result) == commands.EventRecord(
        5, DateTimeS(2024, 6, 5, 8, 0, 0), DateTimeS(2024, 6, 5, 8, 21, 48)
    )
    assert commands.event_of(lasting.result) == commands.EventRecord(
        6, DateTimeS(2024, 6, 6, 23, 59, 59), None
    )


def test_a_meter_without_power_down_records_answers_no_row_and_a_refusal_raises() -> None:
    columns = commands.EVENT_COLUMNS
    assert commands.event_of(ResultRecord(0x30110200, columns, ())) is None
    never = (d.double_long_unsigned(0), d.null(), d.null())
    assert commands.event_of(ResultRecord(0x30110200, columns, (never,))) is None
    with pytest.raises(MeterRefused):
        commands.event_of(ResultRecord(0x30110200, columns, None, 6))
    wrong = (d.double_long_unsigned(1), d.unsigned(3), d.null())
    with pytest.raises(DecodeError, match="event start"):
        commands.event_of(ResultRecord(0x30110200, columns, (wrong,)))
    with pytest.raises(DecodeError, match="lacks column"):
        commands.event_of(ResultRecord(0x30110200, columns[:2], ((never[0], never[1]),)))


def test_a_selector1_request_round_trips() -> None:
    request = GetRecord(
        1, 0x50040200, Selector1(0x20210200, d.date_time_s(DateTimeS(2024, 1, 1))), ()
    )
    assert decode_apdu(encode_apdu(request)) == request


@settings(max_examples=500)
@given(st.binary(max_size=80))
def test_arbitrary_apdu_bytes_decode_or_raise_a_decode_error(raw: bytes) -> None:
    try:
        apdu = decode_apdu(raw)
    except DecodeError:
        return
    assert decode_apdu(encode_apdu(apdu)) == apdu


@settings(max_examples=300)
@given(st.sampled_from([w for _, w in HAND]), st.data())
def test_damaged_apdus_decode_or_raise_a_decode_error(wire: bytes, data: st.DataObject) -> None:
    at = data.draw(st.integers(0, len(wire) - 1))
    damaged = data.draw(
        st.sampled_from(
            [wire[:at], wire[:at] + bytes((data.draw(st.integers(0, 255)),)) + wire[at + 1 :]]
        )
    )
    with contextlib.suppress(DecodeError):  # anything else escaping fails the test
        decode_apdu(damaged)


def test_energy_arrives_as_an_array_and_becomes_integer_wh() -> None:
    value = d.array([d.double_long_unsigned(v) for v in (1234567, 100, 200, 300, 400, 500)])
    got = readings(0x00100200, value)
    assert got == [
        Reading(Quantity.ENERGY_IMPORT, 12_345_670),  # 12345.67 kWh = 12 345 670 Wh
        Reading(Quantity.ENERGY_IMPORT_T1, 1000),
        Reading(Quantity.ENERGY_IMPORT_T2, 2000),
        Reading(Quantity.ENERGY_IMPORT_T3, 3000),
        Reading(Quantity.ENERGY_IMPORT_T4, 4000),
    ]  # the fifth tariff has no contract quantity and is left out


def test_one_element_of_an_array_reads_as_its_quantity() -> None:
    assert readings(0x00100203, d.double_long_unsigned(7)) == [
        Reading(Quantity.ENERGY_IMPORT_T2, 70)
    ]
    assert readings(0x20000202, d.long_unsigned(2305)) == [Reading(Quantity.VOLTAGE_B, 230_500)]


def test_instantaneous_values_scale_to_the_contract_units() -> None:
    assert readings(0x20010200, d.array([d.double_long(-1234)])) == [
        Reading(Quantity.CURRENT_A, -1234)
    ]
    power = readings(0x20040200, d.array([d.double_long(v) for v in (12345, -15, 5, 4)]))
    # 0.1 W steps to W, half away from zero: 1234.5 -> 1235, -1.5 -> -2, 0.5 -> 1, 0.4 -> 0
    assert [r.value for r in power] == [1235, -2, 1, 0]
    assert readings(0x200F0200, d.long_unsigned(5002)) == [Reading(Quantity.FREQUENCY, 50_020)]
    assert readings(0x200A0200, d.array([d.long(-987)])) == [Reading(Quantity.POWER_FACTOR, -987)]


def test_status_word_3_gives_the_relay_state_as_dlt645_does() -> None:
    words = [BitString(16, 0)] * 7
    open_and_commanded = [*words[:2], BitString.from_bits(16, [4, 6]), *words[3:]]
    value = d.array([d.bit_string(w) for w in open_and_commanded])
    assert readings(0x20140200, value) == [
        Reading(Quantity.RELAY_STATE, int(RelayState.DISCONNECTED))
    ]
    assert relay_state(BitString.from_bits(16, [4])) is RelayState.READY_FOR_RECONNECTION
    assert relay_state(BitString(16, 0)) is RelayState.CONNECTED


def test_a_value_of_the_wrong_type_is_the_meters_fault() -> None:
    with pytest.raises(DecodeError):
        readings(0x00100200, d.double_long_unsigned(1))
    with pytest.raises(DecodeError):
        readings(0x00100200, d.array([d.long(1)]))
    with pytest.raises(LocalProtocolError):
        readings(0x12340200, d.null())


def test_a_refusal_is_a_meter_refused_with_its_dar() -> None:
    with pytest.raises(MeterRefused, match="OBJECT_UNAVAILABLE"):
        commands.value_of(ResultNormal(0x20000200, None, 6))
    with pytest.raises(MeterRefused, match="SECURITY_UNMATCHED"):
        commands.check_done(ActionResponseNormal(1, 0x80008100, 20))


def test_the_docs_show_the_object_table_as_the_code_has_it() -> None:
    docs = Path(__file__).parents[4] / "docs" / "protocols-dlt698.md"
    assert markdown_table() in docs.read_text(encoding="utf-8")


def test_every_table_entry_names_a_data_type_and_scales_exactly() -> None:
    from protocols.dlt698 import TABLE

    for attribute in TABLE.values():
        assert attribute.type in DataType
        assert attribute.mul == 1 or attribute.div == 1
