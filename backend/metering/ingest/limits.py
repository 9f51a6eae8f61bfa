"""Limits before decoding: size and nesting depth of a payload, checked without parsing it.

A decoder that recurses (msgspec does, also through fields it skips) can be stopped by a small
payload nested thousands deep: ``RecursionError`` instead of a ``ContractError``. So every MQTT
payload and every HTTP body passes :func:`check` first, which only scans bytes and answers a
reason (a dead letter's, or a 400's) or ``None``.

* JSON: the depth is the count of open ``[``/``{`` outside strings. Escapes are removed, then
  strings, then everything but the brackets; what is left is summed in C (``accumulate``), so a
  usual reading batch costs a few microseconds.
* MessagePack (a contract payload opening with a map, told apart by its first byte as in
  ``protocols.contract.codec.detect_encoding``): one pass over the items, skipping strings and
  binaries by their length; containers count their items on a stack. Every item consumes at
  least one byte, so the pass is bounded by the payload's length.

Nothing here decodes, and a payload that is malformed in any other way is left for the decoder
to refuse with its own reason.
"""

from __future__ import annotations

import logging
import re
import time
from array import array
from itertools import accumulate

# above the largest legal contract message (10,000 values with 64-character meter ids: about
# 2.5 MB); deploy/'s Mosquitto refuses anything over 1 MiB already
MAX_PAYLOAD_BYTES = 4 * 1_048_576
MAX_DEPTH = 16  # the contract nests 3 deep (object → list → object); generous on purpose
KEEP_BYTES = 4096  # of an oversized payload, what a dead letter keeps

_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_STRING = re.compile(rb'"[^"]*"')
# [ and { → +1, ] and } → -1 (as a signed byte), every other byte removed
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_MARKS = bytes(b for b in range(256) if b not in b'[]{}"')


class LimitExceeded(ValueError):
    """The payload is too large or nested too deep; the message says which and by how much."""


def json_depth(payload: bytes) -> int:
    """The deepest nesting of arrays and objects in ``payload`` (outside strings)."""
    if b"\\" in payload:
        payload = _ESCAPE.sub(b"", payload)
    # keep the quotes and brackets only; a pair of adjacent quotes has no bracket between it,
    # so dropping it (a whole string, or the gap between two) changes no bracket's side
    marks = payload.translate(None, _NOT_MARKS).replace(b'""', b"")
    if b'"' in marks:  # strings holding brackets (rare)
        marks = _STRING.sub(b"", marks)
    steps = marks.translate(_STEPS, b'"')
    if not steps:
        return 0
    return max(0, max(accumulate(array("b", steps))))


# bytes an item takes after its type byte, for the fixed-size MessagePack types 0xC0..0xDF
# (None: a length-prefixed type or a container, handled in the loop; -1: never used)
_FIXED: dict[int, int] = {
    0xC0: 0, 0xC1: -1, 0xC2: 0, 0xC3: 0, 0xCA: 4, 0xCB: 8, 0xCC: 1, 0xCD: 2, 0xCE: 4,
    0xCF: 8, 0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8, 0xD4: 2, 0xD5: 3, 0xD6: 5, 0xD7: 9, 0xD8: 17,
}  # fmt: skip
# length-prefixed: type byte → (bytes of the length, extra bytes after the length)
_SIZED: dict[int, tuple[int, int]] = {
    0xC4: (1, 0), 0xC5: (2, 0), 0xC6: (4, 0), 0xC7: (1, 1), 0xC8: (2, 1), 0xC9: (4, 1),
    0xD9: (1, 0), 0xDA: (2, 0), 0xDB: (4, 0),
}  # fmt: skip
# containers: type byte → (bytes of the count, items per count: 1 array, 2 map)
_CONTAINERS: dict[int, tuple[int, int]] = {0xDC: (2, 1), 0xDD: (4, 1), 0xDE: (2, 2), 0xDF: (4, 2)}


