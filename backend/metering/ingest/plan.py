"""From a batch of received items to the rows one transaction writes: pure, no I/O.

Also the sequence-number arithmetic: which seqs are new, which ranges went missing, and how a
late arrival shrinks, splits or closes a recorded gap.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from backend.metering.ingest.inbox import Item
from backend.metering.intervals import ACCEPTED_QUALITIES, HELD, Point
from backend.metering.quarantine.rules import (
    CUMULATIVE,
    HOUR_MS,
    REGISTER_MAX_WH,
    Chains,
    Limits,
    Rating,
    judge,
)
from protocols.contract import (
    AgentBirth,
    AgentDeath,
    Channel,
    EventBatch,
    Quality,
    ReadingBatch,
)

# Values the meter gave just now: they count as "heard from the meter". Stale, estimated and
# backfilled values carry an old or made-up acquisition time and do not.
FRESH = frozenset({Quality.GOOD, Quality.INVALID})


class MeterRef(NamedTuple):
    pk: int
    agent_id: str | None
    rating: Rating = Rating()  # what the meter can pass (quarantine's jump check)


class HoldRow(NamedTuple):
    """A reading the plan stores as ``held`` (``backend.metering.quarantine``)."""

    meter_pk: int
    quantity: str
    ts: int
    value: int
    quality: str  # the quality it came with
    reason: str  # a HoldReason code
    params: dict[str, str | float | bool | None]
    held_at: int  # epoch ms


@dataclass(slots=True)
class Screen:
    """What plausibility needs to judge a batch: the limits, each chain's newest accepted
    reading the writer has seen (``Chains``), and the meters' ratings (by pk)."""

    limits: Limits
    chains: Chains
    ratings: Mapping[int, Rating]


# (meter_pk, quantity, ts, value, quality, received_at ms)
ReadingRow = tuple[int, str, int, int, str, int]
# (meter_pk, ts, kind, value, text, received_at ms)
EventRow = tuple[int, int, str, int | None, str | None, int]
# (received_at ms, topic, reason, payload)
DeadRow = tuple[int, str, str, bytes]
SeqKey = tuple[str, str]  # (agent, channel)


@dataclass(slots=True)
class Plan:
    rows: list[ReadingRow] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)
    dead: list[DeadRow] = field(default_factory=list)
    seqs: dict[SeqKey, list[int]] = field(default_factory=dict)
    agents_seen: dict[str, int] = field(default_factory=dict)  # agent → receipt ms
    meters_seen: dict[int, int] = field(default_factory=dict)  # pk → newest fresh ts
    states: list[tuple[AgentBirth | AgentDeath, int]] = field(default_factory=list)
    birth_meters: list[tuple[int, str, str]] = field(default_factory=list)  # pk, protocol, addr
    holds: list[HoldRow] = field(default_factory=list)
    # accepted cumulative readings of the batch, per chain its newest: the writer remembers
    # them (``Chains``) once the batch has committed
    accepted: dict[tuple[int, str], Point] = field(default_factory=dict)


def build_plan(
    items: Sequence[Item],
    refs: Mapping[str, MeterRef],
    seen_written: Mapping[int, float],
    seen_due_before: float,
    screen: Screen | None = None,
) -> Plan:
    """``refs`` resolves every meter id the items name. A meter's last_seen_at is written only
    if its ``seen_written`` time (monotonic) is before ``seen_due_before`` (the caller's
    throttle). With a ``screen``, implausible readings are stored held (quarantine)."""
    plan = Plan()
    for item in items:
        if item.agent is not None:
            _heard_from(plan, item, item.agent)
        msg = item.message
        if item.reason is not None:
            plan.dead.append((item.received_ms, item.topic, item.reason, item.payload))
            continue
        if msg is None:
            continue
        own = _owned(item, refs, plan)
        if isinstance(msg, ReadingBatch):
            start = len(plan.rows)
            _readings(plan, item, msg, own)
            if screen is not None:
                _screen(plan, start, item.received_ms, screen)
            _seen(plan, item, msg, own, seen_written, seen_due_before)
        elif isinstance(msg, EventBatch):
            recv = item.received_ms
            plan.events.extend(
                [
                    (own[e.meter], e.ts, e.kind.value, e.value, e.text, recv)
                    for e in msg.events
                    if e.meter in own
                ]
            )
        else:
            plan.states.append((msg, item.received_ms))
            if isinstance(msg, AgentBirth):
                plan.birth_meters.extend(
                    [(own[m.meter], m.protocol, m.address) for m in msg.meters if m.meter in own]
                )
    return plan


