"""Application data units (APDU): GET, SET and ACTION requests and their responses.

A client APDU ends with an optional time tag (时间标签: 00 absent, 01 + date_time_s + TI), a
server APDU with an optional follow report (跟随上报信息域) and an optional time tag. The
services implemented, with their tag and choice bytes::

    05 01 GetRequestNormal      PIID OAD                      85 01 GetResponseNormal
    05 02 GetRequestNormalList  PIID SEQUENCE OF OAD          85 02 GetResponseNormalList
    05 03 GetRequestRecord      PIID OAD RSD RCSD             85 03 GetResponseRecord
    06 01 SetRequestNormal      PIID OAD Data                 86 01 SetResponseNormal
    07 01 ActionRequestNormal   PIID OMD Data                 87 01 ActionResponseNormal
                                                              EE    ERROR-Response

PIID (服务序号-优先级) is bit 7 priority and bits 0–5 a sequence number 0–63; the server echoes
it as PIID-ACD (bit 6: the server asks to be polled). The security wrapper (10H / 90H) is in
:mod:`protocols.dlt698.security`, the record selectors in :mod:`protocols.dlt698.records`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, Union

import msgspec

from protocols.dlt698.axdr import (
    decode_data_at,
    decode_length,
    decode_oad,
    decode_rcsd,
    encode_data,
    encode_length,
    encode_rcsd,
)
from protocols.dlt698.data import Csd, Data, TimeTag
from protocols.dlt698.errors import DecodeError, LocalProtocolError
from protocols.dlt698.records import (
    ResultRecord,
    Rsd,
    decode_result_record,
    decode_rsd,
    encode_result_record,
    encode_rsd,
)
from protocols.dlt698.security import (
    SECURITY_REQUEST,
    SECURITY_RESPONSE,
    SecurityRequest,
    SecurityResponse,
    decode_security,
    encode_security,
)

PRIORITY = 0x80  # PIID bit 7: high-priority service
ACD = 0x40  # PIID-ACD bit 6: the server has something to report
SEQUENCE_MASK = 0x3F


class Service(enum.IntEnum):
    LINK_REQUEST = 1
    CONNECT_REQUEST = 2
    RELEASE_REQUEST = 3
    GET_REQUEST = 5
    SET_REQUEST = 6
    ACTION_REQUEST = 7
    REPORT_RESPONSE = 8
    PROXY_REQUEST = 9
    SECURITY_REQUEST = 16
    LINK_RESPONSE = 129
    CONNECT_RESPONSE = 130
    RELEASE_RESPONSE = 131
    RELEASE_NOTIFICATION = 132
    GET_RESPONSE = 133
    SET_RESPONSE = 134
    ACTION_RESPONSE = 135
    REPORT_NOTIFICATION = 136
    PROXY_RESPONSE = 137
    SECURITY_RESPONSE = 144
    ERROR_RESPONSE = 238


class ErrorKind(enum.IntEnum):
    """异常类型 of ERROR-Response."""

    APDU_UNPARSABLE = 1  # APDU 无法解析
    SERVICE_UNSUPPORTED = 2  # 服务不支持
    OTHER = 255


# --- requests --------------------------------------------------------------------------------


class GetNormal(msgspec.Struct, frozen=True, gc=False):
    piid: int
    oad: int
    time_tag: TimeTag | None = None


class GetNormalList(msgspec.Struct, frozen=True, gc=False):
    piid: int
    oads: tuple[int, ...]
    time_tag: TimeTag | None = None


class GetRecord(msgspec.Struct, frozen=True, gc=False):
    piid: int
    oad: int
    rsd: Rsd
    rcsd: tuple[Csd, ...]
    time_tag: TimeTag | None = None


class SetNormal(msgspec.Struct, frozen=True, gc=False):
    piid: int
    oad: int
    value: Data
    time_tag: TimeTag | None = None


class ActionNormal(msgspec.Struct, frozen=True, gc=False):
    piid: int
    omd: int
    value: Data
    time_tag: TimeTag | None = None


Request = Union[GetNormal, GetNormalList, GetRecord, SetNormal, ActionNormal]  # noqa: UP007

# --- responses -------------------------------------------------------------------------------


class ResultNormal(msgspec.Struct, frozen=True, gc=False):
    """A-ResultNormal: an OAD and either its Data or the DAR that says why not."""

    oad: int
    value: Data | None
    dar: int = 0


FollowItem = Union[ResultNormal, ResultRecord]  # noqa: UP007


class GetResponseNormal(msgspec.Struct, frozen=True, gc=False):
    piid: int
    result: ResultNormal
    follow: tuple[FollowItem, ...] = ()
    time_tag: TimeTag | None = None


class GetResponseNormalList(msgspec.Struct, frozen=True, gc=False):
    piid: int
    results: tuple[ResultNormal, ...]
    follow: tuple[FollowItem, ...] = ()
    time_tag: TimeTag | None = None


class GetResponseRecord(msgspec.Struct, frozen=True, gc=False):
    piid: int
    result: ResultRecord
    follow: tuple[FollowItem, ...] = ()
    time_tag: TimeTag | None = None


class SetResponseNormal(msgspec.Struct, frozen=True, gc=False):
    piid: int
    oad: int
    dar: int
    follow: tuple[FollowItem, ...] = ()
    time_tag: TimeTag | None = None


class ActionResponseNormal(msgspec.Struct, frozen=True, gc=False):
    piid: int
    omd: int
    dar: int
    value: Data | None = None
    follow: tuple[FollowItem, ...] = ()
    time_tag: TimeTag | None = None


class ErrorResponse(msgspec.Struct, frozen=True, gc=False):
    piid: int
    kind: int
    follow: tuple[FollowItem, ...] = ()
    time_tag: TimeTag | None = None


Response = Union[  # noqa: UP007
    GetResponseNormal, GetResponseNormalList, GetResponseRecord, SetResponseNormal,
    ActionResponseNormal, ErrorResponse,
]  # fmt: skip
Apdu = Union[Request, Response, SecurityRequest, SecurityResponse]  # noqa: UP007

# What each request is answered by: (tag, choice) of the response.
ANSWERS: dict[type[Request], tuple[int, int]] = {
    GetNormal: (Service.GET_RESPONSE, 1),
    GetNormalList: (Service.GET_RESPONSE, 2),
    GetRecord: (Service.GET_RESPONSE, 3),
    SetNormal: (Service.SET_RESPONSE, 1),
    ActionNormal: (Service.ACTION_RESPONSE, 1),
}


def sequence(piid: int) -> int:
    return piid & SEQUENCE_MASK


# --- encoding --------------------------------------------------------------------------------


def _byte(value: int, what: str) -> bytes:
    if not 0 <= value <= 0xFF:
        raise LocalProtocolError(f"{what} {value} is not a byte")
    return bytes((value,))


def _oad(value: int) -> bytes:
    if not 0 <= value <= 0xFFFFFFFF:
        raise LocalProtocolError(f"OAD/OMD {value:#x} is not 4 bytes")
    return value.to_bytes(4, "big")


def _optional_time_tag(tag: TimeTag | None) -> bytes:
    return b"\x00" if tag is None else b"\x01" + tag.to_wire()


def _result_normal(result: ResultNormal) -> bytes:
    head = _oad(result.oad)
    if result.value is None:
        return head + b"\x00" + _byte(result.dar, "DAR")
    return head + b"\x01" + encode_data(result.value)


def _follow(items: tuple[FollowItem, ...]) -> bytes:
    if not items:
        return b"\x00"
    if all(isinstance(i, ResultNormal) for i in items):
        return b"\x01\x01" + encode_length(len(items)) + b"".join(_result_normal(i) for i in items)  # type: ignore[arg-type]
    if all(isinstance(i, ResultRecord) for i in items):
        return (
            b"\x01\x02"
            + encode_length(len(items))
            + b"".join(
                encode_result_record(i)  # type: ignore[arg-type]
                for i in items
            )
        )
    raise LocalProtocolError("a follow report holds normal results or record results, not both")


def _tail(follow: tuple[FollowItem, ...], tag: TimeTag | None) -> bytes:
    return _follow(follow) + _optional_time_tag(tag)


def encode_apdu(apdu: Apdu) -> bytes:
    """The APDU's bytes (service tag first)."""
    for cls in type(apdu).__mro__:  # a subclass is encoded as its base, as isinstance would
        encode = _APDU_ENCODERS.get(cls)
        if encode is not None:
            return encode(apdu)
    raise LocalProtocolError(f"cannot encode {type(apdu).__name__}")


