"""The codec's fast paths (remembered headers, request shapes and single-number DIs) must decide
exactly as the general code they short-cut: same frames, errors, counters, bytes and values."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.dlt645 import (
    NEED_DATA,
    TABLE,
    BadLength,
    Dlt645Error,
    Frame,
    FrameDecoder,
    FrameError,
    LocalProtocolError,
    encode_frame,
    parse_read_reply,
    read_reply,
)
from protocols.dlt645 import decoder as decoder_module
from protocols.dlt645 import frame as frame_module
from protocols.dlt645.di_table import Kind, Record
from protocols.dlt645.items import _decode_general, decode_item


def forget_everything() -> None:
    for known in decoder_module._KNOWN:
        known.clear()
    frame_module._PREFIXES.clear()


def run(
    stream: bytes, chunk_size: int, max_data_length: int = 200
) -> tuple[list[object], int, int, int]:
    """Events (frames, error class names), frames counted, bytes skipped, bytes left held."""
    decoder = FrameDecoder(max_data_length)
    events: list[object] = []
    for i in range(0, len(stream), chunk_size):
        decoder.feed(stream[i : i + chunk_size])
        while True:
            try:
                event = decoder.next_event()
            except FrameError as exc:
                events.append(type(exc).__name__)
                continue
            if event is NEED_DATA:
                break
            events.append(event)
    return events, decoder.frames, decoder.skipped_bytes, decoder.buffered


addresses = st.sampled_from(["000012345678", "000000000001", "AAAAAAAAAAAA", "123456789012"])
frames = st.builds(
    Frame, addresses, st.sampled_from([0x91, 0xB1, 0xD1, 0x11]), st.binary(max_size=24)
)


@st.composite
def damaged_streams(draw: st.DrawFn) -> bytes:
    """Frames from a few meters (so headers repeat), noise between them, some bytes flipped."""
    stream = bytearray()
    for frame in draw(st.lists(frames, min_size=1, max_size=8)):
        stream += draw(st.binary(max_size=6)) + encode_frame(frame, draw(st.integers(0, 4)))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(stream) - 1))
        stream[at] ^= draw(st.integers(1, 255))
    return bytes(stream)


@settings(max_examples=200)
@given(damaged_streams(), st.integers(1, 48))
def test_a_decoder_that_remembers_headers_decides_as_one_that_has_never_seen_them(
    stream: bytes, chunk_size: int
):
    forget_everything()
    first = run(stream, chunk_size)  # every header new: the general hunt decides
    second = run(stream, chunk_size)  # the same headers again: the fast path is taken
    assert second == first


def test_a_header_learned_under_the_default_limit_is_still_too_long_for_a_smaller_limit():
    wire = encode_frame(Frame("000012345678", 0x91, bytes(100)))
    assert run(wire, len(wire))[0] == [Frame("000012345678", 0x91, bytes(100))]
    events, frames, _, _ = run(wire, len(wire), max_data_length=50)
    assert events[0] == BadLength.__name__
    assert frames == 0


def test_a_bytearray_fed_and_then_reused_by_the_caller_does_not_change_the_frame():
    frame = Frame("000012345678", 0x91, b"\x00\x00\x01\x00\x78\x56\x34\x12")
    chunk = bytearray(encode_frame(frame))
    decoder = FrameDecoder()
    decoder.feed(chunk)
    chunk[:] = bytes(len(chunk))  # the serial driver reuses its read buffer
    assert decoder.next_event() == frame


def test_a_frame_split_across_feeds_after_a_decoded_one_is_joined_in_order():
    one = encode_frame(Frame("000012345678", 0x91, b"\x01\x02"))
    two = encode_frame(Frame("000012345678", 0x91, b"\x03\x04"))
    decoder = FrameDecoder()
    decoder.feed(one + two[:7])
    assert decoder.next_event() == Frame("000012345678", 0x91, b"\x01\x02")
    assert decoder.next_event() is NEED_DATA
    decoder.feed(memoryview(two[7:]))
    assert decoder.next_event() == Frame("000012345678", 0x91, b"\x03\x04")
    assert decoder.buffered == 0


@settings(max_examples=200)
@given(frames, st.integers(0, 4))
def test_encoding_a_request_shape_again_gives_the_bytes_the_checked_encoder_gives(
    frame: Frame, preamble: int
):
    forget_everything()
    first = encode_frame(frame, preamble)  # checked, and the shape remembered
    again = encode_frame(Frame(frame.address, frame.control, frame.data[::-1]), preamble)
    body = first[preamble:-2]
    assert first[-2:] == bytes((sum(body) & 0xFF, 0x16))
    forget_everything()
    assert again == encode_frame(Frame(frame.address, frame.control, frame.data[::-1]), preamble)


@pytest.mark.parametrize(
    "bad",
    [
        Frame("000012345678", 0x100, b""),
        Frame("000012345678", 0x11, bytes(201)),
        Frame("00001234567G", 0x11, b""),
    ],
)
def test_a_remembered_request_shape_does_not_let_a_malformed_frame_through(bad: Frame):
    encode_frame(Frame("000012345678", 0x11, b""))
    encode_frame(Frame("000012345678", 0x11, bytes(200)))
    with pytest.raises(LocalProtocolError):
        encode_frame(bad)


def test_a_remembered_request_shape_still_refuses_a_preamble_of_five():
    encode_frame(Frame("000012345678", 0x11, b""), 4)
    with pytest.raises(LocalProtocolError):
        encode_frame(Frame("000012345678", 0x11, b""), 5)


SINGLE_NUMBERS = sorted(
    di
    for di, item in TABLE.items()
    if len(item.fields) == 1 and item.fields[0].kind is Kind.NUMBER and item.record is Record.NONE
)


def outcome(decode: object, di: int, data: bytes) -> object:
    try:
        return decode(di, data)  # type: ignore[operator]
    except Dlt645Error as exc:
        return (type(exc), str(exc))


@settings(max_examples=300)
@given(st.sampled_from(SINGLE_NUMBERS), st.data())
def test_single_number_fast_path_decodes_as_the_general_path(di: int, data: st.DataObject):
    size = TABLE[di].fields[0].size
    raw = data.draw(
        st.binary(min_size=size - 1, max_size=size + 1) | st.binary(min_size=size, max_size=size)
    )
    assert outcome(decode_item, di, raw) == outcome(_decode_general, di, raw)


def test_a_read_reply_longer_than_any_frame_still_splits_its_di():
    frame = read_reply("000012345678", 0x00010000, bytes(300))
    reply = parse_read_reply(frame, 0x00010000)
    assert (reply.di, reply.data, reply.more, reply.seq) == (0x00010000, bytes(300), False, None)
