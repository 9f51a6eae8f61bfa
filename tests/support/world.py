"""A small utility for API tests: two grids with an inspector each, two customers, their
accounts and meters, a pending meter, an agent, and one user per role."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from backend.accounts.models import Account, AccountKind, Customer, CustomerCategory
from backend.auth.models import Role, User
from backend.auth.passwords import hash_password
from backend.db import session_factory
from backend.field.grids.models import Grid, TransformerArea
from backend.metering.models import Agent, Meter, MeterStatus

PASSWORD = "correct horse battery"


@dataclass
class World:
    grid1: int
    grid2: int
    area1: int
    area2: int
    alice: int  # customer 1, in grid 1
    bob: int  # customer 2, in grid 2
    alice_account: int
    bob_account: int
    alice_meter: int
    bob_meter: int
    pending_meter: int
    users: dict[str, int]


async def build_world(engine: AsyncEngine) -> World:
    async with session_factory(engine)() as s:
        g1, g2 = Grid(code="G1", name="东城网格"), Grid(code="G2", name="西城网格")
        s.add_all([g1, g2])
        await s.flush()
        a1 = TransformerArea(code="TA1", name="一号台区", grid_id=g1.id)
        a2 = TransformerArea(code="TA2", name="二号台区", grid_id=g2.id)
        s.add_all([a1, a2])
        await s.flush()
        alice = Customer(number="C001", name="Alice", category=CustomerCategory.RESIDENTIAL,
                         grid_id=g1.id, transformer_area_id=a1.id)  # fmt: skip
        bob = Customer(number="C002", name="Bob", category=CustomerCategory.COMMERCIAL,
                       grid_id=g2.id, transformer_area_id=a2.id)  # fmt: skip
        s.add_all([alice, bob])
        await s.flush()
        acc1 = Account(number="A001", customer_id=alice.id, kind=AccountKind.PREPAID)
        acc2 = Account(number="A002", customer_id=bob.id, kind=AccountKind.POSTPAID)
        agent = Agent(id="agent-1", online=True, last_seen_at=datetime(2026, 1, 1, tzinfo=UTC))
        s.add_all([acc1, acc2, agent])
        await s.flush()
        m1 = Meter(meter_id="M-ALICE", customer_id=alice.id, account_id=acc1.id,
                   agent_id="agent-1", status=MeterStatus.ACTIVE, online=True,
                   installed_on=date(2025, 1, 1))  # fmt: skip
        m2 = Meter(meter_id="M-BOB", customer_id=bob.id, account_id=acc2.id,
                   agent_id="agent-1", status=MeterStatus.ACTIVE, online=False,
                   installed_on=date(2025, 1, 1))  # fmt: skip
        m3 = Meter(meter_id="M-NEW", agent_id="agent-1", status=MeterStatus.PENDING)
        s.add_all([m1, m2, m3])
        await s.flush()
        users = {
            "alice": User(username="alice", role=Role.CUSTOMER, customer_id=alice.id),
            "bob": User(username="bob", role=Role.CUSTOMER, customer_id=bob.id),
            "insp1": User(username="insp1", role=Role.INSPECTOR),
            "insp2": User(username="insp2", role=Role.INSPECTOR),
            "sup": User(username="sup", role=Role.SUPERVISOR),
            "op": User(username="op", role=Role.OPERATOR),
            "admin": User(username="admin", role=Role.ADMIN),
        }
        password_hash = hash_password(PASSWORD)
        for u in users.values():
            u.password_hash = password_hash
        s.add_all(users.values())
        await s.flush()
        g1.inspector_id = users["insp1"].id
        g2.inspector_id = users["insp2"].id
        world = World(
            grid1=g1.id, grid2=g2.id, area1=a1.id, area2=a2.id, alice=alice.id, bob=bob.id,
            alice_account=acc1.id, bob_account=acc2.id, alice_meter=m1.id, bob_meter=m2.id,
            pending_meter=m3.id, users={k: u.id for k, u in users.items()},
        )  # fmt: skip
        await s.commit()
    return world