def _encode_get_normal(a: GetNormal) -> bytes:
    return b"\x05\x01" + _byte(a.piid, "PIID") + _oad(a.oad) + _optional_time_tag(a.time_tag)


def _encode_get_normal_list(a: GetNormalList) -> bytes:
    body = encode_length(len(a.oads)) + b"".join(map(_oad, a.oads))
    return b"\x05\x02" + _byte(a.piid, "PIID") + body + _optional_time_tag(a.time_tag)


def _encode_get_record(a: GetRecord) -> bytes:
    body = _oad(a.oad) + encode_rsd(a.rsd) + encode_rcsd(a.rcsd)
    return b"\x05\x03" + _byte(a.piid, "PIID") + body + _optional_time_tag(a.time_tag)


def _encode_set_normal(a: SetNormal) -> bytes:
    body = _oad(a.oad) + encode_data(a.value)
    return b"\x06\x01" + _byte(a.piid, "PIID") + body + _optional_time_tag(a.time_tag)


def _encode_action_normal(a: ActionNormal) -> bytes:
    body = _oad(a.omd) + encode_data(a.value)
    return b"\x07\x01" + _byte(a.piid, "PIID") + body + _optional_time_tag(a.time_tag)


def _encode_get_response_normal(a: GetResponseNormal) -> bytes:
    body = _result_normal(a.result)
    return b"\x85\x01" + _byte(a.piid, "PIID") + body + _tail(a.follow, a.time_tag)


