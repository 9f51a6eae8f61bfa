"""Reconnect and retry delays for every MQTT client of the project (the agent's uplink, the
backend's link) and the backend's database retries: jittered, capped exponential backoff.

Pure: the caller draws the random number (``jitter`` in [0, 1)), so the same inputs always give
the same delay and a test can pin it.
"""

from __future__ import annotations


def backoff_delay(attempt: int, low_s: float, high_s: float, jitter: float) -> float:
    """Seconds to wait before try ``attempt + 1``: the cap doubles from ``low_s`` up to
    ``high_s``, and the delay is drawn between the floor and the cap (full jitter above the
    floor), so many clients that lost the same broker do not come back in step."""
    cap = min(high_s, low_s * 2.0 ** min(attempt, 30))
    return float(low_s + min(max(jitter, 0.0), 1.0) * max(cap - low_s, 0.0))
