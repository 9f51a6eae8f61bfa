"""The client Connection pairs requests with answers by PIID, without I/O."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.dlt698 import (
    NEED_DATA,
    SERVER_RESPONSE,
    ActionResponseNormal,
    Answer,
    Connection,
    Frame,
    GetResponseNormal,
    LocalProtocolError,
    RemoteProtocolError,
    ResultNormal,
    SecurityResponse,
    UnexpectedReply,
    commands,
    decode_apdu,
    encode_apdu,
    encode_frame,
    keyed_mac,
    single,
)
from protocols.dlt698 import data as d
from protocols.dlt698.decoder import FrameDecoder
from protocols.dlt698.security import SecurityRequest, encode_security

METER = single("000039200933")
ENERGY = 0x00100200


def answer_to(wire: bytes, response_for: object, *, address: str = "000039200933") -> bytes:
    """The meter's side: decode our request, build ``response_for(request)`` as a frame."""
    decoder = FrameDecoder()
    decoder.feed(wire)
    frame = decoder.next_event()
    assert isinstance(frame, Frame)
    request = decode_apdu(frame.apdu)
    apdu = response_for(request)  # type: ignore[operator]
    return encode_frame(Frame(single(address), apdu, SERVER_RESPONSE))


def energy(request: object) -> bytes:
    return encode_apdu(
        GetResponseNormal(request.piid, ResultNormal(ENERGY, d.array([d.double_long_unsigned(5)])))  # type: ignore[attr-defined]
    )


def events(conn: Connection) -> list[object]:
    got: list[object] = []
    while True:
        try:
            event = conn.next_event()
        except RemoteProtocolError as exc:
            got.append(type(exc))
            continue
        if event is NEED_DATA:
            return got
        got.append(event)


def test_an_answer_is_paired_with_its_request() -> None:
    conn = Connection(METER)
    wire = conn.send(commands.get(ENERGY))
    conn.receive_data(answer_to(wire, energy))
    [event] = events(conn)
    assert isinstance(event, Answer)
    assert event.request.oad == ENERGY  # type: ignore[union-attr]
    assert isinstance(event.response, GetResponseNormal)
    assert conn.pending == []


def test_requests_get_distinct_piids_and_wrap_after_63() -> None:
    conn = Connection(METER)
    seqs = []
    for _ in range(64):
        conn.send(commands.get(ENERGY))
        seqs.append(conn.pending[-1].piid)
    assert sorted(seqs) == list(range(64))
    with pytest.raises(LocalProtocolError):
        conn.send(commands.get(ENERGY))


def test_a_late_answer_to_a_forgotten_request_is_not_taken_for_the_next_answer() -> None:
    conn = Connection(METER)
    first = conn.send(commands.get(ENERGY))
    conn.forget()  # the caller's timeout passed
    second = conn.send(commands.get(ENERGY))
    conn.receive_data(answer_to(first, energy) + answer_to(second, energy))
    got = events(conn)
    assert got[0] is UnexpectedReply
    assert isinstance(got[1], Answer)
    assert len(got) == 2


def test_our_echoed_request_is_skipped() -> None:
    conn = Connection(METER)
    wire = conn.send(commands.get(ENERGY))
    conn.receive_data(wire + answer_to(wire, energy))
    [event] = events(conn)
    assert isinstance(event, Answer)
    assert conn.echoes == 1


def test_an_answer_from_another_meter_or_for_another_oad_is_unexpected() -> None:
    conn = Connection(METER)
    wire = conn.send(commands.get(ENERGY))
    conn.receive_data(answer_to(wire, energy, address="000000000001"))
    assert events(conn) == [UnexpectedReply]

    def other_oad(request: object) -> bytes:
        return encode_apdu(GetResponseNormal(request.piid, ResultNormal(0x20000200, d.null())))  # type: ignore[attr-defined]

    conn.receive_data(answer_to(wire, other_oad))
    assert events(conn) == [UnexpectedReply]


