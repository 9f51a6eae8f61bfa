"""The API test world plus a network: substation S1 → feeder F1 → area TA1 with a total meter
behind a 10:1 CT and a 100 kVA transformer; customers alice, carol and dan in TA1 and bob in
TA2 (not on F1)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import insert

from backend.accounts.models import Customer, CustomerCategory
from backend.areas.models import AreaSupply, Feeder, Substation
from backend.db import session_factory
from backend.metering.models import Meter, MeterEvent, MeterStatus
from protocols.contract.messages import EventKind
from tests.integration.api.conftest import Api, _cheap_argon2, api

__all__ = ["Net", "_cheap_argon2", "api", "net"]


@dataclass
class Net:
    api: Api
    feeder: int
    total: int  # the total meter's pk
    carol: int
    dan: int
    carol_meter: int
    dan_meter: int

    async def events(self, kind: EventKind, ts: int, *meters: int) -> None:
        async with self.api.engine.begin() as conn:
            await conn.execute(
                insert(MeterEvent),
                [{"meter_pk": m, "ts": ts, "kind": kind, "received_at": ts} for m in meters],
            )


@pytest.fixture
async def net(api: Api) -> AsyncIterator[Net]:
    """The background correlator is off: each test applies the events when it says so."""
    period = api.settings.areas_correlate_seconds
    api.settings.areas_correlate_seconds = 0
    try:
        yield await _network(api)
    finally:
        api.settings.areas_correlate_seconds = period


async def _network(api: Api) -> Net:
    w = api.world
    async with session_factory(api.engine)() as s:
        station = Substation(code="S1", name="文三变")
        s.add(station)
        await s.flush()
        feeder = Feeder(code="F1", name="文三线", substation_id=station.id)
        carol = Customer(number="C003", name="Carol", category=CustomerCategory.RESIDENTIAL,
                         grid_id=w.grid1, transformer_area_id=w.area1)  # fmt: skip
        dan = Customer(number="C004", name="Dan", category=CustomerCategory.RESIDENTIAL,
                       grid_id=w.grid1, transformer_area_id=w.area1)  # fmt: skip
        s.add_all([feeder, carol, dan])
        await s.flush()
        meters = [
            Meter(meter_id=mid, customer_id=c, agent_id="agent-1", status=MeterStatus.ACTIVE,
                  installed_on=date(2025, 1, 1), phases=phases)
            for mid, c, phases in (("M-TOTAL", None, 3), ("M-CAROL", carol.id, 1),
                                   ("M-DAN", dan.id, 1))
        ]  # fmt: skip
        s.add_all(meters)
        await s.flush()
        s.add(AreaSupply(transformer_area_id=w.area1, feeder_id=feeder.id, rated_kva=100,
                         total_meter_pk=meters[0].id, ct_ratio=10, pt_ratio=1))  # fmt: skip
        net = Net(api, feeder.id, meters[0].id, carol.id, dan.id, meters[1].id, meters[2].id)
        await s.commit()
    return net
