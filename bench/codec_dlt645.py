"""DL/T 645 codec throughput: ours against the ``dlt645`` PyPI package (3.2.0), same run.

A realistic mix of meter read replies (energy total, energy block, voltage, voltage block,
current, active power), each with a 4-byte FE preamble. Measured:

* decode, frame only — bytes -> frame object (ours: FrameDecoder; baseline:
  DLT645Protocol.deserialize)
* decode, frame + values — also the numbers out (ours: parse_read_reply + decode_item to
  contract integers; baseline: bcd_to_float on each value field, as its client service does)
* encode — frame object -> bytes (ours: encode_frame; baseline: DLT645Protocol.build_frame)

Run: ``.venv/bin/python bench/codec_dlt645.py`` (about 20 s).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from dlt645.common.transform import bcd_to_float
from dlt645.protocol.protocol import DLT645Protocol

from protocols.contract.quantities import Quantity as Q
from protocols.dlt645 import (
    NEED_DATA,
    Frame,
    FrameDecoder,
    decode_item,
    encode_frame,
    encode_readings,
    parse_read_reply,
    read_reply,
)

ADDRESS = "000012345678"
MIX: list[tuple[int, dict[Q, int], str, int]] = [
    # DI, values, baseline format per field, field size
    (0x00010000, {Q.ENERGY_IMPORT: 123456780}, "XXXXXX.XX", 4),
    (
        0x0001FF00,
        {
            Q.ENERGY_IMPORT: 123456780,
            Q.ENERGY_IMPORT_T1: 10000,
            Q.ENERGY_IMPORT_T2: 50000,
            Q.ENERGY_IMPORT_T3: 60000,
            Q.ENERGY_IMPORT_T4: 3456780,
        },
        "XXXXXX.XX",
        4,
    ),
    (0x02010100, {Q.VOLTAGE_A: 220100}, "XXX.X", 2),
    (0x0201FF00, {Q.VOLTAGE_A: 220100, Q.VOLTAGE_B: 219900, Q.VOLTAGE_C: 230000}, "XXX.X", 2),
    (0x02020100, {Q.CURRENT_A: 5123}, "XXX.XXX", 3),
    (0x02030000, {Q.ACTIVE_POWER: 1235}, "XX.XXXX", 3),
]

FRAMES: list[Frame] = [
    read_reply(ADDRESS, di, encode_readings(di, values)) for di, values, _, _ in MIX
]
WIRES: list[bytes] = [encode_frame(f, 4) for f in FRAMES]
SPECS = [(fmt, size) for _, _, fmt, size in MIX]
BASE_ADDR = bytes.fromhex(ADDRESS)[::-1]


def ours_frames() -> int:
    decoder = FrameDecoder()
    n = 0
    for wire in WIRES:
        decoder.feed(wire)
        event = decoder.next_event()
        assert event is not NEED_DATA
        n += 1
    return n


def ours_values() -> int:
    decoder = FrameDecoder()
    n = 0
    for wire in WIRES:
        decoder.feed(wire)
        frame = decoder.next_event()
        assert isinstance(frame, Frame)
        reply = parse_read_reply(frame)
        n += len(decode_item(reply.di, reply.data).readings)
    return len(WIRES) if n else 0


def base_frames() -> int:
    for wire in WIRES:
        DLT645Protocol.deserialize(wire)
    return len(WIRES)


def base_values() -> int:
    for wire, (fmt, size) in zip(WIRES, SPECS, strict=True):
        frame = DLT645Protocol.deserialize(wire)
        assert frame is not None
        data = bytes(frame.data)
        for offset in range(4, len(data), size):
            bcd_to_float(data[offset : offset + size], fmt, "little")
    return len(WIRES)


def ours_encode() -> int:
    for frame in FRAMES:
        encode_frame(frame, 4)
    return len(FRAMES)


def base_encode() -> int:
    for frame in FRAMES:
        DLT645Protocol.build_frame(BASE_ADDR, frame.control, frame.data, 4)
    return len(FRAMES)


def rate(fn: Callable[[], int], seconds: float = 1.5) -> float:
    """Best of three runs of ``seconds`` each: frames per second."""
    best = 0.0
    for _ in range(3):
        count = 0
        start = time.perf_counter()
        deadline = start + seconds
        while (now := time.perf_counter()) < deadline:
            count += fn()
        best = max(best, count / (now - start))
    return best


def check_same_answers() -> None:
    """Both libraries must read the same frames the same way, or the race means nothing."""
    for wire, frame in zip(WIRES, FRAMES, strict=True):
        theirs = DLT645Protocol.deserialize(wire)
        assert theirs is not None
        assert bytes(theirs.data) == frame.data
        assert bytes(theirs.addr) == BASE_ADDR


def main() -> None:
    check_same_answers()
    print(f"mix: {len(WIRES)} read replies, {sum(map(len, WIRES))} bytes, FE x4 preamble each")
    rows = [
        ("decode, frame only", ours_frames, base_frames),
        ("decode, frame + values", ours_values, base_values),
        ("encode", ours_encode, base_encode),
    ]
    print(f"{'':26}{'meterline':>14}{'dlt645 3.2.0':>16}{'ratio':>9}")
    for label, ours, base in rows:
        a, b = rate(ours), rate(base)
        print(f"{label:26}{a:>12,.0f}/s{b:>14,.0f}/s{a / b:>8.1f}x")


if __name__ == "__main__":
    main()