def test_a_secured_request_carries_the_mac_and_opens_the_secured_answer() -> None:
    mac = keyed_mac(b"test key")
    conn = Connection(METER, mac=mac, verify=lambda apdu, m: mac(apdu).mac == m)
    wire = conn.send(commands.trip(), secure=True)

    def meter(request: object) -> bytes:
        assert isinstance(request, SecurityRequest)
        assert request.verification == mac(request.apdu)  # the MAC of the plaintext ACTION
        inner = decode_apdu(request.apdu)
        reply = encode_apdu(ActionResponseNormal(inner.piid, inner.omd, 0))  # type: ignore[union-attr]
        return encode_security(SecurityResponse(reply, mac=mac(reply).mac))

    conn.receive_data(answer_to(wire, meter))
    [event] = events(conn)
    assert isinstance(event, Answer)
    assert event.secured
    assert isinstance(event.response, ActionResponseNormal)


def test_a_security_refusal_is_an_answer_with_its_dar() -> None:
    conn = Connection(METER, mac=keyed_mac(b"k"))
    wire = conn.send(commands.trip(), secure=True)
    conn.receive_data(answer_to(wire, lambda _: encode_security(SecurityResponse(None, 22))))
    [event] = events(conn)
    assert isinstance(event, Answer)
    assert event.response is None
    assert event.dar == 22


def test_an_answer_whose_mac_does_not_verify_is_unexpected() -> None:
    mac = keyed_mac(b"right")
    conn = Connection(METER, mac=mac, verify=lambda apdu, m: mac(apdu).mac == m)
    wire = conn.send(commands.trip(), secure=True)

    def forged(request: object) -> bytes:
        inner = decode_apdu(request.apdu)  # type: ignore[attr-defined]
        reply = encode_apdu(ActionResponseNormal(inner.piid, inner.omd, 0))  # type: ignore[union-attr]
        return encode_security(SecurityResponse(reply, mac=keyed_mac(b"wrong")(reply).mac))

    conn.receive_data(answer_to(wire, forged))
    assert events(conn) == [UnexpectedReply]


def test_a_secured_request_needs_a_mac_function() -> None:
    with pytest.raises(LocalProtocolError):
        Connection(METER).send(commands.trip(), secure=True)


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=60), max_size=8))
def test_arbitrary_bytes_yield_only_answers_need_data_or_a_remote_error(
    chunks: list[bytes],
) -> None:
    conn = Connection(METER)
    conn.send(commands.get(ENERGY))
    for chunk in chunks:
        conn.receive_data(chunk)
        for _ in range(1000):
            try:
                event = conn.next_event()
            except RemoteProtocolError:
                continue
            if event is NEED_DATA:
                break
            assert isinstance(event, Answer)


def _reply(piid: int, payload: bytes) -> bytes:
    apdu = GetResponseNormal(piid, ResultNormal(ENERGY, d.octet_string(payload)))
    return encode_frame(Frame(METER, encode_apdu(apdu), SERVER_RESPONSE))


@settings(max_examples=100)
@given(st.binary(max_size=30))
def test_an_answer_with_the_piid_asked_is_paired_whatever_its_value(payload: bytes) -> None:
    conn = Connection(METER)
    conn.send(commands.get(ENERGY))  # a fresh connection numbers its first request 0
    conn.receive_data(_reply(0, payload))
    [event] = events(conn)
    assert isinstance(event, Answer)


@settings(max_examples=100)
@given(st.integers(1, 63), st.binary(max_size=30))
def test_an_answer_with_another_piid_is_unexpected(piid: int, payload: bytes) -> None:
    conn = Connection(METER)
    conn.send(commands.get(ENERGY))
    conn.receive_data(_reply(piid, payload))
    assert events(conn) == [UnexpectedReply]
    assert len(conn.pending) == 1  # still waiting for the real answer
