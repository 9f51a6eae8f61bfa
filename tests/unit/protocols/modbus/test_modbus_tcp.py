"""Modbus TCP frames (protocols/modbus/tcp.py): requests out, replies checked against them."""

from __future__ import annotations

import pytest

from protocols.modbus import Function
from protocols.modbus.tcp import (
    ExceptionReply,
    Frame,
    FrameError,
    MbapDecoder,
    ReplyError,
    encode_read,
    encode_write_coil,
    encode_write_registers,
    read_reply_data,
    unpack_bits,
    write_reply_ok,
)


def test_a_read_request_is_the_mbap_header_and_the_pdu() -> None:
    frame = encode_read(0x1234, 7, Function.INPUT, 0x0100, 12)
    assert frame == bytes.fromhex("1234 0000 0006 07 04 0100 000c")


def test_a_read_beyond_the_protocol_limits_is_refused_before_sending() -> None:
    with pytest.raises(ValueError, match="cannot read 126"):
        encode_read(1, 1, Function.HOLDING, 0, 126)
    with pytest.raises(ValueError, match="cannot read 2"):
        encode_read(1, 1, Function.HOLDING, 0xFFFF, 2)


def test_frames_are_cut_from_a_stream_in_any_pieces() -> None:
    stream = bytes.fromhex("0001 0000 0007 01 04 04 00010002") + bytes.fromhex(
        "0002 0000 0003 01 84 02"
    )
    decoder = MbapDecoder()
    frames: list[Frame] = []
    for i in range(len(stream)):
        decoder.feed(stream[i : i + 1])
        frames += decoder.frames()
    assert frames == [
        Frame(1, 1, bytes.fromhex("04 04 00010002")),
        Frame(2, 1, bytes.fromhex("84 02")),
    ]
    assert decoder.buffered == 0


@pytest.mark.parametrize("header", ["0001 0001 0006 01", "0001 0000 0001 01", "0001 0000 00ff 01"])
def test_a_header_that_is_not_modbus_tcp_breaks_the_stream(header: str) -> None:
    decoder = MbapDecoder()
    decoder.feed(bytes.fromhex(header))
    with pytest.raises(FrameError):
        decoder.frames()


def test_a_read_reply_gives_its_data_bytes() -> None:
    assert read_reply_data(Function.INPUT, 2, bytes.fromhex("04 04 00010002")) == bytes.fromhex(
        "00010002"
    )
    assert unpack_bits(read_reply_data(Function.COIL, 10, bytes.fromhex("01 02 0502")), 10) == [
        1, 0, 1, 0, 0, 0, 0, 0, 0, 1,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("pdu", "error"),
    [
        ("04 04 0001", "carries 2 data bytes"),  # short
        ("04 06 000100020003", "carries 6 data bytes"),  # more than asked
        ("04 04 00010002ff", "carries 5 data bytes"),  # byte count disagrees with the frame
        ("03 04 00010002", "has function 3"),
        ("", "has function None"),
    ],
)
def test_a_read_reply_that_does_not_answer_the_request_is_refused(pdu: str, error: str) -> None:
    with pytest.raises(ReplyError, match=error):
        read_reply_data(Function.INPUT, 2, bytes.fromhex(pdu))


def test_an_exception_response_carries_its_code() -> None:
    with pytest.raises(ExceptionReply, match=r"exception 2 \(illegal data address\)") as caught:
        read_reply_data(Function.HOLDING, 2, bytes.fromhex("83 02"))
    assert caught.value.code == 2


def test_a_write_reply_must_echo_the_request() -> None:
    coil = encode_write_coil(3, 1, 0x10, True)
    write_reply_ok(coil, coil[7:])
    registers = encode_write_registers(4, 1, 0x20, [1, 2])
    write_reply_ok(registers, registers[7:12])
    with pytest.raises(ReplyError):
        write_reply_ok(coil, bytes.fromhex("05 0010 0000"))
    with pytest.raises(ExceptionReply):
        write_reply_ok(registers, bytes.fromhex("90 03"))
