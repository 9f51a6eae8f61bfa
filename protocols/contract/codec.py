"""Encoding and decoding of contract payloads, JSON by default, MessagePack on request.

A receiver tells the two apart by the first byte: every v1 payload is an object, which JSON
opens with ``{`` (0x7B, optionally after whitespace) while MessagePack opens a map with
0x80–0x8F, 0xDE or 0xDF. No other marker is needed, so a metered cellular agent can switch to
MessagePack without any change on the backend. (MQTT 5 publishers also set the content type
``application/json`` or ``application/msgpack``; receivers do not rely on it.)
"""

from __future__ import annotations

import enum
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")


class Encoding(enum.StrEnum):
    JSON = "json"
    MSGPACK = "msgpack"

    @property
    def content_type(self) -> str:
        return "application/json" if self is Encoding.JSON else "application/msgpack"


class ContractError(ValueError):
    """A payload that does not satisfy the contract; the message names the field and problem."""


_json_encoder = msgspec.json.Encoder()
_msgpack_encoder = msgspec.msgpack.Encoder()
_json_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}
_msgpack_decoders: dict[Any, msgspec.msgpack.Decoder[Any]] = {}


def encode(message: object, encoding: Encoding = Encoding.JSON) -> bytes:
    if encoding is Encoding.JSON:
        return _json_encoder.encode(message)
    return _msgpack_encoder.encode(message)


def detect_encoding(payload: bytes) -> Encoding:
    for byte in payload:
        if byte in b" \t\r\n":
            continue
        if byte == 0x7B:
            return Encoding.JSON
        if 0x80 <= byte <= 0x8F or byte in (0xDE, 0xDF):
            return Encoding.MSGPACK
        raise ContractError(f"payload starts with byte 0x{byte:02X}: neither JSON nor MessagePack")
    raise ContractError("payload is empty")


def decode(payload: bytes, type_: type[T] | Any) -> T:
    """Decode ``payload`` (either encoding) into ``type_`` or raise ContractError."""
    encoding = detect_encoding(payload)
    try:
        if encoding is Encoding.JSON:
            dec = _json_decoders.get(type_)
            if dec is None:
                dec = _json_decoders[type_] = msgspec.json.Decoder(type_)
            return dec.decode(payload)  # type: ignore[no-any-return]
        mdec = _msgpack_decoders.get(type_)
        if mdec is None:
            mdec = _msgpack_decoders[type_] = msgspec.msgpack.Decoder(type_)
        return mdec.decode(payload)  # type: ignore[no-any-return]
    except msgspec.ValidationError as exc:
        raise ContractError(f"{encoding.value} payload invalid: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ContractError(f"{encoding.value} payload malformed: {exc}") from None
