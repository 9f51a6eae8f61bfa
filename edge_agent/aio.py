"""asyncio helpers the agent's long-running loops share."""

from __future__ import annotations

import asyncio


def raise_if_cancelled() -> None:
    """Raise CancelledError if this task was asked to stop and the request got lost.

    On Python 3.11, ``asyncio.wait_for`` swallows a cancellation that arrives in the same loop
    iteration as the awaited result (CPython gh-86296, fixed in 3.12). pymodbus awaits every
    reply that way, and with dozens of buses polling one of them is sooner or later cancelled
    just as its meter answers: its loop would poll on and shutdown would hang for ever.
    ``Task.cancelling()`` still counts the lost request, so a loop calling this once per turn
    stops at the next one.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
