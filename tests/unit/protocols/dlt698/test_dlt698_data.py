"""The A-XDR Data encoding: hand-checked values, round trips and the decoder's failure mode."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.dlt698 import (
    BitString,
    Data,
    DataType,
    DateTimeS,
    DecodeError,
    LocalProtocolError,
    Road,
    ScalerUnit,
    Ti,
    decode_data,
    encode_data,
)
from protocols.dlt698 import data as d
from protocols.dlt698.data import MAX_DEPTH, Date, DateTime, Time


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# (value, bytes): worked out by hand from the type definitions (tag, then big-endian value).
HAND: list[tuple[Data, bytes]] = [
    (d.null(), h("00")),
    (d.boolean(True), h("03 01")),
    (d.double_long_unsigned(12345), h("06 00 00 30 39")),  # 123.45 kWh at scaler -2
    (d.double_long(-2), h("05 FF FF FF FE")),
    (d.long_unsigned(2201), h("12 08 99")),  # 220.1 V at scaler -1
    (d.long(-950), h("10 FC 4A")),
    (d.unsigned(255), h("11 FF")),
    (d.integer(-1), h("0F FF")),
    (d.long64(-(2**63)), h("14 80 00 00 00 00 00 00 00")),
    (d.long64_unsigned(2**64 - 1), h("15 FF FF FF FF FF FF FF FF")),
    (d.enumerated(1), h("16 01")),
    (d.octet_string(h("00 00 39 20 09 33")), h("09 06 00 00 39 20 09 33")),
    (d.visible_string("F205"), h("0A 04 46 32 30 35")),
    (d.date_time_s(DateTimeS(2024, 3, 1, 0, 0, 0)), h("1C 07 E8 03 01 00 00 00")),
    (d.oad(0x00100200), h("51 00 10 02 00")),
    (d.omd(0x80008100), h("53 80 00 81 00")),
    (d.scaler_unit(-2, 33), h("59 FE 21")),
    (Data(DataType.TI, Ti(3, 1)), h("54 03 00 01")),
    (d.road(Road(0x50040200, (0x20210200, 0x00100200))), h(
        "52 50 04 02 00 02 20 21 02 00 00 10 02 00"
    )),
    # bit-string(16) with bits 4 and 6 set: bit 0 is the first bit sent (MSB of the first byte).
    (d.bit_string(BitString.from_bits(16, [4, 6])), h("04 10 0A 00")),
    (d.bit_string(BitString(3, 0b101)), h("04 03 A0")),  # padded to the byte with zeros
    (d.array([d.unsigned(1), d.structure([d.null()])]), h("01 02 11 01 02 01 00")),
    # A-XDR length of 200: 81 C8 (one length byte follows).
    (d.octet_string(b"\x00" * 200), h("09 81 C8") + b"\x00" * 200),
]  # fmt: skip


@pytest.mark.parametrize(("value", "wire"), HAND)
def test_a_hand_checked_value_encodes_and_decodes(value: Data, wire: bytes) -> None:
    assert encode_data(value) == wire
    assert decode_data(wire) == value


def test_a_bit_string_numbers_its_bits_from_the_first_sent() -> None:
    word = BitString.from_bits(16, [4, 6])
    assert word.bit(4)
    assert word.bit(6)
    assert not word.bit(0)
    assert not word.bit(15)


def _ints(tag: DataType, low: int, high: int) -> st.SearchStrategy[Data]:
    return st.integers(low, high).map(lambda v: Data(tag, v))


_leaf = st.one_of(
    st.just(d.null()),
    st.booleans().map(d.boolean),
    _ints(DataType.DOUBLE_LONG, -(2**31), 2**31 - 1),
    _ints(DataType.DOUBLE_LONG_UNSIGNED, 0, 2**32 - 1),
    _ints(DataType.INTEGER, -128, 127),
    _ints(DataType.LONG, -(2**15), 2**15 - 1),
    _ints(DataType.UNSIGNED, 0, 255),
    _ints(DataType.LONG_UNSIGNED, 0, 2**16 - 1),
    _ints(DataType.LONG64, -(2**63), 2**63 - 1),
    _ints(DataType.LONG64_UNSIGNED, 0, 2**64 - 1),
    _ints(DataType.ENUM, 0, 255),
    _ints(DataType.OI, 0, 2**16 - 1),
    _ints(DataType.OAD, 0, 2**32 - 1),
    _ints(DataType.OMD, 0, 2**32 - 1),
    st.binary(max_size=300).map(d.octet_string),
    st.text(st.characters(max_codepoint=255), max_size=40).map(d.visible_string),
    st.text(max_size=20).map(lambda s: Data(DataType.UTF8_STRING, s)),
    st.floats(allow_nan=False, width=32).map(lambda f: Data(DataType.FLOAT32, f)),
    st.floats(allow_nan=False).map(lambda f: Data(DataType.FLOAT64, f)),
    st.integers(0, 40).flatmap(
        lambda n: st.integers(0, 2**n - 1).map(lambda v: d.bit_string(BitString(n, v)))
    ),
    st.builds(DateTimeS, st.integers(0, 65535), *[st.integers(0, 255)] * 5).map(d.date_time_s),
    st.builds(Date, st.integers(0, 65535), *[st.integers(0, 255)] * 3).map(
        lambda v: Data(DataType.DATE, v)
    ),
    st.builds(Time, *[st.integers(0, 255)] * 3).map(lambda v: Data(DataType.TIME, v)),
    st.builds(
        DateTime, st.integers(0, 65535), *[st.integers(0, 255)] * 6, st.integers(0, 65535)
    ).map(lambda v: Data(DataType.DATE_TIME, v)),
    st.builds(Ti, st.integers(0, 255), st.integers(0, 65535)).map(lambda v: Data(DataType.TI, v)),
    st.builds(ScalerUnit, st.integers(-128, 127), st.integers(0, 255)).map(
        lambda v: Data(DataType.SCALER_UNIT, v)
    ),
    st.builds(
        Road, st.integers(0, 2**32 - 1), st.lists(st.integers(0, 2**32 - 1), max_size=4).map(tuple)
    ).map(d.road),
)
DATA = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6).map(d.array), st.lists(inner, max_size=6).map(d.structure)
    ),
    max_leaves=30,
)


@settings(max_examples=400)
@given(DATA)
def test_every_data_value_round_trips(value: Data) -> None:
    assert decode_data(encode_data(value)) == value


@settings(max_examples=400)
@given(st.binary(max_size=120))
def test_arbitrary_bytes_decode_to_data_or_a_decode_error(raw: bytes) -> None:
    try:
        value = decode_data(raw)
    except DecodeError:
        return
    assert isinstance(value, Data)
    encode_data(value)  # whatever decodes can be sent back: decoding never builds a bad value


def test_a_length_running_past_the_end_is_a_decode_error_not_an_allocation() -> None:
    with pytest.raises(DecodeError):
        decode_data(h("09 84 7F FF FF FF 00"))  # an octet-string claiming 2 GB
    with pytest.raises(DecodeError):
        decode_data(h("01 84 7F FF FF FF 00"))  # an array claiming 2G items


def test_nesting_deeper_than_the_limit_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="deeper"):
        decode_data(b"\x01\x01" * (MAX_DEPTH + 2) + b"\x00")


def test_unknown_tags_and_trailing_bytes_are_decode_errors() -> None:
    with pytest.raises(DecodeError, match="unknown"):
        decode_data(h("07"))
    with pytest.raises(DecodeError, match="after"):
        decode_data(h("11 01 00"))


def test_a_value_that_does_not_fit_its_type_is_our_error() -> None:
    with pytest.raises(LocalProtocolError):
        encode_data(d.unsigned(256))
    with pytest.raises(LocalProtocolError):
        encode_data(d.double_long_unsigned(-1))
    with pytest.raises(LocalProtocolError):
        encode_data(Data(DataType.OCTET_STRING, "text"))
    with pytest.raises(LocalProtocolError):
        encode_data(d.bit_string(BitString(3, 8)))
