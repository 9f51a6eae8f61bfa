"""Indicator Structs (R66, R86, R120–R124)."""

from __future__ import annotations

from typing import Literal

import msgspec

Group = Literal["day", "person", "team", "all"]


class IndicatorRow(msgspec.Struct, kw_only=True):
    """One group's indicators over the period. Rates are None when there is nothing to divide.

    * orders: orders taken in the period; complaints: of them, complaints (投诉)
    * closed: orders closed in the period; first_contact_resolved: of them, resolved at first
      contact; first_contact_rate = first_contact_resolved / closed
    * steps_done / steps_on_time: workflow nodes left in the period, and of them those left by
      their deadline (pushed on by a timeout counts as late); on_time_rate = on_time / done
    * rated / satisfaction_avg: closed orders with a satisfaction (1–5) and its mean
    * complaints_per_10k: complaints * 10 000 / the number of customers
    """

    group: str  # the local day, the person's name, the team (role), or "all"
    orders: int
    complaints: int
    closed: int
    first_contact_resolved: int
    first_contact_rate: float | None
    steps_done: int
    steps_on_time: int
    on_time_rate: float | None
    rated: int
    satisfaction_avg: float | None
    complaints_per_10k: float | None


class NodeLeadTime(msgspec.Struct, kw_only=True):
    """How long orders stayed at a node (R66: demand → crew on site), in minutes."""

    kind: str
    node: str
    count: int
    avg_minutes: float
    max_minutes: float
    on_time_rate: float


class Indicators(msgspec.Struct, kw_only=True):
    from_day: str
    to_day: str
    group_by: Group
    customers: int
    rows: list[IndicatorRow]
    lead_times: list[NodeLeadTime]
