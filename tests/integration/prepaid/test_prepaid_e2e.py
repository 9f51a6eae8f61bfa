"""The prepaid loop end to end, every part real:

simulated DL/T 645 meter (a process) → edge agent (a process) → Mosquitto (password file,
production ACL) → the API server as ``meterline serve`` builds it, in the test's event loop
(ingestion → billing → warnings → policy → command dispatcher) → the agent trips the simulated
relay → read-back → command verified → the customer tops up over HTTP → reconnect → verified
→ payment-to-restore time recorded.

Time: the meter runs 600x fast from a weekday morning in the past (its clock stays behind the
agent's, so the 1CH validity the agent writes is honoured), so a commercial load spends money in
seconds. The disconnect window is opened by settings, not by waiting: the backend's time zone
is chosen so that it is midday there, and a calendar file makes today and tomorrow working
days; the warning lead is 0 h. Every wait is on a condition, with a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.accounts.models import Account, AccountKind, Customer, CustomerCategory
from backend.auth.models import Role, User
from backend.commands.lifecycle import State
from backend.commands.models import Command
from backend.db import create_engine, session_factory
from backend.metering.models import Agent, Meter
from backend.prepaid import ledger
from backend.prepaid.models import EntryKind, LedgerEntry, Notice, NoticeKind, NoticeStatus
from backend.server import make_server
from backend.settings import load_settings
from backend.tariffs.loader import DEFAULT_FILE, load_file
from backend.tariffs.service import store_tariffs
from protocols.contract import CommandKind, RelayState
from tests.support.e2e import (
    control,
    exists,
    midday_zone,
    past_weekday_morning,
    process,
    relay_of,
    stop_server,
    true_if,
    until,
)
from tests.support.services import Mosquitto, free_port

pytestmark = pytest.mark.mosquitto

PASSWORD = "e2e password 1"


@dataclass(frozen=True)
class House:
    """One prepaid customer with one DL/T 645 meter behind the agent's gateway."""

    user: str
    meter: str
    address: str  # the simulator numbers its meters from 111111111111
    control_mode: int  # IC 70: 2 reconnects directly, 1 only arms (the customer presses)


DIRECT = House("zhangsan", "E2E-1", "111111111111", 2)
ARMED = House("lisi", "E2E-2", "111111111112", 1)
HOUSES = (DIRECT, ARMED)


async def seed(engine: AsyncEngine) -> dict[House, int]:
    """Tariffs, the agent, the houses (¥3 of credit each) and an operator; account ids."""
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    accounts: dict[House, int] = {}
    async with session_factory(engine)() as s:
        await store_tariffs(s, load_file(DEFAULT_FILE))
        s.add(Agent(id="agent-1"))
        s.add(User(username="op1", role=Role.OPERATOR, password_hash=cheap.hash(PASSWORD)))
        for n, house in enumerate(HOUSES, 1):
            customer = Customer(number=f"C-E2E-{n}", name=house.user, phone=f"1390000000{n}",
                                category=CustomerCategory.RESIDENTIAL)  # fmt: skip
            s.add(customer)
            await s.flush()
            account = Account(number=f"A-E2E-{n}", customer_id=customer.id,
                              kind=AccountKind.PREPAID)  # fmt: skip
            s.add(account)
            await s.flush()
            await ledger.post(s, account.id, EntryKind.TOP_UP, 300, actor="counter")
            s.add(Meter(meter_id=house.meter, agent_id="agent-1", customer_id=customer.id,
                        account_id=account.id, protocol="dlt645", address=house.address,
                        relay_control_mode=house.control_mode,
                        relay_state=int(RelayState.CONNECTED)))  # fmt: skip
            s.add(User(username=house.user, role=Role.CUSTOMER, customer_id=customer.id,
                       password_hash=cheap.hash(PASSWORD)))  # fmt: skip
            accounts[house] = account.id
        await s.commit()
    return accounts


def agent_config(tmp: Path, broker: Mosquitto, gateway_port: int) -> Path:
    (tmp / "agent-password").write_text(broker.users["agent-1"])
    path = tmp / "agent.toml"
    path.write_text(
        f"""
agent_id = "agent-1"
data_dir = "{tmp / "agent"}"
timezone = "Asia/Shanghai"
clock_drift_limit_s = 86400  # the simulated clock runs 600x: never "corrected" here
log_level = "INFO"

[broker]
host = "127.0.0.1"
port = {broker.port}
password_file = "{tmp / "agent-password"}"
reconnect_min_s = 0.2
reconnect_max_s = 1

[outbox]
batch_size = 50

[metrics]
listen = ""

[commands]
relay_settle_s = 0.1

[disconnect_policy]
enabled = false  # the backend's policy decides in this test; the agent's has its own tests

[[buses]]
name = "gateway"
transport = "tcp"
protocol = "dlt645"
host = "127.0.0.1"
port = {gateway_port}
timeout_ms = 500
inter_frame_gap_ms = 0

  [[buses.groups]]
  name = "energy"
  every_s = 0.5
  dis = ["00010000"]

"""
        + "".join(
            f"""
  [[buses.meters]]
  id = "{h.meter}"
  address = "{h.address}"
  relay_secret = "env:E2E_RELAY_SECRET"
  clock_check_s = 86400
  backfill_days = 0
"""
            for h in HOUSES
        )
    )
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, _migrated_sqlite: Path) -> str:
    """The embedded default: a migrated SQLite file (WAL) shared by the test and the server."""
    db = tmp_path / "meterline.db"
    shutil.copy(_migrated_sqlite, db)
    return f"sqlite+aiosqlite:///{db}"


