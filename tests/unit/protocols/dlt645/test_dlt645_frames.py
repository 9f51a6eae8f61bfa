"""Golden vectors through the encoder and the stream decoder, and the decoder's guarantees."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.dlt645 import (
    MAX_FRAME_LENGTH,
    NEED_DATA,
    BadAddress,
    BadChecksum,
    BadLength,
    Frame,
    FrameDecoder,
    FrameError,
    LocalProtocolError,
    MissingEnd,
    encode_frame,
)


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# (frame, wire bytes without preamble, where the vector comes from)
GOLDEN: list[tuple[Frame, bytes, str]] = [
    (
        Frame("AAAAAAAAAAAA", 0x11, h("00000100")),
        h("68 AA AA AA AA AA AA 68 11 04 33 33 34 33 AE 16"),
        # The read of 00010000 (import active energy, total) to the wildcard address that the
        # standard's usage notes and most vendor manuals print. Checksum by hand:
        # 68+68 = D0; AA*6 = 3FC; 11+04 = 15; 33+33+34+33 = CD; D0+3FC+15+CD = 5AE -> AE.
        "DL/T 645-2007 worked example, read 00010000 with wildcard address",
    ),
    (
        Frame("AAAAAAAAAAAA", 0x13, b""),
        h("68 AA AA AA AA AA AA 68 13 00 DF 16"),
        # 68+68 = D0; AA*6 = 3FC; 13+00 = 13; D0+3FC+13 = 4DF -> DF.
        "DL/T 645-2007 read-address request (13H), as printed in vendor manuals",
    ),
    (
        Frame("000000000001", 0x91, h("00 00 01 00 78 56 34 12")),
        h("68 01 00 00 00 00 00 68 91 08 33 33 34 33 AB 89 67 45 17 16"),
        # Hand-made reply: 123456.78 kWh from meter 000000000001 (address low byte first).
        # 68+01+68+91+08 = 16A; DI 33+33+34+33 = CD; value AB+89+67+45 = 1E0;
        # 16A+CD+1E0 = 417 -> 17.
        "hand-checked: read reply, import energy 123456.78 kWh",
    ),
    (
        Frame("000000000001", 0x91, h("00 01 01 02 01 22")),
        h("68 01 00 00 00 00 00 68 91 06 33 34 34 35 34 55 C1 16"),
        "hand-checked: read reply, phase A voltage 220.1 V (XXX.X, 01 22 low byte first)",
    ),
    (
        Frame("999999999999", 0x08, h("05 04 03 02 01 24")),
        h("68 99 99 99 99 99 99 68 08 06 38 37 36 35 34 57 D9 16"),
        "hand-checked: broadcast time 2024-01-02 03:04:05, data ssmmhhDDMMYY",
    ),
    (
        Frame("000000000001", 0xD1, h("02")),
        h("68 01 00 00 00 00 00 68 D1 01 35 D8 16"),
        "hand-checked: abnormal read reply, ERR=02 (no data requested)",
    ),
    (
        Frame("123456789012", 0x9C, b""),
        h("68 12 90 78 56 34 12 68 9C 00 22 16"),
        # 68+68 = D0; 12+90+78+56+34+12 = 1B6; 9C+00 = 9C; D0+1B6+9C = 322 -> 22.
        "hand-checked: relay-control acknowledgement, address byte order 12 90 78 56 34 12",
    ),
]  # fmt: skip
IDS = [note for _, _, note in GOLDEN]


def drain(decoder: FrameDecoder) -> list[Frame | str]:
    """All events until NEED_DATA; FrameErrors appear as their class names."""
    out: list[Frame | str] = []
    while True:
        try:
            event = decoder.next_event()
        except FrameError as exc:
            out.append(type(exc).__name__)
            continue
        if event is NEED_DATA:
            return out
        assert isinstance(event, Frame)
        out.append(event)


@pytest.mark.parametrize(("frame", "wire", "note"), GOLDEN, ids=IDS)
@pytest.mark.parametrize("preamble", [0, 1, 2, 3, 4])
def test_golden_vector_encodes_to_its_bytes(frame: Frame, wire: bytes, note: str, preamble: int):
    assert encode_frame(frame, preamble) == b"\xfe" * preamble + wire


@pytest.mark.parametrize(("frame", "wire", "note"), GOLDEN, ids=IDS)
@pytest.mark.parametrize("preamble", [0, 4])
def test_golden_vector_decodes_whole(frame: Frame, wire: bytes, note: str, preamble: int):
    decoder = FrameDecoder()
    decoder.feed(b"\xfe" * preamble + wire)
    assert drain(decoder) == [frame]
    assert decoder.buffered == 0


@pytest.mark.parametrize(("frame", "wire", "note"), GOLDEN, ids=IDS)
def test_golden_vector_decodes_byte_by_byte(frame: Frame, wire: bytes, note: str):
    decoder = FrameDecoder()
    events: list[Frame | str] = []
    for byte in b"\xfe\xfe\xfe\xfe" + wire:
        decoder.feed(bytes((byte,)))
        events += drain(decoder)
    assert events == [frame]


@pytest.mark.parametrize(("frame", "wire", "note"), GOLDEN, ids=IDS)
def test_golden_vector_decodes_with_trailing_bytes_kept_for_the_next_frame(
    frame: Frame, wire: bytes, note: str
):
    decoder = FrameDecoder()
    decoder.feed(wire + b"\xfe\xfe" + wire[:5])
    assert drain(decoder) == [frame]
    assert decoder.buffered == 5
    decoder.feed(wire[5:])
    assert drain(decoder) == [frame]


def test_noise_before_a_frame_is_skipped_and_counted():
    decoder = FrameDecoder()
    decoder.feed(b"\x00\xff\x12\xfe\xfe" + GOLDEN[0][1])
    assert drain(decoder) == [GOLDEN[0][0]]
    assert decoder.skipped_bytes == 5


def test_bad_checksum_raises_and_the_next_frame_is_still_decoded():
    bad = bytearray(GOLDEN[2][1])
    bad[-2] ^= 0x01
    decoder = FrameDecoder()
    decoder.feed(bytes(bad) + GOLDEN[0][1])
    assert drain(decoder) == ["BadChecksum", GOLDEN[0][0]]


def test_missing_end_byte_raises_missing_end_then_resynchronises():
    bad = bytearray(GOLDEN[2][1])
    bad[-1] = 0x00
    decoder = FrameDecoder()
    decoder.feed(bytes(bad) + GOLDEN[3][1])
    assert drain(decoder) == ["MissingEnd", GOLDEN[3][0]]


def test_length_above_200_raises_bad_length_without_waiting_for_the_bytes():
    decoder = FrameDecoder()
    decoder.feed(h("68 01 00 00 00 00 00 68 91 C9"))
    with pytest.raises(BadLength):
        decoder.next_event()


def test_non_bcd_address_raises_bad_address():
    body = h("68 0A 00 00 00 00 00 68 91 00")
    decoder = FrameDecoder()
    decoder.feed(body + bytes((sum(body) & 0xFF, 0x16)))
    with pytest.raises(BadAddress):
        decoder.next_event()


def test_a_good_frame_inside_a_bad_candidate_is_found():
    # A stray header announces 30 data bytes; a real frame starts inside that span.
    decoder = FrameDecoder()
    decoder.feed(h("68 01 00 00 00 00 00 68 91 1E") + GOLDEN[0][1] + b"\x00" * 30)
    events = drain(decoder)
    assert GOLDEN[0][0] in events
    assert events[0] in {"BadChecksum", "MissingEnd"}


def test_abandon_partial_releases_a_frame_stuck_behind_a_stray_header():
    decoder = FrameDecoder()
    decoder.feed(h("68 01 00 00 00 00 00 68 91 C8") + GOLDEN[0][1])
    assert drain(decoder) == []  # waiting for 200 data bytes that will never come
    assert decoder.abandon_partial() is True
    assert drain(decoder) == [GOLDEN[0][0]]


def test_decoder_errors_are_frame_errors_of_distinct_kinds():
    for cls in (BadChecksum, MissingEnd, BadLength, BadAddress):
        assert issubclass(cls, FrameError)


def test_encoder_refuses_more_than_200_data_bytes_as_a_local_error():
    with pytest.raises(LocalProtocolError):
        encode_frame(Frame("000000000001", 0x91, b"\x00" * 201))


@pytest.mark.parametrize(
    "address", ["00000000001", "00000000000G", "0000000000AB", "1234567890123"]
)
def test_encoder_refuses_malformed_addresses(address: str):
    with pytest.raises(LocalProtocolError):
        encode_frame(Frame(address, 0x11, b""))


def test_encoder_refuses_a_preamble_of_five():
    with pytest.raises(LocalProtocolError):
        encode_frame(GOLDEN[0][0], 5)


# --- hypothesis -----------------------------------------------------------------------------

addresses = st.text("0123456789", min_size=12, max_size=12)
frames = st.builds(Frame, addresses, st.integers(0, 255), st.binary(max_size=200))
noise = st.binary(max_size=40).map(lambda b: b.replace(b"\x68", b"\x00"))


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=300), max_size=8))
def test_arbitrary_bytes_give_only_frames_need_data_or_frame_errors(chunks: list[bytes]):
    decoder = FrameDecoder()
    for chunk in chunks:
        decoder.feed(chunk)
        for _ in range(len(chunk) + 2):
            try:
                event = decoder.next_event()
            except FrameError:
                continue
            if event is NEED_DATA:
                assert decoder.buffered < MAX_FRAME_LENGTH
                assert decoder.buffered <= decoder.max_buffered
                break
            assert isinstance(event, Frame)
        else:
            pytest.fail("next_event() never returned NEED_DATA")


@settings(max_examples=200)
@given(st.lists(st.tuples(noise, frames, st.integers(0, 4)), max_size=6), st.integers(1, 64))
def test_valid_frames_embedded_in_noise_are_all_recovered(
    parts: list[tuple[bytes, Frame, int]], chunk_size: int
):
    stream = b"".join(n + encode_frame(f, p) for n, f, p in parts)
    decoder = FrameDecoder()
    got: list[Frame | str] = []
    for i in range(0, len(stream), chunk_size):
        decoder.feed(stream[i : i + chunk_size])
        got += drain(decoder)
    assert got == [f for _, f, _ in parts]


@given(frames, st.integers(0, 4))
def test_any_frame_round_trips_through_encoder_and_decoder(frame: Frame, preamble: int):
    decoder = FrameDecoder()
    decoder.feed(encode_frame(frame, preamble))
    assert drain(decoder) == [frame]
