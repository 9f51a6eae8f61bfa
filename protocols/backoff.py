"""Reconnect and retry delays for every MQTT client of the project (the agent's uplink, the
backend's link) and the backend's database retries: jittered, capped exponential backoff.

Pure: the caller draws the random number (``jitter`` in [0, 1)), so the same inputs always give
the same delay and a test can pin it.
"""

from __future__ import annotations

# A session that held this long after its CONNACK was a working link, not a flap: the next
# reconnect starts again from the shortest delay.
STABLE_S = 10.0


def backoff_delay(attempt: int, low_s: float, high_s: float, jitter: float) -> float:
    """Seconds to wait before try ``attempt + 1``: the cap doubles from ``low_s`` up to
    ``high_s``, and the delay is drawn between the floor and the cap (full jitter above the
    floor), so many clients that lost the same broker do not come back in step."""
    cap = min(high_s, low_s * 2.0 ** min(attempt, 30))
    return float(low_s + min(max(jitter, 0.0), 1.0) * max(cap - low_s, 0.0))


def next_attempt(attempt: int, held_s: float | None, stable_s: float = STABLE_S) -> int:
    """The attempt number after a session ends. ``held_s`` is how long it stayed connected
    (``None``: it never connected). A session that held ``stable_s`` was a working link: start
    again from 0, so one broker restart after another (an upgrade, a cluster's rolling restart)
    costs the shortest delay each time. A refused or failed connect, or a session that dropped
    sooner, counts one more, so a broker that accepts and then drops every client is not
    hammered."""
    if held_s is not None and held_s >= stable_s:
        return 0
    return attempt + 1