def _encode_get_response_normal_list(a: GetResponseNormalList) -> bytes:
    body = encode_length(len(a.results)) + b"".join(map(_result_normal, a.results))
    return b"\x85\x02" + _byte(a.piid, "PIID") + body + _tail(a.follow, a.time_tag)


def _encode_get_response_record(a: GetResponseRecord) -> bytes:
    body = encode_result_record(a.result)
    return b"\x85\x03" + _byte(a.piid, "PIID") + body + _tail(a.follow, a.time_tag)


def _encode_set_response_normal(a: SetResponseNormal) -> bytes:
    body = _oad(a.oad) + _byte(a.dar, "DAR")
    return b"\x86\x01" + _byte(a.piid, "PIID") + body + _tail(a.follow, a.time_tag)


def _encode_action_response_normal(a: ActionResponseNormal) -> bytes:
    body = _oad(a.omd) + _byte(a.dar, "DAR")
    body += b"\x00" if a.value is None else b"\x01" + encode_data(a.value)
    return b"\x87\x01" + _byte(a.piid, "PIID") + body + _tail(a.follow, a.time_tag)


def _encode_error_response(a: ErrorResponse) -> bytes:
    piid = _byte(a.piid, "PIID")
    return b"\xee" + piid + _byte(a.kind, "error kind") + _tail(a.follow, a.time_tag)


# Each APDU class and the function that writes it; the bytes each starts with are the table in
# the module docstring. Any[...]: each function takes its own class, which a dict cannot say.
_APDU_ENCODERS: dict[type, Callable[[Any], bytes]] = {
    GetNormal: _encode_get_normal,
    GetNormalList: _encode_get_normal_list,
    GetRecord: _encode_get_record,
    SetNormal: _encode_set_normal,
    ActionNormal: _encode_action_normal,
    GetResponseNormal: _encode_get_response_normal,
    GetResponseNormalList: _encode_get_response_normal_list,
    GetResponseRecord: _encode_get_response_record,
    SetResponseNormal: _encode_set_response_normal,
    ActionResponseNormal: _encode_action_response_normal,
    ErrorResponse: _encode_error_response,
    SecurityRequest: encode_security,
    SecurityResponse: encode_security,
}


# --- decoding --------------------------------------------------------------------------------


class _Reader:
    """A cursor over one APDU; every read past the end is a DecodeError."""

    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def byte(self, what: str) -> int:
        if self.pos >= len(self.buf):
            raise DecodeError(f"APDU ends before its {what}")
        value = self.buf[self.pos]
        self.pos += 1
        return value

    def oad(self) -> int:
        value, self.pos = decode_oad(self.buf, self.pos)
        return value

    def data(self) -> Data:
        value, self.pos = decode_data_at(self.buf, self.pos)
        return value

    def count(self, item_size: int) -> int:
        n, self.pos = decode_length(self.buf, self.pos)
        if n * item_size > len(self.buf) - self.pos:
            raise DecodeError(f"a list of {n} items runs past the end of the APDU")
        return n

    def result_normal(self) -> ResultNormal:
        oad = self.oad()
        choice = self.byte("Get-Result choice")
        if choice == 0:
            return ResultNormal(oad, None, self.byte("DAR"))
        if choice == 1:
            return ResultNormal(oad, self.data())
        raise DecodeError(f"Get-Result choice {choice} is neither DAR (0) nor Data (1)")

    def result_record(self) -> ResultRecord:
        result, self.pos = decode_result_record(self.buf, self.pos)
        return result

    def time_tag(self) -> TimeTag | None:
        if self.pos == len(self.buf):
            return None  # some meters leave the optional fields out altogether
        flag = self.byte("time tag flag")
        if flag == 0:
            return None
        if flag != 1:
            raise DecodeError(f"time tag flag {flag} is neither 0 nor 1")
        tag, self.pos = TimeTag.from_wire(self.buf, self.pos)
        return tag

    def follow(self) -> tuple[FollowItem, ...]:
        if self.pos == len(self.buf):
            return ()
        flag = self.byte("follow report flag")
        if flag == 0:
            return ()
        if flag != 1:
            raise DecodeError(f"follow report flag {flag} is neither 0 nor 1")
        choice = self.byte("follow report choice")
        if choice == 1:
            return tuple(self.result_normal() for _ in range(self.count(6)))
        if choice == 2:
            return tuple(self.result_record() for _ in range(self.count(6)))
        raise DecodeError(f"follow report choice {choice} is neither 1 nor 2")

    def end(self) -> None:
        if self.pos != len(self.buf):
            raise DecodeError(f"{len(self.buf) - self.pos} bytes after the APDU")


