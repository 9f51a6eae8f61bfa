"""The cyclic garbage collector's pace in the agent, a process that runs until it is stopped.

Every poll allocates (register blocks, decoded values, batches, outbox rows) and nearly all of
it is freed at once by reference counting; CPython's collector still looks at the youngest
generation every 700 net allocations and, every so often, at every object the agent holds (its
modules, configuration, drivers, MQTT client). :func:`settle`, once the agent is built:
collect, freeze what survived out of the collector's sight for good (``gc.freeze``), and look
at the youngest generation every ``GEN0`` allocations. Cycles are still collected.
"""

from __future__ import annotations

import gc

GEN0 = 50_000  # CPython's default: 700
GEN1 = 20  # default 10
GEN2 = 10  # default 10 (and only when the oldest generation has grown by a quarter)


def settle() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(GEN0, GEN1, GEN2)
