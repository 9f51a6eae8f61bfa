"""Errors of the DL/T 645 codec, named by who is at fault (h11's Local/Remote split).

* :class:`RemoteProtocolError` — the meter (or the line) sent something that is not valid
  DL/T 645: a frame with a bad checksum, a non-BCD digit in a value, a reply to a question we
  did not ask. The agent counts it, resynchronises and carries on; it is never a crash.
* :class:`LocalProtocolError` — we misused the API: a 13-digit address, a value too large for its
  BCD field, a DI the table does not know. That is a bug in the caller and should fail loudly.
* :class:`MeterRefused` — not a protocol fault at all: the meter understood and said no, with
  its error-status byte (abnormal reply, control code bit ``40H``). The flags say why.
"""

from __future__ import annotations

import enum


class Dlt645Error(Exception):
    """Base of every error this package raises on purpose."""


class LocalProtocolError(Dlt645Error, ValueError):
    """The caller asked for something DL/T 645 cannot express."""


class RemoteProtocolError(Dlt645Error):
    """The bytes from the line are not valid DL/T 645."""


class FrameError(RemoteProtocolError):
    """The stream decoder found a frame-shaped run of bytes that is not a frame.

    The decoder has already dropped the first byte of the candidate when this is raised, so the
    caller simply counts it and calls ``next_event()`` again.
    """


class BadLength(FrameError):
    """The length byte ``L`` exceeds the longest data field the decoder accepts (200)."""


class BadChecksum(FrameError):
    """The ``CS`` byte is not the sum mod 256 of the bytes from the first ``68H`` to the data."""


class MissingEnd(FrameError):
    """The byte after the checksum is not ``16H``."""


class BadAddress(FrameError):
    """The address field holds a byte that is neither two BCD digits nor the ``AAH`` wildcard."""


class BcdError(RemoteProtocolError):
    """A field that must be BCD holds a nibble above 9 (e.g. ``0xFA``), or a date out of range."""


class UnexpectedReply(RemoteProtocolError):
    """A well-formed frame that is not an answer to the request: wrong control code, wrong DI,
    wrong length for the DI, or a master-direction frame where a reply was expected."""


class ErrorFlag(enum.IntFlag):
    """The error-status byte (错误信息字 ERR) of an abnormal reply, DL/T 645-2007 appendix C."""

    OTHER = 0x01  # 其他错误
    NO_DATA = 0x02  # 无请求数据
    UNAUTHORISED = 0x04  # 密码错/未授权
    BAUD_UNCHANGEABLE = 0x08  # 通信速率不能更改
    YEAR_ZONES_EXCEEDED = 0x10  # 年时区数超
    DAY_PERIODS_EXCEEDED = 0x20  # 日时段数超
    TARIFFS_EXCEEDED = 0x40  # 费率数超
    RESERVED_7 = 0x80  # 保留


class SecurityErrorFlag(enum.IntFlag):
    """The two-byte security error word (安全认证错误信息字 SERR) that ESAM-equipped prepaid
    meters return instead of ERR, e.g. to a refused relay command (``DC 02 SERR``).

    Bit meanings as listed in the State Grid security specification (Q/GDW 1365-2013); they
    were not checked against the text in this repository, so treat names as best knowledge and
    keep ``raw`` in anything you store.
    """

    OTHER = 0x0001  # 其他错误
    REPEATED_TOP_UP = 0x0002  # 重复充值
    ESAM_FAILED = 0x0004  # ESAM 验证失败
    AUTHENTICATION_FAILED = 0x0008  # 身份认证失败
    CUSTOMER_MISMATCH = 0x0010  # 客户编号不匹配
    TOP_UP_COUNT_WRONG = 0x0020  # 充值次数错误
    OVER_HOARDING_LIMIT = 0x0040  # 购电超囤积
    ADDRESS_MISMATCH = 0x0080  # 地址异常
    METER_SUSPENDED = 0x0100  # 电能表挂起


class MeterRefused(Dlt645Error):
    """An abnormal reply: the meter answered the request with an error status.

    ``flags`` is an :class:`ErrorFlag` (one ERR byte) or a :class:`SecurityErrorFlag` (two SERR
    bytes, low byte first); ``raw`` is the integer as received, so nothing is lost if a meter
    sets a bit the enum does not name.
    """

    def __init__(self, function: int, flags: ErrorFlag | SecurityErrorFlag, raw: int) -> None:
        self.function = function
        self.flags = flags
        self.raw = raw
        names = ", ".join(f.name or hex(f.value) for f in type(flags) if f in flags) or "none"
        super().__init__(f"meter refused function {function:02X}H: {names} (raw {raw:#x})")

    @property
    def names(self) -> frozenset[str]:
        """The named bits set, e.g. ``{"UNAUTHORISED"}`` — convenient for logs and tests."""
        return frozenset(f.name for f in type(self.flags) if f in self.flags and f.name)
