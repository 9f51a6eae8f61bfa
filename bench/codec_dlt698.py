"""DL/T 698.45 codec throughput: ours against the ``dlt698`` PyPI package (1.0.1), same run.

The baseline is a C++17 library with Python bindings (pybind11): every call crosses into native
code, so this race is pure Python against C++, on the same bytes. A check before the race
proves both read the same address, control byte, APDU and values from them.

Input: a realistic mix of meter answers, each with a 4-byte FE preamble as meters send them:
GET-Response-Normal of 00100200 (import energy, total and 4 tariffs), 20000200 (voltage),
20010200 (current) and 20040200 (active power), a GET-Response-NormalList of the three
instantaneous ones, and a GET-Response-Record of one daily frozen row (5004).

Rows (answers per CPU second, and ours / baseline):

* decode, frame — bytes -> a frame (address, control, APDU bytes). Ours: one long-lived
  ``FrameDecoder`` per line, ``feed(answer)`` then ``next_event()``. Baseline: one long-lived
  ``FrameStreamDecoder`` per line, ``feed(answer)`` (it returns the frames).
* decode, frame + APDU + values — also the APDU parsed and the numbers out. Ours:
  ``decode_apdu`` and ``readings`` (contract integers: Wh, mV, mA, W). Baseline: ``decode_apdu``
  and ``engineering_values`` per attribute (raw integer + scaler and unit, its equivalent).
* encode — a GET-Request-NormalList APDU object -> frame bytes with 4 FE. Ours:
  ``encode_apdu`` + ``encode_frame``; baseline: ``encode_apdu`` + ``encode_frame`` on its
  decoded request object.

Timing interleaves the two sides in short runs of process CPU time (the machine is shared) and
reports the best of each and the median and range of the paired ratios.

Run: ``.venv/bin/python bench/codec_dlt698.py`` (about 20 s).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import dlt698._native as native
import dlt698.codec as theirs

from protocols.dlt698 import (
    NEED_DATA,
    SERVER_RESPONSE,
    DateTimeS,
    Frame,
    FrameDecoder,
    GetNormalList,
    GetResponseNormal,
    GetResponseNormalList,
    GetResponseRecord,
    ResultNormal,
    ResultRecord,
    decode_apdu,
    encode_apdu,
    encode_frame,
    readings,
    single,
)
from protocols.dlt698 import data as d

ADDRESS = single("000039200933")
PREAMBLE = b"\xfe" * 4

_INSTANT = [
    ResultNormal(0x20000200, d.array([d.long_unsigned(v) for v in (2201, 2198, 2210)])),
    ResultNormal(0x20010200, d.array([d.double_long(v) for v in (5123, 4987, 5210)])),
    ResultNormal(0x20040200, d.array([d.double_long(v) for v in (33456, 11023, 10987, 11446)])),
]
_ENERGY = ResultNormal(
    0x00100200,
    d.array([d.double_long_unsigned(v) for v in (1234567, 123456, 456789, 345678, 308644)]),
)
APDUS = [
    GetResponseNormal(1, _ENERGY),
    *(GetResponseNormal(2 + i, r) for i, r in enumerate(_INSTANT)),
    GetResponseNormalList(7, tuple(_INSTANT)),
    GetResponseRecord(
        8,
        ResultRecord(
            0x50040200,
            (0x20210200, 0x00100200),
            ((d.date_time_s(DateTimeS(2024, 3, 1)), _ENERGY.value),),  # type: ignore[arg-type]
        ),
    ),
]
WIRES = [PREAMBLE + encode_frame(Frame(ADDRESS, encode_apdu(a), SERVER_RESPONSE)) for a in APDUS]
REQUEST = GetNormalList(9, (0x00100200, 0x20000200, 0x20010200, 0x20040200))
THEIR_REQUEST = theirs.decode_apdu(encode_apdu(REQUEST))
THEIR_SERVER = theirs.decode_frame(WIRES[0][4:]).server


def ours_frames() -> int:
    decoder = FrameDecoder()
    for wire in WIRES:
        decoder.feed(wire)
        decoder.next_event()
    return len(WIRES)


def base_frames() -> int:
    decoder = theirs.FrameStreamDecoder()
    for wire in WIRES:
        decoder.feed(wire)
    return len(WIRES)


def _ours_results(apdu: object) -> list[tuple[int, object]]:
    if isinstance(apdu, GetResponseNormal):
        return [(apdu.result.oad, apdu.result.value)]
    if isinstance(apdu, GetResponseNormalList):
        return [(r.oad, r.value) for r in apdu.results]
    assert isinstance(apdu, GetResponseRecord)
    rows = apdu.result.rows or ()
    return [(c, v) for row in rows for c, v in zip(apdu.result.rcsd[1:], row[1:], strict=True)]  # type: ignore[misc]


def ours_values() -> int:
    decoder = FrameDecoder()
    count = 0
    for wire in WIRES:
        decoder.feed(wire)
        frame = decoder.next_event()
        assert frame is not NEED_DATA
        for oad, value in _ours_results(decode_apdu(frame.apdu)):  # type: ignore[union-attr]
            count += len(readings(oad, value))  # type: ignore[arg-type]
    return len(WIRES) if count else 0


def _base_results(apdu: object) -> list[tuple[object, object]]:
    if isinstance(apdu, native.GetResponse):
        return [(a.attribute, a.result) for a in apdu.attributes]
    rows = []
    for record in apdu.records:  # type: ignore[attr-defined]
        for row in record.result:  # the rows (or a DAR)
            rows.extend(zip(record.columns[1:], row[1:], strict=True))
    return rows


def base_values() -> int:
    decoder = theirs.FrameStreamDecoder()
    count = 0
    for wire in WIRES:
        for frame in decoder.feed(wire):
            for oad, value in _base_results(theirs.decode_apdu(frame.payload)):
                count += len(native.engineering_values(oad, value))
    return len(WIRES) if count else 0


def ours_encode() -> int:
    encode_frame(Frame(ADDRESS, encode_apdu(REQUEST)), preamble=4)
    return 1


def base_encode() -> int:
    payload = theirs.encode_apdu(THEIR_REQUEST)
    PREAMBLE + theirs.encode_frame(theirs.Frame(server=THEIR_SERVER, control=0x43, payload=payload))
    return 1


def check_same_answers() -> None:
    """Both libraries must read the same frames the same way, or the race means nothing."""
    decoder = FrameDecoder()
    base = theirs.FrameStreamDecoder()
    for wire, apdu in zip(WIRES, APDUS, strict=True):
        decoder.feed(wire)
        ours = decoder.next_event()
        [their] = base.feed(wire)
        assert isinstance(ours, Frame)
        assert their.payload == ours.apdu == encode_apdu(apdu)
        assert their.control == ours.control
        assert their.server.bytes[::-1].hex().upper() == ours.server.address
        our_values = [
            r.value for o, v in _ours_results(decode_apdu(ours.apdu)) for r in readings(o, v)
        ]  # type: ignore[arg-type]
        raw = [
            n.raw
            for o, v in _base_results(theirs.decode_apdu(their.payload))
            for n in native.engineering_values(o, v)
        ]
        assert our_values, apdu
        assert len(raw) >= len(our_values)  # theirs also keeps elements with no contract quantity
    ours_request = encode_frame(Frame(ADDRESS, encode_apdu(REQUEST), 0x43), preamble=4)
    their_request = PREAMBLE + theirs.encode_frame(
        theirs.Frame(server=THEIR_SERVER, control=0x43, payload=theirs.encode_apdu(THEIR_REQUEST))
    )
    assert ours_request == their_request


def rate(fn: Callable[[], int], seconds: float) -> float:
    count = 0
    start = time.process_time()
    deadline = start + seconds
    while (now := time.process_time()) < deadline:
        count += fn()
    return count / (now - start)


def race(
    ours: Callable[[], int], base: Callable[[], int], reps: int = 12, seconds: float = 0.2
) -> tuple[float, float, list[float]]:
    best_ours = best_base = 0.0
    ratios: list[float] = []
    for rep in range(reps):
        if rep % 2:
            b, a = rate(base, seconds), rate(ours, seconds)
        else:
            a, b = rate(ours, seconds), rate(base, seconds)
        best_ours, best_base = max(best_ours, a), max(best_base, b)
        ratios.append(a / b)
    return best_ours, best_base, sorted(ratios)


def main() -> None:
    check_same_answers()
    print(f"mix: {len(WIRES)} meter answers, {sum(map(len, WIRES))} bytes, FE x4 preamble each")
    print("timing: 12 alternating runs of 0.2 s CPU per side; best of each side and their ratio,")
    print("then the median and range of the 12 paired ratios")
    print(f"{'':34}{'meterline':>13}{'dlt698 1.0.1':>15}{'ratio':>8}{'median':>8}   (range)")
    rows = [
        ("decode, frame", ours_frames, base_frames),
        ("decode, frame + APDU + values", ours_values, base_values),
        ("encode, GET list request", ours_encode, base_encode),
    ]
    for label, ours, base in rows:
        a, b, ratios = race(ours, base)
        median = (ratios[len(ratios) // 2 - 1] + ratios[len(ratios) // 2]) / 2
        spread = f"({ratios[0]:.2f}-{ratios[-1]:.2f})"
        print(f"{label:34}{a:>11,.0f}/s{b:>13,.0f}/s{a / b:>7.2f}x{median:>7.2f}x   {spread}")


if __name__ == "__main__":
    main()