def msgpack_depth(payload: bytes, stop_above: int) -> int:  # noqa: C901, PLR0912
    """The deepest nesting of arrays and maps in ``payload``, counted until it passes
    ``stop_above`` (then that depth is answered at once) or the bytes run out.

    One loop over the bytes on purpose (above the complexity limit): every agent message
    passes here before it is decoded, and a call per item would double the cost."""
    n = len(payload)
    i = depth = deepest = 0
    remaining = 1  # items still to read at this level (the top holds one)
    stack: list[int] = []
    fixed, sized, containers = _FIXED, _SIZED, _CONTAINERS
    while True:
        if not remaining:
            if not stack:
                return deepest
            remaining = stack.pop()
            depth -= 1
            continue
        if i >= n:
            return deepest  # truncated: the decoder will say so
        b = payload[i]
        remaining -= 1
        if 0xA0 <= b <= 0xBF:  # fixstr: the keys and most strings
            i += 1 + (b & 0x1F)
            continue
        if b <= 0x7F or b >= 0xE0:  # fixint
            i += 1
            continue
        if b <= 0x8F:  # fixmap
            count, i = (b & 0x0F) * 2, i + 1
        elif b <= 0x9F:  # fixarray
            count, i = b & 0x0F, i + 1
        elif b in fixed:
            size = fixed[b]
            if size < 0:
                return deepest  # 0xC1 is never used: malformed, the decoder says so
            i += 1 + size
            continue
        elif b in sized:
            width, extra = sized[b]
            i += 1 + width + extra + int.from_bytes(payload[i + 1 : i + 1 + width], "big")
            continue
        else:
            width, per = containers[b]
            count = int.from_bytes(payload[i + 1 : i + 1 + width], "big") * per
            i += 1 + width
        depth += 1  # a container, even an empty one, opens a level
        if depth > deepest:
            deepest = depth
            if deepest > stop_above:
                return deepest
        if count:
            stack.append(remaining)
            remaining = count
        else:
            depth -= 1


def _is_msgpack(payload: bytes) -> bool:
    return bool(payload) and (0x80 <= payload[0] <= 0x8F or payload[0] in (0xDE, 0xDF))


def check(
    payload: bytes, *, max_bytes: int = MAX_PAYLOAD_BYTES, max_depth: int = MAX_DEPTH
) -> str | None:
    """Why ``payload`` must not be decoded (a reason naming the limit), or None."""
    if len(payload) > max_bytes:
        return f"payload of {len(payload)} bytes is larger than the limit of {max_bytes} bytes"
    if _is_msgpack(payload):
        depth = msgpack_depth(payload, max_depth)
        kind = "msgpack"
    else:
        depth = json_depth(payload)
        kind = "json"
    if depth > max_depth:
        return f"{kind} payload nested deeper than the limit of {max_depth} levels"
    return None


def kept(payload: bytes, max_bytes: int = MAX_PAYLOAD_BYTES) -> bytes:
    """What a dead letter stores of a refused payload: all of it, or the head of one too big
    to keep."""
    return payload if len(payload) <= max_bytes else payload[:KEEP_BYTES]


class RefusalLog:
    """Logs refused payloads at most once per ``every_s`` (a flood of poison must not flood
    the log too): the first one at once, then a summary with how many more came since."""

    def __init__(self, logger: logging.Logger, every_s: float = 60.0) -> None:
        self.logger, self.every_s = logger, every_s
        self.refused = 0  # since start
        self._quiet = 0  # since the last line
        self._next = 0.0

    def __call__(self, topic: str, reason: str) -> None:
        self.refused += 1
        now = time.monotonic()
        if now < self._next:
            self._quiet += 1
            return
        more = f" ({self._quiet} more refused since the last report)" if self._quiet else ""
        self.logger.warning("refused a payload on %s before decoding: %s%s", topic, reason, more)
        self._quiet = 0
        self._next = now + self.every_s


refusals = RefusalLog(logging.getLogger("meterline.ingest"))