def _heard_from(plan: Plan, item: Item, agent: str) -> None:
    """The agent's receipt time and the seq it numbered this message with."""
    recv = item.received_ms
    if plan.agents_seen.get(agent, -1) < recv:
        plan.agents_seen[agent] = recv
    if item.seq is not None:
        # a Channel is a StrEnum: it hashes and compares as its value
        key: SeqKey = (agent, item.channel)  # type: ignore[assignment]
        found = plan.seqs.get(key)
        if found is None:
            plan.seqs[key] = [item.seq]
        else:
            found.append(item.seq)


def _readings(plan: Plan, item: Item, msg: ReadingBatch, own: Mapping[str, int]) -> None:
    recv = item.received_ms
    if len(own) == len(item.meters):
        plan.rows.extend(
            [(own[v.meter], v.quantity, v.ts, v.value, v.quality, recv) for v in msg.values]
        )
    else:
        plan.rows.extend(
            [
                (own[v.meter], v.quantity, v.ts, v.value, v.quality, recv)
                for v in msg.values
                if v.meter in own
            ]
        )


def _screen(plan: Plan, start: int, now_ms: int, screen: Screen) -> None:
    """Judge the rows from ``start`` on (backend.metering.quarantine.rules): an implausible
    one is stored with the quality ``held`` and gets a hold row. Only readings that would be
    charged or counted (accepted qualities) are judged; the others never reach money."""
    rows, limits, chains, accepted = plan.rows, screen.limits, screen.chains, plan.accepted
    ratings, default = screen.ratings, Rating()
    ahead = now_ms + limits.skew_ms
    for i in range(start, len(rows)):
        pk, quantity, ts, value, quality, recv = rows[i]
        cumulative = quantity in CUMULATIVE
        if (not cumulative and ts <= ahead) or quality not in ACCEPTED_QUALITIES:
            continue
        key = (pk, quantity)
        previous = accepted.get(key) or chains.get(pk, quantity)
        rating = ratings.get(pk, default)
        # the usual case, decided without the rules' full walk: a rise the rating could pass
        # (the float bound is stricter than the rules' rounded one: a borderline rise is judged)
        if (
            cumulative
            and ts <= ahead
            and 0 <= value < REGISTER_MAX_WH
            and (
                previous is None
                or previous.ts >= ts
                or 0
                <= value - previous.value
                <= rating.max_w * limits.margin * (ts - previous.ts) / HOUR_MS
            )
        ):
            hold = None
        else:
            hold = judge(quantity, ts, value, now_ms, limits, rating=rating, previous=previous)
        if hold is not None:
            rows[i] = (pk, quantity, ts, value, HELD, recv)
            plan.holds.append(
                HoldRow(pk, quantity, ts, value, quality, hold.reason.value, hold.params, now_ms)
            )
        elif cumulative and (previous is None or previous.ts < ts):
            accepted[key] = Point(ts, value)


def _seen(
    plan: Plan,
    item: Item,
    msg: ReadingBatch,
    own: Mapping[str, int],
    seen_written: Mapping[int, float],
    seen_due_before: float,
) -> None:
    """Fresh values of meters whose last_seen_at is due: the newest acquisition time."""
    due = {pk for pk in own.values() if seen_written.get(pk, -1e18) <= seen_due_before}
    if not due:
        return
    seen = plan.meters_seen
    limit = item.received_ms  # a meter clock ahead of ours does not make it "seen in the future"
    for v in msg.values:
        if v.quality in FRESH and v.meter in own:
            pk = own[v.meter]
            if pk in due and seen.get(pk, -1) < v.ts:
                seen[pk] = min(v.ts, limit)


