"""Record access: the row selectors (RSD), and the answer's rows (A-ResultRecord).

Frozen data (冻结, 5004 daily / 5006 monthly) and event logs are *record* attributes: a table
whose rows are selected by an RSD and whose columns are named by an RCSD, e.g. "the last 3
daily freezes, columns 20210200 (freeze time) and 00100200 (import energy)"::

    05 03 PIID  50 04 02 00  09 03  02 00 20 21 02 00 00 00 10 02 00  00
                 OAD 5004/2   RSD     RCSD: 2 CSDs, each 00 + OAD     no time tag
                             Selector9: the 3rd record back

Selectors implemented: 0 (none: every record), 1 (a column equals a value), 2 (a column
between start and end, with an interval), 9 (上第n次记录, the n-th record back). The others
(3–8, 10: meter sets, collection times) belong to concentrators and raise.

The answer repeats the OAD and the RCSD, then either a DAR or the rows: each row one Data per
column of the RCSD, so the rows can only be parsed with the columns known.
"""

from __future__ import annotations

from typing import Union

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
from protocols.dlt698.data import Csd, Data
from protocols.dlt698.errors import DecodeError, LocalProtocolError


class Selector1(msgspec.Struct, frozen=True, gc=False):
    """The records whose column ``oad`` equals ``value`` (e.g. a freeze time)."""

    oad: int
    value: Data


class Selector2(msgspec.Struct, frozen=True, gc=False):
    """The records whose column ``oad`` lies in [start, end), every ``interval`` (e.g. times
    from day A to day B; ``interval`` may be null for every record)."""

    oad: int
    start: Data
    end: Data
    interval: Data


class Selector9(msgspec.Struct, frozen=True, gc=False):
    """上第n次记录: the ``last``-th record back (1 = the most recent)."""

    last: int


Rsd = Union[None, Selector1, Selector2, Selector9]  # noqa: UP007 - None is selector 0


class ResultRecord(msgspec.Struct, frozen=True, gc=False):
    """A-ResultRecord: the record OAD, its columns and the rows (or the DAR that says why not)."""

    oad: int
    rcsd: tuple[Csd, ...]
    rows: tuple[tuple[Data, ...], ...] | None
    dar: int = 0


def _oad(value: int) -> bytes:
    if not 0 <= value <= 0xFFFFFFFF:
        raise LocalProtocolError(f"OAD {value:#x} is not 4 bytes")
    return value.to_bytes(4, "big")


def encode_rsd(rsd: Rsd) -> bytes:
    if rsd is None:
        return b"\x00"
    if isinstance(rsd, Selector1):
        return b"\x01" + _oad(rsd.oad) + encode_data(rsd.value)
    if isinstance(rsd, Selector2):
        values = encode_data(rsd.start) + encode_data(rsd.end) + encode_data(rsd.interval)
        return b"\x02" + _oad(rsd.oad) + values
    if not 0 <= rsd.last <= 0xFF:
        raise LocalProtocolError(f"selector 9 counts back 0..255 records, not {rsd.last}")
    return bytes((9, rsd.last))


def decode_rsd(buf: bytes, pos: int) -> tuple[Rsd, int]:
    if pos >= len(buf):
        raise DecodeError("an RSD is missing at the end of the APDU")
    choice = buf[pos]
    pos += 1
    if choice == 0:
        return None, pos
    if choice == 1:
        oad, pos = decode_oad(buf, pos)
        value, pos = decode_data_at(buf, pos)
        return Selector1(oad, value), pos
    if choice == 2:
        oad, pos = decode_oad(buf, pos)
        start, pos = decode_data_at(buf, pos)
        end, pos = decode_data_at(buf, pos)
        interval, pos = decode_data_at(buf, pos)
        return Selector2(oad, start, end, interval), pos
    if choice == 9:
        if pos >= len(buf):
            raise DecodeError("selector 9 lacks its record count")
        return Selector9(buf[pos]), pos + 1
    raise DecodeError(f"RSD selector {choice} is not implemented (0, 1, 2 and 9 are)")


def encode_result_record(result: ResultRecord) -> bytes:
    head = _oad(result.oad) + encode_rcsd(result.rcsd)
    if result.rows is None:
        if not 0 <= result.dar <= 0xFF:
            raise LocalProtocolError(f"DAR {result.dar} is not a byte")
        return head + bytes((0, result.dar))
    out = bytearray(head + b"\x01" + encode_length(len(result.rows)))
    for row in result.rows:
        if len(row) != len(result.rcsd):
            raise LocalProtocolError(f"a row has {len(row)} values for {len(result.rcsd)} columns")
        for value in row:
            out += encode_data(value)
    return bytes(out)


def decode_result_record(buf: bytes, pos: int) -> tuple[ResultRecord, int]:
    oad, pos = decode_oad(buf, pos)
    rcsd, pos = decode_rcsd(buf, pos)
    if pos >= len(buf):
        raise DecodeError("A-ResultRecord lacks its answer choice")
    choice = buf[pos]
    pos += 1
    if choice == 0:
        if pos >= len(buf):
            raise DecodeError("A-ResultRecord lacks its DAR")
        return ResultRecord(oad, rcsd, None, buf[pos]), pos + 1
    if choice != 1:
        raise DecodeError(f"A-ResultRecord choice {choice} is neither DAR (0) nor rows (1)")
    count, pos = decode_length(buf, pos)
    if count and not rcsd:
        raise DecodeError("record rows without the columns (an empty RCSD) cannot be parsed")
    if count * len(rcsd) > len(buf) - pos:
        raise DecodeError(f"{count} record rows run past the end of the APDU")
    rows = []
    for _ in range(count):
        row = []
        for _column in rcsd:
            value, pos = decode_data_at(buf, pos)
            row.append(value)
        rows.append(tuple(row))
    return ResultRecord(oad, rcsd, tuple(rows)), pos