@pytest.fixture
def calendar(tmp_path: Path) -> Path:
    """Today and tomorrow are working days (调休) in the backend's zone, whatever the date."""
    today = datetime.now(UTC).astimezone(ZoneInfo(midday_zone(datetime.now(UTC)))).date()
    days = ", ".join(str(today + timedelta(days=n)) for n in range(-1, 3))  # any hour's turn
    path = tmp_path / "calendar.toml"
    path.write_text(f"holidays = []\nworkdays = [{days}]\n")
    return path


async def test_a_prepaid_customer_runs_out_is_disconnected_tops_up_and_is_restored(
    tmp_path: Path, mosquitto: Mosquitto, sqlite_url: str, calendar: Path
) -> None:
    now = datetime.now(UTC)
    zone = midday_zone(now)
    url = sqlite_url
    engine = create_engine(url)
    accounts = await seed(engine)
    sessions = session_factory(engine)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("METERLINE_")}
    http_port, gateway_port, control_port = free_port(), free_port(), free_port()
    settings = load_settings(
        env={}, database_url=url, data_dir=str(tmp_path / "server"), http_port=http_port,
        mqtt_url=mosquitto.url(Mosquitto.BACKEND), timezone=zone, log_level="WARNING",
        prepaid_holiday_calendar=str(calendar), prepaid_warning_lead_hours=0,
        prepaid_sweep_seconds=1, prepaid_notify_seconds=1, payments_provider="simulated",
        auth_require_totp=False,
        prepaid_auto_disconnect=True, notification_provider="simulated",  # receipts, as a real one
        # the meter runs 600x fast: its energy rises 600x faster than the clock that stamps
        # its readings, which a real meter's rating could never pass (quarantine)
        quarantine_power_margin=6000.0,
    )  # fmt: skip
    sim_start = past_weekday_morning(now).isoformat()
    base = f"http://127.0.0.1:{http_port}"
    async with contextlib.AsyncExitStack() as stack:
        ready = tmp_path / "simulators.json"
        await stack.enter_async_context(process(
            tmp_path / "simulators.log", "-m", "edge_agent", "simulate", "--seed", "7",
            "--speed", "600", "--start", sim_start, "--exact-clocks",
            "--control", f"127.0.0.1:{control_port}",
            "--dlt645-tcp", f"127.0.0.1:{gateway_port}", "--meters", str(len(HOUSES)),
            "--profile", "commercial", "--ready-file", str(ready), env=base_env,
        ))  # fmt: skip
        server = make_server(settings)  # `meterline serve`, in this event loop
        serving = asyncio.create_task(server.serve(), name="meterline-serve")
        stack.push_async_callback(stop_server, server, serving)
        await until(lambda: exists(ready), "the simulators to listen", 30)
        await until(lambda: true_if(server.started), "the API to start", 60)
        await stack.enter_async_context(process(
            tmp_path / "agent.log", "-m", "edge_agent", "run", "--config",
            str(agent_config(tmp_path, mosquitto, gateway_port)),
            env={**base_env, "E2E_RELAY_SECRET": "02:000000:00000000"},
        ))  # fmt: skip
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=base, timeout=30))
        try:
            await _run(client, sessions, accounts, control_port, zone)
        except BaseException:
            for name in ("agent", "simulators"):
                text = await asyncio.to_thread((tmp_path / f"{name}.log").read_text)
                print(f"--- {name}.log ---\n{text[-4000:]}")
            raise
    await engine.dispose()