def _owned(item: Item, refs: Mapping[str, MeterRef], plan: Plan) -> dict[str, int]:
    """Meter id → pk for the item's meters that belong to its agent; a dead letter names the
    others (an agent may not write for a meter assigned to another agent)."""
    own: dict[str, int] = {}
    foreign: list[str] = []
    for meter in item.meters:
        ref = refs[meter]
        if ref.agent_id == item.agent:
            own[meter] = ref.pk
        elif ref.agent_id is None:  # the registry gave it to nobody: no agent takes it over
            foreign.append(f"meter {meter!r} is assigned to no agent")
        else:
            foreign.append(f"meter {meter!r} is assigned to agent {ref.agent_id!r}")
    if foreign:
        reason = (
            f"not stored for agent {item.agent!r}: " + "; ".join(sorted(foreign))
            if item.channel is not Channel.STATE
            else f"birth of agent {item.agent!r} lists meters of others: " + "; ".join(foreign)
        )
        plan.dead.append((item.received_ms, item.topic, reason, item.payload))
    return own


# --- sequence numbers -------------------------------------------------------------------


class Advance(NamedTuple):
    mark: int | None  # the new highest seq seen
    gaps: list[tuple[int, int]]  # newly missing (first, last) ranges
    late: list[int]  # seqs at or below the old mark: resends, or late arrivals filling a gap


def advance(mark: int | None, seqs: Iterable[int]) -> Advance:
    """Move the high-water mark over ``seqs``. Before the first message we ever see from an
    agent on a channel its history is unknown, so nothing before it counts as missing."""
    ordered = sorted(set(seqs))
    if not ordered:
        return Advance(mark, [], [])
    if mark is None:
        prev, late, new = ordered[0], [], ordered[1:]
    else:
        late = [s for s in ordered if s <= mark]
        new = [s for s in ordered if s > mark]
        prev = mark
    gaps = []
    for s in new:
        if s > prev + 1:
            gaps.append((prev + 1, s - 1))
        prev = s
    top = ordered[-1] if mark is None else max(mark, ordered[-1])
    return Advance(top, gaps, late)


class GapChanges(NamedTuple):
    deleted: list[int]  # gap ids now fully filled
    updated: list[tuple[int, int, int]]  # (id, first, last)
    inserted: list[tuple[int, int]]  # (first, last): the right-hand part of a split gap
    filled: int  # how many missing seqs arrived


def fill_gaps(open_gaps: Sequence[tuple[int, int, int]], arrived: Iterable[int]) -> GapChanges:
    """Apply late arrivals to recorded gaps ``(id, first, last)``: a seq at an end shrinks its
    gap, one inside splits it, the last one closes it. Seqs in no gap are plain resends."""
    segments: list[list[int | None]] = [[gid, first, last] for gid, first, last in open_gaps]
    filled = sum(_fill(segments, s) for s in sorted(set(arrived)))
    original = {gid: (first, last) for gid, first, last in open_gaps}
    updated, inserted = [], []
    kept: set[int] = set()
    for gid, first, last in segments:
        if first is None:
            continue
        assert last is not None
        if gid is None:
            inserted.append((first, last))
        else:
            kept.add(gid)
            if original[gid] != (first, last):
                updated.append((gid, first, last))
    deleted = [gid for gid in original if gid not in kept]
    return GapChanges(deleted, updated, inserted, filled)


def _fill(segments: list[list[int | None]], s: int) -> bool:
    """Take seq ``s`` out of the segment holding it (a split appends the right-hand part);
    False when no segment holds it."""
    for seg in segments:
        first, last = seg[1], seg[2]
        if first is None or last is None or not first <= s <= last:  # closed, or elsewhere
            continue
        if first == last:
            seg[1] = None  # closed
        elif s == first:
            seg[1] = s + 1
        elif s == last:
            seg[2] = s - 1
        else:
            seg[2] = s - 1
            segments.append([None, s + 1, last])
        return True
    return False
