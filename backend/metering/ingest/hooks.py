"""After-commit hooks: who else needs to know which readings just landed.

The consumption engine (and anything else that derives data from readings) registers an async
callback; after every committed batch the writer calls it with the *affected intervals*: for
each (meter, quantity) that got at least one new reading, the lowest and highest acquisition
time among the new rows. Late and backfilled readings are included, so a consumer can
recompute exactly the days they touch.

Rules a callback can rely on:

- It runs after the batch is committed *and* acknowledged to the broker, on the ingestion
  event loop, one batch at a time, in commit order. Ingestion waits for it (backpressure), so it
  should be quick or hand the work to its own queue.
- Duplicates (rows whose natural key was already stored) are not reported.
- It is at-least-once: after a crash between commit and callback, the batch is not redelivered
  (it was acknowledged), so a consumer that must never miss an interval also reconciles from
  the table (e.g. ``received_at`` since its last run) on start-up. An exception in a callback
  is logged and counted, never retried, and never stops ingestion.
- With several ingestion processes (shared subscription) each process calls its own hooks for
  the batches it committed.

Register at import time of the consuming module, or pass ``after_commit=`` to ``Ingestor``::

    from backend.metering.ingest import AffectedInterval, register_after_commit

    async def recompute(intervals: list[AffectedInterval]) -> None: ...

    register_after_commit(recompute)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import NamedTuple


class AffectedInterval(NamedTuple):
    meter_pk: int  # meters.id
    quantity: str  # a contract Quantity code, e.g. "energy_import"
    min_ts: int  # UTC epoch ms, acquisition time of the oldest new reading
    max_ts: int  # UTC epoch ms, of the newest new reading
    readings: int  # how many new readings


AfterCommit = Callable[[list[AffectedInterval]], Awaitable[None]]

_registered: list[AfterCommit] = []


def register_after_commit(callback: AfterCommit) -> None:
    """Call ``callback`` after every committed batch in every ingestion process started later."""
    if callback not in _registered:
        _registered.append(callback)


def unregister_after_commit(callback: AfterCommit) -> None:
    if callback in _registered:
        _registered.remove(callback)


def registered() -> list[AfterCommit]:
    return list(_registered)


def intervals_from(keys: list[tuple[int, str, int]]) -> list[AffectedInterval]:
    """Aggregate inserted (meter_pk, quantity, ts) keys into intervals."""
    spans: dict[tuple[int, str], list[int]] = {}
    for pk, quantity, ts in keys:
        span = spans.get((pk, quantity))
        if span is None:
            spans[(pk, quantity)] = [ts, ts, 1]
        else:
            if ts < span[0]:
                span[0] = ts
            elif ts > span[1]:
                span[1] = ts
            span[2] += 1
    return [AffectedInterval(pk, q, lo, hi, n) for (pk, q), (lo, hi, n) in spans.items()]
