"""The agent's own safety re-check before cutting a customer's supply.

The backend applies the full disconnect rules (quiet hours, holidays, warnings, protected
customers); the agent re-checks the one rule it can know locally — the allowed local hours —
so that a command delayed in a queue, replayed, or issued by a misconfigured backend still
cannot trip a meter at night or on a holiday. Default: working days 09:00–16:00 Asia/Shanghai.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from edge_agent.config import DisconnectPolicy

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def disconnect_refusal(policy: DisconnectPolicy, at_ms: int, tz: ZoneInfo) -> str | None:
    """None if a disconnect is allowed at ``at_ms``, else the reason it is not."""
    if not policy.enabled:
        return None
    local = datetime.fromtimestamp(at_ms / 1000, tz)
    stamp = local.strftime("%Y-%m-%d %H:%M %a")
    if local.date().isoformat() in policy.holidays:
        return f"{stamp} ({tz.key}) is a holiday; no disconnects"
    if _DAYS[local.weekday()] not in {d.value for d in policy.days}:
        return f"{stamp} ({tz.key}) is not a disconnect day"
    hhmm = local.strftime("%H:%M")
    if not policy.start <= hhmm < policy.end:
        return f"{stamp} ({tz.key}) is outside the allowed hours {policy.start}-{policy.end}"
    return None