def decode_apdu(raw: bytes) -> Apdu:
    """Parse one APDU; DecodeError for anything malformed or not implemented here."""
    r = _Reader(raw)
    tag = r.byte("service tag")
    if tag in (SECURITY_REQUEST, SECURITY_RESPONSE):
        return decode_security(raw)
    result: Apdu
    if tag == Service.ERROR_RESPONSE:  # the one service without a choice byte
        piid, kind = r.byte("PIID-ACD"), r.byte("error kind")
        result = ErrorResponse(piid, kind, r.follow(), r.time_tag())
    else:
        choice = r.byte("service choice")
        piid = r.byte("PIID")
        decode = _APDU_DECODERS.get((tag, choice))
        if decode is None:
            raise DecodeError(f"service {tag:02X}H choice {choice} is not implemented")
        result = decode(r, piid)
    r.end()
    return result


# Each decoder reads what follows the PIID, field by field in wire order.


def _decode_get_normal(r: _Reader, piid: int) -> Apdu:
    return GetNormal(piid, r.oad(), r.time_tag())


def _decode_get_normal_list(r: _Reader, piid: int) -> Apdu:
    oads = tuple(r.oad() for _ in range(r.count(4)))
    return GetNormalList(piid, oads, r.time_tag())


def _decode_get_record(r: _Reader, piid: int) -> Apdu:
    oad = r.oad()
    rsd, r.pos = decode_rsd(r.buf, r.pos)
    rcsd, r.pos = decode_rcsd(r.buf, r.pos)
    return GetRecord(piid, oad, rsd, rcsd, r.time_tag())


def _decode_set_normal(r: _Reader, piid: int) -> Apdu:
    return SetNormal(piid, r.oad(), r.data(), r.time_tag())


def _decode_action_normal(r: _Reader, piid: int) -> Apdu:
    return ActionNormal(piid, r.oad(), r.data(), r.time_tag())


def _decode_get_response_normal(r: _Reader, piid: int) -> Apdu:
    normal = r.result_normal()
    return GetResponseNormal(piid, normal, r.follow(), r.time_tag())


def _decode_get_response_normal_list(r: _Reader, piid: int) -> Apdu:
    results = tuple(r.result_normal() for _ in range(r.count(6)))
    return GetResponseNormalList(piid, results, r.follow(), r.time_tag())


def _decode_get_response_record(r: _Reader, piid: int) -> Apdu:
    record = r.result_record()
    return GetResponseRecord(piid, record, r.follow(), r.time_tag())


def _decode_set_response_normal(r: _Reader, piid: int) -> Apdu:
    oad, dar = r.oad(), r.byte("DAR")
    return SetResponseNormal(piid, oad, dar, r.follow(), r.time_tag())


def _decode_action_response_normal(r: _Reader, piid: int) -> Apdu:
    omd, dar = r.oad(), r.byte("DAR")
    present = r.byte("optional data flag")
    if present not in (0, 1):
        raise DecodeError(f"optional data flag {present} is neither 0 nor 1")
    value = r.data() if present else None
    return ActionResponseNormal(piid, omd, dar, value, r.follow(), r.time_tag())


# (service tag, choice) -> its decoder: the table in the module docstring, read direction.
_APDU_DECODERS: dict[tuple[int, int], Callable[[_Reader, int], Apdu]] = {
    (Service.GET_REQUEST, 1): _decode_get_normal,
    (Service.GET_REQUEST, 2): _decode_get_normal_list,
    (Service.GET_REQUEST, 3): _decode_get_record,
    (Service.SET_REQUEST, 1): _decode_set_normal,
    (Service.ACTION_REQUEST, 1): _decode_action_normal,
    (Service.GET_RESPONSE, 1): _decode_get_response_normal,
    (Service.GET_RESPONSE, 2): _decode_get_response_normal_list,
    (Service.GET_RESPONSE, 3): _decode_get_response_record,
    (Service.SET_RESPONSE, 1): _decode_set_response_normal,
    (Service.ACTION_RESPONSE, 1): _decode_action_response_normal,
}
