"""Cross-check with the ``dlt698`` package (1.0.1, a C++ implementation with Python bindings):
what our codec encodes, it reads as the same frame, and re-encodes to the same bytes.

Not a source of truth (the golden vectors come from the standard and field captures), but an
independent implementation: a disagreement means one of the two misreads the standard.
"""

from __future__ import annotations

import dlt698.codec as theirs
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.dlt698 import (
    Frame,
    SecurityRequest,
    SecurityResponse,
    ServerAddress,
    commands,
    decode_apdu,
    encode_apdu,
    encode_data,
    encode_frame,
)
from protocols.dlt698 import data as d
from protocols.dlt698.frame import AddressType
from tests.unit.protocols.dlt698.test_dlt698_apdu import HAND as APDUS
from tests.unit.protocols.dlt698.test_dlt698_frames import GOLDEN


def test_the_package_reads_our_golden_frames_as_we_do() -> None:
    for frame, wire, _source in GOLDEN:
        parsed = theirs.decode_frame(wire)
        assert parsed.payload == frame.apdu
        assert parsed.control == frame.control
        assert parsed.client == frame.client
        assert parsed.server.bytes[::-1].hex().upper() == frame.server.address
        assert int(parsed.server.type) == int(frame.server.kind)


@settings(max_examples=200)
@given(
    st.binary(min_size=1, max_size=6).map(lambda b: b.hex().upper()),
    st.sampled_from([AddressType.SINGLE, AddressType.GROUP]),
    st.integers(0, 3),
    st.integers(0, 255),
    st.binary(min_size=1, max_size=200),
)
def test_the_package_reads_every_frame_we_encode(
    address: str, kind: AddressType, logic: int, client: int, apdu: bytes
) -> None:
    frame = Frame(ServerAddress(address, kind, logic), apdu, 0x43, client)
    wire = encode_frame(frame)
    parsed = theirs.decode_frame(wire)
    assert parsed.payload == apdu
    assert parsed.server.bytes[::-1].hex().upper() == address
    assert parsed.server.logical == logic
    assert theirs.encode_frame(parsed) == wire


_SHARED = st.recursive(
    st.one_of(
        st.integers(0, 2**32 - 1).map(d.double_long_unsigned),
        st.integers(-(2**31), 2**31 - 1).map(d.double_long),
        st.integers(0, 2**16 - 1).map(d.long_unsigned),
        st.integers(-(2**15), 2**15 - 1).map(d.long),
        st.integers(0, 255).map(d.unsigned),
        st.integers(0, 2**64 - 1).map(d.long64_unsigned),
        st.binary(max_size=40).map(d.octet_string),
        st.booleans().map(d.boolean),
        st.integers(0, 2**32 - 1).map(d.oad),
        st.integers(0, 40).flatmap(
            lambda n: st.integers(0, 2**n - 1).map(lambda v: d.bit_string(d.BitString(n, v)))
        ),
        st.builds(
            d.DateTimeS,
            st.integers(2000, 2099),
            st.integers(1, 12),
            st.integers(1, 28),
            st.integers(0, 23),
            st.integers(0, 59),
            st.integers(0, 59),
        ).map(d.date_time_s),
        st.just(d.null()),
    ),
    lambda inner: (
        st.lists(inner, max_size=5).map(d.array) | st.lists(inner, max_size=5).map(d.structure)
    ),
    max_leaves=20,
)


@settings(max_examples=300)
@given(_SHARED)
def test_the_package_re_encodes_our_data_to_the_same_bytes(value: d.Data) -> None:
    raw = encode_data(value)
    assert theirs.encode_data(theirs.decode_data(raw)) == raw


def test_the_package_reads_our_apdus_and_writes_them_back_unchanged() -> None:
    for apdu, wire in APDUS:
        if isinstance(apdu, SecurityRequest | SecurityResponse):
            assert theirs.encode_security(theirs.decode_security(wire)) == wire
        else:
            assert theirs.encode_apdu(theirs.decode_apdu(wire)) == wire
    for request in (commands.trip(), commands.close(), commands.get_frozen(3, [0x00100200])):
        wire = encode_apdu(request)
        assert theirs.encode_apdu(theirs.decode_apdu(wire)) == wire
        assert decode_apdu(wire) == request
