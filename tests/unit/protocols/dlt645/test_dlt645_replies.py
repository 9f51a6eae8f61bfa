"""Request builders, reply parsers, and abnormal replies decoded to named errors."""

from __future__ import annotations

import pytest

from protocols.dlt645 import (
    ErrorFlag,
    Frame,
    Function,
    LocalProtocolError,
    MeterRefused,
    MeterTime,
    Password,
    RelayAction,
    SecurityErrorFlag,
    UnexpectedReply,
    abnormal_reply,
    ack_reply,
    broadcast_time,
    change_baud,
    change_password,
    encode_frame,
    freeze,
    parse_ack,
    parse_address_reply,
    parse_read_reply,
    read_address_request,
    read_followup,
    read_reply,
    read_request,
    relay_control,
    write_request,
)

METER = "000000000001"


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def test_read_request_sends_the_di_low_byte_first():
    assert read_request(METER, 0x00010000) == Frame(METER, 0x11, h("00 00 01 00"))


def test_read_followup_appends_the_sequence_byte():
    assert read_followup(METER, 0x05060101, 2) == Frame(METER, 0x12, h("01 01 06 05 02"))


def test_read_address_request_goes_to_the_wildcard_address():
    assert encode_frame(read_address_request(), 0) == h("68 AA AA AA AA AA AA 68 13 00 DF 16")


def test_broadcast_time_carries_ssmmhhddmmyy_to_the_broadcast_address():
    frame = broadcast_time(MeterTime(2024, 1, 2, 3, 4, 5))
    assert frame == Frame("999999999999", 0x08, h("05 04 03 02 01 24"))


def test_relay_control_lays_out_password_operator_action_and_validity():
    frame = relay_control(
        METER, RelayAction.TRIP, Password(2, "123456"), "00000001", MeterTime(2024, 1, 2, 3, 4, 5)
    )
    assert frame.control == 0x1C
    assert frame.data == h("02 56 34 12  01 00 00 00  1A 00  05 04 03 02 01 24")


@pytest.mark.parametrize(
    ("action", "code"),
    [
        (RelayAction.TRIP, 0x1A),
        (RelayAction.CLOSE_PERMITTED, 0x1B),
        (RelayAction.CLOSE_DIRECT, 0x1C),
        (RelayAction.ALARM, 0x2A),
        (RelayAction.ALARM_CLEAR, 0x2B),
        (RelayAction.KEEP_POWER, 0x3A),
        (RelayAction.KEEP_POWER_CLEAR, 0x3B),
    ],
)
def test_relay_actions_have_their_standard_codes(action: RelayAction, code: int):
    frame = relay_control(METER, action, Password(2), "00000000", MeterTime(2024, 1, 1))
    assert frame.data[8] == code


def test_write_request_puts_di_password_operator_before_data():
    frame = write_request(METER, 0x04000102, h("00 30 12"), Password(4, "000000"), "12345678")
    assert frame.data == h("02 01 00 04  04 00 00 00  78 56 34 12  00 30 12")


def test_freeze_sends_99_for_every_unset_field():
    assert freeze(METER, hour=0, minute=0).data == h("00 00 99 99")
    assert freeze(METER).data == h("99 99 99 99")


def test_change_baud_and_password_frames():
    assert change_baud(METER, 9600).data == h("20")
    frame = change_password(METER, Password(2, "000000"), Password(2, "123456"))
    assert frame.data == h("03 0C 00 04  02 00 00 00  02 56 34 12")


def test_builders_reject_bad_arguments_as_local_errors():
    with pytest.raises(LocalProtocolError):
        change_baud(METER, 115200)
    with pytest.raises(LocalProtocolError):
        relay_control(METER, RelayAction.TRIP, Password(2), "XYZ", MeterTime(2024, 1, 1))
    with pytest.raises(LocalProtocolError):
        broadcast_time(MeterTime(2024, 13, 1))


def test_read_reply_parses_to_di_data_and_item():
    reply = parse_read_reply(read_reply(METER, 0x00010000, h("78 56 34 12")), 0x00010000)
    assert (reply.di, reply.data, reply.more) == (0x00010000, h("78 56 34 12"), False)
    assert reply.item().readings[0].value == 123456780


def test_read_reply_with_more_frames_bit_says_so():
    reply = parse_read_reply(read_reply(METER, 0x0001FF00, h("00 00 00 00"), more=True))
    assert reply.more


def test_followup_reply_splits_off_the_sequence_byte():
    reply = parse_read_reply(Frame(METER, 0x92, h("00 FF 01 00  00 00 00 00  02")))
    assert (reply.seq, reply.data) == (2, h("00 00 00 00"))


def test_reply_for_another_di_is_unexpected():
    with pytest.raises(UnexpectedReply):
        parse_read_reply(read_reply(METER, 0x00020000, h("00 00 00 00")), 0x00010000)


def test_our_own_request_echoed_back_is_not_a_reply():
    with pytest.raises(UnexpectedReply):
        parse_read_reply(read_request(METER, 0x00010000))


@pytest.mark.parametrize(
    ("err", "names"),
    [
        (0x01, {"OTHER"}),
        (0x02, {"NO_DATA"}),
        (0x04, {"UNAUTHORISED"}),
        (0x08, {"BAUD_UNCHANGEABLE"}),
        (0x10, {"YEAR_ZONES_EXCEEDED"}),
        (0x20, {"DAY_PERIODS_EXCEEDED"}),
        (0x40, {"TARIFFS_EXCEEDED"}),
        (0x06, {"NO_DATA", "UNAUTHORISED"}),
    ],
)
def test_abnormal_read_reply_raises_meter_refused_with_named_errors(err: int, names: set[str]):
    with pytest.raises(MeterRefused) as caught:
        parse_read_reply(Frame(METER, 0xD1, bytes((err,))))
    assert caught.value.names == names
    assert caught.value.function == Function.READ_DATA
    assert caught.value.raw == err


def test_relay_command_refused_for_password_is_named_unauthorised():
    frame = abnormal_reply(METER, Function.RELAY_CONTROL, ErrorFlag.UNAUTHORISED)
    assert frame == Frame(METER, 0xDC, h("04"))
    with pytest.raises(MeterRefused) as caught:
        parse_ack(frame, Function.RELAY_CONTROL)
    assert caught.value.names == {"UNAUTHORISED"}


def test_relay_command_refused_with_a_two_byte_security_word_decodes_it():
    frame = Frame(METER, 0xDC, h("08 00"))
    with pytest.raises(MeterRefused) as caught:
        parse_ack(frame, Function.RELAY_CONTROL)
    assert caught.value.flags == SecurityErrorFlag.AUTHENTICATION_FAILED


def test_relay_acknowledgement_is_accepted():
    parse_ack(ack_reply(METER, Function.RELAY_CONTROL), Function.RELAY_CONTROL)
    assert ack_reply(METER, Function.RELAY_CONTROL).control == 0x9C


def test_address_reply_gives_the_twelve_digits():
    frame = Frame("123456789012", 0x93, h("12 90 78 56 34 12"))
    assert parse_address_reply(frame) == "123456789012"
