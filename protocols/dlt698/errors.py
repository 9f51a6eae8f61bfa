"""Errors of the DL/T 698.45 codec, named by who is at fault (h11's Local/Remote split).

* :class:`RemoteProtocolError` — the meter (or the line) sent bytes that are not valid
  DL/T 698.45: a frame whose FCS is wrong, an APDU that ends inside a value, a reply to a
  request we never sent. The agent counts it, resynchronises and carries on; never a crash.
* :class:`LocalProtocolError` — we misused the API: a 17-byte address, a value too large for its
  type, an unknown data type. A bug in the caller; it should fail loudly.
* :class:`MeterRefused` — not a protocol fault: the meter understood and answered with a
  data-access result (DAR) other than success, e.g. 拒绝读写 or 安全认证不满足.
"""

from __future__ import annotations

import enum


class Dlt698Error(Exception):
    """Base of every error this package raises on purpose."""


class LocalProtocolError(Dlt698Error, ValueError):
    """The caller asked for something DL/T 698.45 cannot express."""


class RemoteProtocolError(Dlt698Error):
    """The bytes from the line are not valid DL/T 698.45."""


class FrameError(RemoteProtocolError):
    """The stream decoder found a frame-shaped run of bytes that is not a frame.

    The decoder has already dropped the first byte of the candidate when this is raised, so the
    caller counts it and calls ``next_event()`` again.
    """


class BadLength(FrameError):
    """The header checksum is right but the length field is impossible: the frame-unit bit (kB)
    is set, or the length is shorter than the header or longer than the decoder accepts."""


class BadFrameChecksum(FrameError):
    """The FCS (CRC-16/X-25 over L .. APDU) does not match."""


class MissingEnd(FrameError):
    """The byte after the FCS is not ``16H``."""


class DecodeError(RemoteProtocolError):
    """An APDU or a Data value that does not parse: unknown tag or choice, a length running past
    the end, nesting deeper than the limit, bytes left over."""


class UnexpectedReply(RemoteProtocolError):
    """A well-formed frame that is not the answer to an outstanding request: unknown PIID,
    another meter's address, a different service, a request-direction frame."""


class Dar(enum.IntEnum):
    """Data-access result (数据访问结果), DL/T 698.45 table "DAR"."""

    SUCCESS = 0  # 成功
    HARDWARE_FAILURE = 1  # 硬件失效
    TEMPORARY_FAILURE = 2  # 暂时失效
    READ_WRITE_DENIED = 3  # 拒绝读写
    OBJECT_UNDEFINED = 4  # 对象未定义
    CLASS_INCONSISTENT = 5  # 对象接口类不符合
    OBJECT_UNAVAILABLE = 6  # 对象不存在
    TYPE_UNMATCHED = 7  # 类型不匹配
    SCOPE_OF_ACCESS_VIOLATED = 8  # 越界
    DATA_BLOCK_UNAVAILABLE = 9  # 数据块不可用
    LONG_GET_ABORTED = 10  # 分帧传输已取消
    NO_LONG_GET_IN_PROGRESS = 11  # 不处于分帧传输状态
    LONG_WRITE_ABORTED = 12  # 块写取消
    NO_LONG_WRITE_IN_PROGRESS = 13  # 不存在块写状态
    DATA_BLOCK_NUMBER_INVALID = 14  # 数据块序号无效
    PASSWORD_FAILURE = 15  # 密码错/未授权
    BAUD_UNCHANGEABLE = 16  # 通信速率不能更改
    YEAR_ZONES_EXCEEDED = 17  # 年时区数超
    DAY_PERIODS_EXCEEDED = 18  # 日时段数超
    TARIFFS_EXCEEDED = 19  # 费率数超
    SECURITY_UNMATCHED = 20  # 安全认证不匹配
    REPEATED_TOP_UP = 21  # 重复充值
    ESAM_FAILURE = 22  # ESAM 验证失败
    SECURITY_FAILURE = 23  # 安全认证失败
    CUSTOMER_MISMATCH = 24  # 客户编号不匹配
    TOP_UP_COUNT_WRONG = 25  # 充值次数错误
    OVER_HOARDING = 26  # 购电超囤积
    ADDRESS_ABNORMAL = 27  # 地址异常
    SYMMETRIC_DECRYPT_FAILED = 28  # 对称解密错误
    ASYMMETRIC_DECRYPT_FAILED = 29  # 非对称解密错误
    SIGNATURE_FAILED = 30  # 签名错误
    METER_SUSPENDED = 31  # 电能表挂起
    TIME_TAG_INVALID = 32  # 时间标签无效
    REQUEST_TIMEOUT = 33  # 请求超时
    OTHER = 255  # 其它


def dar_name(code: int) -> str:
    try:
        return Dar(code).name
    except ValueError:
        return f"DAR_{code}"


class MeterRefused(Dlt698Error):
    """The meter answered with a DAR other than success. ``dar`` keeps the raw code, so nothing is
    lost when a meter uses a value the enum does not name."""

    def __init__(self, what: str, dar: int) -> None:
        self.what = what
        self.dar = dar
        super().__init__(f"meter refused {what}: {dar_name(dar)} ({dar})")