async def _login(client: httpx.AsyncClient, user: str) -> dict[str, str]:
    r = await client.post("/api/auth/login", json={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _command(sessions: Any, account_id: int, kind: CommandKind) -> Command | None:
    async with sessions() as s:
        return await s.scalar(  # type: ignore[no-any-return]
            select(Command).where(
                Command.account_id == account_id, Command.kind == kind,
                Command.state == State.VERIFIED,
            )
        )  # fmt: skip


async def _notices(sessions: Any, account_id: int) -> list[Notice]:
    async with sessions() as s:
        rows = await s.scalars(
            select(Notice).where(Notice.account_id == account_id).order_by(Notice.id)
        )
        return list(rows)


async def _run(
    client: httpx.AsyncClient, sessions: Any, accounts: dict[House, int], port: int, zone: str
) -> None:
    login = {h: await _login(client, h.user) for h in HOUSES}
    operator = await _login(client, "op1")

    async def all_in_arrears() -> bool | None:
        for h, acc in accounts.items():
            r = await client.get(f"/api/accounts/{acc}/balance", headers=login[h])
            if r.json()["balance_fen"] >= 0:
                return None
        return True

    await until(all_in_arrears, "metered consumption to use up both balances")
    disconnects: dict[House, Command] = {}
    for h, acc in accounts.items():
        off = await until(
            lambda acc=acc: _command(sessions, acc, CommandKind.DISCONNECT),  # type: ignore[misc]
            f"{h.user}: the engine's disconnect to be verified by the meter's read-back",
        )
        assert off.actor == "prepaid-engine"
        assert "inside the disconnect window" in off.reason
        assert off.readback_relay_state == int(RelayState.DISCONNECTED)
        assert await relay_of(port, h.address) == "disconnected"
        disconnects[h] = off
        supply = (await client.get(f"/api/accounts/{acc}/supply", headers=login[h])).json()
        assert (supply["supply"], supply["action"]) == ("disconnected", "top_up")
        assert supply["amount_to_restore_fen"] > 0
        # the customer's order, then the (simulated) provider's signed confirmation
        order = await client.post(
            f"/api/accounts/{acc}/payment-orders",
            json={"amount_fen": supply["amount_to_restore_fen"] + 50_000, "channel": "wechat"},
            headers={**login[h], "Idempotency-Key": f"e2e-payment-{h.user}"},
        )
        assert order.status_code == 201, order.text
        paid = await client.post(
            f"/api/accounts/{acc}/payment-orders/{order.json()['order_no']}/simulated-payment",
            headers=login[h],
        )
        assert paid.json()["status"] == "paid", paid.text

    on = await until(
        lambda: _command(sessions, accounts[DIRECT], CommandKind.RECONNECT),
        "the direct meter's reconnect after payment to be verified",
    )
    assert await relay_of(port, DIRECT.address) == "connected"
    armed = await until(
        lambda: _command(sessions, accounts[ARMED], CommandKind.ARM_RECONNECT),
        "the arming meter's arm after payment to be verified",
    )
    assert await relay_of(port, ARMED.address) == "ready_for_reconnection"
    told = (await client.get(f"/api/accounts/{accounts[ARMED]}/supply",
                             headers=login[ARMED])).json()  # fmt: skip
    assert (told["supply"], told["action"]) == ("ready_to_reconnect", "press_button")
    await control(port, "button", ARMED.address)  # the customer presses the meter's button
    assert await relay_of(port, ARMED.address) == "connected"

    times = (await client.get("/api/prepaid/restore-times", headers=operator)).json()
    assert {i["command_id"] for i in times["items"]} == {on.id, armed.id}
    for c in (on, armed):
        assert c.paid_at is not None
        assert c.restored_at is not None
        assert c.restored_at > c.paid_at
        (item,) = [i for i in times["items"] if i["command_id"] == c.id]
        assert item["seconds"] == pytest.approx((c.restored_at - c.paid_at).total_seconds())
    detail = (await client.get(f"/api/commands/{disconnects[DIRECT].id}",
                               headers=operator)).json()  # fmt: skip
    assert [a["to_state"] for a in detail["audit"]] == [
        "queued", "dispatched", "received", "executed", "verified",
    ]  # fmt: skip
    today = datetime.now(UTC).astimezone(ZoneInfo(zone)).date()
    days = await client.get(
        f"/api/accounts/{accounts[DIRECT]}/consumption/daily"
        f"?from={today - timedelta(days=1)}&to={today}",
        headers=login[DIRECT],
    )  # the consumption engine runs on the same ingestion hook
    assert sum(d["wh"] for d in days.json()) > 0
    for h, acc in accounts.items():
        await _check_notices_and_ledger(sessions, acc, h)


async def _check_notices_and_ledger(sessions: Any, acc: int, house: House) -> None:
    notices = await _notices(sessions, acc)
    warning = next(n for n in notices if n.kind is NoticeKind.DISCONNECT_WARNING)
    assert warning.status is NoticeStatus.DELIVERED
    episode = [n.kind for n in notices if n.episode == warning.episode]
    assert sorted(episode) == sorted(
        [NoticeKind.LOW_BALANCE, NoticeKind.DISCONNECT_WARNING, NoticeKind.DISCONNECTED,
         NoticeKind.RESTORED] * 2
    ), house  # four kinds, once each on sms and app  # fmt: skip
    async with sessions() as s:  # billing goes on meanwhile: check up to one entry
        last = await s.scalar(
            select(LedgerEntry).where(LedgerEntry.account_id == acc).order_by(
                LedgerEntry.id.desc()).limit(1)
        )  # fmt: skip
        assert last is not None
        total = await s.scalar(
            select(func.sum(LedgerEntry.amount_fen)).where(
                LedgerEntry.account_id == acc, LedgerEntry.id <= last.id
            )
        )
        charged = await s.scalar(
            select(func.count()).where(
                LedgerEntry.account_id == acc, LedgerEntry.kind == EntryKind.CONSUMPTION_CHARGE
            )
        )
    assert last.balance_after_fen == total
    assert charged is not None
    assert charged > 1
