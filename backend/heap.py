"""The cyclic garbage collector's pace in a long-running meterline process.

CPython frees an object as soon as nothing refers to it; the cyclic collector is only for
objects that refer to each other. By default it looks at the youngest generation after every
700 net allocations of container objects, and every so often at all of them. A backlog's
derived-data round allocates hundreds of thousands (a point per reading, an interval per pair,
a line and a row per charge): at that pace it ran hundreds of young collections and several
full ones, each walking every object the process holds — its modules, SQLAlchemy's metadata,
the tariffs — about a quarter of the round's time (``bench/meter_to_ledger.py``, 48,000
readings: bulk walks' chains 0.17–0.20 s → 0.03 s, the round 1.5–1.7 s → 1.0–1.2 s).

:func:`settle`, once start-up has imported what the process runs: collect, move what survived
out of the collector's sight for good (``gc.freeze``: the code and configuration of a process
that runs until it is stopped), and look at the youngest generation every ``GEN0`` allocations.
At most that many young objects wait for a collection; cycles among them are still freed.
"""

from __future__ import annotations

import gc

GEN0 = 50_000  # young collections: every 50,000 net allocations (CPython's default: 700)
GEN1 = 20  # the middle generation: every 20 young collections (default 10)
GEN2 = 10  # the oldest: every 10 middle ones, and only when it has grown by a quarter


def settle() -> None:
    """Freeze what start-up left and set the collector's pace (see the module doc)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GEN0, GEN1, GEN2)
