"""Faults a simulated meter can be told to show, at runtime or from the command line.

``--fault KIND[:PARAM][/PROBABILITY]@METER`` where METER is a DL/T 645 address, a Modbus unit id
or ``*`` for every meter::

    silent@111111111113          never answers
    slow:2.5@3                   answers 2.5 s late (default 2 s)
    garbage@111111111112         8 noise bytes before the reply (garbage:20 for 20 bytes)
    garbage-only@3               noise instead of the reply
    bad-checksum@*               the reply's checksum / CRC is wrong
    reply-lost@111111111112      acts on the request (a relay command!) but the reply is lost
    silent/0.3@111111111111      30 % of requests get no answer (deterministic per seed)

``silent`` is a meter that does not hear at all: it neither answers nor acts.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from edge_agent.simulators.loadshape import mix, unit_noise


class FaultKind(enum.StrEnum):
    SILENT = "silent"
    SLOW = "slow"
    GARBAGE = "garbage"  # noise, then the reply
    GARBAGE_ONLY = "garbage-only"  # noise instead of the reply
    BAD_CHECKSUM = "bad-checksum"
    REPLY_LOST = "reply-lost"  # the meter acts on the request, its answer is lost on the line


DEFAULT_SLOW_S = 2.0
DEFAULT_GARBAGE_BYTES = 8


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    delay_s: float = DEFAULT_SLOW_S  # SLOW
    garbage_bytes: int = DEFAULT_GARBAGE_BYTES  # GARBAGE, GARBAGE_ONLY
    probability: float = 1.0  # share of requests it strikes

    def __post_init__(self) -> None:
        if not 0 < self.probability <= 1:
            raise ValueError("a fault's probability is in (0, 1]")
        if self.delay_s < 0 or self.garbage_bytes < 1:
            raise ValueError("a fault's delay is ≥ 0 and its garbage at least one byte")

    def strikes(self, seed: int, request_number: int) -> bool:
        if self.probability >= 1:
            return True
        return (unit_noise(seed, 77, request_number) + 1) / 2 < self.probability


def parse_fault(text: str) -> tuple[str, Fault]:
    """``"slow:2.5@3"`` -> ``("3", Fault(SLOW, delay_s=2.5))``; ValueError says what is wrong."""
    spec, at, target = text.partition("@")
    if not at or not target:
        raise ValueError(f"fault {text!r}: expected KIND[:PARAM][/PROBABILITY]@METER")
    spec, slash, probability_text = spec.partition("/")
    name, colon, param = spec.partition(":")
    try:
        kind = FaultKind(name)
    except ValueError:
        kinds = ", ".join(k.value for k in FaultKind)
        raise ValueError(f"fault {text!r}: unknown kind {name!r} (one of {kinds})") from None
    probability = 1.0
    if slash:
        try:
            probability = float(probability_text)
        except ValueError:
            raise ValueError(
                f"fault {text!r}: probability {probability_text!r} is not a number"
            ) from None
    try:
        if kind is FaultKind.SLOW:
            fault = Fault(
                kind, delay_s=float(param) if colon else DEFAULT_SLOW_S, probability=probability
            )
        elif kind in (FaultKind.GARBAGE, FaultKind.GARBAGE_ONLY):
            count = int(param) if colon else DEFAULT_GARBAGE_BYTES
            fault = Fault(kind, garbage_bytes=count, probability=probability)
        elif colon:
            raise ValueError(f"{kind.value} takes no parameter")
        else:
            fault = Fault(kind, probability=probability)
    except ValueError as exc:
        raise ValueError(f"fault {text!r}: {exc}") from None
    return target, fault


def garbage(seed: int, count: int, avoid: bytes = b"") -> bytes:
    """``count`` deterministic noise bytes, none of them in ``avoid`` (a protocol's start byte,
    so the noise is line noise rather than an accidental frame)."""
    out = bytearray()
    n = 0
    while len(out) < count:
        byte = mix(seed, 99, n) & 0xFF
        n += 1
        if byte not in avoid:
            out.append(byte)
    return bytes(out)
