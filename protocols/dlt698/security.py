"""The security wrapper (安全传输): SECURITY-Request (10H) and SECURITY-Response (90H).

State Grid meters carry out control (relay ACTION on 8000, most SETs) only inside this envelope:
the inner APDU in plaintext or ciphertext, plus verification data that the meter's ESAM checks::

    10  00 <len> <plain APDU>   00 SID_MAC          明文 + 数据验证码 (control, "plaintext + MAC")
    10  00 <len> <plain APDU>   01 RN               明文 + 随机数 (reads: the answer carries a MAC)
    90  00 <len> <plain APDU>   [01 00 MAC]         明文 answer, optional 数据MAC
    90  02 DAR                                      异常错误: the security layer refused

    SID_MAC ::= SID MAC,  SID ::= double-long-unsigned 标识 + octet-string 附加数据

Computing the MAC needs the ESAM (a secure element holding the utility's keys, with the
symmetric algorithm of the State Grid security specification); that is out of scope here. The
envelope takes the MAC from a pluggable :data:`MacFunction` (a real deployment wraps its ESAM or
the security gateway's API; the simulator and the tests use :func:`keyed_mac`, a stand-in).
Ciphertext (密文) is carried as opaque bytes both ways and never interpreted.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Union

import msgspec

from protocols.dlt698.axdr import decode_length, encode_length
from protocols.dlt698.errors import DecodeError, LocalProtocolError

SECURITY_REQUEST = 0x10
SECURITY_RESPONSE = 0x90


class Sid(msgspec.Struct, frozen=True, gc=False):
    """安全标识: the key/operation identifier and its additional data."""

    ident: int
    extra: bytes = b""


class SidMac(msgspec.Struct, frozen=True, gc=False):
    sid: Sid
    mac: bytes


class RandomNumber(msgspec.Struct, frozen=True, gc=False):
    rn: bytes


class RnMac(msgspec.Struct, frozen=True, gc=False):
    rn: bytes
    mac: bytes


Verification = Union[SidMac, RandomNumber, RnMac, Sid]  # noqa: UP007
_CHOICES: dict[type, int] = {SidMac: 0, RandomNumber: 1, RnMac: 2, Sid: 3}


class SecurityRequest(msgspec.Struct, frozen=True, gc=False):
    apdu: bytes  # the inner APDU (ciphertext if ``ciphered``)
    verification: Verification
    ciphered: bool = False


class SecurityResponse(msgspec.Struct, frozen=True, gc=False):
    apdu: bytes | None  # None when the security layer refused (see ``dar``)
    dar: int = 0
    mac: bytes | None = None
    ciphered: bool = False


MacFunction = Callable[[bytes], SidMac]
"""Given the plaintext APDU, the SID and MAC an ESAM would compute for it."""


def keyed_mac(key: bytes, ident: int = 0x81000000, extra: bytes = b"") -> MacFunction:
    """A stand-in MAC for simulators and tests: the first 4 bytes of HMAC-SHA256(key, APDU),
    with SID ``ident`` and additional data ``extra`` (e.g. an operator code). Not the State
    Grid algorithm; real meters reject it."""

    def mac(apdu: bytes) -> SidMac:
        return SidMac(Sid(ident, extra), hmac.new(key, apdu, hashlib.sha256).digest()[:4])

    return mac


def protect(apdu: bytes, mac: MacFunction) -> SecurityRequest:
    """明文 + 数据验证码: the plaintext APDU with the SID_MAC ``mac`` gives for it."""
    return SecurityRequest(apdu, mac(apdu))


def _octets(raw: bytes) -> bytes:
    return encode_length(len(raw)) + raw


def _sid(sid: Sid) -> bytes:
    if not 0 <= sid.ident <= 0xFFFFFFFF:
        raise LocalProtocolError(f"SID {sid.ident:#x} is not 4 bytes")
    return sid.ident.to_bytes(4, "big") + _octets(sid.extra)


def _verification(v: Verification) -> bytes:
    if isinstance(v, SidMac):
        return b"\x00" + _sid(v.sid) + _octets(v.mac)
    if isinstance(v, RandomNumber):
        return b"\x01" + _octets(v.rn)
    if isinstance(v, RnMac):
        return b"\x02" + _octets(v.rn) + _octets(v.mac)
    return b"\x03" + _sid(v)


def encode_security(message: SecurityRequest | SecurityResponse) -> bytes:
    if isinstance(message, SecurityRequest):
        unit = b"\x01" if message.ciphered else b"\x00"
        return (
            bytes((SECURITY_REQUEST,))
            + unit
            + _octets(message.apdu)
            + _verification(message.verification)
        )
    if message.apdu is None:
        if not 0 <= message.dar <= 0xFF:
            raise LocalProtocolError(f"DAR {message.dar} is not a byte")
        out = bytes((SECURITY_RESPONSE, 2, message.dar))
    else:
        unit = b"\x01" if message.ciphered else b"\x00"
        out = bytes((SECURITY_RESPONSE,)) + unit + _octets(message.apdu)
    if message.mac is None:
        return out + b"\x00"
    return out + b"\x01\x00" + _octets(message.mac)


class _Cursor:
    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes, pos: int) -> None:
        self.buf = buf
        self.pos = pos

    def byte(self, what: str) -> int:
        if self.pos >= len(self.buf):
            raise DecodeError(f"security APDU ends before its {what}")
        self.pos += 1
        return self.buf[self.pos - 1]

    def octets(self, what: str) -> bytes:
        n, self.pos = decode_length(self.buf, self.pos)
        if self.pos + n > len(self.buf):
            raise DecodeError(f"security {what} of {n} bytes runs past the end")
        self.pos += n
        return self.buf[self.pos - n : self.pos]

    def sid(self) -> Sid:
        if self.pos + 4 > len(self.buf):
            raise DecodeError("security SID runs past the end")
        ident = int.from_bytes(self.buf[self.pos : self.pos + 4], "big")
        self.pos += 4
        return Sid(ident, self.octets("SID additional data"))


def decode_security(raw: bytes) -> SecurityRequest | SecurityResponse:
    c = _Cursor(raw, 0)
    tag = c.byte("tag")
    unit = c.byte("data unit choice")
    decode = _DECODERS.get(tag)
    if decode is None:
        raise DecodeError(f"tag {tag:02X}H is not a security APDU")
    result = decode(c, unit)
    if c.pos != len(raw):
        raise DecodeError(f"{len(raw) - c.pos} bytes after the security APDU")
    return result


def _decode_request(c: _Cursor, unit: int) -> SecurityRequest:
    if unit not in (0, 1):
        raise DecodeError(f"SECURITY-Request data unit choice {unit} is not 0 or 1")
    apdu = c.octets("APDU")
    choice = c.byte("verification choice")
    decode = _VERIFICATIONS.get(choice)
    if decode is None:
        raise DecodeError(f"verification choice {choice} is not 0..3")
    return SecurityRequest(apdu, decode(c), ciphered=unit == 1)


def _decode_response(c: _Cursor, unit: int) -> SecurityResponse:
    if unit == 2:
        body: bytes | None = None
        dar = c.byte("DAR")
    elif unit in (0, 1):
        body, dar = c.octets("APDU"), 0
    else:
        raise DecodeError(f"SECURITY-Response data unit choice {unit} is not 0..2")
    mac = None
    if c.pos < len(c.buf) and c.byte("MAC flag"):
        if c.byte("MAC choice") != 0:
            raise DecodeError("SECURITY-Response verification is not a MAC (choice 0)")
        mac = c.octets("MAC")
    return SecurityResponse(body, dar, mac, ciphered=unit == 1)


_DECODERS: dict[int, Callable[[_Cursor, int], SecurityRequest | SecurityResponse]] = {
    SECURITY_REQUEST: _decode_request,
    SECURITY_RESPONSE: _decode_response,
}

# verification choice -> how to read it (the reverse of _CHOICES)
_VERIFICATIONS: dict[int, Callable[[_Cursor], Verification]] = {
    0: lambda c: SidMac(c.sid(), c.octets("MAC")),
    1: lambda c: RandomNumber(c.octets("random number")),
    2: lambda c: RnMac(c.octets("random number"), c.octets("MAC")),
    3: lambda c: c.sid(),
}
